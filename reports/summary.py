"""summary.md: what a reviewer reads first.

Regressions and budget violations on top (readable in ten seconds), grouped by variant,
then one table per source in the shape of the reference lesson (size, gzip size, arena,
accuracy, drop, then the latency of each target as columns), the recommendations that
follow the lesson's decision rules, then the baseline comparison. Emulated figures are
labelled as such wherever they appear.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from reports.budgets import Violation
from reports.compare import Comparison, format_comparison_table
from targets.board.chip_arena import HOW_TO, UNAVAILABLE_LABEL
from targets.measure.shared import report_label
from vocabulary.metrics import ACCURACY, ACCURACY_DROP_PP, ARENA_BYTES, LATENCY_EST_US, LATENCY_US, format_metric
from vocabulary.records import ResultRecord
from vocabulary.sources import EMULATED_SOURCES, HIL, HOST_TFLM, SOURCE_PREFERENCE, SOURCES

Key = tuple[str, str, str]

#: Decision threshold of the reference lesson: PTQ is good enough below this drop.
DROP_THRESHOLD_PP = 2.0
#: Display order only; variants not listed follow alphabetically.
DISPLAY_ORDER = ("float32", "dynamic_range", "ptq_int8", "ptq_int8_per_tensor", "qat_int8")


@dataclass(frozen=True)
class Recommendation:
    target: str
    choice: str | None  # the variant recommended by default, None when nothing qualifies
    reason: str
    download_choice: str | None  # most pruned variant within the drop threshold
    download_reason: str


def sparsity_of(record: ResultRecord) -> float | None:
    """record.extra["sparsity"], else read from a name like pruned70_int8; float32 is 0."""
    if "sparsity" in record.extra and record.extra["sparsity"] is not None:
        return float(record.extra["sparsity"])
    if record.variant == "float32":
        return 0.0
    match = re.match(r"pruned(\d+)", record.variant)
    return int(match.group(1)) / 100.0 if match else None


def recommend(records: Sequence[ResultRecord], target: str,
              violations: Mapping[Key, Sequence[Violation]] | None = None,
              threshold_pp: float = DROP_THRESHOLD_PP) -> Recommendation:
    """The reference decision rules for one target.

    PTQ (ptq_int8) when its drop is under the threshold, else QAT (qat_int8); for
    download size, the most pruned variant whose drop stays under the threshold. A variant
    that does not fit the target, is not deployable, failed, or breaks a budget is never
    recommended for it.
    """
    violations = violations or {}
    best = _preferred_per_variant(r for r in records if r.target == target)

    def why_not(name: str) -> str | None:
        record = best.get(name)
        if record is None:
            return "not measured"
        if record.error:
            return f"failed: {record.error}"
        if not record.deployable:
            return "not deployable"
        if record.fits is False:
            return "does not fit"
        if violations.get(record.key):
            return "breaks its budgets"
        return None

    def drop_of(name: str) -> float | None:
        return best[name].accuracy_drop_pp if name in best else None

    choice: str | None = None
    ptq_issue, qat_issue = why_not("ptq_int8"), why_not("qat_int8")
    ptq_drop, qat_drop = drop_of("ptq_int8"), drop_of("qat_int8")
    if ptq_issue is None and ptq_drop is not None and ptq_drop < threshold_pp:
        choice = "ptq_int8"
        reason = (f"PTQ int8 (ptq_int8): drop {ptq_drop:.2f} pp < {threshold_pp:g} pp, "
                  f"no retraining needed")
    else:
        ptq_state = ptq_issue or ("drop unknown" if ptq_drop is None
                                  else f"drop {ptq_drop:.2f} pp >= {threshold_pp:g} pp")
        if qat_issue is None and qat_drop is not None:
            choice = "qat_int8"
            reason = f"QAT int8 (qat_int8): drop {qat_drop:.2f} pp; ptq_int8 {ptq_state}"
            if qat_drop >= threshold_pp:
                reason += (f"; QAT also loses >= {threshold_pp:g} pp, consider the float32 "
                           f"model or a larger network")
        elif why_not("float32") is None:
            choice = "float32"
            reason = (f"float32: no int8 variant qualifies (ptq_int8 {ptq_state}; "
                      f"qat_int8 {qat_issue or 'drop unknown'})")
        else:
            reason = (f"none: ptq_int8 {ptq_state}; qat_int8 {qat_issue or 'drop unknown'}; "
                      f"float32 {why_not('float32')}")

    pruned = [(sparsity, r) for name, r in best.items()
              if name.startswith("pruned") and why_not(name) is None
              and r.accuracy_drop_pp is not None and r.accuracy_drop_pp < threshold_pp
              and (sparsity := sparsity_of(r)) is not None]
    if pruned:
        sparsity, pick = max(pruned, key=lambda p: (p[0], -(p[1].gzip_bytes or 0)))
        download_choice = pick.variant
        download_reason = (f"{pick.variant} (sparsity {100 * sparsity:.0f} %, gzip "
                           f"{_kib(pick.gzip_bytes)}, drop {pick.accuracy_drop_pp:.2f} pp)")
        if choice and choice in best and best[choice].gzip_bytes:
            download_reason += f" vs gzip {_kib(best[choice].gzip_bytes)} for {choice}"
    else:
        download_choice = None
        download_reason = (f"no pruned variant keeps the drop under {threshold_pp:g} pp "
                           f"and fits")
    return Recommendation(target, choice, reason, download_choice, download_reason)


def build_summary(records: Sequence[ResultRecord], comparison: Comparison | None = None,
                  violations: Mapping[Key, Sequence[Violation]] | None = None,
                  plots: Sequence[Path] = (), plot_notes: Sequence[str] = (),
                  notes: Sequence[str] = ()) -> str:
    """The whole summary.md as a string. `notes`: problems of the report itself (an
    unreadable budgets file, say), shown right under the verdict."""
    violations = {k: list(v) for k, v in (violations or {}).items() if v}
    regressions = comparison.regressions if comparison else []
    lines = ["# Model variant report", ""]
    n_viol = sum(len(v) for v in violations.values())
    if n_viol or regressions:
        lines.append(f"**FAIL: {n_viol} budget violation(s), {len(regressions)} "
                     f"regression(s) versus the baseline.**")
        lines += ["", "## Regressions and budget violations", ""]
        problems: dict[str, list[str]] = {}
        for key in sorted(violations):
            for v in violations[key]:
                problems.setdefault(key[0], []).append(f"budget: {_key_text(key)}: {v.message}")
        for r in regressions:
            problems.setdefault(r.variant, []).append(
                f"{r.status}: {_key_text((r.variant, r.target, r.source))}: {r.metric} "
                f"{format_metric(r.metric, r.old)} -> {format_metric(r.metric, r.new)} "
                f"(tolerance {r.tolerance})" + (f"; {r.note}" if r.note else ""))
        for variant in sorted(problems):
            lines.append(f"- **{variant}**")
            lines += [f"  - {text}" for text in problems[variant]]
    elif notes:
        lines.append(f"**NOT FULLY CHECKED: {len(records)} result(s); see the report notes "
                     f"for what could not be checked.**")
    else:
        lines.append(f"**PASS: {len(records)} result(s), no budget violation, no "
                     f"regression.**")
    if notes:
        lines += ["", "Report notes:"] + [f"- {note}" for note in notes]
    if comparison is not None and comparison.baseline_missing:
        lines += ["", f"Baseline missing: {comparison.headline()}"]
    elif comparison is not None and comparison.like_for_like is False:
        lines += ["", f"Warning: {comparison.like_for_like_line()}"]
    lines.append("")

    for source in [s for s in SOURCES if any(r.source == s for r in records)]:
        lines += _source_section(source, [r for r in records if r.source == source], violations)
    lines += _recommendations(records, violations)

    if comparison is not None:
        lines += ["## Baseline comparison", "", "```",
                  format_comparison_table(comparison), "```", ""]
    if plots or plot_notes:
        lines += ["## Plots", ""]
        lines += [f"![{p.stem}]({p.name})" for p in plots]
        lines += [f"- {note}" for note in plot_notes]
        lines.append("")
    return "\n".join(lines)


def write_summary(markdown: str, path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown, encoding="utf-8")
    return path


def write_github_summary(markdown: str) -> bool:
    """Append to the GitHub Actions job summary when $GITHUB_STEP_SUMMARY is set."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return False
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(markdown.rstrip("\n") + "\n\n")
    return True


def _source_section(source: str, records: list[ResultRecord],
                    violations: Mapping[Key, Sequence[Violation]]) -> list[str]:
    """One table for one source: a row per variant, the per-target figures as columns."""
    targets = sorted({r.target for r in records})
    estimated = source in EMULATED_SOURCES  # no chip measured these figures: latency is the estimate
    latency = LATENCY_EST_US.name if estimated else LATENCY_US.name
    # The conditions' labels: one virtual board is host TFLM behind the protocol, another the firmware binary.
    heading = f"## {source} (emulated)" if estimated else f"## {source}"
    lines = [heading, "", *(f"- {label}" for label in dict.fromkeys(map(report_label, records))),
             *(["- latency: estimate (est.) for the default firmware config, ± its expected error: the worst "
                "Espressif-published figure held out of the cost model's fit (docs/LATENCY.md); "
                "esp_nn_off: the estimate for sdkconfig.ci.esp_nn_off"] if estimated else []),
             "- arena: as TFLM reports it; " + ("the 64-bit host build's figure, the same for every target"
                                                 if source == HOST_TFLM else "per board")]
    if source == HOST_TFLM:
        lines += _chip_arena_lines(records)
    lines.append("")
    header = ["variant", "model", "gzip", "arena", "accuracy %", "drop pp", "worst class drop pp"]
    header += [f"{t} {'est. ' if estimated else ''}us" for t in targets]
    header += ["does not fit", "budgets"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    by_variant: dict[str, list[ResultRecord]] = {}
    for r in sorted(records, key=_display_key):
        by_variant.setdefault(r.variant, []).append(r)
    for variant, rows in by_variant.items():
        per_target = {r.target: r for r in rows}
        first = rows[0]
        n_viol = sum(len(violations.get(r.key, ())) for r in rows) + len(violations.get((variant, "*", source), ()))
        status = "error" if any(r.error for r in rows) else ("ok" if not n_viol else f"{n_viol} violated")
        if not first.deployable:
            status += " (not deployable on TFLM)"
        cells = [variant, _kib(first.model_bytes), _kib(first.gzip_bytes), _spread(rows, ARENA_BYTES.name, _kib),
                 _spread(rows, ACCURACY.name, lambda v: _num(v, ".2f")),
                 _spread(rows, ACCURACY_DROP_PP.name, lambda v: _num(v, "+.2f")),
                 _num(first.max_class_drop_pp, "+.2f") + (f" ({first.extra['worst_class']})"
                                                          if first.extra.get("worst_class") else "")]
        for t in targets:
            on_target = per_target.get(t)
            value = getattr(on_target, latency) if on_target else None
            cell = _num(value)
            if on_target is not None and estimated and value is not None:
                cell += _expected_error(on_target)
            if on_target is not None and not estimated:
                cell += (f" ({_estimate_error(on_target.latency_us, on_target.latency_est_us)})"
                         if on_target.latency_us else "")
                gap = _arena_gap(on_target, on_target.extra.get("host_arena_bytes"))
                cell += f"; arena vs host {gap}" if gap else ""
            if on_target is not None and source == HOST_TFLM and on_target.chip_arena_source != UNAVAILABLE_LABEL:
                cell += f"; chip arena {_kib(on_target.chip_arena_bytes)}" if on_target.chip_arena_bytes else ""
            cells.append(cell)
        cells += [", ".join(r.target for r in rows if r.fits is False) or "-", status]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def _chip_arena_lines(records: Sequence[ResultRecord]) -> list[str]:
    """What the per-target chip arena is in this run; one line on how to get it when it is not there."""
    measured = [r for r in records if r.chip_arena_bytes is not None and r.chip_arena_source != UNAVAILABLE_LABEL]
    missing = [r for r in records if r.chip_arena_source == UNAVAILABLE_LABEL
               and "how_to" in (r.extra.get("chip_arena") or {})]  # not a target no firmware here builds for
    lines = []
    if measured:
        lines.append("- chip arena (per target, in the latency cells): what the target's firmware (default config) "
                     "reports, from a 32-bit host build of its kernels; every config in results.jsonl extra.chip_arena")
    if missing:
        lines.append(f"- {', '.join(sorted({r.target for r in missing}))}: fits and max_arena_bytes use the "
                     f"{UNAVAILABLE_LABEL}; {HOW_TO}")
    return lines


def _spread(rows: list[ResultRecord], metric: str, fmt) -> str:
    """One figure when every target agrees (the host case), else min..max."""
    values = sorted({getattr(r, metric) for r in rows if getattr(r, metric) is not None})
    if not values:
        return ""
    return fmt(values[0]) if len(values) == 1 else f"{fmt(values[0])}..{fmt(values[-1])}"


def _recommendations(records: Sequence[ResultRecord], violations: Mapping[Key, Sequence[Violation]]) -> list[str]:
    """The lesson's decision per target; targets with the same advice share a line."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for target in sorted({r.target for r in records}):
        rec = recommend(records, target, violations)
        grouped.setdefault((rec.reason, rec.download_reason), []).append(target)
    lines = ["## Recommendations", ""]
    for (reason, download), targets in grouped.items():
        lines += [f"- **{', '.join(targets)}:** {reason}. When download size matters (prune + gzip): {download}."]
    return lines + [""]


def _preferred_per_variant(records: Iterable[ResultRecord]) -> dict[str, ResultRecord]:
    """Per variant, the record of the source a recommendation trusts most (vocabulary.sources)."""
    best: dict[str, ResultRecord] = {}
    rank = {s: i for i, s in enumerate(SOURCE_PREFERENCE)}
    for r in records:
        current = best.get(r.variant)
        if current is None or rank.get(r.source, 99) < rank.get(current.source, 99):
            best[r.variant] = r
    return best


def _display_key(record: ResultRecord) -> tuple:
    if record.variant in DISPLAY_ORDER:
        group = (0, DISPLAY_ORDER.index(record.variant), 0.0)
    else:
        group = (1, 0, sparsity_of(record) or 0.0)
    return (*group, record.variant, record.source)


def _expected_error(record: ResultRecord) -> str:
    """An estimate's expected error (docs/LATENCY.md), and its esp_nn_off figure when there is one."""
    pct = record.latency_est_error_pct
    text = (f" (±{pct:.0f} %)" if pct is not None
            else " (not validated)" if record.extra.get("latency_est_expected_error") else "")
    off = (record.extra.get("latency_est_us_by_config") or {}).get("esp_nn_off")
    return text + (f"; esp_nn_off {_num(off)}" if off is not None else "")


def _estimate_error(measured: float | None, estimate: float | None) -> str:
    """The estimate beside the measurement, and its error relative to the measurement."""
    if measured is None or estimate is None or measured == 0:
        return ""
    return f"est. {estimate:,.0f} ({100 * (estimate - measured) / measured:+.1f}%)"


def _arena_gap(record: ResultRecord, host_arena: int | None) -> str:
    """Chip arena minus the host build's for the same variant: two different measurements
    (32-bit structs and esp-nn scratch on the chip), so the gap is shown, never hidden."""
    if record.source != HIL or record.arena_bytes is None or host_arena is None:
        return ""
    gap = record.arena_bytes - host_arena
    return f"{gap:+,} B ({100 * gap / host_arena:+.1f}%)" if host_arena else f"{gap:+,} B"


def _kib(value: int | None) -> str:
    return "" if value is None else f"{value / 1024:.1f} KiB"


def _num(value: float | None, fmt: str = ",.0f") -> str:
    return "" if value is None else format(value, fmt)


def _key_text(key: Key) -> str:
    variant, target, source = key
    return f"{variant} on {'all targets' if target == '*' else target} ({source})"
