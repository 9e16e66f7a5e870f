"""Phase timing log: where a cold run spends its time, across every process it starts.

Off unless TINYML_TIMING_LOG names a file. Then each `phase(...)` block appends one JSON
line (phase, variant, pid, start, end; wall-clock seconds since the epoch) to that file,
from whichever process runs it: pytest, the build workers, the TFLM evaluations. Lines are
short and written with O_APPEND in one write, so processes never interleave within a line.
`python -m benchmarks.cold_build` reads the log back into a per-phase split; nothing else does, so
a run without the variable pays one dictionary lookup per phase.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

ENV = "TINYML_TIMING_LOG"
_variant: str | None = None  # the variant this process is building now (a build worker builds one at a time)


def set_variant(name: str | None) -> None:
    """Label later phases of this process with `name` (phases deep in a recipe don't know it)."""
    global _variant
    _variant = name


def record(phase: str, start: float, end: float, variant: str | None = None) -> None:
    """Append one finished phase (times from time.time()) to the log, if logging is on."""
    path = os.environ.get(ENV)
    if not path:
        return
    line = json.dumps({"phase": phase, "variant": variant or _variant, "pid": os.getpid(), "start": round(start, 4),
                       "end": round(end, 4)}) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


@contextmanager
def phase(name: str, variant: str | None = None) -> Iterator[None]:
    """Time the block as `name` (for `variant`, when it belongs to one)."""
    if not os.environ.get(ENV):
        yield
        return
    start = time.time()
    try:
        yield
    finally:
        record(name, start, time.time(), variant)
