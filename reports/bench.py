"""`python -m reports.bench`: how long the host gate takes, cold and warm, and its peak memory.

Runs `pytest -m host` twice in child processes against an empty artifact cache (cold: every
variant trained and converted) and then the same cache (warm: nothing rebuilt), into a
scratch report directory, and prints wall time and the peak resident memory of the
largest process in each run (pytest, the builders and the TFLM workers are measured
together through RUSAGE_CHILDREN: the figure is the largest single process, not the sum).
Figures, not assertions: a benchmark measures, tests assert.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_host_gate(cache: Path, report_dir: Path, extra: list[str]) -> tuple[float, int, int]:
    env = {**os.environ, "TINYML_CACHE_DIR": str(cache)}
    command = [sys.executable, "-m", "pytest", "-m", "host", "-q", "-p", "no:cacheprovider",
               "--report-dir", str(report_dir), *extra]
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode not in (0, 1):
        print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
    return seconds, peak_kib, proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--warm-only", action="store_true", help="reuse the project's cache; measure a warm run only")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (e.g. --target esp32)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tinyml-bench-") as scratch:
        scratch = Path(scratch)
        cache = Path(os.environ.get("TINYML_CACHE_DIR", ROOT / ".cache" / "artifacts")) if args.warm_only else scratch / "cache"
        runs = ["warm"] if args.warm_only else ["cold", "warm"]
        for label in runs:
            seconds, peak_kib, code = run_host_gate(cache, scratch / f"report-{label}", args.pytest_args)
            print(f"{label:>4} pytest -m host: {seconds:6.1f} s wall, peak RSS {peak_kib / 1024:6.0f} MiB "
                  f"(largest process so far), pytest exit {code}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
