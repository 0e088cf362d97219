"""The Appendix A toy problems and the per-example gradient-alignment loop for linear models.

Toys (paper §6.1, Appendix A):

* :func:`make_piecewise_1d`: 100 points on a line of slope 1 that bends to slope 4 at the end
  (Figure 4); the validation points are the 10 with the largest target.
* :func:`make_product_2d`: ``y = 2 x1 (x2 - 0.5)`` on the unit square; the target is the top
  10 % of ``y``.
* :func:`make_product_nd`: our generalisation to ``d`` (even) dimensions, the sum of ``d / 2``
  such products over disjoint pairs of inputs (the paper only mentions a 60-dimensional case).

The gradient-alignment loop (:func:`align_fit`) weights every training example by how well its
loss gradient agrees with the validation-loss gradient, for a linear model, in two
formulations:

``"value"``       predict ``y_i`` from ``(x_i, 1)``: slope(s) and intercept.
``"difference"``  predict ``y_i - y_j`` from ``x_i - x_j`` over pairs: the intercept cancels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .cache import digest, memo

FORMULATIONS = ("value", "difference")
RULES = ("sign", "relu")


@dataclass
class Toy:
    """A toy data set.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features)
        Inputs (no constant column).
    y : ndarray of shape (n_samples,)
    valid : ndarray of shape (n_samples,), bool
        The rows of the target region (for the 1-D toy: the validation points).
    """

    X: np.ndarray
    y: np.ndarray
    valid: np.ndarray


def top_fraction(y, fraction=0.1):
    """Boolean mask of the ``ceil(fraction * n)`` largest entries of ``y`` (ties by position).

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
    fraction : float in (0, 1]

    Returns
    -------
    ndarray of shape (n_samples,), bool
    """
    y = np.asarray(y)
    k = int(np.ceil(fraction * len(y)))
    order = np.argsort(-y, kind="stable")
    mask = np.zeros(len(y), dtype=bool)
    mask[order[:k]] = True
    return mask


def make_piecewise_1d(n=100, *, kink=0.9, slope_after=4.0, n_valid=10):
    """The piecewise-affine toy of Figure 4.

    ``x0 = 0, 1/n, ..., (n-1)/n``; ``y = x0 + (slope_after - 1) * max(x0 - kink, 0)`` (so
    ``y = 0`` at the first point, slope 1, then ``slope_after`` beyond the kink);
    ``x = x0 - mean(x0)``.  The validation points are the ``n_valid`` largest ``y``.

    Returns
    -------
    Toy
        ``X`` of shape (n, 1), ``y`` of shape (n,), ``valid`` of shape (n,).
    """
    x0 = np.arange(n, dtype=np.float64) / n
    y = x0 + (slope_after - 1.0) * np.maximum(x0 - kink, 0.0)
    x = x0 - x0.mean()
    valid = np.zeros(n, dtype=bool)
    valid[np.argsort(-y, kind="stable")[:n_valid]] = True
    return Toy(x[:, None], y, valid)


def make_product_nd(n, dim, seed, *, n_pairs=None, fraction=0.1):
    """``dim`` inputs uniform on [0, 1]; ``y = sum_k 2 x_{2k-1} (x_{2k} - 0.5)`` over the first
    ``n_pairs`` disjoint pairs of inputs; the other inputs are nuisance (``y`` ignores them).
    ``dim = 2`` is the paper's two-dimensional toy.

    Parameters
    ----------
    n : int
        Number of samples.
    dim : int, even
    seed : int
    n_pairs : int, optional
        Number of product pairs (default ``dim / 2``: every input is in one).
        Seed of the local generator.
    fraction : float
        ``valid`` marks the top ``fraction`` of ``y`` (the target region).

    Returns
    -------
    Toy
        ``X`` of shape (n, dim), ``y`` of shape (n,), ``valid`` of shape (n,).
    """
    if dim < 2 or dim % 2:
        raise ValueError(f"dim must be even and at least 2, got {dim}")
    n_pairs = dim // 2 if n_pairs is None else n_pairs
    if not 1 <= n_pairs <= dim // 2:
        raise ValueError(f"n_pairs must be between 1 and dim / 2 = {dim // 2}, got {n_pairs}")
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.0, 1.0, size=(n, dim))
    pairs = X[:, : 2 * n_pairs]
    y = (2.0 * pairs[:, 0::2] * (pairs[:, 1::2] - 0.5)).sum(axis=1)
    return Toy(X, y, top_fraction(y, fraction))


def make_product_2d(n, seed, *, fraction=0.1):
    """The paper's two-dimensional toy: x1, x2 uniform on [0, 1], ``y = 2 x1 (x2 - 0.5)``.

    The paper does not say how the inputs were drawn; we draw them uniformly with ``seed``.
    See :func:`make_product_nd` for the return value (``X`` of shape (n, 2)).
    """
    return make_product_nd(n, 2, seed, fraction=fraction)


def precision_at(pred, y, fraction=0.1):
    """Share of the top ``fraction`` by ``pred`` that is also in the top ``fraction`` by ``y``."""
    hit = top_fraction(pred, fraction) & top_fraction(y, fraction)
    return hit.sum() / top_fraction(y, fraction).sum()


def least_squares(X, y, sample_weight=None):
    """Weighted least squares with an intercept: minimise ``sum_i w_i (y_i - x_i.a - b)^2``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features);  y : ndarray of shape (n_samples,)
    sample_weight : ndarray of shape (n_samples,), optional (default all ones)

    Returns
    -------
    coef : ndarray of shape (n_features,);  intercept : float
    """
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    D = np.hstack([X, np.ones((len(X), 1))])
    sw = np.sqrt(w)
    theta = np.linalg.lstsq(D * sw[:, None], y * sw, rcond=None)[0]
    return theta[:-1], float(theta[-1])


def _weighted_mean(a, w):
    total = w.sum()
    if total <= 0:  # no example kept: pair with everyone
        return a.mean(axis=0)
    return (w @ a) / total if a.ndim == 2 else float(w @ a) / total


def _gradients(formulation, theta, X, y, w, X_valid, y_valid):
    """Per-example gradients g (n, p), validation gradient g_v (p,), validation loss."""
    if formulation == "value":
        D = np.hstack([X, np.ones((len(X), 1))])
        Dv = np.hstack([X_valid, np.ones((len(X_valid), 1))])
        r = D @ theta - y
        rv = Dv @ theta - y_valid
        g = 2.0 * r[:, None] * D
        gv = 2.0 * (rv @ Dv) / len(rv)
        return g, gv, float(np.mean(rv**2))
    # difference: pairs (i, j) with loss ((x_i - x_j).theta - (y_i - y_j))^2 = (r_i - r_j)^2.
    # Example i's gradient is its mean pair gradient against the currently weighted examples:
    # g_i = 2 [(r_i - rbar)(x_i - xbar) + cov_w(r, x)], weighted means over the partners.
    r = X @ theta - y
    rv = X_valid @ theta - y_valid
    wp = w if w.sum() > 0 else np.ones_like(w)
    rbar, xbar = _weighted_mean(r, wp), _weighted_mean(X, wp)
    cov = _weighted_mean((r - rbar)[:, None] * (X - xbar), wp)
    g = 2.0 * ((r - rbar)[:, None] * (X - xbar) + cov)
    rvc = rv - rv.mean()
    gv = 4.0 * (rvc @ (X_valid - X_valid.mean(axis=0))) / len(rv)
    return g, gv, float(2.0 * np.mean(rvc**2))


@dataclass
class AlignmentResult:
    """Outcome of :func:`align_fit`.

    Attributes
    ----------
    coef : ndarray of shape (n_features,)
        Final slopes.
    intercept : float
        Value formulation: the learned intercept.  Difference formulation (where the intercept
        cancels): the weighted mean of ``y - X @ coef`` over the final weights.
    weights : ndarray of shape (n_samples,)
        Final example weights.
    history : dict
        Lists ``step``, ``coef`` (each of shape (n_features,)), ``valid_loss``, ``n_active``
        (weights above 0.5) and ``weights`` (snapshots of shape (n_samples,)), every
        ``record_every`` steps and at the end.
    """

    coef: np.ndarray
    intercept: float
    weights: np.ndarray
    history: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AlignSettings:
    """How :func:`align_fit` runs (each field is described in its docstring): the
    ``formulation``, ``steps``, RMSprop's ``lr`` and ``rms_alpha``, the weight ``rule`` and its
    ``weight_step``, ``precondition_after``, ``valid_ema``, the start (``seed``, ``init_scale``),
    ``record_every`` and ``eps``.  Values are checked when it is built."""

    formulation: str = "value"
    steps: int = 10000
    lr: float = 1e-2
    rms_alpha: float = 0.95
    rule: str = "sign"
    weight_step: float = 5000.0
    precondition_after: int | None = 50
    valid_ema: float = 1.0
    seed: int | None = None
    init_scale: float = 1.0
    record_every: int = 100
    eps: float = 1e-8

    def __post_init__(self):
        if self.formulation not in FORMULATIONS:
            raise ValueError(f"unknown formulation {self.formulation!r}; choose one of {FORMULATIONS}")
        if self.rule not in RULES:
            raise ValueError(f"unknown rule {self.rule!r}; choose one of {RULES}")


#: The settings of :func:`align_fit` when none are given.
DEFAULT_ALIGN = AlignSettings()


def align_fit(X, y, X_valid, y_valid, settings: AlignSettings = DEFAULT_ALIGN):
    """Fit a linear model on examples weighted by gradient alignment with the validation loss.

    Each step, at the current parameters theta, every training example's loss gradient ``g_i``
    is compared with the validation-loss gradient ``g_v`` through the alignment
    ``a_i = (g_i / rms) . d_v``; the example weights follow the alignment and theta takes one
    RMSprop step on the weighted mean training loss, i.e. it minimises (locally)
    ``sum_i w_i L_i(theta) / sum_i w_i``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features);  y : ndarray of shape (n_samples,)
    X_valid : ndarray of shape (n_valid, n_features);  y_valid : ndarray of shape (n_valid,)
    settings : :class:`AlignSettings`, whose fields are:

    formulation : {"value", "difference"}
        ``"value"``: model ``x.a + b``, loss ``(x_i.a + b - y_i)^2``, validation loss the MSE.
        ``"difference"``: model ``(x_i - x_j).a`` for ``y_i - y_j``; example i's gradient is its
        mean pair gradient against the weighted training examples, the validation loss the
        mean over validation pairs.
    steps : int
    lr, rms_alpha : float
        RMSprop's learning rate and smoothing constant (the authors' code: 1e-2 and 0.95).
    rule : {"sign", "relu"}
        ``"sign"`` (the authors' code): persistent weights moved by
        ``+/- weight_step / (step + 1)^2`` by the sign of ``a_i``, clipped to [0, 1].
        ``"relu"``: ``w_i = max(a_i, 0)`` with the same ``a_i`` as above, recomputed from scratch
        every step (no memory, no upper clip).  Because ``d_v`` is ``g_v`` (or its average)
        divided by a positive number and the step uses the weighted *mean* loss, a common
        positive factor on all weights cancels; so with ``valid_ema=1`` and
        ``precondition_after=None`` this is exactly the paper's §6 weighting
        ``ReLU(g_i . g_v)``.  With the default ``precondition_after=50`` it differs from step 50
        on: ``g_i`` is first divided element-wise by RMSprop's running root-mean-square.
    precondition_after : int or None
        From this step on, ``g_i`` is divided by RMSprop's running root-mean-square (the
        authors' code: 50).  ``None``: never.
    valid_ema : float in (0, 1]
        ``d_v`` is the exponential average (this rate) of ``g_v`` divided by the mean absolute
        value of its entries.  1.0 (default) uses the current ``g_v`` only, the paper's
        ``W_i = g_i . g_v``; the authors' code uses 0.02.
    seed : int or None
        ``None``: start at theta = 0 with all weights 1.  An int: theta drawn from
        ``N(0, init_scale^2)`` and weights uniform on [0, 1], from a local generator.
    record_every : int

    Returns
    -------
    AlignmentResult
    """
    if not isinstance(settings, AlignSettings):
        raise TypeError(f"align_fit: settings must be an AlignSettings, got {type(settings).__name__}")
    formulation, steps, lr, rms_alpha, rule = (settings.formulation, settings.steps, settings.lr, settings.rms_alpha,
                                              settings.rule)
    weight_step, precondition_after, valid_ema = settings.weight_step, settings.precondition_after, settings.valid_ema
    seed, init_scale, record_every, eps = settings.seed, settings.init_scale, settings.record_every, settings.eps
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    X_valid = np.asarray(X_valid, dtype=np.float64)
    y_valid = np.asarray(y_valid, dtype=np.float64)
    n, m = X.shape
    p = m + 1 if formulation == "value" else m
    if seed is None:
        theta, w = np.zeros(p), np.ones(n)
    else:
        rng = np.random.default_rng(seed)
        theta, w = init_scale * rng.normal(size=p), rng.uniform(0.0, 1.0, size=n)
    v = np.zeros(p)  # RMSprop's running mean of squared gradients
    m_v = np.zeros(p)  # running validation gradient
    history = {"step": [], "coef": [], "valid_loss": [], "n_active": [], "weights": []}

    def record(step, loss):
        history["step"].append(step)
        history["coef"].append(theta[:m].copy())
        history["valid_loss"].append(loss)
        history["n_active"].append(int((w > 0.5).sum()))
        history["weights"].append(w.copy())

    for step in range(steps + 1):
        g, gv, loss = _gradients(formulation, theta, X, y, w, X_valid, y_valid)
        if step % record_every == 0 or step == steps:
            record(step, loss)
        if step == steps:
            break
        m_v = (1.0 - valid_ema) * m_v + valid_ema * gv
        scale = np.abs(m_v).mean()
        direction = m_v / scale if scale > 0 else m_v
        precondition = precondition_after is not None and step >= precondition_after
        g_cmp = g / (np.sqrt(v) + eps) if precondition else g
        align = g_cmp @ direction
        if rule == "sign":
            w = np.clip(w + weight_step / (step + 1) ** 2 * np.sign(align), 0.0, 1.0)
        else:
            w = np.maximum(align, 0.0)
        total = w.sum()
        grad = (w @ g) / total if total > 0 else np.zeros(p)
        v = rms_alpha * v + (1.0 - rms_alpha) * grad**2
        theta = theta - lr * grad / (np.sqrt(v) + eps)

    coef = theta[:m].copy()
    if formulation == "value":
        intercept = float(theta[m])
    else:
        wp = w if w.sum() > 0 else np.ones(n)
        intercept = _weighted_mean(y - X @ coef, wp)
    return AlignmentResult(coef, intercept, w.copy(), history)


def alignment_components(X, y, X_valid, y_valid, coef, intercept):
    """Per-example alignment ``g_i . g_v`` of the value formulation, split by parameter.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features);  y : ndarray of shape (n_samples,)
    X_valid, y_valid : the validation rows
    coef : ndarray of shape (n_features,);  intercept : float
        The parameters at which the gradients are taken.

    Returns
    -------
    ndarray of shape (n_samples, n_features + 1)
        Column k is ``g_i[k] * g_v[k]``; the last column is the intercept's share.  The row sums
        are the alignments.
    """
    theta = np.append(np.asarray(coef, dtype=np.float64), intercept)
    g, gv, _ = _gradients("value", theta, np.asarray(X, float), np.asarray(y, float),
                          np.ones(len(y)), np.asarray(X_valid, float), np.asarray(y_valid, float))
    return g * gv


#: Bump when :func:`align_fit` changes what it computes: cached runs of an older loop are then
#: recomputed, never reused.
TOY_CACHE_VERSION = 1


def arrays_digest(*arrays) -> str:
    """sha256 of float64 arrays, each preceded by its shape."""
    parts = [np.ascontiguousarray(a, dtype=np.float64) for a in arrays]
    return digest(*(c for a in parts for c in (repr(a.shape).encode(), a)))


def align_fit_cached(X, y, X_valid, y_valid, settings: AlignSettings = DEFAULT_ALIGN) -> AlignmentResult:
    """:func:`align_fit`, memoised on disk (namespace ``toys``) by its data and arguments, so a
    warm rebuild of the appendix chapters runs no loop again (``FRESH=1`` recomputes).  The
    result is rebuilt from the stored arrays on a cold run too, so both give the same types."""
    spec = {"fn": "align_fit", "v": TOY_CACHE_VERSION, "data": arrays_digest(X, y, X_valid, y_valid),
            "settings": asdict(settings)}

    def compute():
        r = align_fit(X, y, X_valid, y_valid, settings)
        arrays = {"coef": r.coef, "intercept": np.array(r.intercept), "weights": r.weights}
        arrays.update({f"history_{k}": np.asarray(v) for k, v in r.history.items()})
        return arrays, {}

    arrays, _ = memo("toys", spec, compute)
    history = {k.removeprefix("history_"): list(v) if v.ndim > 1 else v.tolist()
               for k, v in arrays.items() if k.startswith("history_")}
    return AlignmentResult(arrays["coef"], float(arrays["intercept"]), arrays["weights"], history)
