"""Untrained demo models for the benchmarks: protocol and runtime work, not accuracy."""
from __future__ import annotations

from typing import Any


def build_demo_models(seed: int = 0, *, samples: int = 64) -> dict[str, Any]:
    """Untrained reference-CNN models (int8 and float32) and random inputs in [0, 1], for the
    harness's own tests and the timing benchmark: protocol work, not accuracy, is what they
    exercise. Builds in a few seconds with tf_keras (TensorFlow imported here, lazily)."""
    import numpy as np

    from model_builders.architectures import get_architecture
    from model_builders.conversion import to_float32, to_full_int8
    from model_builders.tf_runtime import import_tf, seed_everything

    _, keras = import_tf()
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    x = rng.random((samples, 50, 3), dtype=np.float32)
    y = rng.integers(0, 3, samples)
    model = get_architecture("reference_cnn")((50, 3), 3, keras)
    return {"int8": to_full_int8(model, x[:32]), "float32": to_float32(model), "x": x, "y": y}
