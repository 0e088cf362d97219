"""The Table 1 chapter's tables, facts and verdict words, on hand-made per-split rows."""

import matplotlib
import numpy as np
import pandas as pd
import pytest

from metareweight import table1
from metareweight.chapters import age_prediction_accuracy as chapter
from metareweight.profiles import resolve
from metareweight.reference import PAPER_TABLE1
from metareweight.splits import Split
from metareweight.verdicts import Judgement

matplotlib.use("Agg")


def _row(split, restricted, reweighted, *, constant=5.25, seeds=None, digest="v0", degenerate=None):
    return {"split": split, "all": 200.0, "restricted": restricted, "reweighted": reweighted, "constant": constant,
            "cnn_head": 9.0, "reweighted_seeds": seeds or [reweighted, reweighted], "valid_digest": digest,
            "degenerate": {"all": False, "restricted": False, "reweighted": False, **(degenerate or {})}}


def _rows(n=6):
    """Re-weighting 10% better than Restricted on every split of every run."""
    scaled = [_row(k, 5.0 + k, 0.9 * (5.0 + k), digest=f"v{k % 2}") for k in range(n)]
    code = [_row(k, 6.0, 6.0, degenerate={"restricted": True}) for k in range(2)] + \
        [_row(k, 6.0, 5.4) for k in range(2, n)]
    independent = [_row(k, 5.0 + k, 0.9 * (5.0 + k), digest=f"i{k}") for k in range(n)]
    return {"scaled": scaled, "code": code, "independent": independent}


def test_mean_sd_text_is_tables_format():
    assert chapter.mean_sd_text([1.0, 2.0, 3.0]) == "2.000 ± 0.816"  # population std


def test_other_settings_are_the_other_optimiser():
    cfg = resolve("quick")
    name, other = chapter.other_settings(cfg)
    assert name != cfg.meta_settings and other.meta_settings == name
    assert chapter.other_settings(other)[0] == cfg.meta_settings


def test_reweighted_by_split_is_in_years_squared():
    other = [({}, {"split": 3, "mse": {"reweighted": 2e-4}}), ({}, {"split": 5, "mse": {"reweighted": 5e-4}})]
    series = chapter.reweighted_by_split(other)
    assert series.to_dict() == pytest.approx({3: 2.0, 5: 5.0})


def test_run_convention_returns_the_runs_and_their_rows(monkeypatch):
    calls = []
    monkeypatch.setattr(table1, "seed_runs", lambda faces, splits, cfg: calls.append("runs") or ["r"] * len(splits))
    monkeypatch.setattr(table1, "split_rows", lambda faces, splits, runs, cfg: calls.append("rows") or [runs, splits])
    runs, rows = chapter.run_convention("faces", [1, 2], "cfg")
    assert runs == ["r", "r"] and rows == [["r", "r"], [1, 2]] and calls == ["runs", "rows"]


def test_table1_frame_puts_ours_beside_the_paper():
    rows = _rows()
    frame = chapter.table1_frame(rows, "paper", pd.Series({k: 25.0 * 0.2 for k in range(6)}))
    ours = "ours, [0, 1] pixels (the paper's text) (6 splits)"
    assert frame.loc["Restricted", "paper (Table 1)"] == "{:.3f} ± {:.3f}".format(*PAPER_TABLE1["restricted"])
    assert frame.loc["Restricted", ours] == chapter.mean_sd_text(np.arange(5.0, 11.0) / 25)
    assert frame.loc["Reweighted, paper optimiser settings (seed 0)", ours] == "0.200 ± 0.000"
    assert (frame.iloc[-1].drop(["paper (Table 1)", "authors' saved splits", ours]) == "not run").all()
    assert frame.loc[frame.index[table1.METHODS.index("constant")], "paper (Table 1)"] == "not reported"


def test_level_and_settings_facts():
    rows = _rows()
    facts = chapter.level_facts(rows)
    assert facts["scaled_restricted_pu"] == pytest.approx(np.mean(np.arange(5.0, 11.0)) / 25)
    assert facts["scaled_restricted_y2"] == pytest.approx(np.mean(np.arange(5.0, 11.0)))
    assert facts["code_n"] == 6 and facts["scaled_constant_pu_std"] == pytest.approx(0.0)
    cfg = resolve("quick")
    s = chapter.settings_facts(cfg, "paper", pd.Series([5.0, 10.0]))
    assert s["other_rw_pu"] == pytest.approx(0.3) and s["band"] == f"{cfg.target_low}-{cfg.target_high}"
    assert s["paper_rw"] == PAPER_TABLE1["reweighted"][0]


def test_per_split_figure_has_three_panels_and_the_constant():
    fig = chapter.per_split_figure(_rows())
    assert len(fig.axes) == 3
    dashed = [line for line in fig.axes[0].lines if line.get_linestyle() == "--"]
    assert dashed and dashed[0].get_ydata()[0] == pytest.approx(5.25 / 25)
    assert fig.axes[2].get_title() == "authors' saved splits (n = 8)"


def test_protocol_facts_count_validation_sets():
    r = np.arange(12)
    splits = [Split(k, test=r[:1], test_block=r[:3] if k == 2 else r[3:4], train_all=r[4:], train_restricted=r[4:],
                    valid=r[:2] if k == 3 else r[5:6], meta_train=r[6:]) for k in range(4)]
    facts = chapter.protocol_facts(_rows(), splits)
    assert facts == {"n_valid_sets_paper": 2, "n_valid_sets_ind": 6, "n_splits": 4, "shared_block": "is"}
    assert chapter.protocol_facts(_rows(), splits[:3])["shared_block"] == "is not"


def test_degenerate_table_and_counts():
    rows = _rows()
    flags = chapter.degenerate_table(rows)
    assert len(flags) == 12 and flags.loc[(chapter.PIXEL_LABELS["code"], 0), "Restricted"] == "degenerate"
    assert flags.loc[(chapter.PIXEL_LABELS["scaled"], 0), "Restricted"] == ""
    assert chapter.degenerate_facts(rows) == {"scaled_restricted_degenerate": 0, "scaled_reweighted_degenerate": 0,
                                              "code_restricted_degenerate": 2, "code_reweighted_degenerate": 0}


def test_comparisons_holm_and_their_facts():
    comparisons = chapter.compare_all(_rows())
    assert comparisons["code"]["usable"] == 4 and comparisons["scaled"]["wins"] == 6
    holm_p = chapter.holm_adjusted(comparisons)
    ps = sorted([comparisons["scaled"]["perm_p"], comparisons["code"]["perm_p"]])
    assert min(holm_p["scaled"], holm_p["code"]) == pytest.approx(min(1.0, 2 * ps[0]))
    assert holm_p["independent"] == comparisons["independent"]["perm_p"]  # not adjusted
    facts = chapter.comparison_facts(comparisons, 123)
    assert facts["scaled_mean_impr"] == pytest.approx(10.0) and facts["code_pairs"] == 4
    assert facts["code_usable_words"] == "4 splits are usable"
    assert facts["bootstrap_samples"] == 123
    table = chapter.comparison_table(comparisons, holm_p)
    assert list(table.columns) == [chapter.PIXEL_LABELS[c] for c in ("scaled", "code", "independent")]
    assert table.loc["re-weighted wins", chapter.PIXEL_LABELS["code"]] == "4 of 4"


def test_seed_table_averages_each_seed_over_splits():
    rows = {"scaled": [_row(0, 5.0, 4.0, seeds=[3.0, 5.0]), _row(1, 5.0, 4.0, seeds=[5.0, 3.0])]}
    table = chapter.seed_table(rows)
    assert table.loc[chapter.PIXEL_LABELS["scaled"]].tolist() == [4.0, 4.0]


def _runs(n_splits=3, n=40, seeds=2):
    """Per-split arrays where Restricted predicts the truth and Re-weighted the constant."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(seeds):
        seed_run = []
        for k in range(n_splits):
            y = rng.uniform(0.14, 0.21, n)
            arrays = {"test_y": y, "test_pred_constant": np.full(n, 0.175), "test_pred_restricted": y + 0.001,
                      "test_pred_reweighted": np.full(n, 0.175)}
            seed_run.append((arrays, {"split": k}))
        out.append(seed_run)
    return out


def test_constant_comparisons_table_and_facts():
    runs = _runs()
    beats = chapter.constant_comparisons({"scaled": runs, "code": runs}, n_boot=200)
    assert beats["scaled"]["restricted"]["significant_splits"] == 3 and beats["scaled"]["restricted"]["mean_gain"] > 0
    assert beats["scaled"]["reweighted"]["significant_splits"] == 0
    assert beats["scaled"]["reweighted"]["mean_gain"] == pytest.approx(0.0)
    facts = chapter.constant_facts(beats)
    assert facts["code_restricted_sig"] == 3 and facts["code_reweighted_gain"] == pytest.approx(0.0)
    table = chapter.constant_table(beats)
    assert len(table) == 4 and table.index.names == ["pixels", "head"]


def test_difference_facts():
    pr, prw = PAPER_TABLE1["restricted"][0], PAPER_TABLE1["reweighted"][0]
    rows = {"scaled": [_row(k, 25 * pr * 1.5, 25 * prw * 1.1, constant=25 * prw * 0.9) for k in range(3)]}
    cfg = resolve("quick")
    facts = chapter.difference_facts(rows, pd.Series([25 * prw * 2.0] * 3), cfg, "paper")
    assert facts["res_moved"] == pytest.approx(50.0) and facts["rw_moved"] == pytest.approx(10.0)
    assert facts["moved_more"] == "restricted" and facts["const_vs_paper_rw"] == "below"
    assert facts["settings_closer"] == cfg.meta_settings
    assert facts["uniform_pu"] == pytest.approx(table1.uniform_age_variance(cfg.target_low, cfg.target_high) / 25)


def test_verdict_words_follow_the_outcomes():
    prw = PAPER_TABLE1["reweighted"][0]
    outcome = {"level_scaled": Judgement("yes", "c"), "wins_scaled": Judgement("no", "c"),
               "wins_code": Judgement("untested", "c"), "beats_scaled": Judgement("indistinguishable", "c"),
               "all_ratio": 39.0}
    words = chapter.verdict_words(outcome, {"scaled": [_row(0, 5.0, 25 * prw * 1.2)]})
    assert words == {"v_level": "agrees with", "v_level_dir": "higher", "v_wins_scaled": "does not hold",
                     "v_wins_code": "cannot be tested",
                     "v_central": "does not reproduce: the two cannot be told apart", "v_all_ratio": 39.0}
