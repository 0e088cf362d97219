"""Notebooks narrate and call: the analysis lives in the package, where it is tested.

Each chapter (the jupytext sources in ``notebooks/``) must keep every code cell at most
:data:`MAX_LINES` non-blank lines, define no function, and hold code in under
:data:`MAX_CODE_SHARE` of its characters.  The parameters cell and cell metadata are not
counted.  The literal ``1e4`` (the unit change to years²) is spelled ``years2`` instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.md"))
MAX_LINES = 20
MAX_CODE_SHARE = 0.5


def shape(path: Path) -> dict:
    """Code share (characters of code over all characters of the cells), the longest code cell
    (non-blank lines), and the functions defined, for one jupytext notebook."""
    nb = jupytext.read(path, fmt="md:myst")
    code = text = 0
    longest, functions = 0, []
    for cell in nb.cells:
        source = cell.source
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            continue
        text += len(source)
        if cell.cell_type != "code":
            continue
        code += len(source)
        longest = max(longest, sum(1 for line in source.splitlines() if line.strip()))
        functions += re.findall(r"^\s*def (\w+)", source, flags=re.M)
    return {"share": code / max(text, 1), "longest": longest, "functions": functions,
            "unit_literal": "1e4" in "".join(c.source for c in nb.cells if c.cell_type == "code")}


def test_shape_measures_cells(tmp_path):
    src = tmp_path / "n.md"
    src.write_text("---\njupytext:\n  text_representation:\n    format_name: myst\n---\n\n# T\n\nSome prose here.\n\n"
                   "```{code-cell} ipython3\n:tags: [parameters]\nprofile = None\n```\n\n"
                   "```{code-cell} ipython3\ndef f(x):\n\n    return x * 1e4\n```\n")
    s = shape(src)
    assert s["longest"] == 2 and s["functions"] == ["f"] and s["unit_literal"]
    code = len("def f(x):\n\n    return x * 1e4")
    assert s["share"] == pytest.approx(code / (len("# T\n\nSome prose here.") + code))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_narrates(path):
    s = shape(path)
    problems = []
    if s["longest"] > MAX_LINES:
        problems.append(f"a code cell of {s['longest']} lines (at most {MAX_LINES})")
    if s["functions"]:
        problems.append(f"functions defined in the notebook: {', '.join(s['functions'])}")
    if s["share"] >= MAX_CODE_SHARE:
        problems.append(f"code is {s['share']:.0%} of the characters (under {MAX_CODE_SHARE:.0%})")
    if s["unit_literal"]:
        problems.append("the literal 1e4: use experiment.years2")
    assert not problems, f"{path.name}: " + "; ".join(problems)
