"""Tests of metareweight.chapters.seeds: the seed experiments (with the cached runs replaced by a
fake that derives each run's errors from its seeds), and the noise, ordering, verdict and record
measures on hand-made tables with known answers."""

import types

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from metareweight.chapters import seeds
from metareweight.profiles import resolve


def fake_info(split_index, cfg):
    """A run's info whose MSEs (age/100 scale) encode the split and the seeds."""
    base = 1e-4 * (split_index + 1)
    return {"mse": {"restricted": base, "reweighted": base * (1 + 0.1 * cfg.meta_seed + 0.01 * cfg.train_seed),
                    "constant": 5 * base},
            "cold_seconds": 1.0 + split_index, "extractor_seconds": 10.0}


@pytest.fixture
def fake_parallel(monkeypatch):
    calls = []

    def parallel(jobs, cached):
        assert cached and all(fn is seeds.run_split for fn, *_ in jobs)
        calls.append(jobs)
        return [(None, fake_info(s.index, cfg)) for _, _, s, cfg in jobs]

    monkeypatch.setattr(seeds, "parallel", parallel)
    return calls


SPLITS = [types.SimpleNamespace(index=i) for i in (0, 1, 2)]


def test_meta_seed_runs_one_row_per_seed_and_split_in_years2(fake_parallel):
    cfg = resolve("quick", meta_seeds=2)
    meta = seeds.meta_seed_runs(None, SPLITS, cfg)
    assert list(meta.columns) == ["split", "meta seed", "restricted", "reweighted", "cold_seconds"]
    assert meta[["meta seed", "split"]].values.tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]
    assert meta["restricted"].tolist() == pytest.approx([1, 2, 3, 1, 2, 3])  # 1e-4 on the age/100 scale
    assert meta.loc[4, "reweighted"] == pytest.approx(2 * 1.1)
    assert len(fake_parallel) == 2 and meta["cold_seconds"].tolist() == [1, 2, 3, 1, 2, 3]


def test_seed_check_runs_pairs_each_run_with_its_seed(fake_parallel):
    check = seeds.seed_check_runs(None, SPLITS[:2], [0, 1, 2], resolve("quick"))
    assert list(check.columns) == ["meta seed", "split", "reweighted", "cold_seconds"]
    assert check["reweighted"].tolist() == pytest.approx([1, 2, 1.1, 2.2, 1.2, 2.4])
    assert len(fake_parallel) == 1  # one batch of jobs


def test_extractor_seed_runs_count_the_extractor_seconds(fake_parallel):
    ext = seeds.extractor_seed_runs(None, SPLITS[:1], resolve("quick", extractor_seeds=2))
    assert list(ext.columns) == ["split", "extractor seed", "restricted", "reweighted", "constant", "cold_seconds"]
    assert ext["reweighted"].tolist() == pytest.approx([1.0, 1.01])
    assert ext["constant"].tolist() == pytest.approx([5, 5]) and ext["cold_seconds"].tolist() == [11.0, 11.0]
    assert seeds.extractor_table(ext).index.names == ["split", "extractor seed"]


def test_seed_row_converts_to_years2():
    row = seeds.seed_row(4, "meta seed", 2, {"mse": {"restricted": 3e-4, "reweighted": 2.5e-4}})
    assert row == {"split": 4, "meta seed": 2, "restricted": pytest.approx(3.0), "reweighted": pytest.approx(2.5)}
    assert type(row["restricted"]) is float


def table(rows, key="meta seed"):
    """rows: (split, seed, restricted, reweighted)."""
    return pd.DataFrame(rows, columns=["split", key, "restricted", "reweighted"]).assign(cold_seconds=0.5)


def test_order_stable_counts_splits_with_one_ordering():
    frame = table([(0, 0, 2, 1), (0, 1, 2, 1.5),  # re-weighted better for both seeds
                   (1, 0, 2, 3), (1, 1, 2, 4),  # worse for both
                   (2, 0, 2, 1), (2, 1, 2, 3)])  # flips
    assert seeds.order_stable(frame) == 2


def test_meta_noise_splits_the_variance():
    # split means 2 and 4 (between sd sqrt(2)); within-split variances 2 and 2 (pooled sd sqrt(2))
    meta = table([(0, 0, 5, 1), (0, 1, 5, 3), (1, 0, 5, 3), (1, 1, 5, 5)])
    noise = seeds.meta_noise(meta)
    assert noise["within_sd"] == pytest.approx(np.sqrt(2)) and noise["between_sd"] == pytest.approx(np.sqrt(2))
    assert noise["share"] == pytest.approx(0.5)
    assert noise["stable"] == 1  # split 1: 3 < 5 for seed 0, but 5 is not below 5 for seed 1
    glue = seeds.meta_glue(noise, 2, 2)
    assert glue["meta_share"] == pytest.approx(50) and glue["n_splits_run"] == 2 and glue["meta_stable"] == 1


def test_seed0_standing_ranks_seed_0_against_the_others():
    check = pd.DataFrame({"meta seed": [0, 1, 2, 3], "split": 0, "reweighted": [1.0, 2.0, 3.0, 4.0]})
    standing = seeds.seed0_standing(check)
    assert standing["rank"] == 1 and standing["seeds"] == 4 and standing["mean"] == 1.0
    assert standing["others_mean"] == 3.0 and standing["z"] == pytest.approx(-2.0)  # (1 - 3) / sd(2, 3, 4)
    assert seeds.check_glue(standing, 1, 4)["seed0_z"] == pytest.approx(-2.0)
    assert seeds.judgements({"stable": 1}, 1, standing, {"several": False, "stable": 1, "splits": 1},
                            1)["seed0"].holds == "yes"  # |z| = 2 is not beyond 2
    two = seeds.seed0_standing(check[check["meta seed"] < 2])
    assert np.isnan(two["z"]) and two["rank"] == 1


def test_extractor_noise_needs_two_seeds():
    ext = table([(0, 0, 1, 2), (0, 1, 3, 2)], key="extractor seed")
    spread = seeds.extractor_noise(ext, 2)
    assert spread["several"] and spread["sd"] == {"restricted": pytest.approx(np.sqrt(2)), "reweighted": 0.0}
    assert spread["stable"] == 0 and spread["splits"] == 1 and seeds.extractor_glue(spread, 2)["ext_note"] == "."
    one = seeds.extractor_noise(ext[ext["extractor seed"] == 0], 1)
    assert not one["several"] and np.isnan(one["sd"]["reweighted"])
    assert "no spread" in seeds.extractor_glue(one, 1)["ext_note"]


def test_judgements_and_verdict_table():
    noise, spread = {"stable": 3}, {"several": True, "stable": 1, "splits": 2}
    standing = {"z": 2.5, "rank": 5, "seeds": 5}
    judged = seeds.judgements(noise, 4, standing, spread, 3)
    assert [judged[k].holds for k in ("meta", "seed0", "extractor")] == ["yes", "no", "no"]
    frame = seeds.verdict_table(judged, noise, 4, standing, spread, 3).frame()
    assert frame["ours"].tolist() == ["same on 3 of 4 splits", "rank 5 of 5, +2.5 sd from the others",
                                      "same on 1 of 2 splits, 3 seeds"]
    one = seeds.judgements(noise, 4, {**standing, "z": float("nan")}, {**spread, "several": False}, 1)
    assert one["seed0"].holds == one["extractor"].holds == "untested"


def test_cold_seconds_and_record_drop_the_seconds_from_the_rows():
    meta = table([(0, 0, 1, 2), (0, 1, 1, 3)])
    check = pd.DataFrame({"meta seed": [0, 1], "split": 0, "reweighted": [2.0, 3.0], "cold_seconds": [0.25, 0.5]})
    ext = table([(0, 0, 1, 2)], key="extractor seed")
    assert seeds.cold_seconds(meta, check, ext) == {"meta seeds": 1.0, "seed check": 0.75, "extractor seeds": 0.5}
    noise = {"within_sd": 0.5, "between_sd": 1.0, "share": 0.2, "stable": 1}
    spread = {"several": False, "sd": {"restricted": float("nan"), "reweighted": float("nan")}, "stable": 1}
    record = seeds.record({"profile": "quick"}, meta, check, ext, noise, {"z": 0.1, "rank": 2}, spread)
    assert record["meta_seeds"][1] == {"split": 0, "meta seed": 1, "restricted": 1, "reweighted": 3}
    assert "cold_seconds" not in record["seed_check"]["rows"][0] and record["seed_check"]["seed0_rank"] == 2
    assert record["summary"]["extractor_within_sd"] is None and record["summary"]["meta_noise_share"] == 0.2


def test_initial_weights_average_per_age():
    cfg = resolve("quick", weight_inputs="y")  # a weight of the true age alone: one value per age
    y = np.array([0.2, 0.2, 0.5, 0.7])
    curves = seeds.initial_weights(y, np.array([0.1, 0.9, 0.5, 0.3]), np.array([20, 20, 50, 70]), [0, 1], cfg)
    assert list(curves) == [0, 1] and list(curves[0].index) == [20, 50, 70]
    assert np.all((curves[0] > 0) & (curves[0] <= 1))  # 1/(x²+1)
    assert not np.allclose(curves[0], curves[1])  # another seed, another initialisation
    again = seeds.initial_weights(y[[0]], np.array([0.4]), np.array([20]), [0], cfg)
    assert again[0][20] == pytest.approx(curves[0][20])  # rows of one age share the weight
    fig = seeds.initial_weight_figure(curves, 14, 21)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["seed 0", "seed 1"]
    plt.close(fig)


def test_seeds_figure_puts_restricted_left_of_reweighted():
    meta = table([(0, 0, 1, 2), (1, 0, 3, 4)])
    ext = table([(0, 0, 5, 6)], key="extractor seed")
    fig = seeds.seeds_figure(meta, ext, 2, 1)
    left, right = fig.axes
    assert np.allclose(left.collections[0].get_offsets(), [[-0.1, 1], [0.9, 3]])
    assert np.allclose(right.collections[1].get_offsets(), [[0.1, 6]])
    assert left.get_xlabel() == "split (dots: meta seeds)"
    plt.close(fig)


def test_tables_pivot_the_seed_rows():
    meta = table([(0, 0, 1, 2.004), (0, 1, 1, 3), (1, 0, 1, 4), (1, 1, 1, 5)])
    assert seeds.meta_table(meta).loc[0].tolist() == [2.0, 3.0]
    check = pd.DataFrame({"meta seed": [0, 0, 1, 1], "split": [0, 1, 0, 1], "reweighted": [1.0, 2.0, 3.0, 4.0]})
    assert seeds.check_table(check)["mean"].tolist() == [1.5, 3.5]


def test_criteria_glue_states_the_bars_the_judgements_use():
    bars = seeds.criteria_glue()
    assert bars == {"order_share": 75.0, "outlier_sd": 2}
    standing = {"z": bars["outlier_sd"] + 0.01, "rank": 1, "seeds": 5}
    spread = {"several": True, "stable": 3, "splits": 4}  # exactly the share: holds
    judged = seeds.judgements({"stable": 2}, 4, standing, spread, 2)
    assert judged["seed0"].holds == "no" and judged["meta"].holds == "no" and judged["extractor"].holds == "yes"


def test_seeds_figure_marks_the_constant_on_each_split_of_a_panel(fake_parallel):
    constant = seeds.constant_by_split(None, SPLITS[:2], resolve("quick", meta_seeds=2))
    assert constant.to_dict() == pytest.approx({0: 5.0, 1: 10.0})  # 5 x 1e-4 (split + 1), in years²
    assert [cfg.meta_seed for _, _, _, cfg in fake_parallel[0]] == [0, 0]  # the meta-seed-0 runs
    meta = table([(0, 0, 1, 2), (1, 0, 3, 4)])
    ext = table([(0, 0, 5, 6)], key="extractor seed")
    fig = seeds.seeds_figure(meta, ext, 2, 1, constant=constant)
    left, right = fig.axes
    marks = [c for c in left.collections if c.get_label() == "constant predictor"]
    assert len(marks) == 1 and np.allclose(marks[0].get_offsets(), [[0, 5], [1, 10]])
    assert matplotlib.colors.to_hex(marks[0].get_facecolor()[0]) == seeds.plots.colour("constant")
    right_marks = [c for c in right.collections if c.get_label() == "constant predictor"]
    assert np.allclose(right_marks[0].get_offsets(), [[0, 5]])  # only the extractor panel's split
    assert "constant predictor" in [t.get_text() for t in left.get_legend().get_texts()]
    plt.close(fig)
