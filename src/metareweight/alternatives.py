"""Peer re-weighting methods on a split's fixed features, for the comparison chapter.

Each method fits a linear head on the design matrix ``X`` (400 CNN features and a constant
column) and the targets ``y`` (age / 100) of one split.  The methods are defined in
``shared/PEERS.md``; here they are adapted to our setting.

Row sets (integer indices into ``X`` and ``y``):

``tr``  every training row (all non-test rows; validation rows included)
``mt``  the meta-training rows: ``tr`` minus the whole validation *block*
``va``  the validation rows (the validation block inside the target band)

Test rows never enter this module's fitting or choosing functions; only
:func:`run_alternatives` receives them, and it uses them once, at the very end, for
``X[te] @ coef``.

The protocol, shared by every method (:func:`choose_then_refit`): each hyperparameter value of a
small grid is fitted on ``mt`` and scored by the MSE on ``va``; the value with the lowest
validation MSE (first in grid order on ties) is refitted on all of ``tr``.  The one exception is
:func:`valid_only`, whose rows *are* the validation rows: it chooses by leave-one-out.  L2RW and
MW-Net also use ``va`` inside training, as their meta set (as the paper's method does), in the
choice runs on ``mt`` and in the final run on ``tr``.

Every default grid is small: one split of 8,780 x 401 rows runs all six methods in 12 to 22 s
on two CPU cores shared with a training job (MW-Net takes three quarters of it).

Ridge fits all go through :func:`metareweight.baselines.fit_ridge` (penalty convention ``"n"``:
``alpha * N`` on the diagonal, N the number of rows of the fit, constant column penalised).
Weighted fits rescale their weights to mean 1 over the rows of the fit, so that the penalty
``alpha * N`` meets the same total weight as in *All* and *Restricted*.  (This is the
``"sum_w"`` convention written with ``"n"``.)  It makes the weighted families reach their
limits exactly: a weighting that is constant on the band and zero elsewhere gives *Restricted*,
and constant weights give *All*.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from . import baselines
from .ridge import torch_threads

ALPHA = 5e-3
"""The paper's ridge parameter, used wherever lambda is not itself the hyperparameter."""

LAMBDAS = tuple(sorted({float(f"{v:.3g}") for v in np.logspace(-5, 1, 13)} | {ALPHA}))
"""lambda grid: 1e-5 to 10 in half decades, plus the paper's 5e-3 (14 values)."""

SIGMAS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, math.inf)
"""Soft-band widths in years; 0 is *Restricted* exactly and inf is *All* exactly."""

SMOOTHING = (0.0, 0.5, 1.0, 2.0, 4.0)
"""Label-shift kernel widths in bins (Gaussian standard deviation; 0 = no smoothing)."""

LR_SCALES = (0.1, 0.3, 1.0)
"""SGD step sizes as fractions of a unit 1/L computed on the rows of the choice run
(:func:`sgd_lr_unit`)."""

META_LRS = (1e-3, 1e-2)
"""MW-Net's Adam step sizes for the weight net (Shu et al. use 1e-3; our squared losses on the
age/100 scale are small inputs, so a ten times larger step is also tried)."""

EPOCHS = (1, 2, 5, 10, 20)
"""SGD epochs checked (checkpoints of one run per step size)."""

BATCH = 100

ALTERNATIVES = {
    "restricted_tuned": "Restricted with lambda chosen on validation (ridge on the in-band training rows)",
    "valid_only": "Ridge on the validation rows alone, lambda chosen by leave-one-out on them",
    "soft_band": "Soft band: w(y) = exp(-d(y, band)^2 / 2 sigma^2), sigma (years) chosen on validation",
    "label_shift": "Label-shift importance weights p_valid(y) / p_train(y) on 1-year bins, "
    "Gaussian (LDS-style) smoothing width chosen on validation",
    "l2rw": "Learning to Reweight (Ren et al. 2018): per-step weights max(g_i . g_valid, 0), "
    "normalised per batch, on an SGD-trained linear head; step size and epochs chosen on validation",
    "mwnet": "Meta-Weight-Net (Shu et al. 2019): weight = MLP(loss) 1-100-1, learned with the SGD-trained "
    "linear head by alternating meta steps; step size, meta step size and epochs chosen on validation",
}


@dataclass
class AltResult:
    """What a method returns.

    Attributes
    ----------
    name : str
    coef : ndarray (p,), the final head (refitted on ``rows`` with the chosen hyperparameters)
    chosen : dict, the chosen hyperparameters
    valid_mse : float, the validation MSE of the choice (of the ``mt`` fit on ``va``; for
        ``valid_only`` the leave-one-out MSE on ``va``)
    grid : list of (value, valid_mse), every candidate in grid order
    rows : ndarray of int, the rows of the final fit
    weights : ndarray aligned with ``rows``, or None for an unweighted fit
    at_edge : bool, whether a chosen hyperparameter lies at the edge of its grid
    """

    name: str
    coef: np.ndarray
    chosen: dict
    valid_mse: float
    grid: list
    rows: np.ndarray
    weights: np.ndarray | None
    at_edge: bool


# --------------------------------------------------------------------------- shared helpers


#: Every fit here runs torch on one thread (as a decorator or a ``with`` block; restored after).
#: The fits are small; on the two busy cores they were measured 2 (ridge on 7,780 rows) to 100
#: (MW-Net's tiny tensors) times slower with torch's default two threads.
_one_thread = partial(torch_threads, 1)


def _rows(X, y, idx):
    """Rows ``idx`` of X and y as float64 arrays: every access of rows in this module goes here."""
    idx = np.asarray(idx)
    return np.asarray(X[idx], dtype=np.float64), np.asarray(y[idx], dtype=np.float64)


def _mse(X, y, coef) -> float:
    return float(np.mean((X @ coef - y) ** 2))


def distance_to_band(y, low, high) -> np.ndarray:
    """Distance in years from each target (age / 100) to [low, high] (0 inside, 1e-9 tolerance)."""
    years = 100.0 * np.asarray(y, dtype=np.float64)
    d = np.maximum(np.maximum(low - years, years - high), 0.0)
    d[d < 1e-9] = 0.0
    return d


def in_band(y, low, high) -> np.ndarray:
    """Boolean mask of targets (age / 100) whose age lies in [low, high] years (inclusive)."""
    return distance_to_band(y, low, high) == 0.0


def _mean_one(w) -> np.ndarray:
    """Weights rescaled to mean 1 (see the module docstring)."""
    w = np.asarray(w, dtype=np.float64)
    total = w.sum()
    if not total > 0:
        raise ValueError("every weight is zero: no row carries weight in this fit")
    return w * (len(w) / total)


def choose_then_refit(
    name: str,
    names: Sequence[str],
    grid: Sequence,
    score: Callable[[object], float],
    refit: Callable[[object], tuple],
) -> AltResult:
    """The shared protocol: score every grid value, keep the lowest, refit with it.

    Parameters
    ----------
    name : the method's name
    names : the hyperparameters' names; a grid value is a scalar for one name, a tuple for several
    grid : candidate values
    score : value -> validation MSE (of the fit on the meta-training rows); non-finite = rejected
    refit : value -> (coef, rows, weights), the final fit on the training rows
    """
    table = [(value, float(score(value))) for value in grid]
    ok = [k for k, (_, s) in enumerate(table) if np.isfinite(s)]
    if not ok:
        raise ValueError(f"{name}: no hyperparameter value gave a finite validation MSE")
    best = min(ok, key=lambda k: table[k][1])  # min keeps the first on ties
    value, valid_mse = table[best]
    parts = (value,) if len(names) == 1 else tuple(value)
    axes = [[v if len(names) == 1 else v[j] for v, _ in table] for j in range(len(names))]
    at_edge = any(p in (min(ax), max(ax)) for p, ax in zip(parts, axes, strict=True))
    coef, rows, weights = refit(value)
    return AltResult(
        name=name,
        coef=np.asarray(coef, dtype=np.float64),
        chosen=dict(zip(names, parts, strict=True)),
        valid_mse=valid_mse,
        grid=table,
        rows=np.asarray(rows),
        weights=weights,
        at_edge=bool(at_edge),
    )


def _ridge_protocol(name, param, grid, X, y, tr, mt, va, fit, prepare=None):
    """:func:`choose_then_refit` for a ridge family.

    ``prepare(rows)`` (default: the rows of X and y with the row indices) runs once for ``mt`` and
    once for ``tr``; ``fit(prepared, value) -> (coef, fit_rows, weights)``.
    """
    if prepare is None:

        def prepare(rows):
            return (*_rows(X, y, rows), np.asarray(rows))

    Xv, yv = _rows(X, y, va)
    meta = prepare(mt)
    return choose_then_refit(
        name, (param,), grid, score=lambda v: _mse(Xv, yv, fit(meta, v)[0]), refit=lambda v: fit(prepare(tr), v)
    )


# --------------------------------------------------------------------------- 1. Restricted, tuned


@_one_thread()
def restricted_tuned(X, y, tr, mt, va, low, high, lambdas=LAMBDAS) -> AltResult:
    """*Restricted* with its ridge parameter chosen on validation.

    Ridge (unweighted, penalty ``lambda * N_band``) on the in-band rows of ``mt``, one fit per
    lambda of ``lambdas`` (default 1e-5 to 10 in half decades plus 5e-3), scored on ``va``; the
    chosen lambda is refitted on the in-band rows of ``tr``.
    """

    def prepare(rows):
        Xr, yr = _rows(X, y, rows)
        band = in_band(yr, low, high)
        if not band.any():
            raise ValueError("restricted_tuned: no training rows inside the band")
        return Xr[band], yr[band], np.asarray(rows)[band]

    def fit(data, lam):
        Xb, yb, band_rows = data
        return baselines.fit_ridge(Xb, yb, alpha=lam), band_rows, None

    return _ridge_protocol("restricted_tuned", "lambda", lambdas, X, y, tr, mt, va, fit, prepare)


# --------------------------------------------------------------------------- 2. Validation only


def loo_ridge_mse(Xv, yv, lambdas) -> np.ndarray:
    """Leave-one-out MSE of ridge on (Xv, yv) for each lambda, in closed form.

    The penalty is held at ``lambda * n`` (n = len(yv), the convention of the final fit), so the
    fit without row i is ``fit_ridge(X_-i, y_-i, alpha=lambda * n / (n - 1))``.  Then the
    held-out residual is ``r_i / (1 - H_ii)`` with ``H = K (K + lambda n I)^-1``, ``K = X X^T``
    (one eigendecomposition of K serves every lambda; n may be smaller than the column count).
    """
    Xv = np.asarray(Xv, dtype=np.float64)
    yv = np.asarray(yv, dtype=np.float64)
    n = len(yv)
    if n < 2:
        raise ValueError("leave-one-out needs at least two rows")
    s, U = np.linalg.eigh(Xv @ Xv.T)
    s = np.clip(s, 0.0, None)
    Uy = U.T @ yv
    U2 = U**2
    out = []
    for lam in lambdas:
        h = s / (s + lam * n)
        resid = yv - U @ (h * Uy)
        out.append(float(np.mean((resid / (1.0 - U2 @ h)) ** 2)))
    return np.array(out)


@_one_thread()
def valid_only(X, y, va, lambdas=LAMBDAS) -> AltResult:
    """Ridge on the validation rows alone (no training rows at all).

    lambda is chosen from ``lambdas`` (default 1e-5 to 10 in half decades plus 5e-3) by the
    leave-one-out MSE on ``va`` (:func:`loo_ridge_mse`); ``valid_mse`` is that LOO MSE.  The
    final head is ``fit_ridge`` on all of ``va`` with the chosen lambda.
    """
    va = np.asarray(va)
    Xv, yv = _rows(X, y, va)
    loo = dict(zip(lambdas, loo_ridge_mse(Xv, yv, lambdas), strict=True))
    return choose_then_refit(
        "valid_only",
        ("lambda",),
        lambdas,
        score=lambda lam: loo[lam],
        refit=lambda lam: (baselines.fit_ridge(Xv, yv, alpha=lam), va, None),
    )


# --------------------------------------------------------------------------- 3. Soft band


def soft_band_weights(y, low, high, sigma) -> np.ndarray:
    """exp(-d^2 / (2 sigma^2)), d the distance in years to [low, high]; sigma 0 = the band's
    indicator, sigma inf = all ones.  Not yet rescaled."""
    d = distance_to_band(y, low, high)
    if sigma == 0:
        return (d == 0).astype(np.float64)
    if math.isinf(sigma):
        return np.ones_like(d)
    return np.exp(-(d**2) / (2.0 * sigma**2))


@_one_thread()
def soft_band(X, y, tr, mt, va, low, high, sigmas=SIGMAS, alpha=ALPHA) -> AltResult:
    """Soft band weighting: the one-parameter smooth relaxation of *Restricted*.

    w(y) = exp(-d(y, band)^2 / (2 sigma^2)) with d the distance in years to [low, high] (0
    inside), rescaled to mean 1 over the fitted rows; ridge with ``alpha`` (default 5e-3).
    sigma is chosen on validation from ``sigmas`` (default 0.25 to 30 years plus the limits 0 =
    *Restricted* and inf = *All*).
    """

    def fit(data, sigma):
        Xr, yr, rows = data
        w = _mean_one(soft_band_weights(yr, low, high, sigma))
        return baselines.fit_ridge(Xr, yr, w, alpha=alpha), rows, w

    return _ridge_protocol("soft_band", "sigma", sigmas, X, y, tr, mt, va, fit)


# --------------------------------------------------------------------------- 4. Label shift


def _gaussian_smooth(counts, width) -> np.ndarray:
    if width == 0:
        return counts.astype(np.float64)
    radius = max(1, math.ceil(3 * width))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / width) ** 2)
    return np.convolve(counts.astype(np.float64), k / k.sum(), mode="same")


def label_shift_weights(y_fit, y_valid, bin_width=1, width=0.0) -> np.ndarray:
    """Binned density ratio p_valid(y) / p_fit(y) at each row of ``y_fit`` (not yet rescaled).

    Ages (100 y) are binned into ``bin_width``-year bins (floor(age / bin_width)); both
    histograms are normalised to densities and, if ``width`` > 0, convolved with the same
    Gaussian kernel (standard deviation ``width`` bins, truncated at 3 widths; LDS's "effective
    density").  Rows in bins with no (smoothed) validation mass get weight 0.  ``y_fit`` is the
    histogram of the rows being fitted.
    """
    def bins(v):
        return np.floor(np.round(100.0 * np.asarray(v, dtype=np.float64), 6) / bin_width).astype(np.int64)

    bf, bv = bins(y_fit), bins(y_valid)
    pad = max(1, math.ceil(3 * width))
    lo = min(bf.min(), bv.min()) - pad
    size = max(bf.max(), bv.max()) + pad - lo + 1
    pf = _gaussian_smooth(np.bincount(bf - lo, minlength=size) / len(bf), width)
    pv = _gaussian_smooth(np.bincount(bv - lo, minlength=size) / len(bv), width)
    ratio = np.divide(pv, pf, out=np.zeros(size), where=pf > 0)
    return ratio[bf - lo]


@_one_thread()
def label_shift(X, y, tr, mt, va, low, high, bin_width=1, widths=SMOOTHING, alpha=ALPHA) -> AltResult:
    """Importance weighting under label shift, with optional LDS-style smoothing.

    w_i = p_valid(y_i) / p_fit(y_i) on ``bin_width``-year bins (:func:`label_shift_weights`),
    the fit histogram being that of the rows fitted (``mt`` while choosing, ``tr`` at the end);
    zero outside the validation support, rescaled to mean 1; ridge with ``alpha``.  The kernel
    width is chosen on validation from ``widths`` (default 0, 0.5, 1, 2, 4 bins).  ``low`` and
    ``high`` are unused by the weights (the validation rows define the band) and are kept for a
    uniform signature.
    """
    _, yv = _rows(X, y, va)

    def fit(data, width):
        Xr, yr, rows = data
        w = _mean_one(label_shift_weights(yr, yv, bin_width, width))
        return baselines.fit_ridge(Xr, yr, w, alpha=alpha), rows, w

    return _ridge_protocol("label_shift", "width", widths, X, y, tr, mt, va, fit)


# --------------------------------------------------------------------------- SGD methods


def sgd_lr_unit(Xf, kind) -> float:
    """The SGD step-size unit 1 / L of :data:`LR_SCALES`.

    ``kind="row"``: L = 2 max_i ||x_i||^2, a bound on the Hessian of *any* convex combination of
    rows' squared losses, so every L2RW step (whose normalised weights may sit on one row) is
    non-expansive for step sizes up to 2/L.  ``kind="mean"``: L = the largest eigenvalue of
    (2/n) X^T X, the Hessian of the mean loss, which bounds MW-Net's steps on average (its weights
    are at most 1 and averaged over the batch).
    """
    if kind == "row":
        return 1.0 / (2.0 * float(np.max(np.einsum("ij,ij->i", Xf, Xf))))
    if kind == "mean":
        return 1.0 / (2.0 * float(np.linalg.eigvalsh(Xf.T @ Xf)[-1]) / len(Xf))
    raise ValueError(f"unknown step-size unit {kind!r}; choose 'row' or 'mean'")


def _batches(n, batch, epochs, seed):
    """Mini-batch index arrays, epoch by epoch, from one seeded generator (a fresh permutation each
    epoch); a shorter run is a prefix of a longer one."""
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(n)
        yield [order[s:s + batch] for s in range(0, n, batch)]


def l2rw_weights(Xb, yb, Xv, yv, theta) -> np.ndarray:
    """One L2RW step's batch weights at parameters ``theta``.

    g_i = 2 (x_i . theta - y_i) x_i (row i's squared-loss gradient), g_valid = the gradient of the
    validation MSE; w_i = max(g_i . g_valid, 0) normalised to sum 1 (all zero stays all zero).
    """
    g_valid = (2.0 / len(yv)) * (Xv.T @ (Xv @ theta - yv))
    dots = 2.0 * (Xb @ theta - yb) * (Xb @ g_valid)
    w = np.maximum(dots, 0.0)
    total = w.sum()
    return w / total if total > 0 else w


def l2rw_path(Xf, yf, Xv, yv, lr, epochs, *, batch=BATCH, alpha=ALPHA, seed=0):
    """Run L2RW SGD from theta = 0 for max(epochs) epochs.

    Each step: weights by :func:`l2rw_weights` at the current theta, then
    theta <- theta - lr * (sum_i w_i g_i + 2 alpha theta) (the weight decay ``alpha`` is the
    ridge penalty per row; with all weights 0 only the decay acts).

    Returns ``({epoch: theta}, mean_weight)``: theta at each epoch of ``epochs``, and for each row
    its weight averaged over the epochs, times its batch's size (uniform weighting = 1).
    """
    n, p = Xf.shape
    theta = np.zeros(p)
    wsum = np.zeros(n)
    stops = set(epochs)
    out = {}
    for e, batches in enumerate(_batches(n, batch, max(epochs), seed), start=1):
        for b in batches:
            Xb, yb = Xf[b], yf[b]
            w = l2rw_weights(Xb, yb, Xv, yv, theta)
            wsum[b] += w * len(b)
            theta = theta - lr * (2.0 * (Xb.T @ (w * (Xb @ theta - yb))) + 2.0 * alpha * theta)
        if e in stops:
            out[e] = theta.copy()
    return out, wsum / max(epochs)


def _sgd_protocol(name, path, X, y, tr, va, mt, settings, names, epochs):
    """:func:`choose_then_refit` over (setting..., epochs): one run per setting (a tuple whose first
    entry is the step size; names in ``names``) on the choice rows (``mt``, or ``tr`` when ``mt``
    is None), scored at every epoch checkpoint; the final run on ``tr`` goes to the chosen number
    of epochs with the chosen setting.  ``path(Xf, yf, Xv, yv, setting, epochs)`` runs one."""
    tr = np.asarray(tr)
    choice_rows = tr if mt is None else np.asarray(mt)
    Xv, yv = _rows(X, y, va)
    Xc, yc = _rows(X, y, choice_rows)
    runs = {s: path(Xc, yc, Xv, yv, s, epochs)[0] for s in settings}
    grid = [(*s, e) for s in settings for e in epochs]

    def refit(value):
        *s, e = value
        Xt, yt = _rows(X, y, tr)
        thetas, weights = path(Xt, yt, Xv, yv, tuple(s), (e,))
        if not np.all(np.isfinite(thetas[e])):
            raise FloatingPointError(f"{name}: the final run on the training rows diverged")
        return thetas[e], tr, weights

    def score(value):
        *s, e = value
        return _mse(Xv, yv, runs[tuple(s)][e])

    return choose_then_refit(name, (*names, "epochs"), grid, score=score, refit=refit)


def _unit(X, y, tr, mt, kind):
    return sgd_lr_unit(_rows(X, y, tr if mt is None else mt)[0], kind)


@_one_thread()
def l2rw(X, y, tr, va, *, mt=None, lr_scales=LR_SCALES, epochs=EPOCHS, batch=BATCH, alpha=ALPHA, seed=0):
    """Learning to Reweight (Ren et al. 2018) on the linear head.

    SGD from theta = 0 on mini-batches of ``batch`` rows (seeded order, a fresh permutation per
    epoch); at every step the batch weights are recomputed from the alignment of each row's loss
    gradient with the gradient of the MSE on all of ``va`` (:func:`l2rw_weights`), then a real
    step with the weighted loss plus the decay ``alpha`` (:func:`l2rw_path`).  The step size
    (``lr_scales`` x the "row" unit of :func:`sgd_lr_unit`, default 0.1, 0.3, 1) and the number of
    epochs (default 1, 2, 5, 10, 20) are chosen by the validation MSE of runs on ``mt``; the
    final run is on ``tr`` with the same absolute step size (with ``mt`` None, the choice is read
    from the runs on ``tr`` directly).  ``weights`` of the result: each training row's weight in
    the final run, averaged over epochs, times the batch size.
    """
    unit = _unit(X, y, tr, mt, "row")

    def path(Xf, yf, Xv, yv, setting, eps):
        return l2rw_path(Xf, yf, Xv, yv, setting[0], eps, batch=batch, alpha=alpha, seed=seed)

    settings = [(c * unit,) for c in lr_scales]
    return _sgd_protocol("l2rw", path, X, y, tr, va, mt, settings, ("lr",), epochs)


# --------------------------------------------------------------------------- Meta-Weight-Net


def mwnet_init(hidden=100, seed=0) -> list[torch.Tensor]:
    """Parameters [W1 (h, 1), b1 (h,), W2 (1, h), b2 (1,)] of V, float64, drawn like torch's
    ``nn.Linear`` default (uniform +-1/sqrt(fan_in)) from a seeded generator."""
    g = torch.Generator().manual_seed(seed)

    def u(shape, fan_in):
        return (torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1) / math.sqrt(fan_in)

    return [u((hidden, 1), 1), u((hidden,), 1), u((1, hidden), hidden), u((1,), hidden)]


def mwnet_v(losses, params) -> torch.Tensor:
    """V(l; Theta) = sigmoid(W2 relu(W1 l + b1) + b2), one weight per loss."""
    W1, b1, W2, b2 = params
    hidden = torch.relu(losses.unsqueeze(1) @ W1.T + b1)
    return torch.sigmoid(hidden @ W2.T + b2).squeeze(1)


def _pseudo_update(theta, G, losses, params, lr, alpha):
    return theta - lr * ((mwnet_v(losses, params) @ G) / len(losses) + 2.0 * alpha * theta)


def mwnet_meta_gradient(theta, Xb, yb, Xv, yv, params, lr, alpha=ALPHA):
    """Validation MSE after the pseudo-update, and its gradient in Theta.

    theta_hat(Theta) = theta - lr ((1/n) sum_i V(l_i; Theta) g_i + 2 alpha theta), with
    l_i = (x_i . theta - y_i)^2 and g_i = 2 (x_i . theta - y_i) x_i fixed (the losses enter V
    as data, as in Shu et al.); returns (L_valid(theta_hat), [dL/dW1, dL/db1, dL/dW2, dL/db2]).
    """
    params = [p.detach().requires_grad_(True) for p in params]
    r = Xb @ theta - yb
    theta_hat = _pseudo_update(theta, 2.0 * r.unsqueeze(1) * Xb, r**2, params, lr, alpha)
    loss = torch.mean((Xv @ theta_hat - yv) ** 2)
    return loss.detach(), list(torch.autograd.grad(loss, params))


def adam_step(params, grads, state, lr, betas=(0.9, 0.999), eps=1e-8):
    """One Adam step in place (Kingma & Ba, bias-corrected; ``torch.optim.Adam``'s defaults).
    ``state`` is a dict, empty before the first step."""
    b1, b2 = betas
    if not state:
        state.update(t=0, m=[torch.zeros_like(p) for p in params], v=[torch.zeros_like(p) for p in params])
    state["t"] += 1
    t = state["t"]
    with torch.no_grad():
        for p, g, m, v in zip(params, grads, state["m"], state["v"], strict=True):
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            p.sub_(lr * (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt() + eps))


def mwnet_path(Xf, yf, Xv, yv, lr, epochs, *, batch=BATCH, alpha=ALPHA, meta_lr=1e-3, hidden=100, seed=0):
    """Run MW-Net from theta = 0 for max(epochs) epochs.

    Each iteration on a batch: (1) pseudo-update theta_hat(Theta); (2) one Adam step (``meta_lr``,
    as in Shu et al.'s code, without their weight decay) on Theta with the gradient of the
    validation MSE at theta_hat (:func:`mwnet_meta_gradient`); (3) the real step
    theta <- theta - lr ((1/n) sum_i V(l_i; Theta_new) g_i + 2 alpha theta).

    Returns ``({epoch: theta}, weights)``: theta at each epoch of ``epochs``, and V(l_i; Theta) of
    every row at the end of the run.
    """
    with _one_thread():
        Xf, yf, Xv, yv = (torch.as_tensor(a, dtype=torch.float64) for a in (Xf, yf, Xv, yv))
        theta = torch.zeros(Xf.shape[1], dtype=torch.float64)
        params = mwnet_init(hidden, seed)
        state = {}
        stops = set(epochs)
        out = {}
        for e, batches in enumerate(_batches(len(yf), batch, max(epochs), seed), start=1):
            for b in batches:
                b = torch.as_tensor(b)
                Xb, yb = Xf[b], yf[b]
                _, grads = mwnet_meta_gradient(theta, Xb, yb, Xv, yv, params, lr, alpha)
                adam_step(params, grads, state, meta_lr)
                with torch.no_grad():
                    r = Xb @ theta - yb
                    theta = _pseudo_update(theta, 2.0 * r.unsqueeze(1) * Xb, r**2, params, lr, alpha)
            if e in stops:
                out[e] = theta.numpy().copy()
        with torch.no_grad():
            weights = mwnet_v((Xf @ theta - yf) ** 2, params).numpy()
    return out, weights


@_one_thread()
def mwnet(
    X, y, tr, va, *, mt=None, lr_scales=LR_SCALES, meta_lrs=META_LRS, epochs=EPOCHS, batch=BATCH, alpha=ALPHA,
    hidden=100, seed=0,
):
    """Meta-Weight-Net (Shu et al. 2019) on the linear head.

    V(loss; Theta), an MLP 1 -> ``hidden`` (100) -> 1 with ReLU and a sigmoid output (torch,
    float64), learned with the head by alternating steps (:func:`mwnet_path`): SGD from
    theta = 0 on seeded mini-batches of ``batch`` rows, the validation loss on all of ``va``,
    Theta by Adam.  The step size (``lr_scales`` x the "mean" unit of :func:`sgd_lr_unit`,
    default 0.1, 0.3, 1), Adam's step ``meta_lr`` (default 1e-3, 1e-2) and the number of epochs
    (default 1, 2, 5, 10, 20) are chosen by the validation MSE of runs on ``mt``; the final run
    is on ``tr`` (with ``mt`` None, the choice is read from the runs on ``tr``).  ``weights`` of
    the result: V(l_i) of each training row at the end of the final run.
    """
    unit = _unit(X, y, tr, mt, "mean")

    def path(Xf, yf, Xv, yv, setting, eps):
        lr, meta_lr = setting
        return mwnet_path(Xf, yf, Xv, yv, lr, eps, batch=batch, alpha=alpha, meta_lr=meta_lr, hidden=hidden,
                          seed=seed)

    settings = [(c * unit, m) for c in lr_scales for m in meta_lrs]
    return _sgd_protocol("mwnet", path, X, y, tr, va, mt, settings, ("lr", "meta_lr"), epochs)


# --------------------------------------------------------------------------- all of them


@_one_thread()
def run_alternatives(X, y, tr, mt, va, te, low, high, seed=0) -> dict:
    """Run every method of :data:`ALTERNATIVES` on one split with the default grids.

    ``te`` is used only here, after every fit and choice: ``test_pred = X[te] @ coef``.
    Returns name -> {"test_pred", "valid_mse", "chosen", "coef", "result" (the :class:`AltResult`)}.
    """
    results = {
        "restricted_tuned": restricted_tuned(X, y, tr, mt, va, low, high),
        "valid_only": valid_only(X, y, va),
        "soft_band": soft_band(X, y, tr, mt, va, low, high),
        "label_shift": label_shift(X, y, tr, mt, va, low, high),
        "l2rw": l2rw(X, y, tr, va, mt=mt, seed=seed),
        "mwnet": mwnet(X, y, tr, va, mt=mt, seed=seed),
    }
    X_test = np.asarray(X[np.asarray(te)], dtype=np.float64)
    return {
        name: {"test_pred": X_test @ r.coef, "valid_mse": r.valid_mse, "chosen": r.chosen, "coef": r.coef, "result": r}
        for name, r in results.items()
    }
