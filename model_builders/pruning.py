"""Magnitude pruning with a polynomial schedule, then strip, and the sparsity reached."""
from __future__ import annotations

from typing import Any

import numpy as np

from model_builders.tf_runtime import import_tf, prepare_fit


def prune(float_model: Any, x: np.ndarray, y_onehot: np.ndarray, *, initial_sparsity: float, final_sparsity: float,
          epochs: int, batch_size: int, learning_rate: float, ramp_fraction: float, frequency: int) -> Any:
    """Fine-tune with prune_low_magnitude from initial to final sparsity; returns the stripped model.

    The schedule reaches its target after `ramp_fraction` of the steps, so the last epochs
    recover accuracy at the final sparsity.
    """
    _, keras = import_tf()
    import tensorflow_model_optimization as tfmot

    sparsity = tfmot.sparsity.keras
    steps_per_epoch = int(np.ceil(len(x) / batch_size))
    end_step = max(1, int(steps_per_epoch * epochs * ramp_fraction))
    schedule = sparsity.PolynomialDecay(initial_sparsity=initial_sparsity, final_sparsity=final_sparsity,
                                        begin_step=0, end_step=end_step, frequency=frequency)
    clone = keras.models.clone_model(float_model)
    clone.set_weights(float_model.get_weights())
    pruned = sparsity.prune_low_magnitude(clone, pruning_schedule=schedule)
    pruned.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="categorical_crossentropy",
                   metrics=["accuracy"])
    prepare_fit(pruned, len(x), batch_size)
    pruned.fit(x, y_onehot, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0,
               callbacks=[sparsity.UpdatePruningStep()])
    return sparsity.strip_pruning(pruned)


def kernel_sparsity(model: Any) -> float:
    """Fraction of exact zeros over all Conv and Dense kernels (biases excluded)."""
    zeros = total = 0
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is not None:
            values = kernel.numpy()
            zeros += int(np.sum(values == 0))
            total += values.size
    return zeros / total if total else 0.0
