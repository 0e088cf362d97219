"""Figures of the Appendix A chapters (toys and Theorem 1), in the book's house style.

The toys are unitless (x and y are plain numbers), so their axes say "no unit"; one axis never
carries two different quantities.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .plots import colour

#: The toys' own colours.  The toys' formulations are not the book's methods, so none of them
#: takes a method's colour (red is the re-weighted head, orange 0-255 pixels), except the
#: unweighted fit, which is the toys' All.
COLOURS = {"data": "#4c72b0", "valid": "#111111", "value": "#1b9e77",
           "difference": "#d95f02", "closed form": "#e7298a", "unweighted": colour("all")}


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
    ax.set_xlabel("x (centred; no unit)")
    ax.set_ylabel("y (no unit)")
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
    ax.set_xlabel("x (centred; no unit)")
    ax.set_ylabel("alignment $g_i \\cdot g_v$ and its shares (no unit)")
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
        ax.set_xlabel("$x_1$ (no unit)")
        ax.set_ylabel("$x_2$ (no unit)")
        ax.set_aspect("equal")
    fig.colorbar(sc, ax=axes.ravel().tolist(), shrink=0.8, label="weight / largest weight (no unit)")
    return fig


def trajectories(curves, *, ylabel, xlabel="step", logy=False):
    """Lines ``label -> (steps, values)`` of one quantity; labels sharing a first word share a
    colour.  ``ylabel`` and ``xlabel`` must name the quantity and its unit."""
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


def trajectory_panels(panels, *, xlabel="step", logy=False):
    """One panel per quantity: ``panels`` is a list of ``(title, ylabel, {label: (steps, values)})``;
    within a panel each line gets the next colour of the cycle."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False,
                             layout="constrained")
    for ax, (title, ylabel, curves) in zip(axes[0], panels, strict=True):
        for label, (steps, values) in curves.items():
            ax.plot(steps, values, lw=1.3, label=label, alpha=0.85)
        if logy:
            ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    return fig


def sign_flip(scales, candidates):
    """Dot product (left panel) and exact effect (right panel) of candidate points against the
    scale of x.

    ``candidates`` maps a label to ``(dots, exact)``, arrays over ``scales``.  Grid points where
    the two disagree in sign (dot < 0 yet the point helps, or dot > 0 yet it hurts) are marked
    with crosses on both panels.
    """
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6), layout="constrained")
    colours = [COLOURS["closed form"], COLOURS["difference"], COLOURS["data"], COLOURS["valid"]]
    ticks = [t for t in (0.25, 0.5, 1.0, 2.0, 4.0) if min(scales) <= t <= max(scales)]
    for k, (label, (dots, exact)) in enumerate(candidates.items()):
        dots, exact = np.asarray(dots, float), np.asarray(exact, float)
        wrong = ((dots < 0) & (exact < 0)) | ((dots > 0) & (exact > 0))
        colour = colours[k % len(colours)]
        for ax, values in zip(axes, (dots, exact), strict=True):
            ax.plot(scales, values, color=colour, lw=2, label=label)
            ax.scatter(np.asarray(scales)[wrong], values[wrong], color=colour, marker="x", s=22,
                       label=f"{label}: signs disagree" if ax is axes[0] else None, zorder=3)
    for ax in axes:
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xscale("log")
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("scale $c$ of x (no unit)")
    axes[0].set_yscale("symlog", linthresh=1.0)
    axes[0].set_ylabel("$g_d \\cdot g_v$ (no unit; > 0: looks helpful)")
    axes[0].set_title("gradient dot product", fontsize=9)
    axes[1].set_ylabel("exact $dL_{valid}/d\\delta$ (no unit; < 0: helps)")
    axes[1].set_title("exact effect of adding the point", fontsize=9)
    axes[0].legend(fontsize=7, loc="lower left")
    return fig
