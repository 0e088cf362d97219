"""Baseline heads on the extractor's features: All, Restricted, constant, and the CNN's own head."""

from __future__ import annotations

import numpy as np

from .ridge import WeightedRidge


def fit_ridge(X, y, weights=None, *, alpha=5e-3, penalty="n") -> np.ndarray:
    """Coefficients of the weighted ridge head (see :class:`WeightedRidge`)."""
    return WeightedRidge(alpha, penalty=penalty).fit(X, y, sample_weight=weights).coef_


def all_baseline(X_train, y_train, **ridge) -> np.ndarray:
    """*All*: ridge with weight 1 on every training row."""
    return fit_ridge(X_train, y_train, **ridge)


def restricted_baseline(X_train, y_train, mask, **ridge) -> np.ndarray:
    """*Restricted*: ridge on the training rows inside the target range only (``mask``)."""
    if not np.any(mask):
        raise ValueError("restricted baseline: no training rows are inside the target range")
    return fit_ridge(X_train[mask], y_train[mask], **ridge)


def constant_prediction(y_train, mask) -> float:
    """The constant predictor: the mean target of the restricted training rows."""
    return float(np.mean(np.asarray(y_train)[mask]))


def mse(pred, target) -> float:
    """Mean squared error."""
    return float(np.mean((np.asarray(pred) - np.asarray(target)) ** 2))
