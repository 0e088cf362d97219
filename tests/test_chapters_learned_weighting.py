"""Tests of metareweight.chapters.learned_weighting on hand-made runs with known counts."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from metareweight import display
from metareweight.chapters import learned_weighting as lw

LOW, HIGH = 15, 20


def make_run(split=0, n_restricted=10):
    """Six meta-training rows: ages 10, 15, 18, 20, 30, 40; weights chosen so that three rows
    (ages 15, 30, 40) are heavy, two of them outside the band 15-20."""
    ages = np.array([10, 15, 18, 20, 30, 40])
    w = np.array([0.05, 0.5, 0.1, 0.05, 0.2, 0.1 + 1e-9])
    arrays = {"meta_w": w, "meta_y": ages / 100.0, "meta_yhat0": (ages + 2) / 100.0,
              "grid_w": np.linspace(0, 1, 101 * 101).reshape(101, 101)}
    return arrays, {"split": split, "n_restricted": n_restricted}


def test_split_counts_on_a_hand_made_run():
    arrays, info = make_run(split=3)
    row = lw.split_counts(arrays, info, LOW, HIGH)
    w = arrays["meta_w"]
    assert row["split"] == 3 and row["meta-training rows"] == 6 and row["restricted training rows"] == 10
    assert row["weights > 0.1"] == 3  # 0.1 itself is not above 0.1
    assert row["heavy rows outside the range"] == 2  # ages 30 and 40
    assert row["share of weight on in-range rows"] == pytest.approx((0.5 + 0.1 + 0.05) / w.sum())
    assert row["effective sample size"] == pytest.approx(w.sum() ** 2 / (w**2).sum())


def test_effective_sample_size_is_the_row_count_for_equal_weights():
    arrays, info = make_run()
    arrays["meta_w"] = np.full(6, 0.3)
    assert lw.split_counts(arrays, info, LOW, HIGH)["effective sample size"] == pytest.approx(6)


def test_weight_counts_indexes_one_row_per_split():
    counts = lw.weight_counts([make_run(0), make_run(4, n_restricted=5)], LOW, HIGH)
    assert list(counts.index) == [0, 4] and counts.index.name == "split"
    assert list(counts["restricted training rows"]) == [10, 5]
    html = display.table(counts, "c", formats=lw.COUNTS_FORMAT).html
    assert "65.0%" in html and "0.650" not in html  # share inside the band, 0.65 / 1.0, as a percentage


def test_count_glue_summarises_the_counts():
    counts = pd.DataFrame({"weights > 0.1": [200, 300], "meta-training rows": [8000, 8000],
                           "restricted training rows": [700, 900], "share of weight on in-range rows": [0.5, 0.7],
                           "heavy rows outside the range": [40, 60], "effective sample size": [100.0, 200.0]},
                          index=pd.Index([0, 1], name="split"))
    glue = lw.count_glue(counts)
    assert glue == {"heavy_threshold": 0.1, "heavy_min": 200, "heavy_max": 300, "heavy_mean": 250.0,
                    "restricted_mean": 800.0, "meta_rows": 8000, "share_inside": pytest.approx(60.0),
                    "heavy_outside": 50.0, "ess_mean": 150.0}
    assert type(glue["heavy_min"]) is int and type(glue["heavy_mean"]) is float


def counts_of(heavy, restricted, outside):
    n = len(heavy)
    return pd.DataFrame({"weights > 0.1": heavy, "meta-training rows": [8000] * n,
                         "restricted training rows": restricted, "share of weight on in-range rows": [0.5] * n,
                         "heavy rows outside the range": outside, "effective sample size": [100.0] * n},
                        index=pd.Index(range(n), name="split"))


def test_judgements_follow_the_paper_band_and_half():
    judged = lw.judgements(counts_of([250, 300, 350, 500], [1000, 1000, 1000, 1000], [50, 60, 70, 80]))
    assert judged["band"].holds == "yes"  # 3 of 4 in 200-400
    assert judged["half"].holds == "yes"  # all below 500
    assert judged["outside"].holds == "yes"  # 65 / 350 > 0.1
    assert judged["curve"].holds == "untested"
    judged = lw.judgements(counts_of([100, 500, 350, 500], [400, 400, 400, 400], [1, 1, 1, 1]))
    assert judged["band"].holds == "no" and judged["half"].holds == "no" and judged["outside"].holds == "no"
    assert lw.verdict_glue(judged) == {"v_band": "does not hold", "v_half": "does not hold"}


def test_verdict_table_has_the_four_claims_with_their_numbers():
    counts = counts_of([250, 300], [1000, 900], [50, 70])
    table = lw.verdict_table(counts, lw.judgements(counts)).frame()
    assert len(table) == 4 and set(table["kind"]) == {"claim"}
    assert table["ours"].tolist()[:3] == ["250-300 of 8000", "275 vs 950", "60 per split"]
    assert table["holds"].tolist() == ["yes", "yes", "yes", "untested"]


def test_heatmaps_draw_one_map_per_run_with_the_heavy_rows():
    fig = lw.heatmaps([make_run(0), make_run(5)], LOW, HIGH)
    maps = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in maps] == ["split 0", "split 5"]
    dots = maps[0].collections[0].get_offsets()
    assert np.allclose(np.sort(dots[:, 0]), [15, 30, 40])  # the heavy rows' true ages
    assert sorted(line.get_xdata()[0] for line in maps[0].lines) == [LOW, HIGH]
    # heaviest row's initial prediction 42 years, + 5, rounded up to 50: both axes end there
    assert maps[0].get_xlim() == (0, 50) and maps[0].get_ylim() == (0, 50)
    image = maps[0].images[0]
    assert image.get_cmap().name == lw.HEATMAP_CMAP
    # the power norm lifts a weight of 0.1 well above a tenth of the colour scale
    assert image.norm(0.1) > 0.25 and image.norm(0) == 0 and image.norm(1) == 1
    plt.close(fig)


def test_heatmap_limit_follows_the_heavy_rows_and_falls_back_to_the_grid():
    assert lw.heatmap_limit([make_run()]) == 50
    arrays, info = make_run()
    far = dict(arrays, meta_yhat0=arrays["meta_yhat0"] + 0.6)  # a heavy row predicted at 100 years
    assert lw.heatmap_limit([make_run(), (far, info)]) == 100
    grid = np.zeros((101, 101))
    grid[23, 7] = 0.5  # no heavy row: the one heavy grid cell, at 23 years, decides
    none = dict(arrays, meta_w=np.zeros(6), grid_w=grid)
    assert lw.heatmap_limit([(none, info)]) == 30
    assert lw.heatmap_limit([(dict(none, grid_w=np.zeros((101, 101))), info)]) == 100


def test_weight_by_age_pools_rows_and_weight_per_run():
    rows, weight = lw.weight_by_age([make_run(), make_run()])
    assert len(rows) == lw.MAX_AGE and rows[15] == 1 and rows[11] == 0 and rows.sum() == 6
    assert weight[15] == pytest.approx(0.5) and weight.sum() == pytest.approx(make_run()[0]["meta_w"].sum())
    fig = lw.weight_by_age_figure([make_run()], LOW, HIGH)
    rows_bars, weight_bars = fig.axes[0].containers
    assert len(rows_bars) == len(weight_bars) == lw.MAX_AGE
    assert rows_bars[15].get_height() == 1 and weight_bars[15].get_height() == pytest.approx(0.5)
    plt.close(fig)
