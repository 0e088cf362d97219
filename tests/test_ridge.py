import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge

from metareweight.ridge import WeightedRidge, design_matrix, ridge_solve, ridge_solve_in_weights


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    X = design_matrix(rng.normal(size=(40, 5)))
    y = X @ rng.normal(size=6) + 0.3 * rng.normal(size=40)
    w = rng.uniform(0.1, 2.0, size=40)
    return X, y, w


@pytest.mark.parametrize("penalty", ["plain", "n", "sum_w"])
def test_matches_sklearn_ridge_with_sample_weight(problem, penalty):
    X, y, w = problem
    alpha = 0.7
    scale = {"plain": 1.0, "n": len(y), "sum_w": w.sum()}[penalty]
    ours = WeightedRidge(alpha, penalty=penalty).fit(X, y, sample_weight=w)
    ref = Ridge(alpha=alpha * scale, fit_intercept=False, solver="cholesky").fit(X, y, sample_weight=w)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-10)


@pytest.mark.parametrize("penalty", ["plain", "n", "sum_w"])
def test_all_ones_equal_no_weights(problem, penalty):
    X, y, _ = problem
    a = WeightedRidge(0.3, penalty=penalty).fit(X, y).coef_
    b = WeightedRidge(0.3, penalty=penalty).fit(X, y, sample_weight=np.ones(len(y))).coef_
    np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("penalty", ["plain", "sum_w"])
def test_zero_weight_equals_dropping_the_row(problem, penalty):
    X, y, w = problem
    w = w.copy()
    w[7] = 0.0
    a = WeightedRidge(0.3, penalty=penalty).fit(X, y, sample_weight=w).coef_
    keep = np.arange(len(y)) != 7
    b = WeightedRidge(0.3, penalty=penalty).fit(X[keep], y[keep], sample_weight=w[keep]).coef_
    np.testing.assert_allclose(a, b, rtol=1e-10)


@pytest.mark.parametrize("penalty", ["plain", "sum_w"])
def test_weight_two_equals_a_duplicated_row(problem, penalty):
    X, y, w = problem
    w2 = w.copy()
    w2[3] *= 2
    a = WeightedRidge(0.3, penalty=penalty).fit(X, y, sample_weight=w2).coef_
    Xd, yd, wd = np.vstack([X, X[3:4]]), np.append(y, y[3]), np.append(w, w[3])
    b = WeightedRidge(0.3, penalty=penalty).fit(Xd, yd, sample_weight=wd).coef_
    np.testing.assert_allclose(a, b, rtol=1e-10)


def test_n_convention_counts_zero_weight_rows(problem):
    # The authors' lambda * N penalises with the number of rows, weighted or not: dropping a
    # zero-weight row changes N and therefore the fit.
    X, y, w = problem
    w = w.copy()
    w[0] = 0.0
    a = WeightedRidge(0.3, penalty="n").fit(X, y, sample_weight=w).coef_
    b = WeightedRidge(0.3, penalty="n").fit(X[1:], y[1:], sample_weight=w[1:]).coef_
    assert not np.allclose(a, b)


def test_torch_input_keeps_gradients(problem):
    X, y, w = (torch.tensor(a) for a in problem)
    w.requires_grad_(True)
    coef = WeightedRidge(0.3).fit(X, y, sample_weight=w).coef_
    assert isinstance(coef, torch.Tensor) and coef.requires_grad


def test_bad_input(problem):
    X, y, w = problem
    with pytest.raises(ValueError, match="shapes do not match"):
        WeightedRidge().fit(X, y[:-1])
    with pytest.raises(ValueError, match="non-negative"):
        WeightedRidge().fit(X, y, sample_weight=-w)
    X = X.copy()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        WeightedRidge().fit(X, y)
    with pytest.raises(ValueError, match="unknown penalty"):
        WeightedRidge(penalty="l1").fit(problem[0], y)


def _valid_loss(solve, X, y, w, Xv, yv, penalty):
    beta = solve(X, y, w, 0.05, penalty)
    return ((Xv @ beta - yv) ** 2).mean()


@pytest.mark.parametrize("solve", [ridge_solve, ridge_solve_in_weights])
@pytest.mark.parametrize("penalty", ["plain", "n", "sum_w"])
def test_hypergradient_matches_finite_differences(problem, solve, penalty):
    X, y, w = (torch.tensor(a) for a in problem)
    rng = np.random.default_rng(1)
    Xv = torch.tensor(design_matrix(rng.normal(size=(15, 5))))
    yv = torch.tensor(rng.normal(size=15))
    w = w.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(_valid_loss(solve, X, y, w, Xv, yv, penalty), w)
    eps = 1e-6
    fd = np.empty(len(w))
    with torch.no_grad():
        for i in range(len(w)):
            up, down = w.detach().clone(), w.detach().clone()
            up[i] += eps
            down[i] -= eps
            fd[i] = (_valid_loss(solve, X, y, up, Xv, yv, penalty)
                     - _valid_loss(solve, X, y, down, Xv, yv, penalty)) / (2 * eps)
    np.testing.assert_allclose(grad.numpy(), fd, rtol=1e-5, atol=1e-9)


def test_closed_form_hypergradient_equals_autograd(problem):
    X, y, w = (torch.tensor(a) for a in problem)
    Xv, yv = X[:10] * 1.1, y[:10] + 0.2
    grads = []
    for solve in (ridge_solve, ridge_solve_in_weights):
        ww = w.clone().requires_grad_(True)
        grads.append(torch.autograd.grad(_valid_loss(solve, X, y, ww, Xv, yv, "n"), ww)[0])
    np.testing.assert_allclose(grads[0].numpy(), grads[1].numpy(), rtol=1e-9, atol=1e-14)
