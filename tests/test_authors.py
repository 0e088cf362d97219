"""The authors' extractors: refused when altered, strict about their architecture, and run by
our Extractor exactly as the authors' layers compute."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from metareweight import authors, settings
from metareweight.extractor import extract_features, predict, to_tensor

ROOT = Path(__file__).resolve().parents[1]


def _authors_state(seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = {"conv1.0.weight": (32, 3, 7, 7), "conv1.0.bias": (32,), "conv2.0.weight": (16, 32, 7, 7),
              "conv2.0.bias": (16,), "out.weight": (1, 400), "out.bias": (1,)}
    return {k: 0.1 * torch.randn(s, generator=g) for k, s in shapes.items()}


def _real_folder():
    value = os.environ.get(settings.AUTHORS_ENV)
    folder = Path(value) if value else ROOT.parent / "shared" / "authors" / "models"
    if not folder.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the authors' models: {folder} is missing")
        pytest.skip("the authors' models are not on this machine")
    return folder


def test_features_equal_a_hand_written_forward_of_the_authors_layers(tmp_path):
    state = _authors_state()
    path = tmp_path / "cv_0.pt"
    torch.save({"state_dict": state}, path)
    model = authors.load(path, check=False)
    images = np.random.default_rng(0).uniform(0, 255, size=(5, 40, 40, 3)).astype(np.float32)
    x = to_tensor(images)
    h = F.max_pool2d(torch.relu(F.conv2d(x, state["conv1.0.weight"], state["conv1.0.bias"])), 2)
    h = F.max_pool2d(torch.tanh(F.conv2d(h, state["conv2.0.weight"], state["conv2.0.bias"])), 2)
    feats = h.reshape(len(x), -1)  # channels, then rows, then columns: the authors' view(n, -1)
    np.testing.assert_allclose(extract_features(model, images), feats.numpy(), rtol=1e-5, atol=1e-6)
    head = (feats @ state["out.weight"].T + state["out.bias"]).squeeze(1)
    np.testing.assert_allclose(predict(model, x), head.numpy(), rtol=1e-5, atol=1e-6)


def test_a_state_dict_of_the_wrong_shape_or_keys_is_refused(tmp_path):
    state = _authors_state()
    state["conv2.0.weight"] = torch.zeros(16, 32, 5, 5)
    torch.save({"state_dict": state}, tmp_path / "cv_1.pt")
    with pytest.raises(authors.AuthorsModelError, match=r"cv_1\.pt: does not fit"):
        authors.load(tmp_path / "cv_1.pt", check=False)
    renamed = {k.replace("out.", "fc."): v for k, v in _authors_state().items()}
    torch.save({"state_dict": renamed}, tmp_path / "cv_2.pt")
    with pytest.raises(authors.AuthorsModelError, match=r"cv_2\.pt: keys"):
        authors.load(tmp_path / "cv_2.pt", check=False)
    torch.save(_authors_state(), tmp_path / "cv_3.pt")  # no {"state_dict": ...} wrapper
    with pytest.raises(authors.AuthorsModelError, match="state_dict"):
        authors.load(tmp_path / "cv_3.pt", check=False)


def test_a_file_that_is_not_the_authors_is_refused_by_its_digest(tmp_path):
    torch.save({"state_dict": _authors_state()}, tmp_path / "cv_0.pt")
    with pytest.raises(authors.AuthorsModelError, match=r"cv_0\.pt: sha256 .* is not the authors'"):
        authors.load(tmp_path / "cv_0.pt")
    with pytest.raises(authors.AuthorsModelError, match="missing"):
        authors.verify(tmp_path / "cv_5_b.pt")
    with pytest.raises(authors.AuthorsModelError, match="not one of the authors' model files"):
        authors.verify(tmp_path / "model.pt")


def test_a_real_model_with_one_flipped_byte_is_refused_naming_the_file(tmp_path):
    folder = _real_folder()
    original = folder / "cv_0.pt"
    assert authors.verify(original) == authors.SHA256["cv_0.pt"]
    model = authors.load(original)
    assert sum(p.numel() for p in model.parameters()) == 32 * 3 * 49 + 32 + 16 * 32 * 49 + 16 + 400 + 1
    copy = tmp_path / "cv_0.pt"
    shutil.copyfile(original, copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(bytes(data))
    with pytest.raises(authors.AuthorsModelError, match=rf"{copy}: sha256"):
        authors.load(copy)


def test_the_variable_must_name_a_folder(monkeypatch, tmp_path):
    monkeypatch.delenv(settings.AUTHORS_ENV, raising=False)
    assert authors.models_dir() is None
    monkeypatch.setenv(settings.AUTHORS_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(authors.AuthorsModelError, match="no such folder"):
        authors.models_dir()


def test_leakage_is_zero_for_one_extractor_and_positive_when_the_test_rows_were_seen():
    from types import SimpleNamespace

    from metareweight.profiles import resolve
    from metareweight.ridge import design_matrix
    from metareweight.splits import make_splits

    rng = np.random.default_rng(0)
    ages = rng.integers(10, 30, size=5000)
    faces = SimpleNamespace(ages=ages)
    splits = make_splits(ages, n_splits=3)
    cfg = resolve("quick")
    base = rng.normal(size=(len(ages), 5))
    same = authors.leakage_pairs(faces, splits, lambda j: design_matrix(base), cfg)
    assert len(same) == 6 and all(p["restricted_optimism"] == 0 and p["all_optimism"] == 0 for p in same)

    def memorised(j):  # extractor j knows the age of every row it was trained on, not of its own test rows
        known = np.zeros(len(ages), dtype=bool)
        known[splits[j].train_all] = True
        column = np.where(known, ages / 100.0, rng.normal(0.2, 0.05, size=len(ages)))
        return design_matrix(np.column_stack([base, column]))

    seen = authors.leakage_pairs(faces, splits, memorised, cfg)
    assert all(p["restricted_optimism"] > 0 for p in seen)
    summary = authors.leakage_summary(seen)
    assert summary["restricted"]["splits"] == 3 and summary["restricted"]["pairs"] == 6
    assert summary["restricted"]["ci_low"] <= summary["restricted"]["mean"] <= summary["restricted"]["ci_high"]
