"""Checks of the executed quick book (notebooks/_run) and of the run with overrides that
`make bookcheck` makes into _build/override-run (-p target_low 30 -p target_high 40).

These tests read what the runs left behind; `make test` runs them after both runs.
"""

import hashlib
import json
import os
from pathlib import Path

import nbformat
import pytest

from metareweight.runbook import toc_notebooks
from metareweight.runconfig import run_tag
from metareweight.verdicts import KINDS, OUTCOMES

ROOT = Path(__file__).resolve().parents[2]
BOOK_RUN = ROOT / "notebooks" / "_run"
OVERRIDE_RUN = ROOT / "_build" / "override-run"
OVERRIDES = {"target_high": 40, "target_low": 30}
CHAPTERS = toc_notebooks(ROOT)


def _run(folder: Path, name: str):
    path = folder / f"{name}.ipynb"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make notebooks-quick` and `make bookcheck` first")
    return nbformat.read(path, as_version=4)


@pytest.mark.parametrize("folder", [BOOK_RUN, OVERRIDE_RUN], ids=["book", "override"])
@pytest.mark.parametrize("name", CHAPTERS)
def test_every_setting_read_is_declared_and_recorded(folder, name):
    meta = _run(folder, name).metadata["metareweight"]
    undeclared = sorted(set(meta["read"]) - set(meta["declared"]))
    assert not undeclared, f"{name} reads settings it does not declare as parameters: {undeclared}"
    config = meta["config"]
    assert config["profile"] == "quick"
    assert set(config["settings"]) == set(meta["declared"])
    if "load_dataset(" in (ROOT / "notebooks" / f"{name}.md").read_text():
        assert config.get("data_sha256"), f"{name} loaded data without recording its checksum"


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_chapter_shows_its_settings_box_and_hides_its_setup(name):
    nb = _run(BOOK_RUN, name)
    html = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if "text/html" in o.get("data", {}) and "Settings of this run" in o["data"]["text/html"]]
    assert len(html) == 1, f"{name}: expected one 'Settings of this run' box"
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert "remove-cell" in first_code.metadata.get("tags", []), f"{name}: parameters cell is on the page"
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert all("remove-cell" in c.metadata["tags"] for c in injected), f"{name}: injected parameters on the page"
    reruns = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "Rerun this chapter" in o.get("data", {}).get("text/html", "")]
    assert len(reruns) == 1 and f"--only {name}" in reruns[0]["data"]["text/html"], f"{name}: no rerun box"
    first = nb.cells[0].source.splitlines()[0]
    assert first.startswith("# "), f"{name}: does not open on its title"


@pytest.mark.parametrize("name", CHAPTERS)
def test_the_override_run_reached_every_chapter_that_uses_the_band(name):
    meta = _run(OVERRIDE_RUN, name).metadata["metareweight"]
    if "target_low" in meta["read"]:
        assert meta["config"]["settings"]["target_low"] == 30 and meta["config"]["settings"]["target_high"] == 40
        assert meta["config"]["overrides"] == OVERRIDES


def test_the_override_records_lie_outside_the_profiles_folder():
    folder = ROOT / "results" / run_tag("quick", OVERRIDES)
    assert folder.name != "quick" and folder.name.startswith("quick-")
    table1 = json.loads((folder / "table1.json").read_text())
    assert table1["target"] == "30-40"
    assert table1["config"]["overrides"] == OVERRIDES
    assert json.loads((ROOT / "results" / "quick" / "table1.json").read_text())["target"] == "14-21"
    for name in CHAPTERS:
        assert (folder / "verdicts" / f"{name}.json").exists() or name == "report", name


def test_every_chapter_wrote_its_verdicts_with_computed_outcomes():
    for name in CHAPTERS:
        if name == "report":
            continue
        record = json.loads((ROOT / "results" / "quick" / "verdicts" / f"{name}.json").read_text())
        assert record["rows"], f"{name}: no verdict rows"
        for row in record["rows"]:
            assert row["holds"] in OUTCOMES and row["criterion"], row
            assert row["kind"] in KINDS, row
        assert record["config"]["profile"] == "quick"


def test_the_paper_record_was_not_touched_by_the_override_run():
    line = (ROOT / "_build" / "paper-table1.sha256").read_text().split()[0]
    now = hashlib.sha256((ROOT / "results" / "paper" / "table1.json").read_bytes()).hexdigest()
    assert now == line


def test_records_have_normal_permissions():
    mask = os.umask(0)
    os.umask(mask)
    for path in (ROOT / "results" / "quick").rglob("*.json"):
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask, path


@pytest.mark.parametrize("name", CHAPTERS)
def test_progress_stays_out_of_the_notebook(name):
    for cell in _run(BOOK_RUN, name).cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                assert f"[{name}]" not in out["text"], f"{name}: a progress line was captured into the notebook"


def test_the_report_times_every_chapter_run_before_it():
    """Every executed chapter records its wall time, and the report lists each chapter run before it."""
    walls = {name: _run(BOOK_RUN, name).metadata["metareweight"].get("wall_seconds") for name in CHAPTERS}
    missing = sorted(n for n, w in walls.items() if not isinstance(w, int | float) or w <= 0)
    assert not missing, f"chapters without a positive wall_seconds in their metadata: {missing}"
    report = _run(BOOK_RUN, "report")
    shown = "".join(str(o.get("data", {}).get("text/html", "")) for c in report.cells if c.cell_type == "code"
                    for o in c.get("outputs", []))
    assert "wall seconds, this build" in shown
    for name in CHAPTERS:
        if name != "report":
            assert f"<td>{name}</td>" in shown, f"the report's time table lacks {name}"  # display.table cells
