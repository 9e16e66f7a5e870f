"""Keras -> .tflite conversions: float32, full int8 (per-channel or per-tensor), dynamic range.

Every conversion starts from the model's serving function (what Keras exports as the
SavedModel's `serving_default` signature: the model called with training=False, outputs
named by the output layers) and a module holding only the model's variables. The .tflite
keeps that signature and its tensor names. `TFLiteConverter.from_keras_model` reaches the
same function by first saving the whole Keras model as a SavedModel (every layer's call
traced again for Keras's own serialization) and loading it back: about three quarters of
each conversion's time, for nothing the .tflite contains.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from model_builders.tf_runtime import import_tf
from model_builders.timing import phase


def _representative(samples: np.ndarray):
    def generator():
        for sample in samples:
            yield [sample[None, ...].astype(np.float32)]

    return generator


def _converter(model: Any) -> Any:
    """A TFLiteConverter for the model's serving function (see the module docstring)."""
    tf, _ = import_tf()
    from tf_keras.src.saving.legacy.saving_utils import trace_model_call

    variables = tf.Module()
    variables.variables_ = list(model.variables)  # the converter saves these (only) and freezes them
    return tf.lite.TFLiteConverter.from_concrete_functions([trace_model_call(model)], variables)


def to_float32(model: Any) -> bytes:
    with phase("convert"):
        return _converter(model).convert()


def to_full_int8(model: Any, representative: np.ndarray, *, per_channel: bool = True) -> bytes:
    """Full-integer model with int8 input and output, calibrated on `representative`.

    QAT models carry their own ranges in fake-quant nodes; the converter still demands
    representative data for full-integer output and uses it only where ranges are missing."""
    tf, _ = import_tf()
    with phase("convert"):
        converter = _converter(model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative(representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        if not per_channel:
            converter._experimental_disable_per_channel = True  # the converter's only switch for it
        return converter.convert()


def to_dynamic_range(model: Any) -> bytes:
    """Weights-only int8 (hybrid): float input/output, int8 weights. TFLite Micro cannot run it."""
    tf, _ = import_tf()
    with phase("convert"):
        converter = _converter(model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        return converter.convert()
