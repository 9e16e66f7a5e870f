"""From a dataset to every built variant: split, normalize, build through the cache.

Nothing here imports TensorFlow: recipes are imported only when a cache miss needs them,
so a warm run with nothing to build stays TensorFlow-free.
"""
from __future__ import annotations

import ast
import csv
import gzip
import hashlib
import importlib.metadata
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model_builders.architectures import architecture_source, get_architecture
from model_builders.cache import DEFAULT_CACHE_DIR, ArtifactCache, cache_key
from model_builders.datasets import Dataset, DatasetError, load_directory, synthetic_gestures
from model_builders.normalization import Normalization
from model_builders.platform_info import training_platform
from model_builders.representative import check_representative_indices, default_representative_indices
from model_builders.splits import DEFAULT_FRACTIONS, Split, stratified_split
from model_builders.variants import PACKAGE_DIR, RECIPES, Recipe, resolve_variants, with_overrides
from vocabulary.metrics import GZIP_BYTES, MODEL_BYTES
from vocabulary.records import BUILD_LIBRARIES

LIBRARIES = BUILD_LIBRARIES  # their versions are part of every build key (vocabulary.records.LIBRARIES)
BUILDS_CSV_COLUMNS = ("variant", MODEL_BYTES.name, GZIP_BYTES.name, "sparsity", "keras_accuracy", "seconds",
                      "cache_hit", "deployable", "int8_io", "key")


@dataclass
class BuildConfig:
    dataset: str | None = None  # None: built-in synthetic gestures; "basicmotions"; or a directory
    window: int | None = None
    variants: list[str] | None = None  # None: all
    seed: int = 7  # data: the synthetic gestures, the split, the representative samples
    training_seed: int | None = None  # weights init and shuffling; None: the same as seed
    split_fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    architecture: str = "reference_cnn"
    rebuild: bool = False
    cache_dir: Path = DEFAULT_CACHE_DIR
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # recipe -> params (tests, experiments)
    synthetic_samples_per_class: int = 250
    representative_indices: list[int] | None = None  # custom set (indices into the dataset); checked


    @property
    def effective_training_seed(self) -> int:
        """Retraining with another training seed on the same data and split is how a test
        stands in for another machine's CPU (other float bits, same samples)."""
        return self.seed if self.training_seed is None else self.training_seed


@dataclass(frozen=True)
class PreparedData:
    dataset: Dataset
    split: Split
    normalization: Normalization
    key: str  # cache key of the data artifact (split + normalization)
    directory: Path
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.dataset.class_names

    @property
    def fingerprint(self) -> str:
        return json.loads((self.directory / "meta.json").read_text())["dataset_fingerprint"]

    @property
    def test_split_fingerprint(self) -> str:
        """Which samples accuracy is computed on: baselines pair runs on the same ones."""
        return hashlib.sha256(json.dumps(list(self.split.test)).encode()).hexdigest()


@dataclass(frozen=True)
class BuiltVariant:
    name: str
    recipe: Recipe
    key: str
    directory: Path
    metadata: dict[str, Any]
    cache_hit: bool
    seconds: float

    @property
    def tflite_path(self) -> Path:
        return self.directory / "model.tflite"

    @property
    def tflite_bytes(self) -> bytes:
        return self.tflite_path.read_bytes()

    @property
    def deployable(self) -> bool:
        return self.recipe.deployable

    @property
    def gzip_bytes(self) -> int:
        return len(gzip.compress(self.tflite_bytes, compresslevel=9, mtime=0))


@dataclass(frozen=True)
class BuildSession:
    data: PreparedData
    variants: dict[str, BuiltVariant]
    failures: dict[str, str] = field(default_factory=dict)  # variant -> error (those not in `variants`)
    architecture: str = "reference_cnn"

    def provenance(self, name: str) -> dict[str, Any]:
        """What a variant's figures depend on, for its result records and the baseline key."""
        variant = self.variants[name]
        return {"dataset_fingerprint": self.data.fingerprint, "test_split": self.data.test_split_fingerprint,
                "architecture": self.architecture,
                "architecture_hash": hashlib.sha256(architecture_source(self.architecture).encode()).hexdigest(),
                "build_key": variant.key, "training_platform": variant.metadata.get("training_platform")}


def library_versions() -> dict[str, str]:
    """Versions from package metadata, without importing the libraries."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


#: The --dataset name of the UEA BasicMotions set a registry package ships (model_builders.basicmotions).
BASIC_MOTIONS = "basicmotions"


def load_dataset(config: BuildConfig) -> Dataset:
    if config.dataset is None:
        return synthetic_gestures(seed=config.seed, samples_per_class=config.synthetic_samples_per_class)
    if config.dataset == BASIC_MOTIONS:
        from model_builders.basicmotions import load_basic_motions

        return load_basic_motions()
    return load_directory(config.dataset, window=config.window)


def _data_material(config: BuildConfig, dataset: Dataset) -> tuple[Split, str, dict[str, Any]]:
    """The split, the dataset fingerprint and the data artifact's key material."""
    if config.window is not None and config.window != dataset.window:
        raise DatasetError(f"dataset {dataset.source}: window {dataset.window} but --window {config.window}")
    split = stratified_split(dataset, seed=config.seed, fractions=config.split_fractions)
    fingerprint = dataset.fingerprint()
    material = {"kind": "data", "dataset": fingerprint, "window": dataset.window,
                "split_seed": config.seed, "fractions": list(config.split_fractions)}
    return split, fingerprint, material


def prepare_data(config: BuildConfig, cache: ArtifactCache | None = None) -> PreparedData:
    """Load, split and normalize; the split and the range are stored as a cache artifact."""
    cache = cache or ArtifactCache(config.cache_dir)
    dataset = load_dataset(config)
    split, fingerprint, material = _data_material(config, dataset)
    key = cache_key(material)

    def build(out: Path) -> dict:
        normalization = Normalization.fit(dataset.x[list(split.train)])
        (out / "split.json").write_text(split.to_json())
        (out / "normalization.json").write_text(normalization.to_json())
        (out / "normalization.h").write_text(normalization.to_c_header())
        return {"dataset_fingerprint": fingerprint, "source": dataset.source,
                "class_names": list(dataset.class_names), "window": dataset.window, "channels": dataset.channels}

    directory, _ = cache.get_or_build(key, material, build)
    normalization = Normalization.from_json((directory / "normalization.json").read_text())
    stored_split = Split.from_json((directory / "split.json").read_text())
    x = normalization.apply(dataset.x)

    def part(indices: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        return x[list(indices)], dataset.y[list(indices)]

    return PreparedData(dataset, stored_split, normalization, key, directory,
                        *part(stored_split.train), *part(stored_split.val), *part(stored_split.test))


def _function_source(module_file: Path, function: str) -> str:
    source = module_file.read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            return ast.get_source_segment(source, node) or ""
    raise KeyError(f"{module_file} has no function {function}")


def _code_hash(recipe: Recipe, architecture: str) -> str:
    digest = hashlib.sha256(_function_source(PACKAGE_DIR / "recipes.py", recipe.function).encode())
    for helper in sorted(recipe.helpers):
        digest.update((PACKAGE_DIR / helper).read_bytes())
    if recipe.parent is None:
        digest.update(architecture_source(architecture).encode())
    return digest.hexdigest()


class BuildFailed(RuntimeError):
    """Some variants could not be built. The others were built and kept (in the cache and
    in `session`); the message names each failed variant with its error."""

    def __init__(self, session: BuildSession):
        self.session = session
        lines = [f"{name}: {error}" for name, error in session.failures.items()]
        kept = ", ".join(session.variants) or "nothing"
        super().__init__(f"{len(lines)} variant(s) failed to build:\n  " + "\n  ".join(lines)
                         + f"\nbuilt and kept: {kept}")


def default_build_jobs() -> int:
    """The cores this process may use, shared among pytest-xdist workers (each runs its own
    build session; the per-key locks keep them from building anything twice)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    xdist_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    return max(1, cores // max(1, xdist_workers))


def _variant_material(recipe: Recipe, parent_key: str | None, config: BuildConfig, data_key: str,
                      versions: dict[str, str], rep_indices: list[int]) -> dict[str, Any]:
    return {"kind": "variant", "recipe": recipe.name, "function": recipe.function, "params": recipe.params,
            "code": _code_hash(recipe, config.architecture), "parent": parent_key,
            "data": data_key, "architecture": config.architecture, "seed": config.effective_training_seed,
            "libraries": versions,
            "representative": hashlib.sha256(np.asarray(rep_indices).tobytes()).hexdigest()}


def _representative_indices(config: BuildConfig, split: Split, dataset: Dataset) -> list[int]:
    indices = config.representative_indices
    if indices is None:
        indices = default_representative_indices(split, dataset.y, config.seed)
    check_representative_indices(indices, split, dataset.y, dataset.class_names)
    return indices


def _variant_keys(config: BuildConfig, data_key: str, versions: dict[str, str], rep_indices: list[int]
                  ) -> tuple[list[str], dict[str, Recipe], dict[str, dict], dict[str, str]]:
    """(variant names in build order, their recipes, key materials, keys)."""
    names = resolve_variants(config.variants)
    recipes = {name: with_overrides(RECIPES[name], config.overrides.get(name)) for name in names}
    keys: dict[str, str] = {}
    materials: dict[str, dict] = {}
    for name in names:  # parents come first in `names`, so every key is known before anything is built
        recipe = recipes[name]
        materials[name] = _variant_material(recipe, keys[recipe.parent] if recipe.parent else None, config, data_key,
                                            versions, rep_indices)
        keys[name] = cache_key(materials[name])
    return names, recipes, materials, keys


def needs_build(config: BuildConfig) -> bool:
    """Whether build_variants(config) would build anything (a cache miss), found without
    writing to the cache or importing TensorFlow: the same keys, from the same data (the
    stored split when the data artifact exists; otherwise the split it would store, which
    is computed the same way). Lets a caller start the build workers' TensorFlow import
    early (model_builders.scheduler.start_server) only when there will be something to build."""
    if config.rebuild or not Path(config.cache_dir).is_dir():
        if config.dataset not in (None, BASIC_MOTIONS):
            load_dataset(config)  # the user's files, read anyway: a bad one is a DatasetError now, cold or warm
        return True  # (and no cache directory is created for a run that may not build)
    cache = ArtifactCache(config.cache_dir)
    dataset = load_dataset(config)
    split, _, material = _data_material(config, dataset)
    data_key = cache_key(material)
    directory = cache.lookup(data_key)
    if directory is not None:
        split = Split.from_json((directory / "split.json").read_text())
    _, _, _, keys = _variant_keys(config, data_key, library_versions(), _representative_indices(config, split, dataset))
    return any(cache.lookup(key) is None for key in keys.values())


def build_variants(config: BuildConfig, progress: Callable[[str], None] = print, *, jobs: int | None = None,
                   keep_going: bool = False, after_build: str | None = None,
                   on_built: Callable[[BuiltVariant, PreparedData], None] | None = None) -> BuildSession:
    """Build (or fetch from the cache) every requested variant and its parents.

    Cache hits are resolved here without TensorFlow; what is missing is built by
    model_builders.scheduler on `jobs` worker processes (default: default_build_jobs()),
    each build in a fresh process, so the bytes do not depend on `jobs` or on the order.
    A failed variant does not stop the others: BuildFailed is raised at the end with the
    session of what was built (or, with keep_going=True, the session is returned with
    `failures` filled in). `after_build` ("module:function", called in the worker as
    fn(tflite_bytes, x_test, cache_dir) after each fresh build) lets a caller do work that
    needs TensorFlow where it is already loaded; its failure never fails the build.
    `on_built(variant, data)` is called in this process as each variant becomes available
    (cache hit or fresh build), while the others may still be building: a caller can start
    using it at once (the host gate evaluates it on TFLite Micro meanwhile).
    """
    from model_builders.build_worker import BuildTask
    from model_builders.scheduler import run_builds

    jobs = default_build_jobs() if jobs is None else jobs
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    cache = ArtifactCache(config.cache_dir)
    data = prepare_data(config, cache)
    rep_indices = _representative_indices(config, data.split, data.dataset)
    representative = data.normalization.apply(data.dataset.x[rep_indices])
    versions = library_versions()
    names, recipes, materials, keys = _variant_keys(config, data.key, versions, rep_indices)
    labels = {name: f"[{position}/{len(names)}] {name}" for position, name in enumerate(names, 1)}

    built: dict[str, BuiltVariant] = {}

    def install(name: str, directory: Path, hit: bool, seconds: float) -> None:
        meta = json.loads((directory / "meta.json").read_text())
        built[name] = BuiltVariant(name, recipes[name], keys[name], directory, meta, hit, seconds)
        progress(f"{labels[name]}: {'cache hit' if hit else f'built in {seconds:.1f} s'} ({keys[name][:12]})")
        if on_built is not None:
            on_built(built[name], data)

    missing = []
    for name in names:
        directory = None if config.rebuild else cache.lookup(keys[name])
        if directory is not None:
            install(name, directory, True, 0.0)
        else:
            missing.append(name)
    failures: dict[str, str] = {}
    if missing:
        arrays = {"x_train": data.x_train, "y_train": data.y_train, "x_val": data.x_val, "y_val": data.y_val,
                  "x_test": data.x_test, "y_test": data.y_test, "representative": representative}
        extra_meta = {"libraries": versions, "dataset_fingerprint": data.fingerprint, "data_key": data.key,
                      "training_platform": training_platform()}
        builder = get_architecture(config.architecture) if any(recipes[n].parent is None for n in missing) else None

        def parent_dir(name: str) -> Path | None:  # None: no parent, or the scheduler passes the one it builds
            parent = recipes[name].parent
            return built[parent].directory if parent is not None and parent in built else None

        tasks = [BuildTask(name=name, recipe=recipes[name], key=keys[name], material=materials[name],
                           cache_dir=Path(config.cache_dir), rebuild=config.rebuild,
                           seed=config.effective_training_seed, architecture=config.architecture,
                           architecture_builder=builder, arrays=arrays, n_classes=len(data.class_names),
                           parent_dir=parent_dir(name), extra_meta=extra_meta, label=labels[name],
                           after_build=after_build)
                 for name in missing]
        parents = {name: recipes[name].parent if recipes[name].parent in missing else None for name in missing}
        progress(f"building {len(missing)} variant(s) on {min(jobs, len(missing))} worker process(es): "
                 f"{', '.join(missing)}")

        def done(result) -> None:
            if result.ok:
                install(result.name, result.directory, result.hit, result.seconds)
            else:
                failures[result.name] = result.error
                progress(f"{labels[result.name]}: FAILED: {result.error}")

        run_builds(tasks, parents, jobs, progress, on_done=done)
    session = BuildSession(data, {name: built[name] for name in names if name in built}, failures,
                           config.architecture)
    if failures and not keep_going:
        raise BuildFailed(session)
    return session


def build_rows(session: BuildSession) -> list[dict[str, Any]]:
    rows = []
    for variant in session.variants.values():
        rows.append({"variant": variant.name, MODEL_BYTES.name: variant.tflite_path.stat().st_size,
                     GZIP_BYTES.name: variant.gzip_bytes, "sparsity": round(variant.metadata.get("sparsity", 0.0), 4),
                     "keras_accuracy": round(variant.metadata["keras_accuracy"], 2),
                     "seconds": round(variant.seconds, 2),
                     "cache_hit": variant.cache_hit, "deployable": variant.deployable,
                     "int8_io": variant.recipe.int8_io, "key": variant.key[:16]})
    return rows


def write_builds_csv(session: BuildSession, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # xdist workers write it too
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=BUILDS_CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(build_rows(session))
    tmp.replace(path)
    return path
