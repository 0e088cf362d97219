"""Table 1's assembly: degenerate heads, usable splits, levels, and the report's tally."""

import numpy as np
import pandas as pd
import pytest

from metareweight import plots, records, report, table1


def _row(split, restricted, reweighted, constant=5.0, degenerate=None):
    return {"split": split, "restricted": restricted, "reweighted": reweighted, "constant": constant,
            "degenerate": {"restricted": False, "reweighted": False, **(degenerate or {})}}


def test_degenerate_is_within_one_percent_of_the_constant_on_validation():
    flags = table1.degenerate({"restricted": 5.04, "reweighted": 4.90, "all": 5.06}, 5.0)
    assert flags == {"restricted": True, "reweighted": False, "all": False}
    assert table1.degenerate({"restricted": 4.95}, 5.0) == {"restricted": True}  # 1% better: still nothing


def test_compare_drops_degenerate_splits_and_says_which():
    rows = [_row(k, 4.0, 3.6) for k in range(6)] + [_row(6, 5.0, 4.9, degenerate={"restricted": True}),
                                                    _row(7, 5.0, 5.1, degenerate={"reweighted": True})]
    out = table1.compare(rows, "restricted", "reweighted")
    assert out["usable"] == 6 and out["dropped"] == [6, 7] and out["n"] == 6
    assert out["wins"] == 6 and out["mean_rel_improvement"] == pytest.approx(0.1)
    assert out["perm_p"] == pytest.approx(2 / 64)  # 6 equal positive differences: the extreme pattern


def test_compare_with_every_split_degenerate_is_empty_not_an_error():
    rows = [_row(k, 5.0, 5.0, degenerate={"restricted": True}) for k in range(3)]
    out = table1.compare(rows, "restricted", "reweighted")
    assert out["usable"] == 0 and np.isnan(out["perm_p"])


def test_level_gives_both_std_conventions_in_the_papers_unit():
    rows = [_row(k, 25.0 * v, 0.0) for k, v in enumerate([0.2, 0.3, 0.1, 0.2])]
    lev = table1.level(rows, "restricted")
    assert lev["mean"] == pytest.approx(0.2) and lev["n"] == 4
    assert lev["sd_pop"] == pytest.approx(np.std([0.2, 0.3, 0.1, 0.2]))
    assert lev["sd"] == pytest.approx(np.std([0.2, 0.3, 0.1, 0.2], ddof=1))
    assert table1.paper_sd_sample(0.016) == pytest.approx(0.016 * np.sqrt(8 / 7))


def test_uniform_age_variance_is_the_discrete_uniform_variance():
    ages = np.arange(14, 22)
    assert table1.uniform_age_variance(14, 21) == pytest.approx(ages.var()) == pytest.approx(5.25)


def test_claim_rows_refuse_a_claim_counted_twice():
    rows = pd.DataFrame([{"kind": "claim", "claim": "a", "holds": "no"},
                         {"kind": "beyond", "claim": "a", "holds": "no"},
                         {"kind": "claim", "claim": "b", "holds": "yes"}])
    assert list(report.claim_rows(rows)["claim"]) == ["a", "b"]
    with pytest.raises(ValueError, match="counted twice"):
        report.claim_rows(pd.concat([rows, rows.iloc[[0]]]))
    counts = report.tally(rows)
    assert counts.loc[report.KIND_WORDS["claim"], "no"] == 1 and counts.to_numpy().sum() == 3


def test_change_words_cannot_be_misread():
    assert report.change_words(-0.145, "Restricted") == "MSE 14.5% higher than Restricted's"
    assert report.change_words(0.2, "Restricted") == "MSE 20.0% lower than Restricted's"
    # A record read back from JSON carries null where no split was usable.
    assert report.change_words(None, "Restricted") == "no usable comparison with Restricted"
    assert report.change_words(float("nan"), "Restricted") == "no usable comparison with Restricted"


def test_headline_reads_records_round_tripped_through_json(tmp_path):
    """The report reads JSON, where an empty comparison's numbers are null: the headline must say
    that no comparison was usable instead of failing, and quote the record's own numbers."""
    import json
    from pathlib import Path

    record = json.loads((Path(__file__).parents[1] / "results" / "paper" / "table1.json").read_text())
    empty = table1.compare([_row(0, 5.0, 5.0, degenerate={"restricted": True})], "restricted", "reweighted")
    path = records.write_json(tmp_path / "best.json", {"code": {"name": "label_shift", "pixels": "0-255 pixels",
                                                                "holds": "untested", "paired": empty}})
    best = json.loads(path.read_text())
    assert best["code"]["paired"]["mean_rel_improvement"] is None
    claims = pd.DataFrame([{"claim": "c", "kind": "claim", "holds": "no"}])
    text = report.headline(record, best, claims)
    assert "no usable comparison with" in text
    s = record["paired"]["scaled"]["reweighted_vs_restricted"]
    assert report.change_words(s["mean_rel_improvement"], "Restricted") in text
    assert "Of the 1 verdicts on the paper's claims, 0 hold" in text


def test_verdict_table_orders_chapters_escapes_text_and_colours_outcomes():
    row = {"kind": "claim", "claim": "a < b & c", "section": "§4.3", "paper": "0.206", "ours": "0.187",
           "criterion": "|d| <= 2 se", "holds": "no"}
    chapters = {"zeta": {"title": "Z", "rows": [row]}, "seeds": {"title": "Seeds", "rows": [{**row, "holds": "yes"}]},
                "method": {"title": "<Method>", "rows": [row]}}
    html = report.verdict_table(chapters)
    assert html.index('href="method.html"') < html.index('href="seeds.html"') < html.index('href="zeta.html"')
    assert "a &lt; b &amp; c" in html and "&lt;Method&gt;" in html and "<Method>" not in html
    assert html.count(report.OUTCOME_COLOURS["no"]) == 2 and html.count(report.OUTCOME_COLOURS["yes"]) == 1
    # the header, one kind heading, three chapter headings, three rows; the outcome leads each row
    assert html.count("<tr>") == 8 and "<tr><td style='color:" in html
    assert html.count("<details><summary>criterion</summary>|d| &lt;= 2 se</details>") == 3
    setup = {**row, "kind": "setup", "claim": "our setup"}
    both = report.verdict_table({"method": {"title": "M", "rows": [setup, row]}})
    assert both.index(">a &lt; b &amp; c<") < both.index(">our setup<")  # claims of the paper first
    assert "near its threshold" not in html  # no row has a margin


def test_verdict_table_flags_a_verdict_near_its_threshold():
    row = {"kind": "claim", "claim": "c", "section": "§1", "paper": "1", "ours": "1", "criterion": "x", "holds": "no"}
    chapters = {"method": {"title": "M", "rows": [{**row, "margin": 1e-4}, {**row, "claim": "d", "margin": 0.3}]}}
    html = report.verdict_table(chapters)
    assert html.count("near its threshold") == 1 and "margin 1.0e-04" in html
    assert [r["claim"] for _, r in report.near_threshold_rows(chapters)] == ["c"]


def test_errata_quote_the_records():
    import json
    from pathlib import Path

    record = json.loads((Path(__file__).parents[1] / "results" / "paper" / "table1.json").read_text())
    chapters = {"appendix-theorem1": {"h1_counterexample": {"dot": -0.5, "effect": -0.25}}}
    rows = dict((where, effect) for where, _, effect in report.errata(record, chapters))
    assert rows["\"Orders of magnitude\" (§4.3)"].startswith("The paper's own numbers give 39x")
    n_valid = len({r["valid_digest"] for r in record["splits"]})
    ind = record["independent_validation"]["reweighted_vs_restricted"]
    assert rows["The split protocol (§4.1)"].startswith(f"{n_valid} distinct validation sets over 8 splits")
    assert f"better than Restricted on {ind['wins']} of {ind['usable']}" in rows["The split protocol (§4.1)"]
    assert "g_d·g_v = -0.5 < 0" in rows["Hypothesis 1 and Theorem 1 (§6.2)"]
    assert report.errata(record, {})[0][2] == "not recorded in this build"


def _paper_record():
    import json
    from pathlib import Path

    return json.loads((Path(__file__).parents[1] / "results" / "paper" / "table1.json").read_text())


def test_forest_rows_turn_improvements_into_mse_changes():
    record = _paper_record()
    best = {"scaled": {"name": "label_shift", "pixels": "[0, 1] pixels", "holds": "no", "usable_splits": 8,
                       "paired": {"n": 8, "wins": 1, "mean_rel_improvement": -0.25, "ci_low": -0.3, "ci_high": -0.2}}}
    rows = report.forest_rows(record, best)
    assert [r["pixels"] for r in rows] == ["[0, 1] pixels"] * 3 + ["0-255 pixels"] * 2
    s = record["paired"]["scaled"]["reweighted_vs_restricted"]
    assert rows[0]["against"] == "Restricted" and rows[0]["change"] == pytest.approx(-s["mean_rel_improvement"])
    assert rows[0]["low"] == pytest.approx(-s["ci_high"]) and rows[0]["high"] == pytest.approx(-s["ci_low"])
    assert rows[2]["against"] == "best simple alternative (smoothed density ratio)"
    assert (rows[2]["change"], rows[2]["low"], rows[2]["high"]) == pytest.approx((0.25, 0.2, 0.3))
    fig = plots.forest(rows)
    assert len(fig.axes[0].get_yticks()) == 5


@pytest.mark.parametrize("holds,tag", [("no", "[¬Re]"), ("yes", "[Re]"), ("indistinguishable", "[¬Re]")])
def test_first_screen_title_and_bullets_follow_the_records(holds, tag):
    import copy

    record = copy.deepcopy(_paper_record())
    record["paired"]["scaled"]["reweighted_vs_restricted"]["holds"] = holds
    claims = pd.DataFrame([{"claim": "c", "kind": "claim", "holds": "no"}, {"claim": "d", "kind": "claim",
                                                                            "holds": "yes"}])
    screen = report.first_screen(record, None, claims)
    assert screen["title"].startswith(tag + " ")
    s = record["paired"]["scaled"]["reweighted_vs_restricted"]
    assert report.change_words(s["mean_rel_improvement"], "Restricted") in screen["bullets"][1]
    assert screen["bullets"][-1].startswith("**Of the 2 verdicts on the paper's claims**, 1 hold")
    assert len(screen["bullets"]) == 4  # no alternatives record: no "use instead" bullet
    assert "years²/25" in screen["bullets"][0] and "lower is better" in screen["bullets"][0]
