"""Child-process side of the host TFLite Micro runner.

The native interpreter can abort or segfault on a corrupt model; running it here, in a
process of its own, lets the parent (targets.tflm.runner) turn that into an error for one
model while pytest carries on. Started as ``python -m targets.tflm.worker``.

Wire format, both directions: 8-byte little-endian length, then a pickle.
Requests: ("init", model_bytes, arena_size) | ("invoke", ndarray) | ("close",).
Replies: ("ok", payload) | ("error", message).
The child's fd 2 is a log file the parent owns (opened read-write); TFLM writes its
messages there (MicroPrintf -> stderr), and the child reads back what one call wrote,
which is how the recording allocator's "Arena allocation total N bytes" is captured.
"""
from __future__ import annotations

import os
import pickle
import re
import struct
import sys
from typing import Any, BinaryIO

import numpy as np

HEADER = struct.Struct("<Q")
ARENA_TOTAL_RE = re.compile(r"Arena allocation total (\d+) bytes")
ARENA_SOURCE = "host-tflm-python (x86_64, recording interpreter, reference kernels)"


def read_frame(stream: BinaryIO) -> Any:
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        raise EOFError("parent closed the pipe")
    (length,) = HEADER.unpack(header)
    body = stream.read(length)
    if len(body) < length:
        raise EOFError("parent closed the pipe mid-frame")
    return pickle.loads(body)


def write_frame(stream: BinaryIO, message: Any) -> None:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(HEADER.pack(len(body)) + body)
    stream.flush()


class StderrCapture:
    """Text written to fd 2 during a `with` block (fd 2 must be a readable regular file)."""

    def __enter__(self) -> StderrCapture:
        sys.stderr.flush()
        self.start = os.fstat(2).st_size
        self.text = ""
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stderr.flush()
        end = os.fstat(2).st_size
        try:
            self.text = os.pread(2, end - self.start, self.start).decode("utf-8", "replace")
        except OSError:  # fd 2 not readable (worker started by hand on a terminal)
            self.text = ""


def tensor_details(details: dict) -> dict:
    """Plain-python tensor description the parent turns into a vocabulary.tensors.TensorSpec."""
    dtype = np.dtype(details["dtype"])
    shape = tuple(int(d) for d in details["shape"])
    quant = details.get("quantization_parameters") or {}
    scales = np.asarray(quant.get("scales", []))
    zero_points = np.asarray(quant.get("zero_points", []))
    return {
        "dtype": dtype.name,
        "shape": shape,
        "scale": float(scales[0]) if scales.size else 0.0,
        "zero_point": int(zero_points[0]) if zero_points.size else 0,
        "nbytes": int(np.prod(shape, dtype=np.int64)) * dtype.itemsize,
        "name": str(details.get("name", "")),
    }


class Session:
    """One interpreter, created by "init", used by every later "invoke"."""

    def __init__(self) -> None:
        self.interpreter = None
        self.input: dict = {}
        self.output: dict = {}

    def init(self, model_bytes: bytes, arena_size: int) -> dict:
        from tflite_micro.python.tflite_micro import runtime

        with StderrCapture() as log:
            try:
                self.interpreter = runtime.Interpreter.from_bytes(model_bytes, arena_size=arena_size)
            except Exception as exc:  # TFLM raises RuntimeError; the schema parser struct.error
                cls = type(exc)
                kind = cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__name__}"
                raise WorkerError(f"{kind}: {exc}") from exc
        if self.interpreter is None:
            raise WorkerError(f"interpreter not created; TFLM said: {log.text.strip()}")
        self.input = tensor_details(self.interpreter.get_input_details(0))
        self.output = tensor_details(self.interpreter.get_output_details(0))
        # The recording allocator has recorded every allocation once AllocateTensors ran
        # (in the constructor); invoke allocates nothing more, so one read is the figure.
        with StderrCapture() as log:
            self.interpreter.print_allocations()
        match = ARENA_TOTAL_RE.search(log.text)
        if match is None:
            raise WorkerError(f"print_allocations() wrote no arena total; it wrote: {log.text.strip()!r}")
        return {
            "arena_bytes": int(match.group(1)),
            "arena_source": ARENA_SOURCE,
            "input": self.input,
            "output": self.output,
        }

    def invoke(self, inputs: np.ndarray) -> np.ndarray:
        if self.interpreter is None:
            raise WorkerError("invoke before init")
        shape = self.input["shape"]
        outputs = []
        for i in range(inputs.shape[0]):
            self.interpreter.set_input(inputs[i : i + 1].reshape(shape), 0)
            self.interpreter.invoke()
            outputs.append(np.array(self.interpreter.get_output(0), copy=True))
        if not outputs:
            return np.zeros((0, *self.output["shape"][1:]), dtype=self.output["dtype"])
        return np.concatenate(outputs, axis=0)


class WorkerError(Exception):
    """An error the worker reports back (the process itself is fine)."""


def serve(requests: BinaryIO, replies: BinaryIO) -> None:
    session = Session()
    while True:
        try:
            request = read_frame(requests)
        except EOFError:
            return
        kind = request[0]
        if kind == "close":
            write_frame(replies, ("ok", None))
            return
        payload: object  # init: a dict of model facts; invoke: the output array
        error: Exception | None
        try:
            with StderrCapture() as log:
                try:
                    if kind == "init":
                        payload = session.init(request[1], request[2])
                    elif kind == "invoke":
                        payload = session.invoke(request[1])
                    else:
                        raise WorkerError(f"unknown request {kind!r}")
                except (WorkerError, RuntimeError, ValueError, TypeError) as exc:
                    error = exc
                else:
                    error = None
            if error is None:
                write_frame(replies, ("ok", payload))
            else:
                said = log.text.strip()
                message = str(error) + (f"; TFLM said: {said}" if said else "")
                write_frame(replies, ("error", message))
        except BrokenPipeError:
            return


def main() -> None:
    # Protocol replies go to a private copy of stdout; anything else printing to stdout
    # (Python or C) lands in the log instead of corrupting a frame.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    main()
