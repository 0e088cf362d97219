"""The meta step's ridge solves, differentiable in the sample weights, in closed form.

:func:`ridge_solve_in_weights` gives the weighted ridge solution of :mod:`metareweight.ridge`
and, through autograd, its hypergradient with respect to the weights.  ``precision="exact"``
forms X^T W X in float64 at every solve; ``precision="fast"`` (the default) solves by float64
conjugate gradients, preconditioned by the Cholesky factor of a float32 X^T W X (numpy's
OpenBLAS) that is formed again only when the weights have moved enough to make it stale, to the
same values within about 1e-9 relative (:class:`_RidgeInWeightsFast`).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch

from .ridge import PENALTIES, penalty_scale

PRECISIONS = ("fast", "exact")


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


#: A fast solve stops once the correction it would take next is below this fraction of the
#: solution; the error left is smaller still, so beta and the hypergradient come out within about
#: 1e-9 of the float64 solution (the benchmark and tests measure it).
SOLVE_TOL = 1e-8
#: A solve that needed more conjugate-gradient iterations than this marks the design's float32
#: factor stale: the next forward solve forms and factorises the Gram matrix of its own weights.
#: Measured on split 0's features over 600 meta steps, 2 gives a fresh factor about every sixth
#: step and about 5 passes over X a step (15 ms a step on one thread); 3 and 4 were up to 20%
#: slower.
STALE_AFTER = 2
#: At most this many iterations per solve.  A solve that does not converge within them refreshes
#: the factor for its own weights and starts again; if that fails too (the float32 Gram matrix too
#: poorly conditioned to precondition), it is done by the float64 path.
MAX_ITER = 10
#: Rows per block of a pass over X (a float64 block of about 3 MB at the paper's 401 columns).
BLOCK_ROWS = 1024


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

    Holds X (a float64 CPU Tensor, as given), a float32 copy of it (for the Gram matrix), and the
    state the fast path carries from one solve to the next: the Cholesky factor of the last Gram
    matrix it formed and the last three solutions of each kind (beta, and u of the backward
    pass), from which the next solve starts.  The meta step builds one per run and solves with
    it at every step; the weights change a little per step, so an older factor still
    preconditions the new system well (:class:`_RidgeInWeightsFast`).

    The passes over X run in float64 by row blocks: converted from the float32 copy when that
    holds X exactly (the book's features are float32, so it always does there; half the memory
    traffic), read from X itself otherwise.

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
        Counters of the fast path: ``solves`` (forward), ``iterations`` (conjugate-gradient
        iterations, forward and backward), ``factorisations`` (Gram matrices formed and
        factorised), ``fallbacks`` (solves that went to the float64 path instead).
    """

    def __init__(self, X: torch.Tensor, threads: int | None = None):
        if not isinstance(X, torch.Tensor) or X.ndim != 2:
            raise ValueError("FixedDesign: X must be a 2-d Tensor")
        if X.requires_grad:
            raise ValueError("FixedDesign: X must not require gradients")
        if X.device.type != "cpu" or X.dtype != torch.float64:
            raise ValueError("FixedDesign: X must be a float64 Tensor on the CPU")
        self.X = X
        Xn = X.numpy()
        self.X32 = np.ascontiguousarray(Xn, dtype=np.float32)
        self.X64 = None if np.array_equal(self.X32, Xn) else np.ascontiguousarray(Xn)
        self.Z = np.empty_like(self.X32)  # sqrt(W) X of the Gram matrix being formed
        self._block = np.empty((min(BLOCK_ROWS, len(Xn)), Xn.shape[1]))
        self.threads = torch.get_num_threads() if threads is None else int(threads)
        self.L = None  # lower Cholesky factor (float64 Tensor) of the last float32 Gram matrix
        self.factor_weights, self.stale, self.fresh_iterations = None, True, 0
        self.betas, self.us = [], []
        self.stats = {"solves": 0, "iterations": 0, "factorisations": 0, "fallbacks": 0}

    def apply(self, w: np.ndarray, v: np.ndarray, y: np.ndarray | None = None):
        """One pass over X in float64: ``(X v, X^T (w * t))`` with ``t = X v``, or ``t = y - X v``
        when ``y`` is given.  ``v`` may also hold k columns (p, k), with ``y`` then (n, k): the
        pass costs about the same for a few columns as for one."""
        n = len(self.X32)
        Xv, out = np.empty((n, *v.shape[1:])), np.zeros(v.shape)
        for start in range(0, n, BLOCK_ROWS):
            stop = min(start + BLOCK_ROWS, n)
            if self.X64 is not None:
                rows = self.X64[start:stop]
            else:
                rows = self._block[: stop - start]
                np.copyto(rows, self.X32[start:stop])
            t = rows @ v
            Xv[start:stop] = t
            if y is not None:
                t = y[start:stop] - t
            wb = w[start:stop] if v.ndim == 1 else w[start:stop, None]
            out += rows.T @ (wb * t)
        return Xv, out

    def refactor(self, w: np.ndarray, c: float) -> bool:
        """Form and factorise the float32 Gram matrix of weights ``w`` (plus c I); False if the
        factorisation fails."""
        self.stats["factorisations"] += 1
        self.L, self.stale, self.factor_weights = _factor32(self, w, c), False, w
        return self.L is not None


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


def _warm_start(history: list, p: int) -> np.ndarray:
    """The next solution guessed from the last ones, extrapolated along the steps (quadratic from
    three, linear from two); zero without any."""
    if len(history) >= 3:
        return 3 * history[-1] - 3 * history[-2] + history[-3]
    if len(history) == 2:
        return 2 * history[-1] - history[-2]
    return history[-1].copy() if history else np.zeros(p)


def _cg(design, w, c, x, Xx, r):
    """Conjugate gradients on (X^T W X + c I) x = b, preconditioned by the design's factor, from
    x with ``Xx = X x`` and residual ``r = b - A x``.  Each iteration is one pass over X, which
    also gives X of the search direction, so X x is kept up to date without another pass.  Once
    the next preconditioned correction z is below ``SOLVE_TOL`` of x, x takes it too (as a step of
    iterative refinement would; it needs no pass), while X x stays that of x before it, within
    about ``SOLVE_TOL``.  Returns (x, X x, iterations, converged)."""
    L = design.L
    z = _solve(L, r)
    if _rel(z, x) <= SOLVE_TOL:
        return x + z, Xx, 0, True
    d, rz = z, float(r @ z)
    for k in range(1, MAX_ITER + 1):
        design.stats["iterations"] += 1
        Xd, Ad = design.apply(w, d)
        Ad += c * d
        dAd = float(d @ Ad)
        if not dAd > 0:
            break
        a = rz / dAd
        x, Xx, r = x + a * d, Xx + a * Xd, r - a * Ad
        z = _solve(L, r)
        if _rel(z, x) <= SOLVE_TOL:
            return x + z, Xx, k, True
        rz, rz_old = float(r @ z), rz
        d = z + (rz / rz_old) * d
    return x, Xx, MAX_ITER, False


def _fast_solve(design, w, c, history, residual, start=None):
    """Solve with the design's factor (formed again first if stale), from ``start`` or else the
    warm start of ``history``; ``residual(x)`` gives (X x, b - A x) by one pass.  Returns (x, X x),
    or None when the float32 factor cannot do it (the caller then solves in float64).

    The factor is stale once a solve needs more than ``STALE_AFTER`` iterations, or more than a
    solve right after a factorisation needed (a system that the float32 factor of its own
    weights preconditions only loosely should not be refactorised at every step)."""
    fresh = design.factor_weights is w  # formed for these very weights (this step's forward)
    if design.L is None or (design.stale and not fresh):
        if not design.refactor(w, c):
            return None
        fresh = True
    x = _warm_start(history, design.X32.shape[1]) if start is None else start
    while True:
        Xx, r = residual(x)
        x, Xx, iterations, converged = _cg(design, w, c, x, Xx, r)
        if converged:
            if fresh:
                design.fresh_iterations = iterations
            design.stale = design.stale or iterations > max(STALE_AFTER, design.fresh_iterations)
            history.append(x)
            del history[:-3]
            return x, Xx
        if fresh or not design.refactor(w, c):
            return None
        fresh = True


class _RidgeInWeightsFast(torch.autograd.Function):
    """beta(w) and its hypergradient from float64 conjugate gradients, preconditioned by the
    Cholesky factor of a float32 Gram matrix that is formed only now and then.

    The Gram matrix X^T W X is the only O(n p^2) work; each conjugate-gradient iteration is one
    pass over X (O(n p), in float64).  The factor of the float32 Gram matrix of one step's weights
    (:func:`gram32`) stays a good preconditioner for the steps after it, while the weights change
    little: a solve that needs more than ``STALE_AFTER`` iterations marks it stale, and the next
    step forms a new one.  Each solve starts from the previous solutions, extrapolated, and stops
    when its next correction is below ``SOLVE_TOL`` of the solution; the stopping rule and the
    float64 residuals are those of iterative refinement, so the result is the float64 solution to
    about 1e-9 whatever the factor (over a 400-step meta run on split 0's features: beta within
    1.2e-10 and the hypergradient within 7.9e-9 of a float64 Cholesky solve).  The forward solve
    gives beta and the residuals ``r = y - X beta``; the backward solve gives
    ``u = A^-1 dL/dbeta`` and X u, and the hypergradient is ``(X u)_i r_i`` as in the exact
    path.  When the float32 factor fails or cannot precondition (:data:`MAX_ITER`), the solve is
    done by the float64 path instead.
    All of it runs in numpy, on the design's BLAS threads (:func:`blas_threads`).
    """

    @staticmethod
    def forward(ctx, design, y, w, alpha, penalty):
        design.stats["solves"] += 1
        c = alpha * float(penalty_scale(w, penalty))
        wn, yn = w.detach().numpy(), y.numpy()

        # The backward solve will start from u0; the forward's first pass over X applies A to u0
        # too (a second column costs little), so that the backward solve starts without a pass.
        u0 = _warm_start(design.us, design.X32.shape[1])
        ahead = {}

        def residual(x):
            if ahead:
                Xx, s = design.apply(wn, x, yn)
                return Xx, s - c * x
            XV, S = design.apply(wn, np.column_stack([x, u0]), np.column_stack([yn, np.zeros_like(yn)]))
            ahead.update(u0=u0, Xu0=XV[:, 1], Au0=c * u0 - S[:, 1])  # S[:, 1] = -X^T W X u0
            return XV[:, 0], S[:, 0] - c * x

        with blas_threads(design.threads):
            solved = _fast_solve(design, wn, c, design.betas, residual)
            L = None
            if solved is None:  # the float64 path, whose factor the backward solve reuses
                design.stats["fallbacks"] += 1
                L = _exact_factor(design.X, w.detach(), c)
                x = _solve(L, (design.X.T @ (w.detach() * y)).numpy())
                solved = x, (design.X @ torch.from_numpy(x)).numpy()
        x, Xx = solved
        ctx.L, ctx.wn, ctx.x, ctx.resid, ctx.ahead = L, wn, x, yn - Xx, ahead
        ctx.design, ctx.c, ctx.alpha, ctx.penalty = design, c, alpha, penalty
        return torch.from_numpy(x)

    @staticmethod
    def backward(ctx, grad_beta):
        design, c, wn = ctx.design, ctx.c, ctx.wn
        g = grad_beta.detach().numpy()

        ahead = ctx.ahead

        def residual(u):
            if ahead and u is ahead["u0"]:  # applied by the forward's first pass
                return ahead["Xu0"], g - ahead["Au0"]
            Xu, s = design.apply(wn, u)
            return Xu, g - s - c * u

        with blas_threads(design.threads):
            solved = None
            if ctx.L is None:
                solved = _fast_solve(design, wn, c, design.us, residual, start=ahead.get("u0"))
            if solved is None:
                L = ctx.L
                if L is None:
                    design.stats["fallbacks"] += 1
                    L = _exact_factor(design.X, torch.from_numpy(wn), c)
                u = _solve(L, g)
                solved = u, (design.X @ torch.from_numpy(u)).numpy()
        u, Xu = solved
        grad_w = Xu * ctx.resid
        if ctx.penalty == "sum_w":
            grad_w = grad_w - ctx.alpha * (u @ ctx.x)
        return None, None, torch.from_numpy(grad_w), None, None


def ridge_solve_in_weights(X, y, w, alpha: float, penalty="n", precision="fast"):
    """Same value as :func:`ridge_solve`; differentiable in ``w`` only, in closed form.

    Parameters
    ----------
    X : Tensor of shape (n, p), or a :class:`FixedDesign` of one (prepare it once when solving
        many times with the same X: the fast path then reuses its factor and warm starts)
    y, w : Tensors of shape (n,)
    alpha : float;  penalty : {"n", "sum_w", "plain"}
    precision : {"fast", "exact"}
        ``"exact"``: float64 Gram matrix and Cholesky (:class:`_RidgeInWeights`).  ``"fast"``:
        float64 conjugate gradients preconditioned by the factor of a float32 Gram matrix
        (numpy's syrk), formed only when the last one has gone stale
        (:class:`_RidgeInWeightsFast`); beta and the hypergradient agree with ``"exact"`` to
        about 1e-9 relative on the paper's features, falling back to ``"exact"`` where the
        float32 factor cannot precondition.
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
        return _RidgeInWeights.apply(Xt, y, w, alpha, penalty)  # float32 or a GPU: exact path
    return _RidgeInWeightsFast.apply(design or FixedDesign(Xt), y, w, alpha, penalty)
