"""The harness built as a wheel from this repository's files and installed (not editable)
into a venv that sees this machine's packages: how a user's repository gets it.

Built with the installed setuptools (no download), installed with --no-deps; the venv's
Python runs with no PYTHONPATH, so nothing of the checkout is importable from it."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def repository_files() -> list[str]:
    """Tracked and new (not ignored) files: what a clean checkout of this tree would hold."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    return [line for line in out.stdout.splitlines() if (ROOT / line).is_file()]


def can_build() -> bool:
    return shutil.which("git") is not None and (ROOT / ".git").exists()


def install_wheel(work: Path) -> Path:
    """Build the wheel under `work`, install it into work/venv; returns the venv's python."""
    source = work / "source"
    for name in repository_files():
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


def venv_env(**extra: str) -> dict[str, str]:
    """This environment without PYTHONPATH (nothing of the checkout) and pytest's addopts."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    env.update(extra)
    return env
