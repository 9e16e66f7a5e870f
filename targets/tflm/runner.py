"""Run a .tflite on the host with the TFLite Micro Python interpreter, isolated.

The native interpreter runs in a child process (targets.tflm.worker), so a segfault or
abort on a corrupt model or a too-small arena becomes a `TflmError` naming that model,
and the caller (pytest) survives. Everything here handles plain numpy arrays.

arena_bytes is what TFLM's recording allocator reports ("Arena allocation total N
bytes", printed by print_allocations()), read once after AllocateTensors; never a
search. It is a 64-bit host figure: keep its `arena_source` label with it.
"""
from __future__ import annotations

import os
import pickle
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from targets.tflm.worker import HEADER
from vocabulary.tensors import TensorSpec

DEFAULT_ARENA_SIZE = 1 << 20
"""1 MiB: ample for the small models this harness targets; pass arena_size to test limits."""
MAX_ARENA_SIZE = 256 << 20
"""Where growing stops: a model that needs more than 256 MiB is no microcontroller model."""
ARENA_GROWTH = 4
#: What TFLM (the wheel) says, lower-cased, when AllocateTensors does not fit the arena it was given.
ARENA_TOO_SMALL = "failed to allocate"

REPO_ROOT = Path(__file__).resolve().parents[2]
LOG_TAIL_CHARS = 1500


class TflmError(Exception):
    """TFLM could not run a model: crash (with its signal), timeout, or TFLM's own error text."""


@dataclass
class TflmRun:
    outputs: np.ndarray
    arena_bytes: int
    arena_source: str
    input: TensorSpec
    output: TensorSpec


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


class TflmWorker:
    """A persistent child process holding one TFLM interpreter for one model.

    Construction loads and allocates the model (raising TflmError if TFLM refuses or
    crashes); `invoke` runs a batch, one sample at a time, as the firmware would.

    Without an explicit `arena_size`, a model too big for DEFAULT_ARENA_SIZE is measured
    with a larger arena (x ARENA_GROWTH, in a fresh process each time, up to MAX_ARENA_SIZE):
    the arena it reports does not depend on the room it was given. An explicit size is a
    limit under test and is never grown. `arena_size` is the arena the worker runs with.
    """

    def __init__(
        self,
        model_bytes: bytes,
        *,
        name: str,
        arena_size: int | None = None,
        timeout: float = 60,
    ) -> None:
        self.name = name
        self.timeout = timeout
        self.arena_size = int(arena_size or DEFAULT_ARENA_SIZE)
        while True:
            try:
                info = self._start(bytes(model_bytes))
                break
            except TflmError as exc:
                grown = self.arena_size * ARENA_GROWTH
                if arena_size is not None or ARENA_TOO_SMALL not in str(exc).lower() or grown > MAX_ARENA_SIZE:
                    raise
                self.arena_size = grown
        self.arena_bytes: int = info["arena_bytes"]
        self.arena_source: str = info["arena_source"]
        self.input = TensorSpec(**info["input"])
        self.output = TensorSpec(**info["output"])

    def _start(self, model_bytes: bytes) -> dict:
        """A fresh worker process that loads the model into an arena of self.arena_size."""
        self._log = tempfile.TemporaryFile(prefix="tflm_worker_", suffix=".log")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-m", "targets.tflm.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
        )
        try:
            return self._request(("init", model_bytes, self.arena_size), "loading the model")
        except BaseException:
            self.close()
            raise

    def invoke(self, inputs: np.ndarray, *, timeout: float | None = None) -> np.ndarray:
        """Outputs (N, *output_shape[1:]) in the output dtype for inputs (N, *input_shape[1:])."""
        inputs = np.asarray(inputs)
        expected = self.input.shape[1:]
        if inputs.dtype.name != self.input.dtype or tuple(inputs.shape[1:]) != expected:
            raise ValueError(
                f"{self.name}: inputs are {inputs.dtype.name} {tuple(inputs.shape)}, the model "
                f"expects {self.input.dtype} (N, {', '.join(map(str, expected))})"
            )
        return self._request(("invoke", np.ascontiguousarray(inputs)), "invoking", timeout)

    def close(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is None:
            return
        if proc.poll() is None:
            try:
                self._send(("close",))
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
        self._log.close()
        self._proc = None

    def __enter__(self) -> TflmWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # -- transport -------------------------------------------------------------------

    def _live(self) -> subprocess.Popen[bytes]:
        """The worker process; TflmError once close() has run."""
        if self._proc is None:
            raise TflmError(f"{self.name}: TFLM worker is closed")
        return self._proc

    def _send(self, message: Any) -> None:
        body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        stdin = self._live().stdin
        assert stdin is not None, "the worker is started with stdin=PIPE"
        stdin.write(HEADER.pack(len(body)) + body)
        stdin.flush()

    def _read_exact(self, count: int, deadline: float, doing: str) -> bytes:
        proc = self._live()
        assert proc.stdout is not None, "the worker is started with stdout=PIPE"
        fd = proc.stdout.fileno()
        chunks = []
        while count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                proc.kill()
                proc.wait()
                raise TflmError(f"{self.name}: TFLM timed out after {self.timeout:g} s while {doing} "
                                f"(arena {self.arena_size:,} B){self._log_tail()}")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, min(count, 1 << 20))
            if not chunk:
                raise self._died(doing)
            chunks.append(chunk)
            count -= len(chunk)
        return b"".join(chunks)

    def _request(self, message: Any, doing: str, timeout: float | None = None) -> Any:
        if self._live().poll() is not None:
            raise self._died(doing)
        try:
            self._send(message)
        except (BrokenPipeError, ConnectionResetError):
            raise self._died(doing) from None
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        (length,) = HEADER.unpack(self._read_exact(HEADER.size, deadline, doing))
        status, payload = pickle.loads(self._read_exact(length, deadline, doing))
        if status != "ok":
            raise TflmError(f"{self.name}: TFLM failed while {doing} (arena {self.arena_size:,} B): {payload}")
        return payload

    def _died(self, doing: str) -> TflmError:
        proc = self._live()
        try:
            returncode = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            returncode = proc.wait()
        if returncode < 0:
            how = f"crashed with {_signal_name(returncode)}"
        else:
            how = f"exited with status {returncode}"
        return TflmError(f"{self.name}: TFLM worker {how} while {doing} "
                         f"(arena {self.arena_size:,} B){self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            size = os.fstat(self._log.fileno()).st_size
            start = max(0, size - LOG_TAIL_CHARS)
            text = os.pread(self._log.fileno(), size - start, start).decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""
        return f"; worker log tail: {text}" if text else ""


def run_tflm(
    model_bytes: bytes,
    inputs: np.ndarray,
    *,
    name: str,
    arena_size: int | None = None,
    timeout: float = 60,
) -> TflmRun:
    """One-shot: load `model_bytes` in a fresh worker, run the batch, report the arena."""
    with TflmWorker(model_bytes, name=name, arena_size=arena_size, timeout=timeout) as worker:
        outputs = worker.invoke(inputs)
        return TflmRun(
            outputs=outputs,
            arena_bytes=worker.arena_bytes,
            arena_source=worker.arena_source,
            input=worker.input,
            output=worker.output,
        )


def quantize_input(x: np.ndarray, details: TensorSpec) -> np.ndarray:
    """Float features -> the input tensor's dtype, as the firmware and TFLite's QUANTIZE do.

    q = round(x / scale) + zero_point, clipped to the dtype's range, computed in float32
    with round-half-away-from-zero (C's roundf / TfLiteRound), not numpy's half-to-even.
    A float input tensor gets the features unchanged (as float32).
    """
    dtype = np.dtype(details.dtype)
    x = np.asarray(x, dtype=np.float32)
    if dtype.kind == "f":
        return x.astype(dtype)
    if details.scale <= 0:
        raise ValueError(f"input tensor is {details.dtype} without a positive scale ({details.scale})")
    scaled = x / np.float32(details.scale)
    whole = np.trunc(scaled)
    # scaled - trunc(scaled) is exact in float32, so ties are detected exactly (a
    # floor(x + 0.5) would misround 0.49999997 through the addition).
    rounded = whole + np.where(np.abs(scaled - whole) >= 0.5, np.sign(scaled), np.float32(0))
    info = np.iinfo(dtype)
    return np.clip(rounded + details.zero_point, info.min, info.max).astype(dtype)


def dequantize_output(raw: np.ndarray, details: TensorSpec) -> np.ndarray:
    """Raw output tensor values -> float32: (q - zero_point) * scale; float outputs unchanged."""
    raw = np.asarray(raw)
    if np.dtype(details.dtype).kind == "f" or details.scale == 0:
        return raw.astype(np.float32)
    return ((raw.astype(np.int32) - details.zero_point) * np.float32(details.scale)).astype(np.float32)
