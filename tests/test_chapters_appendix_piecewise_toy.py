"""The piecewise-affine toy chapter's assembly (metareweight.chapters.appendix_piecewise_toy)."""

from types import SimpleNamespace as NS

import numpy as np
import pandas as pd
import pytest

from metareweight.chapters import appendix_piecewise_toy as ch
from metareweight.toys import AlignSettings, Toy, align_fit, least_squares, make_piecewise_1d
from metareweight.verdicts import Verdicts


def run(slope, intercept=0.0, weights=(1.0,), start_slope=None):
    """A stand-in for an AlignmentResult."""
    start = slope if start_slope is None else start_slope
    return NS(coef=np.array([slope]), intercept=intercept, weights=np.asarray(weights, dtype=float),
              history={"step": [0, 10], "coef": [np.array([start]), np.array([slope])]})


def tiny_cfg(**kw):
    base = dict(toy1d_n=40, toy1d_steps=12, toy1d_lr=1e-2, toy1d_valid_ema=1.0, toy1d_starts=2, toy1d_seed=3,
                toy1d_meta_steps=4, toy1d_meta_lr=1e-2, toy1d_ridge_alpha=1e-4)
    return NS(**{**base, **kw})


def test_finds_slope_uses_the_tolerance():
    assert ch.finds_slope(np.array([3.95, 4.2, 4.0, 3.5])).tolist() == [True, False, True, False]
    assert not ch.finds_slope(4.05, tol=0.01)


def test_data_glue_on_the_toy():
    toy = make_piecewise_1d(100)
    ols, _ = least_squares(toy.X, toy.y)
    valid, _ = least_squares(toy.X[toy.valid], toy.y[toy.valid])
    g = ch.data_glue(toy, ols, valid)
    assert g["t1_n"] == 100 and g["t1_n_valid"] == 10 and g["t1_tol"] == ch.SLOPE_TOL
    assert g["t1_xmin"] == pytest.approx(-0.495) and g["t1_xmax"] == pytest.approx(0.495)
    assert g["t1_valid_slope"] == pytest.approx(4.0)  # the validation points lie past the kink
    assert 1.0 < g["t1_ols_slope"] < 4.0


def test_main_runs_are_the_loop_from_theta_zero():
    toy, cfg = make_piecewise_1d(40), tiny_cfg()
    value, diff = ch.main_runs(toy, cfg)
    direct = align_fit(toy.X, toy.y, toy.X[toy.valid], toy.y[toy.valid],
                       AlignSettings(formulation="difference", steps=12, lr=1e-2, valid_ema=1.0))
    np.testing.assert_allclose(diff.coef, direct.coef)
    assert value.history["step"][-1] == 12 and not np.allclose(value.coef, diff.coef)


def test_main_table_counts_kept_examples():
    valid = np.array([False, True, True])
    t = ch.main_table(run(1.5, 0.2, [0.9, 0.1, 0.6]), run(4.0, 0.0, [0.0, 1.0, 1.0]), valid)
    assert t["weights > 0.5"].tolist() == [2, 2] and t["of them validation points"].tolist() == [1, 2]
    assert t.loc["value formulation", "intercept b"] == 0.2


def test_main_judgements_and_glue_words():
    j_value, j_diff = ch.main_judgements(run(1.5), run(3.99))
    assert j_value.holds == "yes" and j_diff.holds == "yes"
    j_value2, j_diff2 = ch.main_judgements(run(4.0), run(2.0))
    assert j_value2.holds == "no" and j_diff2.holds == "no"
    g = ch.main_glue(tiny_cfg(), run(4.0, weights=[1, 0]), run(2.0, weights=[0.7, 0.8]), np.array([True, False]),
                     j_value2, j_diff2)
    assert g["t1_value_word"] == "finds slope 4" and g["t1_diff_word"] == "does not find slope 4"
    assert (g["t1_value_kept"], g["t1_diff_kept"], g["t1_diff_kept_valid"]) == (1, 2, 1)
    assert g["t1_steps"] == 12


def test_slope_paths_read_the_histories():
    paths = ch.slope_paths(run(2.0, start_slope=0.0), run(4.0, start_slope=0.0))
    assert paths["difference formulation"] == ([0, 10], [0.0, 4.0])


def test_interference_on_a_hand_made_problem():
    # at theta = 0: residuals (prediction - target) are -1; validation gradient 2 * (mean(-x_v), -1) = (-2, -2)
    toy = Toy(np.array([[-0.5], [1.0]]), np.array([1.0, 1.0]), np.array([False, True]))
    inter = ch.interference(toy, np.array([0.0]), 0.0)
    np.testing.assert_allclose(inter.gv, [-2.0, -2.0])
    np.testing.assert_allclose(inter.parts, [[-2.0, 4.0], [4.0, 4.0]])
    assert inter.set_by_intercept.tolist() == [True, False] and inter.left_helpful.tolist() == [True, False]
    g = ch.interference_glue(inter)
    counts = ("t1_n_valid_above", "t1_n_helpful", "t1_n_left_helpful", "t1_n_set_by_intercept")
    assert [g[k] for k in counts] == [1, 2, 1, 1]
    assert g["t1_intercept_ratio"] == pytest.approx(1.5)  # median of 4/2 and 4/4


def test_robustness_runs_cover_every_direction_and_start():
    toy, cfg = make_piecewise_1d(40), tiny_cfg()
    runs = ch.robustness_runs(toy, cfg)
    assert list(runs) == [(f, label) for f in ch.FORMULATIONS for label, _ in ch.DIRECTIONS]
    assert all(len(r) == 3 for r in runs.values())
    first = align_fit(toy.X, toy.y, toy.X[toy.valid], toy.y[toy.valid],
                      AlignSettings(formulation="value", steps=12, lr=1e-2, valid_ema=0.02, seed=3))
    np.testing.assert_allclose(runs[("value", "code: average of g_v")][1].coef, first.coef)


def test_robustness_row_counts_starts():
    results = [run(4.0), run(3.95), run(2.0, weights=[0.0, 0.0]), run(1.0, weights=[0.0], start_slope=0.5)]
    row = ch.robustness_row("difference", "paper: current g_v", results)
    assert row["slope from theta = 0"] == 4.0 and row["median slope, random starts"] == 2.0
    assert row["random starts that find slope 4"] == 1
    assert row["random starts ending with every weight 0"] == 2 and row["of them still at their starting slope"] == 1


def fake_variants():
    runs = {("value", "paper: current g_v"): [run(1.5), run(1.0), run(2.0)],
            ("value", "code: average of g_v"): [run(3.96), run(4.0), run(1.0)],
            ("difference", "paper: current g_v"): [run(4.0), run(4.0), run(4.02)],
            ("difference", "code: average of g_v"): [run(3.0), run(4.0), run(0.5, weights=[0.0])]}
    return ch.robustness_table(runs)


def test_robustness_table_variant_and_summary():
    variants = fake_variants()
    assert len(variants) == 4 and variants["formulation"].tolist() == ["value"] * 2 + ["difference"] * 2
    assert ch.variant(variants, "value", "code")["slope from theta = 0"] == 3.96
    rob = ch.robustness(variants, starts=2)
    assert rob.code_value_slope == 3.96 and rob.j_ema.holds == "no"  # 0.04 from 4: it finds slope 4
    assert (rob.diff_zero_found, rob.diff_random_found, rob.diff_random_total) == (1, 3, 4)
    assert (rob.diff_zeroed, rob.diff_stuck) == (1, 1) and rob.j_random.holds == "no"
    g = ch.robustness_glue(rob, 2)
    assert g["t1_ema_word"] == "finds slope 4 as well" and g["t1_ema_reading"].startswith("So the failure")
    assert g["t1_diff_random_total"] == 4 and g["t1_starts"] == 2


@pytest.mark.slow  # starts torch: a few seconds
def test_closed_form_fits_refit_the_learned_weights():
    toy, cfg = make_piecewise_1d(40), tiny_cfg()
    ols, b = least_squares(toy.X, toy.y)
    closed = ch.closed_form_fits(toy, ols, b, cfg)
    assert list(closed) == ["net", "free"]
    for res, coef in closed.values():
        assert res.weights.shape == (40,) and coef.shape == (2,)
        ls, lb = least_squares(toy.X, toy.y, sample_weight=res.weights)  # the same fit, another solver
        np.testing.assert_allclose(coef, [ls[0], lb], atol=1e-2)
    table = ch.closed_table(closed)
    assert table.index.tolist() == ["weight network", "free weights"]
    assert table.loc["free weights", "weights > 0.1"] == int((closed["free"][0].weights > 0.1).sum())


def closed_stub(net_slope, free_slope, net_weights=(0.5, 0.05)):
    res = NS(weights=np.asarray(net_weights), history={"valid_mse": [1.0, 0.5]})
    return {"net": (res, np.array([net_slope, 0.1])), "free": (res, np.array([free_slope, 0.2]))}


def test_closed_glue_words():
    g = ch.closed_glue(tiny_cfg(), closed_stub(3.0, 2.0), ols_slope=1.5)
    assert g["t1_net_word"] == "moves from the unweighted slope towards 4 without reaching it"
    assert g["t1_free_word"] == "less far" and g["t1_net_kept"] == 1
    assert ch.closed_glue(tiny_cfg(), closed_stub(4.01, 4.5), 1.5)["t1_net_word"] == \
        "finds slope 4 without any reformulation"
    g2 = ch.closed_glue(tiny_cfg(), closed_stub(1.0, 3.0), 1.5)
    assert g2["t1_net_word"] == "does not move towards slope 4" and g2["t1_free_word"] == "as far or further"


def test_figure4_lines():
    lines = ch.figure4_lines(np.array([1.5]), 0.3, run(2.0, 0.1), run(4.0, 0.2), closed_stub(3.25, 2.0))
    assert list(lines.values())[0] == (1.5, 0.3)
    assert "closed form: weight network (slope 3.25)" in lines and lines["closed form: weight network (slope 3.25)"] \
        == (3.25, 0.1)


def test_add_verdicts_and_headline():
    inter = NS(set_by_intercept=np.array([True, False, True]))
    variants = fake_variants()
    rob = ch.robustness(variants, 2)
    v = Verdicts("appendix-piecewise-toy")
    j = ch.add_verdicts(v, tiny_cfg(), run(1.5), run(3.99), inter, rob, variants, np.array([1.2]),
                        closed_stub(3.0, 2.0), n=3)
    assert [r.holds for r in v.rows] == ["yes", "yes", "yes", "no", "no"]
    assert [j[k].holds for k in ("value", "interfere", "diff", "ema", "random")] == [r.holds for r in v.rows]
    assert v.rows[1].ours.startswith("2 of 3") and v.extra["slopes"]["closed_form_free"] == 2.0
    assert v.extra["robustness"] == variants.to_dict(orient="records")
    g = ch.verdict_glue(run(1.5), run(3.99), rob)
    assert g["t1_v_main"].startswith("Both results") and g["t1_v_random"] == "finds it from few random starts"
    assert ch.verdict_glue(run(4.0), run(3.99), rob)["t1_v_main"].startswith("The results of §6.1 do not")
    assert isinstance(v.frame(), pd.DataFrame)
