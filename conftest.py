"""Root conftest: thin. The harness plugin lives in one module per concern."""
pytest_plugins = [
    "model_builders.pytest_plugin",
    "targets.pytest_plugin",
    "reports.pytest_plugin",
    "targets.hil_plugin",
]
