"""Figures in one house style."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .names import display_name

#: One colour per method key, in every figure of the book: each key of
#: :data:`metareweight.names.METHOD_NAMES` and the authors' head.  Red is the re-weighted head
#: (its seed-0 run a lighter red); variants of one method share its hue in a lighter shade.
METHOD_COLOURS = {
    "all": "#7f7f7f",
    "restricted": "#1f77b4",
    "reweighted": "#d62728",
    "constant": "#2ca02c",
    "cnn_head": "#9467bd",
    "authors": "#8c564b",
    "reweighted_seed0": "#ff9896",
    "restricted_tuned": "#aec7e8",
    "valid_only": "#17becf",
    "soft_band": "#bcbd22",
    "label_shift": "#e377c2",
    "lds_inverse": "#c49c94",
    "l2rw": "#393b79",
    "l2rw_closed_form": "#9c9ede",
    "mwnet": "#637939",
    "mwnet_closed_form": "#b5cf6b",
    "free_weights": "#7b4173",
    "age_only": "#6b6ecf",
    "inverse_square": "#a55194",
    "sigmoid": "#8c6d31",
    "one_plus_tanh": "#3a8c8c",
}
#: The first six methods' colours under their old name (the same dict: one colour per method).
PALETTE = METHOD_COLOURS


def colour(key: str) -> str:
    """The colour of method ``key`` (:data:`METHOD_COLOURS`); a key without one is an error, so
    that no method is drawn in a colour another one owns."""
    try:
        return METHOD_COLOURS[key]
    except KeyError:
        raise KeyError(f"no colour for method {key!r}: add it to plots.METHOD_COLOURS") from None


def shades(key: str, n: int, *, light: float = 0.55, dark: float = 0.45) -> list[tuple]:
    """``n`` shades of method ``key``'s colour, from mixed with white by ``light`` to mixed with
    black by ``dark``: one per split where a figure draws one line per split of that method, so
    the lines keep the method's hue and no split takes another method's colour."""
    from matplotlib.colors import to_rgb

    base = np.array(to_rgb(colour(key)))
    out = []
    for t in np.linspace(-light, dark, n) if n > 1 else [0.0]:
        target = np.zeros(3) if t > 0 else np.ones(3)
        out.append(tuple(float(c) for c in base + abs(t) * (target - base)))
    return out


#: Colours of the two pixel conventions and of the target band: none is a method's colour, so
#: red always means the re-weighted head.
PIXELS = {"scaled": "#222222", "code": "#ff7f0e"}
BAND = "#e8c547"


#: A ratio to the constant predictor "nearly beats" it at or below this mean.
NEAR_CONSTANT = 1.1
#: A ratio axis ends this factor above the largest ratio of the methods that (nearly) beat the
#: constant, rounded up to a multiple of RATIO_STEP; RATIO_FALLBACK when no method does.
RATIO_HEADROOM = 1.1
RATIO_STEP = 0.1
RATIO_FALLBACK = 2.0


def ratio_top(groups, *, near: float = NEAR_CONSTANT) -> float:
    """The top of a linear axis of test MSE over the constant predictor's.

    ``groups`` holds one ``(mean, values)`` per method (and convention or band): its mean ratio
    and every value drawn for it (per-split ratios, or interval ends).  The groups whose mean is
    at most ``near`` (they beat or nearly beat the constant) decide: the axis ends
    :data:`RATIO_HEADROOM` above their largest value, rounded up to :data:`RATIO_STEP`, and
    never below 1 + :data:`RATIO_STEP`, so that the line at 1 shows.  NaN values are ignored;
    without a deciding group the axis ends at :data:`RATIO_FALLBACK`."""
    tops = []
    for mean, values in groups:
        v = np.asarray(values, dtype=float).ravel()
        v = v[np.isfinite(v)]
        if np.isfinite(mean) and mean <= near:
            tops.append(max(float(mean), float(v.max()) if len(v) else float(mean)))
    if not tops:
        return RATIO_FALLBACK
    top = RATIO_STEP * np.ceil(round(max(tops) * RATIO_HEADROOM / RATIO_STEP, 9))
    return round(float(max(top, 1 + RATIO_STEP)), 9)


def clip_mark(ax, x, value, top, *, colour, fmt="{:.1f}", size=7.5):
    """Mark a ``value`` beyond the top ``top`` of a linear axis at ``x``: a triangle on the top
    edge and the value printed downwards below it.  Returns the text."""
    ax.plot([x], [top], marker="^", ms=6, color=colour, clip_on=False, zorder=4)
    return ax.text(x, top * 0.975, fmt.format(value), rotation=90, ha="center", va="top", fontsize=size,
                   color="0.1", zorder=5, bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.75,
                                                 "pad": 0.6})


def constant_line(ax, level=1.0, *, label="constant predictor", **kwargs):
    """The constant predictor's level on ``ax`` (1 on a ratio axis), in its colour, dashed."""
    return ax.axhline(level, color=colour("constant"), ls="--", lw=1.1, label=label, zorder=2, **kwargs)


def style() -> None:
    """Apply the book's plotting style, and show every table cell and column whole (pandas would
    cut cells at 50 characters with "…")."""
    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.95)
    plt.rcParams.update({"figure.dpi": 110, "savefig.bbox": "tight"})
    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.max_columns", None)


#: Font size (points) of the face grid's titles: readable once the figure is scaled to the page.
FACE_TITLE_SIZE = 13


def face_grid(images, ages, *, ncols=8):
    """A grid of faces titled "age N", youngest first (Figure 1).

    The faces arrive in file-name order, where "1_..." sorts after "16_..."; they are shown in
    order of age as a number (a stable sort, so faces of one age keep their order)."""
    ages = np.asarray(ages)
    order = np.argsort(ages.astype(float), kind="stable")
    n = len(images)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.25 * ncols, 1.55 * nrows), squeeze=False)
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, k in zip(np.ravel(axes), order, strict=False):
        ax.imshow(np.clip(images[k], 0, 1), interpolation="nearest")
        ax.set_title(f"age {ages[k]}", fontsize=FACE_TITLE_SIZE)
    fig.tight_layout()
    return fig


def age_histogram(ages, low, high):
    """Histogram of ages with the target band shaded."""
    fig, ax = plt.subplots(figsize=(7, 3))
    bins = np.arange(ages.min(), ages.max() + 2) - 0.5
    ax.hist(ages, bins=bins, color="#4c72b0")
    ax.axvspan(low - 0.5, high + 0.5, color=BAND, alpha=0.35,
               label=f"target range {low}-{high}")
    ax.set_xlabel("age (years)")
    ax.set_ylabel("images")
    ax.legend()
    return fig


def paired_panels(groups, pair, *, scale=1.0, ylabel="", constant=None):
    """One panel per ``(title, rows)`` group: each row's two values ``pair`` joined by a line
    (the first method at x = 0, the second at x = 1, in their :func:`colour` and named by
    :func:`display_name`), times ``scale``; ``constant`` maps a panel
    index to a level drawn as a dashed line (the constant predictor)."""
    a, b = pair
    fig, axes = plt.subplots(1, len(groups), figsize=(3.4 * len(groups), 3.4), sharey=True)
    for i, (ax, (title, rows)) in enumerate(zip(np.atleast_1d(axes), groups, strict=True)):
        first = np.array([r[a] for r in rows], dtype=float) * scale
        second = np.array([r[b] for r in rows], dtype=float) * scale
        for u, v in zip(first, second, strict=True):
            ax.plot([0, 1], [u, v], color="0.7", lw=0.8)
        ax.scatter(np.zeros(len(first)), first, color=colour(a), zorder=3)
        ax.scatter(np.ones(len(second)), second, color=colour(b), zorder=3)
        if constant is not None and i in constant:
            ax.axhline(constant[i], color=colour("constant"), ls="--", lw=1, label="constant predictor")
            ax.legend(fontsize=8, loc="upper right")
        ax.set_xticks([0, 1], [textwrap.fill(display_name(m), 16) for m in (a, b)])
        ax.set_xlim(-0.4, 1.4)
        ax.set_title(f"{title} (n = {len(rows)})", fontsize=9)
    np.atleast_1d(axes)[0].set_ylabel(ylabel)
    return fig


def forest(rows: list[dict]):
    """The first screen's forest plot: for each comparison of :func:`report.forest_rows`, the mean
    relative change of the paper's method's test MSE (positive: worse) with its 95% t interval,
    grouped by pixel convention; a comparison without an interval (too few usable splits) is a
    hollow marker.  Linear in percent, with a line at no change."""
    labels = [f"{r['against']}\n{r['pixels']}" for r in rows]
    fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(rows) + 1.2))
    for y, r in enumerate(rows):
        colour = PIXELS["scaled"] if r["pixels"].startswith("[0, 1]") else PIXELS["code"]
        if r["change"] is None:
            continue
        if r["low"] is not None:
            ax.plot([100 * r["low"], 100 * r["high"]], [y, y], color=colour, lw=2)
            ax.plot(100 * r["change"], y, "o", color=colour, ms=7)
        else:
            ax.plot(100 * r["change"], y, "o", mfc="white", mec=colour, ms=7)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(rows)), labels, fontsize=8.5)
    ax.invert_yaxis()
    ax.set_xlabel("test MSE of the paper's method against each, mean relative change (%): right is worse")
    ax.grid(axis="y", visible=False)
    fig.tight_layout()
    return fig
