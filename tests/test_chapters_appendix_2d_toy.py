"""The two-dimensional toy chapter's assembly (metareweight.chapters.appendix_2d_toy)."""

import math
from types import SimpleNamespace as NS

import numpy as np
import pandas as pd
import pytest

from metareweight.chapters import appendix_2d_toy as ch
from metareweight.toys import least_squares, make_product_2d, make_product_nd, precision_at
from metareweight.verdicts import Verdicts


def tiny_cfg(**kw):
    base = dict(toy2d_n=80, toy2d_n_valid=100, toy2d_n_test=200, toy2d_steps=10, toy2d_valid_ema=1.0,
                toy2d_meta_steps=5, toy2d_meta_lr=1e-2, toy2d_seed=2, toy60_dim=6, toy60_n=50, toy60_starts=2,
                toy60_steps=10)
    return NS(**{**base, **kw})


def test_closed_form_label():
    assert ch.closed_form_label("net") == "closed form, weight network" == ch.ROWS_2D["net"]
    assert ch.closed_form_label("free") == "closed form, free weights"


def test_problems_use_consecutive_seeds():
    train, pool, test = ch.problems_2d(tiny_cfg())
    np.testing.assert_array_equal(pool.X, make_product_2d(100, 3).X)
    assert (len(train.y), len(test.y)) == (80, 200)
    train60, _, test60 = ch.problems_60d(tiny_cfg())
    np.testing.assert_array_equal(train60.X, make_product_nd(50, 6, 12, n_pairs=1).X)
    assert test60.X.shape == (200, 6)


@pytest.mark.slow  # starts torch: a few seconds
def test_methods_table_fits_every_weighting():
    cfg = tiny_cfg()
    train, pool, test = ch.problems_2d(cfg)
    Xv, yv = pool.X[pool.valid], pool.y[pool.valid]
    table, weights = ch.methods_table(train, Xv, yv, test, steps=10, valid_ema=1.0, meta_steps=5, meta_lr=1e-2, seed=2)
    assert table.index.tolist() == ["unweighted", ch.ROWS_2D["restr"], ch.ROWS_2D["value"], ch.ROWS_2D["diff"],
                                    ch.ROWS_2D["net"], ch.ROWS_2D["free"]]
    coef, _ = least_squares(train.X, train.y)
    assert table.loc["unweighted", "slope x1"] == pytest.approx(coef[0])
    assert table.loc["unweighted", ch.PREC] == precision_at(test.X @ coef, test.y)
    assert list(weights) == table.index[2:].tolist() and all(len(w) == 80 for w in weights.values())


def hand_table2d():
    rows = ["unweighted"] + list(ch.ROWS_2D.values())
    return pd.DataFrame({ch.PREC: [0.3, 0.8, 0.4, 0.6, 0.5, 0.9], "slope x1": [0.01, 0.5, 0.1, 0.4, 0.2, 0.6],
                         "slope x2": [1.0, 0.7, 0.9, 0.8, 0.9, 0.5]}, index=rows)


def test_table2d_glue():
    g = ch.table2d_glue(hand_table2d(), tiny_cfg(), n_valid=10)
    assert g["t2_n_valid"] == 10 and g["t2_ols_x1"] == 0.01 and g["t2_diff_prec"] == 0.8
    assert g["t2_restr_x2"] == 0.5 and g["t2_steps"] == 10 and g["t2_slope0_tol"] == ch.SLOPE0_TOL


X4 = np.array([[0.7, 0.8], [0.7, 0.2], [0.2, 0.8], [0.2, 0.2]])  # upper right, lower right, two on the left


def test_weight_shares_of_the_quarters():
    assert ch.weight_share([1, 2, 3, 4], np.array([True, False, True, False])) == pytest.approx(0.4)
    assert ch.weight_share([0, 0], np.array([True, False])) == 0.0
    upper, lower = ch.quarters(X4)
    assert upper.tolist() == [True, False, False, False] and lower.tolist() == [False, True, False, False]
    weights = {ch.ROWS_2D[k]: w for k, w in (("diff", [2, 0, 1, 1]), ("value", [1, 1, 1, 1]), ("net", [1, 3, 0, 0]))}
    shares = ch.weight_shares(X4, weights)
    assert shares.loc[ch.ROWS_2D["diff"]].tolist() == [0.5, 0.0, 0.0]
    assert shares.loc[ch.ROWS_2D["value"], "lower right per point / average"] == pytest.approx(1.0)
    g = ch.shares_glue(shares, X4)
    assert g["t2_net_lr"] == 0.75 and g["t2_area_ur"] == 0.25 and g["t2_value_ur"] == 0.25


def test_weight_panels_shorten_the_names():
    assert list(ch.weight_panels({"gradient alignment, value": 1, "closed form, free weights": 2})) == [
        "alignment, value", "closed form, free weights"]


def test_jaccard_flips_and_late_snapshots():
    a, b = np.array([True, True, False]), np.array([True, False, True])
    assert ch.jaccard_mean([a, b]) == pytest.approx(1 / 3) and math.isnan(ch.jaccard_mean([a]))
    snaps = [[0.9, 0.1, 0.9], [0.2, 0.1, 0.9], [0.8, 0.7, 0.9]]
    assert ch.flips(snaps, 0.5).tolist() == [2, 1, 0]
    assert ch.late_indices(np.arange(0, 101, 10)).tolist() == [8, 9, 10]
    assert ch.late_steps(1000).tolist() == [800, 840, 880, 920, 960, 1000]


def test_starts_row_and_table60():
    late = [np.array([2, 1, 0]), np.array([0, 3, 1])]
    row = ch.starts_row("m", [0.4, 0.7], [np.array([True, False]), np.array([True, True])], late)
    assert row == {"method": "m", "precision at 10%: min": 0.4, "precision at 10%: max": 0.7,
                   "mean Jaccard of kept sets": 0.5, ch.FLIPS: 7, ch.CYCLING: 2}
    t = ch.table60([row])
    assert t.loc["m", "precision spread"] == pytest.approx(0.3)


def test_alignment_starts_on_a_small_variant():
    cfg = tiny_cfg()
    train, pool, test = ch.problems_60d(cfg)
    rows, curves = ch.alignment_starts(train, pool.X[pool.valid], pool.y[pool.valid], test, cfg, [None, 5])
    assert [r["method"] for r in rows] == [ch.ROWS_60D["value"], ch.ROWS_60D["diff"]]
    assert list(curves["difference"]) == ["start at theta = 0", "random start (seed 5)"]
    assert all(0 <= r["precision at 10%: min"] <= r["precision at 10%: max"] <= 1 for r in rows)


@pytest.mark.slow  # starts torch: a few seconds
def test_closed_form_starts_on_a_small_variant():
    cfg = tiny_cfg()
    train, pool, test = ch.problems_60d(cfg)
    rows = ch.closed_form_starts(train, pool.X[pool.valid], pool.y[pool.valid], test, cfg, seed=2)
    assert [r["method"] for r in rows] == [ch.ROWS_60D["net"], ch.ROWS_60D["free"]]
    assert math.isnan(rows[1]["mean Jaccard of kept sets"])  # free weights: one start, no pair to compare


def test_reference_precisions():
    train, _, test = ch.problems_2d(tiny_cfg())
    ols, restr = ch.reference_precisions(train, test)
    coef, _ = least_squares(train.X, train.y)
    assert ols == precision_at(test.X @ coef, test.y) and 0 <= restr <= 1


def hand_table60(spreads=(0.2, 0.1, 0.01, 0.0), cycling=(3, 0, 2, 0)):
    rows = [{"method": ch.ROWS_60D[k], "precision at 10%: min": 0.5, "precision at 10%: max": 0.5 + s,
             "mean Jaccard of kept sets": 0.8, ch.FLIPS: c + 1, ch.CYCLING: c}
            for k, s, c in zip(("value", "diff", "net", "free"), spreads, cycling, strict=True)]
    return ch.table60(rows)


def test_issues_and_words():
    t = hand_table60()
    assert ch.issues(t, ch.ROWS_60D["value"]).holds == "yes" and ch.issues(t, ch.ROWS_60D["diff"]).holds == "partly"
    assert ch.issues(t, ch.ROWS_60D["free"]).holds == "no"
    assert ch.issue_words(t, ch.ROWS_60D["net"]) == ("ends at about the same precision from every start and has "
                                                     "examples going back and forth late in the run (cycles)")
    g = ch.table60_glue(t, tiny_cfg(), 5, 0.3, 0.9)
    assert g["t60_diff_word"].endswith("and shows no cycles") and "t60_free_word" not in g
    assert g["t60_value_flips"] == 4 and g["t60_starts"] == 5 and g["t60_restr"] == 0.9


def test_add_verdicts_and_sentences():
    t2, t60 = hand_table2d(), hand_table60()
    shares = pd.DataFrame({"lower right per point / average": [0.2]}, index=[ch.ROWS_2D["diff"]])
    v = Verdicts("appendix-2d-toy")
    j = ch.add_verdicts(v, t2, shares, t60, n_starts=5)
    assert [r.holds for r in v.rows] == ["yes", "yes", "yes", "yes", "yes", "partly", "yes", "partly"]
    assert v.rows[5].ours.endswith("over 5 starts, 0 examples flipping back and forth late")
    assert v.extra["table_60d"][0]["method"] == ch.ROWS_60D["value"] and v.extra["tolerances"]["spread"] == 0.05
    g = ch.verdict_glue(j, shares)
    assert g["t2_v_2d"] == "The two-dimensional claims of §6.1 hold here" and g["t2_diff_ratio"] == 0.2
    assert g["t2_v_60"].startswith("the difference formulation, the paper's method at that stage, shows only one")
    bad = ch.add_verdicts(Verdicts("x"), t2, shares.assign(**{"lower right per point / average": 0.9}), t60, 5)
    assert ch.verdict_glue(bad, shares)["t2_v_2d"].endswith("hold only in part here")
