"""One split end to end at a tiny size: deterministic, resumable, and robust to a corrupt cache."""

import numpy as np
import pytest
import torch

from metareweight.cache import cache_dir
from metareweight.data import make_standin
from metareweight.experiment import get_extractor, run_split
from metareweight.extractor import train_extractor
from metareweight.profiles import resolve
from metareweight.splits import make_splits


@pytest.fixture(scope="module")
def tiny():
    faces = make_standin(n=1200, seed=3)
    split = make_splits(faces.ages, n_splits=1, block=200, val_offset=300)[0]
    cfg = resolve("quick", epochs=2, meta_steps=6, batch_size=50)
    return faces, split, cfg


def _same(a, b):
    (arr_a, info_a), (arr_b, info_b) = a, b
    assert info_a["mse"] == info_b["mse"]
    assert info_a["history"]["valid_mse"] == info_b["history"]["valid_mse"]
    for key in arr_a:
        np.testing.assert_array_equal(arr_a[key], arr_b[key])


@pytest.mark.slow
def test_same_seeds_same_numbers(tiny, tmp_path, monkeypatch):
    faces, split, cfg = tiny
    monkeypatch.setenv("METAREWEIGHT_CACHE", str(tmp_path / "a"))
    first = run_split(faces, split, cfg, progress=False, use_cache=False)
    monkeypatch.setenv("METAREWEIGHT_CACHE", str(tmp_path / "b"))
    second = run_split(faces, split, cfg, progress=False, use_cache=False)
    _same(first, second)
    assert set(first[1]["mse"]) == {"all", "restricted", "reweighted", "constant", "cnn_head"}
    other = run_split(faces, split, resolve("quick", epochs=2, meta_steps=6, batch_size=50, train_seed=1),
                      progress=False, use_cache=False)
    assert other[1]["mse"] != first[1]["mse"]


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_numbers(tiny, tmp_path, monkeypatch):
    faces, split, cfg = tiny
    monkeypatch.setenv("METAREWEIGHT_CACHE", str(tmp_path / "whole"))
    whole = run_split(faces, split, cfg, progress=False)
    monkeypatch.setenv("METAREWEIGHT_CACHE", str(tmp_path / "killed"))
    # the run is "killed" after the first epoch of the split's extractor ...
    partial = train_extractor(faces.images[split.train_all], faces.ages[split.train_all] / 100.0,
                              epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.train_seed,
                              data_checksum=faces.checksum, split=split.index, progress=False, stop_after=1,
                              monitor=(faces.images[split.test], faces.ages[split.test] / 100.0))
    assert len(partial.history["train_mse"]) == 1
    # ... and the rerun resumes from that checkpoint
    assert get_extractor(faces, split, cfg, progress=False).resumed_from == 1
    _same(whole, run_split(faces, split, cfg, progress=False))


@pytest.mark.slow
def test_corrupt_result_cache_is_recomputed(tiny, tmp_path, monkeypatch):
    faces, split, cfg = tiny
    monkeypatch.setenv("METAREWEIGHT_CACHE", str(tmp_path / "c"))
    first = run_split(faces, split, cfg, progress=False)
    (entry,) = (cache_dir() / "splits").glob("*.npz")
    entry.write_bytes(entry.read_bytes()[:64])
    _same(first, run_split(faces, split, cfg, progress=False))
    assert entry.stat().st_size > 64


def test_what_each_method_is_fitted_and_scored_on(tiny, monkeypatch):
    """Spy on every fit of one tiny split: test rows never enter a fit, Restricted sees the in-range
    training rows, the meta step sees meta-training and validation rows only, the learned weights
    go to all training rows, and every head is scored on the test rows only."""
    from metareweight import baselines, experiment
    from metareweight.splits import in_range

    faces, split, cfg = tiny
    n = len(faces)
    rng = np.random.default_rng(0)
    X = np.column_stack([np.arange(n) / 1e3, rng.normal(size=(n, 6)), np.ones(n)])  # column 0 names the row
    yhat0 = rng.uniform(0.1, 0.5, size=n)

    def rows(a):
        return set(np.rint(np.asarray(a)[:, 0] * 1e3).astype(int).tolist())

    monkeypatch.setattr(experiment, "split_features", lambda *a, **k: experiment.SplitFeatures(
        X, faces.ages / 100.0, yhat0, type("T", (), {"history": {"seconds": [1.0]}, "key": "spy"})()))
    fits, metas = [], []
    real_fit, real_train = baselines.fit_ridge, experiment.train_weights

    def fit_spy(Xf, y, weights=None, **kw):
        coef = real_fit(Xf, y, weights, **kw)
        fits.append({"rows": rows(Xf), "weights": None if weights is None else np.asarray(weights), "coef": coef})
        return coef

    def train_spy(Xm, y, y0, Xv, yv, settings, **kw):
        result = real_train(Xm, y, y0, Xv, yv, settings, **kw)
        metas.append({"rows": rows(Xm), "valid": rows(Xv), "monitor": rows(kw["monitor"][0]), "fn": result.weight_fn})
        return result

    monkeypatch.setattr(baselines, "fit_ridge", fit_spy)
    monkeypatch.setattr(experiment, "train_weights", train_spy)
    arrays, info = experiment.run_split(faces, split, cfg, progress=False, use_cache=False)

    test, train = set(split.test_block.tolist()), set(split.train_all.tolist())
    assert all(not (f["rows"] & test) for f in fits)
    inside = split.train_all[in_range(faces.ages[split.train_all], cfg.target_low, cfg.target_high)]
    by_rows = {frozenset(f["rows"]): f for f in fits}
    assert frozenset(inside.tolist()) in by_rows  # Restricted: the in-range training rows
    unweighted_all = [f for f in fits if f["rows"] == train and f["weights"] is None]
    weighted_all = [f for f in fits if f["rows"] == train and f["weights"] is not None]
    assert len(unweighted_all) == 1 and len(weighted_all) == 1  # All, then the re-weighted head
    (meta,) = metas
    assert meta["rows"] == set(split.meta_train.tolist()) and meta["valid"] == set(split.valid.tolist())
    assert not (meta["rows"] | meta["valid"]) & test
    assert meta["monitor"] == set(split.test.tolist())  # recorded for plots only (see the next test)
    tr = split.train_all
    np.testing.assert_allclose(weighted_all[0]["weights"], meta["fn"](faces.ages[tr] / 100.0, yhat0[tr]))
    te = split.test
    np.testing.assert_array_equal(arrays["test_y"], faces.ages[te] / 100.0)
    np.testing.assert_allclose(arrays["test_pred_restricted"], X[te] @ by_rows[frozenset(inside.tolist())]["coef"])
    np.testing.assert_allclose(arrays["test_pred_reweighted"], X[te] @ weighted_all[0]["coef"])
    for method in ("all", "restricted", "reweighted"):
        assert info["mse"][method] == pytest.approx(np.mean((arrays[f"test_pred_{method}"] - arrays["test_y"]) ** 2))


def test_the_monitored_test_rows_do_not_change_the_learned_weights():
    from metareweight.meta import MetaSettings, train_weights

    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(200, 5)), rng.uniform(0.1, 0.6, size=200)
    Xv, yv = rng.normal(size=(30, 5)), rng.uniform(0.14, 0.21, size=30)
    kw = {"steps": 20, "lr": 5e-3, "alpha": 5e-3, "seed": 0}
    a = train_weights(X, y, y, Xv, yv, MetaSettings(**kw), monitor=(rng.normal(size=(10, 5)), rng.uniform(size=10)))
    b = train_weights(X, y, y, Xv, yv, MetaSettings(**kw),
                      monitor=(rng.normal(size=(10, 5)) * 100, rng.uniform(size=10)))
    np.testing.assert_array_equal(a.weights, b.weights)
    assert a.history["valid_mse"] == b.history["valid_mse"] and a.history["monitor_mse"] != b.history["monitor_mse"]


@pytest.mark.slow
def test_parallel_splits_give_the_serial_numbers(tmp_path, monkeypatch):
    from metareweight.experiment import run_all

    faces = make_standin(n=1600, seed=5)
    splits = make_splits(faces.ages, n_splits=2, block=200, val_offset=300)
    cfg = resolve("quick", epochs=1, meta_steps=5, batch_size=100)
    monkeypatch.setenv("METAREWEIGHT_CACHE", str(tmp_path / "serial"))
    torch.set_num_threads(2)  # this process's own count does not reach the runs
    serial = run_all(faces, splits, cfg, progress=False, n_jobs=1)
    assert torch.get_num_threads() == 2
    monkeypatch.setenv("METAREWEIGHT_CACHE", str(tmp_path / "parallel"))
    parallel = run_all(faces, splits, cfg, progress=False, n_jobs=2)
    assert [info["split"] for _, info in parallel] == [0, 1]
    for a, b in zip(serial, parallel, strict=True):
        _same(a, b)
    # Cached runs are read in this process; only the missing one goes to a worker, and when none
    # is missing no worker starts at all.
    entries = sorted((tmp_path / "parallel" / "splits").glob("*.npz"))
    assert len(entries) == 2
    entries[0].unlink()
    again = run_all(faces, splits, cfg, progress=False, n_jobs=2)
    assert len(list((tmp_path / "parallel" / "splits").glob("*.npz"))) == 2
    import joblib

    monkeypatch.setattr(joblib, "Parallel", None)  # starting workers would now fail
    warm = run_all(faces, splits, cfg, progress=False, n_jobs=2)
    for a, b, c in zip(serial, again, warm, strict=True):
        _same(a, b)
        _same(a, c)


def test_hits_only_reads_the_cache_and_refuses_to_compute(tiny, tmp_path, monkeypatch):
    from metareweight.cache import CacheMiss, hits_only, memo

    monkeypatch.setenv("METAREWEIGHT_CACHE", str(tmp_path))
    monkeypatch.delenv("METAREWEIGHT_FRESH", raising=False)
    calls = []

    def compute():
        calls.append(1)
        return {"a": np.arange(3.0)}, {"x": 1}

    with hits_only(), pytest.raises(CacheMiss, match="demo/"):
        memo("demo", {"k": 1}, compute)
    assert calls == []
    memo("demo", {"k": 1}, compute)
    with hits_only():
        arrays, info = memo("demo", {"k": 1}, compute)
    assert calls == [1] and info["x"] == 1
    np.testing.assert_array_equal(arrays["a"], np.arange(3.0))
    faces, split, cfg = tiny
    with hits_only(), pytest.raises(CacheMiss, match="extractor"):
        get_extractor(faces, split, cfg, progress=False)
    assert not list(tmp_path.glob("**/*.pt"))  # nothing trained


@pytest.mark.slow
def test_parallel_keeps_the_order_and_records_the_settings_its_workers_read():
    import operator

    from metareweight import profiles
    from metareweight.pool import parallel

    cfg = resolve("quick")
    profiles._READ.discard("meta_lr")
    profiles._READ.discard("ridge_lambda")
    out = parallel([(operator.getitem, cfg, "meta_lr"), (operator.getitem, cfg, "ridge_lambda")], n_jobs=2)
    assert out == [dict.__getitem__(cfg, "meta_lr"), dict.__getitem__(cfg, "ridge_lambda")]
    assert {"meta_lr", "ridge_lambda"} <= profiles.settings_read()  # read in the workers only


@pytest.mark.slow
def test_split_features_are_computed_once_per_extractor(tmp_path, monkeypatch):
    from metareweight import experiment

    monkeypatch.setenv("METAREWEIGHT_CACHE", str(tmp_path))
    faces = make_standin(n=1200, seed=3)
    splits = make_splits(faces.ages, n_splits=2, block=200, val_offset=300)
    cfg = resolve("quick", epochs=1, batch_size=100)
    calls = []
    real = experiment.extract_features
    monkeypatch.setattr(experiment, "extract_features", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = experiment.split_features(faces, splits[0], cfg, progress=False)
    again = experiment.split_features(faces, splits[0], cfg, progress=False)
    other = experiment.split_features(faces, splits[1], cfg, progress=False)
    assert again is first and other is not first and len(calls) == 2
    assert first.X.shape == (len(faces.ages), 401)
    # a new process reads them from the disk cache: the very same numbers, no CNN pass
    monkeypatch.setattr(experiment, "_FEATURES", type(experiment._FEATURES)())
    loaded = experiment.split_features(faces, splits[0], cfg, progress=False)
    assert loaded is not first and len(calls) == 2
    np.testing.assert_array_equal(loaded.X, first.X)
    np.testing.assert_array_equal(loaded.yhat0, first.yhat0)
    direct = experiment.extract_features(first.extractor.model, faces.images)
    np.testing.assert_array_equal(loaded.X[:, :-1], direct)  # as computed, bit for bit
