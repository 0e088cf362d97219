"""Figures in one house style."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

PALETTE = {
    "all": "#7f7f7f",
    "restricted": "#1f77b4",
    "reweighted": "#d62728",
    "constant": "#2ca02c",
    "cnn_head": "#9467bd",
    "authors": "#8c564b",
}


def style() -> None:
    """Apply the book's plotting style."""
    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.95)
    plt.rcParams.update({"figure.dpi": 110, "savefig.bbox": "tight"})


def face_grid(images, ages, *, ncols=8):
    """A grid of faces titled with their ages (Figure 1)."""
    n = len(images)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.25 * ncols, 1.45 * nrows))
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, img, age in zip(np.ravel(axes), images, ages, strict=False):
        ax.imshow(np.clip(img, 0, 1), interpolation="nearest")
        ax.set_title(f"{age}", fontsize=9)
    fig.tight_layout()
    return fig


def age_histogram(ages, low, high):
    """Histogram of ages with the target band shaded."""
    fig, ax = plt.subplots(figsize=(7, 3))
    bins = np.arange(ages.min(), ages.max() + 2) - 0.5
    ax.hist(ages, bins=bins, color="#4c72b0")
    ax.axvspan(low - 0.5, high + 0.5, color=PALETTE["reweighted"], alpha=0.2,
               label=f"target range {low}-{high}")
    ax.set_xlabel("age (years)")
    ax.set_ylabel("images")
    ax.legend()
    return fig
