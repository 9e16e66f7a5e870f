"""Comparing a run with its baseline: what changed, and whether it is a regression.

How a figure is judged depends on what the baseline entry shares with the record:
- no entry for this dataset, split and architecture: "new" (no baseline yet); budgets alone
  gate the run. Another dataset's figures are never used.
- same artifact bytes (sha256): every deterministic figure must match exactly; a
  difference is a runtime or harness change ("changed", a failure).
- another artifact (retrained on another CPU, a cold cache, a changed recipe): accuracy
  and the drops are judged on the variant's *own* baseline samples with an exact McNemar
  test (lost versus gained samples), so a wobble of a few samples is "not significant"
  and only a significant loss beyond tolerance regresses. A run tests every variant, so
  the significance level is shared among them (Bonferroni: alpha / variants): the chance
  that a run with no real change fails somewhere stays under alpha. Other figures use their
  tolerance token (pytest-benchmark style: `arena_bytes:+0`, `gzip_bytes:+2%`).
- board figures measured under other board settings (clock, esp-nn, ESP-IDF, engine: the
  Python virtual board or the firmware binary, the esp-tflite-micro / esp-nn versions the
  firmware links) are "not comparable" and say so instead of
  passing or failing.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reports.baseline import (
    BASELINE_METRICS,
    CONDITION_KEYS,
    Baseline,
    Context,
    context_of,
    describe_context,
    key_of,
    metrics_for,
)
from reports.stats import mcnemar_p
from vocabulary.metrics import (
    ACCURACY_METRICS,
    BOARD_SETTINGS_METRICS,
    DETERMINISTIC_METRICS,
    METRIC_BY_NAME,
    as_recorded,
    default_tolerance_tokens,
    format_metric,
)
from vocabulary.records import ResultRecord, decode_correct
from vocabulary.sources import BOARD_SOURCES, EMULATED_SOURCES

#: Default tolerance of each metric (the `tolerance` of its row in vocabulary.metrics). Which
#: figures move when a model is retrained was measured (docs/BASELINES.md: training seeds 7-10
#: on the same data and split, and another CPU): gzip bytes do, by up to 5.3 % (the weights
#: differ); accuracy does by a few samples (judged paired, not by this number alone); model
#: bytes, arena, MACs and the latency estimate never moved (they depend on the graph, not on
#: the weights).
DEFAULT_TOLERANCE_TOKENS = default_tolerance_tokens()
STATUSES = ("regressed", "changed", "not comparable", "missing", "improved", "new", "ok")
FAILING = ("regressed", "changed")

_TOKEN = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*:\s*([+-])\s*(\d+(?:\.\d+)?)\s*(%?)\s*$")


class ToleranceError(ValueError):
    """A tolerance token that cannot be parsed."""


@dataclass(frozen=True)
class Tolerance:
    """How far a metric may worsen. direction +1: higher is worse (bytes, latency);
    -1: lower is worse (accuracy). amount is absolute, or a percent of the old figure."""

    metric: str
    direction: int
    amount: float
    percent: bool

    def allowed(self, old: float) -> float:
        """The largest worsening (a non-negative number, in the metric's unit) accepted."""
        return abs(old) * self.amount / 100.0 if self.percent else self.amount

    def __str__(self) -> str:
        sign = "+" if self.direction > 0 else "-"
        return f"{self.metric}:{sign}{self.amount:g}{'%' if self.percent else ''}"


def parse_tolerance(token: str) -> Tolerance:
    """Parse `metric:+N`, `metric:-N`, `metric:+N%` or `metric:-N%`."""
    match = _TOKEN.match(token)
    if not match:
        raise ToleranceError(
            f"bad tolerance {token!r}: expected metric:+N, metric:-N or metric:+N% "
            f"(e.g. arena_bytes:+0, accuracy:-0.5, latency_us:+5%)")
    metric, sign, amount, percent = match.groups()
    if metric not in BASELINE_METRICS:
        raise ToleranceError(f"bad tolerance {token!r}: unknown metric {metric!r}; "
                             f"known: {', '.join(BASELINE_METRICS)}")
    return Tolerance(metric, +1 if sign == "+" else -1, float(amount), bool(percent))


def parse_tolerances(tokens: str | Iterable[str] | None = None) -> dict[str, Tolerance]:
    """Defaults overridden by `tokens` (an iterable, or one comma-separated string)."""
    result = {t.metric: t for t in map(parse_tolerance, DEFAULT_TOLERANCE_TOKENS)}
    if isinstance(tokens, str):
        tokens = [t for t in tokens.split(",") if t.strip()]
    for tolerance in map(parse_tolerance, tokens or ()):
        result[tolerance.metric] = tolerance
    return result


@dataclass
class ComparisonRow:
    variant: str
    target: str
    source: str
    metric: str
    old: float | None
    new: float | None
    delta: float | None
    tolerance: str
    status: str  # one of STATUSES
    note: str = ""

    @property
    def fails(self) -> bool:
        return self.status in FAILING


@dataclass
class Comparison:
    rows: list[ComparisonRow]
    baseline_path: Path | None
    baseline_missing: bool
    like_for_like: bool | None  # None: the current run's meta was not given
    like_for_like_notes: list[str] = field(default_factory=list)
    baseline_meta: dict[str, Any] = field(default_factory=dict)
    new_contexts: list[Context] = field(default_factory=list)  # no baseline yet for these

    @property
    def regressions(self) -> list[ComparisonRow]:
        return [r for r in self.rows if r.fails]

    def counts(self) -> dict[str, int]:
        return {s: n for s in STATUSES if (n := sum(r.status == s for r in self.rows))}

    def headline(self) -> str:
        """One line: what was compared with what, and the outcome."""
        if self.baseline_missing:
            return (f"baseline missing ({self.baseline_path}): every figure is new; write "
                    f"it with --update-baseline and a reason")
        counts = ", ".join(f"{n} {s}" for s, n in self.counts().items()) or "nothing compared"
        meta = self.baseline_meta
        origin = f"created {meta.get('created', '?')}, reason: {meta.get('reason', '?')}"
        line = f"vs baseline {self.baseline_path} ({origin}): {counts}"
        for context in self.new_contexts:
            line += (f"\nno baseline yet (new dataset or architecture: {describe_context(context)}): "
                     f"gated on budgets alone")
        return line

    def like_for_like_line(self) -> str:
        if self.like_for_like is None:
            return "like-for-like: unknown (this run's versions were not recorded)"
        if self.like_for_like:
            return "like-for-like: yes (same library versions)"
        return "NOT like-for-like: " + "; ".join(self.like_for_like_notes)


def judge(record: ResultRecord, baseline: Baseline | None, tolerances: Mapping[str, Tolerance],
          scope: str = "all", alpha: float = 0.05, family: int = 1) -> list[ComparisonRow]:
    """Rows for the metrics one item judges (see baseline.metrics_for). `family`: how many
    variants the run tests for accuracy (the Bonferroni divisor of alpha)."""
    alpha = alpha / max(1, family)
    rows = []
    for metric in metrics_for(record.source, scope):
        new = getattr(record, metric)
        entry = baseline.entries.get(key_of(record, metric)) if baseline else None
        old = (entry or {}).get("metrics", {}).get(metric)
        if old is None and new is None:
            continue
        tolerance = tolerances.get(metric)
        tol_text = str(tolerance) if tolerance else "-"
        row = ComparisonRow(record.variant, key_of(record, metric)[5], record.source, metric, old, new,
                            None if old is None or new is None else as_recorded(metric, new) - as_recorded(metric, old),
                            tol_text, "ok")
        if entry is None:
            row.status = "new"
            row.note = ("no baseline yet (new dataset or architecture)"
                        if baseline is None or not baseline.has_context(context_of(record)) else "not in baseline")
        elif new is None:
            row.status, row.note = "missing", "not measured in this run"
        elif old is None:
            row.status, row.note = "new", "not measured in baseline"
        else:
            row.status, row.note = _judge_figure(metric, old, new, tolerance, record, entry, alpha)
        rows.append(row)
    return rows


def _judge_figure(metric: str, old: float, new: float, tolerance: Tolerance | None,
                  record: ResultRecord, entry: Mapping[str, Any], alpha: float) -> tuple[str, str]:
    eps = 1e-9
    if metric in BOARD_SETTINGS_METRICS and record.source in BOARD_SOURCES:  # compared under the same settings
        differ = _condition_changes(entry.get("conditions") or {}, (record.extra.get("board") or {}))
        if differ:
            return "not comparable", "board settings differ: " + "; ".join(differ)
    same_bytes = bool(record.model_sha256) and record.model_sha256 == entry.get("model_sha256")
    if same_bytes and record.source in EMULATED_SOURCES and metric in DETERMINISTIC_METRICS:
        # compared in the form records keep (a baseline written before a rounding rule still matches)
        if abs(as_recorded(metric, new) - as_recorded(metric, old)) > eps:
            return "changed", "same artifact bytes, other figure: a runtime or harness change"
        return "ok", ""
    if tolerance is None:
        return "ok", ""
    worsening = (new - old) * tolerance.direction  # > 0: worse
    allowed = tolerance.allowed(old)
    origin = "" if same_bytes else _origin_note(record, entry)
    if worsening <= allowed + eps:
        if worsening < -eps and -worsening >= allowed - eps:
            return "improved", origin
        return "ok", origin
    if metric not in ACCURACY_METRICS:
        return "regressed", origin
    paired = paired_counts(record, entry)
    if isinstance(paired, str):
        return "regressed", f"beyond tolerance; unpaired ({paired})"
    lost, gained = paired
    p = mcnemar_p(lost, gained)
    stat = (f"this variant's own baseline samples: lost {lost}, gained {gained}, McNemar p={p:.3g}, "
            f"threshold {alpha:.3g}")
    if p < alpha and lost > gained:
        return "regressed", f"significant ({stat})"
    return "ok", f"beyond tolerance but not significant ({stat}){'; ' + origin if origin else ''}"


def paired_counts(record: ResultRecord, entry: Mapping[str, Any]) -> tuple[int, int] | str:
    """(lost, gained): test samples right in the baseline and wrong now, and the reverse;
    or why the two cannot be paired."""
    n = record.test_samples
    if not record.correct_bitmap or not entry.get("correct_bitmap"):
        return "per-sample correctness missing"
    if n is None or entry.get("test_samples") != n:
        return f"test split of {entry.get('test_samples')} samples in the baseline, {n} now"
    old = decode_correct(entry["correct_bitmap"], n)
    new = decode_correct(record.correct_bitmap, n)
    return int((old & ~new).sum()), int((~old & new).sum())


def _origin_note(record: ResultRecord, entry: Mapping[str, Any]) -> str:
    if not entry.get("model_sha256") or not record.model_sha256:
        return ""
    if record.provenance.get("build_key") and record.provenance.get("build_key") == entry.get("build_key"):
        return "retrained from the same inputs (another CPU or library build)"
    return "artifact rebuilt from other inputs (recipe, code, seed or libraries changed)"


def _condition_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return [f"{k} {old.get(k)} -> {new.get(k)}" for k in CONDITION_KEYS if old.get(k) != new.get(k)]


def compare(records: Iterable[ResultRecord], baseline: Baseline | None,
            tolerances: Mapping[str, Tolerance] | None = None,
            current_meta: Mapping[str, Any] | None = None,
            alpha: float = 0.05) -> Comparison:
    """Compare a whole run with the baseline: each target-independent figure once per
    variant, the rest per target; baseline entries of this run's datasets, architectures
    and sources that the run did not measure are "missing"."""
    records = [r for r in records if not r.error]
    tolerances = dict(tolerances) if tolerances is not None else parse_tolerances()
    family: dict[tuple, set[str]] = {}
    for record in records:
        family.setdefault((context_of(record), record.source), set()).add(record.variant)
    rows: list[ComparisonRow] = []
    seen_variant: set[tuple] = set()
    for record in records:
        size = len(family[(context_of(record), record.source)])
        rows += judge(record, baseline, tolerances, "target", alpha, size)
        once = (context_of(record), record.variant, record.source)
        if once not in seen_variant:
            seen_variant.add(once)
            rows += judge(record, baseline, tolerances, "variant", alpha, size)
    if baseline is None:
        return Comparison(rows, None, True, None)
    contexts = {context_of(r) for r in records}
    sources = {r.source for r in records}
    measured = {(key_of(r, m), m) for r in records for m in BASELINE_METRICS if getattr(r, m) is not None}
    for key, entry in sorted(baseline.entries.items()):
        if key[:3] not in contexts or key[4] not in sources:
            continue
        for metric, old in sorted(entry.get("metrics", {}).items()):
            if (key, metric) not in measured:
                rows.append(ComparisonRow(key[3], key[5], key[4], metric, old, None, None,
                                          str(tolerances.get(metric, "-")), "missing", "not in this run"))
    like, notes = _like_for_like(baseline.meta, current_meta)
    new_contexts = sorted(c for c in contexts if not baseline.has_context(c))
    return Comparison(rows, baseline.path, False, like, notes, dict(baseline.meta), new_contexts)


def _like_for_like(old: Mapping[str, Any], new: Mapping[str, Any] | None) -> tuple[bool | None, list[str]]:
    if new is None:
        return None, []
    old_versions, new_versions = old.get("versions") or {}, new.get("versions") or {}
    notes = [f"{lib} {old_versions.get(lib) or 'absent'} -> {new_versions.get(lib) or 'absent'}"
             for lib in sorted(set(old_versions) | set(new_versions))
             if old_versions.get(lib) != new_versions.get(lib)]
    return not notes, notes


def format_comparison_table(comparison: Comparison, only_changed: bool = True) -> str:
    """pytest-benchmark style old -> new table, grouped by variant; by default only rows
    that moved or are not "ok"."""
    lines = [comparison.headline()]
    if not comparison.baseline_missing:
        lines.append(comparison.like_for_like_line())
    rows = [r for r in comparison.rows if not only_changed or r.status != "ok"
            or (r.delta is not None and abs(r.delta) > 1e-9)]
    if not rows:
        lines.append("(no changes)")
        return "\n".join(lines)
    order = {s: i for i, s in enumerate(STATUSES)}
    rows.sort(key=lambda r: (r.variant, order[r.status], r.source, r.target, r.metric))
    header = ("variant", "status", "source", "target", "metric", "old -> new", "delta", "tolerance", "note")
    table = [header] + [(
        r.variant, r.status.upper() if r.fails else r.status, r.source,
        "all targets" if r.target == "*" else r.target, r.metric,
        f"{format_metric(r.metric, r.old)} -> {format_metric(r.metric, r.new)}",
        _format_delta(r), r.tolerance, r.note) for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for row in table:
        lines.append("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _format_delta(row: ComparisonRow) -> str:
    if row.delta is None:
        return ""
    row_metric = METRIC_BY_NAME.get(row.metric)
    text = format(row.delta, "+" + (row_metric.display if row_metric else ".2f"))
    if row.old:
        text += f" ({100.0 * row.delta / abs(row.old):+.1f}%)"
    return text
