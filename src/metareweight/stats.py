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
