"""The installed plugin: every option is known before any conftest is read, bad values are
one usage error naming the option, and paths work from anywhere in both spellings.

The nested runs collect or stop at startup, so they import no TensorFlow: they run in this
process (the inprocess_pytest fixture, tests_host/conftest.py)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("args, message", [
    (["--variants", "ptq_int9"], "--variants: unknown variant(s) ptq_int9; known: float32"),
    (["--window", "0"], "--window: must be at least 1, got 0"),
    (["--training-seed", "x"], "--training-seed: 'x' is not an integer"),
    (["--recipe-param", "qat_int8.epochs"], "--recipe-param 'qat_int8.epochs': expected variant.param=value"),
    (["--model", "/no/such/model.tflite"], "--model: /no/such/model.tflite is not a file"),
    (["--tolerance", "arena_bytes:5"], "--tolerance: bad tolerance 'arena_bytes:5'"),
    (["--target", "esp8266"], "esp8266"),
])
def test_a_bad_option_value_is_one_usage_error(inprocess_pytest, args, message):
    done = inprocess_pytest(ROOT, "--collect-only", "-q", "tests_host/test_host_gate.py", *args)
    assert done.returncode == 4, done.stdout[-2000:]
    assert message in done.stderr


@pytest.mark.parametrize("spelling", ["split", "joined"])
def test_an_absolute_dataset_outside_the_checkout_works_from_another_directory(inprocess_pytest, tmp_path,
                                                                               spelling):
    data = tmp_path / "their data"
    for label in ("left", "right"):
        (data / label).mkdir(parents=True)
        for i in range(6):
            np.save(data / label / f"{i}.npy", np.zeros((10, 2), np.float32))
    where = ROOT / "firmware"  # run from inside the checkout but not its root
    args = ["--dataset", str(data)] if spelling == "split" else [f"--dataset={data}"]
    done = inprocess_pytest(where, "--collect-only", "-q", str(ROOT / "tests_host" / "test_host_gate.py"), *args,
                            "--variants", "ptq_int8", "--target", "esp32")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "test_variant_on_target[ptq_int8-esp32]" in done.stdout


def test_a_dataset_path_never_becomes_the_rootdir(inprocess_pytest, tmp_path):
    """pytest decides the rootdir before installed plugins' options are known; the plugin
    decides again, so the project's pytest.ini (testpaths, addopts) still rules, even when
    the data lives inside another pytest project."""
    other = tmp_path / "another-project"
    (other / "data" / "a").mkdir(parents=True)
    (other / "data" / "b").mkdir(parents=True)
    (other / "pytest.ini").write_text("[pytest]\naddopts = -k nothing_matches_this\n")
    for label in ("a", "b"):
        for i in range(6):
            np.save(other / "data" / label / f"{i}.npy", np.zeros((10, 2), np.float32))
    done = inprocess_pytest(ROOT, "--collect-only", "-m", "host", "--dataset", str(other / "data"),
                            "--target", "esp32")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"rootdir: {ROOT}" in done.stdout and "configfile: pytest.ini" in done.stdout
    assert "test_variant_on_target[ptq_int8-esp32]" in done.stdout  # the other ini's addopts were dropped


def test_loading_the_plugin_imports_no_tensorflow_pandas_or_matplotlib():
    """pytest starts the build workers' TensorFlow import only once the plugin is loaded:
    what the plugin imports before that delays every cold run (the report's libraries are
    imported when the report is written, or while the builds run). A fresh interpreter: this
    one may have imported them already."""
    code = ("import sys, tinyml_harness.plugin as p; import importlib; [importlib.import_module(m) "
            "for m in p.pytest_plugins]; print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'tensorflow', 'tf_keras', 'pandas', 'matplotlib', 'tflite_micro'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def _bad_datasets(root: Path) -> dict[str, tuple[Path, str]]:
    empty = root / "empty"
    empty.mkdir()
    one_bad_file = root / "one_bad_file"
    for label in ("left", "right"):
        (one_bad_file / label).mkdir(parents=True)
        np.save(one_bad_file / label / "0.npy", np.zeros((10, 2), np.float32))
    np.save(one_bad_file / "right" / "1.npy", np.full((10, 2), np.nan, np.float32))
    return {"empty": (empty, f"--dataset: dataset {empty}: needs at least 2 class folders, found 0"),
            "one_bad_file": (one_bad_file, f"--dataset: {one_bad_file / 'right' / '1.npy'}: contains NaN or inf")}


@pytest.mark.parametrize("cache", ["warm", "cold"])
@pytest.mark.parametrize("case", ["empty", "one_bad_file"])
def test_a_bad_dataset_is_one_usage_error_at_startup(inprocess_pytest, tmp_path, case, cache):
    """Like --variants ptq_int9: stopped once, before collection, with the sentence; not one
    error (and traceback) per gate item (issue 21, item 9). Also with no artifact cache yet,
    where the plugin knows without the data that it will build."""
    data, message = _bad_datasets(tmp_path)[case]
    cold = ["--artifact-cache", str(tmp_path / "no-cache-yet")] if cache == "cold" else []
    done = inprocess_pytest(ROOT, "-m", "host", "-q", "tests_host/test_host_gate.py", "--dataset", str(data),
                            "--report-dir", str(tmp_path / "report"), *cold)
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stderr.count(message) == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stdout + done.stderr and "error" not in done.stdout.lower()


def test_a_run_inside_another_leaves_the_enclosing_runs_build_server_alone(inprocess_pytest, monkeypatch, tmp_path):
    """The build fork server belongs to the process: a pytest run inside another (here a
    collection, in this process) must not stop it, or the enclosing run's next build waits
    for a new server's TensorFlow import."""
    from model_builders import scheduler

    stopped: list[bool] = []
    monkeypatch.setattr(scheduler, "stop_server", lambda: stopped.append(True))
    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    done = inprocess_pytest(tmp_path, "--collect-only", "-q")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert stopped == []
