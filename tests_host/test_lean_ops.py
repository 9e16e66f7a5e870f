"""The lean op list (python -m targets.tflm.lean_ops) and the host check reading the same file
the firmware is built with (--ops-file / ini ops_file)."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from targets.measure.host import HostMeasurements
from targets.tflm.analysis import analyze_model, check_firmware_ops
from targets.tflm.lean_ops import UnregistrableOpError, lean_ops, main
from targets.tflm.op_list import registered_ops
from tests_host import tiny_models
from tests_host.test_fw_ops_resolver import generate


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    out = {}
    for name, data in {"gesture": tiny_models.gesture_cnn("int8"), "gelu": tiny_models.gelu_dense("int8")}.items():
        out[name] = folder / f"{name}.tflite"
        out[name].write_bytes(data)
    return out


def test_lean_list_is_the_models_ops_in_full_list_order(models):
    ops = lean_ops([models["gesture"]])
    used = analyze_model(models["gesture"].read_bytes(), name="g").ops
    assert set(ops) == set(used) and len(ops) == len(used)
    full = registered_ops()
    assert ops == sorted(ops, key=full.index)
    assert len(ops) < len(full)


def test_an_op_tflm_cannot_add_is_refused_naming_model_and_op(models):
    with pytest.raises(UnregistrableOpError, match=r"GELU \(in gelu\.tflite\)"):
        lean_ops([models["gesture"], models["gelu"]])


def test_command_writes_a_file_the_firmware_generator_and_host_check_accept(models, tmp_path):
    out = tmp_path / "registered_ops.lean.txt"
    assert main([str(models["gesture"]), "-o", str(out)]) == 0
    ops = registered_ops(out)
    assert ops == lean_ops([models["gesture"]])
    assert "# model gesture.tflite sha256 " in out.read_text()
    proc, header = generate(tmp_path, out.read_text())
    assert proc.returncode == 0, proc.stderr
    assert f"#define TMH_REGISTERED_OP_COUNT {len(ops)}" in header.read_text()
    analysis = analyze_model(models["gesture"].read_bytes(), name="g")
    assert check_firmware_ops(analysis, out) == []


def test_command_exits_2_and_writes_nothing_for_an_unregistrable_op(models, tmp_path):
    out = tmp_path / "lean.txt"
    proc = subprocess.run([sys.executable, "-m", "targets.tflm.lean_ops", str(models["gelu"]), "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "GELU (in gelu.tflite)" in proc.stderr
    assert not out.exists()


def test_host_check_reads_the_ops_file_the_firmware_is_built_with(models, tmp_path):
    lean = tmp_path / "lean.txt"
    lean.write_text("CONV_2D\n")  # a lean build for some other model
    x = np.zeros((4, *tiny_models.GESTURE_SHAPE), dtype=np.float32)
    y = np.zeros(4, dtype=np.int64)
    measured = HostMeasurements(x, y, ops_file=lean).measure(
        Model("gesture", models["gesture"].read_bytes()), is_external=True)
    problem = " ".join(measured.problems)
    assert "does not register (lean.txt): " in problem and "FULLY_CONNECTED" in problem
    assert "build with an op list that has them (registered_ops.txt has all)" in problem
    full = HostMeasurements(x, y).measure(
        Model("gesture", models["gesture"].read_bytes()), is_external=True)
    assert full.problems == []


@dataclass
class Model:
    name: str
    tflite_bytes: bytes


def _fake_config(tmp_path: Path, cli: dict) -> SimpleNamespace:
    from tinyml_harness.plugin import OPTIONS

    defaults = {option.name: None for option in OPTIONS}
    return SimpleNamespace(
        invocation_params=SimpleNamespace(dir=tmp_path), inipath=None, rootpath=tmp_path,
        getoption=lambda name: cli.get(name, [] if name in ("recipe_params", "tolerances", "models")
                                       else defaults[name]),
        getini=lambda name: [] if name in ("recipe_params", "tolerances", "models") else None)


def test_ops_file_option_resolves_and_a_missing_file_is_a_usage_error(tmp_path):
    from tinyml_harness.plugin import _resolve

    assert _resolve(_fake_config(tmp_path, {})).ops_file is None  # the full list
    (tmp_path / "lean.txt").write_text("CONV_2D\n")
    assert _resolve(_fake_config(tmp_path, {"ops_file": "lean.txt"})).ops_file == tmp_path / "lean.txt"
    with pytest.raises(pytest.UsageError, match=r"--ops-file: .*nope\.txt does not exist .*targets\.tflm\.lean_ops"):
        _resolve(_fake_config(tmp_path, {"ops_file": "nope.txt"}))
