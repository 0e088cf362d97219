"""The shipped paper extractors and the committed records cannot drift apart (real data)."""

import json
from pathlib import Path

import numpy as np
import pytest

from metareweight import baselines
from metareweight.cache import file_digest
from metareweight.experiment import AGE_SCALE, split_features
from metareweight.profiles import resolve
from metareweight.settings import shipped_dir
from metareweight.shipped import read_manifest
from metareweight.splits import in_range, make_splits

ROOT = Path(__file__).resolve().parents[1]


def test_every_shipped_file_matches_its_manifest():
    manifest = read_manifest(shipped_dir())["extractors"]
    assert manifest, "no extractor is shipped in results/paper/extractors"
    for key, entry in manifest.items():
        path = shipped_dir() / entry["file"]
        assert path.name == f"{key}.pt" and file_digest(path) == entry["sha256"], path
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


def test_every_extractor_of_the_paper_profile_is_shipped():
    """What the paper book trains (main splits, pixel ablation, extractor seeds) is all shipped."""
    from metareweight.experiment import extractor_jobs

    shipped = {(e["pixels"], e["split"], e["seed"]) for e in read_manifest(shipped_dir())["extractors"].values()}
    missing = [job for job in extractor_jobs(resolve("paper")) if job not in shipped]
    assert not missing, f"paper extractors not shipped (pixels, split, seed): {missing}"


PAPER_RECORDS = ["table1.json", "alternatives.json", "seeds.json", "ablations.json", "sweep.json"] + sorted(
    f"verdicts/{p.name}" for p in (ROOT / "results" / "paper" / "verdicts").glob("*.json"))


@pytest.mark.parametrize("name", PAPER_RECORDS)
def test_committed_paper_records_were_made_with_the_paper_profile(name):
    """A committed record's settings are the paper profile's, without overrides, so a change of
    the profile cannot leave records of the old settings behind."""
    path = ROOT / "results" / "paper" / name
    if not path.exists():
        pytest.skip(f"{path.name} is not committed")
    config = json.loads(path.read_text())["config"]
    assert config["profile"] == "paper" and not config.get("overrides")
    cfg = resolve("paper")
    profile = cfg.settings(list(cfg))
    stale = {k: (v, profile[k]) for k, v in config["settings"].items() if k in profile and profile[k] != v}
    assert not stale, f"{name} was made with other settings (recorded, profile): {stale}"


def test_the_pixel_ablation_covers_the_profiles_splits():
    record = json.loads((ROOT / "results" / "paper" / "table1.json").read_text())
    cfg = resolve("paper")
    assert len(record["pixel_ablation"]["splits"]) == min(cfg.pixel_ablation_splits, cfg.n_splits)
