"""The benchmark's yardstick: a plain script that trains and converts four variants, one after another.

`python -m benchmarks.sequential_pipeline --dataset DIR` does what a hand-written pipeline does in
one process: import TensorFlow once, load and split the data, train float32, then PTQ int8,
QAT int8 and pruning 70 % + int8, each converted to .tflite, in order. Same recipe code and
parameters as the harness, but no cache, no locks, no worker processes and no TFLM
evaluation. It prints the wall time; `python -m benchmarks.cold_build` runs it as its comparison.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

VARIANTS = ("float32", "ptq_int8", "qat_int8", "pruned70_int8")


def run(dataset: str | None, scratch: Path) -> dict[str, float]:
    """Seconds per step (tf_import, data, each variant) and the total."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    from model_builders.tf_runtime import import_tf

    import_tf()
    seconds["tf_import"] = time.perf_counter() - started
    from model_builders import recipes
    from model_builders.cache import ArtifactCache
    from model_builders.pipeline import BuildConfig, prepare_data
    from model_builders.representative import default_representative_indices
    from model_builders.variants import RECIPES, BuildContext

    mark = time.perf_counter()
    config = BuildConfig(dataset=dataset, cache_dir=scratch / "data")
    data = prepare_data(config, ArtifactCache(scratch / "data"))
    indices = default_representative_indices(data.split, data.dataset.y, config.seed)
    representative = data.normalization.apply(data.dataset.x[indices])
    seconds["data"] = time.perf_counter() - mark
    for name in VARIANTS:
        mark = time.perf_counter()
        recipe = RECIPES[name]
        out = scratch / name
        out.mkdir()
        ctx = BuildContext(recipe=recipe, seed=config.effective_training_seed, architecture=config.architecture,
                           x_train=data.x_train, y_train=data.y_train, x_val=data.x_val, y_val=data.y_val,
                           x_test=data.x_test, y_test=data.y_test, n_classes=len(data.class_names),
                           representative=representative,
                           parent_dir=scratch / recipe.parent if recipe.parent else None, out_dir=out,
                           log=lambda message: None)
        meta = getattr(recipes, recipe.function)(ctx)
        (out / "meta.json").write_text(json.dumps(meta, default=str))  # children read their parent's
        seconds[name] = time.perf_counter() - mark
    seconds["total"] = time.perf_counter() - started
    return seconds


def main(argv: list[str] | None = None) -> int:
    from benchmarks.plain_pipeline import script_main

    return script_main(argv, run, "benchmarks.sequential_pipeline", "sequential script")


if __name__ == "__main__":
    sys.exit(main())
