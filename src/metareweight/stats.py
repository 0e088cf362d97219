"""Paired comparisons over splits and over the test rows of one split.

Over splits (n = 8 here, and the splits are not independent replicates: see the §4.1 chapter),
a comparison is an exact sign-flip permutation test of the paired differences (all 2^n sign
patterns) with a Student t interval for their mean; several tests of one family are adjusted
by Holm's step-down method (:func:`holm`).  The bootstrap serves inside one split, over its
test rows (:func:`paired_bootstrap_rows`).
"""

from __future__ import annotations

import numpy as np
from scipy import stats as _stats


def pearson(a, b) -> float:
    """Pearson's correlation of two samples; ``nan`` when either is constant."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


#: Above this many pairs the sign-flip test would enumerate too many patterns.
MAX_EXACT_PAIRS = 20


def sign_flip_p(differences) -> float:
    """Exact two-sided sign-flip permutation p-value of paired ``differences`` (H0: each
    difference is symmetric about 0).

    Every one of the 2^n sign patterns is applied; the p-value is the share of patterns whose
    |mean| is at least the observed |mean| (the observed pattern included, so p >= 2^-n; with
    n = 8 the smallest two-sided p is 2/256).  ``nan`` for no pairs or all differences 0.
    """
    d = np.asarray(differences, dtype=float)
    if d.ndim != 1:
        raise ValueError("sign_flip_p: differences must be 1-D")
    n = len(d)
    if n == 0 or not np.any(d != 0):
        return float("nan")
    if n > MAX_EXACT_PAIRS:
        raise ValueError(f"sign_flip_p: {n} pairs exceed the exact limit of {MAX_EXACT_PAIRS}")
    patterns = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1) * 2 - 1  # every sign pattern
    stats = np.abs(patterns @ d) / n
    observed = abs(d.mean())
    return float(np.mean(stats >= observed * (1 - 1e-12)))


def t_interval(values, level: float = 0.95) -> tuple[float, float]:
    """Student t interval for the mean of ``values`` (sample std, ddof = 1); (nan, nan) below
    2 values."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return float("nan"), float("nan")
    half = _stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return float(v.mean() - half), float(v.mean() + half)


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values (same order as given; ``nan`` stays ``nan`` and does
    not count in the family).  Reject hypothesis i at level a when adjusted[i] <= a."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    running = 0.0
    for rank, i in enumerate(ok[np.argsort(p[ok], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def paired_summary(baseline, method, *, level: float = 0.95):
    """Compare ``method`` with ``baseline`` on the same splits (lower is better).

    Parameters
    ----------
    baseline, method : array-like of shape (n_splits,)
        Per-split errors.
    level : float
        Level of the t interval.

    Returns
    -------
    dict
        ``wins`` (splits where method < baseline), ``n``, ``rel_improvement`` per split
        ((baseline - method) / baseline), its mean, the Student t interval of that mean
        (``ci_low``, ``ci_high``; ``interval`` names it), the exact two-sided sign-flip p-value
        of the relative improvements (``perm_p``) and the two-sided Wilcoxon signed-rank p-value
        of the paired differences (``nan`` below 2 splits).
    """
    baseline = np.asarray(baseline, dtype=float)
    method = np.asarray(method, dtype=float)
    if baseline.shape != method.shape or baseline.ndim != 1:
        raise ValueError("paired_summary: baseline and method must be 1-D of the same length")
    rel = (baseline - method) / baseline
    if len(rel) >= 2 and np.any(baseline != method):
        p = float(_stats.wilcoxon(baseline, method, alternative="two-sided").pvalue)
    else:
        p = float("nan")
    low, high = t_interval(rel, level)
    if len(rel) >= 2 and not np.any(rel != rel.mean()):
        low = high = float(rel.mean())
    return {
        "n": int(len(rel)),
        "wins": int((method < baseline).sum()),
        "rel_improvement": rel,
        "mean_rel_improvement": float(rel.mean()) if len(rel) else float("nan"),
        "ci_low": low,
        "ci_high": high,
        "level": level,
        "interval": "t",
        "perm_p": sign_flip_p(rel),
        "wilcoxon_p": p,
    }


def mean_std(values) -> tuple[float, float]:
    """Mean and population standard deviation (as the paper's Table 1 was computed)."""
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std())


def paired_bootstrap_rows(err_base, err_method, *, n_boot: int = 10000, seed: int = 0, level: float = 0.95) -> dict:
    """Paired bootstrap over the rows of one test set (lower is better).

    ``err_base`` and ``err_method`` are per-row squared errors on the same test rows.  Rows are
    resampled with replacement (a local generator) and the difference of mean errors
    ``mean(base) - mean(method)`` recomputed; positive means the method is better.

    Returns ``diff`` (observed), ``ci_low``, ``ci_high`` (percentile interval) and ``p_better``,
    the bootstrap share of resamples in which the method is not better (a one-sided p-value).
    """
    a = np.asarray(err_base, dtype=float)
    b = np.asarray(err_method, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError("paired_bootstrap_rows: errors must be 1-D of the same, non-zero length")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(n_boot, len(a)))
    d = a - b
    boot = d[idx].mean(axis=1)
    alpha = (1 - level) / 2
    return {"diff": float(d.mean()), "ci_low": float(np.quantile(boot, alpha)),
            "ci_high": float(np.quantile(boot, 1 - alpha)), "p_better": float((boot <= 0).mean())}


def mean_diff_ci(base, method, *, level: float = 0.95) -> dict:
    """Mean paired difference ``base - method`` over splits with its Student t interval, the
    sample std of the differences (ddof = 1) and the exact sign-flip p-value."""
    d = np.asarray(base, dtype=float) - np.asarray(method, dtype=float)
    low, high = t_interval(d, level)
    if len(d) >= 2 and not np.any(d != d.mean()):
        low = high = float(d.mean())
    return {"mean": float(d.mean()), "sd": float(d.std(ddof=1)) if len(d) > 1 else float("nan"),
            "ci_low": low, "ci_high": high, "interval": "t", "perm_p": sign_flip_p(d), "n": len(d)}
