"""The README's quickstart, pasted into an existing repository (issue 21): one that already
has a pytest.ini and a test of its own, and no tests/ folder. The lines between the
README's quickstart markers are run exactly as written, in one bash session, with the
installed plugin; the first run must pass and write the baseline, and the repository's own
ini settings and test must survive."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

pytestmark = pytest.mark.slow


def quickstart_lines() -> str:
    text = README.read_text()
    match = re.search(r"<!-- quickstart[^>]*-->\n```bash\n(.*?)```\n<!-- /quickstart -->", text, re.S)
    assert match, "README.md: the quickstart block between its markers is gone"
    return match.group(1)


def existing_repository(where: Path) -> Path:
    """A repository as a user has it: pytest.ini with settings of its own, a test at the
    root, a conftest.py, no tests/ folder, and labelled data in data/<class>/*.npy."""
    where.mkdir()
    (where / "pytest.ini").write_text("[pytest]\naddopts = -ra\nmarkers =\n    smoke: quick checks\n")
    (where / "conftest.py").write_text("SHARED = 1\n")
    (where / "test_existing.py").write_text("def test_existing():\n    assert True\n")
    rng = np.random.default_rng(3)
    t = np.linspace(0, 1, 40)
    for k, name in enumerate(("idle", "wave", "tap")):
        (where / "data" / name).mkdir(parents=True)
        for i in range(30):
            x = np.stack([(k - 1) * 1.5 + np.sin(2 * np.pi * 3 * t + rng.uniform(0, 6)),
                          k * 1.0 + np.cos(2 * np.pi * 3 * t)], 1) + rng.normal(0, 0.2, (40, 2))
            np.save(where / "data" / name / f"{i:03d}.npy", x.astype(np.float32))
    return where


def test_the_readme_quickstart_works_in_an_existing_repository(tmp_path):
    repo = existing_repository(tmp_path / "their-repo")
    assert not (repo / "tests").exists()
    env = {**os.environ, "PYTHONPATH": str(ROOT),  # this checkout's plugin, as installed
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    env.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(["bash", "-e", "-c", quickstart_lines()], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-3000:]
    assert re.search(r"^=+ \d+ passed, 1 deselected in ", done.stdout, re.M), done.stdout[-3000:]
    assert "baseline updated" in done.stdout and (repo / "reports" / "baseline.json").is_file()
    ini = (repo / "pytest.ini").read_text()
    assert ini.count("[pytest]") == 1 and "addopts = -ra" in ini and "smoke: quick checks" in ini
    assert "dataset = data" in ini and "architecture = my_cnn" in ini
    assert (repo / "conftest.py").read_text().startswith("SHARED = 1\n")
    # A subprocess, not pytester: the repository's conftest.py registers my_cnn in the
    # process-wide architecture registry (model_builders.architectures), which pytester does
    # not restore (a second in-process run, with a fresh tinyml_models module, is refused:
    # "already registered"); and the run must see the PATH / PYTHONPATH above, as the user's.
    again = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not host"],
                           cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "1 passed" in again.stdout, again.stdout[-2000:]  # their own test still runs
