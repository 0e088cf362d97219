"""What the chapter ``notebooks/other-target-ranges.md`` (beyond the paper) assembles.

Table 1's methods and two simple alternatives rerun on every band of the sweep: the choice of the
two alternatives on the main band's validation rows, the per-split test MSEs of every band
(:func:`run_bands`), their ratios to the constant predictor with t intervals, the figure of those
ratios, the verdicts per band, the values the prose glues and the chapter's record ``sweep.json``.

``results`` is the frame of :func:`run_bands`: one row per (band, split), with ``band`` (its
label), ``low``, ``high``, ``split``, ``n_test``, ``n_valid`` and every method's test MSE (years²).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import plots, runconfig, sweep
from ..alternatives import ALTERNATIVES
from ..experiment import run_all, years2
from ..models import INPUT_CENTRE
from ..names import display_name
from ..pool import parallel
from ..splits import make_splits
from ..stats import holm, mean_diff_ci, paired_summary
from ..verdicts import fraction, paired_comparison

#: Table 1's methods, run on every band.
TABLE1_METHODS = ("all", "restricted", "reweighted", "constant")
#: The paper's own bar on ages 14-21 (7 of 8 splits), asked of every band against Restricted.
RES_YES_AT = 7 / 8
#: The cold-time entries of the record, in their order.
COLD_KEYS = ("meta runs, main band (shared with §4.3)", "meta runs, other bands", "simple alternatives",
             "extractors (shared with every chapter)")


def band_label(low: int, high: int) -> str:
    """A band's label: "low-high" (years)."""
    return f"{low}-{high}"


def band_splits(faces, cfg, low: int, high: int):
    """The splits of the band ``low``-``high`` under ``cfg``'s protocol: the same permutation,
    test and validation blocks as the main band's, restricted to the band."""
    return make_splits(faces.ages, n_splits=cfg.n_splits, low=low, high=high, seed=cfg.split_seed,
                       protocol=cfg.split_protocol)


def validation_means(infos) -> pd.Series:
    """Each simple alternative's validation MSE (years²), averaged over the splits of ``infos``
    (the infos of :func:`metareweight.sweep.simple_alternatives_run`), lowest first."""
    return (pd.DataFrame([info["valid_mse"] for info in infos]).mean() * float(years2(1.0))).sort_values()


def main_band_choice(faces, cfg) -> pd.Series:
    """:func:`validation_means` of every simple alternative on every split of ``cfg``'s main band."""
    runs = parallel([(sweep.simple_alternatives_run, faces, s, cfg)
                     for s in band_splits(faces, cfg, cfg.target_low, cfg.target_high)], cached=True)
    return validation_means([info for _, info in runs])


def choice_table(valid_means: pd.Series, chosen) -> pd.DataFrame:
    """The choice on validation: each alternative's mean validation MSE (years², three
    decimals), whether it is among ``chosen``, and what the method is."""
    frame = pd.DataFrame({"mean validation MSE (years²)": valid_means.round(3),
                          "chosen": valid_means.index.isin(chosen),
                          "method": [ALTERNATIVES[m] for m in valid_means.index]})
    return frame.rename(index=display_name).rename_axis("alternative")


def setup_glue(main_band, chosen, bands, n_splits: int) -> dict:
    """The values the prose about the choice and the sweep glues, by glue key: the main band,
    the two chosen alternatives' names, the number and list of bands, the splits per band and
    the age at which h_θ centres its inputs."""
    return {"main_band": band_label(*main_band), "alt_1": display_name(chosen[0]), "alt_2": display_name(chosen[1]),
            "n_bands": len(bands), "n_splits_run": n_splits, "bands_list": ", ".join(band_label(*b) for b in bands),
            "input_centre": 100 * INPUT_CENTRE}


def split_row(band, split, info: dict, alt: dict, chosen) -> dict:
    """One row of the results: the band ``(low, high)``, the split's index and test and
    validation sizes, the test MSE (years²) of Table 1's methods from the run's ``info`` and of
    the ``chosen`` alternatives from their run's ``alt``."""
    low, high = band
    return {"band": band_label(low, high), "low": low, "high": high, "split": split.index,
            "n_test": len(split.test), "n_valid": len(split.valid),
            **{m: float(years2(info["mse"][m])) for m in TABLE1_METHODS},
            **{a: float(years2(alt["mse"][a])) for a in chosen}}


def add_cold(cold: dict, band, first_band, main_band, info: dict, alt: dict) -> None:
    """Add one split's cold seconds to ``cold`` (keys :data:`COLD_KEYS`): its meta run (main
    band or other), its alternatives and, on ``first_band`` only (one extractor per split,
    whichever band uses it first), its extractor."""
    key = COLD_KEYS[0] if band == main_band else COLD_KEYS[1]
    cold[key] += float(info["cold_seconds"])
    cold[COLD_KEYS[2]] += float(alt["cold_seconds"])
    if band == first_band:
        cold[COLD_KEYS[3]] += float(info["extractor_seconds"])


def run_bands(faces, cfg, bands, chosen) -> tuple[pd.DataFrame, dict]:
    """Table 1's methods (:func:`metareweight.experiment.run_all`) and the ``chosen``
    alternatives on every split of every band of ``bands`` (the main band's alternative runs
    hold all four, those of the choice).  Returns the results frame (one :func:`split_row` per
    band and split) and the cold seconds by :data:`COLD_KEYS`."""
    main_band = (cfg.target_low, cfg.target_high)
    rows, cold = [], dict.fromkeys(COLD_KEYS, 0.0)
    for low, high in bands:
        band_cfg = cfg.variant(target_low=low, target_high=high)
        this_band = band_splits(faces, cfg, low, high)
        names = sweep.SIMPLE if (low, high) == main_band else chosen
        alts = parallel([(sweep.simple_alternatives_run, faces, s, band_cfg, names) for s in this_band], cached=True)
        for s, (_, info), (_, alt) in zip(this_band, run_all(faces, this_band, band_cfg), alts, strict=True):
            rows.append(split_row((low, high), s, info, alt, chosen))
            add_cold(cold, (low, high), bands[0], main_band, info, alt)
    return pd.DataFrame(rows), cold


def reweighted_table(results: pd.DataFrame) -> pd.DataFrame:
    """The re-weighted head's test MSE (years², two decimals), one row per band and one column
    per split."""
    return results.pivot_table(index="band", columns="split", values="reweighted", sort=False).round(2)


def ratio_row(band, part: pd.DataFrame, method: str) -> dict:
    """Test MSE over the constant's on the same split, for ``method`` on the band's rows
    ``part``: its mean over splits with a 95% t interval (sample std), the constant's mean MSE,
    the number of splits and the mean test and validation rows."""
    ratio = (part[method] / part["constant"]).to_numpy()
    ci = mean_diff_ci(ratio, np.zeros_like(ratio))  # mean of the ratio
    return {"band": band_label(*band), "method": method, "mean ratio": ci["mean"],
            "CI low": ci["ci_low"], "CI high": ci["ci_high"],
            "constant MSE (years²)": float(part["constant"].mean()), "splits": len(part),
            "test rows (mean)": float(part["n_test"].mean()), "validation rows (mean)": float(part["n_valid"].mean())}


def ratios(results: pd.DataFrame, methods) -> pd.DataFrame:
    """One :func:`ratio_row` per band (in the order of ``results``) and method of ``methods``."""
    return pd.DataFrame([ratio_row(band, part, m) for band, part in results.groupby(["low", "high"], sort=False)
                         for m in methods])


def ratio_table(ratio: pd.DataFrame, methods):
    """The mean ratios of :func:`ratios`, one row per band and one column per method (shown to
    three decimals)."""
    table = ratio.pivot_table(index="band", columns="method", values="mean ratio", sort=False)[list(methods)]
    return table.rename(columns=display_name)


def ratio_interval_table(ratio: pd.DataFrame, methods) -> pd.DataFrame:
    """The mean ratios of :func:`ratios` with their 95% t intervals in words, "mean (low to
    high)", one row per band and one column per method."""
    words = [f"{r['mean ratio']:.3f} ({r['CI low']:.3f} to {r['CI high']:.3f})" for _, r in ratio.iterrows()]
    return ratio.assign(**{"mean ratio (95% CI)": words}).pivot_table(
        index="band", columns="method", values="mean ratio (95% CI)", aggfunc="first", sort=False)[list(methods)] \
        .rename(columns=display_name)


def ratio_figure(ratio: pd.DataFrame, bands, methods, chosen):
    """The figure of the ratios: per band, each method's mean ratio (dot) and 95% t interval
    (bar), in its :func:`plots.colour` and named by :func:`display_name`, with the constant's
    level 1 dashed.  The y axis is linear from 0 to :func:`plots.ratio_top` of the (method, band)
    means that beat or nearly beat the constant, with their intervals; a mean beyond it is a
    triangle on the top edge with its value printed.  Returns the figure."""
    names = [band_label(*b) for b in bands]
    parts = {m: ratio[ratio["method"] == m].set_index("band").loc[names] for m in methods}
    top = plots.ratio_top([(r["mean ratio"], [r["CI low"], r["CI high"]])
                           for part in parts.values() for _, r in part.iterrows()])
    fig, ax = plt.subplots(figsize=(max(7, 1.5 * len(bands)), 3.8))
    for j, m in enumerate(methods):
        part = parts[m]
        x = np.arange(len(bands)) + (j - (len(methods) - 1) / 2) * 0.13
        mean = part["mean ratio"].to_numpy(dtype=float)
        inside = ~(mean > top)
        ax.errorbar(x[inside], mean[inside], yerr=[(mean - part["CI low"])[inside], (part["CI high"] - mean)[inside]],
                    fmt="o", ms=4, lw=1, capsize=2, color=plots.colour(m), label=display_name(m))
        for k in np.flatnonzero(~inside):
            plots.clip_mark(ax, x[k], mean[k], top, colour=plots.colour(m))
    plots.constant_line(ax, label="constant predictor (1)")
    ax.set_ylim(0, top)
    ax.set_xticks(np.arange(len(bands)), names)
    ax.set_xlabel("target band (age, years)")
    ax.set_ylabel("test MSE / constant's MSE (ratio)")
    ax.legend(fontsize=7.5, ncol=3, loc="lower left", columnspacing=0.8, handletextpad=0.4)
    return fig


def paired_by_band(results: pd.DataFrame, chosen) -> dict:
    """Question -> per band (in order) :func:`metareweight.stats.paired_summary` of the
    re-weighted head against its base: Restricted ("restricted"), the constant ("constant") and
    the first chosen alternative ("alternative")."""
    parts = [part for _, part in results.groupby(["low", "high"], sort=False)]
    return {q: [paired_summary(part[base], part["reweighted"]) for part in parts]
            for q, base in (("restricted", "restricted"), ("constant", "constant"), ("alternative", chosen[0]))}


def add_band_verdicts(verdicts, band, vs: dict, adjusted: dict, family: int, alternative: str) -> dict:
    """The three verdicts of one band added to ``verdicts``: against Restricted (the paper's bar
    :data:`RES_YES_AT` of splits won), and paired against the constant and ``alternative``
    (Holm-adjusted p-values ``adjusted`` over ``family`` bands).  ``vs`` holds the band's three
    paired summaries; returns question -> judgement."""
    label = band_label(*band)
    res, const, alt = vs["restricted"], vs["constant"], vs["alternative"]
    repeat = " (repeats the §4.3 claim)" if tuple(band) == (14, 21) else ""
    return {
        "restricted": verdicts.add(
            f"learned re-weighting beats Restricted on ages {label}{repeat}", "beyond the paper", "7 of 8 (ages 14-21)",
            f"{res['wins']} of {res['n']} splits", fraction(res["wins"], res["n"], yes_at=RES_YES_AT), kind="beyond"),
        "constant": verdicts.add(
            f"learned re-weighting beats the constant predictor on ages {label}", "beyond the paper", "not compared",
            f"mean relative gain {const['mean_rel_improvement']:+.1%}",
            paired_comparison(const, adjusted_p=float(adjusted["constant"]), family=family, what="relative gain"),
            kind="beyond"),
        "alternative": verdicts.add(
            f"learned re-weighting beats {display_name(alternative)} (chosen on validation) on ages {label}",
            "beyond the paper", "not compared", f"{alt['wins']} of {alt['n']} splits",
            paired_comparison(alt, adjusted_p=float(adjusted["alternative"]), family=family, what="relative gain"),
            kind="beyond")}


def add_verdicts(verdicts, results: pd.DataFrame, chosen) -> dict:
    """Every band's verdicts (:func:`add_band_verdicts`), Holm over the bands of each paired
    question.  Returns question -> the judgements of every band, in order."""
    bands = [band for band, _ in results.groupby(["low", "high"], sort=False)]
    vs = paired_by_band(results, chosen)
    adjusted = {q: holm([s["perm_p"] for s in vs[q]]) for q in ("constant", "alternative")}
    outcomes = {"restricted": [], "constant": [], "alternative": []}
    for i, band in enumerate(bands):
        judged = add_band_verdicts(verdicts, band, {q: vs[q][i] for q in vs},
                                   {q: adjusted[q][i] for q in adjusted}, len(bands), chosen[0])
        for q, judgement in judged.items():
            outcomes[q].append(judgement)
    return outcomes


def verdict_glue(outcomes: dict) -> dict:
    """How many bands each question holds on (``bands_yes_<question>``) and fails on
    (``bands_no_<question>``), from :func:`add_verdicts`'s outcomes."""
    out = {}
    for key, judged in outcomes.items():
        out[f"bands_yes_{key}"] = sum(j.holds == "yes" for j in judged)
        out[f"bands_no_{key}"] = sum(j.holds == "no" for j in judged)
    return out


def record(cfg, results: pd.DataFrame, chosen, cold: dict) -> dict:
    """The chapter's record (``sweep.json``): per band its splits' test MSEs (years²) of Table
    1's methods and the ``chosen`` alternatives, the alternatives and the cold seconds."""
    def split_entry(r):
        return {"split": int(r["split"]), **{m: float(r[m]) for m in (*TABLE1_METHODS, *chosen)}}

    return {"units": "years^2", "config": runconfig.record(cfg),
            "bands": [{"low": int(low), "high": int(high), "splits": [split_entry(r) for _, r in part.iterrows()]}
                      for (low, high), part in results.groupby(["low", "high"], sort=False)],
            "alternatives": chosen, "cold_seconds": cold}
