"""What the method chapter (``notebooks/method.md``, paper §3) shows: the checks of the weighted
ridge against scikit-learn and of its hypergradient against finite differences, the table and
figure of free weights against h_theta, their facts, and the chapter's verdict rows."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import Ridge

from .. import plots
from ..experiment import years2
from ..models import WeightNet
from ..ridge import WeightedRidge
from ..solver import ridge_solve_in_weights
from ..verdicts import at_least, at_most, fraction

#: The largest relative gaps the correctness rows accept.
SKLEARN_TOLERANCE = 1e-8
GRADIENT_TOLERANCE = 1e-4
#: Share of splits on which the free weights must reach h_theta's validation loss (the optimiser
#: finished), and share on which they must overfit for the claim to hold.
REACH_SHARE = 0.875
OVERFIT_SHARE = 0.75
#: The finite-difference check: rows checked, step, and the seed that draws the rows.
FD_ROWS = 6
FD_STEP = 1e-5
FD_SEED = 1


def random_weights(n: int, seed: int = 0) -> np.ndarray:
    """``n`` weights drawn uniformly from [0, 1) by a generator seeded with ``seed``."""
    return np.random.default_rng(seed).uniform(0, 1, size=n)


def sklearn_gap(X: np.ndarray, y: np.ndarray, w: np.ndarray, lam: float) -> float:
    """The largest coefficient gap between our weighted ridge (plain penalty ``lam``) and
    scikit-learn's ``Ridge(sample_weight=w)`` on ``X``, ``y``, relative to the largest of
    scikit-learn's coefficients."""
    ours = WeightedRidge(lam, penalty="plain").fit(X, y, sample_weight=w).coef_
    ref = Ridge(alpha=lam, fit_intercept=False, solver="cholesky").fit(X, y, sample_weight=w).coef_
    return float(np.abs(ours - ref).max() / np.abs(ref).max())


def validation_loss(weights: torch.Tensor, X, y, Xv, yv, lam: float, penalty: str) -> torch.Tensor:
    """The validation MSE of the ridge head fitted on ``X``, ``y`` (tensors) with ``weights``,
    penalty ``lam`` scaled by ``penalty``, scored on ``Xv``, ``yv``; differentiable in the
    weights through :func:`solver.ridge_solve_in_weights`."""
    beta = ridge_solve_in_weights(X, y, weights, lam, penalty)
    return ((Xv @ beta - yv) ** 2).mean()


def hypergradient_check(X, y, Xv, yv, w, lam: float, penalty: str, *, n_rows: int = FD_ROWS,
                        eps: float = FD_STEP, seed: int = FD_SEED) -> pd.DataFrame:
    """The closed-form gradient of :func:`validation_loss` in the weights against central finite
    differences of step ``eps``, on ``n_rows`` rows drawn by a generator seeded with ``seed``.

    Parameters: the training and validation arrays ``X``, ``y``, ``Xv``, ``yv``, the weights
    ``w`` where the gradient is taken, and the ridge's ``lam`` and ``penalty``.  Returns one row
    per checked row: its index, both derivatives and their relative gap.
    """
    Xt, yt, Xvt, yvt = (torch.as_tensor(a) for a in (X, y, Xv, yv))
    wt = torch.tensor(w, requires_grad=True)
    (grad,) = torch.autograd.grad(validation_loss(wt, Xt, yt, Xvt, yvt, lam, penalty), wt)
    rows = np.random.default_rng(seed).choice(len(y), size=n_rows, replace=False)
    fd = []
    with torch.no_grad():
        for i in rows:
            up, down = wt.detach().clone(), wt.detach().clone()
            up[i] += eps
            down[i] -= eps
            fd.append(float((validation_loss(up, Xt, yt, Xvt, yvt, lam, penalty)
                             - validation_loss(down, Xt, yt, Xvt, yvt, lam, penalty)) / (2 * eps)))
    check = pd.DataFrame({"row": rows, "closed form": grad.numpy()[rows], "finite difference": fd})
    check["relative gap"] = (check["closed form"] - check["finite difference"]).abs() / check["finite difference"].abs()
    return check


def overfit_table(splits, free_runs, net_runs) -> pd.DataFrame:
    """One row per split (indexed by split): the final validation and test MSE (years²) of the
    free weights (``free_runs``, :func:`experiment.free_weights_run`) and of h_theta
    (``net_runs``, :func:`experiment.run_split`), the free weights' steps, and ``overfits``: the
    free weights fit the validation rows better and the test rows worse than h_theta."""
    table = pd.DataFrame([{"split": s.index, "free: validation": float(years2(f["history"]["valid_mse"][-1])),
                           "free: test": float(years2(f["history"]["monitor_mse"][-1])), "free: steps": f["steps"],
                           "h_θ: validation": float(years2(n[1]["history"]["valid_mse"][-1])),
                           "h_θ: test": float(years2(n[1]["history"]["monitor_mse"][-1]))}
                          for s, f, n in zip(splits, free_runs, net_runs, strict=True)]).set_index("split")
    table["overfits"] = (table["free: validation"] < table["h_θ: validation"]) & (
        table["free: test"] > table["h_θ: test"])
    return table


def constant_test_mse(net_run) -> float:
    """The constant predictor's test MSE (years²) on the split of ``net_run`` (a run of
    :func:`experiment.run_split`), the level :func:`curves_figure` marks."""
    return float(years2(net_run[1]["mse"]["constant"]))


def curves_figure(free_hist: dict, net_hist: dict, top: float, constant=None):
    """Validation and test MSE (years²) over the meta steps of the free weights (left) and of
    h_theta (right), from their histories; the y axis runs from 0 to ``top``; ``constant``
    (years², or None) is the constant predictor's test MSE on the same rows, dashed on both
    panels.  Returns the figure."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
    for ax, hist, title, key in ((axes[0], free_hist, "free weights", "free_weights"),
                                 (axes[1], net_hist, "h_θ", "reweighted")):
        ax.plot(hist["step"], years2(hist["valid_mse"]), color=plots.colour(key), ls=":", lw=1.6, label="validation")
        ax.plot(hist["step"], years2(hist["monitor_mse"]), color=plots.colour(key), label="test")
        if constant is not None and np.isfinite(constant):
            plots.constant_line(ax, constant, label="constant predictor (test)")
        ax.set_title(title)
        ax.set_xlabel("meta step")
    axes[0].set_ylabel("MSE (years²)")
    axes[0].set_ylim(0, top)
    for ax in axes:
        ax.legend()
    return fig


def curves_top(overfit: pd.DataFrame) -> float:
    """The top of :func:`curves_figure`'s y axis: three times the worst test MSE of the table."""
    return 3 * max(overfit["free: test"].max(), overfit["h_θ: test"].max())


def reached(overfit: pd.DataFrame) -> int:
    """On how many splits the free weights end at or below h_theta's validation MSE."""
    return int((overfit["free: validation"] <= overfit["h_θ: validation"]).sum())


def weight_net_size(cfg) -> int:
    """The number of parameters of the run's weight network h_theta."""
    net = WeightNet(cfg.weight_hidden, cfg.weight_activation, inputs=cfg.weight_inputs)
    return sum(p.numel() for p in net.parameters())


def overfit_facts(overfit: pd.DataFrame, free_runs, cfg, split) -> dict:
    """The numbers the chapter's prose gives about free weights and h_theta.

    Parameters: ``overfit`` (:func:`overfit_table`), ``free_runs`` (how each run stopped),
    ``cfg`` (the free-weight optimiser's settings, h_theta's shape) and ``split`` (whose
    meta-training rows are the free weights).  Returns a dict of glue name -> value.
    """
    return {"free_lr": cfg.free_weight_lr, "free_tol": cfg.free_weight_tol,
            "free_patience": cfg.free_weight_patience, "free_steps": cfg.free_weight_steps,
            "free_steps_taken": f"{overfit['free: steps'].min()}-{overfit['free: steps'].max()}",
            "n_capped": sum(f["stopped_by"] == "steps" for f in free_runs),
            "n_free": len(split.meta_train), "n_theta": weight_net_size(cfg), "n_splits": len(overfit),
            "free_below": reached(overfit), "n_overfit": int(overfit["overfits"].sum()),
            "free_valid": float(overfit["free: validation"].mean()), "free_test": float(overfit["free: test"].mean()),
            "net_valid": float(overfit["h_θ: validation"].mean()), "net_test": float(overfit["h_θ: test"].mean())}


def add_verdicts(verdicts, sk_rel: float, check: pd.DataFrame, overfit: pd.DataFrame):
    """Add the chapter's rows to ``verdicts`` (a :class:`verdicts.Verdicts`): the ridge against
    scikit-learn (relative gap ``sk_rel``), the hypergradient against finite differences
    (``check``, :func:`hypergradient_check`), whether the free-weight optimiser finished, and the
    paper's claim that free weights overfit (both from ``overfit``, :func:`overfit_table`).
    Returns the claim's judgement."""
    gap, n, below, n_overfit = float(check["relative gap"].max()), len(overfit), reached(overfit), \
        int(overfit["overfits"].sum())
    verdicts.add("weighted ridge in closed form", "§3.1", "formula (with a typo)",
                 f"matches scikit-learn to {sk_rel:.0e}", at_most(sk_rel, SKLEARN_TOLERANCE, name="relative gap"),
                 kind="correctness")
    verdicts.add("gradient through the closed form", "§3.1", "used, not shown",
                 f"matches finite differences to {gap:.0e}", at_most(gap, GRADIENT_TOLERANCE, name="relative gap"),
                 kind="correctness")
    verdicts.add("the free-weight optimiser reaches h_θ's validation loss", "§3.1", "not stated",
                 f"on {below} of {n} splits",
                 at_least(below, int(np.ceil(REACH_SHARE * n)), name="splits at or below h_θ's validation MSE"),
                 kind="correctness")
    return verdicts.add(
        "free weights overfit the validation set; h_θ does not", "§3.1", "stated, no numbers",
        f"lower validation and higher test MSE than h_θ on {n_overfit} of {n} splits",
        fraction(n_overfit, n, yes_at=OVERFIT_SHARE, what="splits (free: lower validation and higher test MSE)"),
        kind="claim")
