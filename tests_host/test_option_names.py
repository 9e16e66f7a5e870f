"""The plugin's option names beside the pytest plugins an ML or ESP-IDF user is likely to
have installed (issue 21, item 8). pytest refuses two plugins that register the same
option string, but two options with the same `dest`, or two ini names, silently share one
value: all three are checked against what the other plugins register."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tinyml_harness.plugin import OPTIONS

ROOT = Path(__file__).resolve().parent.parent
#: pytest-embedded with its services, and the usual plugins of an ML project.
NEIGHBOURS = ["pytest-embedded", "pytest-embedded-serial-esp", "pytest-embedded-idf", "pytest-embedded-qemu",
              "pytest-embedded-jtag", "pytest-embedded-wokwi", "pytest-embedded-arduino", "pytest-randomly",
              "pytest-benchmark", "pytest-xdist", "pytest-cov", "pytest-timeout", "pytest-regressions", "pytest-mpl"]
DUMP_PLUGIN = '''
import json, os

def pytest_configure(config):
    parser = config._parser
    options = [o for g in parser._groups for o in g.options] + list(parser._anonymous.options)
    names = {name: o.dest for o in options for name in o.names()}
    plugins = sorted({d.project_name for _, d in config.pluginmanager.list_plugin_distinfo()})
    with open(os.environ["OPTION_DUMP"], "w") as out:
        json.dump({"options": names, "ini": sorted(parser._inidict), "plugins": plugins}, out)
'''


def registered_by_others(python: str, tmp_path: Path) -> dict:
    """Option strings (with their dest) and ini names every other plugin of that Python's
    environment registers: pytest run with ours disabled, from an empty directory."""
    (tmp_path / "option_dump.py").write_text(DUMP_PLUGIN)
    env = {**os.environ, "OPTION_DUMP": str(tmp_path / "dump.json"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}
    env.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run([python, "-m", "pytest", "-p", "option_dump", "-p", "no:tinyml_harness", "-p",
                           "no:cacheprovider", "--collect-only", "-q"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert (tmp_path / "dump.json").is_file(), done.stdout + done.stderr
    return json.loads((tmp_path / "dump.json").read_text())


def clashes(others: dict) -> list[str]:
    found = []
    for option in OPTIONS:
        flag, name = option.flag, option.name
        if flag in others["options"]:
            found.append(f"option {flag} is also registered by another plugin")
        found += [f"{flag}: dest {name!r} is also the dest of {other}"
                  for other, dest in others["options"].items() if dest == name]
        if name in others["ini"]:
            found.append(f"ini name {name!r} ({flag}) is also registered by another plugin")
    return found


def test_no_clash_with_the_plugins_installed_here(tmp_path):
    others = registered_by_others(sys.executable, tmp_path)
    assert "pytest-embedded" in others["plugins"]
    assert clashes(others) == []


def test_no_clash_with_the_plugins_ml_and_esp_idf_users_install(tmp_path):
    """A venv over this one with every neighbour installed from PyPI (about 30 s with pip's
    cache); then pytest loads them all with the plugin (a duplicate option string would
    stop it) and the names are compared."""
    venv.create(tmp_path / "venv", system_site_packages=True, with_pip=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    install = subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *NEIGHBOURS],
                             capture_output=True, text=True, timeout=900)
    if install.returncode != 0 and any(word in install.stderr for word in
                                       ("NewConnectionError", "Temporary failure in name resolution",
                                        "No matching distribution found")):
        pytest.skip(f"PyPI unreachable, the neighbours could not be installed: {install.stderr.strip()[-300:]}")
    assert install.returncode == 0, install.stderr[-3000:]
    work = tmp_path / "run"
    work.mkdir()
    others = registered_by_others(python, work)
    expected = {"pytest-embedded", "pytest-randomly", "pytest-benchmark", "pytest-xdist", "pytest-cov",
                "pytest-timeout", "pytest-regressions", "pytest-mpl"}
    assert expected <= set(others["plugins"]), others["plugins"]
    assert clashes(others) == []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTEST_ADDOPTS", None)
    together = subprocess.run([python, "-m", "pytest", "--help"], cwd=work, env=env,
                              capture_output=True, text=True, timeout=300)
    assert together.returncode == 0, together.stderr[-3000:]  # pytest stops at a duplicate option string
    assert "--dataset=DATASET" in together.stdout and "--randomly-seed" in together.stdout
