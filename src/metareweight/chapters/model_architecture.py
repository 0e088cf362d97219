"""What the architecture chapter (``notebooks/model-architecture.md``, paper §4.2) shows: the
networks' parameter counts, the facts of the extractors' training, their training curves, the
accuracy of each extractor's own head, and the chapter's setup verdict rows."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from torch import nn

from .. import plots
from ..experiment import AGE_SCALE, years2
from ..extractor import predict, to_tensor
from ..names import display_name
from ..plots import BAND
from ..splits import in_range
from ..verdicts import is_true

#: The paper's architecture (§4.2) and ridge parameter (§3.1, §4.2).
PAPER_KERNELS = [7, 7]
PAPER_MAPS = [32, 16]
PAPER_HIDDEN = 20
PAPER_OUTPUT = "inverse_square"
PAPER_LAMBDA = 5e-3
PAPER_SPLITS = 8
#: How each ridge penalty convention scales λ, in reader words.
PENALTY_WORDS = {"n": "λ·N, N the rows of the fit (the code)", "sum_w": "λ·Σw (the total weight)",
                 "plain": "plain λ (the paper's formula)"}


def parameter_count(module: nn.Module) -> int:
    """The number of trainable and frozen parameters (scalars) of ``module``."""
    return sum(p.numel() for p in module.parameters())


def training_seconds(trained) -> list[float]:
    """Seconds each extractor's training took, summed over its epochs (from the history that
    ships with it; 0.0 for a history without times).  ``trained``: the
    :class:`extractor.TrainedExtractor` of each split."""
    return [float(sum(t.history.get("seconds", []))) for t in trained]


def training_facts(trained, cfg) -> dict:
    """The numbers the chapter's prose gives about the training.

    Parameters: ``trained`` (one :class:`extractor.TrainedExtractor` per split) and ``cfg`` (the
    run's configuration).  Returns a dict of glue name -> value: how many were shipped, how many
    there are, the minutes of training summed over them, and the learning rate, batch size and
    epochs used.
    """
    return {"n_shipped": sum(t.shipped for t in trained), "n_trained": len(trained),
            "train_minutes": sum(training_seconds(trained)) / 60,
            "lr_used": cfg.lr, "batch_used": cfg.batch_size, "epochs_used": cfg.epochs}


def training_curves(splits, trained, low: int, high: int):
    """The figure of training MSE (left, log scale) and test MSE on the band ``low``-``high``
    (right), in years², after every epoch, one line per split.  Returns the figure."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4), sharex=True)
    for s, t, shade in zip(splits, trained, plots.shades("cnn_head", len(splits)), strict=True):
        epochs_axis = np.arange(1, len(t.history["train_mse"]) + 1)
        left.plot(epochs_axis, years2(t.history["train_mse"]), lw=1, color=shade, label=f"split {s.index}")
        right.plot(epochs_axis, years2(t.history["monitor_mse"]), lw=1, color=shade)
    left.set_yscale("log")
    left.set_title("training rows (all ages)")
    right.set_title(f"test rows (ages {low}-{high})")
    for ax in (left, right):
        ax.set_xlabel("epoch")
        ax.set_ylabel("MSE (years²)")
    left.legend(fontsize=7, ncols=2)
    return fig


def own_predictions(faces, split, trained) -> np.ndarray:
    """The extractor's own head's predicted age (years) of every image in ``split``'s test block.
    ``trained``: the split's :class:`extractor.TrainedExtractor`."""
    return predict(trained.model, to_tensor(faces.images[split.test_block])) * AGE_SCALE


def head_errors(pred: np.ndarray, true: np.ndarray, low: int, high: int) -> dict:
    """The errors of predicted ages ``pred`` against true ages ``true`` (years): the MSE over all
    of them, the MSE inside the band ``low``-``high`` (years²) and the mean signed error inside
    the band (years; negative: too young)."""
    inside = in_range(true, low, high)
    return {"MSE, all test ages (years²)": float(np.mean((pred - true) ** 2)),
            "MSE, target range (years²)": float(np.mean((pred[inside] - true[inside]) ** 2)),
            "mean error in range (years)": float(np.mean(pred[inside] - true[inside]))}


def head_table(faces, splits, trained, low: int, high: int) -> pd.DataFrame:
    """One row per split (indexed by split): :func:`head_errors` of its extractor's own head on
    its test block."""
    return pd.DataFrame([{"split": s.index, **head_errors(own_predictions(faces, s, t), faces.ages[s.test_block],
                                                          low, high)}
                         for s, t in zip(splits, trained, strict=True)]).set_index("split")


def head_facts(head: pd.DataFrame) -> dict:
    """The means over splits of :func:`head_table`'s columns, by glue name: ``head_all``,
    ``head_range`` (years²) and ``head_bias`` (years)."""
    return {"head_all": float(head["MSE, all test ages (years²)"].mean()),
            "head_range": float(head["MSE, target range (years²)"].mean()),
            "head_bias": float(head["mean error in range (years)"].mean())}


def prediction_scatter(true: np.ndarray, pred: np.ndarray, low: int, high: int):
    """The figure of predicted against true age (years), with the diagonal and the band
    ``low``-``high`` shaded.  Returns the figure."""
    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    ax.scatter(true, pred, s=5, alpha=0.5)
    ax.plot([0, 100], [0, 100], color="k", lw=0.8)
    ax.axvspan(low - 0.5, high + 0.5, color=BAND, alpha=0.3)
    ax.set_xlabel("true age (years)")
    ax.set_ylabel("predicted age (years)")
    return fig


def conv_shape(extractor) -> tuple[list[int], list[int]]:
    """The kernel sizes and output maps of the extractor's convolutions, in order."""
    convs = [m for m in extractor.features if isinstance(m, nn.Conv2d)]
    return [c.kernel_size[0] for c in convs], [c.out_channels for c in convs]


def ridge_words(cfg, n_rows: int) -> str:
    """What the run's ridge penalty adds to the diagonal, in words; with the code's λ·N on a fit
    of ``n_rows`` rows it gives the scaled value."""
    words = PENALTY_WORDS[cfg.ridge_penalty]
    if cfg.ridge_penalty == "n":
        return (f"{cfg.ridge_lambda:g} scaled as {words}: on All's {n_rows:,} rows the diagonal gets "
                f"{cfg.ridge_lambda * n_rows:.3g}, not {cfg.ridge_lambda:g}")
    return f"{cfg.ridge_lambda:g} scaled as {words}"


def add_verdicts(verdicts, extractor, weight_net, trained, splits, cfg) -> None:
    """Add the chapter's four setup rows to ``verdicts`` (a :class:`verdicts.Verdicts`): the
    extractor's convolutions, one extractor per split, the weight network, and the ridge penalty,
    each against the paper.  ``extractor`` and ``weight_net`` are the networks the run builds,
    ``trained`` the split's extractors, ``cfg`` the run's configuration."""
    kernels, maps = conv_shape(extractor)
    verdicts.add("extractor: two convolutions of kernel 7 with 32 and 16 maps", "§4.2", "kernel 7, 32 and 16 maps",
                 f"kernels {kernels}, maps {maps}; {extractor.head.in_features} features (plus the code's Tanh)",
                 is_true(kernels == PAPER_KERNELS and maps == PAPER_MAPS, "kernels [7, 7] and maps [32, 16]",
                         n_convs=len(kernels)), kind="setup")
    n_distinct = len({t.key for t in trained})
    verdicts.add("one extractor per split, trained on all training images", "§4.2", "8 extractors",
                 f"{len(trained)} extractors, {cfg.epochs} epochs each",
                 is_true(n_distinct == len(splits) == PAPER_SPLITS, "8 distinct extractors, one per split",
                         extractors=n_distinct), kind="setup")
    hidden = weight_net.net[0].out_features
    verdicts.add("weight network: one hidden layer of 20, output 1/(x²+1)", "§4.2", "20 units, 1/(x²+1)",
                 f"hidden {hidden} ({cfg.weight_activation}), output {display_name(cfg.weight_output)}",
                 is_true(hidden == PAPER_HIDDEN and cfg.weight_output == PAPER_OUTPUT,
                         "20 hidden units and the 1/(x²+1) map", hidden=hidden,
                         output=display_name(cfg.weight_output)),
                 kind="setup")
    verdicts.add("ridge penalty λ = 5e-3 as the paper's formula writes it, (XᵀWX + λI)⁻¹", "§3.1, §4.2", "λ = 5e-3",
                 ridge_words(cfg, len(splits[0].train_all)),
                 is_true(cfg.ridge_lambda == PAPER_LAMBDA and cfg.ridge_penalty == "plain",
                         "λ = 5e-3 added to the diagonal unscaled", ridge_lambda=cfg.ridge_lambda,
                         ridge_penalty=PENALTY_WORDS[cfg.ridge_penalty]), kind="setup")
