"""What the harness does to make training cheaper changes no bit of what it computes.

Each comparison trains the same model from the same seed twice in this process: once as
Keras does by default (one TensorFlow call per batch, Keras's own train function, its
array pipeline with autotuning) and once as the builds do (prepare_fit: one call per
epoch, the training step traced once; no autotuning thread), and requires identical
weights. A small model and a few epochs keep each pair under a few seconds.
"""
from __future__ import annotations

import numpy as np
import pytest

from model_builders.architectures import get_architecture
from model_builders.tf_runtime import import_tf, prepare_fit, seed_everything

SAMPLES, STEPS, CHANNELS, CLASSES, BATCH = 72, 24, 3, 4, 16  # 72 / 16: a short last batch in every epoch


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(SAMPLES, STEPS, CHANNELS)).astype(np.float32)
    return x, np.eye(CLASSES, dtype=np.float32)[rng.integers(0, CLASSES, SAMPLES)]


def _float_model(keras, extra_layer=None):
    seed_everything(7)
    model = get_architecture("reference_cnn")((STEPS, CHANNELS), CLASSES, keras)
    if extra_layer is None:
        return model
    wrapped = keras.Sequential([keras.layers.Input((STEPS, CHANNELS)), extra_layer, model])
    wrapped.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])
    return wrapped


def _weights(model) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.get_weights()]


@pytest.fixture
def keras_as_it_is(monkeypatch):
    """Undo, for one test, what import_tf changes in Keras for every fit: the array
    pipeline's autotuning thread comes back (Keras's own TensorLikeDataAdapter)."""
    import_tf()
    from tf_keras.src.engine import data_adapter

    original = data_adapter.TensorLikeDataAdapter
    adapters = [original if c.__module__ == "model_builders.tf_runtime" else c for c in data_adapter.ALL_ADAPTER_CLS]

    def use(plain: bool) -> None:
        if plain:
            monkeypatch.setattr(data_adapter, "ALL_ADAPTER_CLS", adapters)
        else:
            monkeypatch.undo()

    return use


def _train(fast: bool, epochs: int = 3) -> tuple[list[np.ndarray], dict]:
    _, keras = import_tf()
    x, y = _data()
    model = _float_model(keras)
    if fast:
        prepare_fit(model, len(x), BATCH)
    seed_everything(11)
    history = model.fit(x, y, epochs=epochs, batch_size=BATCH, shuffle=True, verbose=0)
    return _weights(model), history.history


def test_fit_on_arrays_runs_without_the_autotuning_thread():
    """Its sleep delayed the end of every fit() by up to 1.3 s (see tf_runtime)."""
    import_tf()
    from tf_keras.src.engine import data_adapter

    x, y = _data()
    seed_everything(1)  # the adapter's shuffle is a random op
    adapter = data_adapter.select_data_adapter(x, y)(x, y, batch_size=BATCH, shuffle=True, epochs=1)
    assert adapter.get_dataset().options().autotune.enabled is False


def test_float_training_is_bit_identical_with_prepare_fit(keras_as_it_is):
    keras_as_it_is(True)
    plain_weights, plain_logs = _train(fast=False)
    keras_as_it_is(False)
    fast_weights, fast_logs = _train(fast=True)
    assert len(plain_weights) == len(fast_weights)
    for plain, fast in zip(plain_weights, fast_weights, strict=True):
        np.testing.assert_array_equal(plain, fast)
    assert fast_logs == plain_logs  # the per-epoch loss and accuracy callbacks see are the same too


def test_pruning_is_bit_identical_with_prepare_fit(monkeypatch, keras_as_it_is):
    """tfmot counts its pruning step in the graph, so one call per epoch prunes the same weights."""
    from model_builders import pruning

    _, keras = import_tf()
    x, y = _data()
    runs = []
    for fast in (False, True):
        keras_as_it_is(not fast)
        if not fast:
            monkeypatch.setattr(pruning, "prepare_fit", lambda *args, **kwargs: None)
        else:
            monkeypatch.undo()
        parent = _float_model(keras)
        seed_everything(5)
        pruned = pruning.prune(parent, x, y, initial_sparsity=0.3, final_sparsity=0.7, epochs=3, batch_size=BATCH,
                               learning_rate=5e-4, ramp_fraction=0.6, frequency=2)
        runs.append(_weights(pruned))
    for plain, fast in zip(*runs, strict=True):
        np.testing.assert_array_equal(plain, fast)
    assert pruning.kernel_sparsity(pruned) > 0.5


def test_the_training_step_is_traced_once():
    """A layer's Python code runs once per trace of the training step: once with
    prepare_fit over two epochs; at least twice with Keras's multi-step train function,
    where AutoGraph stages a throwaway step before the real one."""
    _, keras = import_tf()
    x, y = _data()
    traces = {"fast": 0, "keras": 0}

    for label in traces:
        def count(tensor, label=label):
            traces[label] += 1
            return tensor

        model = _float_model(keras, keras.layers.Lambda(count))
        traces[label] = 0  # building the model called the layer once
        if label == "fast":
            prepare_fit(model, len(x), BATCH)
        else:
            model._configure_steps_per_execution(-(-len(x) // BATCH))  # Keras's own multi-step function
        model.fit(x, y, epochs=2, batch_size=BATCH, verbose=0)
    assert traces["fast"] == 1
    assert traces["keras"] >= 2


@pytest.mark.parametrize("override", ["train_step", "compute_metrics"])
def test_a_model_with_its_own_training_step_keeps_keras_train_function(override):
    _, keras = import_tf()

    class Custom(keras.Sequential):
        pass

    setattr(Custom, override, lambda self, *args: getattr(keras.Sequential, override)(self, *args))
    model = Custom([keras.layers.Input((STEPS, CHANNELS)), keras.layers.Flatten(), keras.layers.Dense(CLASSES)])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    prepare_fit(model, SAMPLES, BATCH)
    assert model.train_function is None  # Keras makes its own at fit()
    x, y = _data()
    model.fit(x, y, epochs=1, batch_size=BATCH, verbose=0)
