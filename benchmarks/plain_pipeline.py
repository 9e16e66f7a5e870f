"""The benchmark's yardstick: the four variants as a hand-written script builds them, public APIs only.

`python -m benchmarks.plain_pipeline --dataset DIR` is what an engineer writes without the
harness: import TensorFlow, load and split the data, `model.fit(..., validation_data=...)`
for float32, `TFLiteConverter.from_keras_model` for every conversion, then PTQ int8, QAT
int8 (tfmot's quantize_apply) and pruning 70 % + int8 (tfmot's prune_low_magnitude), one
after another in one process. Same architecture, data, split, epochs, batch sizes and
learning rates as the harness's recipes, none of the harness's speed-ups (one TensorFlow
call per epoch, validation only at logged epochs, conversion from the serving function),
no cache and no TFLM evaluation. Only the model definition, the data preparation and the
QAT annotation (tfmot cannot annotate Conv1D by itself: the engineer would write that
QuantizeConfig too) come from the harness. TensorFlow is set up for reproducibility with
public calls (determinism, one thread), not with the harness's speed-ups. `python -m
benchmarks.cold_build` runs it as the comparison; `benchmarks.sequential_pipeline` is the
same script with the harness's recipe code, which isolates the harness's own overhead.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

VARIANTS = ("float32", "ptq_int8", "qat_int8", "pruned70_int8")


def _int8(tf: Any, model: Any, representative: np.ndarray) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([sample[None]] for sample in representative)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    return converter.convert()


def run(dataset: str | None, scratch: Path) -> dict[str, float]:
    """Seconds per step (tf_import, data, each variant) and the total."""
    from model_builders.variants import RECIPES

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    from model_builders.tf_runtime import import_tf_reproducibly

    # determinism and one thread as the harness's builds, public calls only: not import_tf,
    # which also installs the harness's speed-ups (AutoGraph left out of tfmot, no tf.data
    # autotuning thread in fit)
    tf, keras = import_tf_reproducibly()
    import tensorflow_model_optimization as tfmot

    seconds["tf_import"] = time.perf_counter() - started
    from model_builders.architectures import get_architecture
    from model_builders.cache import ArtifactCache
    from model_builders.pipeline import BuildConfig, prepare_data
    from model_builders.qat import quantize_all_layers
    from model_builders.representative import default_representative_indices

    mark = time.perf_counter()
    config = BuildConfig(dataset=dataset, cache_dir=scratch / "data")
    data = prepare_data(config, ArtifactCache(scratch / "data"))
    indices = default_representative_indices(data.split, data.dataset.y, config.seed)
    representative = data.normalization.apply(data.dataset.x[indices]).astype(np.float32)
    n = len(data.class_names)
    y_train, y_val = keras.utils.to_categorical(data.y_train, n), keras.utils.to_categorical(data.y_val, n)
    seconds["data"] = time.perf_counter() - mark

    def timed(name: str, work: Any) -> None:
        mark = time.perf_counter()
        (scratch / f"{name}.tflite").write_bytes(work())
        seconds[name] = time.perf_counter() - mark

    keras.utils.set_random_seed(config.effective_training_seed)
    float_model = get_architecture(config.architecture)(data.x_train.shape[1:], n, keras)

    def float32() -> bytes:
        p = RECIPES["float32"].params
        float_model.fit(data.x_train, y_train, epochs=p["epochs"], batch_size=p["batch_size"], shuffle=True,
                        verbose=0, validation_data=(data.x_val, y_val))
        return tf.lite.TFLiteConverter.from_keras_model(float_model).convert()

    def qat_int8() -> bytes:
        p = RECIPES["qat_int8"].params
        model = quantize_all_layers(float_model)
        model.compile(optimizer=keras.optimizers.Adam(p["learning_rate"]), loss="categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(data.x_train, y_train, epochs=p["epochs"], batch_size=p["batch_size"], shuffle=True, verbose=0,
                  validation_data=(data.x_val, y_val))
        return _int8(tf, model, representative)

    def pruned70_int8() -> bytes:
        p = RECIPES["pruned70_int8"].params
        sparsity = tfmot.sparsity.keras
        steps = int(np.ceil(len(data.x_train) / p["batch_size"])) * p["epochs"]
        schedule = sparsity.PolynomialDecay(initial_sparsity=p["initial_sparsity"],
                                            final_sparsity=p["final_sparsity"], begin_step=0,
                                            end_step=max(1, int(steps * p["ramp_fraction"])), frequency=p["frequency"])
        clone = keras.models.clone_model(float_model)
        clone.set_weights(float_model.get_weights())
        model = sparsity.prune_low_magnitude(clone, pruning_schedule=schedule)
        model.compile(optimizer=keras.optimizers.Adam(p["learning_rate"]), loss="categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(data.x_train, y_train, epochs=p["epochs"], batch_size=p["batch_size"], shuffle=True, verbose=0,
                  callbacks=[sparsity.UpdatePruningStep()])
        return _int8(tf, sparsity.strip_pruning(model), representative)

    timed("float32", float32)
    timed("ptq_int8", lambda: _int8(tf, float_model, representative))
    timed("qat_int8", qat_int8)
    timed("pruned70_int8", pruned70_int8)
    seconds["total"] = time.perf_counter() - started
    return seconds


def script_main(argv: list[str] | None, run_script: Callable[[str | None, Path], dict[str, float]],
                module: str, label: str) -> int:
    """Command line of a comparison script: --dataset, a scratch directory, one printed line."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=f"{label}: seconds per step")
    parser.add_argument("--dataset", help="directory <root>/<class>/*.npy (default: the built-in gestures)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tinyml-script-") as scratch:
        seconds = run_script(args.dataset, Path(scratch))
    print(f"{label}: " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    return script_main(argv, run, "benchmarks.plain_pipeline", "plain script")


if __name__ == "__main__":
    sys.exit(main())
