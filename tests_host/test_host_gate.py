"""The regression gate on the host: each variant once, then each variant x target.

The tests are the harness's own (tinyml_harness.host_gate), imported here exactly as a
user's repository imports them."""
from __future__ import annotations

import pytest

from tinyml_harness.host_gate import test_variant, test_variant_on_target  # noqa: F401

pytestmark = pytest.mark.host
