"""HIL suite: fixtures and options live in tinyml_harness.hil_fixtures (see the root conftest.py)."""
