"""Parallel builds: the same bytes as a sequential build, and a failing recipe fails alone.

Small configuration (few samples, one or two epochs) so that each build set takes seconds;
every build goes through fresh caches in tmp_path, never the project's cache.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from model_builders.cache import ArtifactCache
from model_builders.pipeline import BuildConfig, BuildFailed, build_variants, default_build_jobs
from tinyml_harness.plugin import OPTIONS

SMALL = {"float32": {"epochs": 2}, "qat_int8": {"epochs": 1}}
VARIANTS = ["ptq_int8", "ptq_int8_per_tensor", "qat_int8", "dynamic_range"]  # four children of float32
quiet = lambda message: None  # noqa: E731


def small_config(cache: Path, **changes) -> BuildConfig:
    return BuildConfig(variants=VARIANTS, cache_dir=cache, overrides=SMALL, synthetic_samples_per_class=20, **changes)


def artifact_contents(directory: Path) -> dict[str, bytes]:
    """Every file's bytes, except what records when and how fast it was built: meta.json's
    build_seconds and the save date Keras writes into model.keras's metadata.json."""
    contents = {}
    for path in sorted(directory.iterdir()):
        if path.name == "meta.json":
            meta = json.loads(path.read_text())
            meta.pop("build_seconds")
            contents[path.name] = json.dumps(meta, sort_keys=True).encode()
        elif path.suffix == ".keras":
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    data = archive.read(member)
                    if member == "metadata.json":
                        data = json.dumps({k: v for k, v in json.loads(data).items() if k != "date_saved"}).encode()
                    contents[f"{path.name}/{member}"] = data
        else:
            contents[path.name] = path.read_bytes()
    return contents


def test_parallel_build_is_byte_identical_to_sequential(tmp_path):
    sequential = build_variants(small_config(tmp_path / "seq"), progress=quiet, jobs=1)
    lines: list[str] = []
    parallel = build_variants(small_config(tmp_path / "par"), progress=lines.append, jobs=2)
    assert list(parallel.variants) == ["float32", *VARIANTS] == list(sequential.variants)
    for name, variant in sequential.variants.items():
        assert not variant.cache_hit and not parallel.variants[name].cache_hit
        assert parallel.variants[name].key == variant.key
        assert artifact_contents(parallel.variants[name].directory) == artifact_contents(variant.directory), name
    # one "started" and one "built in" line per variant, whatever else the recipes log
    for name in parallel.variants:
        assert sum(f"] {name}: started" in line for line in lines) == 1, lines
        assert sum(f"] {name}: built in" in line for line in lines) == 1, lines
    warm = build_variants(small_config(tmp_path / "par"), progress=lines.append, jobs=2)
    assert all(v.cache_hit for v in warm.variants.values())


def test_failing_recipe_fails_alone_and_the_others_are_kept(tmp_path):
    overrides = {**SMALL, "pruned50_int8": {"final_sparsity": 1.5, "epochs": 1}}  # tfmot refuses sparsity >= 1
    config = BuildConfig(variants=["ptq_int8", "pruned50_int8", "dynamic_range"], cache_dir=tmp_path,
                         overrides=overrides, synthetic_samples_per_class=20)
    lines: list[str] = []
    with pytest.raises(BuildFailed, match=r"pruned50_int8: ValueError: .*sparsity") as failed:
        build_variants(config, progress=lines.append, jobs=2)
    session = failed.value.session
    assert set(session.failures) == {"pruned50_int8"}
    assert list(session.variants) == ["float32", "ptq_int8", "dynamic_range"]
    assert "built and kept: float32, ptq_int8, dynamic_range" in str(failed.value)
    assert any("pruned50_int8: FAILED: ValueError" in line for line in lines), lines
    cache = ArtifactCache(tmp_path)
    assert all(cache.lookup(v.key) == v.directory for v in session.variants.values())  # kept in the cache
    assert not list(tmp_path.glob(".tmp-*"))  # the failed build left nothing half-written
    again = build_variants(config, progress=quiet, jobs=2, keep_going=True)  # only the failed one is retried
    assert {n: v.cache_hit for n, v in again.variants.items()} == {"float32": True, "ptq_int8": True,
                                                                   "dynamic_range": True}
    assert set(again.failures) == {"pruned50_int8"}


def test_children_of_a_failed_parent_are_reported_not_built(tmp_path):
    config = BuildConfig(variants=["ptq_int8"], cache_dir=tmp_path, overrides={"float32": {"epochs": 2}},
                         synthetic_samples_per_class=20, architecture="reference_cnn")
    config.overrides["float32"]["batch_size"] = 0  # Keras refuses a batch size of 0
    with pytest.raises(BuildFailed) as failed:
        build_variants(config, progress=quiet, jobs=2)
    assert set(failed.value.session.failures) == {"float32", "ptq_int8"}
    assert failed.value.session.failures["ptq_int8"] == "not built: its parent float32 failed"


@pytest.mark.parametrize("value, message", [("0", "must be at least 1, got 0"), ("two", "'two' is not an integer")])
def test_bad_build_jobs_is_a_usage_error(value, message):
    parse_build_jobs = next(o.kind for o in OPTIONS if o.flag == "--build-jobs")
    with pytest.raises(pytest.UsageError, match=f"--build-jobs: {message}"):
        parse_build_jobs(value)
    assert parse_build_jobs("3") == 3


def test_default_build_jobs_shares_the_cores_among_xdist_workers(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    assert default_build_jobs() == 4
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    assert default_build_jobs() == 2
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "8")
    assert default_build_jobs() == 1
