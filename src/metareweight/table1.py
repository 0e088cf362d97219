"""Table 1 of the paper (§4.3) from our runs: per-split rows, seed means, degenerate heads, level
checks against the paper and paired comparisons over splits.

The §4.3 chapter narrates and calls these; ``results/<run>/table1.json`` holds what they return.
Every MSE here is in years² unless a name says otherwise.

Degenerate heads.  A head is *degenerate* on a split when its validation MSE is within
:data:`DEGENERATE_WITHIN` (1%) of the constant predictor's validation MSE: it learned nothing
about faces in the band that the mean age does not already give.  The flag is decided on
validation rows, never on test rows.  A comparison of two heads uses only the splits where
neither is degenerate, and needs :data:`verdicts.MIN_SPLITS` of them.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from . import baselines
from .experiment import AGE_SCALE, run_split
from .pool import parallel
from .reference import PAPER_TABLE1
from .splits import in_range
from .stats import mean_std, paired_bootstrap_rows, paired_summary
from .verdicts import MIN_SPLITS, agrees_with, at_least, fraction, is_true, paired_comparison, untested

DEGENERATE_WITHIN = 0.01
HEADS = ("all", "restricted", "reweighted", "cnn_head")
METHODS = ("all", "restricted", "reweighted", "constant", "cnn_head")


def meta_seeds(cfg) -> list[int]:
    """The meta-step seeds every Table 1 number averages over: 0 .. ``meta_seeds`` - 1."""
    return list(range(cfg["meta_seeds"]))


def seed_runs(faces, splits, cfg, *, progress: bool = True) -> list[list]:
    """:func:`experiment.run_split` of every split for every meta seed, in one :func:`parallel`
    call; ``runs[i][k]`` is seed ``meta_seeds(cfg)[i]`` on ``splits[k]``."""
    seeds = meta_seeds(cfg)
    calls = [(partial(run_split, progress=progress), faces, s, cfg.variant(meta_seed=seed))
             for seed in seeds for s in splits]
    flat = parallel(calls, cached=True)
    return [flat[i * len(splits):(i + 1) * len(splits)] for i in range(len(seeds))]


def constant_valid_mse(faces, split, cfg) -> float:
    """Validation MSE (years²) of the constant predictor: the mean age of the split's in-band
    training rows, as :func:`baselines.constant_prediction` gives it."""
    y = faces.ages / AGE_SCALE
    tr = split.train_all
    c = baselines.constant_prediction(y[tr], in_range(faces.ages[tr], cfg["target_low"], cfg["target_high"]))
    return float(np.mean((c - y[split.valid]) ** 2) * AGE_SCALE**2)


def degenerate(valid: dict, constant_valid: float) -> dict:
    """head -> whether its validation MSE is within :data:`DEGENERATE_WITHIN` of the constant's."""
    return {h: bool(abs(valid[h] - constant_valid) <= DEGENERATE_WITHIN * constant_valid)
            for h in valid}


def split_rows(faces, splits, runs, cfg) -> list[dict]:
    """One row per split: every head's test MSE (years²), Reweighted as the mean over the meta
    seeds (``reweighted_seeds`` the values), validation MSEs (Reweighted's also a seed mean; the
    constant's beside them), the degenerate flags and the digest of the validation rows."""
    rows = []
    for k, split in enumerate(splits):
        infos = [seed_run[k][1] for seed_run in runs]
        first = infos[0]
        seeds = [float(i["mse"]["reweighted"] * AGE_SCALE**2) for i in infos]
        valid = {"all": first["valid_mse"]["all"], "restricted": first["valid_mse"]["restricted"],
                 "reweighted": float(np.mean([i["valid_mse"]["reweighted"] for i in infos])),
                 "meta_final": float(np.mean([i["valid_mse"]["meta_final"] for i in infos]))}
        valid = {h: float(v * AGE_SCALE**2) for h, v in valid.items()}
        const_valid = constant_valid_mse(faces, split, cfg)
        flags = degenerate({h: valid[h] for h in ("all", "restricted", "reweighted")}, const_valid)
        rows.append({
            "split": int(first["split"]),
            **{m: float(first["mse"][m] * AGE_SCALE**2) for m in METHODS if m != "reweighted"},
            "reweighted": float(np.mean(seeds)),
            "reweighted_seeds": seeds,
            "valid": {**valid, "constant": const_valid},
            "degenerate": flags,
            "valid_digest": split.valid_digest(),
            "n_weights_above_0_1": int(first["n_weights_above_0_1"]),
            "n_test": len(split.test),
            "n_meta_train": int(first["n_meta_train"]),
            "extractor": first["extractor_key"],
        })
    return rows


def column(rows, key) -> np.ndarray:
    return np.array([r[key] for r in rows], dtype=float)


def usable(rows, *heads) -> list[dict]:
    """The rows where none of ``heads`` is degenerate (the constant never is)."""
    return [r for r in rows if not any(r["degenerate"].get(h, False) for h in heads)]


def compare(rows, baseline: str, method: str) -> dict:
    """:func:`stats.paired_summary` of ``method`` against ``baseline`` on the usable splits, with
    ``usable`` (how many) and ``dropped`` (the degenerate splits left out)."""
    kept = usable(rows, baseline, method)
    summary = paired_summary(column(kept, baseline), column(kept, method)) if kept else \
        paired_summary(np.ones(0), np.ones(0))
    return {**summary, "usable": len(kept), "dropped": [r["split"] for r in rows if r not in kept]}


def paper_sd_sample(sd_population: float, n: int = 8) -> float:
    """The paper's population std (ddof = 0, how Table 1 was computed) as a sample std (ddof = 1)."""
    return float(sd_population * np.sqrt(n / (n - 1)))


def level(rows, method) -> dict:
    """Mean, population std (ddof = 0, Table 1's convention) and sample std (ddof = 1) of a
    column, in the paper's unit (years²/25), with the number of splits."""
    values = column(rows, method) / 25.0
    mean, sd_pop = mean_std(values)
    return {"mean": mean, "sd_pop": sd_pop, "sd": float(values.std(ddof=1)) if len(values) > 1 else float("nan"),
            "n": len(values)}


def vs_constant(runs, method: str, *, n_boot: int) -> dict:
    """Does ``method`` beat the constant predictor?  Within each split, a paired bootstrap over
    its test rows of "constant squared error − head squared error" (the head's error averaged
    over the meta seeds for Reweighted; seed ``k`` of the bootstrap = the split index); across
    splits, :func:`stats.paired_summary` of the per-split MSEs.  Years²."""
    within, diffs, base, head = [], [], [], []
    for k in range(len(runs[0])):
        arrays = runs[0][k][0]
        y = arrays["test_y"]
        err_c = (arrays["test_pred_constant"] - y) ** 2 * AGE_SCALE**2
        seeds = runs if method == "reweighted" else runs[:1]
        err_m = np.mean([(s[k][0][f"test_pred_{method}"] - y) ** 2 for s in seeds], axis=0) * AGE_SCALE**2
        b = paired_bootstrap_rows(err_c, err_m, n_boot=n_boot, seed=int(runs[0][k][1]["split"]))
        within.append(bool(b["ci_low"] > 0))
        diffs.append(b["diff"])
        base.append(float(err_c.mean()))
        head.append(float(err_m.mean()))
    return {"significant_splits": int(sum(within)), "splits": len(within), "mean_gain": float(np.mean(diffs)),
            "paired": paired_summary(base, head)}


def seed_means(rows) -> dict:
    """Meta seed -> the re-weighted head's mean test MSE over splits (years²)."""
    values = np.array([r["reweighted_seeds"] for r in rows], dtype=float)
    return {f"seed {i}": float(v) for i, v in enumerate(values.mean(axis=0))}


def uniform_age_variance(low: int, high: int) -> float:
    """Variance (years²) of ages spread evenly over the integers low..high: (m² − 1) / 12 for m
    ages, what a predictor of the band's mean age scores on such a band."""
    m = high - low + 1
    return (m * m - 1) / 12.0


def comparison_cells(summary: dict, adjusted_p: float) -> dict:
    """A column of the comparison table, in reader words."""
    n = summary["usable"]
    return {"usable splits (not degenerate)": f"{n}" + (f" (dropped {summary['dropped']})" if summary["dropped"]
                                                        else ""),
            "re-weighted wins": f"{summary['wins']} of {n}",
            "mean relative improvement": f"{summary['mean_rel_improvement']:+.1%}" if n else "—",
            "95% t interval (over splits)": f"{summary['ci_low']:+.1%} to {summary['ci_high']:+.1%}" if n > 1 else "—",
            "sign-flip p (two-sided)": f"{summary['perm_p']:.3f}" if np.isfinite(summary["perm_p"]) else "—",
            "Holm-adjusted p": f"{adjusted_p:.3f}" if np.isfinite(adjusted_p) else "—",
            "≥ 10% better": f"{int((np.asarray(summary['rel_improvement']) >= 0.10).sum())} of {n}"}


def constant_cells(result: dict) -> dict:
    """A row of the against-the-constant table, in reader words (years²)."""
    p = result["paired"]
    return {"splits significant (test-image bootstrap)": f"{result['significant_splits']} of {result['splits']}",
            "mean gain over the constant (years²)": f"{result['mean_gain']:+.2f}",
            "wins over splits": f"{p['wins']} of {p['n']}",
            "sign-flip p": f"{p['perm_p']:.3f}" if np.isfinite(p["perm_p"]) else "—"}


def add_verdicts(verdicts, rows, comparisons, holm_p, beats_constant, labels, *, family: int) -> dict:
    """The §4.3 chapter's verdict rows; returns the judgements the chapter's prose words."""
    out = {}
    for conv in ("scaled", "code"):
        label = labels[conv]
        for method in ("all", "restricted", "reweighted"):
            lev, (pm, ps) = level(rows[conv], method), PAPER_TABLE1[method]
            j = verdicts.add(f"Table 1 level of {method.capitalize()} ({label})", "§4.3, Table 1",
                             f"{pm:.3f} ± {ps:.3f}", f"{lev['mean']:.3f} ± {lev['sd_pop']:.3f} (n = {lev['n']})",
                             agrees_with(lev["mean"], lev["sd"], lev["n"], pm, paper_sd_sample(ps),
                                         name="our mean (years²/25)"), kind="claim")
            out[f"level_{conv}" if method == "reweighted" else f"level_{method}_{conv}"] = j
        ratio = float(column(rows[conv], "all").mean() / column(rows[conv], "reweighted").mean())
        out["all_ratio" if conv == "scaled" else "all_ratio_code"] = ratio
        verdicts.add(f"All is orders of magnitude worse than Reweighted ({label})", "§4.3", "7.955 vs 0.206 (39x)",
                     f"{ratio:.0f}x worse", at_least(ratio, 10.0, name="ratio All / Reweighted (one order: 10)"),
                     kind="claim")
        s = comparisons[conv]
        few = (f"{s['usable']} usable splits of {len(rows[conv])}, {len(s['dropped'])} dropped as degenerate "
               f"(a comparison needs at least {MIN_SPLITS})")
        n_ten = int((np.asarray(s["rel_improvement"]) >= 0.10).sum())
        out[f"wins_{conv}"] = verdicts.add(
            f"beats Restricted on 7 of 8 splits ({label})", "§4.3", "7 of 8", f"{s['wins']} of {s['usable']}",
            fraction(s["wins"], s["usable"], yes_at=7 / 8) if s["usable"] >= MIN_SPLITS else untested(few),
            kind="claim")
        verdicts.add(f"better by at least 10-15% on nearly all splits ({label})", "§4.3", "nearly all",
                     f"≥ 10% better on {n_ten} of {s['usable']}",
                     fraction(n_ten, s["usable"], yes_at=0.75) if s["usable"] >= MIN_SPLITS else untested(few),
                     kind="claim")
        out[f"beats_{conv}"] = verdicts.add(
            f"re-weighting outperforms Restricted, paired over splits ({label})", "§4.3, abstract",
            "competitive, tends to outperform", f"mean {s['mean_rel_improvement']:+.1%}" if s["usable"] else "—",
            paired_comparison(s, adjusted_p=float(holm_p[conv]), family=family, usable=s["usable"]), kind="claim")
        c = beats_constant[conv]["reweighted"]["paired"]
        out[f"constant_{conv}"] = verdicts.add(
            f"the re-weighted head beats the constant predictor ({label})", "not in the paper", "implied",
            f"{c['wins']} of {c['n']} splits, mean {c['mean_rel_improvement']:+.1%}",
            paired_comparison(c, family=1), kind="beyond")
    s = comparisons["independent"]
    out["beats_independent"] = verdicts.add(
        f"re-weighting outperforms Restricted ({labels['independent']})", "§4.1, §4.3", "not run",
        f"{s['wins']} of {s['usable']}, mean {s['mean_rel_improvement']:+.1%}",
        paired_comparison(s, family=1, usable=s["usable"]), kind="beyond")
    n_sets = len({r["valid_digest"] for r in rows["scaled"]})
    verdicts.add("the split protocol gives each split its own validation set", "§4.1", "not stated",
                 f"{n_sets} distinct validation sets over {len(rows['scaled'])} splits",
                 is_true(n_sets == len(rows["scaled"]), "one distinct validation set per split",
                         validation_sets=n_sets, splits=len(rows["scaled"])), kind="beyond")
    return out


def _cold(runs) -> float:  # compute cost of the runs when they were made, never a cache hit
    return float(sum(info["cold_seconds"] for seed_run in runs for _, info in seed_run))


def _training(runs) -> float:  # each extractor's training time once (from its shipped history)
    return float(sum({info["extractor_key"]: info["extractor_seconds"] for _, info in runs[0]}.values()))


def build_record(cfg, faces, rows, runs, other, other_cfg, comparisons, holm_p, beats_constant, outcome) -> dict:
    """``table1.json``: the per-split rows of each convention, the comparisons with their
    verdicts (``holds``, ``criterion``; ``outcome`` is :func:`add_verdicts`'s return) and the
    settings."""

    def judged(summary, key):
        return {**summary, "holds": outcome[key].holds, "criterion": outcome[key].criterion}

    from . import records, runconfig

    other_rw = {info["split"]: float(info["mse"]["reweighted"] * AGE_SCALE**2) for _, info in other}
    return {
        "profile": cfg.profile,
        "units": "years^2",
        "data_sha256": faces.checksum,
        "data_source": faces.source,
        "target": f"{cfg.target_low}-{cfg.target_high}",
        "config": runconfig.record(cfg),
        "versions": records.versions(),
        "std_convention": "mean ± population std (ddof = 0) in tables; standard errors use ddof = 1",
        "meta_seeds": meta_seeds(cfg),
        "degenerate_rule": f"validation MSE within {DEGENERATE_WITHIN:.0%} of the constant predictor's",
        "cold_seconds": {"main": _cold(runs["scaled"]), "other_meta_settings": _cold([other]),
                         "pixel_ablation": _cold(runs["code"]), "independent_validation": _cold(runs["independent"]),
                         "extractor_training": _training(runs["scaled"]),
                         "extractor_training_pixel_ablation": _training(runs["code"])},
        "meta_settings": {"name": cfg.meta_settings, "lr": cfg.meta_lr, "steps": cfg.meta_steps, "clip": cfg.meta_clip},
        "other_meta_settings": {"name": other_cfg.meta_settings, "lr": other_cfg.meta_lr,
                                "steps": other_cfg.meta_steps, "clip": other_cfg.meta_clip},
        "splits": [{**r, "reweighted_other_settings": other_rw[r["split"]]} for r in rows["scaled"]],
        "paired": {conv: {"reweighted_vs_restricted": judged({**comparisons[conv], "holm_p": float(holm_p[conv])},
                                                             f"beats_{conv}"),
                          "reweighted_vs_constant": judged(beats_constant[conv]["reweighted"]["paired"],
                                                           f"constant_{conv}")}
                   for conv in ("scaled", "code")},
        "pixel_ablation": {"splits": rows["code"]},  # the authors' unscaled integer pixels
        "independent_validation": {"protocol": "independent", "splits": rows["independent"],
                                   "reweighted_vs_restricted": judged(comparisons["independent"],
                                                                      "beats_independent")},
    }
