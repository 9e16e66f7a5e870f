"""Where an artifact was trained: float training is bit-reproducible on one CPU, not across
CPUs, so a baseline records the platform beside every retrained figure."""
from __future__ import annotations

import hashlib
import platform
from pathlib import Path

#: ISA extensions that change which float kernels TensorFlow (oneDNN, Eigen) runs.
NOTABLE_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "amx_tile", "neon", "asimd", "sve")


def training_platform() -> dict[str, str]:
    """CPU model, notable ISA flags (and a hash of all of them), OS and Python."""
    model, flags = _cpuinfo()
    return {
        "machine": platform.machine(),
        "cpu": model or platform.processor() or "unknown",
        "isa": " ".join(f for f in NOTABLE_FLAGS if f in flags),
        "isa_hash": hashlib.sha256(" ".join(sorted(flags)).encode()).hexdigest()[:12],
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
    }


def _cpuinfo() -> tuple[str, set[str]]:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return "", set()
    model = ""
    flags: set[str] = set()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name in ("model name", "cpu model", "hardware") and not model:
            model = value.strip()
        elif name in ("flags", "features") and not flags:
            flags = set(value.split())
    return model, flags
