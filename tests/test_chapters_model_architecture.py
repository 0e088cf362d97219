"""The architecture chapter's counts, training facts, head errors, figures and verdict rows."""

from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest
import torch

from metareweight.chapters import model_architecture as chapter
from metareweight.data import Faces
from metareweight.extractor import predict, to_tensor
from metareweight.models import Extractor, WeightNet
from metareweight.profiles import resolve
from metareweight.splits import Split
from metareweight.verdicts import Verdicts

matplotlib.use("Agg")


def _trained(key, seconds=(1.0, 2.0), shipped=False, model=None):
    history = {"train_mse": [4e-3, 2e-3, 1e-3], "monitor_mse": [5e-3, 3e-3, 2e-3], "seconds": list(seconds)}
    return SimpleNamespace(key=key, history=history, shipped=shipped, model=model)


def _split(k, n=12):
    rows = np.arange(n)
    return Split(k, test=rows[:3], test_block=rows[:4], train_all=rows[4:], train_restricted=rows[4:6],
                 valid=rows[4:6], meta_train=rows[6:])


def test_parameter_count_counts_every_scalar():
    assert chapter.parameter_count(torch.nn.Linear(3, 2)) == 3 * 2 + 2
    assert chapter.parameter_count(WeightNet(20)) == 2 * 20 + 20 + 20 + 1


def test_training_facts_sum_the_shipped_histories():
    trained = [_trained("a", shipped=True), _trained("b", seconds=(60.0, 57.0)), _trained("c", seconds=())]
    assert chapter.training_seconds(trained) == [3.0, 117.0, 0.0]
    facts = chapter.training_facts(trained, resolve("quick"))
    assert facts["n_shipped"] == 1 and facts["n_trained"] == 3 and facts["train_minutes"] == pytest.approx(2.0)
    assert facts["epochs_used"] == resolve("quick").epochs


def test_head_errors_on_hand_made_predictions():
    true = np.array([10.0, 15.0, 20.0, 40.0])
    pred = np.array([12.0, 14.0, 17.0, 40.0])  # errors 2, -1, -3, 0
    out = chapter.head_errors(pred, true, 14, 21)
    assert out["MSE, all test ages (years²)"] == pytest.approx((4 + 1 + 9 + 0) / 4)
    assert out["MSE, target range (years²)"] == pytest.approx((1 + 9) / 2)
    assert out["mean error in range (years)"] == pytest.approx(-2.0)


def test_own_predictions_are_the_extractors_head_in_years():
    torch.manual_seed(0)
    model = Extractor()
    rng = np.random.default_rng(0)
    faces = Faces(images=rng.uniform(size=(12, 40, 40, 3)).astype(np.float32), ages=np.arange(12) + 10,
                  names=tuple(map(str, range(12))), source="stand-in", checksum="x", path="mem")
    split = _split(0)
    pred = chapter.own_predictions(faces, split, _trained("a", model=model))
    assert pred.shape == (4,)
    np.testing.assert_allclose(pred, 100 * predict(model, to_tensor(faces.images[:4])))
    head = chapter.head_table(faces, [split, _split(1)], [_trained("a", model=model)] * 2, 10, 12)
    assert list(head.index) == [0, 1] and head.iloc[0].equals(head.iloc[1])
    facts = chapter.head_facts(head)
    assert facts["head_range"] == pytest.approx(head["MSE, target range (years²)"].iloc[0])


def test_training_curves_plot_years_squared():
    fig = chapter.training_curves([_split(0), _split(1)], [_trained("a"), _trained("b")], 14, 21)
    left, right = fig.axes
    np.testing.assert_allclose(left.lines[0].get_ydata(), [40.0, 20.0, 10.0])
    np.testing.assert_allclose(right.lines[1].get_ydata(), [50.0, 30.0, 20.0])
    assert right.get_title() == "test rows (ages 14-21)" and left.get_yscale() == "log"
    fig = chapter.prediction_scatter(np.array([15, 20]), np.array([16.0, 19.0]), 14, 21)
    np.testing.assert_allclose(fig.axes[0].collections[0].get_offsets(), [[15, 16], [20, 19]])


def test_conv_shape_reads_the_extractor():
    assert chapter.conv_shape(Extractor()) == ([7, 7], [32, 16])


def test_ridge_words_give_the_scaled_diagonal():
    cfg = SimpleNamespace(ridge_penalty="n", ridge_lambda=5e-3)
    assert chapter.ridge_words(cfg, 8780) == ("0.005 scaled as λ·N, N the rows of the fit (the code): on All's "
                                              "8,780 rows the diagonal gets 43.9, not 0.005")
    assert chapter.ridge_words(SimpleNamespace(ridge_penalty="plain", ridge_lambda=5e-3), 10) == \
        "0.005 scaled as plain λ (the paper's formula)"


def test_verdicts_compare_the_run_with_the_paper():
    cfg = resolve("paper")
    splits = [_split(k) for k in range(8)]
    trained = [_trained(f"k{k}") for k in range(8)]
    v = Verdicts("model-architecture")
    chapter.add_verdicts(v, Extractor(), WeightNet(cfg.weight_hidden), trained, splits, cfg)
    holds = [r.holds for r in v.rows]
    assert holds[:3] == ["yes", "yes", "yes"] and {r.kind for r in v.rows} == {"setup"}
    assert holds[3] == ("yes" if cfg.ridge_penalty == "plain" else "no")  # the code's λ·N is not the formula
    v = Verdicts("model-architecture")
    chapter.add_verdicts(v, Extractor(), WeightNet(10), [_trained("same")] * 8, splits, cfg)
    assert [r.holds for r in v.rows][1:3] == ["no", "no"]  # one extractor shared; 10 hidden units
