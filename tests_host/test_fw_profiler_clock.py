"""`time`, `infer` and `invoke` time the model, not the op profiler.

TFLM wraps every op of every Invoke in ScopedMicroProfiler once the interpreter has a
profiler, and the firmware hands it one for `profile`. The profiler's recorder (core
op_recorder.*) must read no clock unless a `profile` run armed it. fw_host
--count-engine-clock prints how often the engine read its clock; the fake engine wraps its
ops the way TFLM does, and with $TFLM_SOURCE_DIR the same check runs on main/tflm_engine.cc.
"""
from __future__ import annotations

import re
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from targets.board.fw_host import ensure_fw_host, ensure_fw_tflm
from targets.board.line_codec import encode_command, parse_reply_line
from targets.board.protocol_words import CMD
from targets.tflm.analysis import analyze_model
from targets.virtual.fw_host_pty import NOT_BUILT_REASON, tflm_source_dir
from tests_host import tiny_models
from tests_host.fw_host_process import fake_model

FAKE_OPS = ("CONV_2D", "FULLY_CONNECTED", "SOFTMAX")


def upload_lines(model: bytes, chunk: int = 1024) -> bytes:
    lines = encode_command(CMD.upload_begin, len(model), f"{zlib.crc32(model):08x}")
    for seq, at in enumerate(range(0, len(model), chunk)):
        lines += encode_command(CMD.upload_chunk, seq, model[at:at + chunk])
    return lines + encode_command(CMD.upload_end)


def engine_clock_reads(binary: Path, model: bytes, commands: bytes) -> tuple[int, list[dict]]:
    """(reads of the engine's clock over the whole session, the replies) for one fw_host run:
    upload `model`, then `commands`, then stdin closes."""
    proc = subprocess.run([str(binary), "--count-engine-clock"], input=upload_lines(model) + commands,
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    found = re.search(rb"engine clock reads: (\d+)", proc.stderr)
    assert found, proc.stderr.decode(errors="replace")
    replies = [r for r in map(parse_reply_line, proc.stdout.splitlines()) if r is not None]
    assert all(r["ok"] for r in replies), [r for r in replies if not r["ok"]]
    return int(found.group(1)), replies


def timed_commands(input_bytes: int) -> bytes:
    data = bytes(input_bytes)
    return (encode_command(CMD.time, 50, 5) + encode_command(CMD.set_input, data)
            + encode_command(CMD.invoke) + encode_command(CMD.infer, 0, data))


def test_time_infer_invoke_read_no_engine_clock_and_profile_does():
    binary = ensure_fw_host()
    model = fake_model(ops=FAKE_OPS, n_in=8)
    reads, replies = engine_clock_reads(binary, model, timed_commands(8))
    assert [r["cmd"] for r in replies][-4:] == ["time", "set_input", "invoke", "infer"]
    assert reads == 0
    # the check can fail: a profile run reads both clocks at the start and end of each op
    reads, replies = engine_clock_reads(binary, model, encode_command(CMD.profile))
    assert [op["op"] for op in replies[-1]["ops"]] == list(FAKE_OPS)
    assert reads == 4 * len(FAKE_OPS)


def test_the_tflm_engine_reads_no_clock_outside_profile():
    source = tflm_source_dir()
    if source is None:
        pytest.skip(NOT_BUILT_REASON)
    binary = ensure_fw_tflm(source)
    model = tiny_models.gesture_cnn("int8")
    info = analyze_model(model, name="gesture")
    nbytes = int(np.prod(info.input.shape))  # int8
    reads, _ = engine_clock_reads(binary, model, timed_commands(nbytes))
    assert reads == 0
    reads, replies = engine_clock_reads(binary, model, encode_command(CMD.profile))
    assert len(replies[-1]["ops"]) == len(info.op_infos) and reads == 4 * len(info.op_infos)
