"""Peer re-weighting methods on a split's fixed features, for the comparison chapter.

Each method fits a linear head on the design matrix ``X`` (400 CNN features and a constant
column) and the targets ``y`` (age / 100) of one split.  The methods are defined in
``shared/PEERS.md``; here they are adapted to our setting.

Row sets (integer indices into ``X`` and ``y``):

``tr``  every training row (all non-test rows; validation rows included)
``mt``  the meta-training rows: ``tr`` minus the whole validation *block*
``va``  the validation rows (the validation block inside the target band)

Test rows never enter this module's fitting or choosing functions; only
:func:`run_alternatives` and :func:`run_control` receive them, and use them once, at the very
end, for ``X[te] @ coef``.

The protocol, shared by every method (:func:`choose_then_refit`): each hyperparameter value of a
small grid is fitted on ``mt`` and scored by the MSE on ``va``; the value with the lowest
validation MSE (first in grid order on ties) is refitted on all of ``tr``.  The one exception is
:func:`valid_only`, whose rows *are* the validation rows: it chooses by leave-one-out.  L2RW and
MW-Net also use ``va`` inside training, as their meta set (as the paper's method does), in the
choice runs on ``mt`` and in the final run on ``tr``.

The SGD heads (L2RW, MW-Net and their convergence control, :func:`sgd_restricted`) share one
loop, :func:`momentum_sgd`: heavy ball 0.9 as in both references, a cosine step-size schedule
over 100 epochs with checkpoints at 10, 25, 50 and 100, five step sizes, and the same grid
(:func:`_sgd_family`).  The control runs that loop on *Restricted*'s weighted loss, whose
minimiser is known in closed form: it shows what the optimiser reaches.  The peers choose their
setting on validation; the control chooses by the objective it minimises (:func:`sgd_restricted`),
because its question is whether the loop converges, not which head generalises.  Each peer also has a
closed-form variant: its row weights of the last epoch, refitted by weighted ridge.

Every default grid is small: one split of 7,780 meta-training rows x 401 columns runs every
method of :data:`ALTERNATIVES` in about 40 s and the control in about 5 s on one thread of the
two busy cores of the reference machine (split 0; MW-Net takes about 60% of it).

Ridge fits all go through :func:`metareweight.baselines.fit_ridge` (penalty convention ``"n"``:
``alpha * N`` on the diagonal, N the number of rows of the fit, constant column penalised).
Weighted fits rescale their weights to mean 1 over the rows of the fit, so that the penalty
``alpha * N`` meets the same total weight as in *All* and *Restricted*.  (This is the
``"sum_w"`` convention written with ``"n"``.)  It makes the weighted families reach their
limits exactly: a weighting that is constant on the band and zero elsewhere gives *Restricted*,
and constant weights give *All*.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from . import baselines
from .solver import torch_threads

ALPHA = 5e-3
"""The paper's ridge parameter, used wherever lambda is not itself the hyperparameter."""

LAMBDAS = tuple(sorted({float(f"{v:.3g}") for v in np.logspace(-5, 1, 13)} | {ALPHA}))
"""lambda grid: 1e-5 to 10 in half decades, plus the paper's 5e-3 (14 values)."""

SIGMAS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, math.inf)
"""Soft-band widths in years; 0 is *Restricted* exactly and inf is *All* exactly."""

DIR_WINDOWS = ("gaussian", "triangular", "laplace")
"""The LDS kernel windows of DIR (Yang et al. 2021, :func:`dir_window`)."""
DIR_KS, DIR_SIGMA = 5, 2.0
"""DIR's default window size (taps) and sigma."""

SMOOTHING = (0.0, 0.5, 1.0, 2.0, 4.0, *DIR_WINDOWS)
"""Label-shift smoothing options: Gaussian widths in bins (standard deviation; 0 = no smoothing)
and DIR's three windows (5 taps, sigma 2)."""

LR_SCALES = (1e-4, 1e-3, 1e-2, 0.1, 1.0)
"""SGD step sizes as fractions of a unit 1/L computed on the rows of the choice run
(:func:`sgd_lr_unit`), one grid for every SGD head and the control.  On split 0's features the
control diverges at 2 units and reaches *Restricted* at 0.1 to 1; the peers do best on
validation at 1e-3 (their heads barely leave the level of the targets)."""

MOMENTUM = 0.9
"""Heavy-ball momentum of every SGD head (Ren et al. and Shu et al. both train with 0.9)."""

META_LRS = (1e-3, 1e-2)
"""MW-Net's Adam step sizes for the weight net (Shu et al. use 1e-3; our squared losses on the
age/100 scale are small inputs, so a ten times larger step is also tried)."""

EPOCHS = (10, 25, 50, 100)
"""SGD checkpoints (epochs) of one run per setting, whose cosine schedule spans the last."""

BATCH = 100

CONTROL_TOLERANCE = 0.05
"""The control passes on a split when its test MSE is within this share of *Restricted*'s."""

ALTERNATIVES = {
    "restricted_tuned": "Restricted with lambda chosen on validation (ridge on the in-band training rows)",
    "valid_only": "Ridge on the validation rows alone, lambda chosen by leave-one-out on them",
    "soft_band": "Soft band: w(y) = exp(-d(y, band)^2 / 2 sigma^2), sigma (years) chosen on validation",
    "label_shift": "Label-shift importance weights: a smoothed density ratio p_valid(y) / p_train(y) on "
    "1-year bins, the smoothing (Gaussian widths or DIR's windows) chosen on validation",
    "lds_inverse": "DIR's label distribution smoothing (Yang et al. 2021): weights 1 / (smoothed square root of "
    "the training label counts), Gaussian window of 5 bins, sigma 2; balances all ages, not band-specific",
    "l2rw": "Learning to Reweight (Ren et al. 2018): per-step weights max(g_i . g_valid, 0), "
    "normalised per batch, on a linear head trained by SGD with momentum; step size and epochs chosen on validation",
    "l2rw_closed_form": "Learning to Reweight, closed form: its row weights of the last epoch, refitted by "
    "weighted ridge; step size and epochs chosen on validation",
    "mwnet": "Meta-Weight-Net (Shu et al. 2019): weight = MLP(loss) 1-100-1, learned with the linear head "
    "(SGD with momentum) by alternating meta steps; step size, meta step size and epochs chosen on validation",
    "mwnet_closed_form": "Meta-Weight-Net, closed form: its row weights of the last epoch, refitted by weighted "
    "ridge; step size, meta step size and epochs chosen on validation",
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
    edges : dict, each hyperparameter -> "low" or "high" (the chosen value is the smallest or
        largest number of its axis) or None (inside, categorical, or an axis of one value)
    """

    name: str
    coef: np.ndarray
    chosen: dict
    valid_mse: float
    grid: list
    rows: np.ndarray
    weights: np.ndarray | None
    at_edge: bool
    edges: dict


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


def _edge(chosen, axis) -> str | None:
    """"low" / "high" when ``chosen`` is the smallest / largest number of ``axis`` (a grid axis of
    two or more distinct numbers; text values such as window names are never at an edge)."""
    numbers = {v for v in axis if isinstance(v, int | float) and not isinstance(v, bool)}
    if len(numbers) < 2 or chosen not in numbers:
        return None
    return "low" if chosen == min(numbers) else ("high" if chosen == max(numbers) else None)


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
    edges = {n: _edge(p, ax) for n, p, ax in zip(names, parts, axes, strict=True)}
    coef, rows, weights = refit(value)
    return AltResult(
        name=name,
        coef=np.asarray(coef, dtype=np.float64),
        chosen=dict(zip(names, parts, strict=True)),
        valid_mse=valid_mse,
        grid=table,
        rows=np.asarray(rows),
        weights=weights,
        at_edge=any(e is not None for e in edges.values()),
        edges=edges,
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


def dir_window(kernel, ks=DIR_KS, sigma=DIR_SIGMA) -> np.ndarray:
    """DIR's LDS kernel window (Yang et al. 2021, ``get_lds_kernel_window``), written here from its
    definition: ``ks`` taps (odd), peak 1.

    ``"gaussian"``: a length-``ks`` delta filtered by a Gaussian of std ``sigma`` the way scipy's
    ``gaussian_filter1d`` does by default (taps out to ``int(4 sigma + 0.5)``, normalised to sum 1,
    the signal extended by half-sample reflection), then divided by its maximum: with ks = 5 and
    sigma = 2 the reflections fold most of the Gaussian back in, and the window is nearly a box
    (0.86, 0.95, 1, 0.95, 0.86).  ``"triangular"``: scipy's ``triang(ks)``, 2k / (ks + 1) for k = 1 .. (ks + 1) / 2
    and back down.  ``"laplace"``: exp(-|x| / sigma) for x = -(ks - 1)/2 .. (ks - 1)/2 (peak 1).
    """
    if ks < 1 or ks % 2 == 0:
        raise ValueError(f"dir_window: ks must be odd and positive, got {ks}")
    half = (ks - 1) // 2
    x = np.arange(-half, half + 1, dtype=np.float64)
    if kernel == "gaussian":
        radius = int(4.0 * sigma + 0.5)
        taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
        taps /= taps.sum()
        period = np.arange(-radius, ks + radius) % (2 * ks)  # half-sample reflection, period 2 ks
        extended = (np.where(period < ks, period, 2 * ks - 1 - period) == half).astype(np.float64)
        window = np.convolve(extended, taps, mode="valid")
    elif kernel == "triangular":
        rise = 2.0 * np.arange(1, half + 2) / (ks + 1)
        window = np.concatenate([rise, rise[-2::-1]])
    elif kernel == "laplace":
        window = np.exp(-np.abs(x) / sigma)
    else:
        raise ValueError(f"unknown DIR window {kernel!r}; choose one of {DIR_WINDOWS}")
    return window / window.max()


def _smoothing_kernel(smoothing) -> np.ndarray:
    """The kernel of a label-shift smoothing option: a width (Gaussian std in bins, truncated at 3
    widths, sum 1; 0 = none) or a DIR window name (:func:`dir_window`)."""
    if isinstance(smoothing, str):
        return dir_window(smoothing)
    if smoothing == 0:
        return np.ones(1)
    radius = max(1, math.ceil(3 * smoothing))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / smoothing) ** 2)
    return k / k.sum()


def _age_bins(y, bin_width=1) -> np.ndarray:
    """floor(age / bin_width) of targets on the age/100 scale (rounded first: 0.21 * 100 is 21)."""
    return np.floor(np.round(100.0 * np.asarray(y, dtype=np.float64), 6) / bin_width).astype(np.int64)


def label_shift_weights(y_fit, y_valid, bin_width=1, width=0.0) -> np.ndarray:
    """Binned density ratio p_valid(y) / p_fit(y) at each row of ``y_fit`` (not yet rescaled).

    Ages (100 y) are binned into ``bin_width``-year bins (floor(age / bin_width)); both
    histograms are normalised to densities and convolved (zero outside the histogram) with the
    same kernel: ``width`` is a Gaussian standard deviation in bins (truncated at 3 widths; 0 =
    no smoothing) or the name of one of DIR's windows (:data:`DIR_WINDOWS`, :func:`dir_window`;
    their peak-1 scale cancels in the ratio).  Rows in bins with no (smoothed) validation mass get
    weight 0.  ``y_fit`` is the histogram of the rows being fitted.
    """
    kernel = _smoothing_kernel(width)
    bf, bv = _age_bins(y_fit, bin_width), _age_bins(y_valid, bin_width)
    pad = len(kernel) // 2
    lo = min(bf.min(), bv.min()) - pad
    size = max(bf.max(), bv.max()) + pad - lo + 1
    pf, pv = (np.convolve(np.bincount(b - lo, minlength=size) / len(b), kernel, mode="same") for b in (bf, bv))
    ratio = np.divide(pv, pf, out=np.zeros(size), where=pf > 0)
    return ratio[bf - lo]


@_one_thread()
def label_shift(X, y, tr, mt, va, bin_width=1, widths=SMOOTHING, alpha=ALPHA) -> AltResult:
    """Importance weighting under label shift: a smoothed density ratio.

    w_i = p_valid(y_i) / p_fit(y_i) on ``bin_width``-year bins (:func:`label_shift_weights`),
    the fit histogram being that of the rows fitted (``mt`` while choosing, ``tr`` at the end);
    zero outside the validation support, rescaled to mean 1; ridge with ``alpha``.  The smoothing
    is chosen on validation from ``widths`` (default Gaussian widths 0, 0.5, 1, 2, 4 bins and DIR's
    three windows, 5 taps, sigma 2).  The validation rows define the band.
    """
    _, yv = _rows(X, y, va)

    def fit(data, width):
        Xr, yr, rows = data
        w = _mean_one(label_shift_weights(yr, yv, bin_width, width))
        return baselines.fit_ridge(Xr, yr, w, alpha=alpha), rows, w

    return _ridge_protocol("label_shift", "width", widths, X, y, tr, mt, va, fit)


# --------------------------------------------------------------------------- 5. DIR's LDS


def lds_inverse_weights(y_fit, kernel="gaussian", ks=DIR_KS, sigma=DIR_SIGMA) -> np.ndarray:
    """DIR's LDS re-weighting with its defaults (``reweight="sqrt_inv"``, ``lds=True``; Yang et al.
    2021), not yet rescaled: on 1-year bins of the ages (100 y), the square roots of the bin counts
    are convolved with :func:`dir_window` (zero outside the histogram) and each row gets 1 / the
    smoothed value of its bin.  (DIR's code takes the square root *before* smoothing, as here; its
    final rescaling to mean 1 is :func:`_mean_one`'s.)  Every row's own bin has a count, so every
    weight is finite and positive.
    """
    bins = _age_bins(y_fit)
    window = dir_window(kernel, ks, sigma)
    pad = len(window) // 2
    lo = bins.min() - pad
    root = np.sqrt(np.bincount(bins - lo, minlength=bins.max() + pad - lo + 1).astype(np.float64))
    return 1.0 / np.convolve(root, window, mode="same")[bins - lo]


@_one_thread()
def lds_inverse(X, y, tr, mt, va, low, high, kernels=("gaussian",), alpha=ALPHA) -> AltResult:
    """DIR's own inverse-density LDS weighting (:func:`lds_inverse_weights`) on every training row,
    rescaled to mean 1, ridge with ``alpha``.  It balances the whole age range: it knows nothing of
    the band (``low`` and ``high`` are unused) nor of the validation rows.  The window is DIR's
    default (Gaussian, 5 taps, sigma 2) unless ``kernels`` offers more; its ``valid_mse`` is the fit
    on ``mt`` scored on ``va``, like every other method's.
    """

    def fit(data, kernel):
        Xr, yr, rows = data
        w = _mean_one(lds_inverse_weights(yr, kernel))
        return baselines.fit_ridge(Xr, yr, w, alpha=alpha), rows, w

    return _ridge_protocol("lds_inverse", "window", kernels, X, y, tr, mt, va, fit)


# --------------------------------------------------------------------------- SGD heads


def sgd_lr_unit(Xf, kind="mean") -> float:
    """The SGD step-size unit 1 / L of :data:`LR_SCALES`.

    ``kind="mean"`` (used by every SGD head): L = the largest eigenvalue of (2/n) X^T X, the
    Hessian of the mean squared loss on the rows ``Xf``.  ``kind="row"``: L = 2 max_i ||x_i||^2,
    a bound on the Hessian of *any* convex combination of rows' squared losses.
    """
    if kind == "row":
        return 1.0 / (2.0 * float(np.max(np.einsum("ij,ij->i", Xf, Xf))))
    if kind == "mean":
        return 1.0 / (2.0 * float(np.linalg.eigvalsh(Xf.T @ Xf)[-1]) / len(Xf))
    raise ValueError(f"unknown step-size unit {kind!r}; choose 'row' or 'mean'")


def _batches(n, batch, epochs, seed):
    """Mini-batch index arrays, epoch by epoch, from one seeded generator (a fresh permutation each
    epoch); a shorter run's batches are a prefix of a longer one's."""
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(n)
        yield [order[s:s + batch] for s in range(0, n, batch)]


def cosine_rate(lr, step, total) -> float:
    """The step size of step ``step`` (0-based) of ``total``: lr (1 + cos(pi step / total)) / 2."""
    return 0.5 * lr * (1.0 + math.cos(math.pi * step / total))


def momentum_sgd(Xf, yf, weigh, lr, epochs, *, schedule=None, batch=BATCH, alpha=ALPHA, momentum=MOMENTUM, seed=0):
    """The one SGD loop of every SGD head (the control, L2RW, MW-Net), from theta = 0 on seeded
    mini-batches of ``batch`` rows (:func:`_batches`), with checkpoints at the epochs ``epochs``.

    Each step: the batch's row weights ``w = weigh(b, Xb, r, theta, rate)`` (``b`` the batch's
    indices into ``Xf``, ``r = Xb theta - yb`` its residuals, ``rate`` this step's step size),
    the gradient g = (2/|b|) Xb^T (w * r) + 2 alpha theta of the weighted batch loss plus the decay
    ``alpha`` (the ridge penalty per unit weight), then heavy ball as ``torch.optim.SGD`` takes it
    (no dampening, no Nesterov): v <- momentum v + g, theta <- theta - rate v.

    The rate follows a cosine from ``lr`` to 0 over ``schedule`` epochs (default max(epochs);
    :func:`cosine_rate`).  Cosine rather than the references' step decays (by 10 at fixed epochs):
    it leaves no plateau of a tenth or a hundredth of the rate at the end, whose gradient noise
    keeps the last iterate off the optimum; on split 0's features the control, run for 100 epochs,
    came 4 times closer to *Restricted*'s coefficients with it (4% against 16%).  The last
    checkpoint is the annealed end; earlier ones are early stops of the same run, so a shorter
    run (with the same ``schedule``) is a prefix of a longer one.

    Returns {epoch: (theta, weights)}: the head at each checkpoint (all nan from the epoch in which
    it overflowed; the run then stops) and each row's weight in the epoch that ends there (a row is
    visited once an epoch).
    """
    n, p = Xf.shape
    stops, schedule = sorted(set(epochs)), schedule or max(epochs)
    theta, velocity, seen = np.zeros(p), np.zeros(p), np.zeros(n)
    total, step, out = schedule * math.ceil(n / batch), 0, {}
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch, batches in enumerate(_batches(n, batch, stops[-1], seed), start=1):
            for b in batches:
                Xb = Xf[b]
                r = Xb @ theta - yf[b]
                rate = cosine_rate(lr, step, total)
                w = weigh(b, Xb, r, theta, rate)
                velocity = momentum * velocity + (2.0 / len(b)) * (Xb.T @ (w * r)) + 2.0 * alpha * theta
                theta = theta - rate * velocity
                seen[b] = w
                step += 1
            if not np.all(np.isfinite(theta)):  # diverged: the checkpoints left are nan
                return {**out, **{e: (np.full(p, np.nan), np.full(n, np.nan)) for e in stops if e >= epoch}}
            if epoch in stops:
                out[epoch] = (theta.copy(), seen.copy())
    return out


def _sgd_family(name, path, X, y, tr, va, mt, settings, names, epochs, alpha, closed_form=True, objective=None):
    """:func:`choose_then_refit` for an SGD head and for its closed-form variant, over
    (setting..., epochs): ``path(Xf, yf, Xv, yv, setting, epochs) -> {epoch: (theta, weights)}``
    runs one setting (a tuple whose first entry is the step size; names in ``names``) with
    checkpoints at ``epochs``, its schedule spread over max(``epochs``).

    Both are scored on ``va`` from the same runs on the choice rows (``mt``, or ``tr`` when ``mt``
    is None): the head theta itself, and ``fit_ridge`` on the run's rows with the weights of the
    checkpoint's last epoch rescaled to mean 1 (penalty ``alpha``).  Each final fit reruns the
    chosen setting on ``tr`` up to the chosen checkpoint (the same schedule; one run when both
    choose the same).  Returns (head result, closed-form result, or None with ``closed_form``
    False).

    With ``objective(Xf, yf, theta)``, the heads are scored by it on the choice rows instead of by
    the validation MSE (the control's choice; ``valid_mse`` then holds that objective).
    """
    tr = np.asarray(tr)
    Xv, yv = _rows(X, y, va)
    rows = {"choice": tr if mt is None else np.asarray(mt), "final": tr}
    data, runs = {}, {}

    def run(which, setting, e):
        """((Xf, yf), (theta, weights)) of ``setting`` at epoch ``e`` on the ``which`` rows."""
        which = "choice" if mt is None else which
        data.setdefault(which, _rows(X, y, rows[which]))
        if (which, setting) not in runs or e not in runs[which, setting]:
            stops = epochs if which == "choice" else (e,)
            runs.setdefault((which, setting), {}).update(path(*data[which], Xv, yv, setting, stops))
        return data[which], runs[which, setting][e]

    def head(which, value):
        *s, e = value
        return run(which, tuple(s), e)[1]

    def refitted(which, value):
        *s, e = value
        (Xf, yf), (_, w) = run(which, tuple(s), e)
        if not (np.all(np.isfinite(w)) and w.sum() > 0):
            return None, None
        w = _mean_one(w)
        return baselines.fit_ridge(Xf, yf, w, alpha=alpha), w

    def final(theta, weights):
        if theta is None or not np.all(np.isfinite(theta)):
            raise FloatingPointError(f"{name}: the final run on the training rows diverged")
        return theta, tr, weights

    def score(coef):
        return float("nan") if coef is None or not np.all(np.isfinite(coef)) else _mse(Xv, yv, coef)

    grid = [(*s, e) for s in settings for e in epochs]
    names = (*names, "epochs")
    def head_score(value):
        if objective is None:
            return score(head("choice", value)[0])
        (Xf, yf), (theta, _) = run("choice", tuple(value[:-1]), value[-1])
        return float(objective(Xf, yf, theta)) if np.all(np.isfinite(theta)) else float("nan")

    heads = choose_then_refit(name, names, grid, score=head_score,
                              refit=lambda v: final(*head("final", v)))
    if not closed_form:
        return heads, None
    closed = choose_then_refit(f"{name}_closed_form", names, grid, score=lambda v: score(refitted("choice", v)[0]),
                               refit=lambda v: final(*refitted("final", v)))
    return heads, closed


def _settings(X, y, tr, mt, lr_scales, *more):
    """Absolute step sizes (``lr_scales`` x :func:`sgd_lr_unit` of the choice rows), crossed with
    the value lists ``more``: the settings of an SGD family."""
    unit = sgd_lr_unit(_rows(X, y, tr if mt is None else mt)[0])
    return list(itertools.product([c * unit for c in lr_scales], *more))


# --------------------------------------------------------------------------- the control


@_one_thread()
def sgd_restricted(X, y, tr, va, low, high, *, mt=None, lr_scales=LR_SCALES, epochs=EPOCHS, batch=BATCH,
                   alpha=ALPHA, seed=0) -> AltResult:
    """The convergence control of the SGD heads: :func:`momentum_sgd` with *Restricted*'s weights.

    The weights are 1 on the in-band rows of the fit and 0 elsewhere, rescaled to mean 1, so the
    objective is (1/N_band) sum_band (x . theta - y)^2 + alpha ||theta||^2, whose minimiser is
    *Restricted* in closed form (``fit_ridge`` on the in-band rows, penalty ``alpha``).  Every
    other choice is the SGD heads': the same batches, momentum, schedule, step-size grid and epoch
    grid (:func:`_sgd_family`).  The setting is chosen by that objective on the choice rows, not
    by the validation MSE: the control asks whether the loop reaches the optimum.  Chosen on
    validation, it picked an under-trained head where the validation MSEs of the settings differ by
    about 2% (split 4 with 0-255 pixels: 1e-3 units, whose head's test MSE is 13% above
    *Restricted*'s, while 0.1 units reach within 0.3% of it).
    """

    def objective(Xf, yf, theta):
        w = _mean_one(in_band(yf, low, high).astype(np.float64))
        return float(np.mean(w * (Xf @ theta - yf) ** 2) + alpha * (theta @ theta))

    def path(Xf, yf, Xv, yv, setting, stops):
        w = _mean_one(in_band(yf, low, high).astype(np.float64))
        return momentum_sgd(Xf, yf, lambda b, *_: w[b], setting[0], stops, schedule=max(epochs), batch=batch,
                            alpha=alpha, seed=seed)

    settings = _settings(X, y, tr, mt, lr_scales)
    return _sgd_family("sgd_restricted", path, X, y, tr, va, mt, settings, ("lr",), epochs, alpha, False,
                       objective=objective)[0]


# --------------------------------------------------------------------------- L2RW


def _alignment_weights(Xb, r, g_valid) -> np.ndarray:
    """max(g_i . g_valid, 0) for g_i = 2 r_i x_i, normalised to sum 1 (all zero stays all zero)."""
    w = np.maximum(2.0 * r * (Xb @ g_valid), 0.0)
    total = w.sum()
    return w / total if total > 0 else w


def _valid_gradient(Xv, yv, theta) -> np.ndarray:
    return (2.0 / len(yv)) * (Xv.T @ (Xv @ theta - yv))


def l2rw_weights(Xb, yb, Xv, yv, theta) -> np.ndarray:
    """One L2RW step's batch weights at parameters ``theta``.

    g_i = 2 (x_i . theta - y_i) x_i (row i's squared-loss gradient), g_valid = the gradient of the
    validation MSE; w_i = max(g_i . g_valid, 0) normalised to sum 1 (all zero stays all zero).
    """
    return _alignment_weights(Xb, Xb @ theta - yb, _valid_gradient(Xv, yv, theta))


def l2rw_path(Xf, yf, Xv, yv, lr, epochs, *, schedule=None, batch=BATCH, alpha=ALPHA, seed=0):
    """One L2RW run of :func:`momentum_sgd`: at every step the batch weights are
    :func:`l2rw_weights` at the current theta, times the batch size (uniform weighting = 1), so
    the step follows sum_i w_i g_i + 2 alpha theta (with all weights 0 only the decay acts).
    Returns {epoch: (theta, weights)} as :func:`momentum_sgd`."""

    def weigh(b, Xb, r, theta, rate):
        return len(b) * _alignment_weights(Xb, r, _valid_gradient(Xv, yv, theta))

    return momentum_sgd(Xf, yf, weigh, lr, epochs, schedule=schedule, batch=batch, alpha=alpha, seed=seed)


@_one_thread()
def l2rw(X, y, tr, va, *, mt=None, lr_scales=LR_SCALES, epochs=EPOCHS, batch=BATCH, alpha=ALPHA, seed=0,
         closed_form=False, both=False):
    """Learning to Reweight (Ren et al. 2018) on the linear head.

    :func:`momentum_sgd` (heavy ball 0.9, cosine schedule) with the batch weights recomputed at
    every step from the alignment of each row's loss gradient with the gradient of the MSE on all
    of ``va`` (:func:`l2rw_path`).  The step size (``lr_scales`` x :func:`sgd_lr_unit`) and the
    checkpoint (``epochs``; the schedule spans the last) are chosen by the validation MSE of runs
    on ``mt``; the final run is on ``tr`` with the same absolute step size and schedule, to the
    chosen checkpoint (with ``mt`` None, the choice is read from the runs on ``tr`` directly).
    ``weights`` of the result: each training row's weight in the last epoch of the final run,
    times the batch size.

    ``closed_form=True`` returns the closed-form variant instead (``fit_ridge`` with those last
    epoch's weights rescaled to mean 1, chosen on validation in its own right); ``both=True``
    returns (head, closed form) from the same runs.
    """

    def path(Xf, yf, Xv, yv, setting, stops):
        return l2rw_path(Xf, yf, Xv, yv, setting[0], stops, schedule=max(epochs), batch=batch, alpha=alpha,
                         seed=seed)

    out = _sgd_family("l2rw", path, X, y, tr, va, mt, _settings(X, y, tr, mt, lr_scales), ("lr",), epochs, alpha)
    return out if both else out[bool(closed_form)]


# --------------------------------------------------------------------------- Meta-Weight-Net


def mwnet_init(hidden=100, seed=0) -> list[np.ndarray]:
    """Parameters [W1 (h, 1), b1 (h,), W2 (1, h), b2 (1,)] of V, float64, drawn like torch's
    ``nn.Linear`` default (uniform +-1/sqrt(fan_in)) from a seeded torch generator."""
    g = torch.Generator().manual_seed(seed)

    def u(shape, fan_in):
        return ((torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1) / math.sqrt(fan_in)).numpy()

    return [u((hidden, 1), 1), u((hidden,), 1), u((1, hidden), hidden), u((1,), hidden)]


def _mwnet_forward(losses, params):
    W1, b1, W2, b2 = params
    pre = losses[:, None] * W1[:, 0] + b1
    hidden = np.maximum(pre, 0.0)
    return pre, hidden, 1.0 / (1.0 + np.exp(-(hidden @ W2[0] + b2[0])))


def mwnet_v(losses, params) -> np.ndarray:
    """V(l; Theta) = sigmoid(W2 relu(W1 l + b1) + b2), one weight per loss."""
    return _mwnet_forward(np.asarray(losses, dtype=np.float64), params)[2]


def _meta_gradient(Xb, r, theta, Xv, yv, params, lr, alpha):
    """:func:`mwnet_meta_gradient` from the batch residuals ``r``; the gradients flat, in the
    order of :func:`mwnet_init`'s parameters."""
    W1, b1, W2, b2 = params
    losses = r * r
    pre, hidden, v = _mwnet_forward(losses, params)
    theta_hat = theta - lr * ((2.0 / len(r)) * (Xb.T @ (v * r)) + 2.0 * alpha * theta)
    rv = Xv @ theta_hat - yv
    g_valid = (2.0 / len(rv)) * (Xv.T @ rv)
    dz = (-2.0 * lr / len(r)) * r * (Xb @ g_valid) * v * (1.0 - v)  # dL/dV_i times V_i (1 - V_i)
    dpre = (dz[:, None] * W2[0]) * (pre > 0)
    flat = np.concatenate([losses @ dpre, dpre.sum(0), dz @ hidden, [dz.sum()]])
    return float(np.mean(rv * rv)), flat


def mwnet_meta_gradient(theta, Xb, yb, Xv, yv, params, lr, alpha=ALPHA):
    """Validation MSE after the pseudo-update, and its gradient in Theta (by hand; numpy).

    theta_hat(Theta) = theta - lr ((1/n) sum_i V(l_i; Theta) g_i + 2 alpha theta), with
    l_i = (x_i . theta - y_i)^2 (on the age/100 scale, as every loss here) and
    g_i = 2 (x_i . theta - y_i) x_i fixed (the losses enter V as data, as in Shu et al.); returns
    (L_valid(theta_hat), [dL/dW1, dL/db1, dL/dW2, dL/db2]).  dL/dV_i = -(lr/n) g_i . grad
    L_valid(theta_hat), then back through the sigmoid and the ReLU.
    """
    loss, flat = _meta_gradient(Xb, Xb @ theta - yb, theta, Xv, yv, params, lr, alpha)
    cuts = np.cumsum([p.size for p in params])[:-1]
    return loss, [g.reshape(p.shape) for g, p in zip(np.split(flat, cuts), params, strict=True)]


def adam_step(params, grads, state, lr, betas=(0.9, 0.999), eps=1e-8):
    """One Adam step in place on numpy arrays (Kingma & Ba, bias-corrected; ``torch.optim.Adam``'s
    defaults).  ``state`` is a dict, empty before the first step."""
    b1, b2 = betas
    if not state:
        state.update(t=0, m=[np.zeros_like(p) for p in params], v=[np.zeros_like(p) for p in params])
    state["t"] += 1
    t = state["t"]
    for p, g, m, v in zip(params, grads, state["m"], state["v"], strict=True):
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        p -= lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)


def _flat_views(params):
    """One flat float64 vector holding ``params``, and the parameters as views into it."""
    flat = np.concatenate([p.ravel() for p in params])
    cuts = np.cumsum([0] + [p.size for p in params])
    return flat, [flat[a:b].reshape(p.shape) for a, b, p in zip(cuts[:-1], cuts[1:], params, strict=True)]


def mwnet_path(Xf, yf, Xv, yv, lr, epochs, *, schedule=None, batch=BATCH, alpha=ALPHA, meta_lr=1e-3, hidden=100,
               seed=0):
    """One MW-Net run of :func:`momentum_sgd`.  At every step, before the real step: (1) the
    pseudo-update theta_hat(Theta), a plain gradient step at this step's rate (as in Shu et al.'s
    code); (2) one Adam step (``meta_lr``, constant, without their weight decay) on Theta with the
    gradient of the validation MSE at theta_hat (:func:`mwnet_meta_gradient`); the batch weights
    are then V(l_i; Theta_new).  Returns {epoch: (theta, weights)} as :func:`momentum_sgd`: the
    weights are V of each row at its visit in the epoch that ends at the checkpoint."""
    flat, params = _flat_views(mwnet_init(hidden, seed))
    state = {}

    def weigh(b, Xb, r, theta, rate):
        _, grad = _meta_gradient(Xb, r, theta, Xv, yv, params, rate, alpha)
        adam_step([flat], [grad], state, meta_lr)
        return _mwnet_forward(r * r, params)[2]

    return momentum_sgd(Xf, yf, weigh, lr, epochs, schedule=schedule, batch=batch, alpha=alpha, seed=seed)


@_one_thread()
def mwnet(
    X, y, tr, va, *, mt=None, lr_scales=LR_SCALES, meta_lrs=META_LRS, epochs=EPOCHS, batch=BATCH, alpha=ALPHA,
    hidden=100, seed=0, closed_form=False, both=False,
):
    """Meta-Weight-Net (Shu et al. 2019) on the linear head.

    V(loss; Theta), an MLP 1 -> ``hidden`` (100) -> 1 with ReLU and a sigmoid output, learned with
    the head by alternating steps (:func:`mwnet_path`) inside :func:`momentum_sgd` (heavy ball 0.9,
    cosine schedule), the validation loss on all of ``va``, Theta by Adam.  The step size
    (``lr_scales`` x :func:`sgd_lr_unit`), Adam's step ``meta_lr`` (``meta_lrs``) and the checkpoint
    (``epochs``) are chosen by the validation MSE of runs on ``mt``; the final run is on ``tr``
    (with ``mt`` None, the choice is read from the runs on ``tr``).  ``weights`` of the result:
    V(l_i) of each training row in the last epoch of the final run.  ``closed_form`` and ``both``
    as in :func:`l2rw`.
    """

    def path(Xf, yf, Xv, yv, setting, stops):
        lr, meta_lr = setting
        return mwnet_path(Xf, yf, Xv, yv, lr, stops, schedule=max(epochs), batch=batch, alpha=alpha, meta_lr=meta_lr,
                          hidden=hidden, seed=seed)

    settings = _settings(X, y, tr, mt, lr_scales, meta_lrs)
    out = _sgd_family("mwnet", path, X, y, tr, va, mt, settings, ("lr", "meta_lr"), epochs, alpha)
    return out if both else out[bool(closed_form)]


# --------------------------------------------------------------------------- all of them


def _predictions(X, te, results) -> dict:
    X_test = np.asarray(X[np.asarray(te)], dtype=np.float64)
    return {name: {"test_pred": X_test @ r.coef, "valid_mse": r.valid_mse, "chosen": r.chosen, "coef": r.coef,
                   "at_edge": r.at_edge, "edges": r.edges, "result": r} for name, r in results.items()}


@_one_thread()
def run_alternatives(X, y, tr, mt, va, te, low, high, seed=0, sgd=None) -> dict:
    """Run every method of :data:`ALTERNATIVES` on one split with the default grids (``sgd``: a
    dict of keyword overrides for the SGD heads, such as ``lr_scales`` or ``epochs``, for tests).

    ``te`` is used only here, after every fit and choice: ``test_pred = X[te] @ coef``.
    Returns name -> {"test_pred", "valid_mse", "chosen", "coef", "at_edge", "edges", "result" (the
    :class:`AltResult`)}.
    """
    sgd = sgd or {}
    results = {
        "restricted_tuned": restricted_tuned(X, y, tr, mt, va, low, high),
        "valid_only": valid_only(X, y, va),
        "soft_band": soft_band(X, y, tr, mt, va, low, high),
        "label_shift": label_shift(X, y, tr, mt, va),
        "lds_inverse": lds_inverse(X, y, tr, mt, va, low, high),
    }
    no_meta = {k: v for k, v in sgd.items() if k != "meta_lrs"}
    results["l2rw"], results["l2rw_closed_form"] = l2rw(X, y, tr, va, mt=mt, seed=seed, both=True, **no_meta)
    results["mwnet"], results["mwnet_closed_form"] = mwnet(X, y, tr, va, mt=mt, seed=seed, both=True, **sgd)
    return _predictions(X, te, {name: results[name] for name in ALTERNATIVES})


@_one_thread()
def run_control(X, y, tr, mt, va, te, low, high, seed=0, sgd=None) -> dict:
    """The SGD heads' convergence control (:func:`sgd_restricted`) beside *Restricted* in closed
    form (``fit_ridge`` on the in-band rows of ``tr``, penalty :data:`ALPHA`), on one split.

    ``te`` is used only here, at the end; ``sgd`` as in :func:`run_alternatives` (without
    ``meta_lrs``).  Returns {"test_pred", "restricted_test_pred", "chosen", "epochs", "steps" (of
    the final run on ``tr``), "schedule_steps" (the length of its cosine), "valid_mse", "result"}.
    """
    sgd = {k: v for k, v in (sgd or {}).items() if k != "meta_lrs"}
    result = sgd_restricted(X, y, tr, va, low, high, mt=mt, seed=seed, **sgd)
    Xt, yt = _rows(X, y, tr)
    band = in_band(yt, low, high)
    closed = baselines.fit_ridge(Xt[band], yt[band], alpha=ALPHA)
    X_test = np.asarray(X[np.asarray(te)], dtype=np.float64)
    epochs, per_epoch = int(result.chosen["epochs"]), math.ceil(len(tr) / sgd.get("batch", BATCH))
    return {"test_pred": X_test @ result.coef, "restricted_test_pred": X_test @ closed, "chosen": result.chosen,
            "epochs": epochs, "steps": epochs * per_epoch, "schedule_steps": max(sgd.get("epochs", EPOCHS)) * per_epoch,
            "valid_mse": result.valid_mse, "result": result}
