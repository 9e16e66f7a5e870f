"""One variant build, as a picklable task, run in a build worker process.

A task carries everything the recipe needs (data arrays, its parent's directory, the key
and key material), so the worker shares nothing with the parent but the cache directory.
It builds through ArtifactCache.get_or_build, so the per-key file lock and the atomic
install are the same whether the build runs here or in another pytest-xdist worker.
Errors come back as text (a TensorFlow exception may not pickle); a worker never raises.
Importing this module imports no TensorFlow: the parent imports it to name `run_task`.
"""
from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model_builders import timing
from model_builders.cache import ArtifactBusy, ArtifactCache
from model_builders.variants import BuildContext, Recipe

_queue: Any = None  # the parent's progress queue, set by init_worker


@dataclass(kw_only=True)
class BuildTask:
    name: str
    recipe: Recipe
    key: str
    material: dict[str, Any]
    cache_dir: Path
    rebuild: bool
    seed: int
    architecture: str
    architecture_builder: Callable | None  # sent along: a worker has not imported the user's conftest.py
    arrays: dict[str, np.ndarray]  # x_train, y_train, x_val, y_val, x_test, y_test, representative
    n_classes: int
    parent_dir: Path | None
    extra_meta: dict[str, Any]  # libraries, dataset fingerprint, data key: written into meta.json
    label: str  # "[3/8] qat_int8", the progress prefix
    wait_for_lock: bool = True  # False: report "busy" at once if another process holds the key's lock
    after_build: str | None = None  # "module:function"(tflite_bytes, x_test, cache_dir), see build_variants


@dataclass
class TaskResult:
    name: str
    ok: bool = False
    busy: bool = False  # another process is building this key; retry later
    hit: bool = False
    directory: Path | None = None
    seconds: float = 0.0
    error: str = ""
    details: str = ""  # the worker's traceback
    pid: int = 0
    phases: dict[str, float] = field(default_factory=dict)


def init_worker(queue: Any) -> None:
    """Pool initializer: remember the progress queue and configure TensorFlow (threads,
    determinism) before this process runs its first op."""
    global _queue
    _queue = queue
    from model_builders.tf_runtime import import_tf

    with timing.phase("worker_init"):
        import_tf()


def _send(label: str, message: str) -> None:
    if _queue is not None:
        _queue.put((label, message))


def run_task(task: BuildTask) -> TaskResult:
    import os

    result = TaskResult(task.name, pid=os.getpid())
    started = time.perf_counter()
    timing.set_variant(task.name)
    try:
        if task.architecture_builder is not None:
            from model_builders.architectures import _REGISTRY

            _REGISTRY.setdefault(task.architecture, task.architecture_builder)
        cache = ArtifactCache(task.cache_dir)
        directory, hit = cache.get_or_build(task.key, task.material, lambda out: _build(task, out),
                                            rebuild=task.rebuild, wait=task.wait_for_lock)
        result.ok, result.hit, result.directory = True, hit, directory
        if task.after_build and not hit:
            _after_build(task, task.after_build, directory)
    except ArtifactBusy:
        result.busy = True
    except BaseException as exc:  # noqa: BLE001 -- reported per variant by the parent
        result.error = f"{type(exc).__name__}: {exc}"
        result.details = traceback.format_exc()
    finally:
        timing.set_variant(None)
    result.seconds = time.perf_counter() - started
    return result


def _after_build(task: BuildTask, hook_name: str, directory: Path) -> None:
    """The caller's hook, with TensorFlow already imported here; an optimisation only, so a
    failure is reported as a progress line and the build stands."""
    import importlib

    module, _, function = hook_name.partition(":")
    try:
        hook = getattr(importlib.import_module(module), function)
        hook((directory / "model.tflite").read_bytes(), task.arrays["x_test"], task.cache_dir)
    except Exception as exc:  # noqa: BLE001 -- never fails the build
        _send(task.label, f"after-build step {task.after_build} failed (the run computes it later): {exc}")


def _build(task: BuildTask, out: Path) -> dict:
    from model_builders import recipes

    log = lambda message: _send(task.label, message)  # noqa: E731
    log(f"started ({task.recipe.description})")
    a = task.arrays
    ctx = BuildContext(recipe=task.recipe, seed=task.seed, architecture=task.architecture,
                       x_train=a["x_train"], y_train=a["y_train"], x_val=a["x_val"], y_val=a["y_val"],
                       x_test=a["x_test"], y_test=a["y_test"], n_classes=task.n_classes,
                       representative=a["representative"], parent_dir=task.parent_dir, out_dir=out, log=log)
    started = time.perf_counter()
    with timing.phase("build"):
        meta = getattr(recipes, task.recipe.function)(ctx)
    return {**meta, "variant": task.recipe.name, "build_seconds": time.perf_counter() - started,
            "deployable": task.recipe.deployable, "int8_io": task.recipe.int8_io, **task.extra_meta}
