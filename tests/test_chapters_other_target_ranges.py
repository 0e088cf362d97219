"""What the other target ranges chapter assembles (metareweight.chapters.other_target_ranges)."""

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from metareweight.chapters import other_target_ranges as chapter  # noqa: E402
from metareweight.names import display_name  # noqa: E402
from metareweight.profiles import resolve  # noqa: E402
from metareweight.verdicts import Verdicts  # noqa: E402

CHOSEN = ["label_shift", "restricted_tuned"]


class FakeConfig(SimpleNamespace):
    def variant(self, **changes):
        return FakeConfig(**{**vars(self), **changes})


def results_frame(n=8):
    """Two bands of ``n`` splits: on 14-21 the re-weighted head halves every error of Restricted
    and beats the constant; on 30-40 it doubles Restricted's and loses to the constant."""
    rows = []
    for low, high, factor in ((14, 21, 0.5), (30, 40, 2.0)):
        for k in range(n):
            base = 10.0 + k
            rows.append({"band": f"{low}-{high}", "low": low, "high": high, "split": k, "n_test": 100 + k,
                         "n_valid": 50, "all": 4 * base, "restricted": base, "reweighted": factor * base,
                         "constant": 1.5 * base, "label_shift": base, "restricted_tuned": 3 * base})
    return pd.DataFrame(rows)


def test_band_label_and_splits(monkeypatch):
    assert chapter.band_label(14, 21) == "14-21"
    seen = {}
    monkeypatch.setattr(chapter, "make_splits", lambda ages, **kw: seen.update(kw) or ["s"])
    cfg = FakeConfig(n_splits=3, split_seed=7, split_protocol="paper")
    assert chapter.band_splits(SimpleNamespace(ages=np.arange(5)), cfg, 30, 40) == ["s"]
    assert seen == {"n_splits": 3, "low": 30, "high": 40, "seed": 7, "protocol": "paper"}


def test_validation_means_are_in_years2_and_lowest_first():
    infos = [{"valid_mse": {"a": 3e-4, "b": 1e-4}}, {"valid_mse": {"a": 5e-4, "b": 3e-4}}]
    means = chapter.validation_means(infos)
    assert list(means.index) == ["b", "a"]
    assert means.to_dict() == pytest.approx({"b": 2.0, "a": 4.0})


def test_main_band_choice_runs_every_split_of_the_main_band(monkeypatch):
    calls = []
    monkeypatch.setattr(chapter, "make_splits", lambda ages, **kw: calls.append((kw["low"], kw["high"])) or [0, 1])
    monkeypatch.setattr(chapter, "parallel", lambda jobs, cached: [
        (None, {"valid_mse": {"x": 1e-4 * (1 + job[2]), "y": 5e-5}}) for job in jobs])
    cfg = FakeConfig(n_splits=2, split_seed=0, split_protocol="paper", target_low=14, target_high=21)
    means = chapter.main_band_choice(SimpleNamespace(ages=None), cfg)
    assert calls == [(14, 21)]
    assert means.to_dict() == pytest.approx({"y": 0.5, "x": 1.5})


def test_choice_table_marks_the_chosen():
    means = pd.Series({"label_shift": 1.23456, "soft_band": 2.0})
    table = chapter.choice_table(means, ["label_shift"])
    assert list(table["chosen"]) == [True, False]
    assert table.loc["smoothed density ratio", "mean validation MSE (years²)"] == 1.235  # reader words
    assert list(table.index) == ["smoothed density ratio", "soft band"] and table.index.name == "alternative"
    assert table["method"].str.len().min() > 0


def test_setup_glue():
    glue = chapter.setup_glue((14, 21), CHOSEN, [(14, 21), (30, 40)], 8)
    assert glue["main_band"] == "14-21" and glue["bands_list"] == "14-21, 30-40"
    assert glue["n_bands"] == 2 and glue["n_splits_run"] == 8
    assert glue["alt_1"] != glue["alt_2"] and glue["input_centre"] == pytest.approx(17.5, abs=5)


def test_split_row_converts_to_years2():
    split = SimpleNamespace(index=3, test=np.arange(4), valid=np.arange(2))
    info = {"mse": {"all": 1e-3, "restricted": 2e-4, "reweighted": 1e-4, "constant": 3e-4, "cnn_head": 9.0}}
    row = chapter.split_row((30, 40), split, info, {"mse": {"label_shift": 5e-5, "soft_band": 1.0}}, ["label_shift"])
    assert row == pytest.approx({"band": "30-40", "low": 30, "high": 40, "split": 3, "n_test": 4, "n_valid": 2,
                                 "all": 10.0, "restricted": 2.0, "reweighted": 1.0, "constant": 3.0,
                                 "label_shift": 0.5})
    assert type(row["all"]) is float


def test_add_cold_counts_each_extractor_once():
    cold = dict.fromkeys(chapter.COLD_KEYS, 0.0)
    info, alt = {"cold_seconds": 2, "extractor_seconds": 10}, {"cold_seconds": 1}
    chapter.add_cold(cold, (14, 21), (14, 21), (14, 21), info, alt)
    chapter.add_cold(cold, (30, 40), (14, 21), (14, 21), info, alt)
    assert list(cold.values()) == [2.0, 2.0, 2.0, 10.0]


def test_run_bands_runs_the_chosen_two_off_the_main_band(monkeypatch):
    split = SimpleNamespace(index=0, test=np.arange(3), valid=np.arange(1))
    monkeypatch.setattr(chapter, "make_splits", lambda ages, **kw: [split])
    names_run = []

    def parallel(jobs, cached):
        names_run.extend(job[4] for job in jobs)
        return [(None, {"mse": {m: 1e-4 for m in chapter.sweep.SIMPLE}, "cold_seconds": 1.0}) for _ in jobs]

    monkeypatch.setattr(chapter, "parallel", parallel)
    monkeypatch.setattr(chapter, "run_all", lambda faces, splits, cfg: [
        (None, {"mse": dict.fromkeys(chapter.TABLE1_METHODS, cfg.target_low * 1e-4), "cold_seconds": 3.0,
                "extractor_seconds": 5.0}) for _ in splits])
    cfg = FakeConfig(n_splits=1, split_seed=0, split_protocol="paper", target_low=14, target_high=21)
    results, cold = chapter.run_bands(SimpleNamespace(ages=None), cfg, [(14, 21), (30, 40)], CHOSEN)
    assert names_run == [chapter.sweep.SIMPLE, CHOSEN]
    assert list(results["band"]) == ["14-21", "30-40"] and list(results["reweighted"]) == pytest.approx([14, 30])
    assert list(cold.values()) == [3.0, 3.0, 2.0, 5.0]


def test_reweighted_table_is_band_by_split():
    table = chapter.reweighted_table(results_frame(3))
    assert list(table.index) == ["14-21", "30-40"] and list(table.columns) == [0, 1, 2]
    assert table.loc["30-40", 2] == 24.0


def test_ratios_are_relative_to_the_constant():
    ratio = chapter.ratios(results_frame(), ["restricted", "reweighted"])
    assert len(ratio) == 4 and list(ratio["band"]) == ["14-21", "14-21", "30-40", "30-40"]
    row = ratio.set_index(["band", "method"]).loc[("30-40", "reweighted")]
    assert row["mean ratio"] == pytest.approx(4 / 3) and row["CI low"] == row["CI high"] == pytest.approx(4 / 3)
    assert row["splits"] == 8 and row["test rows (mean)"] == 103.5 and row["constant MSE (years²)"] == 20.25
    assert ratio.set_index(["band", "method"]).loc[("14-21", "restricted"), "mean ratio"] == pytest.approx(2 / 3)


def test_ratio_tables_pivot_in_the_method_order():
    ratio = chapter.ratios(results_frame(), ["reweighted", "restricted"])
    table = chapter.ratio_table(ratio, ["reweighted", "restricted"])
    assert list(table.columns) == ["Reweighted (the paper's method)", "Restricted"]
    words = chapter.ratio_interval_table(ratio, ["reweighted", "restricted"])
    assert words.loc["14-21", "Reweighted (the paper's method)"] == "0.333 (0.333 to 0.333)"


def test_ratio_figure_draws_one_series_per_method():
    methods = ["restricted", "reweighted", *CHOSEN]
    ratio = chapter.ratios(results_frame(), methods)
    fig = chapter.ratio_figure(ratio, [(14, 21), (30, 40)], methods, CHOSEN)
    ax = fig.axes[0]
    assert ax.get_yscale() == "linear" and len(ax.containers) == len(methods)
    # the means at most 1.1 reach 0.667: the axis ends at its floor 1.1, above the line at 1
    assert ax.get_ylim() == pytest.approx((0, 1.1))
    # beyond it: the re-weighted head on 30-40 (4/3) and Restricted, λ tuned (2) on both bands
    assert sorted(t.get_text() for t in ax.texts) == ["1.3", "2.0", "2.0"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["constant predictor (1)", *[display_name(m) for m in methods]]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["14-21", "30-40"]
    plt.close(fig)


def test_verdicts_per_band_follow_the_data():
    verdicts = Verdicts("x")
    outcomes = chapter.add_verdicts(verdicts, results_frame(), CHOSEN)
    assert [j.holds for j in outcomes["restricted"]] == ["yes", "no"]
    assert [j.holds for j in outcomes["constant"]] == ["yes", "no"]
    assert [j.holds for j in outcomes["alternative"]] == ["yes", "no"]
    claims = list(verdicts.frame()["claim"])
    assert len(claims) == 6 and "(repeats the §4.3 claim)" in claims[0] and "30-40" in claims[3]
    assert chapter.verdict_glue(outcomes) == {"bands_yes_restricted": 1, "bands_no_restricted": 1,
                                              "bands_yes_constant": 1, "bands_no_constant": 1,
                                              "bands_yes_alternative": 1, "bands_no_alternative": 1}


def test_paired_by_band_uses_the_first_chosen_alternative():
    vs = chapter.paired_by_band(results_frame(), CHOSEN)
    assert [s["wins"] for s in vs["alternative"]] == [8, 0]
    assert vs["restricted"][0]["mean_rel_improvement"] == pytest.approx(0.5)


def test_record_groups_the_splits_by_band():
    record = chapter.record(resolve("quick"), results_frame(2), CHOSEN, {"x": 1.0})
    assert [(b["low"], b["high"]) for b in record["bands"]] == [(14, 21), (30, 40)]
    assert record["bands"][1]["splits"][1] == {"split": 1, "all": 44.0, "restricted": 11.0, "reweighted": 22.0,
                                               "constant": 16.5, "label_shift": 11.0, "restricted_tuned": 33.0}
    assert record["alternatives"] == CHOSEN and record["cold_seconds"] == {"x": 1.0}
