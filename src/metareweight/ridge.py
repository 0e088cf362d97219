"""Weighted ridge regression in closed form, differentiable with respect to the sample weights.

The objective, for design matrix X (n, p), targets y (n,), weights w (n,) and penalty
``alpha * s``::

    minimise_beta  sum_i w_i (y_i - x_i . beta)^2 + alpha * s * ||beta||^2

with solution ``beta = (X^T W X + alpha s I)^-1 X^T W y`` obtained by a Cholesky solve (never an
explicit inverse).  The scale ``s`` is the *penalty convention*:

``"n"``      s = n, the number of rows in the fit (the authors' code; the default)
``"sum_w"``  s = sum of the weights
``"plain"``  s = 1 (scikit-learn's ``Ridge(alpha)``)

Every column of X is penalised, including a constant column if the caller appends one (the
authors' choice; see :func:`design_matrix`).

The meta step solves this system thousands of times for the same X and new weights
(:func:`ridge_solve_in_weights`): ``precision="exact"`` forms X^T W X in float64,
``precision="fast"`` (the default) in float32, with numpy's OpenBLAS, and refines the solutions in
float64 to the same values within about 1e-9 relative (:class:`_RidgeInWeightsFast`).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch

PENALTIES = ("n", "sum_w", "plain")
PRECISIONS = ("fast", "exact")


def design_matrix(features):
    """Append the constant column: (n, m) features -> (n, m + 1) design matrix."""
    if isinstance(features, torch.Tensor):
        return torch.cat([features, torch.ones_like(features[:, :1])], dim=1)
    features = np.asarray(features)
    return np.hstack([features, np.ones((len(features), 1), dtype=features.dtype)])


def penalty_scale(weights: torch.Tensor, penalty: str) -> torch.Tensor | float:
    if penalty == "n":
        return float(weights.shape[0])
    if penalty == "sum_w":
        return weights.sum()
    if penalty == "plain":
        return 1.0
    raise ValueError(f"unknown penalty convention {penalty!r}; choose one of {PENALTIES}")


def ridge_solve(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor, alpha: float, penalty="n"):
    """Weighted ridge coefficients, differentiable in ``w`` (and ``X``, ``y``) by autograd.

    Parameters
    ----------
    X : Tensor of shape (n_samples, n_features)
    y : Tensor of shape (n_samples,)
    w : Tensor of shape (n_samples,), non-negative
    alpha : float
    penalty : {"n", "sum_w", "plain"}

    Returns
    -------
    Tensor of shape (n_features,)
    """
    if not (torch.isfinite(X).all() and torch.isfinite(y).all() and torch.isfinite(w).all()):
        raise ValueError("ridge_solve: X, y and the weights must be finite")
    Xw = X * w.unsqueeze(1)  # W X without forming the n x n matrix W
    gram = Xw.T @ X
    eye = torch.eye(X.shape[1], dtype=X.dtype, device=X.device)
    A = gram + alpha * penalty_scale(w, penalty) * eye
    L = torch.linalg.cholesky(A)
    return torch.cholesky_solve((Xw.T @ y).unsqueeze(1), L).squeeze(1)


class WeightedRidge:
    """Ridge regression with sample weights, shaped like a scikit-learn estimator.

    Parameters
    ----------
    alpha : float, default 5e-3
        The paper's ridge parameter lambda.
    penalty : {"n", "sum_w", "plain"}, default "n"
        Penalty convention (module docstring).  With ``"plain"`` this equals
        ``sklearn.linear_model.Ridge(alpha, fit_intercept=False)``.

    Attributes
    ----------
    coef_ : ndarray or Tensor of shape (n_features,)
        A Tensor (carrying gradients) when ``fit`` was given Tensors, else a float64 ndarray.
    """

    def __init__(self, alpha: float = 5e-3, *, penalty: str = "n"):
        self.alpha = alpha
        self.penalty = penalty

    def fit(self, X, y, sample_weight=None):
        """Fit on X (n, p), y (n,), ``sample_weight`` (n,) (default all ones); returns self."""
        as_torch = isinstance(X, torch.Tensor)
        Xt = X if as_torch else torch.as_tensor(np.asarray(X, dtype=np.float64))
        yt = y if isinstance(y, torch.Tensor) else torch.as_tensor(np.asarray(y, dtype=np.float64))
        if sample_weight is None:
            wt = torch.ones(Xt.shape[0], dtype=Xt.dtype, device=Xt.device)
        elif isinstance(sample_weight, torch.Tensor):
            wt = sample_weight
        else:
            wt = torch.as_tensor(np.asarray(sample_weight, dtype=np.float64))
        if Xt.ndim != 2 or yt.shape != (Xt.shape[0],) or wt.shape != (Xt.shape[0],):
            raise ValueError(
                f"shapes do not match: X {tuple(Xt.shape)}, y {tuple(yt.shape)}, "
                f"sample_weight {tuple(wt.shape)}"
            )
        if (wt < 0).any():
            raise ValueError("sample_weight must be non-negative")
        coef = ridge_solve(Xt, yt, wt, self.alpha, self.penalty)
        self.coef_ = coef if as_torch else coef.detach().numpy()
        self.n_features_in_ = Xt.shape[1]
        return self

    def predict(self, X):
        """Predictions X @ coef_, shape (n,)."""
        return X @ self.coef_


class _RidgeInWeights(torch.autograd.Function):
    """beta(w) with the exact hypergradient in closed form (X and y held fixed).

    With A = X^T W X + alpha s I, r = y - X beta and u = A^-1 dL/dbeta, the gradient for row i is
    dL/dw_i = (X u)_i r_i  (minus alpha (u . beta) when s = sum(w)).  One Cholesky factorisation
    serves the forward solve and the backward solve; no n x n or p x p inverse is formed.
    """

    @staticmethod
    def forward(ctx, X, y, w, alpha, penalty):
        Xw = X * w.unsqueeze(1)
        A = Xw.T @ X
        A.diagonal().add_(alpha * float(penalty_scale(w, penalty)))
        L = torch.linalg.cholesky(A)
        beta = torch.cholesky_solve((Xw.T @ y).unsqueeze(1), L).squeeze(1)
        ctx.save_for_backward(X, y, L, beta)
        ctx.alpha, ctx.penalty = alpha, penalty
        return beta

    @staticmethod
    def backward(ctx, grad_beta):
        X, y, L, beta = ctx.saved_tensors
        u = torch.cholesky_solve(grad_beta.unsqueeze(1), L).squeeze(1)
        grad_w = (X @ u) * (y - X @ beta)
        if ctx.penalty == "sum_w":
            grad_w = grad_w - ctx.alpha * (u @ beta)
        return None, None, grad_w, None, None


#: The fast path stops refining once a correction is below this fraction of the solution.  The
#: error left after that correction is smaller still (it shrinks by the contraction factor, about
#: 1e-4 per step with penalty "n" and 1e-2 with "plain" on CNN features), so beta and the
#: hypergradient come out within ~1e-9 of the float64 solution; the benchmark and tests measure it.
REFINE_TOL = 1e-8
#: At most this many refinement steps; a correction that shrinks by less than half a step (the
#: float32 factor too poor for this system) also sends the solve to the float64 path.
REFINE_MAX = 30


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
    return precision


_BLAS = None


def blas_threads(n: int):
    """A context in which numpy's BLAS (OpenBLAS) runs on ``n`` threads."""
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=n, user_api="blas")


@contextmanager
def torch_threads(n: int):
    """A context in which torch runs on ``n`` threads (restored after)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


class FixedDesign:
    """A design matrix prepared once for many weighted solves with different weights.

    Holds X (a float64 CPU Tensor, as given), its transpose as a float64 numpy array stored row
    by row (``X x`` and ``X^T z`` of the refinement both run fastest on that layout here) and a
    float32 copy of X (the Gram matrix).  The fast path does its linear algebra with numpy, whose
    OpenBLAS forms ``Z^T Z`` as a symmetric
    rank-k update (syrk: half the work of a general product) and, on this machine's AMD cores,
    runs float32 products about three times as fast as torch's MKL build (``make bench``).
    Building it costs about two copies of X; the meta step builds one and reuses it for every step.

    Parameters
    ----------
    X : float64 CPU Tensor of shape (n, p)
    threads : int, optional
        Threads of numpy's BLAS in the solves (default: torch's thread count when built).  The
        meta step builds the design before it drops torch to one thread for its own small
        operations: torch's and OpenBLAS's thread pools, both spinning on the same two cores,
        were measured a third slower than one pool at a time.

    Attributes
    ----------
    stats : dict
        Counters of the fast path: ``solves``, ``refinements`` (forward and backward refinement
        steps), ``fallbacks`` (solves that went to the float64 path instead).
    """

    def __init__(self, X: torch.Tensor, threads: int | None = None):
        if not isinstance(X, torch.Tensor) or X.ndim != 2:
            raise ValueError("FixedDesign: X must be a 2-d Tensor")
        if X.requires_grad:
            raise ValueError("FixedDesign: X must not require gradients")
        if X.device.type != "cpu" or X.dtype != torch.float64:
            raise ValueError("FixedDesign: X must be a float64 Tensor on the CPU")
        self.X = X
        self.T = np.ascontiguousarray(X.numpy().T)  # (p, n): X x = T.T @ x and X^T z = T @ z
        self.X32 = np.ascontiguousarray(X.numpy(), dtype=np.float32)
        self.Z = np.empty_like(self.X32)  # sqrt(W) X of the current solve
        self.threads = torch.get_num_threads() if threads is None else int(threads)
        self.stats = {"solves": 0, "refinements": 0, "fallbacks": 0}


def gram32(design: FixedDesign, w: np.ndarray) -> np.ndarray:
    """X^T W X in float32 (p x p, both triangles).  For non-negative weights it is formed as
    Z^T Z with Z = sqrt(W) X (in the design's buffer), which numpy hands to BLAS as a symmetric
    rank-k update."""
    w32 = np.asarray(w, dtype=np.float32)
    if (w32 >= 0).all():
        Z = np.multiply(design.X32, np.sqrt(w32)[:, None], out=design.Z)
        return Z.T @ Z
    return (design.X32 * w32[:, None]).T @ design.X32


def _factor32(design, w, c):
    """Lower Cholesky factor L (a float64 Tensor) of the float32 Gram matrix plus c I, or None
    if it fails.  The p x p work runs in torch (on one thread in the meta step): numpy's
    OpenBLAS pool stays the only one that spins on the cores."""
    A = torch.from_numpy(gram32(design, w).astype(np.float64))
    A.diagonal().add_(c)
    L, info = torch.linalg.cholesky_ex(A)
    return None if int(info) != 0 else L


def _exact_factor(X, w, c):
    Xw = X * w.unsqueeze(1)
    A = Xw.T @ X
    A.diagonal().add_(c)
    return torch.linalg.cholesky(A)


def _solve(L, b):
    """A^-1 b from the lower Cholesky factor L of A (two triangular solves in torch), for a numpy
    vector b; a numpy vector."""
    z = torch.linalg.solve_triangular(L, torch.from_numpy(b).unsqueeze(1), upper=False)
    return torch.linalg.solve_triangular(L.mT, z, upper=True).squeeze(1).numpy()


def _rel(dx, x) -> float:
    size = float(np.linalg.norm(dx))
    return 0.0 if size == 0.0 else size / max(float(np.linalg.norm(x)), np.finfo(np.float64).tiny)


class _RidgeInWeightsFast(torch.autograd.Function):
    """beta(w) and its hypergradient from a float32 Gram matrix, refined to float64 accuracy.

    The Gram matrix X^T W X (the only O(n p^2) work) is formed in float32 (:func:`gram32`) and
    factorised (Cholesky, in float64).  That factor solves a system A~ near A = X^T W X +
    alpha s I; each refinement step computes the residual of the true system in float64
    (``X^T W (y - X x) - alpha s x``: two passes over X, O(n p)) and corrects with the factor,
    shrinking the error by about cond(A) x 1e-7 per step.  Forward (beta) and backward
    (u = A^-1 dL/dbeta) both refine until the correction is below ``REFINE_TOL``; the
    hypergradient is then ``(X u)_i r_i`` as in the exact path, with the residuals r and X u
    of the last refinement step (each within about ``REFINE_TOL`` of its final value).  When
    the float32 factor fails or refining stalls, the solve is done by the float64 path instead.
    All of it runs in numpy, on the design's BLAS threads (:func:`blas_threads`).
    """

    @staticmethod
    def forward(ctx, design, y, w, alpha, penalty):
        design.stats["solves"] += 1
        T = design.T
        c = alpha * float(penalty_scale(w, penalty))
        wn, yn = w.detach().numpy(), y.numpy()
        with blas_threads(design.threads):
            L = _factor32(design, wn, c)
            exact = L is None
            if not exact:
                x = _solve(L, T @ (wn * yn))
                previous = float("inf")
                for _ in range(REFINE_MAX):
                    design.stats["refinements"] += 1
                    resid = yn - T.T @ x  # the fit's residuals, needed again for the hypergradient
                    dx = _solve(L, T @ (wn * resid) - c * x)
                    x = x + dx
                    size = _rel(dx, x)
                    if size <= REFINE_TOL:
                        break
                    if not size < 0.5 * previous:
                        exact = True
                        break
                    previous = size
                else:
                    exact = True
            if exact:
                design.stats["fallbacks"] += 1
                L = _exact_factor(design.X, w.detach(), c)
                x = _solve(L, T @ (wn * yn))
                resid = yn - T.T @ x
        ctx.L, ctx.wn, ctx.x, ctx.resid = L, wn, x, resid
        ctx.design, ctx.c, ctx.alpha, ctx.penalty, ctx.exact = design, c, alpha, penalty, exact
        return torch.from_numpy(x)

    @staticmethod
    def backward(ctx, grad_beta):
        design, c, L, wn = ctx.design, ctx.c, ctx.L, ctx.wn
        T = design.T
        g = grad_beta.detach().numpy()
        exact = ctx.exact
        with blas_threads(design.threads):
            u = _solve(L, g)
            if exact:
                Xu = T.T @ u
            else:
                previous = float("inf")
                for _ in range(REFINE_MAX):
                    design.stats["refinements"] += 1
                    Xu = T.T @ u
                    du = _solve(L, g - T @ (wn * Xu) - c * u)
                    size = _rel(du, u)
                    if size <= REFINE_TOL:
                        break  # u (with X u in hand) is accurate to about the size of du
                    if not size < 0.5 * previous:
                        exact = True
                        break
                    u = u + du
                    previous = size
                else:
                    exact = True
                if exact:
                    design.stats["fallbacks"] += 1
                    u = _solve(_exact_factor(design.X, torch.from_numpy(wn), c), g)
                    Xu = T.T @ u
            grad_w = Xu * ctx.resid
            if ctx.penalty == "sum_w":
                grad_w = grad_w - ctx.alpha * (u @ ctx.x)
        return None, None, torch.from_numpy(grad_w), None, None


def ridge_solve_in_weights(X, y, w, alpha: float, penalty="n", precision="fast"):
    """Same value as :func:`ridge_solve`; differentiable in ``w`` only, in closed form.

    Parameters
    ----------
    X : Tensor of shape (n, p), or a :class:`FixedDesign` of one (prepare it once when solving
        many times with the same X: the fast path then skips two copies of X per call)
    y, w : Tensors of shape (n,)
    alpha : float;  penalty : {"n", "sum_w", "plain"}
    precision : {"fast", "exact"}
        ``"exact"``: float64 Gram matrix and Cholesky (:class:`_RidgeInWeights`).  ``"fast"``:
        float32 Gram matrix (numpy's syrk) refined in float64 (:class:`_RidgeInWeightsFast`);
        beta and the hypergradient agree with ``"exact"`` to about 1e-9 relative on the
        paper's features, falling back to ``"exact"`` where refining does not converge.
        Inputs that are not float64, or not on the CPU, always take the exact path (in their
        own precision, on their own device).

    Both are faster than autograd through :func:`ridge_solve` (the backward pass costs O(n p)
    instead of O(n p^2)).
    """
    check_precision(precision)
    design = X if isinstance(X, FixedDesign) else None
    Xt = design.X if design is not None else X
    if Xt.requires_grad or y.requires_grad:
        raise ValueError("ridge_solve_in_weights differentiates in w only; use ridge_solve")
    if penalty not in PENALTIES:
        raise ValueError(f"unknown penalty convention {penalty!r}; choose one of {PENALTIES}")
    if precision == "exact" or Xt.dtype != torch.float64 or Xt.device.type != "cpu":
        return _RidgeInWeights.apply(Xt, y, w, alpha, penalty)  # float32 or a GPU: no refinement
    return _RidgeInWeightsFast.apply(design or FixedDesign(Xt), y, w, alpha, penalty)
