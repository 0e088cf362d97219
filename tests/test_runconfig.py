"""One configuration per run: settings read, records folders, permissions, shipped extractors."""

import json
import os
import stat
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from metareweight import progress, runconfig, settings
from metareweight.cache import atomic_write
from metareweight.data import make_standin
from metareweight.experiment import extractor_jobs, get_extractor, run_spec
from metareweight.profiles import PROFILES, resolve, resolve_declared, settings_read
from metareweight.shipped import ShippedError, load_shipped, read_manifest, ship
from metareweight.splits import make_splits

ROOT = Path(__file__).resolve().parents[1]


def test_reads_are_recorded_and_only_declared_settings_are_kept(monkeypatch):
    from metareweight import profiles

    monkeypatch.setattr(profiles, "_READ", set())  # this test's own record of reads, whatever ran before
    cfg = resolve_declared("quick", {"epochs": 3, "lr": None, "os": os, "not_a_setting": 1})
    assert cfg.declared == ("epochs", "lr") and cfg.overrides == {"epochs": 3}
    assert settings_read() == set()  # resolving reads nothing
    cfg["extractor_seed_splits"]
    assert cfg.epochs == 3
    assert settings_read() == {"extractor_seed_splits", "epochs"}
    assert cfg.settings() == {"epochs": 3, "lr": PROFILES["quick"]["lr"]}
    assert settings_read() == {"extractor_seed_splits", "epochs"}  # settings() does not count as a read


def test_variant_keeps_the_overrides_and_switches_meta_settings():
    cfg = resolve("paper", meta_settings="code", weight_hidden=7)
    other = cfg.variant(meta_settings="paper")
    assert other.weight_hidden == 7 and other.meta_settings == "paper"
    assert (other.meta_lr, other.meta_steps, other.meta_clip) == (1e-4, 1000, 0.0)
    pinned = resolve("paper", meta_steps=50).variant(meta_settings="paper")
    assert pinned.meta_steps == 50  # an explicit value wins over the named settings


def test_runs_with_overrides_write_elsewhere(monkeypatch, tmp_path):
    monkeypatch.delenv(settings.OVERRIDES_ENV, raising=False)
    assert runconfig.results_dir(resolve("paper"), tmp_path) == tmp_path / "results" / "paper"
    # a value equal to the profile's is no override
    assert runconfig.results_dir(resolve("paper", epochs=100), tmp_path) == tmp_path / "results" / "paper"
    moved = runconfig.results_dir(resolve("paper", ridge_lambda=0.01), tmp_path)
    assert moved.parent == tmp_path / "results" and moved.name.startswith("paper-") and len(moved.name) == 14
    # the runbook's overrides of the whole run decide, so every chapter of one run shares a folder
    monkeypatch.setenv(settings.OVERRIDES_ENV, json.dumps({"target_low": 30}))
    assert runconfig.results_dir(resolve("paper"), tmp_path) == runconfig.results_dir(
        resolve("paper", ridge_lambda=0.01), tmp_path) != tmp_path / "results" / "paper"


def test_atomic_write_gives_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "record.json", lambda tmp: Path(tmp).write_text("{}"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "record.json").stat().st_mode) == 0o644


def test_requires_python_has_the_tarfile_data_filter():
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    low = spec.split(",")[0].removeprefix(">=")
    assert tuple(int(p) for p in low.split(".")) >= (3, 11, 4)


def test_result_key_describes_the_split_rows():
    faces = make_standin(n=1200, seed=3)
    cfg = resolve("quick")
    a = make_splits(faces.ages, n_splits=1, block=200, val_offset=300)[0]
    b = make_splits(faces.ages, n_splits=1, block=200, val_offset=400)[0]  # same index, other rows
    assert a.index == b.index
    assert run_spec(cfg, faces, a) != run_spec(cfg, faces, b)
    assert run_spec(cfg, faces, a) == run_spec(cfg, faces, make_splits(faces.ages, n_splits=1, block=200,
                                                                 val_offset=300)[0])


def test_extractor_jobs_cover_splits_pixels_and_seeds():
    jobs = extractor_jobs(resolve("paper", pixel_ablation_splits=3, extractor_seeds=3, extractor_seed_splits=2))
    assert jobs[:8] == [("scaled", k, 0) for k in range(8)]
    assert jobs[8:11] == [("code", k, 0) for k in range(3)]
    assert sorted(jobs[11:]) == [("scaled", 0, 1), ("scaled", 0, 2), ("scaled", 1, 1), ("scaled", 1, 2)]


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A tiny split, its trained extractor shipped into a temporary folder."""
    faces = make_standin(n=1200, seed=3)
    split = make_splits(faces.ages, n_splits=1, block=200, val_offset=300)[0]
    cfg = resolve("quick", epochs=1, batch_size=100)
    folder = tmp_path / "shipped"
    monkeypatch.setenv("METAREWEIGHT_SHIPPED", str(folder))
    trained = get_extractor(faces, split, cfg, progress=False)
    entry = ship(trained, folder, {"split": 0, "pixels": "scaled", "seed": 0, "epochs": 1})
    return faces, split, cfg, folder, trained, entry


@pytest.mark.slow
def test_shipped_extractor_is_loaded_instead_of_trained(shipped, tmp_path, monkeypatch):
    faces, split, cfg, folder, trained, entry = shipped
    assert read_manifest(folder)["extractors"][trained.key]["sha256"] == entry["sha256"]
    monkeypatch.setenv("METAREWEIGHT_CACHE", str(tmp_path / "empty-cache"))  # nothing cached: must load
    loaded = get_extractor(faces, split, cfg, progress=False)
    assert loaded.shipped and loaded.history == json.loads(json.dumps(trained.history))
    for k, v in trained.model.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[k], v, rtol=0, atol=0)
    assert not list((tmp_path / "empty-cache").rglob("*.pt"))  # no training happened


@pytest.mark.slow
def test_fresh_runs_retrain_instead_of_loading(shipped, tmp_path, monkeypatch):
    faces, split, cfg, *_ = shipped
    monkeypatch.setenv("METAREWEIGHT_CACHE", str(tmp_path / "fresh-cache"))
    monkeypatch.setenv("METAREWEIGHT_FRESH", "1")
    again = get_extractor(faces, split, cfg, progress=False)
    assert not again.shipped and list((tmp_path / "fresh-cache").rglob("*.pt"))


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["tamper", "truncate"])
def test_a_damaged_shipped_extractor_is_refused_and_retrained(shipped, tmp_path, monkeypatch, damage):
    faces, split, cfg, folder, trained, entry = shipped
    path = folder / entry["file"]
    data = path.read_bytes()
    path.write_bytes(data[:-10] + bytes(10) if damage == "tamper" else data[: len(data) // 2])
    with pytest.raises(ShippedError, match=f"{entry['file']}: sha256 .* does not match"):
        load_shipped(trained.key, folder)
    monkeypatch.setenv("METAREWEIGHT_CACHE", str(tmp_path / "retrain-cache"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = get_extractor(faces, split, cfg, progress=False)
    assert any("does not match" in str(w.message) and "retraining" in str(w.message) for w in caught)
    assert not again.shipped
    for k, v in trained.model.state_dict().items():  # retraining is deterministic on one machine
        torch.testing.assert_close(again.model.state_dict()[k], v)


def test_progress_goes_to_the_terminal_not_the_notebook(capfd, monkeypatch):
    import io
    import sys

    notebook_stream = io.StringIO()  # what a kernel captures into the notebook
    monkeypatch.setattr(sys, "stderr", notebook_stream)
    monkeypatch.setenv(settings.CHAPTER_ENV, "some-chapter")
    bar = progress.Progress("meta step", 10, interval=0.0, unit="step ")
    bar.update(5, valid_mse=0.5)
    bar.update(10, valid_mse=0.25)
    err = capfd.readouterr().err  # the process's own stderr: the terminal that started the run
    assert "[some-chapter] meta step: step 5/10, valid_mse 0.5" in err
    assert "step 10/10, valid_mse 0.25 (done)" in err
    assert notebook_stream.getvalue() == ""
    quiet = progress.Progress("x", 3, enabled=False)
    quiet.update(3)
    assert capfd.readouterr().err == ""


def test_export_writes_config_and_reads(tmp_path, monkeypatch):
    monkeypatch.delenv(settings.OVERRIDES_ENV, raising=False)
    cfg = resolve_declared("quick", {"epochs": 2, "target_low": 30, "target_high": 40})
    cfg["split_seed"]
    runconfig.export(tmp_path / "c.json", cfg)
    out = json.loads((tmp_path / "c.json").read_text())
    assert out["config"]["settings"] == {"epochs": 2, "target_low": 30, "target_high": 40}
    assert out["config"]["overrides"] == {"epochs": 2, "target_low": 30, "target_high": 40}
    assert "split_seed" in out["read"] and np.all([isinstance(k, str) for k in out["read"]])


def test_environment_context_sets_and_restores(monkeypatch):
    monkeypatch.setenv("METAREWEIGHT_TEST_A", "before")
    monkeypatch.delenv("METAREWEIGHT_TEST_B", raising=False)
    with settings.environment(METAREWEIGHT_TEST_A="during", METAREWEIGHT_TEST_B="new"):
        assert os.environ["METAREWEIGHT_TEST_A"] == "during" and os.environ["METAREWEIGHT_TEST_B"] == "new"
    assert os.environ["METAREWEIGHT_TEST_A"] == "before" and "METAREWEIGHT_TEST_B" not in os.environ


def test_the_rerun_command_keeps_the_overrides_and_changes_one_setting(monkeypatch):
    from metareweight import runconfig

    cfg = resolve_declared("quick", {"meta_seeds": None, "target_low": 15, "meta_seed": None, "epochs": None})
    plain, changed = runconfig.rerun_command(cfg, "seeds")
    assert plain == "python -m metareweight.runbook --profile quick --only seeds -p target_low 15"
    assert changed == plain + f" -p meta_seed {PROFILES['quick']['meta_seed'] + 1}"  # a seed: always valid
    no_seed = resolve_declared("quick", {"meta_seeds": None, "epochs": None})
    assert runconfig.rerun_command(no_seed, "x")[1].endswith(f"-p epochs {PROFILES['quick']['epochs']}")
    monkeypatch.setenv("METAREWEIGHT_CHAPTER", "seeds")
    box = runconfig.rerun_box(cfg).data
    assert "Rerun this chapter" in box and "--only seeds -p target_low 15" in box


def test_the_repository_url_comes_from_the_book_config(tmp_path):
    from metareweight.settings import repository_url

    (tmp_path / "_config.yml").write_text("repository:\n  url: https://example.org/r\n")
    assert repository_url(tmp_path) == "https://example.org/r"
    (tmp_path / "_config.yml").write_text("title: t\n")
    assert repository_url(tmp_path) == ""
    (tmp_path / "_config.yml").write_text("repository:\n  url: example.org\n")
    with pytest.raises(ValueError, match="repository.url must be an http"):
        repository_url(tmp_path)
