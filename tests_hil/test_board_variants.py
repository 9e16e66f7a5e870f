"""The HIL gate: each variant on each target's board (a real one, or a virtual one under
--virtual). The test is the harness's own (tinyml_harness.hil_gate), imported here exactly
as a user's repository imports it."""
from __future__ import annotations

from tinyml_harness.hil_gate import test_variant_on_board  # noqa: F401
