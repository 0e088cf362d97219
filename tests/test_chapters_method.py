"""The method chapter's checks of the closed form, its free-weight table and its verdict rows."""

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

from metareweight.chapters import method as chapter
from metareweight.profiles import resolve
from metareweight.splits import Split
from metareweight.verdicts import Verdicts

matplotlib.use("Agg")


def _problem(n=40, p=4, seed=0):
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.normal(size=(n, p - 1)), np.ones((n, 1))])
    y = X @ rng.normal(size=p) + 0.1 * rng.normal(size=n)
    Xv = np.hstack([rng.normal(size=(15, p - 1)), np.ones((15, 1))])
    return X, y, Xv, Xv @ rng.normal(size=p)


def test_random_weights_are_seeded_and_in_the_unit_interval():
    w = chapter.random_weights(50, seed=0)
    assert w.shape == (50,) and (w >= 0).all() and (w < 1).all()
    assert np.array_equal(w, chapter.random_weights(50, seed=0))
    assert not np.array_equal(w, chapter.random_weights(50, seed=1))


def test_our_ridge_matches_sklearn_and_a_wrong_one_would_not():
    X, y, _, _ = _problem()
    w = chapter.random_weights(len(y))
    assert chapter.sklearn_gap(X, y, w, 0.5) < 1e-10
    assert chapter.sklearn_gap(X, y, np.ones(len(y)), 0.5) < 1e-10


def test_validation_loss_is_the_weighted_ridge_solution_scored_on_validation_rows():
    X, y, Xv, yv = _problem()
    w = chapter.random_weights(len(y))
    beta = np.linalg.solve(X.T @ (w[:, None] * X) + 0.5 * np.eye(X.shape[1]), X.T @ (w * y))
    loss = chapter.validation_loss(torch.as_tensor(w), *(torch.as_tensor(a) for a in (X, y, Xv, yv)), 0.5, "plain")
    assert float(loss) == pytest.approx(np.mean((Xv @ beta - yv) ** 2), rel=1e-8)
    scaled = chapter.validation_loss(torch.as_tensor(w), *(torch.as_tensor(a) for a in (X, y, Xv, yv)), 0.5 / len(y),
                                     "n")  # λ·N with λ = 0.5 / N: the same diagonal
    assert float(scaled) == pytest.approx(float(loss), rel=1e-8)


@pytest.mark.parametrize("penalty", ["plain", "n"])
def test_the_hypergradient_matches_finite_differences(penalty):
    X, y, Xv, yv = _problem()
    check = chapter.hypergradient_check(X, y, Xv, yv, chapter.random_weights(len(y)), 0.1, penalty, n_rows=5)
    assert list(check.columns) == ["row", "closed form", "finite difference", "relative gap"]
    assert len(check) == 5 and check["row"].nunique() == 5
    assert check["relative gap"].max() < 1e-5
    assert (check["closed form"].abs() > 0).all()


def _runs(free, net, steps=(30, 40)):
    """Made-up runs ending at the given (validation, test) MSEs on the age/100 scale."""
    free_runs = [{"history": {"step": [0, 1], "valid_mse": [1e-3, v], "monitor_mse": [1e-3, t]}, "steps": s,
                  "stopped_by": "steps" if s == max(steps) else "patience"}
                 for (v, t), s in zip(free, steps, strict=True)]
    net_runs = [({}, {"history": {"step": [0, 1], "valid_mse": [1e-3, v], "monitor_mse": [1e-3, t]}}) for v, t in net]
    return free_runs, net_runs


def _split(k):
    rows = np.arange(10)
    return Split(k, test=rows[:2], test_block=rows[:2], train_all=rows[2:], train_restricted=rows[2:4],
                 valid=rows[2:4], meta_train=rows[4:])


def test_overfit_table_and_facts():
    free_runs, net_runs = _runs([(2e-4, 6e-4), (5e-4, 3e-4)], [(3e-4, 4e-4), (4e-4, 4e-4)])
    table = chapter.overfit_table([_split(0), _split(1)], free_runs, net_runs)
    assert table.loc[0, "free: validation"] == pytest.approx(2.0) and table.loc[0, "h_θ: test"] == pytest.approx(4.0)
    assert table["overfits"].tolist() == [True, False]  # split 1: free weights fit validation worse
    assert chapter.reached(table) == 1 and chapter.curves_top(table) == pytest.approx(18.0)
    cfg = resolve("quick")
    facts = chapter.overfit_facts(table, free_runs, cfg, _split(0))
    assert facts["free_steps_taken"] == "30-40" and facts["n_capped"] == 1 and facts["n_free"] == 6
    assert facts["free_below"] == 1 and facts["n_overfit"] == 1 and facts["n_splits"] == 2
    assert facts["free_test"] == pytest.approx(4.5) and facts["net_valid"] == pytest.approx(3.5)
    k, h = (2 if cfg.weight_inputs == "both" else 1), cfg.weight_hidden
    assert facts["n_theta"] == k * h + h + h + 1  # Linear(k, h) and Linear(h, 1)


def test_curves_figure_plots_both_curves_in_years_squared():
    free_runs, net_runs = _runs([(2e-4, 6e-4)], [(3e-4, 4e-4)], steps=(30,))
    fig = chapter.curves_figure(free_runs[0]["history"], net_runs[0][1]["history"], 12.0)
    left, right = fig.axes
    np.testing.assert_allclose(left.lines[1].get_ydata(), [10.0, 6.0])
    np.testing.assert_allclose(right.lines[0].get_ydata(), [10.0, 3.0])
    assert left.get_ylim() == (0.0, 12.0)
    assert not [line for line in left.lines if line.get_label().startswith("constant")]


def test_curves_figure_marks_the_constant_predictor_of_the_run():
    free_runs, net_runs = _runs([(2e-4, 6e-4)], [(3e-4, 4e-4)], steps=(30,))
    level = chapter.constant_test_mse(({}, {"mse": {"constant": 7e-4}}))
    assert level == pytest.approx(7.0)
    fig = chapter.curves_figure(free_runs[0]["history"], net_runs[0][1]["history"], 12.0, constant=level)
    for ax in fig.axes:
        marked = [line for line in ax.lines if line.get_label() == "constant predictor (test)"]
        assert len(marked) == 1 and marked[0].get_ydata()[0] == pytest.approx(7.0)


def test_verdicts_read_the_checks_and_the_table():
    check = pd.DataFrame({"relative gap": [1e-7, 3e-6]})
    overfit = pd.DataFrame({"free: validation": [1.0] * 8, "h_θ: validation": [2.0] * 8,
                            "overfits": [True] * 6 + [False] * 2})
    v = Verdicts("method")
    claim = chapter.add_verdicts(v, 1e-12, check, overfit)
    assert [r.holds for r in v.rows] == ["yes", "yes", "yes", "yes"] and claim.holds == "yes"
    assert [r.kind for r in v.rows] == ["correctness"] * 3 + ["claim"]
    v = Verdicts("method")
    claim = chapter.add_verdicts(v, 1e-6, check.assign(**{"relative gap": [1e-3, 0.0]}),
                                 overfit.assign(overfits=[True] * 5 + [False] * 3,
                                                **{"free: validation": [3.0] * 2 + [1.0] * 6}))
    assert [r.holds for r in v.rows][:3] == ["no", "no", "no"] and claim.holds != "yes"  # 6 of 8 < 7 reached
