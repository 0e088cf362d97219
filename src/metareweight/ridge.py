"""Weighted ridge regression in closed form, differentiable with respect to the sample weights.

The objective, for design matrix X (n, p), targets y (n,), weights w (n,) and penalty
``alpha * s``::

    minimise_beta  sum_i w_i (y_i - x_i . beta)^2 + alpha * s * ||beta||^2

with solution ``beta = (X^T W X + alpha s I)^-1 X^T W y`` obtained by a Cholesky solve (never an
explicit inverse).  The scale ``s`` is the *penalty convention*:

``"n"``      s = n, the number of rows in the fit (the authors' code; the default)
``"sum_w"``  s = sum of the weights
``"plain"``  s = 1 (scikit-learn's ``Ridge(alpha)``)

Every column of X is penalised, including a constant column if the caller appends one (the
authors' choice; see :func:`design_matrix`).

The meta step solves this system thousands of times for the same X and new weights, with its
hypergradient in closed form: :mod:`metareweight.solver`.
"""

from __future__ import annotations

import numpy as np
import torch

PENALTIES = ("n", "sum_w", "plain")


def design_matrix(features):
    """Append the constant column: (n, m) features -> (n, m + 1) design matrix."""
    if isinstance(features, torch.Tensor):
        return torch.cat([features, torch.ones_like(features[:, :1])], dim=1)
    features = np.asarray(features)
    return np.hstack([features, np.ones((len(features), 1), dtype=features.dtype)])


def penalty_scale(weights: torch.Tensor, penalty: str) -> torch.Tensor | float:
    if penalty == "n":
        return float(weights.shape[0])
    if penalty == "sum_w":
        return weights.sum()
    if penalty == "plain":
        return 1.0
    raise ValueError(f"unknown penalty convention {penalty!r}; choose one of {PENALTIES}")


def ridge_solve(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor, alpha: float, penalty="n"):
    """Weighted ridge coefficients, differentiable in ``w`` (and ``X``, ``y``) by autograd.

    Parameters
    ----------
    X : Tensor of shape (n_samples, n_features)
    y : Tensor of shape (n_samples,)
    w : Tensor of shape (n_samples,), non-negative
    alpha : float
    penalty : {"n", "sum_w", "plain"}

    Returns
    -------
    Tensor of shape (n_features,)
    """
    if not (torch.isfinite(X).all() and torch.isfinite(y).all() and torch.isfinite(w).all()):
        raise ValueError("ridge_solve: X, y and the weights must be finite")
    Xw = X * w.unsqueeze(1)  # W X without forming the n x n matrix W
    gram = Xw.T @ X
    eye = torch.eye(X.shape[1], dtype=X.dtype, device=X.device)
    A = gram + alpha * penalty_scale(w, penalty) * eye
    L = torch.linalg.cholesky(A)
    return torch.cholesky_solve((Xw.T @ y).unsqueeze(1), L).squeeze(1)


class WeightedRidge:
    """Ridge regression with sample weights, shaped like a scikit-learn estimator.

    Parameters
    ----------
    alpha : float, default 5e-3
        The paper's ridge parameter lambda.
    penalty : {"n", "sum_w", "plain"}, default "n"
        Penalty convention (module docstring).  With ``"plain"`` this equals
        ``sklearn.linear_model.Ridge(alpha, fit_intercept=False)``.

    Attributes
    ----------
    coef_ : ndarray or Tensor of shape (n_features,)
        A Tensor (carrying gradients) when ``fit`` was given Tensors, else a float64 ndarray.
    """

    def __init__(self, alpha: float = 5e-3, *, penalty: str = "n"):
        self.alpha = alpha
        self.penalty = penalty

    def fit(self, X, y, sample_weight=None):
        """Fit on X (n, p), y (n,), ``sample_weight`` (n,) (default all ones); returns self."""
        as_torch = isinstance(X, torch.Tensor)
        Xt = X if as_torch else torch.as_tensor(np.asarray(X, dtype=np.float64))
        yt = y if isinstance(y, torch.Tensor) else torch.as_tensor(np.asarray(y, dtype=np.float64))
        if sample_weight is None:
            wt = torch.ones(Xt.shape[0], dtype=Xt.dtype, device=Xt.device)
        elif isinstance(sample_weight, torch.Tensor):
            wt = sample_weight
        else:
            wt = torch.as_tensor(np.asarray(sample_weight, dtype=np.float64))
        if Xt.ndim != 2 or yt.shape != (Xt.shape[0],) or wt.shape != (Xt.shape[0],):
            raise ValueError(
                f"shapes do not match: X {tuple(Xt.shape)}, y {tuple(yt.shape)}, "
                f"sample_weight {tuple(wt.shape)}"
            )
        if (wt < 0).any():
            raise ValueError("sample_weight must be non-negative")
        coef = ridge_solve(Xt, yt, wt, self.alpha, self.penalty)
        self.coef_ = coef if as_torch else coef.detach().numpy()
        self.n_features_in_ = Xt.shape[1]
        return self

    def predict(self, X):
        """Predictions X @ coef_, shape (n,)."""
        return X @ self.coef_
