"""The harness's own tests: nested pytest runs share this session's artifact cache.

The plugin puts nothing into os.environ (it loads in every pytest run of the environment),
so the tests that start a nested `pytest` hand it the cache through TINYML_CACHE_DIR here,
for this session only: a nested run then finds what this one built instead of training again.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tinyml_harness.plugin import settings


@pytest.fixture(scope="session", autouse=True)
def nested_runs_share_the_cache(pytestconfig: pytest.Config) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TINYML_CACHE_DIR", str(settings(pytestconfig).artifact_cache))
        yield
