"""The harness installed from its wheel (not editable) works away from any checkout.

The Python side reads files of the firmware's tree (the protocol vocabulary, the op list the
firmware registers, the sdkconfig defaults); the wheel carries that tree as the data-only
package `tinyml_firmware`. Built here from the repository's files with the installed
setuptools (no download), installed with --no-deps into a venv that sees this machine's
packages, and run from a directory outside the checkout with no PYTHONPATH.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _repository_files() -> list[str]:
    """Tracked and new (not ignored) files: what a clean checkout of this tree would hold."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    return [line for line in out.stdout.splitlines() if (ROOT / line).is_file()]


def test_the_package_list_names_every_library_package():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for top in ("vocabulary", "model_builders", "targets", "reports", "tinyml_harness")
             for p in (ROOT / top).rglob("__init__.py")}
    assert listed - {"tinyml_firmware"} == found
    assert config["package-dir"] == {"tinyml_firmware": "firmware"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to know the repository's files")
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    for name in _repository_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(work / "dist"), str(source)], check=True, capture_output=True, timeout=600)
    wheel = next((work / "dist").glob("*.whl"))
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(work / "venv")], check=True)
    python = work / "venv" / "bin" / "python"
    # --ignore-installed: the venv sees this machine's (editable) install, which pip would keep
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed", str(wheel)],
                   check=True, capture_output=True, timeout=600)
    return python


def _run(python: Path, code: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(python), "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_an_installed_wheel_reads_the_firmware_files_it_carries(installed, tmp_path):
    out = _run(installed, (
        "import targets.board.vocabulary as v, targets.tflm.op_list as o, tinyml_harness.hil_fixtures as h\n"
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
