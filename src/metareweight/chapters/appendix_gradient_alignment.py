"""What the chapter ``notebooks/appendix-gradient-alignment.md`` (paper §6.2, Figures 5 and 6)
assembles.

Gradient alignment on the CNN: the note on the timing of the alignment scores, the curves of
Figures 5 and 6, the summary table of the three fine-tuning runs, the smoothness of the indirect
method's curve read on the alignment's clock, the verdict table and its glued words.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import plots
from ..names import display_name
from ..verdicts import Verdicts, above, all_of, below, correlation_above

#: The three fine-tuning runs of Figure 5, in the order of the table and the verdicts.
RUNS = ("reweighted", "restricted", "all")
#: the runs in reader words: the first is weighted by gradient alignment, not by the paper's h_θ
RUN_LABELS = {"reweighted": "gradient-alignment weights", "restricted": "restricted rows", "all": "all rows"}


def bench_note(path: Path, method: str) -> str:
    """The sentence on how fast the alignment scores are computed.

    Parameters
    ----------
    path : path of ``results/bench.json`` (written by ``make bench``; may be absent)
    method : the alignment method the chapter uses (``experiment.ALIGN_METHOD``)

    Returns
    -------
    str
        The timings of the loop and of ``method`` and their ratio, or how to get them.
    """
    bench = json.loads(Path(path).read_text()) if Path(path).exists() else {}
    if method not in bench.get("alignment_seconds", {}):
        return "Run make bench to time the two against each other."
    secs = bench["alignment_seconds"]
    return (f"In the last make bench run (results/bench.json, {bench['machine']['cpus']} CPU cores), a batch of "
            f"100 took {secs['loop']:.3f} s by the loop and {secs[method]:.3f} s by the method used here "
            f"({secs['loop'] / secs[method]:.1f} times faster), with the same scores up to a relative "
            f"{bench['alignment_rel_error'][method]:.0e}.")


def settings_glue(cfg) -> dict:
    """Glue values of the fine-tuning settings: alignment scale, epochs, learning rate and split."""
    return {"align_scale": cfg.align_scale, "align_epochs": cfg.align_epochs, "align_lr": cfg.align_lr,
            "align_split_id": cfg.align_split}


def largest_drop(values) -> float:
    """Largest fall of a curve from one recorded point to the next (0 if it never falls or has
    fewer than two points)."""
    values = np.asarray(values, dtype=float)
    return float(max(0.0, -np.min(np.diff(values)))) if len(values) > 1 else 0.0


def summary_table(runs: dict) -> pd.DataFrame:
    """Final and best test correlation, largest drop between epochs and mean weight (over the
    epochs after the first record) of each fine-tuning run; one row per run.

    Parameters
    ----------
    runs : dict
        Run name -> history with lists ``monitor_corr`` and ``mean_weight``.
    """
    return pd.DataFrame({
        name: {"final correlation": h["monitor_corr"][-1], "best correlation": max(h["monitor_corr"]),
               "largest drop between epochs": largest_drop(h["monitor_corr"]),
               "mean weight": float(np.mean(h["mean_weight"][1:]))}
        for name, h in runs.items()
    }).T


def summary_glue(summary: pd.DataFrame, cold_seconds) -> dict:
    """Glue values of Figure 5's runs: final correlation and largest drop per run, the mean
    alignment weight, and the sentence on the runs' cold cost (``cold_seconds``, None if unknown)."""
    out = {}
    for name in summary.index:
        out[f"{name}_final_corr"] = float(summary.loc[name, "final correlation"])
        out[f"{name}_drop"] = float(summary.loc[name, "largest drop between epochs"])
    out["rw_mean_weight"] = float(summary.loc["reweighted", "mean weight"])
    out["align_cold_note"] = (
        f"Computing the three runs took {cold_seconds:,.0f} s when they were first computed (cold, including "
        "fetching the pretrained extractor); later builds read them from the cache."
        if cold_seconds is not None else "The cache entry of these runs predates the recording of their cost.")
    return out


def figure5(runs: dict):
    """Test correlation after each epoch of every fine-tuning run (Figure 5); returns the figure."""
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for name, hist in runs.items():
        ax.plot(hist["epoch"], hist["monitor_corr"], marker=".", color=plots.colour(name),
                label=display_name(name))
    ax.set_xlabel("epoch of fine-tuning (passes over the rows)")
    ax.set_ylabel("test Pearson correlation (no unit)")
    ax.legend()
    return fig


def figure6(hist: dict):
    """Test correlation of the re-weighted ridge head over the meta steps (Figure 6); returns the figure."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.plot(hist["step"], hist["monitor_corr"], color=plots.colour("reweighted"))
    ax.set_xlabel("meta step (full-batch Adam steps)")
    ax.set_ylabel("test Pearson correlation (no unit)")
    return fig


@dataclass
class Indirect:
    """The indirect method's curve, read for the smoothness comparison.

    Attributes
    ----------
    corr : ndarray
        Test correlation at every recorded meta step.
    drop : float
        Largest drop between consecutive records.
    drop_same : float
        Largest drop over ``n_epochs`` evenly spaced records (the alignment curve's count).
    n_epochs : int
    every : int
        Meta steps between two records (0 with a single record).
    """

    corr: np.ndarray
    drop: float
    drop_same: float
    n_epochs: int
    every: int


def indirect_curve(hist: dict, n_epochs: int) -> Indirect:
    """Read the main method's history (lists ``step`` and ``monitor_corr``) at all records and
    at ``n_epochs`` evenly spaced ones (:class:`Indirect`)."""
    corr = np.array(hist["monitor_corr"])
    same = corr[np.unique(np.linspace(0, len(corr) - 1, n_epochs).round().astype(int))]
    every = int(hist["step"][1] - hist["step"][0]) if len(hist["step"]) > 1 else 0
    return Indirect(corr, largest_drop(corr), largest_drop(same), n_epochs, every)


def indirect_glue(ind: Indirect) -> dict:
    """Glue values of Figure 6: final correlation, the two largest drops, the record count and spacing."""
    return {"indirect_final_corr": float(ind.corr[-1]), "indirect_drop_same": ind.drop_same,
            "n_epochs": ind.n_epochs, "indirect_drop": ind.drop, "indirect_every": ind.every}


def add_verdicts(verdicts: Verdicts, cfg, summary: pd.DataFrame, ind: Indirect, runs: dict, hist: dict, n_test: int,
                 cold_seconds: dict) -> dict:
    """Add the chapter's verdict rows to ``verdicts`` and attach its records (not yet saved).

    Parameters
    ----------
    verdicts : the chapter's (empty) :class:`metareweight.verdicts.Verdicts`
    cfg : the chapter's settings (``align_split`` is recorded)
    summary : :func:`summary_table`;  ind : :func:`indirect_curve`
    runs : the fine-tuning histories (lists ``epoch``, ``monitor_corr``);  hist : the main method's history
    n_test : test rows the correlations are measured on
    cold_seconds : ``{"alignment_runs": ..., "main_method_split": ...}``, recorded as is

    Returns
    -------
    dict
        The judgements ``fig5``, ``dips``, ``smooth`` and ``higher``.
    """
    final, drops, corr = summary["final correlation"], summary["largest drop between epochs"], ind.corr
    j = {}
    j["fig5"] = verdicts.add(
        "alignment weighting ends above restricted and all data (Figure 5)", "§6.2", "higher correlation",
        " / ".join(f"{n} {final[n]:.3f}" for n in RUNS) + f" on {n_test} test rows",
        all_of(correlation_above(float(final["reweighted"]), float(final["restricted"]), n_test, name="re-weighted",
                                 other="restricted"),
               correlation_above(float(final["reweighted"]), float(final["all"]), n_test, name="re-weighted",
                                 other="all")), kind="claim")
    j["dips"] = verdicts.add(
        "the alignment curve has sharp dips and jumps (Figure 5)", "§6.2", "stated (no numbers)",
        "largest drop between epochs: " + " / ".join(f"{n} {drops[n]:.3f}" for n in RUNS),
        above(float(drops["reweighted"]), float(max(drops["restricted"], drops["all"])),
              name="re-weighted run's largest drop, vs the baselines' largest"), kind="claim")
    j["smooth"] = verdicts.add(
        "the indirect method's curve is smoother (Figure 6)", "§6.2", "much smoother",
        f"largest drop {ind.drop_same:.3f} (indirect, {ind.n_epochs} evenly spaced records) vs "
        f"{drops['reweighted']:.3f} (alignment, {ind.n_epochs} epochs)",
        below(ind.drop_same, float(drops["reweighted"]), name="indirect method's largest drop"), kind="claim")
    j["higher"] = verdicts.add(
        "the indirect method reaches a higher correlation (Figure 6)", "§6.2", "higher",
        f"final {corr[-1]:.3f} (indirect) vs {final['reweighted']:.3f} (alignment)",
        correlation_above(float(corr[-1]), float(final["reweighted"]), n_test, name="indirect",
                          other="alignment"), kind="claim")
    verdicts.attach(
        split=cfg.align_split,
        curves={name: {"epoch": list(map(int, h["epoch"])), "test_corr": list(map(float, h["monitor_corr"]))}
                for name, h in runs.items()},
        indirect={"step": list(map(int, hist["step"])), "test_corr": list(map(float, corr))},
        cold_seconds=cold_seconds,
    )
    return j


def verdict_glue(j: dict) -> dict:
    """Words for the four judgements of :func:`add_verdicts` (holds, does not hold, ...)."""
    return {"v_fig5": j["fig5"].word("holds", "does not hold", "holds against one baseline only",
                                     indistinguishable="cannot be told apart from noise"),
            "v_dips": j["dips"].word("holds", "does not hold"),
            "v_smooth": j["smooth"].word("holds", "does not hold"),
            "v_higher": j["higher"].word("holds", "does not hold", indistinguishable="cannot be told apart from noise")}
