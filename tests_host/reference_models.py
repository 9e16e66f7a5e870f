"""Published TinyML architectures, rebuilt with tf_keras (untrained weights, int8 PTQ on
random calibration data), for the chip-arena figures: the arena depends on the graph and
the shapes, not on the weights' values.

- person_detection: MobileNet v1, alpha 0.25, 96x96x1, 2 classes: the TFLM
  person-detection example's architecture (the model Espressif times in esp-tflite-micro's
  README);
- MLPerf Tiny v1.0's reference models: ResNet-8 (image classification, 32x32x3),
  DS-CNN (keyword spotting, 49x10x1 MFCC), the dense autoencoder (anomaly detection, 640);
- mobilenet_v2: MobileNetV2, alpha 0.35, 96x96x3, 10 classes: inverted residuals with
  depthwise convolutions, the usual "MobileNet-style" image model on an ESP32-S3.

Cached as tiny_models caches (in the temp dir, keyed by this file and TF's version).
"""
from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tests_host import tiny_models
from tests_host.tiny_models import _convert, _keras

#: tiny_models' cache keys on its own file; these builders key on this one too.
_SOURCE = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def _cached(label: str, build: Callable[[], bytes]) -> bytes:
    return tiny_models._cached(f"{label}-{_SOURCE}", build)


def _application(label: str, architecture: str, shape: tuple[int, int, int], classes: int, **options) -> bytes:
    """A tf_keras.applications backbone, untrained, with the head TFLM's person-detection
    model has (average pool over the last feature map, 1x1 conv, flatten, softmax), int8.
    Not keras' own head, whose Reshape is dynamic (SHAPE, STRIDED_SLICE, PACK)."""

    def build() -> bytes:
        keras = _keras()
        layers = keras.layers
        base = getattr(keras.applications, architecture)(input_shape=shape, weights=None, include_top=False,
                                                         **options)
        x = layers.AveragePooling2D(base.output_shape[1:3])(base.output)
        x = layers.Flatten()(layers.Conv2D(classes, 1)(x))  # a static RESHAPE; Reshape((classes,)) is dynamic
        model = keras.Model(base.input, layers.Softmax()(x))
        # Untrained, the activations vanish through the stack (scales of 1e-8, and TFLM's
        # softmax aborts preparing its multiplier): let batch norm take its statistics from
        # one batch, as training would, so every layer sees activations of unit scale.
        for layer in model.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.momentum = 0.0
        model(np.random.default_rng(0).random((8, *shape), dtype=np.float32), training=True)
        return _convert(model, "int8", shape)

    return _cached(label, build)


@functools.cache
def person_detection() -> bytes:
    """MobileNet v1 0.25 on 96x96 grayscale, 2 classes (TFLM's person detection)."""
    return _application("person_detection_mobilenet_v1_025", "MobileNet", (96, 96, 1), 2, alpha=0.25)


@functools.cache
def mobilenet_v2() -> bytes:
    """MobileNetV2 0.35 on 96x96x3, 10 classes."""
    return _application("mobilenet_v2_035_96", "MobileNetV2", (96, 96, 3), 10, alpha=0.35)


@functools.cache
def resnet8() -> bytes:
    """MLPerf Tiny image classification: ResNet-8 on CIFAR-10 shapes (16/32/64 filters)."""

    def build() -> bytes:
        keras = _keras()
        layers = keras.layers
        x = inputs = layers.Input((32, 32, 3))
        x = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(16, 3, padding="same")(x)))
        for filters, stride in ((16, 1), (32, 2), (64, 2)):
            y = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(filters, 3, stride, padding="same")(x)))
            y = layers.BatchNormalization()(layers.Conv2D(filters, 3, padding="same")(y))
            if stride != 1:
                x = layers.Conv2D(filters, 1, stride)(x)
            x = layers.ReLU()(layers.Add()([x, y]))
        x = layers.Flatten()(layers.AveragePooling2D(8)(x))
        outputs = layers.Dense(10, activation="softmax")(x)
        return _convert(keras.Model(inputs, outputs), "int8", (32, 32, 3))

    return _cached("mlperf_tiny_resnet8", build)


@functools.cache
def ds_cnn() -> bytes:
    """MLPerf Tiny keyword spotting: DS-CNN (64 filters, four depthwise-separable blocks)."""

    def build() -> bytes:
        keras = _keras()
        layers = keras.layers
        x = inputs = layers.Input((49, 10, 1))
        x = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(64, (10, 4), (2, 2), padding="same")(x)))
        for _ in range(4):
            x = layers.ReLU()(layers.BatchNormalization()(layers.DepthwiseConv2D(3, padding="same")(x)))
            x = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(64, 1)(x)))
        x = layers.Flatten()(layers.AveragePooling2D((25, 5))(x))
        outputs = layers.Dense(12, activation="softmax")(x)
        return _convert(keras.Model(inputs, outputs), "int8", (49, 10, 1))

    return _cached("mlperf_tiny_ds_cnn", build)


@functools.cache
def autoencoder() -> bytes:
    """MLPerf Tiny anomaly detection: the dense autoencoder on 640 features (128-unit layers, 8-unit code)."""

    def build() -> bytes:
        keras = _keras()
        layers = keras.layers
        x = inputs = layers.Input((640,))
        for units in (128, 128, 128, 128, 8, 128, 128, 128, 128):
            x = layers.ReLU()(layers.BatchNormalization()(layers.Dense(units)(x)))
        outputs = layers.Dense(640)(x)
        return _convert(keras.Model(inputs, outputs), "int8", (640,))

    return _cached("mlperf_tiny_autoencoder", build)


#: name -> builder, in the order the figures are reported.
MODELS = {"person_detection": person_detection, "mobilenet_v2": mobilenet_v2, "resnet8": resnet8,
          "ds_cnn": ds_cnn, "autoencoder": autoencoder}
