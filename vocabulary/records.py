"""The result record: one measurement of one variant on one target from one source.

Every part of the harness that measures (host TFLM, virtual board, real board) produces
these, and every part that reports (CSV, summary, baseline, gating) consumes them. Field
names are the public column names of results.csv; definitions in docs/ARCHITECTURE.md.
Also here: the libraries whose versions the figures depend on (one list for the build's
cache key and the run's meta). Sources: vocabulary.sources; metrics: vocabulary.metrics.
"""
from __future__ import annotations

import base64
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Library:
    """A library whose version the figures depend on (recorded in every run's meta)."""

    name: str  # its distribution name
    builds: bool  # it makes the artifacts: its version is part of every build's cache key


LIBRARIES = (
    Library("tensorflow", builds=True),
    Library("tf-keras", builds=True),
    Library("tensorflow-model-optimization", builds=True),
    Library("tflite-micro", builds=False),  # runs the artifacts on the host; never builds them
    Library("numpy", builds=True),
)

LIBRARY_NAMES = tuple(lib.name for lib in LIBRARIES)  # a run's meta records these versions
BUILD_LIBRARIES = tuple(lib.name for lib in LIBRARIES if lib.builds)  # a build's cache key holds these


@dataclass
class ResultRecord:
    variant: str
    target: str
    source: str  # one of SOURCES (vocabulary.sources)
    accuracy: float | None = None  # top-1 on the test split, in percent (0-100)
    accuracy_drop_pp: float | None = None  # float32 accuracy minus this, percentage points
    model_bytes: int | None = None
    gzip_bytes: int | None = None
    arena_bytes: int | None = None  # as TFLM reports it; see arena_source
    arena_source: str | None = None  # e.g. "tflm-python-recording-x86_64" or "chip"
    # Host runs, per target: the arena that target's firmware (default config) will report,
    # measured with a 32-bit build of its kernels, or the 64-bit figure labelled
    # "host 64-bit (chip figure unavailable)"; every config's figure is in extra["chip_arena"].
    chip_arena_bytes: int | None = None
    chip_arena_source: str | None = None
    macs: int | None = None
    latency_us: float | None = None  # measured on a chip; None on host
    latency_est_us: float | None = None  # estimate from the target cost model
    # Its expected error, percent: the worst published figure held out of the cost model's fit
    # (docs/LATENCY.md); None where no published figure validates the target.
    latency_est_error_pct: float | None = None
    ops: list[str] = field(default_factory=list)
    deployable: bool = True
    max_lsb_diff: int | None = None  # bit-exactness versus the reference
    # Test indices where this variant's correctness differs from float32's (right->wrong or
    # wrong->right); with test_samples set, baseline.py pairs two runs on it (McNemar).
    flipped_samples: list[int] = field(default_factory=list)
    fits: bool | None = None  # arena + model + firmware overhead within target memory
    test_samples: int | None = None  # size of the test split accuracy was computed on
    flash_bytes: int | None = None  # model + firmware image (HIL builds); None on host
    error: str | None = None  # a clear message when this item could not be measured
    # Per test sample: was this variant right? (encode_correct). Baselines pair runs on it.
    correct_bitmap: str | None = None
    per_class_accuracy: dict[str, float] = field(default_factory=dict)  # class name -> percent
    max_class_drop_pp: float | None = None  # largest per-class drop below float32, pp
    model_sha256: str | None = None  # the artifact's bytes: same bytes must give same figures
    # What the figures depend on (the baseline's key and its notes): dataset_fingerprint,
    # test_split, architecture, architecture_hash, recipe_hash, training_platform.
    provenance: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # source-specific figures

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResultRecord:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"result record has unknown fields: {sorted(unknown)}")
        return cls(**data)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.variant, self.target, self.source)


def encode_correct(correct: np.ndarray | list[bool]) -> str:
    """Per-sample correctness as a compact string: base64 of the bits, little-endian."""
    bits = np.packbits(np.asarray(correct, dtype=bool), bitorder="little")
    return base64.b64encode(bits.tobytes()).decode("ascii")


def decode_correct(text: str, samples: int) -> np.ndarray:
    """The inverse of encode_correct for a split of `samples` test samples."""
    raw = np.frombuffer(base64.b64decode(text.encode("ascii")), dtype=np.uint8)
    bits = np.unpackbits(raw, bitorder="little")
    if len(bits) < samples:
        raise ValueError(f"correctness bitmap holds {len(bits)} bits, expected {samples}")
    return bits[:samples].astype(bool)
