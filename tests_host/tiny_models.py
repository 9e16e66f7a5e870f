"""Tiny .tflite models for the harness's own tests (built with tf_keras + the TFLite converter).

Each builder is deterministic (fixed seeds) and cached: in memory for the session, and on
disk in the temp dir keyed by this file's content and the TensorFlow version, so a rerun
costs milliseconds and an edit here rebuilds. Also the deliberately broken inputs the
error-path tests need (truncated bytes, a flatbuffer that is not a model, ...).
"""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from model_builders.tf_runtime import set_tf_environment

GESTURE_SHAPE = (50, 3)
GESTURE_MACS = 5 * 3 * 16 * 46 + 3 * 16 * 32 * 21 + 320 * 32 + 32 * 3
"""Hand count: Conv1D(16, k5) on 50x3 -> 46x16; pool -> 23; Conv1D(32, k3) -> 21x32;
pool -> 10; Dense 320->32; Dense 32->3."""

_CACHE_DIR = Path(tempfile.gettempdir()) / "tinyml-harness-tiny-models"


def _cache_key(label: str) -> str:
    # the installed version, read without importing TensorFlow (seconds saved per session)
    tf_version = importlib.metadata.version("tensorflow")
    digest = hashlib.sha256(Path(__file__).read_bytes() + tf_version.encode() + label.encode())
    return digest.hexdigest()[:20]


def _cached(label: str, build: Callable[[], bytes]) -> bytes:
    set_tf_environment()
    path = _CACHE_DIR / f"{label}-{_cache_key(label)}.tflite"
    if path.exists():
        return path.read_bytes()
    data = build()
    _CACHE_DIR.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=_CACHE_DIR, suffix=".tmp")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.replace(temporary, path)
    return data


def _convert(model, kind: str, input_shape: tuple[int, ...]) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if kind == "float32":
        return converter.convert()
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if kind == "dynamic":
        return converter.convert()
    if kind != "int8":
        raise ValueError(f"unknown kind {kind!r}: float32, dynamic or int8")
    rng = np.random.default_rng(1)

    def representative():
        for _ in range(16):
            yield [rng.random((1, *input_shape), dtype=np.float32)]

    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    with warnings.catch_warnings():
        # the converter's note that int8 input statistics come from the representative set
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        return converter.convert()


def _keras():
    set_tf_environment()
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    return tf_keras


@functools.cache
def gesture_cnn(kind: str = "int8") -> bytes:
    """The reference lesson's gesture CNN shape (untrained weights): float32, dynamic or int8."""

    def build() -> bytes:
        keras = _keras()
        model = keras.Sequential([
            keras.layers.Input(GESTURE_SHAPE),
            keras.layers.Conv1D(16, 5, activation="relu"),
            keras.layers.MaxPooling1D(2),
            keras.layers.Conv1D(32, 3, activation="relu"),
            keras.layers.MaxPooling1D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ])
        return _convert(model, kind, GESTURE_SHAPE)

    return _cached(f"gesture_cnn-{kind}", build)


def _dense(activation: str, kind: str) -> bytes:
    """Dense(8 -> 4) with one activation: a model whose only special op is that activation."""

    def build() -> bytes:
        keras = _keras()
        model = keras.Sequential([keras.layers.Input((8,)), keras.layers.Dense(4, activation=activation)])
        return _convert(model, kind, (8,))

    return _cached(f"{activation}_dense-{kind}", build)


@functools.cache
def gelu_dense(kind: str = "int8") -> bytes:
    """Uses GELU, a TFLite builtin that TFLite Micro has no kernel for (MicroMutableOpResolver
    has no AddGelu), so no firmware op list can register it."""
    return _dense("gelu", kind)


@functools.cache
def tanh_dense(kind: str = "int8") -> bytes:
    """Uses TANH, which the full firmware op list registers (a second model for the
    firmware-engine tests, with an activation kernel of its own)."""
    return _dense("tanh", kind)


def _model_object(model_bytes: bytes):
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    return schema, schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model_bytes, 0))


def _pack(schema, model) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def truncated(model_bytes: bytes, keep: float = 0.5) -> bytes:
    return model_bytes[: int(len(model_bytes) * keep)]


def random_bytes(size: int = 4096, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def flatbuffer_not_a_model(identifier: bytes = b"NOPE") -> bytes:
    """A well-formed flatbuffer (a table with a string and an int) that is no TFLite model;
    with identifier=b"TFL3" it even claims to be one."""
    import flatbuffers

    builder = flatbuffers.Builder(64)
    text = builder.CreateString("not a model")
    builder.StartObject(2)
    builder.PrependUOffsetTRelativeSlot(0, text, 0)
    builder.PrependInt32Slot(1, 42, 0)
    builder.Finish(builder.EndObject(), file_identifier=identifier)
    return bytes(builder.Output())


def without_subgraphs(model_bytes: bytes) -> bytes:
    """The same model with its subgraph list emptied."""
    schema, model = _model_object(model_bytes)
    model.subgraphs = []
    return _pack(schema, model)


def with_bad_tensor_index(model_bytes: bytes, op_index: int = 1, tensor: int = 9999) -> bytes:
    """Operator `op_index` reads tensor `tensor`, far past the tensor list: the TFLM wheel
    does not verify this and segfaults while allocating, so it exercises crash isolation."""
    schema, model = _model_object(model_bytes)
    operator = model.subgraphs[0].operators[op_index]
    operator.inputs = np.array([tensor, *list(operator.inputs[1:])], dtype=np.int32)
    return _pack(schema, model)


def repacked(model_bytes: bytes) -> bytes:
    """The model unpacked and packed again unchanged (control for the corruption helpers)."""
    schema, model = _model_object(model_bytes)
    return _pack(schema, model)


@functools.cache
def image_cnn(shape: tuple[int, int, int] = (32, 32, 3), kind: str = "int8") -> bytes:
    """A small image classifier (untrained weights) whose int8 input is h*w*c bytes: 3 KB
    for 32x32x3, 9 KB for 96x96x1 (person detection's input), larger than one host line.
    Ops: CONV_2D, MEAN, FULLY_CONNECTED, SOFTMAX, all in the default registered list."""

    def build() -> bytes:
        keras = _keras()
        model = keras.Sequential([
            keras.layers.Input(shape),
            keras.layers.Conv2D(4, 3, strides=2, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ])
        return _convert(model, kind, shape)

    return _cached(f"image_cnn-{'x'.join(map(str, shape))}-{kind}", build)
