from functools import partial

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge

from metareweight.bench import cnn_like_features
from metareweight.ridge import WeightedRidge, design_matrix, ridge_solve
from metareweight.solver import BLOCK_ROWS, FixedDesign, _solve, gram32, ridge_solve_in_weights


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
def test_no_weights_matches_sklearn_ridge_without_weights(problem, penalty):
    X, y, _ = problem
    alpha = 0.3
    scale = {"plain": 1.0, "n": len(y), "sum_w": len(y)}[penalty]  # sum of unit weights = n
    ours = WeightedRidge(alpha, penalty=penalty).fit(X, y).coef_
    ref = Ridge(alpha=alpha * scale, fit_intercept=False, solver="cholesky").fit(X, y).coef_
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)


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


SOLVERS = {
    "autograd": ridge_solve,
    "exact": partial(ridge_solve_in_weights, precision="exact"),
    "fast": partial(ridge_solve_in_weights, precision="fast"),
}


@pytest.mark.parametrize("solver", sorted(SOLVERS))
@pytest.mark.parametrize("penalty", ["plain", "n", "sum_w"])
def test_hypergradient_matches_finite_differences(problem, solver, penalty):
    solve = SOLVERS[solver]
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


@pytest.mark.parametrize("precision", ["exact", "fast"])
def test_closed_form_hypergradient_equals_autograd(problem, precision):
    X, y, w = (torch.tensor(a) for a in problem)
    Xv, yv = X[:10] * 1.1, y[:10] + 0.2
    grads = []
    for solve in (ridge_solve, partial(ridge_solve_in_weights, precision=precision)):
        ww = w.clone().requires_grad_(True)
        grads.append(torch.autograd.grad(_valid_loss(solve, X, y, ww, Xv, yv, "n"), ww)[0])
    np.testing.assert_allclose(grads[0].numpy(), grads[1].numpy(), rtol=1e-9, atol=1e-14)


def _cnn_like_problem(n, p, n_valid=60, seed=0):
    """Features conditioned like the paper's (normal matrix condition ~1e3-1e4 with penalty
    "n"), age-like targets on the age/100 scale, random weights in (0, 1)."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.cat([cnn_like_features(n + n_valid, p - 1, gen),
                   torch.ones(n + n_valid, 1, dtype=torch.float64)], 1)
    signal = X @ torch.randn(p, generator=gen, dtype=torch.float64)
    y = 0.3 + 0.15 * signal / signal.std() + 0.05 * torch.randn(n + n_valid, generator=gen, dtype=torch.float64)
    w = torch.rand(n, generator=gen, dtype=torch.float64)
    return X[:n].contiguous(), y[:n].contiguous(), w, X[n:].contiguous(), y[n:].contiguous()


def _beta_and_hypergradient(solve, X, y, w, Xv, yv, alpha, penalty):
    w = w.clone().requires_grad_(True)
    beta = solve(X, y, w, alpha, penalty)
    (grad,) = torch.autograd.grad(((Xv @ beta - yv) ** 2).mean(), w)
    return beta.detach(), grad


def _rel(a, ref):
    return float((a - ref).norm() / ref.norm())


@pytest.mark.parametrize("shape", [(1500, 101), (2000, 401)])
@pytest.mark.parametrize("penalty", ["n", "sum_w", "plain"])
def test_fast_path_matches_float64_autograd_on_cnn_like_features(shape, penalty):
    X, y, w, Xv, yv = _cnn_like_problem(*shape)
    alpha = 5e-3
    ref_beta, ref_grad = _beta_and_hypergradient(ridge_solve, X, y, w, Xv, yv, alpha, penalty)
    design = FixedDesign(X)
    beta, grad = _beta_and_hypergradient(partial(ridge_solve_in_weights, precision="fast"),
                                         design, y, w, Xv, yv, alpha, penalty)
    assert _rel(beta, ref_beta) <= 1e-6
    assert _rel(grad, ref_grad) <= 1e-6
    # the float32 path itself did the work (one factor, no fallback), and it needed its float64
    # iterations: the float32 Gram matrix alone misses beta by more than the bound on these features
    assert design.stats["fallbacks"] == 0 and design.stats["factorisations"] == 1
    assert design.stats["iterations"] >= 4
    A = torch.from_numpy(gram32(design, w.numpy()).astype(np.float64))
    A.diagonal().add_(alpha * {"n": len(y), "sum_w": float(w.sum()), "plain": 1.0}[penalty])
    unrefined = torch.from_numpy(_solve(torch.linalg.cholesky(A), (X.T @ (w * y)).numpy()))
    assert _rel(unrefined, ref_beta) > 1e-6


@pytest.mark.parametrize("penalty", ["n", "sum_w", "plain"])
def test_exact_path_matches_float64_autograd_on_cnn_like_features(penalty):
    X, y, w, Xv, yv = _cnn_like_problem(1500, 101)
    ref_beta, ref_grad = _beta_and_hypergradient(ridge_solve, X, y, w, Xv, yv, 5e-3, penalty)
    beta, grad = _beta_and_hypergradient(partial(ridge_solve_in_weights, precision="exact"),
                                         X, y, w, Xv, yv, 5e-3, penalty)
    assert _rel(beta, ref_beta) <= 1e-10
    assert _rel(grad, ref_grad) <= 1e-10


def test_fast_path_falls_back_to_float64_when_float32_cannot_refine():
    # Two nearly equal columns and almost no penalty: cond(A) ~ 1e12, beyond what a float32
    # factor can refine; the fast path must notice and answer like the float64 path.
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    X = torch.tensor(np.column_stack([x, x + 1e-5 * rng.normal(size=300), np.ones(300)]))
    y = torch.tensor(x + 0.1 * rng.normal(size=300))
    w = torch.tensor(rng.uniform(0.5, 1.5, size=300))
    Xv, yv = X[:20] * 1.1, y[:20] + 0.1
    design = FixedDesign(X)
    beta, grad = _beta_and_hypergradient(partial(ridge_solve_in_weights, precision="fast"),
                                         design, y, w, Xv, yv, 1e-12, "plain")
    ref_beta, ref_grad = _beta_and_hypergradient(partial(ridge_solve_in_weights, precision="exact"),
                                                 X, y, w, Xv, yv, 1e-12, "plain")
    assert design.stats["fallbacks"] >= 1
    assert _rel(beta, ref_beta) <= 1e-6
    assert _rel(grad, ref_grad) <= 1e-6


@pytest.mark.parametrize("exact32", [True, False])
def test_design_passes_equal_dense_products(exact32):
    # n spans three row blocks, the last one partial; X either float32-exact (the passes then
    # read the float32 copy) or not (they read X itself)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2 * BLOCK_ROWS + 37, 9))
    if exact32:
        X = X.astype(np.float32).astype(np.float64)
    design = FixedDesign(torch.tensor(X))
    assert (design.X64 is None) == exact32
    w, y, v = rng.random(len(X)), rng.normal(size=len(X)), rng.normal(size=9)
    V, Y = rng.normal(size=(9, 2)), rng.normal(size=(len(X), 2))
    Xv, out = design.apply(w, v)
    np.testing.assert_allclose(Xv, X @ v, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(out, X.T @ (w * (X @ v)), rtol=1e-12)
    _, out = design.apply(w, v, y)
    np.testing.assert_allclose(out, X.T @ (w * (y - X @ v)), rtol=1e-12)
    XV, OUT = design.apply(w, V, Y)
    np.testing.assert_allclose(XV, X @ V, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(OUT, X.T @ (w[:, None] * (Y - X @ V)), rtol=1e-12)


def test_fast_path_keeps_float64_accuracy_with_a_reused_factor():
    # A meta run in miniature: one design, each row's weight drifting steadily by up to a few
    # per cent a step.  Every solve must still agree with float64 autograd, while the float32 Gram
    # matrix is formed for only some of the steps; after a jump to unrelated weights (the old
    # factor and warm starts then useless) the answer must be as accurate as ever.
    X, y, w0, Xv, yv = _cnn_like_problem(2000, 101)
    design = FixedDesign(X)
    gen = torch.Generator().manual_seed(1)
    drift = torch.randn(len(w0), generator=gen, dtype=torch.float64)
    steps = 30
    for step in range(steps + 1):
        if step == steps:
            w = torch.rand(len(w0), generator=gen, dtype=torch.float64) ** 3
        else:
            w = w0 * torch.exp(0.01 * step * drift)
        ref_beta, ref_grad = _beta_and_hypergradient(ridge_solve, X, y, w, Xv, yv, 5e-3, "n")
        beta, grad = _beta_and_hypergradient(ridge_solve_in_weights, design, y, w, Xv, yv, 5e-3, "n")
        assert _rel(beta, ref_beta) <= 1e-8, step
        assert _rel(grad, ref_grad) <= 1e-8, step
    assert design.stats["fallbacks"] == 0
    assert design.stats["factorisations"] <= steps // 2  # the factor was reused
    assert design.stats["iterations"] <= 4 * (steps + 1)


def test_design_prepared_once_gives_the_same_numbers_as_a_tensor():
    X, y, w, Xv, yv = _cnn_like_problem(300, 21)
    a = _beta_and_hypergradient(ridge_solve_in_weights, X, y, w, Xv, yv, 5e-3, "n")
    b = _beta_and_hypergradient(ridge_solve_in_weights, FixedDesign(X), y, w, Xv, yv, 5e-3, "n")
    for u, v in zip(a, b, strict=True):
        torch.testing.assert_close(u, v, rtol=0, atol=0)


def test_unknown_precision_is_refused(problem):
    X, y, w = (torch.tensor(a) for a in problem)
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        ridge_solve_in_weights(X, y, w, 0.1, precision="half")
