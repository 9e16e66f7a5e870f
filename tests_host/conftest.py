"""Fixtures shared by the tests that run the harness as a user installs it."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests_host.wheel_venv import can_build, install_wheel


@pytest.fixture(scope="session")
def installed(tmp_path_factory) -> Path:
    """The python of a venv with the harness installed from its wheel (built once per run)."""
    if not can_build():
        pytest.skip("needs a git checkout to know the repository's files")
    return install_wheel(tmp_path_factory.mktemp("wheel"))
