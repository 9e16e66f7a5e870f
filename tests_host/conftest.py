"""The harness's own tests: nested pytest runs share this session's artifact cache, and the
tests that run the harness as a user installs it share one wheel venv.

The plugin puts nothing into os.environ (it loads in every pytest run of the environment),
so the tests that start a nested `pytest` hand it the cache through TINYML_CACHE_DIR here,
for this session only: a nested run then finds what this one built instead of training again.
"""
from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests_host.wheel_venv import can_build, install_wheel
from tinyml_harness.plugin import settings


@pytest.fixture(scope="session", autouse=True)
def nested_runs_share_the_cache(pytestconfig: pytest.Config) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TINYML_CACHE_DIR", str(settings(pytestconfig).artifact_cache))
        yield


@pytest.fixture(scope="session")
def installed(tmp_path_factory) -> Path:
    """The python of a venv with the harness installed from its wheel (built once per run)."""
    if not can_build():
        pytest.skip("needs a git checkout to know the repository's files")
    return install_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture
def inprocess_pytest(pytester: pytest.Pytester,
                      monkeypatch: pytest.MonkeyPatch) -> Callable[..., subprocess.CompletedProcess]:
    """`pytest -p no:cacheprovider ARGS` from `cwd`, in this process (pytester), answered as
    subprocess.run answers (returncode, stdout, stderr). For nested runs that import no
    TensorFlow: a subprocess costs a Python start and the plugin's imports each time.
    In-process is safe for the harness's plugin because it keeps a run's state in
    config.stash (its one process-wide resource, the build fork server, is stopped only by
    the outermost run) and pytester restores sys.modules and sys.path after each run.
    A run that trains or converts (TensorFlow), or that needs a fresh interpreter (the
    environment on load, an installed wheel), stays a subprocess."""
    def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
        monkeypatch.chdir(cwd)
        # Hypothesis's pytest plugin imports hypothesis at every run's end (seconds), and
        # pytester drops what a nested run imported: nested runs leave that plugin out.
        result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:hypothesispytest", *args)
        return subprocess.CompletedProcess(["pytest", *args], int(result.ret), result.stdout.str(),
                                           result.stderr.str())

    return run
