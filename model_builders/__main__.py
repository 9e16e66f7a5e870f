"""`python -m model_builders`: build every variant (through the cache) and write builds.csv.

The full host job (evaluation on TFLite Micro, budgets, report) is `pytest -m host`; this
entry point is for building alone, for example to warm the cache on a CI runner.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from model_builders.datasets import DatasetError
from model_builders.pipeline import (
    BuildConfig,
    BuildFailed,
    build_rows,
    build_variants,
    default_build_jobs,
    write_builds_csv,
)
from model_builders.representative import RepresentativeDataError
from model_builders.variants import UnknownVariantError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_builders", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", help="directory <root>/<class>/*.npy, or 'basicmotions'; "
                                           "default: built-in synthetic gestures")
    parser.add_argument("--window", type=int, help="timesteps per sample (default: the most common length)")
    parser.add_argument("--variants", help="comma-separated variant names (default: all)")
    parser.add_argument("--seed", type=int, default=7, help="seed for the built-in data, the split and training")
    parser.add_argument("--training-seed", type=int, help="seed for training alone (default: --seed)")
    parser.add_argument("--architecture", default="reference_cnn", help="registered model architecture")
    parser.add_argument("--rebuild", action="store_true", help="ignore the cache and rebuild")
    parser.add_argument("--build-jobs", type=int, default=None,
                        help=f"build worker processes (default: the cores, here {default_build_jobs()})")
    parser.add_argument("--out", type=Path, default=Path("reports/latest/builds.csv"))
    args = parser.parse_args(argv)
    config = BuildConfig(dataset=args.dataset, window=args.window, seed=args.seed, training_seed=args.training_seed,
                         rebuild=args.rebuild,
                         architecture=args.architecture,
                         variants=[v.strip() for v in args.variants.split(",") if v.strip()] if args.variants else None)
    if args.build_jobs is not None and args.build_jobs < 1:
        parser.error(f"--build-jobs must be at least 1, got {args.build_jobs}")
    started = time.perf_counter()
    code = 0
    try:
        session = build_variants(config, progress=lambda m: print(m, flush=True), jobs=args.build_jobs)
    except (DatasetError, RepresentativeDataError, UnknownVariantError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BuildFailed as exc:  # the others were built: write what we have, then fail
        print(f"error: {exc}", file=sys.stderr)
        session, code = exc.session, 1
    path = write_builds_csv(session, args.out)
    for row in build_rows(session):
        print("  ".join(f"{k}={v}" for k, v in row.items() if k != "key"))
    print(f"wrote {path} in {time.perf_counter() - started:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
