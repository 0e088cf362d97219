"""Tests of metareweight.chapters.ablations: the variant runs (with the cached runs replaced by
fakes whose errors encode the variant), and each section's tables, findings, glue values,
figures, verdicts and record on hand-made frames with known answers."""

import types

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from metareweight import display, plots, sweep
from metareweight.chapters import ablations as ab
from metareweight.profiles import resolve

N = 8  # splits: enough for a paired comparison to clear Holm over two alternatives
INDEX = pd.Index(range(N), name="split")


def split(index, n_valid=80):
    return types.SimpleNamespace(index=index, valid=np.arange(n_valid))


def mse_frame(columns: dict) -> pd.DataFrame:
    return pd.DataFrame(columns, index=INDEX)


def close_all():
    plt.close("all")


# ----------------------------------------------------------------------------- runs


def test_ablate_pairs_each_value_in_years2_and_times_only_the_variants(monkeypatch):
    cfg = resolve("quick")
    width = {cfg.weight_hidden: 1.0, 5: 2.0}

    def run_all(faces, splits, variant):
        return [({}, {"mse": {"reweighted": 1e-4 * width[variant.weight_hidden] * (s.index + 1)},
                      "cold_seconds": 10.0 * width[variant.weight_hidden]}) for s in splits]

    monkeypatch.setattr(ab, "run_all", run_all)
    runs, frame, seconds = ab.ablate(None, [split(0), split(3)], cfg, "weight_hidden", [cfg.weight_hidden, 5])
    assert list(frame.columns) == [cfg.weight_hidden, 5] and list(frame.index) == [0, 3]
    assert frame.index.name == "split"
    assert frame[5].tolist() == pytest.approx([2.0, 8.0])  # 2e-4 x (index + 1), in years²
    assert seconds == 40.0  # the two runs of width 5 only
    assert len(runs[5]) == 2


def test_default_cold_adds_the_extractor_seconds():
    runs = [({}, {"cold_seconds": 1.5, "extractor_seconds": 10.0}), ({}, {"cold_seconds": 2.5, "extractor_seconds": 0})]
    assert list(ab.default_cold(runs).values()) == [14.0]


def test_setup_glue_reads_the_record_interval_and_the_bars():
    cfg = resolve("quick")
    runs = [({}, {"history": {"step": [0, 25, 50]}})]
    glue = ab.setup_glue([split(0)], [split(0), split(1)], cfg, runs)
    assert glue["n_abl"] == 1 and glue["n_table1"] == 2 and glue["record_every"] == 25
    assert glue["band"] == f"{cfg.target_low}-{cfg.target_high}"
    assert glue["valid_sizes"] == " or ".join(map(str, sweep.VALID_SIZES))
    assert (glue["width_tol"], glue["small_bar"], glue["shrink_share"]) == (5.0, 10.0, 75.0)


def test_validation_size_runs_name_the_full_set_and_time_only_subsets(monkeypatch):
    splits = [split(0, n_valid=80), split(1, n_valid=90)]

    def parallel(jobs, cached):
        assert cached
        return [({}, {"mse": {"reweighted": n * 1e-6}, "cold_seconds": float(n)}) for _, _, s, _, n in jobs]

    monkeypatch.setattr(ab, "parallel", parallel)
    default = [({}, {"mse": {"restricted": 3e-4}}), ({}, {"mse": {"restricted": 4e-4}})]
    sizes, seconds = ab.validation_size_runs(None, splits, None, default)
    assert sizes["size"].tolist() == ["25", "50", "all"] * 2
    assert sizes["validation rows"].tolist() == [25, 50, 80, 25, 50, 90]
    assert sizes["reweighted"].tolist() == pytest.approx([0.25, 0.5, 0.8, 0.25, 0.5, 0.9])
    assert sizes["restricted"].tolist() == pytest.approx([3, 3, 3, 4, 4, 4])
    assert seconds == 150.0  # 25 + 50 on each split; the full sets repeat the default runs


# ----------------------------------------------------------------------------- shared pieces


def test_summary_labels_and_formats_the_paired_table():
    frame = mse_frame({"a": [2.0] * N, "b": [1.0] * N})
    html = display.table(ab.summary(frame, "a", {"a": "default", "b": "half"}), "c", formats=ab.SUMMARY_FORMAT).html
    assert "default" in html and "half" in html and "-50.0%" in html


def test_paired_dots_and_dots_figure():
    frame = mse_frame({"a": np.arange(N, dtype=float), "b": np.arange(N, dtype=float) + 1})
    fig = ab.dots_figure(frame, {"a": "A"})
    ax = fig.axes[0]
    assert len(ax.lines) == N and len(ax.collections) == 2
    assert [t.get_text() for t in ax.get_xticklabels()] == ["A", "b"]
    assert np.allclose(ax.collections[1].get_offsets()[:, 1], frame["b"])
    close_all()


def test_tied_names():
    assert ab.tied(["a"]) == "a"
    assert ab.tied(["a", "b", "c"]) == "a, b and c (tied)"


def test_column_lists_key_by_string():
    assert ab.column_lists(pd.DataFrame({20: [1, 2], "y": [3.5, 4]})) == {"20": [1.0, 2.0], "y": [3.5, 4.0]}


# ----------------------------------------------------------------------------- 1. output map


def map_case():
    """1/(x²+1) clearly best in test MSE; its late spread clearly lowest; sigmoid never rises."""
    base = np.linspace(3.0, 4.0, N)
    map_mse = mse_frame({"inverse_square": base, "sigmoid": base * 1.2, "one_plus_tanh": base * 1.3})
    unsteady = {"inverse_square": pd.DataFrame({"largest_rise": [0.1] * N, "late_sd": np.linspace(0.1, 0.2, N)}),
                "sigmoid": pd.DataFrame({"largest_rise": [0.0] * N, "late_sd": np.linspace(0.3, 0.5, N)}),
                "one_plus_tanh": pd.DataFrame({"largest_rise": [0.2] * N, "late_sd": np.linspace(0.4, 0.6, N)})}
    return map_mse, unsteady


def test_instability_of_each_run_in_years2():
    runs = [({}, {"history": {"valid_mse": [3e-4, 2e-4, 2.5e-4, 1e-4]}})]
    frame = ab.instability(runs, pd.Index([7], name="split"))
    assert frame.loc[7, "largest_rise"] == pytest.approx(0.5)  # 2 -> 2.5 years²
    assert list(frame.columns) == ["largest_rise", "late_sd"]


def test_output_map_findings_and_glue():
    found = ab.output_map_findings(*map_case())
    assert found["inv_mse"] == pytest.approx(3.5) and found["other_mse"] == pytest.approx(3.5 * 1.2)
    assert found["best"] == "1/(x²+1)" and found["v_mse"].holds == "yes" and found["v_rise"].holds == "yes"
    assert found["other_rise"] == 0.0 and found["other_late"] == pytest.approx(0.4)
    glue = ab.output_map_glue(found)
    assert glue["map_steadiest"] == "sigmoid(x)" and glue["map_rise_min"] == 0.0 and glue["map_inv_rise"] == 0.1
    assert glue["v_map_mse"] == "holds" and glue["v_map_rise"] == "holds"
    found["rise_means"] = {"inverse_square": 0.0, "sigmoid": 0.0, "one_plus_tanh": 0.2}
    assert ab.output_map_glue(found)["map_steadiest"] == "1/(x²+1) and sigmoid(x) (tied)"


def test_map_table_and_figure():
    map_mse, unsteady = map_case()
    html = display.table(ab.map_table(map_mse, unsteady), "c", formats=ab.MAP_FORMAT).html
    assert "1 + tanh(x)" in html and "+20.0%" in html and "0.15" in html  # sigmoid's change; mean late sd
    runs = {m: [({}, {"history": {"step": [0, 10], "valid_mse": [2e-4, 1e-4]}})] for m in map_mse.columns}
    fig = ab.output_map_figure(map_mse, runs, 4)
    right = fig.axes[1]
    assert right.get_title() == "split 4" and len(right.lines) == 3
    assert np.allclose(right.lines[0].get_ydata(), [2.0, 1.0])
    close_all()


# ----------------------------------------------------------------------------- 2. inputs


def test_inputs_findings_and_glue():
    base = np.linspace(3.0, 4.0, N)
    found = ab.inputs_findings(mse_frame({"both": base, "y": base * 0.9, "yhat0": base * 1.5}))
    assert found["best"] == "y only" and found["both"] == pytest.approx(3.5)
    assert found["single"] == pytest.approx(3.5 * 0.9)
    assert found["v_inputs"].holds == "partly"  # beats ŷ₀ alone, loses to y alone
    glue = ab.inputs_glue(found)
    assert glue["v_inputs"] == "bears out only against one input" and glue["inputs_best"] == "y only"


# ----------------------------------------------------------------------------- 3. width


def test_widths_around():
    assert ab.widths_around(20) == [5, 20, 80]
    assert ab.widths_around(2) == [1, 2, 8]


def test_width_findings_glue_and_figure():
    width_mse = mse_frame({5: [4.0] * N, 20: [4.0] * N, 80: [4.1] * N})
    found = ab.width_findings(width_mse)
    assert found["widths"] == [5, 20, 80] and found["spread"] == pytest.approx(0.025)
    assert found["v_width"].holds == "yes"
    assert ab.width_findings(width_mse, tol=0.01)["v_width"].holds == "no"
    glue = ab.width_glue(found)
    assert glue["width_spread"] == pytest.approx(2.5) and glue["v_width"] == "within" and glue["width_max"] == 4.1
    fig = ab.width_figure(width_mse)
    assert len(fig.axes[0].lines) == N and fig.axes[0].get_xscale() == "log"
    close_all()


# ----------------------------------------------------------------------------- 4. validation size


def sizes_case(small_cost=0.05):
    rows = []
    for i in range(N):
        full = 4.0 + 0.1 * i
        for n, size, mse in ((25, "25", full * (1 + small_cost + 0.01 * (i % 2))), (50, "50", full), (80, "all", full)):
            rows.append({"split": i, "validation rows": n, "size": size, "reweighted": mse, "restricted": 4.2})
    return pd.DataFrame(rows)


def test_size_row_names_the_full_set():
    row = ab.size_row(split(2, n_valid=50), 50, {"mse": {"reweighted": 4e-4}}, {"mse": {"restricted": 5e-4}})
    assert row == {"split": 2, "validation rows": 50, "size": "all", "reweighted": pytest.approx(4.0),
                   "restricted": pytest.approx(5.0)}
    assert ab.size_row(split(2, n_valid=80), 50, {"mse": {"reweighted": 0}}, {"mse": {"restricted": 0}})["size"] == "50"


def test_size_matrix_orders_the_sizes_and_adds_restricted():
    frame, labels = ab.size_matrix(sizes_case())
    assert list(frame.columns) == ["25", "50", "all", "restricted"]
    assert frame["restricted"].tolist() == [4.2] * N
    assert labels["25"] == "25 validation rows" and labels["restricted"] == "Restricted (no meta step)"


def test_small_valid_findings_use_the_upper_end_of_the_interval():
    found = ab.small_valid_findings(sizes_case(0.05))
    assert found["change"] == pytest.approx(0.055) and found["v_small"].holds == "yes"
    assert found["high"] > found["change"]
    assert found["small_wins"] == 0  # 4.0 x 1.05 is not below Restricted's 4.2
    assert found["full_wins"] == 2  # full sets 4.0, 4.1, ... against 4.2
    assert ab.small_valid_findings(sizes_case(0.2))["v_small"].holds == "no"
    one = ab.small_valid_findings(sizes_case()[lambda f: f["split"] == 0])
    assert one["v_small"].holds == "untested"
    glue = ab.small_valid_glue(found)
    assert glue["valid_smallest"] == 25 and glue["valid_full_mean"] == 80.0 and glue["v_small"] == "suffices"
    assert glue["small_change"] == pytest.approx(5.5)


def test_size_figure_draws_the_restricted_reference():
    fig = ab.size_figure(sizes_case())
    ax = fig.axes[0]
    assert len(ax.lines) == 2 * N  # a curve and a dashed Restricted line per split
    assert [t.get_text() for t in ax.get_xticklabels()] == ["25", "50", "80"]
    close_all()


# ----------------------------------------------------------------------------- 5. penalty


def penalty_run(spread):
    y = np.linspace(0.1, 0.5, 10)
    return ({"train_w": np.array([1.0, 1.0, 0.0, 0.0]), "test_y": y,
             "test_pred_reweighted": y.mean() + spread * (y - y.mean()), "test_pred_restricted": y},
            {"mse": {"reweighted": 2e-4}})


def test_penalty_row_measures_the_weights_and_the_shrinkage():
    row = ab.penalty_row("λ·N (the code)", split(3), *penalty_run(0.5))
    assert row["split"] == 3 and row[ab.ROWS] == 4 and row["Σw"] == 2.0 and row[ab.NEFF] == pytest.approx(2.0)
    assert row[ab.SHRINK] == pytest.approx(0.5) and row[ab.RESTRICTED_SHRINK] == pytest.approx(1.0)
    assert row["test MSE (years²)"] == pytest.approx(2.0)


def pen_case(less_shrunk=N):
    runs = {"n": [penalty_run(0.5) for _ in range(N)],
            "sum_w": [penalty_run(0.8 if i < less_shrunk else 0.3) for i in range(N)]}
    pen = ab.penalty_rows(runs, [split(i) for i in range(N)])
    base = np.linspace(3.0, 4.0, N)
    return pen, mse_frame({"n": base, "sum_w": base * 0.9})


def test_penalty_findings_glue_table_and_figure():
    pen, pen_mse = pen_case()
    assert pen["penalty"].tolist() == ["λ·N (the code)"] * N + ["λ·Σw"] * N
    found = ab.penalty_findings(pen, pen_mse)
    assert found["shrink_n"] == pytest.approx(0.5) and found["shrink_w"] == pytest.approx(0.8)
    assert found["less_shrunk"] == N and found["sumw_wins"] == N and found["splits"] == N
    assert found["v_shrink"].holds == "yes" and found["v_sumw"].holds == "yes"
    assert ab.penalty_findings(*pen_case(less_shrunk=4))["v_shrink"].holds == "no"  # 4 of 6 < 75%
    glue = ab.penalty_glue(found)
    assert glue["pen_N"] == 4.0 and glue["pen_neff"] == pytest.approx(2.0) and glue["v_shrink"] == "supports"
    html = display.table(ab.penalty_table(pen), "c", formats=ab.PENALTY_FORMAT).html
    assert "0.500" in html and "0.800" in html and "split" not in html  # the mean ratios; no split column
    fig = ab.penalty_figure(pen_mse, pen)
    assert fig.axes[1].lines[-1].get_ydata()[0] == pytest.approx(1.0)  # Restricted's mean ratio
    close_all()


# ----------------------------------------------------------------------------- verdicts and record


def test_verdict_table_and_record():
    map_mse, unsteady = map_case()
    base = np.linspace(3.0, 4.0, N)
    input_mse = mse_frame({"both": base, "y": base * 1.1, "yhat0": base * 1.2})
    width_mse = mse_frame({5: base, 20: base, 80: base})
    sizes = sizes_case()
    pen, pen_mse = pen_case()
    verdicts = ab.verdict_table(ab.output_map_findings(map_mse, unsteady), ab.inputs_findings(input_mse),
                                ab.width_findings(width_mse), ab.small_valid_findings(sizes),
                                ab.penalty_findings(pen, pen_mse))
    frame = verdicts.frame()
    assert len(frame) == 7 and frame["kind"].tolist() == ["claim"] * 5 + ["beyond"] * 2
    assert frame["holds"].tolist() == ["yes"] * 7
    assert frame["claim"][3] == "the width of h_θ barely matters (5, 20, 80 units)"
    assert frame["claim"][4].startswith("a small validation set suffices: 25 validation rows cost at most 10%")
    assert frame["ours"][6] == "3.15 vs 3.50 years²; lower on 8 of 8 splits"
    cold = {"default runs": 1.0, "output map": 2.0}
    record = ab.record({"profile": "quick"}, "14-21", map_mse, unsteady, input_mse, width_mse, sizes, pen, cold)
    assert record["splits"] == list(range(N)) and record["target"] == "14-21"
    assert record["hidden_width"]["20"] == pytest.approx(list(base))
    assert record["output_map"]["late_sd"]["sigmoid"] == pytest.approx(list(np.linspace(0.3, 0.5, N)))
    assert record["validation_size"][2] == {"split": 0, "validation rows": 80, "size": "all", "reweighted": 4.0,
                                            "restricted": 4.2}
    assert record["cold_seconds"] is cold and len(record["penalty"]) == 2 * N


def test_the_test_mse_figures_mark_the_constant_predictor_from_the_runs():
    runs = [({}, {"mse": {"constant": 4e-4}}), ({}, {"mse": {"constant": 6e-4}})]
    level = ab.constant_level(runs)
    assert level == pytest.approx(5.0)  # (4 + 6) / 2 years², from age/100 squared
    frame = mse_frame({"a": np.arange(N, dtype=float), "b": np.arange(N, dtype=float) + 1})

    def constant_lines(ax):
        return [line for line in ax.lines if line.get_label() == ab.CONSTANT_LABEL]

    for fig in (ab.dots_figure(frame, {"a": "A"}, constant=level), ab.size_figure(sizes_case(), constant=level)):
        marked = constant_lines(fig.axes[0])
        assert len(marked) == 1 and list(marked[0].get_ydata()) == [5.0, 5.0]
        assert marked[0].get_color() == plots.colour("constant")
        assert ab.CONSTANT_LABEL in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert not constant_lines(ab.dots_figure(frame, {"a": "A"}).axes[0])  # no level, no line
    assert not constant_lines(ab.dots_figure(frame, {}, constant=float("nan")).axes[0])
    close_all()
