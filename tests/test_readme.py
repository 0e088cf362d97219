"""The README is for users: short, and about the project, not about how it was built."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_is_under_1200_words():
    words = len(README.read_text().split())
    assert words < 1200, f"README.md has {words} words"


def test_readme_tells_no_history():
    text = README.read_text().lower()
    found = [w for w in ("session", "earlier run", "previous run", "an earlier", "used to", "was measured",
                         "clean clone was made", "then 4")
             if re.search(re.escape(w), text)]
    assert not found, found
