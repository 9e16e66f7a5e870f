"""The ops the firmware registers, read from the one file the firmware build also reads."""
from __future__ import annotations

from pathlib import Path

REGISTERED_OPS_FILE = Path(__file__).resolve().parent.parent / "firmware" / "main" / "registered_ops.txt"


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
