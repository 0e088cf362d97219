"""One split end to end at a tiny size: deterministic, resumable, and robust to a corrupt cache."""

import numpy as np
import pytest

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


def test_corrupt_result_cache_is_recomputed(tiny, tmp_path, monkeypatch):
    faces, split, cfg = tiny
    monkeypatch.setenv("METAREWEIGHT_CACHE", str(tmp_path / "c"))
    first = run_split(faces, split, cfg, progress=False)
    (entry,) = (cache_dir() / "splits").glob("*.npz")
    entry.write_bytes(entry.read_bytes()[:64])
    _same(first, run_split(faces, split, cfg, progress=False))
    assert entry.stat().st_size > 64
