"""The arena a chip's firmware will report, measured on the host.

A chip builds TFLite Micro 32-bit, and esp-tflite-micro's esp_nn kernels ask for scratch
buffers in the arena whose sizes depend on the chip's esp-nn flavour. So the figure
`arena_used_bytes()` gives on a chip is neither the wheel's 64-bit one nor the same on
every target. Here the firmware's own engine (fw_host on main/tflm_engine.cc) is built
32-bit (-m32 -malign-double) with the kernels each (target, config) compiles, the model is
loaded over the serial protocol, and the arena it reports is read back
(firmware/host/tflm.cmake says which sources each build takes):

    config without esp-nn (CONFIG_NN_ANSI_C, e.g. esp_nn_off)  -> esp_nn_ansi
    esp-nn on a chip with its own esp-nn sources (esp32s3...)   -> esp_nn_scratch_<target>
    esp-nn on any other chip (esp32, esp32c3, esp32c6...)       -> esp_nn_generic

Every build's outputs are compared byte for byte with the same engine on TFLM's reference
kernels (32-bit) on the same inputs, and a difference is reported. A build that cannot be
made (a chip whose scratch-size sources hold its assembly) is reported unavailable, with
the compiler's reason. Needs TFLM_SOURCE_DIR and ESP_NN_SOURCE_DIR (or the managed
components `idf.py reconfigure` puts in firmware/managed_components).
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from targets.board.errors import BoardError
from targets.board.fw_host import FwHostBuildError, ensure_fw_tflm
from targets.board.fw_host_run import FwHostOptions, FwHostProcess
from targets.board.recovering_client import Board
from vocabulary.locations import firmware_dir

TFLM_SOURCE_ENV, ESP_NN_SOURCE_ENV = "TFLM_SOURCE_DIR", "ESP_NN_SOURCE_DIR"
MANAGED = {"tflm": "espressif__esp-tflite-micro", "esp_nn": "espressif__esp-nn"}
#: The label of the fallback figure, and the one line that says how to get the chip's.
UNAVAILABLE_LABEL = "host 64-bit (chip figure unavailable)"
HOW_TO = ("chip arena figures: clone espressif/esp-tflite-micro and espressif/esp-nn, set TFLM_SOURCE_DIR and "
          "ESP_NN_SOURCE_DIR to them, rerun pytest -m host (docs/CHIP_ARENA.md)")
DEFAULT_CONFIG = "default"
ARCH = "m32"
REFERENCE = "reference"
#: fw_host's limits for this measurement: room for any model a chip could hold.
MAX_MODEL_BYTES, ARENA_BYTES = 16 << 20, 64 << 20
COMPARED_SAMPLES = 4


@dataclass(frozen=True)
class ChipSources:
    tflm: Path
    esp_nn: Path


@dataclass
class ChipArena:
    """One (target, config): the arena its firmware reports, from which build, and whether
    that build's outputs equal the reference kernels'."""

    target: str
    config: str
    kernels: str  # FW_KERNELS of the build
    arena_bytes: int | None = None
    reference_arena_bytes: int | None = None  # the same engine, 32-bit, TFLM's reference kernels
    outputs_identical: bool | None = None
    max_abs_diff: int | None = None
    error: str | None = None

    @property
    def build(self) -> str:
        return f"fw_host 32-bit (-m32 -malign-double), {describe_kernels(self.kernels)}"

    def as_extra(self) -> dict[str, object]:
        out: dict[str, object] = {"arena_bytes": self.arena_bytes, "build": self.build,
                                  "reference_arena_bytes": self.reference_arena_bytes,
                                  "outputs_identical": self.outputs_identical}
        if self.max_abs_diff:
            out["max_abs_diff"] = self.max_abs_diff
        if self.error:
            out["error"] = self.error
        return out


def describe_kernels(kernels: str) -> str:
    if kernels == REFERENCE:
        return "TFLM reference kernels"
    if kernels == "esp_nn_ansi":
        return "esp-tflite-micro esp_nn kernels on esp-nn ANSI C"
    if kernels == "esp_nn_generic":
        return "esp-tflite-micro esp_nn kernels on esp-nn generic optimisations (C)"
    chip = kernels.removeprefix("esp_nn_scratch_")
    return f"esp-tflite-micro esp_nn kernels, esp-nn {chip} scratch sizes, ANSI C kernels running"


def chip_sources() -> tuple[ChipSources | None, str]:
    """The TFLM and esp-nn sources to build with, or None and why not."""
    managed = firmware_dir() / "managed_components"
    found: dict[str, Path | None] = {}
    for key, env in (("tflm", TFLM_SOURCE_ENV), ("esp_nn", ESP_NN_SOURCE_ENV)):
        value = os.environ.get(env, "").strip()
        path = Path(value).expanduser().resolve() if value else managed / MANAGED[key]
        found[key] = path if path.is_dir() else None
    if found["tflm"] is None:
        return None, f"{TFLM_SOURCE_ENV} not set and no firmware/managed_components/{MANAGED['tflm']}"
    if found["esp_nn"] is None:
        return None, f"{ESP_NN_SOURCE_ENV} not set and no firmware/managed_components/{MANAGED['esp_nn']}"
    return ChipSources(found["tflm"], found["esp_nn"]), ""


def kernel_configs(fw_dir: Path | None = None) -> dict[str, bool]:
    """Firmware config -> whether it builds with esp-nn's optimised kernels: `default`
    (sdkconfig.defaults) and every sdkconfig.ci.<config> that chooses the kernels."""
    fw_dir = fw_dir or firmware_dir()
    configs = {DEFAULT_CONFIG: True}
    for path in sorted(fw_dir.glob("sdkconfig.ci.*")):
        text = path.read_text(encoding="utf-8")
        if re.search(r"^CONFIG_NN_ANSI_C=y", text, re.M):
            configs[path.name.removeprefix("sdkconfig.ci.")] = False
        elif re.search(r"^CONFIG_NN_OPTIMIZED=y", text, re.M):
            configs[path.name.removeprefix("sdkconfig.ci.")] = True
    return configs


def kernels_for(target: str, optimised: bool, esp_nn: Path) -> str:
    """FW_KERNELS for `target` as ESP-IDF builds esp-nn (its include/esp_nn.h): ANSI C when
    not optimised; the chip's own flavour when esp-nn has C sources for it; else generic."""
    if not optimised:
        return "esp_nn_ansi"
    if any(esp_nn.glob(f"src/*/*_{target}.c")):
        return f"esp_nn_scratch_{target}"
    return "esp_nn_generic"


@cache
def _build(sources: ChipSources, kernels: str) -> Path | str:
    """The binary, or why it cannot be built (the compiler's first error), once per process."""
    try:
        return ensure_fw_tflm(sources.tflm, arch=ARCH, kernels=kernels,
                              esp_nn_dir=None if kernels == REFERENCE else sources.esp_nn)
    except FwHostBuildError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if "error:" in line.lower()]
        return f"{describe_kernels(kernels)} does not build on the host: {(lines or [str(exc)])[0][:300]}"


def _inputs(spec_dtype: str, shape: tuple[int, ...], seed: int = 7) -> list[bytes]:
    rng = np.random.default_rng(seed)
    dtype = np.dtype(spec_dtype)
    if dtype.kind == "f":
        data = rng.standard_normal((COMPARED_SAMPLES, *shape[1:])).astype(dtype)
    else:
        info = np.iinfo(dtype)
        data = rng.integers(info.min, info.max + 1, (COMPARED_SAMPLES, *shape[1:])).astype(dtype)
    return [row.tobytes() for row in data]


@dataclass
class _Run:
    arena_bytes: int | None
    outputs: list[bytes]
    dtype: str
    error: str | None = None


def _run(binary: Path, model: bytes, name: str, arena: int = ARENA_BYTES) -> _Run:
    options = FwHostOptions(arena=arena, max_model=max(MAX_MODEL_BYTES, len(model) + 1024))
    try:
        with FwHostProcess(options, binary=binary, timeout_scale=20.0) as fw:
            board = Board(fw.client, name=f"fw_host ({binary.parent.name})")
            board.connect()
            upload = board.load(model, name=name)
            report = board.evaluate(_inputs(upload.input.dtype, tuple(upload.input.shape)))
            return _Run(upload.arena_used_bytes, [bytes(o) for o in report.outputs], upload.output.dtype)
    except (BoardError, OSError) as exc:
        return _Run(None, [], "", f"{binary.parent.name}: {exc}")


@cache
def _measure(sources: ChipSources, kernels: str, model: bytes, name: str) -> _Run:
    binary = _build(sources, kernels)
    if isinstance(binary, str):
        return _Run(None, [], "", binary)
    return _run(binary, model, name)


def _max_abs_diff(a: list[bytes], b: list[bytes], dtype: str) -> int:
    x = np.frombuffer(b"".join(a), dtype=dtype).astype(np.float64)
    y = np.frombuffer(b"".join(b), dtype=dtype).astype(np.float64)
    return int(np.max(np.abs(x - y))) if x.size and x.size == y.size else -1


def measure_chip_arena(model: bytes, name: str, target: str, config: str, optimised: bool,
                       sources: ChipSources) -> ChipArena:
    """The arena `target`'s firmware built with `config` reports for `model`, and its
    outputs against the 32-bit reference-kernel build on the same inputs."""
    kernels = kernels_for(target, optimised, sources.esp_nn)
    result = ChipArena(target, config, kernels)
    run, reference = _measure(sources, kernels, model, name), _measure(sources, REFERENCE, model, name)
    result.arena_bytes, result.reference_arena_bytes = run.arena_bytes, reference.arena_bytes
    result.error = run.error or (f"reference build: {reference.error}" if reference.error else None)
    if run.error is None and reference.error is None:
        result.outputs_identical = run.outputs == reference.outputs
        if not result.outputs_identical:
            result.max_abs_diff = _max_abs_diff(run.outputs, reference.outputs, run.dtype)
    return result


def chip_arenas(model: bytes, name: str, target: str, sources: ChipSources,
                configs: dict[str, bool] | None = None) -> dict[str, ChipArena]:
    """Config -> ChipArena for every kernel-choosing firmware config (kernel_configs())."""
    configs = configs if configs is not None else kernel_configs()
    return {config: measure_chip_arena(model, name, target, config, optimised, sources)
            for config, optimised in configs.items()}


def difference(chip: int | None, host: int | None) -> str:
    """`chip` against the 64-bit host figure, as people read it: +38,112 B (+44.8 %)."""
    if chip is None or not host:
        return "n/a"
    gap = chip - host
    return f"{gap:+,} B ({100 * gap / host:+.1f} %)"


def table(rows: Iterable[tuple[str, int | None, ChipArena]]) -> str:
    """Markdown: model, target, config, build, chip arena, vs 64-bit, outputs."""
    lines = ["| model | target | config | kernels | chip arena B | 32-bit reference B | vs host 64-bit | outputs |",
             "|---|---|---|---|---|---|---|---|"]
    for model, host, chip in rows:
        outputs = {True: "identical", False: f"DIFFER (max |diff| {chip.max_abs_diff})", None: "n/a"}[
            chip.outputs_identical]
        arena = f"{chip.arena_bytes:,}" if chip.arena_bytes is not None else f"unavailable: {chip.error}"
        ref = f"{chip.reference_arena_bytes:,}" if chip.reference_arena_bytes is not None else "n/a"
        lines.append(f"| {model} | {chip.target} | {chip.config} | {chip.kernels} | {arena} | {ref} | "
                     f"{difference(chip.arena_bytes, host)} | {outputs} |")
    return "\n".join(lines)
