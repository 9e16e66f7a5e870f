"""Target registry: the chips we estimate for and test on, read from targets/cost/targets.toml.

A target (ESP-IDF's word: a chip family) has a clock, memory figures and a cost model
per firmware config (`default`, and e.g. `esp_nn_off` built from sdkconfig.ci.esp_nn_off)
whose every coefficient carries where it came from and whether a bench run calibrated
it. Selection follows pytest-embedded's `--target`: auto / all -> every target.
"""
from __future__ import annotations

import math
import os
import re
import tempfile
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_TARGETS_FILE = Path(__file__).resolve().parent / "targets.toml"
DTYPES = ("int8", "float32")
KINDS = ("conv", "conv_1x1", "depthwise_conv", "fully_connected", "elementwise", "per_element")
#: Kinds a table may leave out: they are charged at this other kind's rate (files older than them).
FALLBACK_KIND = {"conv_1x1": "conv", "elementwise": "per_element"}
#: The firmware config whose coefficients are [<target>.cost]; others are [<target>.config_cost.<config>].
DEFAULT_CONFIG = "default"
_TARGET_KEYS: dict[str, type | tuple[type, ...]] = {
    "idf_target": bool, "clock_mhz": (int, float), "sram_bytes": int, "flash_bytes": int,
    "fw_ram_overhead_bytes": int, "fw_flash_overhead_bytes": int, "memory_source": str,
}
_COEFFICIENT_KEYS = {"value", "source", "calibrated"}
#: How an uncalibrated coefficient's source begins; a calibrated one's never does.
ESTIMATE_SOURCES = ("estimate", "fitted to")


class TargetRegistryError(ValueError):
    """targets.toml is malformed (message names the file and the key)."""


class UnknownTargetError(ValueError):
    """A --target value names no registered target (the pytest plugin reports it as a usage error)."""


@dataclass(frozen=True)
class Coefficient:
    value: float
    source: str
    calibrated: bool = False


@dataclass(frozen=True)
class CostModel:
    per_op_overhead_cycles: Coefficient
    # (dtype, kind) -> coefficient; kind in KINDS: cycles per MAC, or per element for per_element
    coefficients: Mapping[tuple[str, str], Coefficient] = field(hash=False)

    def coefficient(self, dtype: str, kind: str) -> Coefficient:
        if (dtype, kind) not in self.coefficients and kind in FALLBACK_KIND:
            kind = FALLBACK_KIND[kind]
        return self.coefficients[(dtype, kind)]


@dataclass(frozen=True)
class TargetProfile:
    name: str
    idf_target: bool
    clock_mhz: float
    sram_bytes: int
    flash_bytes: int
    fw_ram_overhead_bytes: int
    fw_flash_overhead_bytes: int
    cost: CostModel
    memory_source: str = ""
    config_costs: Mapping[str, CostModel] = field(default_factory=dict, hash=False)
    """Cost models of firmware configs other than `default` (sdkconfig.ci.<config>), e.g. esp_nn_off."""

    @property
    def configs(self) -> tuple[str, ...]:
        """The firmware configs this target has a cost model for, `default` first."""
        return (DEFAULT_CONFIG, *self.config_costs)

    def cost_for(self, config: str = DEFAULT_CONFIG) -> CostModel:
        if config == DEFAULT_CONFIG:
            return self.cost
        if config not in self.config_costs:
            raise KeyError(f"target {self.name} has no cost model for firmware config {config!r} "
                           f"(known: {', '.join(self.configs)})")
        return self.config_costs[config]


def _coefficient(path: Path, key: str, raw: object) -> Coefficient:
    if not isinstance(raw, dict):
        raise TargetRegistryError(f"{path}: {key} must be an inline table "
                                  "{ value = ..., source = \"...\", calibrated = false }")
    unknown = set(raw) - _COEFFICIENT_KEYS
    if unknown:
        raise TargetRegistryError(f"{path}: {key} has unknown key(s) {sorted(unknown)}; "
                                  f"allowed: {sorted(_COEFFICIENT_KEYS)}")
    for needed in ("value", "source"):
        if needed not in raw:
            raise TargetRegistryError(f"{path}: {key} is missing '{needed}'")
    value = raw["value"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise TargetRegistryError(f"{path}: {key}.value must be a non-negative number, got {value!r}")
    if not isinstance(raw["source"], str) or not raw["source"].strip():
        raise TargetRegistryError(f"{path}: {key}.source must say where the figure comes from")
    calibrated = raw.get("calibrated", False)
    if not isinstance(calibrated, bool):
        raise TargetRegistryError(f"{path}: {key}.calibrated must be true or false")
    if calibrated and raw["source"].strip().lower().startswith(ESTIMATE_SOURCES):
        raise TargetRegistryError(f"{path}: {key} is marked calibrated but its source reads as an estimate "
                                  f"({raw['source'][:40]!r}...): name the bench run that measured it")
    return Coefficient(float(value), raw["source"], calibrated)


def _target(path: Path, name: str, raw: object) -> TargetProfile:
    if not isinstance(raw, dict):
        raise TargetRegistryError(f"{path}: [{name}] must be a table")
    unknown = set(raw) - set(_TARGET_KEYS) - {"cost", "config_cost"}
    if unknown:
        raise TargetRegistryError(f"{path}: [{name}] has unknown key(s) {sorted(unknown)}")
    values = {}
    for key, expected in _TARGET_KEYS.items():
        if key not in raw:
            if key == "memory_source":
                continue
            raise TargetRegistryError(f"{path}: [{name}] is missing '{key}'")
        if not isinstance(raw[key], expected) or (expected is int and isinstance(raw[key], bool)):
            raise TargetRegistryError(f"{path}: {name}.{key} has the wrong type ({raw[key]!r})")
        values[key] = raw[key]
    cost = raw.get("cost")
    if not isinstance(cost, dict):
        raise TargetRegistryError(f"{path}: [{name}.cost] is missing")
    default = _cost_model(path, f"{name}.cost", cost, None)
    config_tables = raw.get("config_cost", {})
    if not isinstance(config_tables, dict):
        raise TargetRegistryError(f"{path}: [{name}.config_cost] must be a table of firmware configs")
    configs = {}
    for config, table in config_tables.items():
        if config == DEFAULT_CONFIG or not isinstance(table, dict):
            raise TargetRegistryError(f"{path}: [{name}.config_cost.{config}] must be a table, and "
                                      f"'{DEFAULT_CONFIG}' is [{name}.cost] itself")
        configs[config] = _cost_model(path, f"{name}.config_cost.{config}", table, default)
    return TargetProfile(
        name=name,
        idf_target=values["idf_target"],
        clock_mhz=float(values["clock_mhz"]),
        sram_bytes=values["sram_bytes"],
        flash_bytes=values["flash_bytes"],
        fw_ram_overhead_bytes=values["fw_ram_overhead_bytes"],
        fw_flash_overhead_bytes=values["fw_flash_overhead_bytes"],
        cost=default,
        memory_source=values.get("memory_source", ""),
        config_costs=configs,
    )


def _cost_model(path: Path, section: str, cost: dict, inherit: CostModel | None) -> CostModel:
    """One cost table; a config's table (`inherit` given) may leave out what it shares with default."""
    unknown = set(cost) - {"per_op_overhead_cycles", *DTYPES}
    if unknown:
        raise TargetRegistryError(f"{path}: [{section}] has unknown key(s) {sorted(unknown)}")
    if "per_op_overhead_cycles" in cost:
        overhead = _coefficient(path, f"{section}.per_op_overhead_cycles", cost["per_op_overhead_cycles"])
    elif inherit is None:
        raise TargetRegistryError(f"{path}: {section} is missing 'per_op_overhead_cycles'")
    else:
        overhead = inherit.per_op_overhead_cycles
    coefficients = dict(inherit.coefficients) if inherit is not None else {}
    for dtype in DTYPES:
        table = cost.get(dtype)
        if table is None and inherit is not None:
            continue
        if not isinstance(table, dict):
            raise TargetRegistryError(f"{path}: [{section}.{dtype}] is missing")
        unknown = set(table) - set(KINDS)
        if unknown:
            raise TargetRegistryError(f"{path}: [{section}.{dtype}] has unknown key(s) {sorted(unknown)}; "
                                      f"allowed: {list(KINDS)}")
        for kind in KINDS:
            if kind in table:
                coefficients[(dtype, kind)] = _coefficient(path, f"{section}.{dtype}.{kind}", table[kind])
            elif inherit is None and kind not in FALLBACK_KIND:
                raise TargetRegistryError(f"{path}: {section}.{dtype} is missing '{kind}'")
    return CostModel(per_op_overhead_cycles=overhead, coefficients=coefficients)


def load_targets(path: Path | str = DEFAULT_TARGETS_FILE,
                 overlay: Path | str | None = None) -> dict[str, TargetProfile]:
    """Every target in the file, in file order; with `overlay` (a user's registry, see
    targets.cost.overlay), its tables merged over the file's before parsing, its new
    targets after the file's."""
    from targets.cost.overlay import layer, read_toml

    path = Path(path)
    raw = read_toml(path)
    if not raw:
        raise TargetRegistryError(f"{path}: no target defined")
    origin = dict.fromkeys(raw, path)
    if overlay is not None:
        raw, touched = layer(raw, Path(overlay))
        origin.update(dict.fromkeys(touched, Path(overlay)))
    return {name: _target(origin[name], name, table) for name, table in raw.items()}


def select_targets(option: str | None, known: Iterable[str]) -> list[str]:
    """Targets chosen by a --target value: None / auto / all -> all; "a" or "a,b" -> those."""
    known = list(known)
    if option is None or option.strip() in ("", "auto", "all"):
        return known
    chosen: list[str] = []
    for item in option.split(","):
        item = item.strip()
        if not item:
            raise UnknownTargetError(f"--target {option!r}: empty target name; known targets: {', '.join(known)}")
        if item not in known:
            raise UnknownTargetError(f"unknown target {item!r} (from --target {option!r}); "
                                     f"known targets: {', '.join(known)}, or auto / all")
        if item not in chosen:
            chosen.append(item)
    return chosen


def format_coefficient(coefficient: Coefficient) -> str:
    source = coefficient.source.replace("\\", "\\\\").replace('"', '\\"')
    value = repr(float(coefficient.value))
    value = value[:-2] if value.endswith(".0") else value
    return f'{{ value = {value}, source = "{source}", calibrated = {str(coefficient.calibrated).lower()} }}'


def write_coefficients(
    path: Path | str,
    target: str,
    coeffs: Mapping[str, float | Coefficient],
    *,
    source: str = "bench calibration",
    config: str = DEFAULT_CONFIG,
) -> None:
    """Replace coefficients of one target in place, keeping every other line and comment.

    Keys: "per_op_overhead_cycles" or "<dtype>.<kind>" (e.g. "int8.conv"). A bare number
    becomes Coefficient(value, source, calibrated=True). Each coefficient must sit on one
    line of its section (the file's own layout); the result is re-validated before the
    file is atomically replaced. `config` names a firmware config's table
    ([<target>.config_cost.<config>]) instead of the default one ([<target>.cost]).
    """
    path = Path(path)
    lines = path.read_text().splitlines(keepends=True)
    for key, coefficient in coeffs.items():
        if not isinstance(coefficient, Coefficient):
            coefficient = Coefficient(float(coefficient), source, True)
        base = f"{target}.cost" if config == DEFAULT_CONFIG else f"{target}.config_cost.{config}"
        if key == "per_op_overhead_cycles":
            section, name = base, key
        else:
            dtype, _, name = key.partition(".")
            if dtype not in DTYPES or name not in KINDS:
                raise TargetRegistryError(f"{path}: cannot write {target}.{key}: key must be per_op_overhead_cycles "
                                          f"or <{'|'.join(DTYPES)}>.<{'|'.join(KINDS)}>")
            section = f"{base}.{dtype}"
        _replace_line(path, lines, section, name, coefficient)
    text = "".join(lines)
    tomllib.loads(text)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        load_targets(temporary)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _replace_line(path: Path, lines: list[str], section: str, name: str, coefficient: Coefficient) -> None:
    header = re.compile(r"^\s*\[([^\]]+)\]\s*(#.*)?$")
    key_line = re.compile(rf"^(\s*){re.escape(name)}\s*=")
    current = None
    for i, line in enumerate(lines):
        match = header.match(line)
        if match:
            current = match.group(1).strip()
            continue
        key_match = key_line.match(line)
        if current == section and key_match:
            lines[i] = f"{key_match.group(1)}{name} = {format_coefficient(coefficient)}\n"
            return
    raise TargetRegistryError(f"{path}: no line '{name} = ...' in section [{section}]")
