"""Per-target latency estimate and memory fit, from a model analysis and a target profile.

Estimates, labelled so everywhere: cycles = per-op overhead + MACs x cycles-per-MAC
(conv, depthwise, fully connected) or elements x cycles-per-element (everything else),
with coefficients from targets/cost/targets.toml, divided by the clock. Measured latencies
come from boards, never from here.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from targets.cost.registry import TargetProfile
from targets.tflm.analysis import ModelAnalysis, OpInfo

KIND_OF_OP = {
    "CONV_2D": "conv",
    "TRANSPOSE_CONV": "conv",
    "DEPTHWISE_CONV_2D": "depthwise_conv",
    "FULLY_CONNECTED": "fully_connected",
}
# Integer activations other than int8 are charged as int8 (the closest fixed-point path);
# anything else (float16, hybrid float ops) as float32.
COST_DTYPE = {"int8": "int8", "uint8": "int8", "int16": "int8", "int32": "int8", "float32": "float32"}


@dataclass(frozen=True)
class OpEstimate:
    index: int
    op: str
    us: float


@dataclass(frozen=True)
class LatencyEstimate:
    total_us: float
    per_op: list[OpEstimate] = field(hash=False)
    label: str = "estimate"
    target: str = ""
    calibrated: bool = False
    """True only if every coefficient used came from a bench calibration."""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class FitResult:
    fits: bool
    ram_needed: int
    ram_available: int
    flash_needed: int
    flash_available: int
    model_in: str = "flash"

    def explain(self) -> str:
        return (
            f"RAM {self.ram_needed} / {self.ram_available} B, flash {self.flash_needed} / "
            f"{self.flash_available} B (model in {self.model_in})"
        )


class HasOps(Protocol):
    """What the estimate reads from a model: a ModelAnalysis, or calibration's measured model."""

    @property
    def op_infos(self) -> Sequence[OpInfo]: ...


def estimate_latency(analysis: HasOps, target: TargetProfile) -> LatencyEstimate:
    """Estimated single-inference latency on `target`, per op and in total (microseconds)."""
    cost = target.cost
    per_op: list[OpEstimate] = []
    used = [cost.per_op_overhead_cycles]
    notes: list[str] = []
    for info in analysis.op_infos:
        dtype = COST_DTYPE.get(info.dtype, "float32")
        note = f"{info.dtype} ops charged at {dtype} rates"
        if info.dtype != dtype and note not in notes:
            notes.append(note)
        kind = KIND_OF_OP.get(info.op)
        if kind is None and info.macs:  # work the model lacks a per-MAC rate for: say so
            note = f"{info.op}: no per-MAC rate in the cost model, its {info.macs} MACs charged per element"
            if note not in notes:
                notes.append(note)
        if kind is not None and info.macs:
            coefficient = cost.coefficient(dtype, kind)
            work = info.macs
        else:
            coefficient = cost.coefficient(dtype, "per_element")
            work = info.elements
        used.append(coefficient)
        cycles = cost.per_op_overhead_cycles.value + work * coefficient.value
        per_op.append(OpEstimate(info.index, info.op, cycles / target.clock_mhz))
    return LatencyEstimate(
        total_us=sum(op.us for op in per_op),
        per_op=per_op,
        target=target.name,
        calibrated=all(c.calibrated for c in used),
        notes=tuple(notes),
    )


def fits(
    analysis: ModelAnalysis | None,
    arena_bytes: int,
    model_bytes: int | None,
    target: TargetProfile,
    *,
    model_in: str = "flash",
) -> FitResult:
    """Whether firmware + model + arena fit the target's RAM and app partition.

    model_in="flash": the deployment layout (model in flash rodata, arena in RAM);
    model_in="ram": the harness firmware's upload layout (model bytes held in RAM too).
    arena_bytes should be the chip's figure when there is one; the host TFLM figure is a
    different (64-bit) measurement.
    """
    if model_in not in ("flash", "ram"):
        raise ValueError(f"model_in must be 'flash' or 'ram', got {model_in!r}")
    if model_bytes is None:
        if analysis is None:
            raise ValueError("fits() needs model_bytes or an analysis that carries them")
        model_bytes = analysis.model_bytes
    ram_needed = target.fw_ram_overhead_bytes + int(arena_bytes) + (model_bytes if model_in == "ram" else 0)
    flash_needed = target.fw_flash_overhead_bytes + (model_bytes if model_in == "flash" else 0)
    return FitResult(
        fits=ram_needed <= target.sram_bytes and flash_needed <= target.flash_bytes,
        ram_needed=ram_needed,
        ram_available=target.sram_bytes,
        flash_needed=flash_needed,
        flash_available=target.flash_bytes,
        model_in=model_in,
    )
