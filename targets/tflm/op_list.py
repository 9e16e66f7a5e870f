"""The ops the firmware registers, read from the one file the firmware build also reads.

The default file lists every builtin TFLite Micro can add; a lean build names another file
(CONFIG_TMH_OPS_FILE, written by `python -m targets.tflm.lean_ops`), and the host check must then
read that one too: pytest's --ops-file / ini ops_file, passed here as `path`.
"""
from __future__ import annotations

from pathlib import Path

from vocabulary.locations import firmware_dir

REGISTERED_OPS_FILE = firmware_dir() / "main" / "registered_ops.txt"


def registered_ops(path: Path = REGISTERED_OPS_FILE) -> list[str]:
    """Builtin operator names, in file order; comments (#) and blank lines skipped."""
    names = []
    for line in path.read_text().splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            names.append(name)
    return names


def missing_ops(model_ops: list[str], path: Path = REGISTERED_OPS_FILE) -> list[str]:
    """Ops a model uses that the firmware lacks, in the model's order."""
    available = set(registered_ops(path))
    return [op for op in model_ops if op not in available]
