"""Figures of the Appendix A chapters (toys and Theorem 1), in the book's house style."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

COLOURS = {"data": "#4c72b0", "valid": "#d62728", "value": "#7f7f7f",
           "difference": "#ff7f0e", "closed form": "#2ca02c", "unweighted": "#9467bd"}


def piecewise_fits(x, y, valid, lines):
    """Figure 4: the 1-D toy, its validation points and fitted lines.

    ``lines`` maps a label to ``(slope, intercept)``; a label's first word picks the colour.
    """
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.scatter(x[~valid], y[~valid], s=12, color=COLOURS["data"], label="training points")
    ax.scatter(x[valid], y[valid], s=28, color=COLOURS["valid"], marker="D",
               label="validation points (10 largest y)")
    grid = np.linspace(x.min(), x.max(), 50)
    for label, (slope, intercept) in lines.items():
        colour = COLOURS.get(label.split(" (")[0].split(":")[0], None)
        ax.plot(grid, slope * grid + intercept, lw=1.8, color=colour, label=label)
    ax.set_xlabel("x (centred)")
    ax.set_ylabel("y")
    ax.set_ylim(y.min() - 0.3, y.max() + 0.3)
    ax.legend(fontsize=8, loc="upper left")
    return fig


def alignment_parts(x, parts, valid):
    """Per-point alignment g_i . g_v and its slope and intercept shares (columns of ``parts``)."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.axhline(0, color="black", lw=0.8)
    ax.plot(x, parts.sum(axis=1), color="black", lw=2, label="alignment $g_i \\cdot g_v$")
    ax.plot(x, parts[:, 0], color=COLOURS["difference"], lw=1.5, ls="--", label="slope share")
    ax.plot(x, parts[:, -1], color=COLOURS["data"], lw=1.5, ls=":", label="intercept share")
    ax.scatter(x[valid], parts.sum(axis=1)[valid], color=COLOURS["valid"], marker="D", s=20,
               zorder=3, label="validation points")
    ax.set_xlabel("x (centred)")
    ax.set_ylabel("alignment")
    ax.legend(fontsize=8)
    return fig


def weight_maps(X, panels, *, ncols=None):
    """Scatter of (x1, x2) coloured by weight, one panel per entry of ``panels`` (title -> w)."""
    ncols = ncols or len(panels)
    nrows = int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols + 1.0, 3.3 * nrows), squeeze=False,
                             layout="constrained")
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    for ax, (title, w) in zip(axes.ravel(), panels.items(), strict=False):
        w = np.asarray(w, dtype=float)
        sc = ax.scatter(X[:, 0], X[:, 1], c=w / max(w.max(), 1e-12), s=6, cmap="viridis",
                        vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        ax.set_aspect("equal")
    fig.colorbar(sc, ax=axes.ravel().tolist(), shrink=0.8, label="weight / max weight")
    return fig


def trajectories(curves, *, ylabel, xlabel="step", logy=False):
    """Lines ``label -> (steps, values)``; labels sharing a first word share a colour."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for label, (steps, values) in curves.items():
        colour = COLOURS.get(label.split(" ")[0], None)
        ax.plot(steps, values, lw=1.3, color=colour, label=label, alpha=0.85)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, ncol=2)
    return fig


def sign_flip(scales, dots, exact):
    """Dot product and exact effect of one candidate point against the scale of x."""
    fig, ax = plt.subplots(figsize=(7, 3.4))
    ax.axhline(0, color="black", lw=0.8)
    ax.plot(scales, -np.asarray(dots), color=COLOURS["difference"], lw=2,
            label="$-g_d \\cdot g_v$ (negative: looks helpful)")
    ax.plot(scales, exact, color=COLOURS["closed form"], lw=2,
            label="exact $dL_{valid}/d\\delta$ (negative: helps)")
    ax.set_xscale("log")
    ticks = [t for t in (0.25, 0.5, 1.0, 2.0, 4.0) if min(scales) <= t <= max(scales)]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_xlabel("scale $c$ of x")
    ax.set_ylabel("effect")
    ax.legend(fontsize=8)
    return fig
