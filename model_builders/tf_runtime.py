"""The one place TensorFlow is imported, lazily, configured for reproducible training.

tfmot needs Keras 2, so TF_USE_LEGACY_KERAS=1 is set before the first import and models
are built with tf_keras. Op determinism and single-threaded kernels make training give
the same weights (and so the same .tflite bytes) for the same seed.
"""
from __future__ import annotations

import os
from typing import Any

_configured = False


def import_tf() -> tuple[Any, Any]:
    """Return (tensorflow, tf_keras), configuring determinism on first use. Typed Any: neither
    package ships types, and their submodules and classes are reached as attributes."""
    global _configured
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # oneDNN reorders float sums
    import tensorflow as tf
    import tf_keras

    if not _configured:
        tf.config.experimental.enable_op_determinism()
        try:
            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass  # the runtime was already initialized by someone else; determinism still holds
        tf.get_logger().setLevel("ERROR")
        _configured = True
    return tf, tf_keras


def seed_everything(seed: int) -> None:
    _, keras = import_tf()
    keras.utils.set_random_seed(seed)
