"""What the chapter ``notebooks/seeds.md`` (beyond the paper) assembles: the seed experiments.

The runs of the meta step with several seeds on every split and of extra extractor seeds on the
first splits (one row per split and seed, test MSE in years²), the check of whether meta seed 0
is a lucky initialisation, the noise and ordering measures the prose glues, the tables and
figures, the verdicts and the ``seeds.json`` record.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from .. import plots
from ..display import count_of, plural
from ..experiment import run_split, years2
from ..meta import init_weight_net
from ..names import display_name
from ..pool import parallel
from ..verdicts import Verdicts, fraction, is_true, untested

#: The two heads whose ordering the chapter follows across seeds.
HEADS = ("restricted", "reweighted")
#: An ordering survives the seeds when it holds for every seed (or none) on this share of splits.
ORDER_YES_AT = 0.75
#: Seed 0 is an outlier beyond this many sample stds of the other seeds' means from their mean.
OUTLIER_SD = 2


def seed_row(split_index: int, key: str, seed: int, info: dict, methods=HEADS) -> dict:
    """One row of a seed table: the split, the seed under the column ``key`` and the test MSE
    (years²) of each head in ``methods``, read from a run's ``info``."""
    return {"split": split_index, key: seed, **{m: float(years2(info["mse"][m])) for m in methods}}


def meta_seed_runs(faces, splits, cfg) -> pd.DataFrame:
    """The cached runs of every split with meta seeds ``0 .. cfg.meta_seeds - 1``.

    Returns one row per seed and split (seed by seed): split, meta seed, the restricted and
    re-weighted heads' test MSE (years²) and the run's cold compute seconds."""
    rows = []
    for seed in range(cfg.meta_seeds):
        runs = parallel([(run_split, faces, s, cfg.variant(meta_seed=seed)) for s in splits], cached=True)
        rows += [{**seed_row(s.index, "meta seed", seed, info), "cold_seconds": info["cold_seconds"]}
                 for s, (_, info) in zip(splits, runs, strict=True)]
    return pd.DataFrame(rows)


def constant_by_split(faces, splits, cfg) -> pd.Series:
    """The constant predictor's test MSE (years²) per split of ``splits``, indexed by split, read
    from the meta-seed-0 runs of :func:`meta_seed_runs` (cached; the constant uses neither seed)."""
    runs = parallel([(run_split, faces, s, cfg.variant(meta_seed=0)) for s in splits], cached=True)
    levels = {s.index: float(years2(info["mse"]["constant"])) for s, (_, info) in zip(splits, runs, strict=True)}
    return pd.Series(levels, name="constant")


def seed_check_runs(faces, splits, seeds, cfg) -> pd.DataFrame:
    """The cached runs of ``splits`` with each meta seed of ``seeds``.

    Returns one row per seed and split (seed by seed): meta seed, split, the re-weighted head's
    test MSE (years²) and the run's cold compute seconds."""
    jobs = [(seed, s) for seed in seeds for s in splits]
    runs = parallel([(run_split, faces, s, cfg.variant(meta_seed=seed)) for seed, s in jobs], cached=True)
    return pd.DataFrame([{"meta seed": seed, "split": s.index, "reweighted": float(years2(info["mse"]["reweighted"])),
                          "cold_seconds": info["cold_seconds"]}
                         for (seed, s), (_, info) in zip(jobs, runs, strict=True)])


def extractor_seed_runs(faces, splits, cfg) -> pd.DataFrame:
    """The cached runs of ``splits`` with extractor seeds ``0 .. cfg.extractor_seeds - 1``.

    Returns one row per seed and split (seed by seed): split, extractor seed, the restricted,
    re-weighted and constant heads' test MSE (years²) and the cold compute seconds of the run and
    its extractor."""
    rows = []
    for seed in range(cfg.extractor_seeds):
        runs = parallel([(run_split, faces, s, cfg.variant(train_seed=seed)) for s in splits], cached=True)
        rows += [{**seed_row(s.index, "extractor seed", seed, info, (*HEADS, "constant")),
                  "cold_seconds": info["cold_seconds"] + info["extractor_seconds"]}
                 for s, (_, info) in zip(splits, runs, strict=True)]
    return pd.DataFrame(rows)


def meta_table(meta: pd.DataFrame) -> pd.DataFrame:
    """The re-weighted head's test MSE (years², 2 decimals) of :func:`meta_seed_runs`, one row per
    split and one column per meta seed."""
    return meta.pivot(index="split", columns="meta seed", values="reweighted").round(2)


def check_table(check: pd.DataFrame) -> pd.DataFrame:
    """The re-weighted head's test MSE (years², 3 decimals) of :func:`seed_check_runs`, one row per
    meta seed and one column per split, with the seed's mean over the splits."""
    return check.pivot(index="meta seed", columns="split", values="reweighted").assign(
        mean=lambda f: f.mean(axis=1)).round(3)


def extractor_table(ext: pd.DataFrame) -> pd.DataFrame:
    """The three heads' test MSE (years², 2 decimals) of :func:`extractor_seed_runs`, one row per
    split and extractor seed."""
    return ext.set_index(["split", "extractor seed"])[["restricted", "reweighted", "constant"]].round(2)


def order_stable(frame: pd.DataFrame) -> int:
    """The number of splits of ``frame`` (columns split, restricted, reweighted; one row per seed)
    on which the re-weighted head is better than the restricted one for every seed, or for none."""
    order = frame.assign(rw_better=frame["reweighted"] < frame["restricted"]).groupby("split")["rw_better"]
    return int((order.all() | ~order.any()).sum())


def meta_noise(meta: pd.DataFrame) -> dict:
    """How much of the re-weighted head's spread over splits is meta-seed noise.

    Returns ``within_sd`` (the pooled within-split sample std over meta seeds, years²),
    ``between_sd`` (the sample std of the split means), ``share`` (within² over within² plus
    between²) and ``stable`` (:func:`order_stable`)."""
    by_split = meta.groupby("split")["reweighted"]
    within_sd = float(np.sqrt(by_split.var(ddof=1).mean()))
    between_sd = float(by_split.mean().std(ddof=1))
    return {"within_sd": within_sd, "between_sd": between_sd,
            "share": within_sd**2 / (within_sd**2 + between_sd**2), "stable": order_stable(meta)}


def seed0_standing(check: pd.DataFrame) -> dict:
    """Where meta seed 0 stands among the seeds of :func:`seed_check_runs`, by the mean test MSE
    over the splits: ``mean`` (seed 0's), ``others_mean`` (the other seeds' means, averaged),
    ``z`` (seed 0's distance from that in sample stds of the other seeds' means; nan with fewer
    than two other seeds), ``rank`` (1 is the lowest mean) and ``seeds`` (the number of seeds)."""
    seed_means = check.groupby("meta seed")["reweighted"].mean()
    others = seed_means.drop(index=0)
    z = float((seed_means[0] - others.mean()) / others.std(ddof=1)) if len(others) > 1 else float("nan")
    return {"mean": float(seed_means[0]), "others_mean": float(others.mean()), "z": z,
            "rank": int((seed_means < seed_means[0]).sum()) + 1, "seeds": len(seed_means)}


def extractor_noise(ext: pd.DataFrame, n_seeds: int) -> dict:
    """How much retraining the extractor with ``n_seeds`` seeds moves the heads.

    Returns ``several`` (at least two seeds, so there is a spread), ``sd`` (per head, the pooled
    within-split sample std over extractor seeds, years²; nan with one seed), ``stable``
    (:func:`order_stable`) and ``splits`` (the number of splits run)."""
    several = n_seeds >= 2
    sd = {m: float(np.sqrt(ext.groupby("split")[m].var(ddof=1).mean())) if several else float("nan") for m in HEADS}
    return {"several": several, "sd": sd, "stable": order_stable(ext), "splits": int(ext["split"].nunique())}


def meta_glue(noise: dict, n_splits: int, n_seeds: int) -> dict:
    """The values the prose on meta seeds glues, by glue key (the share in percent)."""
    return {"meta_within_sd": noise["within_sd"], "meta_between_sd": noise["between_sd"],
            "meta_share": 100 * noise["share"], "meta_stable": noise["stable"], "n_splits_run": n_splits,
            "n_meta_seeds": n_seeds}


def check_glue(standing: dict, n_splits: int, n_seeds: int) -> dict:
    """The values the prose on seed 0 glues, by glue key."""
    return {"check_splits": n_splits, "check_seeds": n_seeds, "seed0_mean": standing["mean"],
            "others_mean": standing["others_mean"], "seed0_z": standing["z"], "seed0_rank": standing["rank"]}


def extractor_glue(spread: dict, n_seeds: int) -> dict:
    """The values the prose on extractor seeds glues, by glue key; ``ext_note`` closes its
    sentence, with a remark when one seed leaves no spread to measure."""
    return {"ext_sd_res": spread["sd"]["restricted"], "ext_sd_rw": spread["sd"]["reweighted"],
            "ext_stable": spread["stable"], "ext_splits": spread["splits"], "n_ext_seeds": n_seeds,
            "ext_stable_words": count_of(spread["stable"], spread["splits"], "split"),
            "ext_note": "." if spread["several"] else " (with one extractor seed in this build there is no spread "
            "to measure: raise extractor_seeds)."}


def judgements(noise: dict, n_splits: int, standing: dict, spread: dict, n_ext_seeds: int) -> dict:
    """The criteria of the chapter's verdicts, by name: ``meta`` (the ordering of the two heads is
    the same for every meta seed on at least :data:`ORDER_YES_AT` of the splits), ``seed0`` (seed
    0's mean lies within :data:`OUTLIER_SD` sample stds of the other seeds' means) and
    ``extractor`` (as ``meta``, over extractor seeds; untested with one seed)."""
    z = standing["z"]
    seed0 = (is_true(bool(abs(z) <= OUTLIER_SD),
                     f"|seed 0's mean − the others' mean| ≤ {OUTLIER_SD} sample sd of the others' means",
                     z=z, seeds=standing["seeds"]) if np.isfinite(z)
             else untested("fewer than 3 seeds: no spread of the other seeds"))
    return {"meta": fraction(noise["stable"], n_splits, yes_at=ORDER_YES_AT), "seed0": seed0,
            "extractor": fraction(spread["stable"], spread["splits"], yes_at=ORDER_YES_AT) if spread["several"]
            else untested(f"extractor_seeds = {n_ext_seeds}: one seed has no spread")}


def criteria_glue() -> dict:
    """The bars of :func:`judgements` the verdict prose glues: ``order_share`` (percent of the
    splits) and ``outlier_sd`` (sample stds)."""
    return {"order_share": 100 * ORDER_YES_AT, "outlier_sd": OUTLIER_SD}


def verdict_table(judged: dict, noise: dict, n_splits: int, standing: dict, spread: dict, n_ext_seeds: int) -> Verdicts:
    """The chapter's verdicts: the :func:`judgements` ``judged`` with what we measured (the
    :func:`meta_noise`, :func:`seed0_standing` and :func:`extractor_noise` results, the number of
    splits and of extractor seeds)."""
    verdicts = Verdicts("seeds", "Seeds (beyond the paper)")
    verdicts.add("the Restricted/Reweighted ordering survives meta-step seeds", "§4.3 (one run per split)",
                 "one seed", f"same on {noise['stable']} of {n_splits} splits", judged["meta"], kind="beyond")
    verdicts.add("meta seed 0, which Table 1 used before, is not an outlier among the seeds",
                 "§4.3 (one run per split)", "one seed",
                 f"rank {standing['rank']} of {standing['seeds']}, {standing['z']:+.1f} sd from the others",
                 judged["seed0"], kind="beyond")
    verdicts.add("the Restricted/Reweighted ordering survives extractor seeds", "§4.3 (one run per split)",
                 "one seed",
                 f"same on {count_of(spread['stable'], spread['splits'], 'split')}, {plural(n_ext_seeds, 'seed')}",
                 judged["extractor"], kind="beyond")
    return verdicts


def cold_seconds(meta: pd.DataFrame, check: pd.DataFrame, ext: pd.DataFrame) -> dict:
    """The cold compute seconds of the three seed experiments (the ``cold_seconds`` columns of
    :func:`meta_seed_runs`, :func:`seed_check_runs` and :func:`extractor_seed_runs`, summed)."""
    return {"meta seeds": float(meta["cold_seconds"].sum()), "seed check": float(sum(check["cold_seconds"])),
            "extractor seeds": float(ext["cold_seconds"].sum())}


def record(config: dict, meta: pd.DataFrame, check: pd.DataFrame, ext: pd.DataFrame, noise: dict,
           standing: dict, spread: dict) -> dict:
    """The ``seeds.json`` record: ``config`` (the run's :func:`runconfig.record`), the rows of the
    three seed experiments without their compute seconds, seed 0's standing and the summary
    measures (the extractor spread is None with one seed)."""
    return {"units": "years^2", "std": "sample (ddof=1)", "config": config,
            "meta_seeds": meta.drop(columns="cold_seconds").to_dict(orient="records"),
            "extractor_seeds": ext.drop(columns="cold_seconds").to_dict(orient="records"),
            "seed_check": {"rows": check.drop(columns="cold_seconds").to_dict(orient="records"),
                           "seed0_z": standing["z"], "seed0_rank": standing["rank"]},
            "summary": {"meta_within_sd": noise["within_sd"], "meta_between_sd": noise["between_sd"],
                        "meta_noise_share": noise["share"], "meta_order_stable_splits": noise["stable"],
                        "extractor_within_sd": spread["sd"] if spread["several"] else None,
                        "extractor_order_stable_splits": spread["stable"]}}


def initial_weights(y, yhat0, ages, seeds, cfg) -> dict:
    """The weight each meta seed's h_θ gives rows before the first meta step, averaged per year of
    age: for each seed of ``seeds``, a Series indexed by the distinct ``ages`` of the rows whose
    true targets are ``y`` and initial predictions ``yhat0`` (age / 100), built with the weight
    network settings of ``cfg``."""
    curves = {}
    for seed in seeds:
        net = init_weight_net(seed, cfg.weight_hidden, cfg.weight_activation, cfg.weight_output, cfg.weight_inputs)
        with torch.no_grad():
            w = net(torch.as_tensor(y), torch.as_tensor(yhat0)).numpy()
        curves[seed] = pd.Series(w).groupby(ages).mean()
    return curves


def initial_weight_figure(curves: dict, low: int, high: int):
    """One line per seed of :func:`initial_weights` ``curves`` against age, the band
    ``low``-``high`` shaded.  Returns the figure."""
    fig, ax = plt.subplots(figsize=(7, 3))
    for (seed, w), shade in zip(curves.items(), plots.shades("reweighted", len(curves)), strict=True):
        ax.plot(w.index, w.to_numpy(), lw=1.2, color=shade, label=f"seed {seed}")
    ax.axvspan(low - 0.5, high + 0.5, color="0.85", zorder=0)
    ax.set_xlabel("age (years)")
    ax.set_ylabel("initial weight")
    ax.legend(fontsize=8, ncols=min(len(curves), 5))
    return fig


def seeds_figure(meta: pd.DataFrame, ext: pd.DataFrame, n_splits: int, n_ext_splits: int, constant=None):
    """Test MSE per split of the restricted (blue) and re-weighted (red) heads: left one dot per
    meta seed (:func:`meta_seed_runs`), right one per extractor seed (:func:`extractor_seed_runs`),
    the panels as wide as ``n_splits`` and ``n_ext_splits``; ``constant`` (a split -> years²
    series, or None) marks the constant predictor's test MSE on each split of a panel with a
    horizontal bar in its colour.  Returns the figure."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True,
                                      gridspec_kw={"width_ratios": [max(n_splits, 1), max(n_ext_splits, 1)]})
    for ax, frame, key in ((left, meta, "meta seed"), (right, ext, "extractor seed")):
        ax.scatter(frame["split"] - 0.1, frame["restricted"], s=14, color=plots.colour("restricted"),
                   label=display_name("restricted"))
        ax.scatter(frame["split"] + 0.1, frame["reweighted"], s=14, color=plots.colour("reweighted"),
                   label=display_name("reweighted"))
        if constant is not None:
            level = constant[constant.index.isin(frame["split"].unique())].dropna()
            ax.scatter(level.index, level.to_numpy(), marker="_", s=260, linewidths=2, color=plots.colour("constant"),
                       label=display_name("constant"), zorder=2)
        ax.set_xlabel(f"split (dots: {key}s)")
        ax.set_xticks(sorted(frame["split"].unique()))
    left.set_ylabel("test MSE (years²)")
    left.legend(fontsize=8)
    return fig
