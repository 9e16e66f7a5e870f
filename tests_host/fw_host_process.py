"""fw_host under a test: the fake engine's model format (the Python twin of
firmware/host/fake_engine.h) and whether this machine can build the sanitizer and fuzz
variants. Only the tests use these, so they live beside them; running a build
(FwHostOptions, FwHostProcess) is targets/board/fw_host_run.py, re-exported here.
"""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from targets.board.fw_host_run import FwHostOptions, FwHostProcess

__all__ = ["FwHostOptions", "FwHostProcess", "fake_model", "fake_output", "libfuzzer_missing",
           "sanitizer_runtime_missing"]


@cache
def sanitizer_runtime_missing() -> str | None:
    """None if the C++ compiler can link an ASan+UBSan program, else the reason."""
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if cxx is None:
        return "no C++ compiler found"
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "probe.cc"
        src.write_text("int main() { return 0; }\n")
        proc = subprocess.run([cxx, "-fsanitize=address,undefined", str(src), "-o",
                               str(Path(tmp) / "probe")], capture_output=True, text=True)
        if proc.returncode != 0:
            return f"{cxx} cannot link -fsanitize=address,undefined: {proc.stderr.strip()[-300:]}"
        run = subprocess.run([str(Path(tmp) / "probe")], capture_output=True, text=True)
        if run.returncode != 0:
            return f"an ASan binary does not run here: {run.stderr.strip()[-300:]}"
    return None


@cache
def libfuzzer_missing() -> str | None:
    """None if clang++ can build a libFuzzer target, else the reason."""
    clang = shutil.which("clang++")
    if clang is None:
        return "clang++ not installed (Debian: apt-get install -y clang libclang-rt-14-dev)"
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "f.cc"
        src.write_text('#include <cstdint>\n#include <cstddef>\nextern "C" int '
                       "LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n")
        proc = subprocess.run([clang, "-fsanitize=fuzzer", str(src), "-o", str(Path(tmp) / "f")],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            return f"clang++ cannot link -fsanitize=fuzzer: {proc.stderr.strip()[-300:]}"
    return None


# ------------------------------------------------------------------ the fake model format
FAKE_MAGIC = b"TMHF"
FAKE_INT8, FAKE_FLOAT32 = 0, 1
FAKE_FLAG_INVOKE_FAILS = 1


def fake_model(*, dtype: int = FAKE_INT8, n_in: int = 8, n_out: int = 4, arena: int = 1024,
               ops: Sequence[str] = ("CONV_2D", "FULLY_CONNECTED", "SOFTMAX"), flags: int = 0,
               pad_to: int = 0) -> bytes:
    """A model the fake engine accepts (layout in firmware/host/fake_engine.h), padded
    with zero bytes to `pad_to` bytes if given."""
    body = FAKE_MAGIC + struct.pack("<BBBBHHI", 1, dtype, flags, 0, n_in, n_out, arena)
    body += ",".join(ops).encode("ascii") + b"\0"
    return body + b"\0" * max(0, pad_to - len(body))


def fake_output(model: bytes, data: bytes) -> bytes:
    """What the fake engine outputs for `data` (its twin, for exact comparisons)."""
    _, dtype, _, _, n_in, n_out, _ = struct.unpack_from("<BBBBHHI", model, 4)
    if dtype == FAKE_FLOAT32:
        import numpy as np

        x = np.frombuffer(data, dtype="<f4")
        j = np.arange(n_out, dtype=np.float32)
        return (np.float32(2.0) * x[np.arange(n_out) % n_in] + j).astype("<f4").tobytes()
    values = struct.unpack(f"{n_in}b", data)
    return bytes((3 * values[j % n_in] + j) & 0xFF for j in range(n_out))
