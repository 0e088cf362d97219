"""The shipped paper extractors and the committed records cannot drift apart (real data)."""

import json
from pathlib import Path

import numpy as np
import pytest

from metareweight import baselines
from metareweight.experiment import AGE_SCALE, split_features
from metareweight.extractor import read_manifest, sha256_of, shipped_dir
from metareweight.profiles import resolve
from metareweight.splits import in_range, make_splits

ROOT = Path(__file__).resolve().parents[1]


def test_every_shipped_file_matches_its_manifest():
    manifest = read_manifest(shipped_dir())["extractors"]
    assert manifest, "no extractor is shipped in results/paper/extractors"
    for key, entry in manifest.items():
        path = shipped_dir() / entry["file"]
        assert path.name == f"{key}.pt" and sha256_of(path) == entry["sha256"], path
        assert {"data_sha256", "split", "pixels", "seed", "epochs", "history"} <= set(entry)
        assert len(entry["history"]["train_mse"]) == entry["epochs"]


def test_split0_shipped_extractor_gives_the_committed_table1(real_faces):
    record = json.loads((ROOT / "results" / "paper" / "table1.json").read_text())
    cfg = resolve("paper")
    split = make_splits(real_faces.ages, n_splits=cfg.n_splits, low=cfg.target_low, high=cfg.target_high,
                        seed=cfg.split_seed)[0]
    sf = split_features(real_faces, split, cfg, progress=False)
    assert sf.extractor.shipped, "split 0's paper extractor is not shipped"
    row = record["splits"][0]
    assert row["extractor"] == sf.extractor.key
    tr, te = split.train_all, split.test
    mask = in_range(real_faces.ages[tr], cfg.target_low, cfg.target_high)
    ridge = {"alpha": cfg.ridge_lambda, "penalty": cfg.ridge_penalty}
    y = sf.y
    ours = {
        "restricted": baselines.mse(sf.X[te] @ baselines.restricted_baseline(sf.X[tr], y[tr], mask, **ridge), y[te]),
        "all": baselines.mse(sf.X[te] @ baselines.all_baseline(sf.X[tr], y[tr], **ridge), y[te]),
        "constant": baselines.mse(np.full(len(te), baselines.constant_prediction(y[tr], mask)), y[te]),
    }
    for method, value in ours.items():
        assert value * AGE_SCALE**2 == pytest.approx(row[method], rel=1e-5), method
