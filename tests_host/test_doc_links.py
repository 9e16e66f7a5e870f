"""Every relative link in the user-facing docs points at a file or folder that exists."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "firmware" / "README.md",
        *sorted((ROOT / "docs").glob("*.md"))]
#: Written by the bench work of issue 21 (items 1, 2, 6), not here.
NOT_CHECKED = {ROOT / "docs" / "BENCH.md"}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path):
    missing = []
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path = (doc.parent / target).resolve()
        if path not in NOT_CHECKED and not path.exists():
            missing.append(target)
    assert missing == [], f"{doc.relative_to(ROOT)}: broken links {missing}"
