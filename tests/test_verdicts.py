"""Verdicts are computed from criteria, never typed."""

import html
import json
import re
from pathlib import Path

import numpy as np
import pytest

from metareweight import verdicts as v

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("typed", ["yes", "no", True, None, 1])
def test_a_typed_outcome_is_refused(typed):
    table = v.Verdicts("x")
    with pytest.raises(TypeError, match="must be computed by a criterion"):
        table.add("claim", "§1", "1", "2", typed, kind="claim")
    assert table.rows == []


@pytest.mark.parametrize("judgement,holds", [
    (v.at_most(0.2, 0.25), "yes"), (v.at_most(0.3, 0.25), "no"),
    (v.at_least(24.0, 100.0), "no"), (v.at_least(100.0, 100.0), "yes"),
    (v.below(1.0, 1.0), "no"), (v.above(1.5, 1.0), "yes"),
    (v.between(5, 1, 4), "no"), (v.between(2, 1, 4), "yes"),
    (v.fraction(7, 8, yes_at=7 / 8), "yes"), (v.fraction(6, 8, yes_at=7 / 8, partly_at=0.5), "partly"),
    (v.fraction(0, 8, yes_at=7 / 8, partly_at=0.5), "no"), (v.fraction(0, 0, yes_at=0.5), "untested"),
    (v.interval_above(0.01, 0.2), "yes"), (v.interval_above(-0.1, 0.2), "partly"), (v.interval_above(-0.3, -0.1), "no"),
    (v.at_most(float("nan"), 1.0), "untested"),
    (v.all_of(v.at_most(1, 2), v.at_least(1, 2)), "partly"), (v.all_of(v.at_most(1, 2), v.above(3, 2)), "yes"),
    (v.is_true(3 == 3, "three is three", value=3), "yes"),
    (v.interval_beyond(0.5, 0.9, 0.4), "yes"), (v.interval_beyond(0.1, 0.3, 0.4), "no"),
    (v.interval_beyond(0.3, 0.9, 0.4), "indistinguishable"),
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
    table.add("claim", "§4.3", "0.206", "0.173", v.at_most(0.173, 0.238), kind="claim")
    table.attach(h1_counterexample={"dot": -1.0, "effect": -0.5})
    path = table.save(tmp_path, {"profile": "quick"})
    record = json.loads(path.read_text())
    assert path == tmp_path / "verdicts" / "chapter-x.json"
    assert record["rows"][0]["kind"] == "claim"
    assert record["rows"][0]["holds"] == "yes" and record["rows"][0]["criterion"] == "ours (0.173) ≤ 0.238"
    assert record["h1_counterexample"] == {"dot": -1.0, "effect": -0.5} and record["config"] == {"profile": "quick"}
    assert v.read_all(tmp_path)[0]["chapter"] == "chapter-x"


def test_every_row_needs_a_known_kind():
    table = v.Verdicts("x")
    with pytest.raises(ValueError, match="kind must be one of"):
        table.add("claim", "§1", "1", "2", v.at_most(1, 2), kind="paper")
    with pytest.raises(TypeError):
        table.add("claim", "§1", "1", "2", v.at_most(1, 2))  # kind is required
    assert table.rows == []


def test_level_check_is_two_sided():
    # Table 1's Reweighted 0.206 +- 0.016 (8 splits) against ours 0.175 +- 0.011 (8 splits):
    # 2 sqrt(0.011^2/8 + 0.016^2/8) = 0.0137 < 0.031, so the level differs, and it is lower
    low = v.agrees_with(0.175, 0.011, 8, 0.206, 0.016)
    assert low.holds == "no" and "lower than the paper's" in low.criterion
    assert low.values["bound"] == pytest.approx(2 * np.sqrt(0.011**2 / 8 + 0.016**2 / 8))
    high = v.agrees_with(0.240, 0.011, 8, 0.206, 0.016)
    assert high.holds == "no" and "higher than the paper's" in high.criterion
    assert v.agrees_with(0.200, 0.011, 8, 0.206, 0.016).holds == "yes"
    assert v.agrees_with(0.0, 0.011, 8, 0.206, 0.016).holds == "no"  # 0 no longer passes
    assert v.agrees_with(0.2, 0.01, 1, 0.206, 0.016).holds == "untested"


def _summary(rel):
    from metareweight.stats import paired_summary

    rel = np.asarray(rel, dtype=float)
    return paired_summary(np.ones_like(rel), 1 - rel)  # relative improvement = rel exactly


@pytest.mark.parametrize("rel,family,holds", [
    ([0.10, 0.12, 0.08, 0.11, 0.09, 0.13, 0.10, 0.12], 1, "yes"),  # 8 of 8 wins, p = 2/256
    ([-0.10, -0.12, -0.08, -0.11, -0.09, -0.13, -0.10, -0.12], 1, "no"),
    ([0.10, -0.12, 0.08, -0.11, 0.09, -0.13, 0.10, -0.02], 1, "indistinguishable"),
    ([0.10, 0.12, 0.08, 0.11, 0.09, 0.13, 0.10, 0.12], 8, "yes"),  # family of 8: Bonferroni t still clear
    ([0.10, 0.12, 0.08, 0.11], 1, "untested"),  # 4 splits are too few
])
def test_paired_comparison_outcomes(rel, family, holds):
    assert v.paired_comparison(_summary(rel), family=family).holds == holds


def test_paired_comparison_needs_the_adjusted_p_and_usable_splits():
    s = _summary([0.10, 0.12, 0.08, 0.11, 0.09, 0.13, 0.10, 0.12])
    assert v.paired_comparison(s, adjusted_p=0.06, family=4).holds == "indistinguishable"
    assert v.paired_comparison(s, usable=2).holds == "untested"


TYPED = [
    re.compile(r"""["']holds["']\s*:\s*["'(]"""),  # a "holds" key given a literal
    re.compile(r"""map\(\{\s*True:\s*["'](yes|holds)"""),  # True -> "yes" maps
    re.compile(r"""["'](holds|does not hold|yes)["']\s+if\s"""),  # "holds" if <cond> else ...
    re.compile(r"""columns=\[[^\]]*["']holds["']"""),
]


CHAPTER_MODULES = sorted((ROOT / "src" / "metareweight" / "chapters").glob("*.py"))


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.md")) + CHAPTER_MODULES,
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_no_chapter_types_a_verdict(path):
    """Neither a chapter nor the module that assembles its verdicts types an outcome; every
    chapter saves its verdicts and shows them under a Verdict heading."""
    text = path.read_text()
    for pattern in TYPED:
        match = pattern.search(text)
        assert match is None, f"{path.name}: typed verdict {match.group(0)!r}"
    if path.suffix == ".md" and path.stem != "report":
        assert ".save(runconfig.results_dir(cfg)" in text, f"{path.name}: no verdict record"
        assert "## Verdict" in text, f"{path.name}: no Verdict section"


def _add_calls(text):
    """The text of every ``verdicts.add(...)`` call (parentheses matched, strings skipped)."""
    calls, i = [], 0
    while (j := text.find("verdicts.add(", i)) >= 0:
        k, depth, quote = j + len("verdicts.add("), 1, None
        while depth:
            c = text[k]
            if quote:
                quote = None if c == quote else quote
            elif c in "\"'":
                quote = c
            else:
                depth += {"(": 1, ")": -1}.get(c, 0)
            k += 1
        calls.append(text[j:k])
        i = k
    return calls


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.md")), ids=lambda p: p.stem)
def test_every_chapter_row_states_its_kind(path):
    for call in _add_calls(path.read_text()):
        assert re.search(r"kind=", call), f"{path.name}: a verdict row without a kind: {call[:80]}"


def test_every_package_row_states_its_kind():
    text = (ROOT / "src" / "metareweight" / "table1.py").read_text()
    calls = _add_calls(text)
    assert calls and all("kind=" in c for c in calls)


def test_margins_measure_the_distance_to_the_threshold():
    """Known answers: the relative gap of a scalar, interval widths for an interval, the p-value
    against ALPHA, and the smallest where several thresholds decide."""
    assert v.at_most(0.9, 1.0).margin == pytest.approx(0.1)
    assert v.above(1.0, 0.999).margin == pytest.approx(1e-3)
    assert v.between(0.5, 0.0, 2.0).margin == pytest.approx(0.75)  # |0.5 - 2| / 2 = 0.75; |0.5 - 0| / 0.5 = 1
    assert v.interval_beyond(0.1, 0.5, 0.0).margin == pytest.approx(0.25)  # nearer end 0.1, width 0.4
    assert v.interval_beyond(-0.1, 0.3, 0.0).margin == pytest.approx(0.25)
    # |diff| 0.3 against the bound 2 sqrt(0.1²/8 + 0.1²/8) = 0.1: margin |0.3 - 0.1| / 0.3
    assert v.agrees_with(1.3, 0.1, 8, 1.0, 0.1).margin == pytest.approx(2 / 3)
    # six wins of eight: p and the interval decide, and the nearer of them is the margin
    summary = {"n": 8, "wins": 6, "perm_p": 0.04, "rel_improvement": [0.1, 0.2, 0.15, 0.3, 0.1, 0.2, -0.05, -0.01]}
    j = v.paired_comparison(summary)
    low, high = j.values["low"], j.values["high"]
    assert j.margin == pytest.approx(min(abs(0.04 - v.ALPHA) / v.ALPHA, min(abs(low), abs(high)) / (high - low)))
    assert v.all_of(v.at_most(0.9, 1.0), v.at_least(2.0, 1.0)).margin == pytest.approx(0.1)
    assert v.fraction(5, 8, yes_at=0.5).margin is None
    assert v.above(0, 0).margin is None and v.at_least(2, 2).margin == 0.0  # a zero count; a count on its bound
    assert v.untested("no data").margin is None


def test_a_margin_inside_the_verify_tolerance_is_flagged(tmp_path):
    """A verdict 1e-4 from its threshold is near it; one 10% away is not; both are saved."""
    from metareweight import verify

    table = v.Verdicts("x")
    table.add("near", "§1", "1", "1.0001", v.at_most(1.0, 1.0001), kind="claim")
    table.add("far", "§1", "1", "0.9", v.at_most(0.9, 1.0), kind="claim")
    saved = json.loads(table.save(tmp_path).read_text())
    assert [r["margin"] for r in saved["rows"]] == pytest.approx([1e-4, 0.1], rel=1e-3)
    assert [r["claim"] for r in verify.near_threshold(saved)] == ["near"]


def test_the_shown_table_leads_with_the_outcome_and_cuts_nothing():
    table = v.Verdicts("x")
    long_claim = "re-weighting beats Restricted on ages 14-21 under the paper's protocol " * 3
    table.add(long_claim, "§4.3", "0.206", "0.175", v.at_most(0.175, 0.2), kind="claim")
    shown = table.show()
    assert shown.html.index("<th>holds</th>") < shown.html.index("<th>claim</th>")
    assert html.escape(long_claim.strip()) in shown.html and "…" not in shown.html and "<td>yes</td>" in shown.html
