"""The user's own target registry, layered over the packaged one.

A repository adds a target, or overrides a clock or a coefficient, in a TOML file of its
own (`targets.toml` at its rootdir, or `--targets-file`) written in the packaged
registry's layout. Its tables are merged over the packaged tables before anything is
parsed: a target it adds must be complete; for a target it overrides, the scalars it sets
replace the packaged ones and a coefficient it sets replaces that whole coefficient
(value, source and calibrated together: a bench figure never keeps an estimate's source).
Errors in the user's file name that file and the field. `python -m tinyml_harness.calibrate`
writes its fits here, never into the installed package.
"""
from __future__ import annotations

import os
import re
import sysconfig
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from targets.cost.registry import (
    DEFAULT_TARGETS_FILE,
    DTYPES,
    KINDS,
    Coefficient,
    TargetRegistryError,
    format_coefficient,
)

USER_TARGETS_FILE = "targets.toml"  # at the rootdir of the user's repository
_HEADER = (f"# Targets of this repository, layered over the harness's registry ({DEFAULT_TARGETS_FILE.name}):\n"
           "# a table here adds a target or overrides what it sets (python -m tinyml_harness.calibrate\n"
           "# writes its fitted coefficients here).\n")


def read_toml(path: Path) -> dict[str, Any]:
    """A registry file's tables; a missing or malformed file is an error naming it."""
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise TargetRegistryError(f"{path}: target registry not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise TargetRegistryError(f"{path}: not valid TOML: {exc}") from None


def layer(packaged: dict[str, Any], overlay: Path) -> tuple[dict[str, Any], set[str]]:
    """The packaged tables with the overlay's merged over them, and the names of the
    targets the overlay touched (their errors are reported against the overlay file)."""
    tables = read_toml(overlay)
    merged = dict(packaged)
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise TargetRegistryError(f"{overlay}: {name} must be a table [{name}], got {table!r}")
        merged[name] = _merge(packaged.get(name, {}), table, depth=0)
    return merged, set(tables)


def _merge(base: Mapping[str, Any], over: Mapping[str, Any], depth: int) -> dict[str, Any]:
    """Tables down to [<target>.cost.<dtype>] merge key by key; below that (a coefficient's
    inline table) and for every scalar, the overlay's value replaces the packaged one."""
    merged = dict(base)
    for key, value in over.items():
        nested = depth == 0 and key == "cost" or depth == 1 and key in DTYPES
        if nested and isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _merge(base[key], value, depth + 1)
        else:
            merged[key] = value
    return merged


def installed_package_file(path: Path) -> bool:
    """True for a file inside an installed package (site-packages): never written."""
    resolved = path.resolve()
    roots = {Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
    return any(resolved.is_relative_to(root) for root in roots)


def write_overlay_coefficients(path: Path, target: str, coeffs: Mapping[str, Coefficient]) -> None:
    """Set coefficients of one target in the user's registry file, creating the file, its
    section or its line as needed and keeping every other line. Keys as in
    registry.write_coefficients ("per_op_overhead_cycles" or "<dtype>.<kind>"). The
    result is validated layered over the packaged registry before it replaces the file."""
    from targets.cost.registry import load_targets

    if installed_package_file(path):
        raise TargetRegistryError(f"{path}: inside an installed package; calibration goes to your repository's "
                                  f"{USER_TARGETS_FILE} (--targets-file)")
    lines = (path.read_text() if path.exists() else _HEADER).splitlines(keepends=True)
    for key, coefficient in coeffs.items():
        dtype, _, kind = key.partition(".")
        if key == "per_op_overhead_cycles":
            section, name = f"{target}.cost", key
        elif dtype in DTYPES and kind in KINDS:
            section, name = f"{target}.cost.{dtype}", kind
        else:
            raise TargetRegistryError(f"{path}: cannot write {target}.{key}: key must be per_op_overhead_cycles "
                                      f"or <{'|'.join(DTYPES)}>.<{'|'.join(KINDS)}>")
        _set_line(lines, section, name, f"{name} = {format_coefficient(coefficient)}\n")
    text = "".join(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        load_targets(overlay=Path(temporary))  # refuse to write what would not load
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _set_line(lines: list[str], section: str, name: str, new_line: str) -> None:
    """Replace `name = ...` in [section]; else add it under the section's header; else
    append the section."""
    header = re.compile(r"^\s*\[([^\]]+)\]\s*(#.*)?$")
    key_line = re.compile(rf"^\s*{re.escape(name)}\s*=")
    current, header_at = None, None
    for i, line in enumerate(lines):
        match = header.match(line)
        if match:
            current = match.group(1).strip()
            header_at = i if current == section else header_at
        elif current == section and key_line.match(line):
            lines[i] = new_line
            return
    if header_at is not None:
        lines.insert(header_at + 1, new_line)
        return
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    lines += ["\n", f"[{section}]\n", new_line]
