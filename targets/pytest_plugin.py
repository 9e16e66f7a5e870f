"""pytest plugin for this package (options, fixtures)."""
