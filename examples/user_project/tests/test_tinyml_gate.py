"""The harness's host gate, run on this project's model and data (the plugin marks these
tests `host`, so `pytest -m host` selects them)."""
from tinyml_harness.host_gate import test_variant, test_variant_on_target  # noqa: F401
