"""Hooks the harness calls, for its own plugins and for a user's conftest.py or plugin."""
from __future__ import annotations

from typing import Any

import pytest


def pytest_tinyml_variant_built(config: pytest.Config, variant: Any, data: Any) -> None:
    """A variant is available: built, or found in the artifact cache. Called in the pytest
    process while the other variants may still be building, so that work on this one
    (evaluating it, flashing it) can start at once. `variant` is a
    model_builders.pipeline.BuiltVariant, `data` the run's PreparedData. Keep it short
    (start work on a thread or a process), since the next variant waits for it. An
    exception raised here is printed with the variant's name, and the builds go on."""
