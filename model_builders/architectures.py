"""Model architectures by name, and how users register their own.

A builder is `fn(input_shape, n_classes, keras) -> compiled tf_keras model`; `keras` is the
tf_keras module, passed in so that this module never imports TensorFlow.

Register your own in any module imported before the build (for example a conftest.py):

    from model_builders.architectures import register_architecture

    @register_architecture("tiny_mlp")
    def tiny_mlp(input_shape, n_classes, keras):
        model = keras.Sequential([keras.layers.Input(input_shape), keras.layers.Flatten(),
                                  keras.layers.Dense(n_classes, activation="softmax")])
        model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
        return model

then build with `--architecture tiny_mlp`. The builder's source is part of the cache key,
so editing it rebuilds every variant made from it. QAT covers Conv1D and Dense layers of any
architecture (see model_builders.qat); other layer types need a QuantizeConfig of their own.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

Builder = Callable[[tuple[int, int], int, Any], Any]
_REGISTRY: dict[str, Builder] = {}


def register_architecture(name: str) -> Callable[[Builder], Builder]:
    def decorator(fn: Builder) -> Builder:
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise ValueError(f"architecture '{name}' is already registered")
        _REGISTRY[name] = fn
        return fn

    return decorator


def get_architecture(name: str) -> Builder:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown architecture '{name}'; registered: {', '.join(sorted(_REGISTRY))}") from None


def architecture_source(name: str) -> str:
    return inspect.getsource(get_architecture(name))


@register_architecture("reference_cnn")
def reference_cnn(input_shape: tuple[int, int], n_classes: int, keras: Any) -> Any:
    """The reference gesture CNN: two Conv1D/MaxPool stages, a small dense head."""
    layers = keras.layers
    model = keras.Sequential(
        [
            layers.Input(shape=input_shape),
            layers.Conv1D(16, 5, activation="relu", name="conv1"),
            layers.MaxPooling1D(2, name="pool1"),
            layers.Conv1D(32, 3, activation="relu", name="conv2"),
            layers.MaxPooling1D(2, name="pool2"),
            layers.Flatten(name="flatten"),
            layers.Dense(32, activation="relu", name="dense1"),
            layers.Dropout(0.3, name="dropout"),
            layers.Dense(n_classes, activation="softmax", name="output"),
        ],
        name="reference_cnn",
    )
    model.compile(optimizer=keras.optimizers.Adam(), loss="categorical_crossentropy", metrics=["accuracy"])
    return model
