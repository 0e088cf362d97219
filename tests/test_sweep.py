"""Tests of metareweight.sweep: validation subsets, the cached subset run (with the experiment's
own computation replaced by a spy), the simple alternatives on any band (against
run_alternatives, and blind to test targets), and the measures of the ablation chapter."""

import types

import numpy as np
import pandas as pd
import pytest
from conftest import band_features

from metareweight import alternatives as A
from metareweight import experiment, sweep
from metareweight.profiles import resolve
from metareweight.splits import Split

LOW, HIGH = 14, 21


def make_split(n_valid=120, index=0):
    rows = np.arange(1000)
    return Split(index=index, test=rows[:50], test_block=rows[:100], train_all=rows[100:],
                 train_restricted=rows[100:400], valid=rows[200:200 + n_valid][::-1].copy(),
                 meta_train=rows[500:])


# ----------------------------------------------------------------------------- validation subsets


def test_valid_subset_is_a_seeded_nested_subset_in_the_splits_order():
    s = make_split()
    small, large = sweep.valid_subset(s, 25), sweep.valid_subset(s, 50)
    assert len(small.valid) == 25 and len(large.valid) == 50
    assert set(small.valid) <= set(large.valid) <= set(s.valid)
    position = {r: k for k, r in enumerate(s.valid)}
    assert np.all(np.diff([position[r] for r in large.valid]) > 0)  # kept in the split's order
    for field in ("test", "test_block", "train_all", "train_restricted", "meta_train"):
        assert getattr(large, field) is getattr(s, field)
    assert np.array_equal(sweep.valid_subset(s, 50).valid, large.valid)  # deterministic
    assert not np.array_equal(sweep.valid_subset(make_split(index=1), 50).valid, large.valid)
    assert not np.array_equal(sweep.valid_subset(s, 50, seed=1).valid, large.valid)
    assert sweep.valid_subset(s, 120) is s and sweep.valid_subset(s, 500) is s
    with pytest.raises(ValueError, match="at least one"):
        sweep.valid_subset(s, 0)


def test_valid_sizes_stop_below_the_full_set_and_end_with_it():
    assert sweep.valid_sizes(make_split(120)) == [*sweep.VALID_SIZES, 120]
    assert sweep.valid_sizes(make_split(40)) == [n for n in sweep.VALID_SIZES if n < 40] + [40]
    assert sweep.valid_sizes(make_split(10)) == [10]


def test_valid_subset_run_passes_the_subset_to_the_experiment_and_caches_per_size(monkeypatch):
    calls = []

    def fake_compute(faces, split, cfg, progress):
        calls.append(split)
        return {"valid_rows": np.asarray(split.valid)}, {"mse": {"reweighted": float(len(split.valid))}}

    def fake_run_split(faces, split, cfg, progress=True):
        return {}, {"mse": {"reweighted": -1.0}}

    monkeypatch.setattr(experiment, "compute_split", fake_compute)
    monkeypatch.setattr(experiment, "run_split", fake_run_split)
    faces = types.SimpleNamespace(checksum="x" * 64)
    cfg, s = resolve("quick"), make_split()
    arrays, info = sweep.valid_subset_run(faces, s, cfg, 25, progress=False)
    assert info["n_valid"] == 25 and info["mse"]["reweighted"] == 25.0 and "cold_seconds" in info
    assert np.array_equal(arrays["valid_rows"], sweep.valid_subset(s, 25).valid)
    sweep.valid_subset_run(faces, s, cfg, 25, progress=False)  # a cache hit
    sweep.valid_subset_run(faces, s, cfg, 50, progress=False)
    sweep.valid_subset_run(faces, s, cfg, 25, seed=1, progress=False)
    assert [len(c.valid) for c in calls] == [25, 50, 25]
    assert all(c.meta_train is s.meta_train and c.train_all is s.train_all for c in calls)
    _, full = sweep.valid_subset_run(faces, s, cfg, len(s.valid), progress=False)
    assert full["mse"]["reweighted"] == -1.0 and full["n_valid"] == len(s.valid) and len(calls) == 3


# ----------------------------------------------------------------------------- simple alternatives


def band_problem(n=400, p=5, seed=0):
    """:func:`conftest.band_features` with one split of our protocol's shape."""
    X, y, test_block, rest = band_features(n, p, seed, LOW, HIGH)
    band = A.in_band(y, LOW, HIGH)
    split = Split(index=0, test=test_block[band[test_block]], test_block=test_block, train_all=rest,
                  train_restricted=rest[band[rest]], valid=rest[:80][band[rest[:80]]], meta_train=rest[80:])
    return X, y, split


def test_simple_alternatives_match_run_alternatives():
    X, y, s = band_problem()
    ours = sweep.simple_alternatives(X, y, s, LOW, HIGH)
    theirs = A.run_alternatives(X, y, s.train_all, s.meta_train, s.valid, s.test, LOW, HIGH)
    assert list(ours) == list(sweep.SIMPLE)
    for name, r in ours.items():
        assert np.allclose(r.coef, theirs[name]["coef"], rtol=1e-12, atol=1e-14), name
        assert r.valid_mse == theirs[name]["valid_mse"] and r.chosen == theirs[name]["chosen"], name
    two = sweep.simple_alternatives(X, y, s, LOW, HIGH, ["valid_only", "soft_band"])
    assert list(two) == ["valid_only", "soft_band"]
    assert np.array_equal(two["soft_band"].coef, ours["soft_band"].coef)
    with pytest.raises(ValueError, match="not among"):
        sweep.simple_alternatives(X, y, s, LOW, HIGH, ["l2rw"])


def test_simple_alternatives_never_read_test_targets():
    X, y, s = band_problem()
    poisoned = y.copy()
    poisoned[s.test_block] = np.nan
    clean = sweep.simple_alternatives(X, y, s, LOW, HIGH)
    dirty = sweep.simple_alternatives(X, poisoned, s, LOW, HIGH)
    for name in sweep.SIMPLE:
        assert np.array_equal(clean[name].coef, dirty[name].coef), name


# ----------------------------------------------------------------------------- measures


def test_instability_measures():
    down = np.linspace(5.0, 1.0, 50)
    assert sweep.instability(down)["largest_rise"] == 0.0
    bumpy = down.copy()
    bumpy[20] += 0.7  # up by 0.7 + one step of the descent from 19 to 20
    step = down[0] - down[1]
    assert sweep.instability(bumpy)["largest_rise"] == pytest.approx(0.7 - step)
    flat_tail = np.concatenate([down, np.full(10, 2.0)])  # the last 20% of 60 values: 12 values
    assert sweep.instability(flat_tail)["late_sd"] == pytest.approx(np.std(flat_tail[-12:], ddof=1))
    assert sweep.instability(np.full(30, 3.0)) == {"largest_rise": 0.0, "late_sd": 0.0}
    assert sweep.instability([1.0, 2.0])["late_sd"] == pytest.approx(np.std([1.0, 2.0], ddof=1))
    with pytest.raises(ValueError, match="two recorded"):
        sweep.instability([1.0])


def test_effective_n_and_shrinkage():
    assert sweep.effective_n(np.ones(7780)) == pytest.approx(7780)
    assert sweep.effective_n(np.r_[1.0, np.zeros(99)]) == pytest.approx(1.0)
    assert sweep.effective_n(np.r_[np.ones(10), np.zeros(90)] * 0.3) == pytest.approx(10)
    target = np.linspace(0.14, 0.21, 20)
    assert sweep.shrinkage(np.full(20, 0.17), target) == pytest.approx(0.0, abs=1e-12)
    assert sweep.shrinkage(target, target) == pytest.approx(1.0)
    assert sweep.shrinkage(0.5 * target + 0.1, target) == pytest.approx(0.5)


def test_paired_table_pairs_by_split():
    frame = pd.DataFrame({"a": [2.0, 4.0, 6.0], "b": [1.0, 5.0, 3.0]}, index=[0, 1, 2])
    rows = {r["variant"]: r for r in sweep.paired_table(frame, "a", ["a", "b"])}
    assert rows["a"]["change vs default"] == 0.0 and rows["a"]["lower than default"] == 0
    assert rows["b"]["mean"] == pytest.approx(3.0) and rows["b"]["sd"] == pytest.approx(2.0)
    assert rows["b"]["change vs default"] == pytest.approx(np.mean([-0.5, 0.25, -0.5]))
    assert rows["b"]["lower than default"] == 2 and rows["b"]["splits"] == 3
    one = sweep.paired_table(frame.iloc[:1], "a", ["b"])[0]
    assert np.isnan(one["sd"])
