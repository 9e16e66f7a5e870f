"""docs/OPTIONS.md is generated from the plugin's option table and must stay in step with it."""
from __future__ import annotations

from pathlib import Path

from tinyml_harness.options_doc import render
from tinyml_harness.plugin import OPTIONS

ROOT = Path(__file__).resolve().parent.parent


def test_docs_options_is_what_the_generator_writes():
    assert (ROOT / "docs" / "OPTIONS.md").read_text() == render(), (
        "docs/OPTIONS.md is out of date: run python -m tinyml_harness.options_doc docs/OPTIONS.md")


def test_every_option_and_ini_name_is_in_the_reference():
    text = (ROOT / "docs" / "OPTIONS.md").read_text()
    for option in OPTIONS:
        assert f"| `{option.flag}" in text and f"| `{option.name}` |" in text, option.flag
