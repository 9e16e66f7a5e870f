"""Running fw_host (targets/board/fw_host.py builds it) under a test: its command line, a
ProtocolClient on its pipes, the fake engine's model format (the Python twin of
firmware/host/fake_engine.h), and whether this machine can build the sanitizer and fuzz
variants. Only the tests use these, so they live beside them.
"""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from targets.board.fw_host import ensure_fw_host
from targets.board.links import SubprocessLink
from targets.board.protocol import ProtocolClient


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


# ------------------------------------------------------------------ running it
@dataclass
class FwHostOptions:
    """fw_host's command line (see firmware/host/main.cc)."""

    arena: int | None = None
    max_model: int | None = None
    line_max: int | None = None
    chunk_max: int | None = None
    target: str | None = None
    seed: int | None = None
    embed: Path | None = None
    reset_after_lines: int | None = None
    panic_after_lines: int | None = None
    noise: bool = False
    alloc_limit: int | None = None  # the heap serves at most this many bytes at once

    def argv(self) -> list[str]:
        out: list[str] = []
        for name in ("arena", "max_model", "line_max", "chunk_max", "target", "seed", "embed",
                     "reset_after_lines", "panic_after_lines", "alloc_limit"):
            value = getattr(self, name)
            if value is not None:
                out += ["--" + name.replace("_", "-"), str(value)]
        if self.noise:
            out.append("--noise")
        return out


class FwHostProcess:
    """A running fw_host with a ProtocolClient on its pipes; waits for the boot banner.

        with FwHostProcess(FwHostOptions(arena=4096)) as fw:
            fw.client.upload(fake_model(...))
    """

    def __init__(self, options: FwHostOptions | None = None, *, sanitize: bool = False,
                 timeout_scale: float = 1.0, log: list[str] | None = None,
                 banner_timeout: float = 10.0, binary: Path | None = None) -> None:
        """`binary`: another build of fw_host (e.g. ensure_fw_tflm's); default the fake engine's."""
        self.options = options or FwHostOptions()
        self.binary = binary or ensure_fw_host(sanitize=sanitize)
        self.log: list[str] = log if log is not None else []
        self.link = SubprocessLink([str(self.binary), *self.options.argv()],
                                   stderr=subprocess.PIPE if sanitize else subprocess.DEVNULL)
        self.client = ProtocolClient(self.link, log=self.log, timeout_scale=timeout_scale)
        try:
            self.banner = self.client.wait_banner(banner_timeout)
        except BaseException:
            self.close()
            raise

    def close(self) -> int | None:
        """Ends the process (stdin EOF); its exit code (sanitizer reports make it non-zero)."""
        return self.link.close()

    def stderr_text(self) -> str:
        """The process's stderr after close() (sanitizer builds only)."""
        err = self.link.proc.stderr
        return err.read().decode("utf-8", "replace") if err and not err.closed else ""

    def __enter__(self) -> FwHostProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
