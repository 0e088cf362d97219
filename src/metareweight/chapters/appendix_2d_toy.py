"""What the chapter ``notebooks/appendix-2d-toy.md`` (paper §6.1, the product toy) assembles.

The two-dimensional toy ``y = 2 x1 (x2 - 0.5)``: every weighting's slopes and precision, the
shares of weight in the quarters of the unit square, the 60-dimensional variant run from
several starts (spread of precision, overlap of the kept sets, late flips of examples), the
verdict table with its records, and the sentences glued into the prose.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import progress
from ..display import plural
from ..meta import MetaSettings, train_weights
from ..ridge import WeightedRidge, design_matrix
from ..toys import AlignSettings, align_fit_cached, least_squares, make_product_2d, make_product_nd, precision_at
from ..verdicts import Verdicts, above, all_of, at_most

#: Ridge penalty of the closed-form method (not scaled by n), as on the piecewise toy.
RIDGE_ALPHA = 1e-4
#: "Slope 0 on x1": ``|slope| <= SLOPE0_TOL``.
SLOPE0_TOL = 0.05
#: A region is "ignored" when its weight per point is at most this times the average.
IGNORE_RATIO = 0.5
#: "Different optima": test precisions over starts spread by more than this.
SPREAD_TOL = 0.05
#: Weight snapshots over the last fifth of a run, for counting late flips.
LATE_SNAPSHOTS = 6
PREC = "precision at 10% (test)"
FLIPS = "kept-set flips, last fifth"
CYCLING = "examples flipping back and forth, last fifth"
#: Glue key -> row of the 2-D table.
ROWS_2D = {"diff": "gradient alignment, difference", "value": "gradient alignment, value",
           "net": "closed form, weight network", "free": "closed form, free weights",
           "restr": "restricted (true top 10% of training)"}
#: Glue key -> row of the 60-D table.
ROWS_60D = {"value": "gradient alignment, value", "diff": "gradient alignment, difference",
            "net": "closed form, weight network", "free": "closed form, free weights"}


def closed_form_label(mode: str) -> str:
    """Row label of the closed-form method with ``mode`` "net" or "free"."""
    return f"closed form, {'weight network' if mode == 'net' else 'free weights'}"


def problems_2d(cfg):
    """The training, validation-pool and test samples of the 2-D toy (seeds ``toy2d_seed``,
    ``+ 1``, ``+ 2``); returns (train, pool, test) :class:`metareweight.toys.Toy`."""
    seed = cfg.toy2d_seed
    return tuple(make_product_2d(n, seed + k) for k, n in
                 enumerate((cfg.toy2d_n, cfg.toy2d_n_valid, cfg.toy2d_n_test)))


def methods_table(train, Xv, yv, test, *, steps, valid_ema, meta_steps, meta_lr, seed):
    """Fit every weighting on one problem.

    Parameters
    ----------
    train, test : metareweight.toys.Toy;  Xv, yv : the validation rows
    steps, valid_ema : the gradient-alignment loop's steps and validation-direction rate
    meta_steps, meta_lr, seed : the closed-form method's Adam steps, learning rate and seed

    Returns
    -------
    (DataFrame, dict)
        Rows: method; columns: precision at 10% on test, slopes on x1 and x2.  And method ->
        learned weights of the training rows (the re-weighting methods only).
    """
    rows, weights = {}, {}
    coef, b = least_squares(train.X, train.y)
    rows["unweighted"] = coef
    coef_r, _ = least_squares(train.X[train.valid], train.y[train.valid])
    rows["restricted (true top 10% of training)"] = coef_r
    for form in ("value", "difference"):
        progress.log(f"2-D toy: gradient alignment, {form} formulation, {steps} steps")
        settings = AlignSettings(formulation=form, steps=steps, valid_ema=valid_ema)
        res = align_fit_cached(train.X, train.y, Xv, yv, settings)
        rows[f"gradient alignment, {form}"] = res.coef
        weights[f"gradient alignment, {form}"] = res.weights
    D = design_matrix(train.X)
    for mode in ("net", "free"):
        progress.log(f"2-D toy: closed-form method ({mode}), {meta_steps} Adam steps")
        settings = MetaSettings(steps=meta_steps, lr=meta_lr, alpha=RIDGE_ALPHA, penalty="plain", mode=mode, seed=seed)
        res = train_weights(D, train.y, train.X @ coef + b, design_matrix(Xv), yv, settings)
        fit = WeightedRidge(RIDGE_ALPHA, penalty="plain").fit(D, train.y, sample_weight=res.weights)
        rows[closed_form_label(mode)] = fit.coef_[:-1]
        weights[closed_form_label(mode)] = res.weights
    table = pd.DataFrame({m: {PREC: precision_at(test.X @ c, test.y),
                              **{f"slope x{k + 1}": c[k] for k in range(min(2, len(c)))}}
                          for m, c in rows.items()}).T
    return table, weights


def table2d_glue(table: pd.DataFrame, cfg, n_valid: int) -> dict:
    """Glue values of the 2-D table: sample sizes, the unweighted slopes and precision, the
    slopes and precision of every row of :data:`ROWS_2D`, the loop's steps and the tolerance."""
    out = {"t2_n": cfg.toy2d_n, "t2_n_valid": int(n_valid), "t2_n_test": cfg.toy2d_n_test,
           "t2_ols_x1": float(table.loc["unweighted", "slope x1"]),
           "t2_ols_x2": float(table.loc["unweighted", "slope x2"]),
           "t2_ols_prec": float(table.loc["unweighted", PREC])}
    for key, row in ROWS_2D.items():
        out[f"t2_{key}_x1"] = float(table.loc[row, "slope x1"])
        out[f"t2_{key}_x2"] = float(table.loc[row, "slope x2"])
        out[f"t2_{key}_prec"] = float(table.loc[row, PREC])
    out["t2_steps"] = cfg.toy2d_steps
    out["t2_slope0_tol"] = SLOPE0_TOL
    return out


def weight_share(w, region) -> float:
    """Share of a method's total weight ``w`` that falls in ``region`` (a boolean mask)."""
    w = np.asarray(w, dtype=float)
    return float(w[region].sum() / max(w.sum(), 1e-12))


def quarters(X):
    """The masks (upper right, lower right) of the unit square: x1 > 0.5 with x2 above or below
    0.5.  In the lower right, y falls as x1 grows: the points §6.1 says to ignore."""
    X1, X2 = X[:, 0], X[:, 1]
    return (X1 > 0.5) & (X2 > 0.5), (X1 > 0.5) & (X2 < 0.5)


def weight_shares(X, weights: dict) -> pd.DataFrame:
    """Share of each method's weight in the upper-right and lower-right quarters, and the
    lower right's weight per point relative to the average; one row per method."""
    upper_right, lower_right = quarters(X)
    shares = pd.DataFrame({m: {"upper right": weight_share(w, upper_right),
                               "lower right": weight_share(w, lower_right)}
                           for m, w in weights.items()}).T
    shares["lower right per point / average"] = shares["lower right"] / lower_right.mean()
    return shares


def shares_glue(shares: pd.DataFrame, X) -> dict:
    """Glue values of the weight shares (both quarters, for the two alignment formulations and
    the weight network) and the share of points in each quarter."""
    out = {}
    for key in ("diff", "value", "net"):
        out[f"t2_{key}_ur"] = float(shares.loc[ROWS_2D[key], "upper right"])
        out[f"t2_{key}_lr"] = float(shares.loc[ROWS_2D[key], "lower right"])
    upper_right, lower_right = quarters(X)
    out["t2_area_ur"] = float(upper_right.mean())
    out["t2_area_lr"] = float(lower_right.mean())
    return out


def weight_panels(weights: dict) -> dict:
    """The weight maps' panels: method (with "gradient alignment" shortened) -> weights."""
    return {k.replace("gradient alignment", "alignment"): w for k, w in weights.items()}


def problems_60d(cfg):
    """Training, validation-pool and test samples of the 60-D variant (``toy60_dim`` inputs,
    one product pair, seeds ``toy2d_seed + 10``, ``+ 11``, ``+ 12``)."""
    seed = cfg.toy2d_seed
    return tuple(make_product_nd(n, cfg.toy60_dim, seed + 10 + k, n_pairs=1) for k, n in
                 enumerate((cfg.toy60_n, cfg.toy60_n, cfg.toy2d_n_test)))


def jaccard_mean(masks) -> float:
    """Mean Jaccard overlap over all pairs of boolean masks (NaN with fewer than two)."""
    pairs = [(a & b).sum() / max((a | b).sum(), 1)
             for i, a in enumerate(masks) for b in masks[i + 1:]]
    return float(np.mean(pairs)) if pairs else float("nan")


def flips(snapshots, threshold):
    """Per example: how often it enters or leaves the kept set (weight > threshold) between
    consecutive snapshots.  One flip is a drift across the threshold; two or more, a cycle."""
    kept = np.asarray(snapshots) > threshold
    return (kept[1:] != kept[:-1]).sum(axis=0)


def late_indices(steps, n=LATE_SNAPSHOTS):
    """Indices of n snapshots evenly spaced over the last fifth of a run recorded at ``steps``."""
    steps = np.asarray(steps)
    first = int(np.argmax(steps >= 0.8 * steps[-1]))
    return np.unique(np.linspace(first, len(steps) - 1, n).round().astype(int))


def late_steps(meta_steps: int, n=LATE_SNAPSHOTS):
    """n steps evenly spaced over the last fifth of a closed-form run of ``meta_steps`` steps."""
    return np.unique(np.linspace(0.8 * meta_steps, meta_steps, n).round().astype(int))


def starts_row(method: str, precs, kept, late) -> dict:
    """One row of the 60-D table from every start of a method: the range of test precisions,
    the mean Jaccard overlap of the kept sets, and the late flips (all, and of examples that
    flip two or more times) summed over starts."""
    return {"method": method, "precision at 10%: min": min(precs), "precision at 10%: max": max(precs),
            "mean Jaccard of kept sets": jaccard_mean(kept), FLIPS: int(sum(f.sum() for f in late)),
            CYCLING: int(sum((f >= 2).sum() for f in late))}


def alignment_starts(train, Xv, yv, test, cfg, starts):
    """The gradient-alignment loop on the 60-D variant from every start, both formulations.

    Parameters
    ----------
    train, test : Toy;  Xv, yv : the validation rows
    cfg : mapping with ``toy60_steps`` and ``toy2d_valid_ema``
    starts : seeds (None: theta = 0 with all weights 1)

    Returns
    -------
    (list of dict, dict)
        The rows of :func:`starts_row`, and formulation -> start label -> (steps, validation loss).
    """
    rows, curves = [], {}
    for form in ("value", "difference"):
        progress.log(f"60-D variant: gradient alignment, {form} formulation, {len(starts)} starts")
        kept, precs, late = [], [], []
        for start in starts:
            settings = AlignSettings(formulation=form, steps=cfg.toy60_steps, valid_ema=cfg.toy2d_valid_ema,
                                     seed=start, record_every=max(1, cfg.toy60_steps // 50))
            res = align_fit_cached(train.X, train.y, Xv, yv, settings)
            snaps = np.array(res.history["weights"])[late_indices(res.history["step"])]
            late.append(flips(snaps, 0.5))
            kept.append(res.weights > 0.5)
            precs.append(precision_at(test.X @ res.coef, test.y))
            curves.setdefault(form, {})["start at theta = 0" if start is None else f"random start (seed {start})"] = (
                res.history["step"], res.history["valid_loss"])
        rows.append(starts_row(f"gradient alignment, {form}", precs, kept, late))
    return rows, curves


def closed_form_starts(train, Xv, yv, test, cfg, seed):
    """The closed-form method on the 60-D variant: the weight network from ``toy60_starts``
    initialisations (seeds ``seed + k``), free weights once, with weights kept at
    :func:`late_steps`; returns the rows of :func:`starts_row`."""
    D, Dv = design_matrix(train.X), design_matrix(Xv)
    c0, b0 = least_squares(train.X, train.y)
    steps = late_steps(cfg.toy2d_meta_steps)
    rows = []
    for mode in ("net", "free"):
        n_starts = cfg.toy60_starts if mode == "net" else 1
        progress.log(f"60-D variant: closed-form method ({mode}), {n_starts} start(s), "
                     f"{cfg.toy2d_meta_steps} Adam steps, weights kept at {len(steps)} late steps")
        kept, precs, late = [], [], []
        for start in range(n_starts):
            settings = MetaSettings(steps=int(steps[-1]), lr=cfg.toy2d_meta_lr, alpha=RIDGE_ALPHA, penalty="plain",
                                    mode=mode, seed=seed + start)
            res = train_weights(D, train.y, train.X @ c0 + b0, Dv, yv, settings, keep_weights_at=steps)
            snaps = [res.history["weights_at"][int(s)] for s in steps]
            w = snaps[-1]
            fit = WeightedRidge(RIDGE_ALPHA, penalty="plain").fit(D, train.y, sample_weight=w)
            late.append(flips(snaps, 0.1))
            kept.append(w > 0.1)
            precs.append(precision_at(test.X @ fit.coef_[:-1], test.y))
        rows.append(starts_row(closed_form_label(mode), precs, kept, late))
    return rows


def table60(rows) -> pd.DataFrame:
    """The 60-D table (one row per method) with the spread of precision over starts added."""
    table = pd.DataFrame(rows).set_index("method")
    table["precision spread"] = table["precision at 10%: max"] - table["precision at 10%: min"]
    return table


def reference_precisions(train, test):
    """Test precision at 10% of the unweighted fit and of the fit on the true top 10% of
    ``train``; returns (unweighted, restricted)."""
    c0, _ = least_squares(train.X, train.y)
    cr, _ = least_squares(train.X[train.valid], train.y[train.valid])
    return precision_at(test.X @ c0, test.y), precision_at(test.X @ cr, test.y)


def issues(table: pd.DataFrame, row: str):
    """Local optima (test precision spread over starts above :data:`SPREAD_TOL`) and cycles
    (examples flipping back and forth late) for one row of :func:`table60`; yes when both."""
    return all_of(above(float(table.loc[row, "precision spread"]), SPREAD_TOL,
                        name="spread of test precision over starts"),
                  above(int(table.loc[row, CYCLING]), 0, name="examples flipping back and forth late"))


def issue_words(table: pd.DataFrame, row: str) -> str:
    """What one row of :func:`table60` shows, in words (local optima or not, cycles or not)."""
    spread, cycling = float(table.loc[row, "precision spread"]), int(table.loc[row, CYCLING])
    return (("ends in different local optima from different starts" if spread > SPREAD_TOL
             else "ends at about the same precision from every start")
            + (" and has examples going back and forth late in the run (cycles)" if cycling > 0
               else " and shows no cycles"))


def table60_glue(table: pd.DataFrame, cfg, n_starts: int, ols60: float, restr60: float) -> dict:
    """Glue values of the 60-D variant: its size, the reference precisions, and per method of
    :data:`ROWS_60D` the precision range, overlap, spread, flips and (but free weights) words."""
    out = {"t60_dim": cfg.toy60_dim, "t60_n": cfg.toy60_n, "t60_starts": n_starts,
           "t60_snapshots": LATE_SNAPSHOTS, "t60_ols": float(ols60), "t60_restr": float(restr60),
           "t60_spread_tol": SPREAD_TOL}
    for key, row in ROWS_60D.items():
        out[f"t60_{key}_min"] = float(table.loc[row, "precision at 10%: min"])
        out[f"t60_{key}_max"] = float(table.loc[row, "precision at 10%: max"])
        out[f"t60_{key}_jac"] = float(table.loc[row, "mean Jaccard of kept sets"])
        out[f"t60_{key}_spread"] = float(table.loc[row, "precision spread"])
        out[f"t60_{key}_flips"] = int(table.loc[row, FLIPS])
        out[f"t60_{key}_cycling"] = int(table.loc[row, CYCLING])
    for key in ("value", "diff", "net"):
        out[f"t60_{key}_word"] = issue_words(table, ROWS_60D[key])
    return out


def add_verdicts(verdicts: Verdicts, t2: pd.DataFrame, shares: pd.DataFrame, t60: pd.DataFrame, n_starts: int) -> dict:
    """Add the chapter's verdict rows to ``verdicts`` and attach its records (not yet saved).

    Parameters
    ----------
    verdicts : the chapter's (empty) :class:`metareweight.verdicts.Verdicts`
    t2 : :func:`methods_table`;  shares : :func:`weight_shares`;  t60 : :func:`table60`
    n_starts : starts per method on the 60-D variant

    Returns
    -------
    dict
        The judgements ``zero``, ``pos``, ``ignore``, ``better``, ``closed`` and
        ``60_diff``, ``60_value``, ``60_net``.
    """
    ols_x1 = float(t2.loc["unweighted", "slope x1"])
    diff_row, net_row = ROWS_2D["diff"], ROWS_2D["net"]
    j = {}
    j["zero"] = verdicts.add("the unweighted linear fit has slope 0 on x1", "§6.1", "0", f"{ols_x1:.3f}",
                             at_most(abs(ols_x1), SLOPE0_TOL, name="|slope on x1|"), kind="claim")
    j["pos"] = verdicts.add(
        "re-weighting (gradient method, difference formulation) gives positive slopes on x1 and x2", "§6.1",
        "positive (no numbers)", f"{t2.loc[diff_row, 'slope x1']:.3f} / {t2.loc[diff_row, 'slope x2']:.3f}",
        all_of(above(float(t2.loc[diff_row, "slope x1"]), 0, name="slope x1"),
               above(float(t2.loc[diff_row, "slope x2"]), 0, name="slope x2")), kind="claim")
    diff_ratio = float(shares.loc[diff_row, "lower right per point / average"])
    j["ignore"] = verdicts.add(
        "re-weighting (difference formulation) ignores the points with low x2 and high x1", "§6.1",
        "stated (no numbers)", f"weight per point there: {diff_ratio:.2f} of the average",
        at_most(diff_ratio, IGNORE_RATIO, name="weight per point in the quarter x1 > 0.5, x2 < 0.5 / average"),
        kind="claim")
    j["better"] = verdicts.add(
        "re-weighting identifies the top 10% better than the unweighted fit", "§6.1", "stated (no numbers)",
        f"precision at 10%: {t2.loc['unweighted', PREC]:.3f} -> {t2.loc[diff_row, PREC]:.3f}",
        above(float(t2.loc[diff_row, PREC]), float(t2.loc["unweighted", PREC]), name="re-weighted precision"),
        kind="claim")
    j["closed"] = verdicts.add(
        "(not in the paper) the closed-form method does the same", "§6.1", "not stated",
        f"slopes {t2.loc[net_row, 'slope x1']:.3f} / {t2.loc[net_row, 'slope x2']:.3f}, "
        f"precision {t2.loc[net_row, PREC]:.3f}",
        all_of(above(float(t2.loc[net_row, "slope x1"]), 0, name="slope x1"),
               above(float(t2.loc[net_row, "slope x2"]), 0, name="slope x2"),
               above(float(t2.loc[net_row, PREC]), float(t2.loc["unweighted", PREC]), name="precision")),
        kind="beyond")
    for key, claim in (
            ("diff", "60 dimensions: the gradient method (difference formulation) hits local optima and cycles"),
            ("value", "60 dimensions: the same for the value formulation"),
            ("net", "(not in the paper) 60 dimensions: the same for the closed-form method")):
        row = ROWS_60D[key]
        j[f"60_{key}"] = verdicts.add(
            claim, "§6.1", "stated (no numbers)" if key != "net" else "not stated",
            f"precision {t60.loc[row, 'precision at 10%: min']:.3f}-"
            f"{t60.loc[row, 'precision at 10%: max']:.3f} over {n_starts} starts, "
            f"{plural(int(t60.loc[row, CYCLING]), 'example')} flipping back and forth late", issues(t60, row),
            kind="beyond" if key == "net" else "claim")
    verdicts.attach(table_2d=t2.reset_index(names="method").to_dict(orient="records"),
                    table_60d=t60.reset_index().to_dict(orient="records"),
                    weight_shares_2d=shares.reset_index(names="method").to_dict(orient="records"),
                    tolerances={"slope0": SLOPE0_TOL, "ignore_ratio": IGNORE_RATIO, "spread": SPREAD_TOL,
                                "late_snapshots": LATE_SNAPSHOTS})
    return j


def verdict_glue(j: dict, shares: pd.DataFrame) -> dict:
    """The sentences of the verdict section: whether the four 2-D claims hold together, what
    the closed-form method does, what the difference formulation shows in 60 dimensions, and
    the lower right's weight per point under the difference formulation."""
    j2d = all_of(j["zero"], j["pos"], j["ignore"], j["better"])
    return {"t2_diff_ratio": float(shares.loc[ROWS_2D["diff"], "lower right per point / average"]),
            "t2_v_2d": j2d.word("The two-dimensional claims of §6.1 hold here",
                                "The two-dimensional claims of §6.1 do not hold here",
                                "The two-dimensional claims of §6.1 hold only in part here"),
            "t2_v_closed": j["closed"].word("does the same", "does not do the same", "does part of it"),
            "t2_v_60": j["60_diff"].word(
                "the difference formulation, the paper's method at that stage, shows both local optima and cycles",
                "we could not reproduce a failure of the paper's own reformulated method (the difference formulation)",
                "the difference formulation, the paper's method at that stage, shows only one of the two issues "
                "(local optima: spread of test precision over starts above the tolerance; cycles: examples going back "
                "and forth late in the run)")}
