"""`python -m benchmarks.cold_build`: how long the host gate takes, cold and warm, where the time goes, and its memory.

One command, two scenarios, figures printed (a benchmark measures, tests assert):
- builtin: `pytest -m host` on the built-in gestures, every variant x every target;
- dataset: `pytest -m host --dataset DIR --variants ptq_int8,qat_int8,pruned70_int8` (float32
  comes along) on a directory dataset, by default one generated here with a fixed seed
  (benchmarks.directory_dataset: 640 samples, 12 channels, 9 classes, window 29), compared with
  two scripts that train and convert the same four variants one after another in one process
  (no TFLM evaluation): `benchmarks.plain_pipeline`, written as an engineer would with public
  Keras / TFLite / tfmot APIs (the yardstick), and `benchmarks.sequential_pipeline`, which
  calls the harness's own recipe functions (so the difference is the harness's overhead).
Each pytest run goes to a child process with an empty artifact cache (cold) and then the
same cache again (warm), and writes a phase timing log (model_builders.timing) from which
the per-phase split is printed: seconds summed over every process, so phases that ran at
the same time on different cores add up to more than the wall time. Peak memory is the
largest sum of proportional set sizes (PSS: shared pages split among the processes sharing
them) over the run's process tree, sampled every 0.1 s.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATASET_VARIANTS = "ptq_int8,qat_int8,pruned70_int8"
PHASE_ORDER = ("build_session", "tf_import", "worker_init", "build", "train", "convert", "load_parent", "save",
               "keras_eval", "tflm", "reference")


def _tree(root_pid: int) -> list[int]:
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children[ppid].append(int(entry))
    pids, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, []))
    return pids


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemorySampler(threading.Thread):
    """Peak PSS of a process and all its descendants (Linux /proc; 0 elsewhere)."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_kib, self.done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            if os.path.isdir("/proc"):
                self.peak_kib = max(self.peak_kib, sum(_pss_kib(p) for p in _tree(self.pid)))
            self.done.wait(0.1)


def run_measured(command: list[str], env: dict[str, str]) -> tuple[float, int, int, str]:
    """(wall seconds, peak tree PSS in KiB, exit code, output tail)."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sampler = MemorySampler(proc.pid)
    sampler.start()
    output, _ = proc.communicate()
    seconds = time.perf_counter() - started
    sampler.done.set()
    sampler.join()
    return seconds, sampler.peak_kib, proc.returncode, output[-3000:]


def phase_split(log: Path) -> str:
    """Seconds per phase summed over processes, and the slowest builds."""
    if not log.is_file():
        return "    (no timing log)"
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        totals[row["phase"]] += row["end"] - row["start"]
        counts[row["phase"]] += 1
    names = [p for p in PHASE_ORDER if p in totals] + sorted(set(totals) - set(PHASE_ORDER))
    lines = ["    " + "  ".join(f"{p} {totals[p]:.1f} s" + (f" (x{counts[p]})" if counts[p] > 1 else "")
                                for p in names)]
    builds = sorted((r for r in rows if r["phase"] == "build"), key=lambda r: r["start"])
    if builds:
        t0 = min(r["start"] for r in rows)
        lines.append("    builds (start -> end, s from the first logged phase): " + ", ".join(
            f"{r['variant']} {r['start'] - t0:.1f}->{r['end'] - t0:.1f}" for r in builds))
    return "\n".join(lines)


def pytest_run(label: str, cache: Path, scratch: Path, args: list[str]) -> float:
    log = scratch / f"timing-{label}.jsonl"
    env = {**os.environ, "TINYML_CACHE_DIR": str(cache), "TINYML_TIMING_LOG": str(log)}
    # -c and --rootdir: an absolute --dataset path must not move the rootdir away from our conftest.py
    command = [sys.executable, "-m", "pytest", "-c", str(ROOT / "pytest.ini"), "--rootdir", str(ROOT), "-m", "host",
               "-q", "-p", "no:cacheprovider", "--report-dir", str(scratch / f"report-{label}"), *args]
    seconds, peak_kib, code, output = run_measured(command, env)
    print(f"{label:<16} pytest -m host: {seconds:6.1f} s wall, peak memory {peak_kib / 1024:6.0f} MiB (PSS, "
          f"process tree), pytest exit {code}", flush=True)
    if code not in (0, 1):
        print(output, file=sys.stderr)
    print(phase_split(log), flush=True)
    return seconds


def scenario(name: str, scratch: Path, args: list[str]) -> float:
    """Cold then warm; returns the cold run's wall seconds."""
    cache = scratch / f"cache-{name}"
    cold = pytest_run(f"{name} cold", cache, scratch, args)
    pytest_run(f"{name} warm", cache, scratch, args)
    return cold


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cold_build", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", help="directory dataset for the second scenario (default: generate one)")
    parser.add_argument("--only", choices=("builtin", "dataset"), help="run one scenario")
    parser.add_argument("--no-sequential", action="store_true", help="skip the plain sequential script")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after -- (e.g. -- --build-jobs 1)")
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at start", flush=True)
    with tempfile.TemporaryDirectory(prefix="tinyml-bench-") as scratch_name:
        scratch = Path(scratch_name)
        if args.only in (None, "builtin"):
            scenario("builtin", scratch, args.pytest_args)
        if args.only in (None, "dataset"):
            from benchmarks.directory_dataset import make_dataset

            dataset = Path(args.dataset) if args.dataset else make_dataset(scratch / "dataset")
            cold = scenario("dataset", scratch, [f"--dataset={dataset}", f"--variants={DATASET_VARIANTS}",
                                                 *args.pytest_args])
            if not args.no_sequential:
                for module, label in (("benchmarks.plain_pipeline", "plain script (public APIs)"),
                                      ("benchmarks.sequential_pipeline", "script with the harness's recipes")):
                    seconds, peak_kib, code, output = run_measured(
                        [sys.executable, "-m", module, "--dataset", str(dataset)], dict(os.environ))
                    print(f"{'sequential':<16} {label}, 4 variants: {seconds:6.1f} s wall, peak memory "
                          f"{peak_kib / 1024:6.0f} MiB, exit {code}\n    {output.strip().splitlines()[-1]}\n"
                          f"    the harness's cold run took {cold / seconds:.2f}x this script's time", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end (other work on the machine skews the figures)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
