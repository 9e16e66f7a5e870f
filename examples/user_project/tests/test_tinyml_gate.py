"""The harness's host gate, run on this project's model and data."""
import pytest

from tinyml_harness.host_gate import test_variant, test_variant_on_target  # noqa: F401

pytestmark = pytest.mark.host
