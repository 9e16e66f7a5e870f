"""The code behind each recipe (TensorFlow; imported only when something must be built).

Each function gets a BuildContext, writes model.tflite (and model.keras where the variant
has a Keras model of its own) into ctx.out_dir, and returns metadata for meta.json.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from model_builders import conversion
from model_builders.architectures import get_architecture
from model_builders.tf_runtime import import_tf, prepare_fit, seed_everything
from model_builders.timing import phase
from model_builders.variants import BuildContext


def _onehot(y: np.ndarray, n: int) -> np.ndarray:
    return np.eye(n, dtype=np.float32)[y]


def _top1(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy in percent, from the model called eagerly in batches of 256 (what
    predict() computes, without tracing a predict function: a third of a second per process
    for a few hundred samples)."""
    batches = [np.asarray(model(x[i:i + 256], training=False)) for i in range(0, len(x), 256)]
    return float(np.mean(np.argmax(np.concatenate(batches), axis=1) == y) * 100)


def _accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    with phase("keras_eval"):
        return _top1(model, x, y)


def _load_parent(ctx: BuildContext) -> Any:
    """The parent's Keras model, uncompiled: every child compiles its own optimizer (QAT,
    pruning) or only converts (PTQ), and restoring the parent's compiled state took two
    thirds of the load."""
    _, keras = import_tf()
    with phase("load_parent"):
        return keras.models.load_model(ctx.parent / "model.keras", compile=False)


def _parent_meta(ctx: BuildContext) -> dict:
    return json.loads((ctx.parent / "meta.json").read_text())


def _progress_callback(ctx: BuildContext, epochs: int, validation: tuple[np.ndarray, np.ndarray] | None = None):
    """Logs loss (and validation accuracy, when given: x, integer labels) at four epochs.
    Validation is evaluated at those epochs only: it only informs this log (no early
    stopping, no checkpoint choice), so evaluating it after every epoch as
    fit(validation_data=...) does would change nothing but the time."""
    _, keras = import_tf()
    every = max(1, epochs // 4)
    callback: Any = keras.callbacks.Callback  # a class reached at run time: mypy takes no expression as a base

    class Progress(callback):
        def on_epoch_end(self, epoch, logs=None):
            if (epoch + 1) % every == 0 or epoch + 1 == epochs:
                logs = logs or {}
                val = ""
                if validation is not None:
                    with phase("validation"):
                        val = f", val_accuracy {_top1(self.model, *validation):.1f}%"
                ctx.log(f"epoch {epoch + 1}/{epochs}: loss {logs.get('loss', float('nan')):.3f}{val}")

    return Progress()


def build_float32(ctx: BuildContext) -> dict:
    _, keras = import_tf()
    seed_everything(ctx.seed)
    model = get_architecture(ctx.architecture)(ctx.x_train.shape[1:], ctx.n_classes, keras)
    epochs = ctx.params["epochs"]
    with phase("train"):
        prepare_fit(model, len(ctx.x_train), ctx.params["batch_size"])
        model.fit(ctx.x_train, _onehot(ctx.y_train, ctx.n_classes), epochs=epochs, batch_size=ctx.params["batch_size"],
                  shuffle=True, verbose=0, callbacks=[_progress_callback(ctx, epochs, (ctx.x_val, ctx.y_val))])
    with phase("save"):
        model.save(ctx.out_dir / "model.keras")
    (ctx.out_dir / "model.tflite").write_bytes(conversion.to_float32(model))
    return {"keras_accuracy": _accuracy(model, ctx.x_test, ctx.y_test),
            "val_accuracy": _accuracy(model, ctx.x_val, ctx.y_val), "sparsity": 0.0}


def build_ptq(ctx: BuildContext) -> dict:
    import_tf()
    model = _load_parent(ctx)
    tflite = conversion.to_full_int8(model, ctx.representative, per_channel=ctx.params["per_channel"])
    (ctx.out_dir / "model.tflite").write_bytes(tflite)
    return {"keras_accuracy": _parent_meta(ctx)["keras_accuracy"], "keras_accuracy_of": "float32 parent",
            "representative_samples": len(ctx.representative), "sparsity": 0.0}


def build_qat(ctx: BuildContext) -> dict:
    _, keras = import_tf()
    import tensorflow_model_optimization as tfmot

    from model_builders.qat import _configs, quantize_all_layers, quantized_layer_names

    seed_everything(ctx.seed)
    model = quantize_all_layers(_load_parent(ctx))
    model.compile(optimizer=keras.optimizers.Adam(ctx.params["learning_rate"]), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    epochs = ctx.params["epochs"]
    with phase("train"):
        prepare_fit(model, len(ctx.x_train), ctx.params["batch_size"])
        model.fit(ctx.x_train, _onehot(ctx.y_train, ctx.n_classes), epochs=epochs, batch_size=ctx.params["batch_size"],
                  shuffle=True, verbose=0, callbacks=[_progress_callback(ctx, epochs, (ctx.x_val, ctx.y_val))])
    with tfmot.quantization.keras.quantize_scope(_configs()), phase("save"):
        model.save(ctx.out_dir / "model.keras")
    (ctx.out_dir / "model.tflite").write_bytes(conversion.to_full_int8(model, ctx.representative))
    return {"keras_accuracy": _accuracy(model, ctx.x_test, ctx.y_test), "sparsity": 0.0,
            "quantized_layers": quantized_layer_names(model)}


def build_pruned(ctx: BuildContext) -> dict:
    import_tf()
    from model_builders.pruning import kernel_sparsity, prune

    seed_everything(ctx.seed)
    p = ctx.params
    ctx.log(f"pruning {p['initial_sparsity']:.0%} -> {p['final_sparsity']:.0%} over {p['epochs']} epochs")
    parent = _load_parent(ctx)
    with phase("train"):
        model = prune(parent, ctx.x_train, _onehot(ctx.y_train, ctx.n_classes),
                      initial_sparsity=p["initial_sparsity"], final_sparsity=p["final_sparsity"], epochs=p["epochs"],
                      batch_size=p["batch_size"], learning_rate=p["learning_rate"], ramp_fraction=p["ramp_fraction"],
                      frequency=p["frequency"])
    with phase("save"):
        model.save(ctx.out_dir / "model.keras")
    (ctx.out_dir / "model.tflite").write_bytes(conversion.to_full_int8(model, ctx.representative))
    return {"keras_accuracy": _accuracy(model, ctx.x_test, ctx.y_test), "sparsity": kernel_sparsity(model),
            "target_sparsity": p["final_sparsity"], "representative_samples": len(ctx.representative)}


def build_dynamic_range(ctx: BuildContext) -> dict:
    import_tf()
    (ctx.out_dir / "model.tflite").write_bytes(conversion.to_dynamic_range(_load_parent(ctx)))
    return {"keras_accuracy": _parent_meta(ctx)["keras_accuracy"], "keras_accuracy_of": "float32 parent",
            "sparsity": 0.0}
