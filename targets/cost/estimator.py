"""Per-target latency estimate and memory fit, from a model analysis and a target profile.

Estimates, labelled so everywhere: cycles = per-op overhead + MACs x cycles-per-MAC
(conv 1x1 / other conv, depthwise, fully connected) or elements x cycles-per-element
(element-wise arithmetic, everything else; nothing for reshapes), with coefficients from
targets/cost/targets.toml for the target and firmware config, divided by the clock.
The kinds follow esp-nn's kernels: a 1x1 conv over a multiple of 8 input channels takes
its vector path on ESP32-S3 / ESP32-P4, other convolutions do not. Measured latencies
come from boards, never from here.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from targets.cost.registry import DEFAULT_CONFIG, TargetProfile
from targets.tflm.analysis import ModelAnalysis, OpInfo

KIND_OF_OP = {
    "CONV_2D": "conv",
    "TRANSPOSE_CONV": "conv",
    "DEPTHWISE_CONV_2D": "depthwise_conv",
    "FULLY_CONNECTED": "fully_connected",
}
#: Binary arithmetic esp-nn has element-wise kernels for (its kernel tables' elementwise_add / _mul).
ELEMENTWISE_OPS = frozenset({"ADD", "SUB", "MUL"})
#: Ops that only relabel a tensor's shape: TFLite Micro runs them in place or as one memcpy, so
#: they cost the per-op overhead and no per-element work.
SHAPE_ONLY_OPS = frozenset({"RESHAPE", "EXPAND_DIMS", "SQUEEZE"})
#: Input channels a 1x1 conv needs for esp-nn's vector path (esp_nn_conv_s8_mult8_1x1 on ESP32-S3).
#: ESP32-P4's esp_nn_conv_s8_1x1 asks for at least 16 instead; one rule for both keeps the kinds
#: target-independent (of the published models, only person detection's 8 -> 16 conv, 4 % of
#: its MACs, falls between the two).
VECTOR_CHANNELS = 8
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
    config: str = DEFAULT_CONFIG
    """The firmware config (sdkconfig.ci.<config>) whose coefficients gave this estimate."""
    calibrated: bool = False
    """True only if every coefficient used came from a bench calibration."""
    notes: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ()
    """The cost dtypes whose rates it used (int8, float32): what its expected error covers."""


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


def cost_kind(info: OpInfo) -> str:
    """The cost model's kind for an op (registry.KINDS): which coefficient charges its work."""
    kind = KIND_OF_OP.get(info.op)
    if kind is not None and info.macs:
        if kind == "conv" and info.kernel == (1, 1) and info.channels[0] % VECTOR_CHANNELS == 0:
            return "conv_1x1"
        return kind
    return "elementwise" if info.op in ELEMENTWISE_OPS else "per_element"


def cost_work(info: OpInfo) -> int:
    """What the op's coefficient multiplies: MACs for MAC kinds, elements otherwise (none for a
    shape-only op)."""
    if info.op in SHAPE_ONLY_OPS:
        return 0
    return info.macs if (KIND_OF_OP.get(info.op) and info.macs) else info.elements


def estimate_latency(analysis: HasOps, target: TargetProfile, config: str = DEFAULT_CONFIG) -> LatencyEstimate:
    """Estimated single-inference latency on `target` built with firmware `config`, per op and in
    total (microseconds)."""
    cost = target.cost_for(config)
    per_op: list[OpEstimate] = []
    used = [cost.per_op_overhead_cycles]
    notes: list[str] = []
    for info in analysis.op_infos:
        dtype = COST_DTYPE.get(info.dtype, "float32")
        note = f"{info.dtype} ops charged at {dtype} rates"
        if info.dtype != dtype and note not in notes:
            notes.append(note)
        if KIND_OF_OP.get(info.op) is None and info.macs:  # work the model lacks a per-MAC rate for: say so
            note = f"{info.op}: no per-MAC rate in the cost model, its {info.macs} MACs charged per element"
            if note not in notes:
                notes.append(note)
        coefficient = cost.coefficient(dtype, cost_kind(info))
        used.append(coefficient)
        cycles = cost.per_op_overhead_cycles.value + cost_work(info) * coefficient.value
        per_op.append(OpEstimate(info.index, info.op, cycles / target.clock_mhz))
    return LatencyEstimate(
        total_us=sum(op.us for op in per_op),
        per_op=per_op,
        target=target.name,
        config=config,
        calibrated=all(c.calibrated for c in used),
        notes=tuple(notes),
        dtypes=tuple(sorted({COST_DTYPE.get(info.dtype, "float32") for info in analysis.op_infos})),
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
