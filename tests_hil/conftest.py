"""HIL suite: fixtures and options live in targets.hil_plugin (see the root conftest.py)."""
