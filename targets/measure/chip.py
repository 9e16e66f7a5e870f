"""The chip arena a host record carries per target: what the target's firmware will report
(targets.board.chip_arena, one figure per kernel-choosing config), or, where that cannot
be measured, the 64-bit host figure labelled so. The `default` config's figure is the
record's `chip_arena_bytes`, which the fit check and max_arena_bytes judge per target.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from targets.board.chip_arena import (
    DEFAULT_CONFIG,
    HOW_TO,
    UNAVAILABLE_LABEL,
    chip_arenas,
    chip_sources,
    difference,
)
from targets.cost.registry import TargetProfile


@dataclass
class ChipArenaFigure:
    arena_bytes: int | None
    source: str | None
    extra: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # output differences: reported, never hidden


def _fallback(host_arena: int, reason: str, how_to: bool = True) -> ChipArenaFigure:
    """The 64-bit figure, labelled; `how_to` when sources would give the chip's figure."""
    extra: dict[str, Any] = {"available": False, "reason": reason}
    if how_to:
        extra["how_to"] = HOW_TO
    return ChipArenaFigure(host_arena, UNAVAILABLE_LABEL, extra)


def chip_arena_figure(model: bytes, name: str, host_arena: int | None, target: TargetProfile) -> ChipArenaFigure:
    """The chip figure for `model` on `target`, with every config's in `extra["configs"]`."""
    if host_arena is None:
        return ChipArenaFigure(None, None)
    if not target.idf_target:
        return _fallback(host_arena, f"{target.name} has no ESP-IDF firmware build", how_to=False)
    sources, why = chip_sources()
    if sources is None:
        return _fallback(host_arena, why)
    arenas = chip_arenas(model, name, target.name, sources)
    configs = {config: {**chip.as_extra(), "vs_host_64bit": difference(chip.arena_bytes, host_arena)}
               for config, chip in arenas.items()}
    notes = [f"{target.name} {config}: the {chip.kernels} build's outputs differ from the reference kernels "
             f"(max |diff| {chip.max_abs_diff})" for config, chip in arenas.items() if chip.outputs_identical is False]
    default = arenas[DEFAULT_CONFIG]
    if default.arena_bytes is None:
        figure = _fallback(host_arena, f"{target.name} {DEFAULT_CONFIG}: {default.error}")
        figure.extra["configs"], figure.notes = configs, notes
        return figure
    source = f"chip figure ({target.name} {DEFAULT_CONFIG} config): {default.build}"
    return ChipArenaFigure(default.arena_bytes, source, {"available": True, "configs": configs}, notes)
