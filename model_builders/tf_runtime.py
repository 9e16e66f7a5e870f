"""The one place TensorFlow is imported, lazily, configured for reproducible training.

tfmot needs Keras 2, so TF_USE_LEGACY_KERAS=1 is set before the first import and models
are built with tf_keras. Op determinism and single-threaded kernels make training give
the same weights (and so the same .tflite bytes) for the same seed.
"""
from __future__ import annotations

import os
from types import ModuleType

_configured = False


def import_tf() -> tuple[ModuleType, ModuleType]:
    """Return (tensorflow, tf_keras), configuring determinism on first use."""
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


def one_execution_per_epoch(model, samples: int, batch_size: int) -> None:
    """Run each epoch's training steps in one call into TensorFlow (what
    compile(steps_per_execution=N) sets) instead of one call per batch: the models are tiny,
    so a step costs little more than Keras's per-batch Python work. The steps, their order
    and their batches are the same, and so are the trained weights (bit for bit). Callbacks
    that act per batch would see one batch per epoch: use it only with callbacks that act
    per epoch (tfmot's pruning counts its step in the graph; its UpdatePruningStep callback
    only initializes the step and remasks at the end of each epoch)."""
    configure = getattr(model, "_configure_steps_per_execution", None)
    if configure is not None:  # tf_keras 2.x; without it, training is the same, only slower
        configure(max(1, -(-samples // batch_size)))
