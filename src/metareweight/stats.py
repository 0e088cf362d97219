"""Paired comparisons over splits: differences, Wilcoxon signed-rank test, bootstrap intervals."""

from __future__ import annotations

import numpy as np
from scipy import stats as _stats


def paired_summary(baseline, method, *, n_boot: int = 10000, seed: int = 0, level: float = 0.95):
    """Compare ``method`` with ``baseline`` on the same splits (lower is better).

    Parameters
    ----------
    baseline, method : array-like of shape (n_splits,)
        Per-split errors.

    Returns
    -------
    dict
        ``wins`` (splits where method < baseline), ``n``, ``rel_improvement`` per split
        ((baseline - method) / baseline), its mean, a percentile bootstrap interval of the mean
        relative improvement (resampling splits with a local generator), and the two-sided
        Wilcoxon signed-rank p-value of the paired differences (``nan`` below 2 splits).
    """
    baseline = np.asarray(baseline, dtype=float)
    method = np.asarray(method, dtype=float)
    if baseline.shape != method.shape or baseline.ndim != 1:
        raise ValueError("paired_summary: baseline and method must be 1-D of the same length")
    rel = (baseline - method) / baseline
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(rel), size=(n_boot, len(rel)))
    boot = rel[idx].mean(axis=1)
    alpha = (1 - level) / 2
    if len(rel) >= 2 and np.any(baseline != method):
        p = float(_stats.wilcoxon(baseline, method, alternative="two-sided").pvalue)
    else:
        p = float("nan")
    return {
        "n": int(len(rel)),
        "wins": int((method < baseline).sum()),
        "rel_improvement": rel,
        "mean_rel_improvement": float(rel.mean()),
        "ci_low": float(np.quantile(boot, alpha)),
        "ci_high": float(np.quantile(boot, 1 - alpha)),
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


def mean_diff_ci(base, method, *, n_boot: int = 10000, seed: int = 0, level: float = 0.95) -> dict:
    """Mean paired difference ``base - method`` over splits with a percentile bootstrap interval
    (resampling splits) and the sample std of the differences (ddof=1)."""
    d = np.asarray(base, dtype=float) - np.asarray(method, dtype=float)
    rng = np.random.default_rng(seed)
    boot = d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1)
    alpha = (1 - level) / 2
    return {"mean": float(d.mean()), "sd": float(d.std(ddof=1)) if len(d) > 1 else float("nan"),
            "ci_low": float(np.quantile(boot, alpha)), "ci_high": float(np.quantile(boot, 1 - alpha)), "n": len(d)}
