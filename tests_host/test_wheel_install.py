"""The harness installed from its wheel (not editable) works away from any checkout.

The Python side reads files of the firmware's tree (the protocol vocabulary, the op list the
firmware registers, the sdkconfig defaults); the wheel carries that tree as the data-only
package `tinyml_firmware`. Built and installed by tests_host/wheel_venv.py (the `installed`
fixture), and run from a directory outside the checkout with no PYTHONPATH.
"""
from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

from tests_host.wheel_venv import ROOT, venv_env


def test_the_package_list_names_every_library_package():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for top in ("vocabulary", "model_builders", "targets", "reports", "tinyml_harness")
             for p in (ROOT / top).rglob("__init__.py")}
    assert listed - {"tinyml_firmware"} == found
    assert config["package-dir"] == {"tinyml_firmware": "firmware"}


def _run(python: Path, code: str, cwd: Path) -> str:
    return _run_args(python, ["-c", code], cwd)


def _run_args(python: Path, args: list[str], cwd: Path) -> str:
    proc = subprocess.run([str(python), *args], cwd=cwd, env=venv_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_an_installed_wheel_reads_the_firmware_files_it_carries(installed, tmp_path):
    out = _run(installed, (
        "import targets.board.protocol_words as v, targets.tflm.op_list as o, tinyml_harness.hil_fixtures as h\n"
        "from vocabulary.locations import checkout_root\n"
        "print(checkout_root()); print(v.VOCABULARY_FILE); print(o.REGISTERED_OPS_FILE)\n"
        "print(v.CMD.time, len(o.registered_ops()), (h.HARNESS_FIRMWARE / 'sdkconfig.defaults.esp32s3').is_file())\n"),
        tmp_path)
    root, vocabulary_file, ops_file, words = out.splitlines()
    venv = installed.parent.parent
    assert root == "None"  # not a checkout: the venv's copy, not this repository's
    assert vocabulary_file.startswith(str(venv)) and ops_file.startswith(str(venv))
    command, ops, sdkconfig = words.split()
    assert command == "time" and int(ops) > 50 and sdkconfig == "True"


def test_an_installed_wheel_loads_as_a_pytest_plugin(installed, tmp_path):
    """pytest finds the plugin through its entry point in a directory that knows nothing of
    the harness, and the harness's options and markers are there."""
    out = _run(installed, "import pytest, sys; sys.exit(pytest.main(['--help']))", tmp_path)
    assert "--dataset" in out and "--build-jobs" in out and "--update-baseline" in out


def test_an_installed_wheel_copies_out_the_firmware_it_carries(installed, tmp_path):
    """`python -m tinyml_harness.firmware` in a user's directory: the venv's tinyml_firmware
    becomes ./firmware, where pytest's --firmware-dir looks by default."""
    out = _run_args(installed, ["-m", "tinyml_harness.firmware", "--target", "esp32c6", "--copy-only"], tmp_path)
    copied, command = out.splitlines()
    source = copied.removeprefix("copied the harness's firmware tree ").split(" -> ")[0]
    assert source.startswith(str(installed.parent.parent)) and source.endswith("tinyml_firmware")
    assert copied.endswith(f" -> {tmp_path / 'firmware'}")
    assert command.startswith(f"(cd {tmp_path / 'firmware'} && idf.py -B build_esp32c6_default ")
    for name in ("CMakeLists.txt", "main/registered_ops.txt", "core/protocol_vocabulary.def", "sdkconfig.ci.default"):
        assert (tmp_path / "firmware" / name).read_bytes() == (ROOT / "firmware" / name).read_bytes(), name


def test_an_installed_wheel_states_its_licence_and_carries_the_text(installed, tmp_path):
    out = _run(installed, (
        "from importlib.metadata import distribution\n"
        "d = distribution('tinyml-hil-harness')\n"
        "print(d.metadata['License']); print(sum(f.name == 'LICENSE' for f in d.files))\n"
        "print(str(d.locate_file('')))\n"), tmp_path)
    licence, copies, location = out.splitlines()
    assert (licence, copies) == ("Apache-2.0", "1")
    assert location.startswith(str(installed.parent.parent))  # the wheel's metadata, not the editable install's
    assert (ROOT / "LICENSE").read_text().lstrip().startswith("Apache License\n                           Version 2.0")
