"""What the chapter ``notebooks/ablations.md`` (beyond the paper) assembles: one choice at a time.

The paper's method rerun with one of its choices changed (the output map, inputs and width of
h_θ, the size of the validation set, the penalty convention), each variant paired with the
default run of the same split.  For each section: the runs and the per-split test MSE (years²),
the table, the figure, the findings the prose glues; then the verdicts, the compute seconds and
the ``ablations.json`` record.  A frame of test MSE has one row per split and one column per
variant.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import plots, sweep
from ..display import signed
from ..experiment import run_all, years2
from ..pool import parallel
from ..stats import paired_summary, t_interval
from ..verdicts import Verdicts, at_most, beats_each, fraction, is_true, untested

#: The paper's output map, inputs and penalty convention (the defaults the variants are paired with).
DEFAULT_MAP, DEFAULT_INPUTS, DEFAULT_PENALTY = "inverse_square", "both", "n"
MAP_LABELS = {"inverse_square": "1/(x²+1)", "sigmoid": "sigmoid(x)", "one_plus_tanh": "1 + tanh(x)"}
#: The output maps' colours, in the order of MAP_LABELS (each map's own :func:`plots.colour`).
MAP_COLOURS = tuple(plots.colour(m) for m in MAP_LABELS)
INPUT_LABELS = {"both": "y and ŷ₀", "y": "y only", "yhat0": "ŷ₀ only"}
PENALTIES = ("n", "sum_w")
PENALTY_LABELS = {"n": "λ·N (the code)", "sum_w": "λ·Σw"}
#: The spread of mean test MSE over widths we read into "does not change results too much".
WIDTH_TOL = 0.05
#: A small validation set suffices when its test MSE costs at most this relative change.
SMALL_BAR = 0.10
#: λ·Σw must shrink the head less on this share of the splits for the hypothesis to hold.
SHRINK_YES_AT = 0.75
SUMMARY_FORMAT = {"mean": "{:.2f}", "sd": "{:.2f}", "change vs default": "{:+.1%}"}
SHRINK = "pred. std / age std"
RESTRICTED_SHRINK = "Restricted: pred. std / age std"
NEFF = "effective rows (Σw)²/Σw²"
ROWS = "N (rows of the refit)"
#: how the tables of :func:`map_table` and :func:`penalty_table` print their columns
MAP_FORMAT = {**SUMMARY_FORMAT, "largest rise (years²)": "{:.3g}", "late spread (years²)": "{:.3g}"}
PENALTY_FORMAT = {"test MSE (years²)": "{:.2f}", ROWS: "{:,.0f}", "Σw": "{:,.0f}", NEFF: "{:,.0f}", SHRINK: "{:.3f}",
                  RESTRICTED_SHRINK: "{:.3f}"}


def default_cold(default_runs) -> dict:
    """The compute-seconds record's first entry: the cold seconds of the default (§4.3) runs
    ``default_runs``, their extractors included."""
    return {"default runs (shared with §4.3, extractors included)":
            float(sum(info["cold_seconds"] + info["extractor_seconds"] for _, info in default_runs))}


def setup_glue(splits, all_splits, cfg, default_runs) -> dict:
    """The values the overview and the section intros glue, by key: the number of ablation splits
    and of Table 1's splits, the band, the meta steps between two records of the validation curve
    (from the first default run), the late share (percent), the validation subset sizes, and the
    bars of the width, validation-size and penalty verdicts (percent)."""
    steps = default_runs[0][1]["history"]["step"]
    return {"n_abl": len(splits), "n_table1": len(all_splits), "band": f"{cfg.target_low}-{cfg.target_high}",
            "record_every": int(steps[1] - steps[0]), "late_share": 100 * sweep.LATE_SHARE,
            "valid_sizes": " or ".join(str(n) for n in sweep.VALID_SIZES), "width_tol": 100 * WIDTH_TOL,
            "small_bar": 100 * SMALL_BAR, "shrink_share": 100 * SHRINK_YES_AT}


def ablate(faces, splits, cfg, setting: str, values):
    """Run the paper's method with ``setting`` set to each of ``values`` on every split of
    ``splits`` (cached like the main runs).

    Returns the runs by value, the re-weighted head's test MSE (years², one row per split, one
    column per value), and the cold compute seconds of the variants that differ from ``cfg``."""
    runs = {v: run_all(faces, splits, cfg.variant(**{setting: v})) for v in values}
    index = pd.Index([s.index for s in splits], name="split")
    frame = pd.DataFrame({v: [float(years2(info["mse"]["reweighted"])) for _, info in r] for v, r in runs.items()},
                         index=index)
    seconds = float(sum(info["cold_seconds"] for v, r in runs.items() if v != cfg[setting] for _, info in r))
    return runs, frame, seconds


def summary(frame: pd.DataFrame, default, labels: dict):
    """The :func:`sweep.paired_table` of ``frame`` against its ``default`` column, the variants
    named by ``labels`` (else by themselves), MSE in years²; shown with :data:`SUMMARY_FORMAT`."""
    table = pd.DataFrame(sweep.paired_table(frame, default, frame.columns)).set_index("variant")
    table.index = pd.Index([labels.get(v, str(v)) for v in table.index], name="variant")
    return table


def constant_level(default_runs) -> float:
    """The constant predictor's mean test MSE (years²) over the default runs ``default_runs`` of
    the ablation splits: every variant keeps the split's rows, so this is the level each test-MSE
    figure of the chapter marks."""
    return float(np.mean([years2(info["mse"]["constant"]) for _, info in default_runs]))


CONSTANT_LABEL = "constant predictor (mean over splits)"


def mark_constant(ax, constant) -> None:
    """The constant predictor's level ``constant`` (years²) on ``ax``, labelled; nothing when None."""
    if constant is not None and np.isfinite(constant):
        plots.constant_line(ax, constant, label=CONSTANT_LABEL)
        ax.legend(fontsize=8)


def paired_dots(ax, frame: pd.DataFrame, labels: dict, constant=None) -> None:
    """Draw one dot per split and column of ``frame`` on ``ax``, the dots of one split joined by a
    grey line, the columns named by ``labels``; ``constant`` (years², or None) is the constant
    predictor's level, dashed."""
    x = np.arange(frame.shape[1])
    for _, row in frame.iterrows():
        ax.plot(x, row.to_numpy(), color="0.7", lw=0.8)
    for j, col in enumerate(frame.columns):
        ax.scatter(np.full(len(frame), x[j]), frame[col], color=plots.colour("reweighted"), zorder=3, s=18)
    ax.set_xticks(x, [labels.get(c, str(c)) for c in frame.columns])
    ax.set_xlim(-0.5, len(x) - 0.5)
    ax.set_ylabel("test MSE (years²)")
    mark_constant(ax, constant)


def dots_figure(frame: pd.DataFrame, labels: dict, constant=None):
    """A figure of :func:`paired_dots` alone (``constant``: the constant predictor's level).
    Returns the figure."""
    fig, ax = plt.subplots(figsize=(5, 3.4))
    paired_dots(ax, frame, labels, constant)
    return fig


# ------------------------------------------------------------------------------ 1. output map

def instability(runs, index) -> pd.DataFrame:
    """:func:`sweep.instability` of each run's validation-MSE curve (in years²), one row per run of
    ``runs``, indexed by ``index``."""
    return pd.DataFrame([sweep.instability(years2(info["history"]["valid_mse"])) for _, info in runs], index=index)


def map_table(map_mse: pd.DataFrame, unsteady: dict, labels: dict = MAP_LABELS):
    """The paired summary of the output maps (columns of ``map_mse``) against 1/(x²+1), with each
    map's mean largest rise and late spread over the splits (``unsteady``: the :func:`instability`
    frame of each map); shown with :data:`MAP_FORMAT`."""
    maps = list(map_mse.columns)
    table = pd.DataFrame(sweep.paired_table(map_mse, DEFAULT_MAP, maps)).set_index("variant")
    table["largest rise (years²)"] = [unsteady[m]["largest_rise"].mean() for m in maps]
    table["late spread (years²)"] = [unsteady[m]["late_sd"].mean() for m in maps]
    table.index = pd.Index([labels[m] for m in maps], name="output map")
    return table


def output_map_figure(map_mse: pd.DataFrame, map_runs: dict, split_index: int, labels: dict = MAP_LABELS,
                      constant=None):
    """Left the :func:`paired_dots` of ``map_mse`` (with the constant predictor's level
    ``constant``); right the validation MSE (years²) against the meta step of each map's first
    run in ``map_runs`` (split ``split_index``).  Returns the figure."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    paired_dots(left, map_mse, labels, constant)
    for m in map_mse.columns:
        hist = map_runs[m][0][1]["history"]
        right.plot(hist["step"], years2(hist["valid_mse"]), color=plots.colour(m), lw=1.2, label=labels[m])
    right.set_xlabel("meta step")
    right.set_ylabel("validation MSE (years²)")
    right.set_title(f"split {split_index}", fontsize=9)
    right.legend(fontsize=8)
    return fig


def tied(names: list) -> str:
    """One name as itself; several joined as "a, b and c (tied)"."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1] + " (tied)"


def output_map_findings(map_mse: pd.DataFrame, unsteady: dict, labels: dict = MAP_LABELS) -> dict:
    """What §1 finds, by name: the mean test MSE of 1/(x²+1) and of the better other map
    (``inv_mse``, ``other_mse``), the label of the best map, each map's mean largest rise
    (``rise_means``) and the lowest of the other maps' (``other_rise``), the mean late spread of
    1/(x²+1) and the lowest of the others' (``inv_late``, ``other_late``), and the judgements
    ``v_mse`` (1/(x²+1) beats each other map in test MSE, paired over splits) and ``v_rise`` (it
    beats each in late spread)."""
    maps = list(map_mse.columns)
    others = [m for m in maps if m != DEFAULT_MAP]
    pairs = {labels[m]: paired_summary(map_mse[m], map_mse[DEFAULT_MAP]) for m in others}
    late = {labels[m]: paired_summary(unsteady[m]["late_sd"], unsteady[DEFAULT_MAP]["late_sd"]) for m in others}
    return {"inv_mse": float(map_mse[DEFAULT_MAP].mean()), "other_mse": float(min(map_mse[m].mean() for m in others)),
            "best": labels[str(map_mse.mean().idxmin())],
            "rise_means": {m: float(unsteady[m]["largest_rise"].mean()) for m in maps},
            "other_rise": float(min(unsteady[m]["largest_rise"].mean() for m in others)),
            "inv_late": float(unsteady[DEFAULT_MAP]["late_sd"].mean()),
            "other_late": float(min(unsteady[m]["late_sd"].mean() for m in others)),
            "v_mse": beats_each(pairs), "v_rise": beats_each(late, what="relative reduction of the late spread")}


def output_map_glue(found: dict, labels: dict = MAP_LABELS) -> dict:
    """The values the prose of §1 glues, by key, from :func:`output_map_findings` ``found``."""
    rise = found["rise_means"]
    steadiest = [labels[m] for m in rise if rise[m] == min(rise.values())]
    return {"map_best": found["best"], "map_steadiest": tied(steadiest), "map_rise_min": min(rise.values()),
            "map_inv_rise": rise[DEFAULT_MAP], "map_other_rise": found["other_rise"],
            "map_inv_mse": found["inv_mse"], "map_other_mse": found["other_mse"],
            "v_map_mse": found["v_mse"].word("holds", "does not hold", "holds against one of the two",
                                             indistinguishable="cannot be told apart from the others"),
            "v_map_rise": found["v_rise"].word("holds", "does not hold", "holds against one of the two",
                                               indistinguishable="cannot be told apart"),
            "map_inv_late": found["inv_late"], "map_other_late": found["other_late"]}


# ------------------------------------------------------------------------------ 2. inputs

def inputs_findings(input_mse: pd.DataFrame, labels: dict = INPUT_LABELS) -> dict:
    """What §2 finds, by name: the label of the best input set, the mean test MSE with both
    inputs and with the better single input (``both``, ``single``), and the judgement ``v_inputs``
    (both inputs beat each single input, paired over splits)."""
    singles = [c for c in input_mse.columns if c != DEFAULT_INPUTS]
    pairs = {labels[c]: paired_summary(input_mse[c], input_mse[DEFAULT_INPUTS]) for c in singles}
    return {"best": labels[str(input_mse.mean().idxmin())], "both": float(input_mse[DEFAULT_INPUTS].mean()),
            "single": float(min(input_mse[c].mean() for c in singles)), "v_inputs": beats_each(pairs)}


def inputs_glue(found: dict) -> dict:
    """The values the prose of §2 glues, by key, from :func:`inputs_findings` ``found``."""
    return {"inputs_best": found["best"], "inputs_both": found["both"], "inputs_single": found["single"],
            "v_inputs": found["v_inputs"].word("bears out", "does not bear out", "bears out only against one input",
                                               indistinguishable="cannot tell apart from a single input")}


# ------------------------------------------------------------------------------ 3. width

def widths_around(hidden: int) -> list[int]:
    """The widths of h_θ tried around ``hidden`` units: a quarter (at least 1), itself, four times."""
    return sorted({max(1, hidden // 4), hidden, 4 * hidden})


def count_axis(fig, ax, ticks, xlabel: str):
    """Finish a test-MSE figure over a count on a log x axis: the ``ticks`` labelled as whole
    numbers, no minor ticks, the axis labels and the legend.  Returns the figure."""
    ax.set_xscale("log")
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test MSE (years²)")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))  # beside the lines, not on them
    return fig


def width_figure(width_mse: pd.DataFrame, constant=None):
    """Test MSE (years²) against the width of h_θ (the columns of ``width_mse``, log scale), one
    line per split, and the constant predictor's level ``constant`` dashed.  Returns the figure."""
    widths = list(width_mse.columns)
    fig, ax = plt.subplots(figsize=(5, 3.4))
    shades = plots.shades("reweighted", len(width_mse))
    for (split_index, row), shade in zip(width_mse.iterrows(), shades, strict=True):
        ax.plot(widths, row.to_numpy(), marker="o", lw=1, color=shade, label=f"split {split_index}")
    if constant is not None and np.isfinite(constant):
        plots.constant_line(ax, constant, label=CONSTANT_LABEL)
    return count_axis(fig, ax, widths, "hidden units of h_θ (count)")


def width_findings(width_mse: pd.DataFrame, tol: float = WIDTH_TOL) -> dict:
    """What §3 finds, by name: the widths, the lowest and highest mean test MSE over widths, their
    ``spread`` ((max − min) / min) and the judgement ``v_width`` (the spread is at most ``tol``)."""
    means = width_mse.mean()
    spread = float((means.max() - means.min()) / means.min())
    return {"widths": list(width_mse.columns), "min": float(means.min()), "max": float(means.max()), "spread": spread,
            "v_width": at_most(spread, tol, name="(max − min) / min of the mean test MSE over widths")}


def width_glue(found: dict) -> dict:
    """The values the prose of §3 glues, by key (the spread in percent), from :func:`width_findings`."""
    return {"width_min": found["min"], "width_max": found["max"], "width_spread": 100 * found["spread"],
            "v_width": found["v_width"].word("within", "beyond")}


# ------------------------------------------------------------------------------ 4. validation size

def size_row(split, n: int, info: dict, base: dict) -> dict:
    """One row of :func:`validation_size_runs`: the split, the ``n`` validation rows used (named
    "all" for the full set), the re-weighted head's test MSE of that run ``info`` and the default
    run ``base``'s Restricted test MSE (years²)."""
    return {"split": split.index, "validation rows": n, "size": "all" if n == len(split.valid) else str(n),
            "reweighted": float(years2(info["mse"]["reweighted"])),
            "restricted": float(years2(base["mse"]["restricted"]))}


def validation_size_runs(faces, splits, cfg, default_runs):
    """The meta step rerun on each split's nested validation subsets (:func:`sweep.valid_sizes`,
    the full set last), cached.

    Returns one :func:`size_row` per split and size, and the cold compute seconds of the runs on
    subsets (the full set repeats the default run)."""
    jobs = [(s, n) for s in splits for n in sweep.valid_sizes(s)]
    runs = parallel([(sweep.valid_subset_run, faces, s, cfg, n) for s, n in jobs], cached=True)
    base = {s.index: info for s, (_, info) in zip(splits, default_runs, strict=True)}
    rows = [size_row(s, n, info, base[s.index]) for (s, n), (_, info) in zip(jobs, runs, strict=True)]
    seconds = 0.0
    for (s, n), (_, info) in zip(jobs, runs, strict=True):
        seconds += 0.0 if n == len(s.valid) else float(info["cold_seconds"])
    return pd.DataFrame(rows), seconds


def size_matrix(sizes: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The re-weighted head's test MSE of :func:`validation_size_runs` ``sizes``, one row per split
    and one column per size (smallest first, "all" last), with the split's Restricted test MSE as
    a last column; and the labels of the columns."""
    frame = sizes.pivot(index="split", columns="size", values="reweighted")
    order = [str(n) for n in sweep.VALID_SIZES if str(n) in frame.columns] + ["all"]
    frame = frame[order]
    frame["restricted"] = sizes.groupby("split")["restricted"].first()
    labels = {"all": "all validation rows", "restricted": "Restricted (no meta step)",
              **{k: f"{k} validation rows" for k in order[:-1]}}
    return frame, labels


def size_figure(sizes: pd.DataFrame, constant=None):
    """Test MSE (years²) against the validation rows the meta step used (log scale), one line per
    split of ``sizes``, the split's Restricted head dashed, and the constant predictor's level
    ``constant`` dashed in its colour.  Returns the figure."""
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    groups = list(sizes.groupby("split"))
    red, blue = plots.shades("reweighted", len(groups)), plots.shades("restricted", len(groups))
    for k, (split_index, part) in enumerate(groups):
        ax.plot(part["validation rows"], part["reweighted"], marker="o", lw=1, color=red[k],
                label=f"split {split_index}")
        ax.axhline(part["restricted"].iloc[0], color=blue[k], ls="--", lw=0.8,
                   label="Restricted, per split (dashed)" if k == len(groups) - 1 else None)
    if constant is not None and np.isfinite(constant):
        plots.constant_line(ax, constant, label=CONSTANT_LABEL)
    ticks = sorted({*sweep.VALID_SIZES, int(round(sizes.loc[sizes["size"] == "all", "validation rows"].mean()))})
    return count_axis(fig, ax, ticks, "validation rows used by the meta step (count)")


def small_valid_findings(sizes: pd.DataFrame, bar: float = SMALL_BAR) -> dict:
    """What §4 finds, by name: ``smallest`` (each split's row with the fewest validation rows),
    ``full`` (its full-set row), the mean relative ``change`` of test MSE from full to smallest
    and the upper end ``high`` of its 95% t interval, the splits where the smallest set beats
    Restricted (``small_wins``) and where the full set does (``full_wins``), and the judgement
    ``v_small`` (``high`` is at most ``bar``; untested with one split)."""
    smallest = sizes.loc[sizes.groupby("split")["validation rows"].idxmin()]
    full = sizes[sizes["size"] == "all"].set_index("split")
    small = smallest.set_index("split")
    rel = ((small["reweighted"] - full["reweighted"]) / full["reweighted"]).to_numpy()
    high = t_interval(rel)[1]
    judged = (is_true(bool(high <= bar), "upper end of the 95% t interval of the mean relative change of test "
                      f"MSE, small against full validation set, ≤ +{bar:.0%}", upper=high, splits=len(rel))
              if np.isfinite(high) else untested(f"{len(rel)} split: no interval"))
    return {"smallest": smallest, "full": full, "change": float(rel.mean()), "high": high,
            "small_wins": int((smallest["reweighted"] < smallest["restricted"]).sum()),
            "full_wins": int((full["reweighted"] < full["restricted"]).sum()), "v_small": judged}


def small_valid_glue(found: dict) -> dict:
    """The values the prose of §4 glues, by key (changes in percent), from :func:`small_valid_findings`."""
    return {"valid_full_mean": float(found["full"]["validation rows"].mean()),
            "valid_smallest": int(found["smallest"]["validation rows"].min()), "small_wins": found["small_wins"],
            "small_change": 100 * found["change"], "v_small": found["v_small"].word("suffices", "does not suffice"),
            "small_high": signed(100 * found["high"], "+.1f", "%"), "full_wins": found["full_wins"]}


# ------------------------------------------------------------------------------ 5. penalty

def penalty_row(label: str, split, arrays: dict, info: dict) -> dict:
    """One row of :func:`penalty_rows`: for the run ``(arrays, info)`` of ``split`` under the
    convention ``label``, the test MSE (years²), the rows of the refit, Σw, the effective rows of
    the final weights, and the prediction std over the age std of the re-weighted and Restricted
    heads (:func:`sweep.shrinkage`)."""
    w = arrays["train_w"]
    return {"penalty": label, "split": split.index, "test MSE (years²)": float(years2(info["mse"]["reweighted"])),
            ROWS: len(w), "Σw": float(w.sum()), NEFF: sweep.effective_n(w),
            SHRINK: sweep.shrinkage(arrays["test_pred_reweighted"], arrays["test_y"]),
            RESTRICTED_SHRINK: sweep.shrinkage(arrays["test_pred_restricted"], arrays["test_y"])}


def penalty_rows(pen_runs: dict, splits, labels: dict = PENALTY_LABELS) -> pd.DataFrame:
    """One :func:`penalty_row` per convention of ``pen_runs`` (runs by convention) and split."""
    return pd.DataFrame([penalty_row(labels[p], s, arrays, info) for p, runs in pen_runs.items()
                         for (arrays, info), s in zip(runs, splits, strict=True)])


def penalty_table(pen: pd.DataFrame):
    """The means over splits of :func:`penalty_rows` ``pen``, one row per convention; shown with
    :data:`PENALTY_FORMAT`."""
    return pen.groupby("penalty", sort=False).mean(numeric_only=True).drop(columns="split")


def penalty_figure(pen_mse: pd.DataFrame, pen: pd.DataFrame, labels: dict = PENALTY_LABELS, constant=None):
    """Left the :func:`paired_dots` of the test MSE per convention ``pen_mse`` (with the constant
    predictor's level ``constant``); right those of the prediction std over the age std from
    ``pen``, with Restricted's mean ratio dashed.  Returns the figure."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    paired_dots(left, pen_mse, labels, constant)
    ratio = pen.pivot(index="split", columns="penalty", values=SHRINK)[[labels[p] for p in pen_mse.columns]]
    paired_dots(right, ratio, {})
    right.axhline(pen[RESTRICTED_SHRINK].mean(), color=plots.colour("restricted"), ls="--", lw=1, label="Restricted")
    right.set_ylabel("prediction std / true age std (ratio)")
    right.legend(fontsize=8)
    return fig


def penalty_findings(pen: pd.DataFrame, pen_mse: pd.DataFrame, labels: dict = PENALTY_LABELS) -> dict:
    """What §5 finds, by name: the mean prediction-std ratio of the re-weighted head under each
    convention and of Restricted (``shrink_n``, ``shrink_w``, ``shrink_res``), the splits where
    λ·Σw shrinks less (``less_shrunk``) and has the lower test MSE (``sumw_wins``), the means of
    :func:`penalty_rows` by convention (``means``), the mean test MSE of each convention
    (``mse_n``, ``mse_w``), the number of ``splits``, and the judgements ``v_shrink`` (λ·Σw shrinks
    less on at least :data:`SHRINK_YES_AT` of the splits) and ``v_sumw`` (λ·Σw beats λ·N)."""
    by_pen = pen.set_index(["penalty", "split"])
    shrink_n = by_pen.loc[labels["n"], SHRINK]
    shrink_w = by_pen.loc[labels["sum_w"], SHRINK]
    less_shrunk = int((shrink_w > shrink_n).sum())
    return {"shrink_n": float(shrink_n.mean()), "shrink_w": float(shrink_w.mean()),
            "shrink_res": float(pen[RESTRICTED_SHRINK].mean()), "less_shrunk": less_shrunk,
            "sumw_wins": int((pen_mse["sum_w"] < pen_mse["n"]).sum()),
            "means": pen.groupby("penalty", sort=False).mean(numeric_only=True),
            "mse_n": float(pen_mse["n"].mean()), "mse_w": float(pen_mse["sum_w"].mean()), "splits": len(pen_mse),
            "v_shrink": fraction(less_shrunk, len(pen_mse), yes_at=SHRINK_YES_AT),
            "v_sumw": beats_each({labels["n"]: paired_summary(pen_mse["n"], pen_mse["sum_w"])})}


def penalty_glue(found: dict, labels: dict = PENALTY_LABELS) -> dict:
    """The values the prose of §5 glues, by key, from :func:`penalty_findings` ``found``."""
    means = found["means"]
    return {"pen_neff": float(means.loc[labels["n"], NEFF]), "pen_N": float(means.loc[labels["n"], ROWS]),
            "pen_shrink_n": found["shrink_n"], "pen_shrink_w": found["shrink_w"],
            "pen_shrink_res": found["shrink_res"], "pen_mse_n": found["mse_n"], "pen_mse_w": found["mse_w"],
            "pen_wins": found["sumw_wins"], "v_shrink": found["v_shrink"].word("supports", "does not support")}


# ------------------------------------------------------------------------------ verdicts and record

def verdict_table(maps: dict, inputs: dict, width: dict, small: dict, pen: dict) -> Verdicts:
    """The chapter's verdicts from the findings of the five sections (:func:`output_map_findings`,
    :func:`inputs_findings`, :func:`width_findings`, :func:`small_valid_findings`,
    :func:`penalty_findings`)."""
    verdicts = Verdicts("ablations", "Ablations of the paper's own choices (beyond the paper)")
    verdicts.add("the output map 1/(x²+1) gives the lowest test MSE", "§4.2", "best of the three",
                 f"{maps['inv_mse']:.2f} vs {maps['other_mse']:.2f} years² (best other)", maps["v_mse"], kind="claim")
    verdicts.add("tanh- and sigmoid-based maps are less stable than 1/(x²+1)", "§4.2", "greater instability",
                 f"late spread {maps['inv_late']:.3g} vs {maps['other_late']:.3g} years² (steadiest other)",
                 maps["v_rise"], kind="claim")
    verdicts.add("h_θ works best with both y and ŷ₀ as inputs", "§3.1", "works best",
                 f"{inputs['both']:.2f} vs {inputs['single']:.2f} years² (better single input)", inputs["v_inputs"],
                 kind="claim")
    verdicts.add(f"the width of h_θ barely matters ({', '.join(map(str, width['widths']))} units)", "§4.2",
                 "does not change results too much", f"spread {width['spread']:.1%} of the lowest mean",
                 width["v_width"], kind="claim")
    verdicts.add(f"a small validation set suffices: {int(small['smallest']['validation rows'].min())} validation "
                 f"rows cost at most {SMALL_BAR:.0%} of test MSE", "§4.3", "a small clean validation set",
                 f"{small['change']:+.1%} against the full set", small["v_small"], kind="claim")
    verdicts.add("λ·N (the code) pulls the re-weighted head toward a constant more than λ·Σw",
                 "beyond the paper (§3.1 has a plain λ)", "not discussed",
                 f"prediction std / age std {pen['shrink_n']:.2f} (λ·N) vs {pen['shrink_w']:.2f} (λ·Σw); "
                 f"less shrunk with λ·Σw on {pen['less_shrunk']} of {pen['splits']} splits", pen["v_shrink"],
                 kind="beyond")
    verdicts.add("λ·Σw gives a lower test MSE than λ·N", "beyond the paper (§3.1 has a plain λ)", "not discussed",
                 f"{pen['mse_w']:.2f} vs {pen['mse_n']:.2f} years²; lower on {pen['sumw_wins']} of "
                 f"{pen['splits']} splits", pen["v_sumw"], kind="beyond")
    return verdicts


def column_lists(frame: pd.DataFrame) -> dict:
    """Each column of ``frame`` as a list of floats, keyed by the column's name as a string."""
    return {str(c): [float(v) for v in frame[c]] for c in frame.columns}


def record(config: dict, target: str, map_mse: pd.DataFrame, unsteady: dict, input_mse: pd.DataFrame,
           width_mse: pd.DataFrame, sizes: pd.DataFrame, pen: pd.DataFrame, cold: dict) -> dict:
    """The ``ablations.json`` record: ``config`` (the run's :func:`runconfig.record`), the band
    ``target``, the splits, every section's per-split values (years²) and the compute seconds
    ``cold``."""
    return {
        "units": "years^2",
        "std": "sample (ddof=1) over splits",
        "target": target,
        "config": config,
        "splits": [int(i) for i in map_mse.index],
        "output_map": {"test_mse": column_lists(map_mse),
                       "largest_rise": {m: [float(v) for v in unsteady[m]["largest_rise"]] for m in map_mse.columns},
                       "late_sd": {m: [float(v) for v in unsteady[m]["late_sd"]] for m in map_mse.columns}},
        "inputs": column_lists(input_mse),
        "hidden_width": column_lists(width_mse),
        "validation_size": sizes.to_dict(orient="records"),
        "penalty": pen.to_dict(orient="records"),
        "cold_seconds": cold,
    }
