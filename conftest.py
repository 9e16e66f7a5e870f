"""Root conftest: empty on purpose. The harness is the installed pytest plugin
`tinyml_harness` (entry point pytest11, see pyproject.toml), so it works the same in any
repository and from any directory."""
