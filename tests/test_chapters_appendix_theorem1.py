"""The Theorem 1 chapter's assembly (metareweight.chapters.appendix_theorem1)."""

import math
from types import SimpleNamespace as NS

import numpy as np
import pytest

from metareweight.chapters import appendix_theorem1 as ch
from metareweight.influence import INPUTS, Disagreements, disagreements, h1_scaling_counterexample, random_problem
from metareweight.verdicts import Verdicts


def test_effects_match_the_closed_form_of_the_scale_example():
    e = ch.effects(h1_scaling_counterexample(2.0))  # dot 4 (1 - 0.5 c^2), effect -1/6
    assert e.dot[0] == pytest.approx(-4.0) and e.exact[0] == pytest.approx(-1 / 6)


def test_refit_error_is_small_for_least_squares_and_ridge():
    err = ch.refit_error(random_problem(30, 2, 0, n_candidates=3), alphas=(0.0, 0.1))
    assert 0 <= err < 1e-3
    assert ch.refit_error(random_problem(30, 2, 0, n_candidates=3), alphas=(0.0,), delta=0.5) > err  # a coarse step


def test_scaling_follows_the_formulas():
    sc = ch.scaling([1.0, 2.0])
    np.testing.assert_allclose(sc.h1_dots, [2.0, -4.0])  # 4 (1 - 0.5 c^2)
    np.testing.assert_allclose(sc.rev_dots, [0.8, -8.8])  # 4 (1 - 0.8 c^2)
    np.testing.assert_allclose(sc.h1_exact, [-1 / 6] * 2)
    np.testing.assert_allclose(sc.rev_exact, [2 / 15] * 2)
    assert list(sc.runs) == list(ch.SCALE_CANDIDATES)


def test_h1_counterexample_record():
    h1 = ch.h1_counterexample(2.0)
    assert h1["candidate"] == [-1.0, 1.0] and h1["dot"] == pytest.approx(-4.0)
    assert h1["effect_refit"] == pytest.approx(h1["effect"], rel=1e-4) and h1["refit_delta"] == ch.DELTA


def test_scaling_glue_finds_the_sign_changes():
    g = ch.scaling_glue(ch.scaling([1.0, 2.0, 3.0]), ch.h1_counterexample())
    assert g["th_h1_first"] == 2.0 and g["th_rev_last"] == 1.0
    assert g["th_h1_exact"] == pytest.approx(-1 / 6) and g["th_h1_exact_spread"] == pytest.approx(0, abs=1e-12)
    assert g["th_h1_theory"] == pytest.approx(math.sqrt(2)) and g["th_h1_scale"] == 2.0
    none = ch.scaling_glue(ch.scaling([0.5, 3.0]), ch.h1_counterexample())  # (-0.8c, 1) at 0.5: dot 3.2 > 0
    assert none["th_rev_last"] == 0.5
    assert math.isnan(ch.scaling_glue(ch.scaling([1.0]), ch.h1_counterexample())["th_h1_first"])


def test_coupling_counterexamples():
    cp = ch.coupling()
    np.testing.assert_allclose(cp.gv, [-2.0, 0.0])
    assert cp.plus.dot[0] == pytest.approx(4.0) and cp.plus.exact[0] == pytest.approx(1.0)
    assert cp.minus.dot[0] == pytest.approx(-4.0) and cp.minus.exact[0] == pytest.approx(-1.0)
    assert cp.refit["d- = (1, -1)"] == pytest.approx(-1.0, rel=1e-4)
    t = ch.coupling_table(cp)
    assert list(t.columns) == list(ch.COUPLING_CANDIDATES) and t.loc["g_d . g_v", "d+ = (1, 1)"] == pytest.approx(4.0)
    g = ch.coupling_glue(cp)
    assert g["th_gv_int"] == 0.0 and g["th_cp_dbeta_slope"] < 0 < g["th_cm_dbeta_slope"]


def test_disagreement_counts_cover_every_setting():
    cfg = NS(thm_n=20, thm_trials=2, thm_seed=1, thm_ridge_alpha=0.1, thm_candidates=5)
    counts = ch.disagreement_counts(cfg, features=(1,))
    assert list(counts) == [(1, i, f) for i in INPUTS for f in ("least squares", ch.ridge_label(0.1))]
    assert all(d.candidates == 10 for d in counts.values())
    oracle = disagreements(20, 1, 2, 1, alpha=0.1, inputs="raw", n_candidates=5)
    assert counts[(1, "raw", "ridge (alpha=0.1)")] == oracle


def fake_counts():
    d = Disagreements
    counts = {}
    for p in (1, 20):
        for inputs in INPUTS:
            for k, fit in enumerate(("least squares", "ridge (alpha=0.1)")):
                h1, rev = {"raw": (10, 5), "standardised": (0, 0) if p == 1 else (4, 2), "whitened": (0, 0)}[inputs]
                counts[(p, inputs, fit)] = d(100, h1 + k, rev)
    return counts


def test_rates_table_normalisation_and_glue():
    counts = fake_counts()
    rates = ch.rates_table(counts)
    assert rates.shape == (6, 4) and rates.loc[(1, "raw"), ("least squares", "dot < 0 but helps")] == 0.1
    norm = ch.normalisation(counts)
    assert (norm.std1, norm.std20, norm.white_max) == (0.01, 0.06, 0.01)  # the ridge fits add one h1 each
    g = ch.rates_glue(counts, norm, NS(thm_trials=2, thm_candidates=50, thm_n=30))
    assert g["th_raw_1_h1"] == 0.1 and g["th_sta_20_rev"] == 0.02 and g["th_std1_word"] == "does not remove"
    assert g["th_white_word"] == "still" and g["th_norm_reason"].startswith("Normalising the training inputs did")
    clean = ch.rates_glue(counts, ch.Normalisation(0.0, 0.1, 0.0), NS(thm_trials=2, thm_candidates=50, thm_n=30))
    assert clean["th_std1_word"] == "removes" and clean["th_norm_reason"].startswith("The paper's reason")
    assert ch.raw_totals(counts) == (10 * 2 + 11 * 2, 5 * 4, 400)


def test_real_head_counts_every_meta_training_row():
    pr = random_problem(60, 3, 4, n_candidates=1)
    sf, split = NS(X=pr.X, y=pr.y), NS(meta_train=np.arange(40), valid=np.arange(40, 60))
    real = ch.real_head(sf, split, ridge_lambda=1e-4)
    assert real.candidates == 40
    # a huge penalty makes A a multiple of the identity: dot product and effect agree in sign
    assert ch.real_head(sf, split, ridge_lambda=1e9).h1 + ch.real_head(sf, split, ridge_lambda=1e9).reverse == 0
    t, g = ch.real_table(Disagreements(50, 3, 2)), ch.real_glue(Disagreements(50, 3, 2))
    assert t.iloc[0].tolist() == [50, 3, 2] and g["th_real_h1_share"] == 0.06 and g["th_real_rev"] == 2


def test_add_verdicts_and_words():
    counts = fake_counts()
    norm = ch.normalisation(counts)
    v = Verdicts("appendix-theorem1")
    j = ch.add_verdicts(v, ch.h1_counterexample(), ch.scaling(np.geomspace(0.25, 4.0, 12)), ch.coupling(),
                        counts, norm, Disagreements(50, 3, 2))
    assert [r.holds for r in v.rows] == ["yes"] * 6 and set(j) == {"h1", "scale", "norm", "coupling", "reverse",
                                                                     "real"}
    assert v.extra["h1_coupling_counterexample"]["candidate"] == [1.0, -1.0]
    assert len(v.extra["disagreements"]) == 12 and v.extra["real_head"]["rows"] == 50
    words = ch.verdict_glue(j, norm)
    assert words["th_v_h1"] == "is false, as Theorem 1 says" and words["th_v_norm"].startswith(
        "does not fix it in any setting we tried (standardising the training inputs leaves")
    no_real = ch.add_verdicts(Verdicts("x"), ch.h1_counterexample(), ch.scaling([1.0, 2.0]), ch.coupling(), counts,
                              ch.Normalisation(0.0, 0.0, 0.0), Disagreements(50, 0, 0))
    assert no_real["real"].holds == "no" and no_real["norm"].holds == "no"
    assert ch.verdict_glue(no_real, ch.Normalisation(0.0, 0.0, 0.0))["th_v_norm"].startswith("fixes it in every")
