"""Fit each target's latency cost model to per-op profiles measured on real boards.

    python -m tinyml_harness.calibrate --results reports/latest/results.jsonl [--dry-run]

Reads result records with source "hil" whose extra["profile"] lists, per op, the measured
cycles and the work the estimator charges for (macs / elements, dtype). The cost model is
the estimator's (targets/cost/estimator.py): cycles = per_op_overhead + coefficient x work,
one coefficient per (dtype, kind). A non-negative least-squares fit over every measured op
of a target gives new coefficients, written to the repository's own target registry
(--targets-file, default ./targets.toml, created if absent; layered over the packaged
registry as pytest's --targets-file is), never into the installed package: only
coefficients the data constrains, each marked calibrated, with its source. Virtual-board
records are ignored: their timings ARE the estimate, so fitting to them would prove
nothing. Prints, per variant, the estimate's error against the measured latency before
and after.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from targets.cost.estimator import COST_DTYPE, cost_kind, cost_work, estimate_latency
from targets.cost.overlay import USER_TARGETS_FILE, write_overlay_coefficients
from targets.cost.registry import (
    Coefficient,
    CostModel,
    TargetProfile,
    load_targets,
)
from targets.tflm.analysis import OpInfo
from vocabulary.records import ResultRecord
from vocabulary.sources import HIL

OVERHEAD = "per_op_overhead_cycles"


@dataclass(frozen=True)
class MeasuredModel:
    """One record's measured profile, as the estimator sees a model."""

    variant: str
    target: str
    ops: list[OpInfo]
    cycles: list[float]  # measured, per op, same order

    @property
    def op_infos(self) -> list[OpInfo]:  # what estimate_latency reads
        return self.ops

    def measured_total_us(self, clock_mhz: float) -> float:
        return sum(self.cycles) / clock_mhz


@dataclass(frozen=True)
class CalibrationFit:
    """A target's cost coefficients fitted to per-op profiles measured on its boards
    (published_fit.PublishedFit is the fit to Espressif's published figures)."""

    target: str
    coefficients: dict[str, float]  # OVERHEAD or "<dtype>.<kind>"
    ops_used: int
    models: list[MeasuredModel]


def coefficient_key(info: OpInfo) -> str:
    """The estimator's (dtype, kind) for an op, as write_coefficients spells it."""
    return f"{COST_DTYPE.get(info.dtype, 'float32')}.{cost_kind(info)}"


_work = cost_work


def measured_models(records: Iterable[ResultRecord]) -> tuple[list[MeasuredModel], list[str]]:
    """Records usable for calibration, and notes on those skipped (and why)."""
    models, notes = [], []
    for r in records:
        if r.source != HIL:
            notes.append(f"skipped {r.variant}/{r.target} ({r.source}): not measured on a chip")
            continue
        profile = r.extra.get("profile") if r.extra else None
        if not profile:
            notes.append(f"skipped {r.variant}/{r.target}: no per-op profile in the record")
            continue
        missing = [p.get("op", "?") for p in profile
                   if p.get("dtype") is None or p.get("macs") is None or p.get("elements") is None]
        if missing:
            notes.append(f"skipped {r.variant}/{r.target}: profile lacks dtype/macs/elements "
                         f"for {missing[:3]}")
            continue
        # kernel / channels are optional (older profiles): without them a conv is charged as kxk
        ops = [OpInfo(int(p["index"]), str(p["op"]), int(p["macs"]), str(p["dtype"]), int(p["elements"]),
                      tuple(p.get("kernel", (0, 0))), tuple(p.get("channels", (0, 0))))
               for p in profile]
        models.append(MeasuredModel(r.variant, r.target, ops, [float(p["cycles"]) for p in profile]))
    return models, notes


def fit_target(target: str, models: list[MeasuredModel]) -> CalibrationFit:
    """Non-negative least squares over every measured op of `target`."""
    from scipy.optimize import nnls

    keys = sorted({coefficient_key(op) for m in models for op in m.ops if _work(op) > 0})
    columns = [OVERHEAD, *keys]
    rows, rhs = [], []
    for m in models:
        for op, cycles in zip(m.ops, m.cycles, strict=True):
            row = np.zeros(len(columns))
            row[0] = 1.0
            if _work(op) > 0:
                row[columns.index(coefficient_key(op))] = _work(op)
            rows.append(row)
            rhs.append(cycles)
    if len(rows) < len(columns):
        raise ValueError(f"{target}: {len(rows)} measured ops cannot fix {len(columns)} coefficients")
    a, b = np.array(rows), np.array(rhs)
    scale = np.maximum(np.abs(a).max(axis=0), 1.0)  # columns span 1 .. 1e5: condition them
    solution, _ = nnls(a / scale, b)
    values = solution / scale
    return CalibrationFit(target, dict(zip(columns, (float(v) for v in values), strict=True)), len(rows), models)


def with_coefficients(profile: TargetProfile, coefficients: dict[str, float]) -> TargetProfile:
    """`profile` with some coefficients replaced (for the after-calibration estimate)."""
    cost = profile.cost
    overhead = cost.per_op_overhead_cycles
    table = dict(cost.coefficients)
    for key, value in coefficients.items():
        if key == OVERHEAD:
            overhead = Coefficient(value, "calibration (pending)", True)
        else:
            dtype, _, kind = key.partition(".")
            table[(dtype, kind)] = Coefficient(value, "calibration (pending)", True)
    return dataclasses.replace(profile, cost=CostModel(overhead, table))


def estimate_us(model: MeasuredModel, profile: TargetProfile) -> float:
    return estimate_latency(model, profile).total_us


def error_table(fit: CalibrationFit, before: TargetProfile, after: TargetProfile) -> list[str]:
    lines = [f"{'variant':<24} {'measured us':>12} {'before us':>10} {'err %':>7} "
             f"{'after us':>10} {'err %':>7}"]
    for m in fit.models:
        measured = m.measured_total_us(before.clock_mhz)
        b, a = estimate_us(m, before), estimate_us(m, after)
        lines.append(f"{m.variant:<24} {measured:>12.1f} {b:>10.1f} {100 * (b - measured) / measured:>+7.1f} "
                     f"{a:>10.1f} {100 * (a - measured) / measured:>+7.1f}")
    return lines


def calibrate(results: Path, targets_file: Path = Path(USER_TARGETS_FILE), *, write: bool = True,
              out=sys.stdout) -> dict[str, CalibrationFit]:
    """Fit every target with measured profiles in `results`; write the fits into
    `targets_file` (the repository's registry, layered over the packaged one) unless
    `write` is False."""
    from reports.results_store import read_jsonl

    if not results.exists():
        raise SystemExit(f"calibrate: {results} not found (run `pytest -m hil` on a bench first)")
    models, notes = measured_models(read_jsonl(results))
    for note in notes:
        print(f"note: {note}", file=out)
    profiles = load_targets(overlay=targets_file if targets_file.exists() else None)
    by_target: dict[str, list[MeasuredModel]] = defaultdict(list)
    for m in models:
        if m.target not in profiles:
            print(f"note: skipped {m.variant}/{m.target}: target neither packaged nor in {targets_file}", file=out)
            continue
        by_target[m.target].append(m)
    if not by_target:
        raise SystemExit(f"calibrate: no record in {results} carries a per-op profile measured on "
                         f"a chip (source 'hil'); nothing to fit")
    fits = {}
    for target, target_models in by_target.items():
        fit = fit_target(target, target_models)
        before = profiles[target]
        after = with_coefficients(before, fit.coefficients)
        print(f"\n[{target}] {fit.ops_used} ops from {len(target_models)} record(s)", file=out)
        for key, value in fit.coefficients.items():
            print(f"  {key:<28} {value:12.4f}", file=out)
        for line in error_table(fit, before, after):
            print("  " + line, file=out)
        if write:
            source = (f"bench calibration: NNLS over {fit.ops_used} measured ops "
                      f"({len(target_models)} variants) from {results.name}")
            write_overlay_coefficients(targets_file, target, {
                key: Coefficient(float(value), source, True) for key, value in fit.coefficients.items()})
            print(f"  written to {targets_file}", file=out)
        fits[target] = fit
    return fits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinyml_harness.calibrate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=Path("reports/latest/results.jsonl"))
    parser.add_argument("--targets-file", type=Path, default=Path(USER_TARGETS_FILE),
                        help="your repository's target registry, layered over the packaged one; the fits are "
                             "written here (default: %(default)s in the current directory, created if absent)")
    parser.add_argument("--dry-run", action="store_true", help="print the fit, write nothing")
    args = parser.parse_args(argv)
    calibrate(args.results, args.targets_file, write=not args.dry_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
