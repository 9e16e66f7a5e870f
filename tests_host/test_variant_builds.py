"""Built variants: promised int8 I/O, sparsity reached, QAT coverage, determinism, partial rebuilds."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from model_builders.pipeline import BuildConfig, build_variants
from model_builders.tf_runtime import import_tf
from model_builders.variants import RECIPES, UnknownVariantError, resolve_variants

ROOT = Path(__file__).resolve().parent.parent
TINY = {"float32": {"epochs": 2}, "qat_int8": {"epochs": 1}}  # fast recipes for cache behaviour tests


def io_types(model_bytes: bytes) -> tuple[str, str]:
    tf, _ = import_tf()
    interpreter = tf.lite.Interpreter(model_content=model_bytes)
    return (np.dtype(interpreter.get_input_details()[0]["dtype"]).name,
            np.dtype(interpreter.get_output_details()[0]["dtype"]).name)


def test_every_variant_is_built_with_the_io_types_it_promises(built_variants):
    for name, variant in built_variants.items():
        expected = ("int8", "int8") if variant.recipe.int8_io else ("float32", "float32")
        assert io_types(variant.tflite_bytes) == expected, name



def test_the_dynamic_range_variant_is_hybrid(built_variants):
    """Why it is not deployable: int8 weights behind float32 activations (hybrid kernels,
    which TFLite Micro does not have)."""
    if "dynamic_range" not in built_variants:
        pytest.skip("dynamic_range not selected (--variants)")
    tf, _ = import_tf()
    interpreter = tf.lite.Interpreter(model_content=built_variants["dynamic_range"].tflite_bytes)
    dtypes = {np.dtype(d["dtype"]).name for d in interpreter.get_tensor_details()}
    assert {"int8", "float32"} <= dtypes, dtypes
    assert not built_variants["dynamic_range"].deployable


def test_pruned_variants_reach_their_target_sparsity(built_variants):
    pruned = [v for v in built_variants.values() if v.recipe.function == "build_pruned"]
    for variant in pruned:
        reached, target = variant.metadata["sparsity"], variant.metadata["target_sparsity"]
        assert abs(reached - target) <= 0.02, f"{variant.name}: sparsity {reached:.3f} vs target {target}"
    gzipped = [v.gzip_bytes for v in sorted(pruned, key=lambda v: v.metadata["target_sparsity"])]
    assert gzipped == sorted(gzipped, reverse=True)  # more zeros, smaller download


def test_qat_quantizes_every_conv1d_and_dense(built_variants):
    if "qat_int8" not in built_variants:
        pytest.skip("qat_int8 not selected (--variants)")
    covered = built_variants["qat_int8"].metadata["quantized_layers"]
    assert covered == {"conv1": True, "conv2": True, "dense1": True, "output": True}
    tf, _ = import_tf()
    interpreter = tf.lite.Interpreter(model_content=built_variants["qat_int8"].tflite_bytes,
                                      experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF)
    ops = interpreter._get_ops_details()
    weighted = [op for op in ops if op["op_name"] in ("CONV_2D", "FULLY_CONNECTED")]
    assert len(weighted) == 4
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    for op in weighted:
        weights = details[op["inputs"][1]]
        assert np.dtype(weights["dtype"]).name == "int8", op["op_name"]
    assert not [op for op in ops if op["op_name"] == "DEQUANTIZE"]


def test_unknown_variant_is_a_clear_error():
    with pytest.raises(UnknownVariantError, match="unknown variant.*ptq_int9.*known: float32"):
        resolve_variants(["ptq_int9"])
    assert resolve_variants(["qat_int8"]) == ["float32", "qat_int8"]
    assert resolve_variants(None) == list(RECIPES)


BUILD_SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {root!r})
    from pathlib import Path
    from model_builders.pipeline import BuildConfig, build_variants
    session = build_variants(BuildConfig(variants={variants!r}, cache_dir=Path({cache!r}), overrides={overrides!r},
                                         synthetic_samples_per_class=20), progress=lambda m: None)
    print(json.dumps({{"hits": {{n: v.cache_hit for n, v in session.variants.items()}},
                      "tflite": {{n: v.tflite_bytes.hex() for n, v in session.variants.items()}},
                      "tensorflow_imported": "tensorflow" in sys.modules}}))
""")


def run_build(cache: Path, variants: list[str], overrides: dict) -> subprocess.Popen:
    script = BUILD_SCRIPT.format(root=str(ROOT), variants=variants, cache=str(cache), overrides=overrides)
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def two_cold_builds(tmp_path_factory):
    """The same small build in two fresh caches, in two processes at once."""
    caches = [tmp_path_factory.mktemp(f"cache{i}") for i in range(2)]
    procs = [run_build(c, ["ptq_int8"], TINY) for c in caches]
    return caches, [result(p) for p in procs]


def test_training_is_deterministic_across_processes(two_cold_builds):
    _, (first, second) = two_cold_builds
    assert first["hits"] == {"float32": False, "ptq_int8": False}
    assert first["tflite"] == second["tflite"]  # same seed: same weights, same bytes


def test_warm_run_hits_everything_without_importing_tensorflow(two_cold_builds):
    caches, _ = two_cold_builds
    warm = result(run_build(caches[0], ["ptq_int8"], TINY))
    assert warm["hits"] == {"float32": True, "ptq_int8": True}
    assert warm["tensorflow_imported"] is False


def test_changing_one_recipe_rebuilds_only_it_and_its_dependents(two_cold_builds):
    caches, _ = two_cold_builds
    config = dict(variants=["ptq_int8", "qat_int8"], cache_dir=caches[1], synthetic_samples_per_class=20)
    quiet = lambda message: None  # noqa: E731
    first = build_variants(BuildConfig(overrides=TINY, **config), progress=quiet)
    assert {n: v.cache_hit for n, v in first.variants.items()} == {"float32": True, "ptq_int8": True, "qat_int8": False}
    qat_changed = build_variants(BuildConfig(overrides={**TINY, "qat_int8": {"epochs": 2}}, **config), progress=quiet)
    assert {n: v.cache_hit for n, v in qat_changed.variants.items()} == {"float32": True, "ptq_int8": True,
                                                                          "qat_int8": False}
    parent_changed = build_variants(BuildConfig(overrides={**TINY, "float32": {"epochs": 3}}, **config), progress=quiet)
    assert not any(v.cache_hit for v in parent_changed.variants.values())
    forced = build_variants(BuildConfig(overrides=TINY, rebuild=True, **config), progress=quiet)
    assert not any(v.cache_hit for v in forced.variants.values())
    assert forced.variants["ptq_int8"].tflite_bytes == first.variants["ptq_int8"].tflite_bytes
