"""Build reports/latest/{results.csv, summary.md, *.png} from result records.

Called by the pytest plugin at session end and by `python -m reports` (which rebuilds
from results.jsonl without rerunning anything). Problems of the report itself (an
unreadable budgets or baseline file) become notes in the summary, never a lost report.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reports.baseline import Baseline, BaselineError, baseline_figures, load_baseline
from reports.budgets import BudgetError, Violation, check_budgets, load_budgets, split_budget
from reports.compare import Comparison, Tolerance, compare
from reports.results_store import write_csv
from reports.summary import build_summary, write_github_summary, write_summary
from vocabulary.records import ResultRecord

Key = tuple[str, str, str]


@dataclass
class ReportPaths:
    out_dir: Path
    csv: Path
    summary: Path
    plots: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be built or checked
    comparison: Comparison | None = None
    violations: dict[Key, list[Violation]] = field(default_factory=dict)
    github_summary_written: bool = False

    def describe(self) -> str:
        """Where everything went, one line each (printed by `python -m reports`)."""
        lines = [f"results table: {self.csv}", f"summary:       {self.summary}"]
        lines += [f"plot:          {p}" for p in self.plots]
        lines += [f"note:          {n}" for n in self.notes]
        return "\n".join(lines)


def check_all_budgets(records: Sequence[ResultRecord], budgets_path: str | os.PathLike[str],
                      baseline: Baseline | None = None,
                      known_variants: Iterable[str] | None = None,
                      known_targets: Iterable[str] | None = None
                      ) -> dict[Key, list[Violation]]:
    """Violations per record key (keys without violations are left out). The accuracy
    budgets are checked once per variant and source, under the key (variant, "*", source)."""
    budgets = load_budgets(budgets_path, known_variants, known_targets)
    result: dict[Key, list[Violation]] = {}
    seen: set[tuple[str, str]] = set()
    for record in records:
        old = baseline_figures(baseline, record)
        found = check_budgets(record, split_budget(budgets, record, "target"), old)
        if found:
            result[record.key] = found
        if (record.variant, record.source) not in seen:
            seen.add((record.variant, record.source))
            targets = sorted({r.target for r in records if (r.variant, r.source) == (record.variant, record.source)})
            found = check_budgets(record, split_budget(budgets, record, "variant", targets), old)
            if found:
                result[(record.variant, "*", record.source)] = found
    return result


def build_report(records: Sequence[ResultRecord], out_dir: str | os.PathLike[str],
                 baseline_path: str | os.PathLike[str] | None,
                 budgets_path: str | os.PathLike[str] | None, *,
                 known_variants: Iterable[str] | None = None,
                 known_targets: Iterable[str] | None = None,
                 current_meta: Mapping[str, Any] | None = None,
                 tolerances: Mapping[str, Tolerance] | None = None,
                 github_summary: bool = True) -> ReportPaths:
    """Write results.csv, the plots and summary.md into out_dir; return where, plus the
    comparison and the budget violations so a caller can gate on them."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records = list(records)
    notes: list[str] = []

    baseline = None
    comparison: Comparison | None = None
    if baseline_path is not None:
        try:
            baseline = load_baseline(baseline_path)
            comparison = compare(records, baseline, tolerances, current_meta)
            if comparison.baseline_missing:
                comparison.baseline_path = Path(baseline_path)
        except BaselineError as exc:
            notes.append(f"baseline not compared: {exc}")

    violations: dict[Key, list[Violation]] = {}
    if budgets_path is not None:
        try:
            violations = check_all_budgets(records, budgets_path, baseline, known_variants, known_targets)
        except BudgetError as exc:
            notes.append(f"budgets not checked: {exc}")
    else:
        notes.append("budgets not checked: no budgets file given")

    from reports.plots import make_plots  # matplotlib: imported when a report is written, not with the plugin

    csv_path = write_csv(records, out_dir / "results.csv")
    plots = make_plots(records, out_dir)
    markdown = build_summary(records, comparison, violations, plots.paths, plots.notes, notes)
    summary_path = write_summary(markdown, out_dir / "summary.md")
    written = write_github_summary(markdown) if github_summary else False
    return ReportPaths(out_dir, csv_path, summary_path, plots.paths, notes + plots.notes,
                       comparison, violations, written)
