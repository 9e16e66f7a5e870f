"""What a board's replies become on the host: typed reports of an upload, a `time` run, a
profile, an evaluation stream, a recovery, and a whole per-model cycle. Each parser reads the
reply fields the protocol vocabulary names (targets.board.protocol_words)."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from targets.board.protocol_words import TIMING_FIELDS
from vocabulary.tensors import TensorSpec


@dataclass(frozen=True)
class UploadReport:
    model_bytes: int
    crc32: int
    arena_used_bytes: int
    free_heap: int
    input: TensorSpec
    output: TensorSpec
    seconds: float

    @classmethod
    def from_reply(cls, reply: dict[str, Any], *, crc32: int, seconds: float) -> UploadReport:
        """An upload_end reply (ok=true)."""
        return cls(model_bytes=int(reply["model_bytes"]), crc32=crc32,
                   arena_used_bytes=int(reply["arena_used_bytes"]),
                   free_heap=int(reply["free_heap"]), input=TensorSpec.from_wire(reply["input"]),
                   output=TensorSpec.from_wire(reply["output"]), seconds=seconds)


@dataclass(frozen=True)
class TimingReport:
    """The `time` command's reply: invoke latency over `runs` timed invokes after `warmup`
    untimed ones, in microseconds and CPU cycles (fields: the vocabulary's TIMING_FIELDS)."""

    runs: int
    warmup: int
    mean_us: float
    min_us: float
    max_us: float
    std_us: float
    median_us: float
    mean_cycles: float
    min_cycles: float
    max_cycles: float
    std_cycles: float
    median_cycles: float

    @classmethod
    def from_reply(cls, reply: dict[str, Any]) -> TimingReport:
        return cls(
            runs=int(reply["runs"]),
            warmup=int(reply["warmup"]),
            mean_us=float(reply["mean_us"]),
            min_us=float(reply["min_us"]),
            max_us=float(reply["max_us"]),
            std_us=float(reply["std_us"]),
            median_us=float(reply["median_us"]),
            mean_cycles=float(reply["mean_cycles"]),
            min_cycles=float(reply["min_cycles"]),
            max_cycles=float(reply["max_cycles"]),
            std_cycles=float(reply["std_cycles"]),
            median_cycles=float(reply["median_cycles"]),
        )


# The dataclass spells out the fields (readable, typed); the vocabulary decides them.
assert tuple(f.name for f in fields(TimingReport)) == TIMING_FIELDS, (
    "TimingReport's fields differ from the `time` reply fields of protocol_vocabulary.def")


@dataclass(frozen=True)
class OpProfile:
    index: int
    op: str
    us: float
    cycles: int

    @classmethod
    def list_from_reply(cls, reply: dict[str, Any] | list[dict[str, Any]]) -> list[OpProfile]:
        """A profile reply's ops."""
        ops = reply["ops"] if isinstance(reply, dict) else reply
        return [cls(int(o["index"]), str(o["op"]), float(o["us"]), int(o["cycles"])) for o in ops]


@dataclass
class EvalReport:
    outputs: list[bytes]  # by sample index
    us: list[float]
    cycles: list[int]
    seconds: float


@dataclass(frozen=True)
class RecoveryEvent:
    kind: str  # "reset" | "transport" | "lost-line" | "hang"
    during: str
    detail: str


@dataclass
class CycleResult:
    """Everything one model costs on a board: upload+verify, timing, profile, evaluation."""

    upload: UploadReport
    timing: TimingReport
    profile: list[OpProfile]
    evaluation: EvalReport
    seconds: float
