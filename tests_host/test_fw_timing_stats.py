"""`time`'s statistics against known values. The gate reads a chip's latency as the median of
its `time` reply, computed by core/timing_stats.cc. fw_host --scripted-clock makes the k-th
timed run last a listed number of microseconds (and clock_mhz cycles per microsecond, on a
cycle counter that starts just below its 32-bit wrap), so median, mean, std, min and max are
checked exactly (to the wire's 9 significant digits), for odd and even run counts."""
from __future__ import annotations

import statistics
import subprocess

import pytest

from targets.board.fw_host import ensure_fw_host
from targets.board.line_codec import encode_command, parse_reply_line
from targets.board.protocol_words import BOOT_BANNER, CMD, TIMING_STATS, TIMING_UNITS
from tests_host.fw_host_process import fake_model
from tests_host.test_fw_profiler_clock import upload_lines

WARMUP = 3  # warmup runs are not timed: they must not shift the script

# run durations in microseconds (in the order the runs take them), and their statistics
CASES = {
    "one run": ([150], {"mean": 150, "min": 150, "max": 150, "std": 0, "median": 150}),
    "odd": ([102, 100, 124, 101, 108], {"mean": 107, "min": 100, "max": 124, "std": 10, "median": 102}),
    "even": ([102, 100, 124, 101, 109, 118],
             {"mean": 109, "min": 100, "max": 124, "std": 10, "median": 105.5}),
}


def scripted_session(script: list[int], commands: bytes) -> list[dict]:
    """Every reply of one fw_host run on a scripted clock: boot banner, upload, `commands`."""
    proc = subprocess.run([str(ensure_fw_host()), "--scripted-clock", ",".join(map(str, script))],
                          input=upload_lines(fake_model(n_in=4, n_out=4)) + commands,
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    replies = [r for r in map(parse_reply_line, proc.stdout.splitlines()) if r is not None]
    assert all(r["ok"] for r in replies), [r for r in replies if not r["ok"]]
    return replies


def test_the_expected_statistics_are_the_samples():
    """The table above, checked against Python's statistics (sample std, n - 1)."""
    for samples, expected in CASES.values():
        assert expected == {"mean": statistics.mean(samples), "min": min(samples), "max": max(samples),
                            "std": statistics.stdev(samples) if len(samples) > 1 else 0,
                            "median": statistics.median(samples)}


@pytest.mark.parametrize(("samples", "expected"), CASES.values(), ids=CASES.keys())
def test_time_reports_the_statistics_of_known_runs(samples, expected):
    replies = scripted_session(samples, encode_command(CMD.time, len(samples), WARMUP))
    banner, timing = replies[0], replies[-1]
    assert banner["cmd"] == BOOT_BANNER and timing["cmd"] == CMD.time
    assert (timing["runs"], timing["warmup"]) == (len(samples), WARMUP)
    per_us = {"us": 1, "cycles": banner["clock_mhz"]}
    assert set(per_us) == set(TIMING_UNITS)
    for unit in TIMING_UNITS:
        reported = {stat: timing[f"{stat}_{unit}"] for stat in TIMING_STATS}
        assert reported == {stat: value * per_us[unit] for stat, value in expected.items()}, unit


def test_the_script_times_invoke_and_infer_and_runs_on():
    """Each timed interval takes the next duration, cycling: invoke, then `time`, then infer."""
    replies = scripted_session([7, 3], encode_command(CMD.invoke) + encode_command(CMD.time, 3, 0)
                               + encode_command(CMD.infer, 0, bytes(4)))
    invoke, timing, infer = replies[-3:]
    assert (invoke["us"], infer["us"]) == (7, 7)
    assert (timing["min_us"], timing["median_us"], timing["max_us"]) == (3, 3, 7)
    assert invoke["cycles"] == 7 * replies[0]["clock_mhz"]


@pytest.mark.parametrize("script", ["0", "5,x", "4000001", "5,,6"])
def test_a_bad_script_is_refused_naming_the_option(script):
    proc = subprocess.run([str(ensure_fw_host()), "--scripted-clock", script], input=b"",
                          capture_output=True, timeout=60)
    assert proc.returncode == 2 and b"--scripted-clock needs" in proc.stderr, proc.stderr
