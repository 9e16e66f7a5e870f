"""`python -m reports`: rebuild results.csv, summary.md and the plots from results.jsonl.

Nothing is rerun: this reads what a (possibly interrupted) run already wrote. Variant and
target names in budgets.toml are checked against the variant recipes and the target
registry when those import (they need no TensorFlow); otherwise only keys are checked.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reports.compare import ToleranceError, parse_tolerances
from reports.report import ReportPaths, build_report
from reports.results_store import ResultsStore

__all__ = ["build_report", "ReportPaths", "main"]


def known_names() -> tuple[list[str] | None, list[str] | None]:
    """Variant and target names from their single sources of truth, if importable."""
    variants = targets = None
    try:
        from model_builders.variants import RECIPES
        variants = list(RECIPES)
    except ImportError:
        pass
    try:
        from pathlib import Path

        from targets.cost.registry import load_targets

        user = Path("targets.toml")  # a repository's own targets (pytest's --targets-file default)
        targets = list(load_targets(overlay=user if user.is_file() else None))
    except (ImportError, ValueError):
        pass
    return variants, targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports", description=__doc__.split("\n")[0])
    parser.add_argument("--dir", default="reports/latest", type=Path,
                        help="run directory holding results.jsonl (default: %(default)s)")
    parser.add_argument("--baseline", default="reports/baseline.json", type=Path,
                        help="baseline to compare with (default: %(default)s)")
    parser.add_argument("--budgets", default="budgets.toml", type=Path,
                        help="budgets file (default: %(default)s)")
    parser.add_argument("--tolerance", action="append", default=[], metavar="METRIC:±N[%]",
                        help="override a tolerance, e.g. latency_us:+10%% (repeatable)")
    parser.add_argument("--github-summary", action="store_true",
                        help="also append summary.md to $GITHUB_STEP_SUMMARY")
    args = parser.parse_args(argv)

    store = ResultsStore(args.dir)
    if not store.jsonl_path.exists():
        print(f"error: {store.jsonl_path} does not exist; run the suite first "
              f"(pytest -m host) or pass --dir", file=sys.stderr)
        return 2
    try:
        tolerances = parse_tolerances(args.tolerance)
    except ToleranceError as exc:
        parser.error(str(exc))
    records = store.read()
    variants, targets = known_names()
    paths = build_report(records, args.dir, args.baseline, args.budgets,
                         known_variants=variants, known_targets=targets,
                         current_meta=store.read_meta(), tolerances=tolerances,
                         github_summary=args.github_summary)
    print(f"read {len(records)} record(s) from {store.jsonl_path}")
    print(paths.describe())
    if paths.comparison is not None:
        print(paths.comparison.headline())
    n_viol = sum(len(v) for v in paths.violations.values())
    print(f"budget violations: {n_viol}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
