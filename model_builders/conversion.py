"""Keras -> .tflite conversions: float32, full int8 (per-channel or per-tensor), dynamic range."""
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


def to_float32(model: Any) -> bytes:
    tf, _ = import_tf()
    with phase("convert"):
        return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def to_full_int8(model: Any, representative: np.ndarray, *, per_channel: bool = True) -> bytes:
    """Full-integer model with int8 input and output, calibrated on `representative`.

    QAT models carry their own ranges in fake-quant nodes; the converter still demands
    representative data for full-integer output and uses it only where ranges are missing."""
    tf, _ = import_tf()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _representative(representative)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    if not per_channel:
        converter._experimental_disable_per_channel = True  # the converter's only switch for it
    with phase("convert"):
        return converter.convert()


def to_dynamic_range(model: Any) -> bytes:
    """Weights-only int8 (hybrid): float input/output, int8 weights. TFLite Micro cannot run it."""
    tf, _ = import_tf()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    with phase("convert"):
        return converter.convert()
