"""Variant recipes: named, parametrized ways to make a model. The names are public interface.

This module holds only the recipe table (no TensorFlow). The code each recipe runs lives
in model_builders.recipes, named by `function`; its source, the helper modules it uses,
its parameters and its parent's key make up its cache key, so editing one recipe rebuilds
only it and the variants made from it.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Recipe:
    name: str
    function: str  # in model_builders.recipes
    parent: str | None
    params: dict[str, Any] = field(default_factory=dict)
    helpers: tuple[str, ...] = ()  # module files (in model_builders/) whose source is part of the key
    int8_io: bool = False
    deployable: bool = True  # False: TFLite Micro cannot run it (built, sized, evaluated with TFLite)
    description: str = ""


_INT8 = ("conversion.py", "tf_runtime.py")
RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        Recipe("float32", "build_float32", None, {"epochs": 80, "batch_size": 16},
               ("conversion.py", "tf_runtime.py", "architectures.py"),
               description="reference training, exported as float32 .tflite"),
        Recipe("ptq_int8", "build_ptq", "float32", {"per_channel": True}, _INT8, int8_io=True,
               description="full-integer post-training quantization, per-channel weights"),
        Recipe("ptq_int8_per_tensor", "build_ptq", "float32", {"per_channel": False}, _INT8, int8_io=True,
               description="full-integer post-training quantization, per-tensor weights"),
        Recipe("qat_int8", "build_qat", "float32", {"epochs": 30, "batch_size": 16, "learning_rate": 1e-4},
               _INT8 + ("qat.py",), int8_io=True,
               description="quantization-aware fine-tuning of every Conv1D and Dense, full int8"),
        *[
            Recipe(f"pruned{pct}_int8", "build_pruned", "float32",
                   {"initial_sparsity": 0.30, "final_sparsity": pct / 100, "epochs": 24, "batch_size": 16,
                    "learning_rate": 5e-4, "ramp_fraction": 0.6, "frequency": 10},
                   _INT8 + ("pruning.py",), int8_io=True,
                   description=f"magnitude pruning 30% -> {pct}% (polynomial decay), strip, full int8")
            for pct in (50, 70, 90)
        ],
        Recipe("dynamic_range", "build_dynamic_range", "float32", {}, _INT8, deployable=False,
               description="weights-only int8 (hybrid); not deployable: TFLite Micro cannot run it"),
    ]
}


class UnknownVariantError(ValueError):
    pass


def resolve_variants(names: list[str] | None) -> list[str]:
    """The requested variants plus their parents, in build order. float32 is always built:
    accuracy drop is defined against it."""
    requested = list(RECIPES) if not names else names
    unknown = [n for n in requested if n not in RECIPES]
    if unknown:
        raise UnknownVariantError(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(RECIPES)}")
    wanted = {"float32", *requested}
    for name in list(wanted):
        parent = RECIPES[name].parent
        while parent:
            wanted.add(parent)
            parent = RECIPES[parent].parent
    return [n for n in RECIPES if n in wanted]


def with_overrides(recipe: Recipe, overrides: dict[str, Any] | None) -> Recipe:
    if not overrides:
        return recipe
    unknown = set(overrides) - set(recipe.params)
    if unknown:
        raise UnknownVariantError(f"variant {recipe.name}: unknown parameter(s) {sorted(unknown)}; "
                                  f"has {sorted(recipe.params)}")
    return dataclasses.replace(recipe, params={**recipe.params, **overrides})


@dataclass(kw_only=True)
class BuildContext:
    """What a recipe function gets: data, its parent artifact, and a directory to write into."""

    recipe: Recipe
    seed: int
    architecture: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray  # only to report keras_accuracy after the fact; never trained on
    y_test: np.ndarray
    n_classes: int
    representative: np.ndarray
    parent_dir: Path | None
    out_dir: Path
    log: Callable[[str], None]

    @property
    def params(self) -> dict[str, Any]:
        return self.recipe.params

    @property
    def parent(self) -> Path:
        """The parent's artifact directory (the scheduler sets it for every recipe with a parent)."""
        if self.parent_dir is None:
            raise ValueError(f"variant {self.recipe.name}: no parent artifact (recipe parent {self.recipe.parent!r})")
        return self.parent_dir
