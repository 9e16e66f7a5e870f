"""examples/user_project, as a user's repository: copied outside the checkout and run with
the harness installed from its wheel (not editable: tests_host/wheel_venv.py), its own data,
architecture, budgets and baseline. The host gate (`pytest -m host`) and the HIL gate on
virtual boards (`pytest -m hil --virtual`) pass, a --model file of its own goes through the
board cycle too, `pytest -m hil` without a board stops at once naming target and ports; then
a "harmless" edit to its model fails the gate, naming the variant and the metric."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests_host import tiny_models
from tests_host.wheel_venv import venv_env

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "user_project"

pytestmark = pytest.mark.slow

#: (variant, target) on the virtual bench: pytest.ini's variants and their float32 parent, on
#: every registry target ESP-IDF builds firmware for.
HIL_ITEMS = [(v, t) for v in ("float32", "ptq_int8", "qat_int8")
             for t in ("esp32", "esp32s3", "esp32c3", "esp32c6", "esp32p4")]


def run_pytest(python: Path, project: Path, *args: str, cache: Path,
               marker: str = "host") -> subprocess.CompletedProcess:
    """pytest of the wheel's venv in the project, as its user runs it."""
    return subprocess.run([str(python), "-m", "pytest", "-m", marker, "-q", "-p", "no:cacheprovider", *args],
                          cwd=project, env=venv_env(TINYML_CACHE_DIR=str(cache)), capture_output=True, text=True,
                          timeout=1200)


def _records(project: Path) -> list[dict]:
    return [json.loads(line) for line in (project / "reports" / "latest" / "results.jsonl").read_text().splitlines()]


def _built_tflite(project: Path, cache: Path, variant: str) -> Path:
    """The .tflite the last run built for `variant`, out of the artifact cache."""
    key = next(r["extra"]["cache_key"] for r in _records(project) if r["variant"] == variant)
    (path,) = cache.glob(f"**/{key}*/model.tflite")
    return path


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("elsewhere") / "wrist-gestures"
    shutil.copytree(EXAMPLE, where, ignore=shutil.ignore_patterns(".cache", "latest", "__pycache__"))
    return where


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return Path(os.environ.get("TINYML_CACHE_DIR") or tmp_path_factory.mktemp("cache"))


def test_the_example_project_passes_its_own_gate_from_outside_the_checkout(installed, project, cache):
    assert not project.resolve().is_relative_to(EXAMPLE.parents[1])
    done = run_pytest(installed, project, cache=cache)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "21 passed" in done.stdout  # 3 variants, and each on 6 targets
    assert f"vs baseline {project / 'reports' / 'baseline.json'}" in done.stdout
    assert "regressed" not in done.stdout.split("TinyML harness report")[-1]
    assert (project / "reports" / "latest" / "summary.md").exists()


def test_the_example_project_passes_its_own_bench_on_virtual_boards(installed, project, cache):
    """The HIL gate from the installed plugin: every variant on every ESP-IDF target's
    virtual board, judged against the project's own budgets and baseline (virtual entries)."""
    done = run_pytest(installed, project, "--virtual", cache=cache, marker="hil")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert f"{len(HIL_ITEMS)} passed" in done.stdout
    (compared,) = [line for line in done.stdout.splitlines() if line.startswith("vs baseline ")]
    assert compared.startswith(f"vs baseline {project / 'reports' / 'baseline.json'}")
    # every figure compared with the baseline's virtual entries, and all ok (none "new", none changed)
    assert re.fullmatch(r".*\): \d+ ok", compared), compared
    virtual = [r for r in _records(project) if r["source"] == "virtual"]
    assert sorted((r["variant"], r["target"]) for r in virtual) == sorted(HIL_ITEMS)
    assert all(r["provenance"]["architecture"] == "wrist_cnn" and r["accuracy"] >= 80 for r in virtual)


def test_model_files_of_the_users_own_go_through_the_board_cycle(installed, project, cache, tmp_path):
    """--model: .tflite files the harness did not build, on a virtual board like a variant;
    one of the data's input shape (accuracy measured), one of another (accuracy n/a, every
    other figure, outputs still compared with host TFLM)."""
    vendor, other_shape = tmp_path / "wrist_vendor.tflite", tmp_path / "tanh_dense.tflite"
    shutil.copy(_built_tflite(project, cache, "ptq_int8"), vendor)
    other_shape.write_bytes(tiny_models.tanh_dense("int8"))  # input (8,); the data is (40, 2)
    done = run_pytest(installed, project, "--virtual", "--model", str(vendor), "--model", str(other_shape),
                      "-k", "esp32s3 and (wrist_vendor or tanh_dense)", cache=cache, marker="hil")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout
    records = {r["variant"]: r for r in _records(project) if r["variant"] in ("wrist_vendor", "tanh_dense")}
    for name, path in (("wrist_vendor", vendor), ("tanh_dense", other_shape)):
        record = records[name]
        assert (record["source"], record["target"], record["provenance"]["architecture"]) == \
            ("virtual", "esp32s3", "external")
        assert record["extra"]["origin"] == str(path) and record["max_lsb_diff"] == 0 and record["arena_bytes"] > 0
    assert records["wrist_vendor"]["accuracy"] >= 80
    assert records["tanh_dense"]["accuracy"] is None and records["tanh_dense"]["extra"]["no_labelled_data"]
    assert records["tanh_dense"]["extra"]["notes"][0].startswith("accuracy n/a: no labelled data for this input "
                                                                 "shape (8,)")


def test_the_bench_without_a_board_stops_at_once_naming_target_and_ports(installed, project, cache):
    done = run_pytest(installed, project, cache=cache, marker="hil")
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]  # pytest's usage error
    for target in ("esp32", "esp32s3", "esp32c3", "esp32c6"):
        assert (f"No board found for target {target}: ports tried: no port configured (--port, ESPPORT, "
                f"bench.toml [{target}])") in done.stderr
        assert (f"No firmware for target {target}: {project / 'firmware' / f'build_{target}_default'} has no "
                f"flasher_args.json (build it, with ESP-IDF: python -m tinyml_harness.firmware --target {target} "
                f"--config default {project / 'firmware'})") in done.stderr
    assert "[build]" not in done.stdout + done.stderr  # stopped before building anything


def test_a_plain_pytest_that_selects_the_bench_says_how_to_leave_it_out(installed, project, cache):
    """Without pytest.ini's addopts -m "not hil", plain `pytest` selects the HIL gate too."""
    done = run_pytest(installed, project, "-o", "addopts=", cache=cache, marker="")
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    assert "No board found for target esp32s3" in done.stderr
    assert done.stderr.rstrip().endswith("(plain `pytest` selected the HIL gate: add `addopts = -m \"not hil\"` to "
                                         "the [pytest] section so that only `pytest -m hil` runs it)")


def test_a_bigger_dense_layer_in_the_users_model_fails_the_gate_by_name(installed, project, cache):
    models = project / "wrist_models.py"
    models.write_text(models.read_text().replace("layers.Dense(16, activation=\"relu\")",
                                                 "layers.Dense(48, activation=\"relu\")"))
    done = run_pytest(installed, project, cache=cache)
    assert done.returncode == 1, done.stdout[-4000:]
    assert "FAILED tests/test_tinyml_gate.py::test_variant[ptq_int8]" in done.stdout
    assert "regression: model_bytes" in done.stdout and "regression: macs" in done.stdout
    assert "budget: model_bytes" in done.stdout  # 3x the dense weights: past its 12 KiB budget too


def test_a_dataset_that_does_not_exist_is_one_clear_usage_error(installed, project, cache):
    done = run_pytest(installed, project, "--dataset", str(project / "no-such-data"), cache=cache)
    assert done.returncode == 4  # pytest's usage error
    assert f"--dataset: {project / 'no-such-data'} does not exist or is not a directory" in done.stderr
