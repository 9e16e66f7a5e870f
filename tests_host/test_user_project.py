"""examples/user_project, as a user's repository: copied outside the checkout and run with
the installed harness (its pytest11 plugin), its own data, architecture, budgets and
baseline. It passes; then a "harmless" edit to its model fails the gate, naming the variant
and the metric."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "user_project"

pytestmark = pytest.mark.slow


def run_pytest(project: Path, *args: str, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TINYML_CACHE_DIR": str(cache)}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-m", "host", "-q", "-p", "no:cacheprovider", *args],
                          cwd=project, env=env, capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("elsewhere") / "wrist-gestures"
    shutil.copytree(EXAMPLE, where, ignore=shutil.ignore_patterns(".cache", "latest", "__pycache__"))
    return where


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return Path(os.environ.get("TINYML_CACHE_DIR") or tmp_path_factory.mktemp("cache"))


def test_the_example_project_passes_its_own_gate_from_outside_the_checkout(project, cache):
    assert not project.resolve().is_relative_to(EXAMPLE.parents[1])
    done = run_pytest(project, cache=cache)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "21 passed" in done.stdout  # 3 variants, and each on 6 targets
    assert f"vs baseline {project / 'reports' / 'baseline.json'}" in done.stdout
    assert "regressed" not in done.stdout.split("TinyML harness report")[-1]
    assert (project / "reports" / "latest" / "summary.md").exists()


def test_a_bigger_dense_layer_in_the_users_model_fails_the_gate_by_name(project, cache):
    models = project / "wrist_models.py"
    models.write_text(models.read_text().replace("layers.Dense(16, activation=\"relu\")",
                                                 "layers.Dense(48, activation=\"relu\")"))
    done = run_pytest(project, cache=cache)
    assert done.returncode == 1, done.stdout[-4000:]
    assert "FAILED tests/test_tinyml_gate.py::test_variant[ptq_int8]" in done.stdout
    assert "regression: model_bytes" in done.stdout and "regression: macs" in done.stdout
    assert "budget: model_bytes" in done.stdout  # 3x the dense weights: past its 12 KiB budget too


def test_a_dataset_that_does_not_exist_is_one_clear_usage_error(project, cache):
    done = run_pytest(project, "--dataset", str(project / "no-such-data"), cache=cache)
    assert done.returncode == 4  # pytest's usage error
    assert f"--dataset: {project / 'no-such-data'} does not exist or is not a directory" in done.stderr
