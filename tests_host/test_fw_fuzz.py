"""A short, bounded libFuzzer run over the firmware core's line reader, parser and
dispatcher (firmware/host/fuzz_target.cc), with ASan+UBSan and the protocol's invariants
(one reply per host line, every reply one prefixed printable line). Skipped, with the
reason, where clang's libFuzzer is not installed. The long run is in firmware/README.md."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from targets.board.fw_host import FIRMWARE_DIR, ensure_fw_fuzz
from tests_host.fw_host_process import libfuzzer_missing

SEEDS = FIRMWARE_DIR / "host" / "fuzz_seeds"
DICT = FIRMWARE_DIR / "host" / "fuzz.dict"


def test_seed_corpus_replays_cleanly():
    reason = libfuzzer_missing()
    if reason:
        pytest.skip(f"libFuzzer unavailable: {reason}")
    fuzzer = ensure_fw_fuzz()
    seeds = sorted(SEEDS.iterdir())
    assert len(seeds) >= 4
    # Given files (not directories), libFuzzer runs each input once and exits.
    proc = subprocess.run([str(fuzzer), *map(str, seeds)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("Executed") == len(seeds)


def test_short_fuzz_run_finds_nothing(tmp_path):
    reason = libfuzzer_missing()
    if reason:
        pytest.skip(f"libFuzzer unavailable: {reason}")
    fuzzer = ensure_fw_fuzz()
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    proc = subprocess.run(
        [str(fuzzer), "-max_total_time=8", "-seed=1", "-max_len=8192", f"-dict={DICT}",
         f"-artifact_prefix={tmp_path}/", str(corpus)],
        capture_output=True, text=True, timeout=120)
    crashes = list(tmp_path.glob("crash-*")) + list(tmp_path.glob("leak-*")) + list(tmp_path.glob("timeout-*"))
    assert proc.returncode == 0 and not crashes, proc.stderr[-3000:]
    runs = int(proc.stderr.rsplit("Done ", 1)[1].split()[0])
    assert runs > 100, proc.stderr[-1000:]
