"""The report's figures (matplotlib, Agg: no display on CI).

Each plot needs particular variants; when they are missing the plot is skipped with a
note, and an error while drawing one plot becomes a note too: a report is never lost to
a figure.
"""
from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

from reports.summary import sparsity_of  # noqa: E402
from vocabulary.metrics import GZIP_BYTES, MODEL_BYTES  # noqa: E402
from vocabulary.records import ResultRecord  # noqa: E402
from vocabulary.sources import EMULATED_SOURCES, SOURCE_PREFERENCE  # noqa: E402

SPARSITY_PNG = "sparsity_sweep.png"
ACCURACY_SIZE_PNG = "accuracy_vs_size.png"
PER_CHANNEL_PNG = "per_channel_vs_per_tensor.png"


@dataclass
class PlotResult:
    paths: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def make_plots(records: Sequence[ResultRecord], out_dir: str | os.PathLike[str]) -> PlotResult:
    """Draw every plot whose variants are present; say why for each one skipped."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = PlotResult()
    plotters: list[tuple[str, Callable[[Sequence[ResultRecord], Path], str | None]]] = [
        (SPARSITY_PNG, plot_sparsity_sweep),
        (ACCURACY_SIZE_PNG, plot_accuracy_vs_size),
        (PER_CHANNEL_PNG, plot_per_channel_vs_per_tensor),
    ]
    for name, plotter in plotters:
        path = out_dir / name
        try:
            skipped = plotter(records, path)
        except Exception as exc:  # a figure must never cost the report
            skipped = f"{name}: not drawn, plotting failed: {type(exc).__name__}: {exc}"
        finally:
            plt.close("all")
        if skipped:
            result.notes.append(skipped)
        else:
            result.paths.append(path)
    return result


def plot_sparsity_sweep(records: Sequence[ResultRecord], path: Path) -> str | None:
    """Accuracy, model bytes and gzip bytes against sparsity (float32 at 0)."""
    chosen, where = _one_slice(records)
    points = sorted(((sparsity, r.accuracy, r) for r in chosen
                     if (r.variant == "float32" or r.variant.startswith("pruned"))
                     and (sparsity := sparsity_of(r)) is not None and r.accuracy is not None),
                    key=lambda p: p[0])
    if len(points) < 2 or not any(r.variant.startswith("pruned") for _, _, r in points):
        return f"{path.name}: skipped, needs float32 and pruned* variants with accuracy"
    xs = [100 * s for s, _, _ in points]
    fig, (ax_acc, ax_size) = plt.subplots(2, 1, sharex=True, figsize=(7, 6))
    ax_acc.plot(xs, [accuracy for _, accuracy, _ in points], "o-", color="tab:blue")
    for x, (_, accuracy, r) in zip(xs, points, strict=True):
        ax_acc.annotate(r.variant, (x, accuracy), textcoords="offset points",
                        xytext=(0, 6), ha="center", fontsize=7)
    ax_acc.set_ylabel("test accuracy (%)")
    ax_acc.grid(alpha=0.3)
    for attr, label, style in ((MODEL_BYTES.name, ".tflite", "s-"),
                               (GZIP_BYTES.name, "gzip", "^-")):
        pts = [(x, getattr(r, attr) / 1024) for x, (_, _, r) in zip(xs, points, strict=True)
               if getattr(r, attr) is not None]
        if pts:
            ax_size.plot(*zip(*pts, strict=True), style, label=label)
    ax_size.set_xlabel("sparsity (%)")
    ax_size.set_ylabel("size (KiB)")
    ax_size.legend()
    ax_size.grid(alpha=0.3)
    fig.suptitle(f"Pruning sweep ({where})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return None


def plot_accuracy_vs_size(records: Sequence[ResultRecord], path: Path) -> str | None:
    """Every variant: accuracy against model size (the trade-off at a glance)."""
    chosen, where = _one_slice(records)
    points = [(r, figures) for r in chosen if (figures := _accuracy_and_size(r)) is not None]
    if not points:
        return f"{path.name}: skipped, no variant has both accuracy and model size"
    fig, ax = plt.subplots(figsize=(8, 5))
    colors = plt.get_cmap("tab10")
    for i, (r, (accuracy, model_bytes)) in enumerate(points):
        color = colors(i % 10)
        ax.scatter(model_bytes / 1024, accuracy, s=50, color=color, label=r.variant)
        if r.gzip_bytes is not None:
            ax.scatter(r.gzip_bytes / 1024, accuracy, s=50, marker="^",
                       facecolors="none", edgecolors=color)
            ax.plot([r.gzip_bytes / 1024, model_bytes / 1024], [accuracy] * 2,
                    color=color, alpha=0.3, linewidth=1)
    legend = ax.legend(fontsize=8, loc="lower right", title="filled: .tflite, "
                       "hollow triangle: gzip", title_fontsize=8)
    legend.get_frame().set_alpha(0.9)
    ax.set_xlabel("model size (KiB)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"Accuracy against model size ({where})")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return None


def plot_per_channel_vs_per_tensor(records: Sequence[ResultRecord], path: Path) -> str | None:
    """ptq_int8 (per-channel weight scales) against ptq_int8_per_tensor."""
    chosen, where = _one_slice(records)
    by_name = {r.variant: r for r in chosen}
    per_channel = _accuracy_and_size(by_name.get("ptq_int8"))
    per_tensor = _accuracy_and_size(by_name.get("ptq_int8_per_tensor"))
    if per_channel is None or per_tensor is None:
        return (f"{path.name}: skipped, needs ptq_int8 and ptq_int8_per_tensor with accuracy "
                f"and model size")
    pair = [per_channel, per_tensor]
    labels = ["per-channel\n(ptq_int8)", "per-tensor\n(ptq_int8_per_tensor)"]
    fig, (ax_acc, ax_size) = plt.subplots(1, 2, figsize=(8, 4))
    bars = ax_acc.bar(labels, [accuracy for accuracy, _ in pair], color=["tab:blue", "tab:orange"])
    ax_acc.bar_label(bars, fmt="%.2f")
    ax_acc.set_ylabel("test accuracy (%)")
    low = min(accuracy for accuracy, _ in pair)
    ax_acc.set_ylim(max(0.0, low - 10), 100)
    bars = ax_size.bar(labels, [model_bytes / 1024 for _, model_bytes in pair],
                       color=["tab:blue", "tab:orange"])
    ax_size.bar_label(bars, fmt="%.1f")
    ax_size.set_ylabel("model size (KiB)")
    fig.suptitle(f"Per-channel against per-tensor int8 ({where})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return None


def _accuracy_and_size(record: ResultRecord | None) -> tuple[float, int] | None:
    """(accuracy, model_bytes) when the record has both, else None."""
    if record is None or record.accuracy is None or record.model_bytes is None:
        return None
    return record.accuracy, record.model_bytes


def _one_slice(records: Sequence[ResultRecord]) -> tuple[list[ResultRecord], str]:
    """Accuracy and size do not depend on the target; plot one (target, source) slice,
    the one with the most variants, preferring measured sources. The title names it."""
    if not records:
        return [], "no records"
    usable = [r for r in records if not r.error]
    counts = Counter((r.target, r.source) for r in usable)
    if not counts:
        return [], "no records"
    rank = {s: i for i, s in enumerate(SOURCE_PREFERENCE)}
    target, source = min(counts, key=lambda k: (-counts[k], rank.get(k[1], 99), k[0]))
    label = f"{target}, {source}" + (", emulated" if source in EMULATED_SOURCES else "")
    return [r for r in usable if (r.target, r.source) == (target, source)], label
