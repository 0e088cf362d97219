"""Verdicts are computed from criteria, never typed."""

import json
import re
from pathlib import Path

import pytest

from metareweight import verdicts as v

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("typed", ["yes", "no", True, None, 1])
def test_a_typed_outcome_is_refused(typed):
    table = v.Verdicts("x")
    with pytest.raises(TypeError, match="must be computed by a criterion"):
        table.add("claim", "§1", "1", "2", typed)
    assert table.rows == []


@pytest.mark.parametrize("judgement,holds", [
    (v.at_most(0.2, 0.25), "yes"), (v.at_most(0.3, 0.25), "no"),
    (v.at_least(24.0, 100.0), "no"), (v.at_least(100.0, 100.0), "yes"),
    (v.below(1.0, 1.0), "no"), (v.above(1.5, 1.0), "yes"),
    (v.between(5, 1, 4), "no"), (v.between(2, 1, 4), "yes"),
    (v.fraction(7, 8, yes_at=7 / 8), "yes"), (v.fraction(6, 8, yes_at=7 / 8, partly_at=0.5), "partly"),
    (v.fraction(0, 8, yes_at=7 / 8, partly_at=0.5), "no"), (v.fraction(0, 0, yes_at=0.5), "untested"),
    (v.interval_above(0.01, 0.2), "yes"), (v.interval_above(-0.1, 0.2), "partly"), (v.interval_above(-0.3, -0.1), "no"),
    (v.interval_below(-0.3, -0.1), "yes"), (v.interval_below(-0.1, 0.2), "partly"),
    (v.at_most(float("nan"), 1.0), "untested"),
    (v.all_of(v.at_most(1, 2), v.at_least(1, 2)), "partly"), (v.all_of(v.at_most(1, 2), v.above(3, 2)), "yes"),
    (v.is_true(3 == 3, "three is three", value=3), "yes"),
])
def test_criteria_compute_the_outcome(judgement, holds):
    assert judgement.holds == holds
    assert judgement.criterion


def test_criterion_text_carries_the_numbers_and_wording_follows_the_outcome():
    j = v.at_most(0.173, 0.238, name="our mean")
    assert j.criterion == "our mean (0.173) ≤ 0.238"
    assert j.word("holds", "does not hold") == "holds"
    assert v.fraction(3, 8, yes_at=0.75, partly_at=0.25).word("holds", "fails", "holds partly") == "holds partly"
    with pytest.raises(ValueError, match="measured values"):
        v.is_true(True, "no numbers given")


def test_saved_rows_round_trip(tmp_path):
    table = v.Verdicts("chapter-x", "Chapter X")
    table.add("claim", "§4.3", "0.206", "0.173", v.at_most(0.173, 0.238))
    table.attach(h1_counterexample={"dot": -1.0, "effect": -0.5})
    path = table.save(tmp_path, {"profile": "quick"})
    record = json.loads(path.read_text())
    assert path == tmp_path / "verdicts" / "chapter-x.json"
    assert record["rows"][0]["holds"] == "yes" and record["rows"][0]["criterion"] == "ours (0.173) ≤ 0.238"
    assert record["h1_counterexample"] == {"dot": -1.0, "effect": -0.5} and record["config"] == {"profile": "quick"}
    assert v.read_all(tmp_path)[0]["chapter"] == "chapter-x"


TYPED = [
    re.compile(r"""["']holds["']\s*:\s*["'(]"""),  # a "holds" key given a literal
    re.compile(r"""map\(\{\s*True:\s*["'](yes|holds)"""),  # True -> "yes" maps
    re.compile(r"""["'](holds|does not hold|yes)["']\s+if\s"""),  # "holds" if <cond> else ...
    re.compile(r"""columns=\[[^\]]*["']holds["']"""),
]


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.md")), ids=lambda p: p.stem)
def test_no_chapter_types_a_verdict(path):
    text = path.read_text()
    for pattern in TYPED:
        match = pattern.search(text)
        assert match is None, f"{path.name}: typed verdict {match.group(0)!r}"
    if path.stem != "report":
        assert "Verdicts(" in text and ".save(runconfig.results_dir(cfg)" in text, f"{path.name}: no verdict record"
        assert "## Verdict" in text, f"{path.name}: no Verdict section"
