"""What the chapter ``notebooks/learned-weighting.md`` (paper §4.4) assembles from the §4.3 runs.

The heat maps of the learned weight (the paper's Figure 3), the table that counts the rows that
keep a weight, the values its prose glues, where the weight goes by age, and the verdicts on the
§4.4 claims.  A run is ``(arrays, info)`` as :func:`metareweight.experiment.run_split` returns it.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import plots
from ..experiment import AGE_SCALE
from ..reference import PAPER_WEIGHTS_ABOVE_0_1
from ..splits import in_range
from ..verdicts import Verdicts, above, fraction, untested

#: A row is "heavily weighted" when its learned weight lies above this (the paper's 0.1).
HEAVY = 0.1
#: Ages 0..MAX_AGE - 1 are counted in the weight-by-age figure.
MAX_AGE = 111


def split_counts(arrays: dict, info: dict, low: int, high: int) -> dict:
    """The counts of one run's meta-training rows.

    ``arrays`` holds ``meta_w`` (the learned weights) and ``meta_y`` (true age / 100), ``info``
    the split's index and ``n_restricted``; ``low``-``high`` is the target band (years).  Returns
    the row of :func:`weight_counts` for this split."""
    w, y = arrays["meta_w"], arrays["meta_y"] * AGE_SCALE
    heavy = w > HEAVY
    inside = in_range(np.rint(y), low, high)
    return {
        "split": info["split"],
        "weights > 0.1": int(heavy.sum()),
        "meta-training rows": len(w),
        "restricted training rows": info["n_restricted"],
        "share of weight on in-range rows": float(w[inside].sum() / w.sum()),
        "heavy rows outside the range": int((heavy & ~inside).sum()),
        "effective sample size": float(w.sum() ** 2 / (w ** 2).sum()),
    }


def weight_counts(runs, low: int, high: int) -> pd.DataFrame:
    """One row of :func:`split_counts` per run of ``runs``, indexed by split."""
    return pd.DataFrame([split_counts(arrays, info, low, high) for arrays, info in runs]).set_index("split")


#: how the page prints :func:`weight_counts`: the share as a percentage, the effective sample size in rows
COUNTS_FORMAT = {"share of weight on in-range rows": "{:.1%}", "effective sample size": "{:,.0f}"}


def count_glue(counts: pd.DataFrame) -> dict:
    """The values the prose under the counts glues, by glue key: the range and mean of the
    heavy-row counts, the mean restricted training set, the meta-training rows of the first
    split, the mean share of weight inside the band (percent), the mean heavy rows outside it and
    the mean effective sample size; and ``heavy_threshold``, :data:`HEAVY`."""
    heavy = counts["weights > 0.1"]
    return {"heavy_threshold": HEAVY, "heavy_min": int(heavy.min()), "heavy_max": int(heavy.max()),
            "heavy_mean": float(heavy.mean()),
            "restricted_mean": float(counts["restricted training rows"].mean()),
            "meta_rows": int(counts["meta-training rows"].iloc[0]),
            "share_inside": 100 * float(counts["share of weight on in-range rows"].mean()),
            "heavy_outside": float(counts["heavy rows outside the range"].mean()),
            "ess_mean": float(counts["effective sample size"].mean())}


def judgements(counts: pd.DataFrame) -> dict:
    """The criteria on the §4.4 claims, by name: ``band`` (at least 75% of the splits have a heavy-row
    count within the paper's 200-400), ``half`` (at least 75% of the splits have fewer heavy rows
    than half the restricted training set), ``outside`` (over 10% of the heavy rows lie outside the band,
    on average) and ``curve`` (a visual reading, untested)."""
    heavy, restricted = counts["weights > 0.1"], counts["restricted training rows"]
    low, high = PAPER_WEIGHTS_ABOVE_0_1
    n_in_band = int(((heavy >= low) & (heavy <= high)).sum())
    n_below_half = int((heavy < 0.5 * restricted).sum())
    outside = float(counts["heavy rows outside the range"].mean() / heavy.mean())
    return {"band": fraction(n_in_band, len(counts), yes_at=0.75, what="splits in 200-400"),
            "half": fraction(n_below_half, len(counts), yes_at=0.75, what="splits below half"),
            "outside": above(outside, 0.1, name="share of heavy rows outside the range"),
            "curve": untested("a visual reading; no criterion fixes what a thin curve is")}


def verdict_table(counts: pd.DataFrame, judged: dict) -> Verdicts:
    """The chapter's verdicts: one row per §4.4 claim, with the measured counts and the
    :func:`judgements` ``judged`` on them."""
    heavy = counts["weights > 0.1"]
    verdicts = Verdicts("learned-weighting", "Learned weighting results (paper §4.4)")
    verdicts.add("only about 200-400 of the 8,000 rows get a weight above 0.1", "§4.4", "200-400",
                 f"{heavy.min()}-{heavy.max()} of {counts['meta-training rows'].iloc[0]}", judged["band"],
                 kind="claim")
    verdicts.add("fewer than half the size of the restricted training set", "§4.4", "fewer than half",
                 f"{heavy.mean():.0f} vs {counts['restricted training rows'].mean():.0f}", judged["half"],
                 kind="claim")
    verdicts.add("significant portions of the heavy rows outside the target range", "§4.4", "significant portions",
                 f"{counts['heavy rows outside the range'].mean():.0f} per split", judged["outside"], kind="claim")
    verdicts.add("the weights follow a thin curve of a couple of years", "§4.4, Figure 3", "read off heat maps",
                 "see Figure 3's analogue", judged["curve"], kind="claim")
    return verdicts


def verdict_glue(judged: dict) -> dict:
    """The words the closing prose glues for the row-count claims of :func:`judgements`."""
    return {"v_band": judged["band"].word("holds", "does not hold", "holds on some splits only"),
            "v_half": judged["half"].word("holds", "does not hold", "holds on some splits only")}


#: The heat maps' colour map (light where the weight is low, so the 0.1-0.3 plateau and the ridge
#: both show) and the exponent of its power norm (below 1, it spreads the low weights apart).
HEATMAP_CMAP = "YlGnBu"
HEATMAP_GAMMA = 0.5
#: Years added beyond the heavy rows on each heat map axis before rounding up to :data:`HEATMAP_STEP`.
HEATMAP_MARGIN = 5
HEATMAP_STEP = 10


def heatmap_limit(runs) -> int:
    """The upper end (years) of both heat map axes: the largest true or initial predicted age of a
    heavily weighted meta-training row (weight above :data:`HEAVY`) over ``runs``, plus
    :data:`HEATMAP_MARGIN`, rounded up to a multiple of :data:`HEATMAP_STEP` and capped at the
    grid's 100 years.  Without heavy rows, the grid cells above :data:`HEAVY` decide; without
    those, the whole grid is shown."""
    top = []
    for arrays, _ in runs:
        keep = arrays["meta_w"] > HEAVY
        if keep.any():
            top.append(AGE_SCALE * max(arrays["meta_y"][keep].max(), arrays["meta_yhat0"][keep].max()))
        else:
            cells = np.argwhere(np.asarray(arrays["grid_w"]) > HEAVY)
            if len(cells):
                top.append(float(cells.max()))
    if not top:
        return 100
    return int(min(100, HEATMAP_STEP * np.ceil((max(top) + HEATMAP_MARGIN) / HEATMAP_STEP)))


def heatmaps(runs, low: int, high: int):
    """Figure 3's analogue: one heat map of the learned weight over (true age, initial predicted
    age) per run of ``runs``, on 0-:func:`heatmap_limit` years, in :data:`HEATMAP_CMAP` under a
    power norm; the heavily weighted meta-training rows as white dots with a dark rim, and dashed
    lines at the band's edges ``low`` and ``high`` (years).  Returns the figure."""
    from matplotlib.colors import PowerNorm

    top = heatmap_limit(runs)
    norm = PowerNorm(gamma=HEATMAP_GAMMA, vmin=0, vmax=1)
    fig, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs), 3.8), squeeze=False)
    for ax, (arrays, info) in zip(axes[0], runs, strict=True):
        im = ax.imshow(arrays["grid_w"].T, origin="lower", extent=(-0.5, 100.5, -0.5, 100.5),
                       cmap=HEATMAP_CMAP, norm=norm, aspect="auto", interpolation="nearest")
        keep = arrays["meta_w"] > HEAVY
        ax.scatter(arrays["meta_y"][keep] * 100, arrays["meta_yhat0"][keep] * 100, s=4, c="white",
                   edgecolors="0.1", linewidths=0.3, alpha=0.8)
        for edge in (low, high):
            ax.axvline(edge, color="0.25", ls="--", lw=0.9)
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_title(f"split {info['split']}")
        ax.grid(False)
        ax.set_xlabel("true age (years)")
    axes[0][0].set_ylabel("initial predicted age (years)")
    fig.colorbar(im, ax=axes[0].tolist(), label="learned weight (no unit)", shrink=0.85,
                 ticks=[0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1])
    return fig


def weight_by_age(runs) -> tuple[np.ndarray, np.ndarray]:
    """The meta-training rows of every run of ``runs`` pooled by whole year of true age: the
    number of rows and their total learned weight at each age 0..:data:`MAX_AGE` - 1, both per
    run (divided by the number of runs)."""
    ages = np.concatenate([np.rint(a["meta_y"] * 100) for a, _ in runs]).astype(int)
    weights = np.concatenate([a["meta_w"] for a, _ in runs])
    total = np.bincount(ages, weights=weights, minlength=MAX_AGE)
    count = np.bincount(ages, minlength=MAX_AGE)
    return count / len(runs), total / len(runs)


def weight_by_age_figure(runs, low: int, high: int):
    """Bars of :func:`weight_by_age` (rows per split in grey, total weight per split in red) with
    the band ``low``-``high`` shaded.  Returns the figure."""
    rows, weight = weight_by_age(runs)
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.bar(np.arange(len(rows)), rows, color="#cccccc", label="rows per split")
    ax.bar(np.arange(len(weight)), weight, color=plots.colour("reweighted"), label="total weight per split")
    ax.axvspan(low - 0.5, high + 0.5, color=plots.BAND, alpha=0.3, zorder=0)  # under the bars: red stays red
    ax.set_xlabel("true age (years)")
    ax.set_ylabel("rows, or total weight, per split")
    ax.set_xlim(0, 100)
    ax.legend()
    return fig
