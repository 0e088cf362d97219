"""What the alternatives chapter assembles (metareweight.chapters.alternatives)."""

import math
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from metareweight import alternatives as methods_module  # noqa: E402
from metareweight.chapters import alternatives as chapter  # noqa: E402
from metareweight.names import display_name  # noqa: E402
from metareweight.profiles import resolve  # noqa: E402
from metareweight.verdicts import Verdicts, is_true  # noqa: E402

N = 8
#: test MSE of each method as a multiple of Restricted's on the same split
FACTORS = {"all": 4.0, "restricted": 1.0, "constant": 2.0, "reweighted": 0.5, "reweighted_seed0": 0.5,
           "restricted_tuned": 0.9, "valid_only": 3.0, "soft_band": 1.0, "label_shift": 0.8, "lds_inverse": 1.1,
           "l2rw": 2.4, "l2rw_closed_form": 1.2, "mwnet": 2.2, "mwnet_closed_form": 1.3, "age_only": 1.0}
VALID_METHODS = [m for m in FACTORS if m not in ("all", "restricted", "constant")]


class FakeConfig(SimpleNamespace):
    def variant(self, **changes):
        return FakeConfig(**{**vars(self), **changes})


def control_rows(n=N, missed=()):
    return [{"split": k, "sgd_mse": 3.6e-4, "restricted_mse": 3.5e-4, "ratio": 1.2 if k in missed else 1.0 + 0.001 * k,
             "epochs": 100, "steps": 8800, "schedule_steps": 8800, "within_5pct": k not in missed,
             "chosen": {"lr": 1e-3, "lr_scale": 1.0 if k else 0.1, "epochs": 100.0},
             "edges": {"lr": "high" if k else None, "epochs": "high"}} for k in range(n)]


def fake_runs(n=N, missed=()):
    """Both conventions on ``n`` splits: Restricted's test MSE 5 + k, every other method
    :data:`FACTORS` times it; validation MSEs the same shape, the constant's 10 + k; the SGD
    control misses on the splits of ``missed`` (code only)."""
    index = pd.Index(range(n), name="split")
    base = 5.0 + np.arange(n)
    test = pd.DataFrame({m: f * base for m, f in FACTORS.items()}, index=index)
    valid = pd.DataFrame({m: FACTORS[m] * base for m in VALID_METHODS}, index=index)
    const = pd.Series(10.0 + np.arange(n), index=index)
    chosen = {"soft_band": [{"sigma": s} for s in [1.0] * (n - 1) + [math.inf]],
              "l2rw": [{"lr": 1e-5, "epochs": 100.0, "lr_scale": 0.001}] * n}
    edges = {"soft_band": [{"sigma": None}] * (n - 1) + [{"sigma": "high"}],
             "l2rw": [{"lr": "low", "epochs": "high"}] * n}
    return chapter.Runs(test={"scaled": test, "code": test.copy()}, valid={"scaled": valid, "code": valid.copy()},
                        const_valid={"scaled": const, "code": const.copy()},
                        control={"scaled": control_rows(n), "code": control_rows(n, missed)},
                        chosen={"scaled": chosen, "code": chosen}, edges={"scaled": edges, "code": edges},
                        cold={"scaled": 10.0, "code": 20.0})


def test_in_years2_keeps_the_frame():
    s = pd.Series([1e-4, 2.5e-4], index=[3, 4])
    out = chapter.in_years2(s)
    assert list(out.index) == [3, 4] and out.tolist() == [1e-4 * 1e4, 2.5e-4 * 1e4]


def test_name_is_the_display_name():
    assert chapter.name("l2rw") == display_name("l2rw")


def test_conventions_take_the_ablation_splits_with_0_255_pixels(monkeypatch):
    monkeypatch.setattr(chapter, "code_pixels", lambda faces: ("code", faces))
    data = chapter.conventions("faces", [0, 1, 2], SimpleNamespace(pixel_ablation_splits=2))
    assert data == {"scaled": ("faces", [0, 1, 2]), "code": (("code", "faces"), [0, 1])}


def test_method_descriptions_list_every_method():
    table = chapter.method_descriptions()
    assert len(table) == 4 + len(methods_module.ALTERNATIVES) + 1
    assert table.loc[display_name("age_only"), "what it is"].startswith("Age-only weighting h(y)")
    assert table.index.name == "method"


def test_sgd_glue_reads_the_settings():
    glue = chapter.sgd_glue()
    assert glue["control_tol"] == f"{methods_module.CONTROL_TOLERANCE:.0%}"
    assert glue["sgd_schedule"] == max(methods_module.EPOCHS) and glue["sgd_batch"] == methods_module.BATCH
    assert glue["sgd_epochs"].split(", ") == [str(e) for e in methods_module.EPOCHS]
    assert glue["sgd_meta_lrs"].count(" or ") == len(methods_module.META_LRS) - 1


def one_split_runs(k):
    base = {"mse": {"all": 4.0, "restricted": 1.0, "constant": 2.0, "reweighted": 0.5},
            "valid_mse": {"meta_final": 0.6}}
    alt = {"mse": {"label_shift": 0.8}, "valid_mse": {"label_shift": 0.9}, "control": {"ratio": 1.0 + k},
           "chosen": {"label_shift": {"width": k}}, "edges": {"label_shift": {"width": None}}, "cold_seconds": 2.0}
    age_only = {"mse": {"reweighted": 1.5}, "valid_mse": {"meta_final": 1.6}, "cold_seconds": 1.0}
    return base, alt, age_only


def test_split_rows_average_the_meta_seeds():
    base, alt, age_only = one_split_runs(0)
    seeds = [{"mse": {"reweighted": 0.2}, "valid_mse": {"meta_final": 0.1}},
             {"mse": {"reweighted": 0.4}, "valid_mse": {"meta_final": 0.3}}]
    split = SimpleNamespace(index=6)
    row = chapter.split_test_row(split, base, alt, age_only, seeds)
    assert row == pytest.approx({"split": 6, "all": 4.0, "restricted": 1.0, "constant": 2.0, "reweighted": 0.3,
                                 "reweighted_seed0": 0.5, "label_shift": 0.8, "age_only": 1.5})
    valid = chapter.split_valid_row(split, base, alt, age_only, seeds)
    assert valid == pytest.approx({"split": 6, "reweighted": 0.2, "reweighted_seed0": 0.6, "label_shift": 0.9,
                                   "age_only": 1.6})


def test_split_jobs_run_three_per_split():
    cfg = FakeConfig(weight_inputs="both")
    jobs = chapter.split_jobs("faces", ["s0", "s1"], cfg)
    assert [j[0] for j in jobs] == [chapter.run_split, chapter.alternatives_run, chapter.run_split] * 2
    assert [j[2] for j in jobs] == ["s0"] * 3 + ["s1"] * 3
    assert jobs[2][3].weight_inputs == "y" and jobs[0][3] is cfg


def test_collect_assembles_frames_in_years2():
    splits = [SimpleNamespace(index=k) for k in (4, 7)]
    runs = [(None, r) for k in range(2) for r in one_split_runs(k)]
    seeds = [[(None, {"mse": {"reweighted": 1e-4 * (k + 1)}, "valid_mse": {"meta_final": 0.0}}) for k in range(2)]]
    found = chapter.collect(splits, runs, seeds)
    assert list(found["test"].index) == [4, 7]
    assert found["test"].loc[7, "reweighted"] == pytest.approx(2.0) and found["test"].loc[4, "all"] == 4e4
    assert found["valid"].loc[4, "age_only"] == pytest.approx(1.6e4)
    assert found["control"] == [{"split": 4, "ratio": 1.0}, {"split": 7, "ratio": 2.0}]
    assert found["chosen"] == {"label_shift": [{"width": 0}, {"width": 1}]}
    assert found["edges"] == {"label_shift": [{"width": None}] * 2}
    assert found["cold"] == 6.0


def test_run_every_method_calls_the_runs_of_each_convention(monkeypatch):
    splits = [SimpleNamespace(index=k) for k in range(2)]
    monkeypatch.setattr(chapter, "parallel", lambda jobs, cached: [
        (None, one_split_runs(k)[i % 3]) for k in range(len(jobs) // 3) for i in range(3)])
    monkeypatch.setattr(chapter.table1, "seed_runs", lambda faces, ss, cfg: [[(None, one_split_runs(0)[0])] * len(ss)])
    monkeypatch.setattr(chapter, "constant_valid_mse", lambda faces, s, cfg: 10.0 + s.index)
    runs = chapter.run_every_method({"scaled": ("f", splits), "code": ("c", splits[:1])}, FakeConfig())
    assert list(runs.test) == ["scaled", "code"] and len(runs.test["code"]) == 1
    assert runs.const_valid["scaled"].tolist() == [10.0, 11.0]
    assert runs.cold == {"scaled": 6.0, "code": 3.0}


def test_methods_and_the_per_split_table_leave_out_seed_0():
    runs = fake_runs()
    assert "reweighted_seed0" not in chapter.methods_of(runs.test) and "age_only" in chapter.methods_of(runs.test)
    table = chapter.per_split_table(runs)
    assert table.loc[1, display_name("all")] == 24.0 and len(table.columns) == len(FACTORS) - 1


def test_control_table_and_its_words():
    control = {"scaled": control_rows(3), "code": control_rows(3, missed=(1,))}
    table = chapter.control_table(control)
    assert table.loc[("0-255 pixels", 1), "within 5%"] == "✗ (missed)"
    assert table.loc[("[0, 1] pixels", 2), "SGD control, test MSE (years²)"] == "3.600"
    assert table.loc[("[0, 1] pixels", 2), "ratio"] == "1.0020"
    assert chapter.control_passed(control) == {"scaled": True, "code": False}
    glue = chapter.control_glue(control)
    assert glue == {"control_ok_scaled": "on every split", "control_worst_scaled": "0.2%",
                    "control_ok_code": "on 2 of 3 splits only", "control_worst_code": "20.0%"}


def test_mean_sd_uses_the_population_std():
    assert chapter.mean_sd([1.0, 3.0]) == "2.00 ± 1.00"


def test_league_counts_wins_and_shows_no_validation_for_the_baselines():
    table = chapter.league(fake_runs())
    row = table.loc[("[0, 1] pixels", display_name("reweighted"))]
    assert row["beats Restricted"] == "8/8" and row["beats constant"] == "8/8"
    assert row["vs Restricted, 95% t interval"] == "+50.0% to +50.0%"
    assert table.loc[("[0, 1] pixels", display_name("all")), f"validation MSE (years², {chapter.SD})"] == "—"
    constant = table.loc[("[0, 1] pixels", display_name("constant")), f"validation MSE (years², {chapter.SD})"]
    assert constant == chapter.mean_sd(10.0 + np.arange(N))
    assert len(table) == 2 * (len(FACTORS) - 1)


def test_peers_glue_compares_with_the_constant():
    glue = chapter.peers_glue(fake_runs())
    parts = glue["peers_vs_const_scaled"].split("; ")
    assert parts[0] == f"{display_name('l2rw')} 0 of 8 (mean test MSE 1.20 times the constant's)"
    assert parts[2].startswith(f"{display_name('l2rw_closed_form')} 8 of 8")
    assert glue["best_peer_valid_code"].startswith(f"{display_name('l2rw_closed_form')}, 10.20 years², against "
                                                   "the constant's 13.50")


def test_league_figure_orders_by_the_scaled_mean():
    fig = chapter.league_figure(fake_runs().test)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == display_name("reweighted") and labels[-1] == display_name("all")
    assert len(ax.patches) == 2 * len(labels) and "Reweighted, meta seed 0" in labels
    assert not [t for t in labels if "_" in t]  # reader words only
    # linear, up to Meta-Weight-Net's 1.1 (the largest ratio at most 1.1) x 1.1, rounded up to 1.3
    assert ax.get_yscale() == "linear" and ax.get_ylim() == pytest.approx((0, 1.3))
    # All (2.0) and validation rows only (1.5) are cut at the top, with their means printed, twice
    clipped = sorted(t.get_text() for t in ax.texts)
    assert clipped == ["1.5", "1.5", "2.0", "2.0"]
    assert max(p.get_height() for p in ax.patches) == pytest.approx(1.3)
    assert [line.get_ydata()[0] for line in ax.lines if line.get_label().startswith("constant")] == [1.0]
    plt.close(fig)


def test_value_words():
    assert chapter.value_words("window", "gaussian").startswith("DIR's Gaussian window")
    assert chapter.value_words("width", 0) == "none" and chapter.value_words("width", 1.0) == "Gaussian, σ 1 bin"
    assert chapter.value_words("width", 2.0) == "Gaussian, σ 2 bins"
    assert chapter.value_words("sigma", math.inf) == "∞ (All)" and chapter.value_words("lambda", 0.00316) == "0.00316"


def test_choice_rows_count_values_and_edges():
    picks = [{"lr": 1.0, "lr_scale": 0.1, "epochs": 100.0}, {"lr": 2.0, "lr_scale": 0.1, "epochs": 50.0},
             {"lr": 3.0, "lr_scale": 1.0, "epochs": 100.0}]
    where = [{"lr": None, "epochs": "high"}, {"lr": "low", "epochs": None}, {"lr": "high", "epochs": "high"}]
    rows = chapter.choice_rows("scaled", "M", picks, where)
    assert [r["hyperparameter"] for r in rows] == ["step size (× 1/L)", "epochs"]  # the raw lr is left out
    assert rows[0]["chosen (splits)"] == "0.1 (2), 1 (1)"
    assert rows[0]["at the grid's edge"] == "low on 1 of 3, high on 1 of 3"
    assert rows[1]["at the grid's edge"] == "high on 2 of 3"
    assert chapter.choice_rows("code", "M", [{"sigma": 1.0}], [{"sigma": None}])[0]["at the grid's edge"] == "never"


def test_choices_table_adds_the_control():
    table = chapter.choices_table(fake_runs())
    methods = table.loc["[0, 1] pixels"].index.get_level_values("method").unique().tolist()
    assert methods == [display_name("soft_band"), display_name("l2rw"), "SGD control (Restricted's weights)"]
    sigma = table.loc[("[0, 1] pixels", display_name("soft_band"), "σ (years)")]
    assert sigma["chosen (splits)"] == "1 (7), ∞ (All) (1)" and sigma["at the grid's edge"] == "high on 1 of 8"


def test_degenerate_flags_and_compare_drop_those_splits():
    runs = fake_runs()
    runs.valid["scaled"].loc[[0, 3], "label_shift"] = runs.const_valid["scaled"].loc[[0, 3]] * 1.005
    flags = chapter.degenerate_flags(runs)
    assert flags["scaled"]["label_shift"].tolist() == [True, False, False, True] + [False] * 4
    summary, usable = chapter.compare(runs.test["scaled"], flags["scaled"], "label_shift")
    assert usable == 6 and summary["wins"] == 6
    assert chapter.compare(runs.test["code"], flags["code"], "label_shift")[1] == 8


def test_best_simple_is_the_lowest_mean_validation():
    runs = fake_runs()
    assert chapter.best_simple(runs.valid) == {"scaled": "label_shift", "code": "label_shift"}
    runs.valid["code"]["valid_only"] = 0.1
    assert chapter.best_simple(runs.valid)["code"] == "valid_only"


def test_interval_needs_two_splits():
    assert chapter.interval({"n": 1, "ci_low": 0.1, "ci_high": 0.2}) == "—"
    assert chapter.interval({"n": 3, "ci_low": -0.1, "ci_high": 0.25}) == "-10.0% to +25.0%"


def test_best_table():
    runs = fake_runs()
    best = chapter.best_simple(runs.valid)
    flags = chapter.degenerate_flags(runs)
    vs = {c: chapter.compare(runs.test[c], flags[c], best[c]) for c in runs.test}
    table = chapter.best_table(runs.test, best, vs)
    assert table.loc["usable splits", "[0, 1] pixels"] == "8 of 8"
    assert table.loc["re-weighted wins (usable splits)", "0-255 pixels"] == "8/8"
    assert table.loc["its mean test MSE (years²)", "[0, 1] pixels"] == "6.80"  # 0.8 x 8.5


def verdict_inputs(runs):
    best = chapter.best_simple(runs.valid)
    flags = chapter.degenerate_flags(runs)
    vs = {c: chapter.compare(runs.test[c], flags[c], best[c]) for c in runs.test}
    return best, vs, chapter.plans(runs, best, vs, flags)


def test_plans_mark_the_peers_untested_where_the_control_missed():
    runs = fake_runs(missed=(2,))
    _, _, plans = verdict_inputs(runs)
    assert len(plans) == 2 * (2 + len(chapter.PEERS))
    by_key = {(p.conv, p.key): p for p in plans}
    assert by_key["scaled", "l2rw"].why is None
    assert by_key["code", "mwnet"].why == "the SGD control missed Restricted by more than 5% on 1 of 8 splits"
    assert by_key["scaled", "age_only"].kind == "claim" and by_key["scaled", "age_only"].summary["wins"] == 8
    assert f"({display_name('label_shift')}, 0-255 pixels)" in by_key["code", "best"].claim


def test_raw_p_needs_enough_usable_splits():
    plan = chapter.Plan("scaled", "k", "c", "s", "p", "beyond", {"perm_p": 0.01}, chapter.MIN_SPLITS, None)
    assert chapter.raw_p(plan) == 0.01
    assert math.isnan(chapter.raw_p(plan._replace(usable=chapter.MIN_SPLITS - 1)))
    assert math.isnan(chapter.raw_p(plan._replace(why="no")))


def test_holm_families_split_the_claim_from_the_questions_beyond():
    runs = fake_runs(missed=(2,))
    _, _, plans = verdict_inputs(runs)
    adjusted, family_of = chapter.holm_families(plans)
    by_key = {(p.conv, p.key): i for i, p in enumerate(plans)}
    assert family_of[by_key["scaled", "age_only"]] == 2  # the claim, over both conventions
    assert family_of[by_key["scaled", "best"]] == 1 + len(chapter.PEERS)
    assert family_of[by_key["code", "best"]] == 1 and math.isnan(adjusted[by_key["code", "l2rw"]])
    p = plans[by_key["scaled", "l2rw"]].summary["perm_p"]
    assert adjusted[by_key["scaled", "l2rw"]] >= p


def test_judge_and_ours_words():
    plan = chapter.Plan("scaled", "k", "c", "s", "p", "beyond", {"wins": 3, "mean_rel_improvement": 0.125}, 4, None)
    assert chapter.ours_words(plan) == "3 of 4 usable splits, mean relative improvement +12.5%"
    assert chapter.ours_words(plan._replace(usable=0)) == "no usable split"
    assert chapter.ours_words(plan._replace(why="x")) == "not reported (see the criterion)"
    assert chapter.judge(plan._replace(why="x"), 0.01, 5).holds == "untested"


def test_add_verdicts_and_their_glue():
    runs = fake_runs(missed=(2,))
    best, vs, plans = verdict_inputs(runs)
    adjusted, family_of = chapter.holm_families(plans)
    verdicts = Verdicts("x")
    outcome = chapter.add_verdicts(verdicts, plans, adjusted, family_of)
    assert outcome["scaled", "best"].holds == "yes"  # reweighted wins on every split, 8 of 8, by 37.5%
    assert outcome["code", "l2rw"].holds == "untested"
    assert len(verdicts.frame()) == len(plans)
    family = int(family_of.max())
    glue = chapter.verdict_glue(best, outcome, family, "words")
    assert glue["v_best_scaled"] == "beats" and glue["best_code"] == display_name("label_shift")
    assert glue["family_size"] == 1 + len(chapter.PEERS) and glue["holm_floor"] == "words"


def test_holm_floor_words():
    plan = chapter.Plan("scaled", "k", "c", "s", "p", "beyond", {}, 8, None)
    words = chapter.holm_floor_words([plan, plan._replace(usable=5)], np.array([0.1, 0.2]), 5)
    assert words.startswith("with 8 usable splits the smallest two-sided sign-flip p-value is 2/2^8 = 0.0078")
    assert "5 x 0.0078 = 0.039 ≤ 0.05: a consistent enough comparison can be declared" in words
    small = chapter.holm_floor_words([plan._replace(usable=5)], np.array([0.1]), 5)
    assert small.endswith("no comparison of this family can be declared, whatever the data")
    assert chapter.holm_floor_words([plan], np.array([np.nan]), 0) == "no comparison could be tested"


def test_best_words():
    assert chapter.best_words(is_true(True, "c", v=1)) == "beats"
    assert chapter.best_words(is_true(False, "c", v=1)) == "loses to"


def test_plain_writes_infinity_as_text():
    assert chapter.plain({"sigma": math.inf, "lambda": 0.1, "window": "x"}) == {"sigma": "inf", "lambda": 0.1,
                                                                                 "window": "x"}


def test_control_record_is_in_years2():
    c = chapter.control_record(control_rows(1)[0])
    assert c == {"split": 0, "sgd_mse": pytest.approx(3.6), "restricted_mse": pytest.approx(3.5), "ratio": 1.0,
                 "epochs": 100, "steps": 8800, "schedule_steps": 8800, "lr_scale": 0.1, "within_5pct": True}


def test_best_record_drops_the_per_split_improvements():
    out = chapter.best_record("code", "soft_band", ({"n": 8, "rel_improvement": [0.1]}, 7), is_true(False, "c", v=1))
    assert out == {"name": "soft_band", "pixels": "0-255 pixels", "paired": {"n": 8}, "usable_splits": 7,
                   "holds": "no", "verdict": "loses to"}


def test_per_split_lists_and_attachments():
    runs = fake_runs(missed=(0,))
    assert chapter.per_split_lists(runs.test, "restricted")["code"] == [5.0 + k for k in range(N)]
    assert chapter.attachments(runs, 3) == {
        "cold_seconds": {"alternatives (scaled)": 10.0, "alternatives (code)": 20.0},
        "sgd_control_passed": {"[0, 1] pixels": True, "0-255 pixels": False}, "holm_family": 3}


def test_record_gathers_every_part():
    runs = fake_runs(missed=(2,))
    best, vs, plans = verdict_inputs(runs)
    adjusted, family_of = chapter.holm_families(plans)
    outcome = chapter.add_verdicts(Verdicts("x"), plans, adjusted, family_of)
    record = chapter.record(resolve("quick"), runs, best, vs, outcome, 5)
    assert record["target"] == "14-21" and record["holm_family"] == 5
    assert record["methods"]["reweighted"]["scaled"][0] == 2.5 and "reweighted_seed0" not in record["methods"]
    assert record["methods"]["sgd_restricted_control"]["code"][2]["within_5pct"] is False
    assert "all" not in record["valid"] and record["valid"]["constant"]["scaled"][0] == 10.0
    assert record["chosen"]["soft_band"]["scaled"][-1] == {"sigma": "inf"}
    assert record["at_edge"]["soft_band"]["scaled"] == [False] * (N - 1) + [True]
    assert record["control_passed"] == {"scaled": True, "code": False}
    assert record["splits"]["code"] == list(range(N))
    assert record["best_by_validation"]["scaled"]["verdict"] == "beats"
    assert record["cold_seconds"] == {"scaled": 10.0, "code": 20.0}
