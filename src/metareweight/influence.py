"""Exact effect of up-weighting one point on the validation loss of least squares / ridge
(paper §A.2, Theorem 1), beside the gradient dot product that Appendix A uses instead.

Setting: weighted ridge on (X, y, w) with penalty ``alpha`` (``alpha = 0``: least squares),

    beta(delta) = argmin_beta  sum_i w_i (y_i - x_i.beta)^2 + delta (y_d - x_d.beta)^2
                               + alpha ||beta||^2,

and the validation loss ``L(beta) = mean_v (x_v.beta - y_v)^2``.  With the normal matrix
``A = X^T W X + alpha I`` and the residual ``r_d = y_d - x_d.beta``, differentiating the normal
equations at ``delta = 0`` gives

    d beta / d delta = A^-1 x_d r_d,        dL / d delta = grad L(beta) . A^-1 x_d r_d.

The gradient dot product is ``g_d . g_v`` with ``g_d = -2 r_d x_d`` (the point's loss gradient)
and ``g_v = grad L(beta)``.  Hypothesis 1 of the paper says that ``g_d . g_v < 0`` implies
``dL / d delta >= 0``; the two agree in sign when ``sign(g_d . g_v) = -sign(dL / d delta)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ridge import WeightedRidge


def _normal_matrix(X, w, alpha):
    return (X * w[:, None]).T @ X + alpha * np.eye(X.shape[1])


def fit(X, y, sample_weight=None, alpha=0.0):
    """Weighted ridge (least squares for ``alpha = 0``): minimise
    ``sum_i w_i (y_i - x_i.beta)^2 + alpha ||beta||^2``; no intercept is added.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features);  y : ndarray of shape (n_samples,)
    sample_weight : ndarray of shape (n_samples,), optional
    alpha : float

    Returns
    -------
    ndarray of shape (n_features,)
    """
    return WeightedRidge(alpha, penalty="plain").fit(X, y, sample_weight=sample_weight).coef_


def valid_loss(beta, X_valid, y_valid):
    """Validation MSE ``mean_v (x_v.beta - y_v)^2``."""
    return float(np.mean((X_valid @ beta - y_valid) ** 2))


def valid_gradient(beta, X_valid, y_valid):
    """Gradient of :func:`valid_loss` in beta, shape (n_features,)."""
    return 2.0 * X_valid.T @ (X_valid @ beta - y_valid) / len(y_valid)


@dataclass
class Effects:
    """Effects of adding each candidate point with an infinitesimal weight.

    Attributes
    ----------
    dbeta : ndarray of shape (n_candidates, n_features)
        Exact ``d beta / d delta`` at ``delta = 0``.
    exact : ndarray of shape (n_candidates,)
        Exact ``dL_valid / d delta`` (negative: adding the point helps).
    dot : ndarray of shape (n_candidates,)
        The gradient dot product ``g_d . g_v`` (positive: Appendix A calls the point helpful).
    step : ndarray of shape (n_candidates, n_features)
        The gradient step the point asks for, ``-g_d``.
    """

    dbeta: np.ndarray
    exact: np.ndarray
    dot: np.ndarray
    step: np.ndarray

    @property
    def agree(self):
        """Whether the dot product's verdict matches the exact effect (zeros count as agreeing)."""
        return (np.sign(self.dot) == -np.sign(self.exact)) | (self.dot == 0) | (self.exact == 0)


def upweight_effects(X, y, X_valid, y_valid, x_new, y_new, sample_weight=None, alpha=0.0):
    """Exact infinitesimal up-weighting effect and gradient dot product of candidate points.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features);  y : ndarray of shape (n_samples,)
        The training set (include a constant column in X for an intercept).
    X_valid : ndarray of shape (n_valid, n_features);  y_valid : ndarray of shape (n_valid,)
    x_new : ndarray of shape (n_candidates, n_features);  y_new : ndarray of shape (n_candidates,)
    sample_weight : ndarray of shape (n_samples,), optional
    alpha : float
        Ridge penalty (0: least squares; then X^T W X must be invertible).

    Returns
    -------
    Effects
    """
    X, y = np.asarray(X, float), np.asarray(y, float)
    x_new, y_new = np.atleast_2d(np.asarray(x_new, float)), np.atleast_1d(np.asarray(y_new, float))
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    A = _normal_matrix(X, w, alpha)
    beta = np.linalg.solve(A, (X * w[:, None]).T @ y)
    gv = valid_gradient(beta, np.asarray(X_valid, float), np.asarray(y_valid, float))
    r = y_new - x_new @ beta
    dbeta = np.linalg.solve(A, (x_new * r[:, None]).T).T
    step = 2.0 * r[:, None] * x_new  # -g_d
    return Effects(dbeta=dbeta, exact=dbeta @ gv, dot=-(step @ gv), step=step)


def refit_valid_loss(X, y, X_valid, y_valid, x_new, y_new, delta, sample_weight=None, alpha=0.0):
    """Validation loss after refitting with one point ``(x_new, y_new)`` added at weight delta."""
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    beta = fit(np.vstack([X, x_new]), np.append(y, y_new), np.append(w, delta), alpha)
    return valid_loss(beta, X_valid, y_valid)


@dataclass
class Problem:
    """A small regression problem with one candidate point (all arrays float64).

    ``X`` (n, p) and ``X_valid`` (m, p) carry a constant column last; ``x_new`` has shape (1, p).
    """

    X: np.ndarray
    y: np.ndarray
    X_valid: np.ndarray
    y_valid: np.ndarray
    x_new: np.ndarray
    y_new: np.ndarray


def _with_constant(x):
    x = np.asarray(x, dtype=np.float64).reshape(-1, 1)
    return np.hstack([x, np.ones_like(x)])


def scaling_counterexample(scale=1.0, *, x_new=-0.8, y_new=1.0):
    """Theorem 1's first failure: the dot product's sign depends on the scale of x.

    Training inputs ``scale * (-1, 0, 1)`` with targets 0 (so the fit is 0), one validation point
    ``(scale, 1)``, candidate ``(scale * x_new, y_new)``; the model is ``slope * x + intercept``.
    The exact effect does not depend on ``scale``; the dot product changes sign at
    ``scale^2 = -1 / x_new`` (derivation in the Theorem 1 chapter).
    """
    return Problem(
        X=_with_constant(scale * np.array([-1.0, 0.0, 1.0])), y=np.zeros(3),
        X_valid=_with_constant([scale]), y_valid=np.array([1.0]),
        x_new=_with_constant([scale * x_new]), y_new=np.array([y_new]),
    )


def coupling_counterexample():
    """Theorem 1's second failure, with no scaling involved.

    Training inputs (1, 2, 3) with targets 0; validation points (-1, -1) and (1, 1) (which only ask
    for a larger slope); candidate (1, 1).  The candidate's gradient step raises both slope and
    intercept, but adding it lowers the slope (the intercept takes the point), which raises the
    validation loss.
    """
    return Problem(
        X=_with_constant([1.0, 2.0, 3.0]), y=np.zeros(3),
        X_valid=_with_constant([-1.0, 1.0]), y_valid=np.array([-1.0, 1.0]),
        x_new=_with_constant([1.0]), y_new=np.array([1.0]),
    )


def random_problem(n, p, seed, *, n_valid=None, n_candidates=50, standardise=False):
    """A random linear problem whose validation set is the top 10 % of targets.

    Features are ``offset + scale * z`` with z standard normal, random offsets and random scales
    (log-uniform over two decades); ``y = z.b / sqrt(p) + sin(3 z_1) + 0.3 noise`` with random b,
    so a linear fit is biased and the top of the range wants a different fit.  A constant
    column is appended.

    Parameters
    ----------
    n, p : int
        Training rows and features (before the constant column).
    seed : int
        Seed of the local generator.
    n_valid : int, optional
        Size of the pool whose top 10 % forms the validation set (default ``n``).
    n_candidates : int
        Fresh points from the training distribution to evaluate.
    standardise : bool
        Standardise every feature with the training mean and standard deviation.

    Returns
    -------
    Problem
        ``x_new`` of shape (n_candidates, p + 1).
    """
    rng = np.random.default_rng(seed)
    n_valid = n if n_valid is None else n_valid
    offset = rng.normal(0.0, 2.0, size=p)
    scales = 10.0 ** rng.uniform(-1.0, 1.0, size=p)
    b = rng.normal(size=p)

    def draw(k):
        Z = rng.normal(size=(k, p))
        x = offset + scales * Z
        t = Z @ b / np.sqrt(p)
        return x, t + np.sin(3.0 * Z[:, 0]) + 0.3 * rng.normal(size=k)

    X, y = draw(n)
    Xp, yp = draw(n_valid)
    Xc, yc = draw(n_candidates)
    top = yp >= np.quantile(yp, 0.9)
    Xv, yv = Xp[top], yp[top]
    if standardise:
        mu, sd = X.mean(axis=0), X.std(axis=0)
        X, Xv, Xc = (X - mu) / sd, (Xv - mu) / sd, (Xc - mu) / sd

    def const(a):
        return np.hstack([a, np.ones((len(a), 1))])

    return Problem(const(X), y, const(Xv), yv, const(Xc), yc)


def disagreement_rate(n, p, trials, seed, *, alpha=0.0, standardise=False, n_candidates=50):
    """Share of candidate points where the dot product's sign contradicts the exact effect.

    Over ``trials`` problems from :func:`random_problem` (seeds ``seed, seed + 1, ...``), each
    with ``n_candidates`` candidates.  Returns a float in [0, 1].
    """
    wrong = total = 0
    for t in range(trials):
        pr = random_problem(n, p, seed + t, n_candidates=n_candidates, standardise=standardise)
        eff = upweight_effects(pr.X, pr.y, pr.X_valid, pr.y_valid, pr.x_new, pr.y_new, alpha=alpha)
        wrong += int((~eff.agree).sum())
        total += len(eff.exact)
    return wrong / total
