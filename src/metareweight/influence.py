"""Exact effect of up-weighting one point on the validation loss of least squares / ridge
(paper §6.2, Theorem 1), beside the gradient dot product that Appendix A uses instead.

Setting: weighted ridge on (X, y, w) with penalty ``alpha`` (``alpha = 0``: least squares),

    beta(delta) = argmin_beta  sum_i w_i (y_i - x_i.beta)^2 + delta (y_d - x_d.beta)^2
                               + alpha ||beta||^2,

and the validation loss ``L(beta) = mean_v (x_v.beta - y_v)^2``.  With the normal matrix
``A = X^T W X + alpha I`` and the residual ``r_d = y_d - x_d.beta``, differentiating the normal
equations at ``delta = 0`` gives

    d beta / d delta = A^-1 x_d r_d,        effect = dL / d delta = grad L(beta) . A^-1 x_d r_d.

The gradient dot product is ``g_d . g_v`` with ``g_d = -2 r_d x_d`` (the point's loss gradient)
and ``g_v = grad L(beta)``; Appendix A calls a point helpful when it is positive.  Both are
linear in ``r_d``, so reflecting the candidate's target about the fit (:func:`mirrored`) negates
both.  Two one-sided hypotheses can fail:

* Hypothesis 1 of the paper (as its words and its proof read): ``g_d . g_v < 0`` implies that
  adding the point does not help, ``effect >= 0``.  A counterexample has ``dot < 0`` and
  ``effect < 0`` (:func:`h1_scaling_counterexample`, :func:`h1_coupling_counterexample`).
* The reverse hypothesis: ``g_d . g_v > 0`` implies ``effect <= 0``.  A counterexample has
  ``dot > 0`` and ``effect > 0`` (:func:`scaling_counterexample`, :func:`coupling_counterexample`).
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
        return ~(self.h1_violation | self.reverse_violation)

    @property
    def h1_violation(self):
        """Counterexamples to Hypothesis 1: ``dot < 0`` ("looks detrimental") yet ``exact < 0``
        (adding the point lowers the validation loss)."""
        return (self.dot < 0) & (self.exact < 0)

    @property
    def reverse_violation(self):
        """Counterexamples to the reverse hypothesis: ``dot > 0`` ("looks helpful") yet
        ``exact > 0`` (adding the point raises the validation loss)."""
        return (self.dot > 0) & (self.exact > 0)


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


def effect_by_refit(problem, delta=1e-6, sample_weight=None, alpha=0.0):
    """Forward finite difference ``(L(beta(delta)) - L(beta(0))) / delta`` for every candidate of
    ``problem`` (a :class:`Problem`), each refitted with the candidate added at weight ``delta``:
    the check of the closed form ``Effects.exact`` (its error is of order ``delta``)."""
    pr = problem
    base = valid_loss(fit(pr.X, pr.y, sample_weight, alpha), pr.X_valid, pr.y_valid)
    return np.array([
        (refit_valid_loss(pr.X, pr.y, pr.X_valid, pr.y_valid, x[None], yy, delta, sample_weight, alpha)
         - base) / delta
        for x, yy in zip(np.atleast_2d(pr.x_new), np.atleast_1d(pr.y_new), strict=True)
    ])


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
    With the residual ``r = y_new``, ``g_d . g_v = 4 r (1 + x_new scale^2)`` and the exact effect
    ``-r (x_new + 2/3)``, which does not depend on ``scale`` (derivation in the Theorem 1
    chapter).  The default candidate hurts (effect 2/15) but its dot product is positive for
    ``scale^2 < 1.25``: a counterexample to the reverse hypothesis at small scales.
    """
    return Problem(
        X=_with_constant(scale * np.array([-1.0, 0.0, 1.0])), y=np.zeros(3),
        X_valid=_with_constant([scale]), y_valid=np.array([1.0]),
        x_new=_with_constant([scale * x_new]), y_new=np.array([y_new]),
    )


def mirrored(problem, sample_weight=None, alpha=0.0):
    """The same problem with every candidate's target reflected about the fit,
    ``y_d -> 2 x_d.beta - y_d``, which negates its residual ``r_d``.

    Both the dot product and the exact effect are linear in ``r_d``, so the reflection negates
    both: it turns every counterexample to the reverse hypothesis into one to Hypothesis 1 and
    back.
    """
    beta = fit(problem.X, problem.y, sample_weight, alpha)
    x_new = np.atleast_2d(problem.x_new)
    return Problem(problem.X, problem.y, problem.X_valid, problem.y_valid, x_new,
                   2.0 * (x_new @ beta) - np.atleast_1d(problem.y_new))


def h1_scaling_counterexample(scale=2.0):
    """A counterexample to Hypothesis 1 built as the paper's proof sketches it: with large x,
    a point that helps has a negative dot product.

    :func:`scaling_counterexample` with the candidate ``(-0.5 scale, 1)``: it pulls the slope the
    wrong way and the intercept the right way.  Adding it lowers the validation loss at every
    scale (exact effect ``-1/6``), while ``g_d . g_v = 4 (1 - 0.5 scale^2)`` is negative for
    ``scale > sqrt(2)`` (the default, 2, gives -4).
    """
    return scaling_counterexample(scale, x_new=-0.5, y_new=1.0)


def h1_coupling_counterexample():
    """A counterexample to Hypothesis 1 without any scaling: :func:`coupling_counterexample` with
    the candidate's residual mirrored, candidate ``(1, -1)``.

    Its gradient step lowers the slope that the validation set wants raised (``g_d . g_v < 0``),
    but the refit puts the point into the intercept and raises the slope: the validation loss
    falls (exact effect -1, dot product -4).  ``g_v`` has no intercept part, so no rescaling of
    x changes the dot product's sign.
    """
    return mirrored(coupling_counterexample())


def coupling_counterexample():
    """Theorem 1's second failure, with no scaling involved.

    Training inputs (1, 2, 3) with targets 0; validation points (-1, -1) and (1, 1) (which only ask
    for a larger slope); candidate (1, 1).  The candidate's gradient step raises both slope and
    intercept, but adding it lowers the slope (the intercept takes the point), which raises the
    validation loss (exact effect 1, dot product 4): a counterexample to the reverse hypothesis.
    """
    return Problem(
        X=_with_constant([1.0, 2.0, 3.0]), y=np.zeros(3),
        X_valid=_with_constant([-1.0, 1.0]), y_valid=np.array([-1.0, 1.0]),
        x_new=_with_constant([1.0]), y_new=np.array([1.0]),
    )


INPUTS = ("raw", "standardised", "whitened")


def random_problem(n, p, seed, *, n_valid=None, n_candidates=50, inputs="raw"):
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
    inputs : {"raw", "standardised", "whitened"}
        ``"standardised"``: every feature centred and divided by its standard deviation over the
        training rows (population std, ``ddof=0``).  ``"whitened"``: centred and multiplied by the
        inverse Cholesky factor of the training covariance (population), so that the training
        design including the constant column has ``X^T X = n I``.  The same transform is applied
        to the validation rows and the candidates.

    Returns
    -------
    Problem
        ``x_new`` of shape (n_candidates, p + 1).
    """
    if inputs not in INPUTS:
        raise ValueError(f"unknown inputs {inputs!r}; choose one of {INPUTS}")
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
    mu = X.mean(axis=0)
    if inputs == "standardised":
        sd = X.std(axis=0)
        X, Xv, Xc = (X - mu) / sd, (Xv - mu) / sd, (Xc - mu) / sd
    elif inputs == "whitened":
        chol = np.linalg.cholesky((X - mu).T @ (X - mu) / len(X))
        X, Xv, Xc = (np.linalg.solve(chol, (a - mu).T).T for a in (X, Xv, Xc))

    def const(a):
        return np.hstack([a, np.ones((len(a), 1))])

    return Problem(const(X), y, const(Xv), yv, const(Xc), yc)


@dataclass
class Disagreements:
    """Sign disagreements between ``g_d . g_v`` and the exact effect over many candidates.

    Attributes
    ----------
    candidates : int
        Candidates evaluated.
    h1 : int
        ``dot < 0`` yet the point helps (``exact < 0``): counterexamples to Hypothesis 1.
    reverse : int
        ``dot > 0`` yet the point hurts (``exact > 0``): counterexamples to the reverse hypothesis.
    """

    candidates: int
    h1: int
    reverse: int

    @property
    def h1_share(self):
        return self.h1 / self.candidates

    @property
    def reverse_share(self):
        return self.reverse / self.candidates

    @property
    def share(self):
        """Share of candidates in either direction."""
        return (self.h1 + self.reverse) / self.candidates


def count_disagreements(effects):
    """:class:`Disagreements` of one :class:`Effects`."""
    return Disagreements(len(effects.exact), int(effects.h1_violation.sum()),
                         int(effects.reverse_violation.sum()))


def disagreements(n, p, trials, seed, *, alpha=0.0, inputs="raw", n_candidates=50):
    """Sign disagreements, counted per direction, over ``trials`` problems of
    :func:`random_problem` (seeds ``seed, seed + 1, ...``), each with ``n_candidates``
    candidates; returns :class:`Disagreements`."""
    total = Disagreements(0, 0, 0)
    for t in range(trials):
        pr = random_problem(n, p, seed + t, n_candidates=n_candidates, inputs=inputs)
        one = count_disagreements(
            upweight_effects(pr.X, pr.y, pr.X_valid, pr.y_valid, pr.x_new, pr.y_new, alpha=alpha))
        total = Disagreements(total.candidates + one.candidates, total.h1 + one.h1,
                              total.reverse + one.reverse)
    return total
