"""What the Table 1 chapter (``notebooks/age-prediction-accuracy.md``, paper §4.3) shows, built
on :mod:`metareweight.table1`: the runs of each pixel convention, Table 1 beside the paper's,
the per-split figure, the degenerate heads, the comparisons with Restricted and with the
constant predictor, the reasons our numbers differ, and the words of the verdict sentences.

Every MSE is in years² unless a name says ``pu`` (the paper's unit, years²/25).
"""

from __future__ import annotations

import pandas as pd

from .. import plots, table1
from ..display import plural
from ..experiment import years2
from ..names import display_name
from ..reference import AUTHORS_SPLITS, PAPER_TABLE1
from ..stats import holm, mean_std

#: The three runs of the chapter, in reader words.
PIXEL_LABELS = {"scaled": "[0, 1] pixels (the paper's text)", "code": "0-255 pixels (the authors' code)",
                "independent": "[0, 1] pixels, independent validation sets"}
#: The conventions whose comparisons with Restricted form one Holm family (the paper's claim).
CLAIM_FAMILY = ("scaled", "code")
#: Table 1's unit: years² / 25.
PAPER_UNIT = 25


def run_convention(faces, splits, cfg) -> tuple[list, list[dict]]:
    """Every meta seed on every split of one pixel convention, and its Table 1 rows.

    Parameters: ``faces`` (the images of the convention), ``splits`` and ``cfg``.  Returns
    ``(runs, rows)``: :func:`table1.seed_runs` and :func:`table1.split_rows` of them.
    """
    runs = table1.seed_runs(faces, splits, cfg)
    return runs, table1.split_rows(faces, splits, runs, cfg)


def other_settings(cfg):
    """The meta-step settings the chapter runs beside the profile's: ``"paper"`` (the text's
    Adam 1e-4) when the run uses ``"code"``, else ``"code"``.  Returns ``(name, config)``."""
    name = "code" if cfg.meta_settings == "paper" else "paper"
    return name, cfg.variant(meta_settings=name)


def reweighted_by_split(other) -> pd.Series:
    """Split -> the re-weighted head's test MSE (years²) in the runs ``other`` of
    :func:`experiment.run_all` (one meta seed)."""
    return pd.Series({info["split"]: float(years2(info["mse"]["reweighted"])) for _, info in other})


def mean_sd_text(values) -> str:
    """"mean ± population std" of ``values``, three decimals (Table 1's format)."""
    m, s = mean_std(values)
    return f"{m:.3f} ± {s:.3f}"


def table1_frame(rows: dict, other_name: str, other_years: pd.Series) -> pd.DataFrame:
    """Table 1 beside the paper's and the authors' saved splits, in years²/25.

    Parameters: ``rows`` (convention -> :func:`table1.split_rows`), ``other_name`` and
    ``other_years`` (the other meta settings' re-weighted MSE by split, years²).  Returns one row
    per method (and one for the other settings), one column per source.
    """
    cols = {conv: f"ours, {PIXEL_LABELS[conv]} ({len(rows[conv])} splits)" for conv in rows}
    shown = [{"method": display_name(method),
              "paper (Table 1)": "{:.3f} ± {:.3f}".format(*PAPER_TABLE1[method]) if method in PAPER_TABLE1
              else "not reported",
              "authors' saved splits": mean_sd_text(AUTHORS_SPLITS[method]) if method in AUTHORS_SPLITS
              else "not reported",
              **{cols[c]: mean_sd_text(table1.column(rows[c], method) / PAPER_UNIT) for c in rows}}
             for method in table1.METHODS]
    shown.append({"method": f"Reweighted, {other_name} optimiser settings (seed 0)", "paper (Table 1)": "not reported",
                  "authors' saved splits": "not reported",
                  cols["scaled"]: mean_sd_text(other_years.to_numpy() / PAPER_UNIT),
                  **{cols[c]: "not run" for c in rows if c != "scaled"}})
    return pd.DataFrame(shown).set_index("method")


def level_facts(rows: dict) -> dict:
    """Glue name -> value: for each convention and method its mean and population std in
    years²/25 (``<conv>_<method>_pu``, ``..._pu_std``), its mean in years² (``..._y2``), and the
    number of splits of each convention (``<conv>_n``)."""
    out = {}
    for conv in rows:
        for method in table1.METHODS:
            lev = table1.level(rows[conv], method)
            out[f"{conv}_{method}_pu"] = lev["mean"]
            out[f"{conv}_{method}_pu_std"] = lev["sd_pop"]
            out[f"{conv}_{method}_y2"] = PAPER_UNIT * lev["mean"]
        out[f"{conv}_n"] = len(rows[conv])
    return out


def settings_facts(cfg, other_name: str, other_years: pd.Series) -> dict:
    """Glue name -> value: the other meta settings' name and mean re-weighted MSE (years²/25),
    the run's settings name, its target band and the paper's re-weighted level."""
    return {"other_name": other_name, "other_rw_pu": float(other_years.mean() / PAPER_UNIT),
            "settings_name": cfg.meta_settings, "band": f"{cfg.target_low}-{cfg.target_high}",
            "paper_rw": PAPER_TABLE1["reweighted"][0]}


def per_split_figure(rows: dict):
    """Restricted against Re-weighted per split (years²/25): ours under each pixel convention,
    with the constant predictor's mean dashed, and the authors' saved splits.  Returns the
    figure of :func:`plots.paired_panels`."""
    authors = [{"restricted": a * PAPER_UNIT, "reweighted": b * PAPER_UNIT} for a, b in
               zip(AUTHORS_SPLITS["restricted"], AUTHORS_SPLITS["reweighted"], strict=True)]
    return plots.paired_panels([("ours, [0, 1] pixels", rows["scaled"]), ("ours, 0-255 pixels", rows["code"]),
                                ("authors' saved splits", authors)], ("restricted", "reweighted"), scale=1 / PAPER_UNIT,
                               ylabel="test MSE (years²/25)",
                               constant={0: table1.column(rows["scaled"], "constant").mean() / PAPER_UNIT,
                                         1: table1.column(rows["code"], "constant").mean() / PAPER_UNIT})


def protocol_facts(rows: dict, splits) -> dict:
    """Glue name -> value: the distinct validation sets (by digest) under the paper's protocol
    and the independent one, the number of splits, and "is" / "is not" for split 2's test block
    holding the validation rows of split 3."""
    n_sets = {conv: len({r["valid_digest"] for r in rows[conv]}) for conv in ("scaled", "independent")}
    shared = bool(len(splits) > 3 and set(splits[3].valid) <= set(splits[2].test_block))
    return {"n_valid_sets_paper": n_sets["scaled"], "n_valid_sets_ind": n_sets["independent"],
            "n_splits": len(splits), "shared_block": "is" if shared else "is not"}


def degenerate_table(rows: dict) -> pd.DataFrame:
    """Pixels and split -> "degenerate" (or empty) for each head, for the two conventions of
    the paper's claim."""
    return pd.DataFrame([{"pixels": PIXEL_LABELS[c], "split": r["split"],
                          **{display_name(h): "degenerate" if d else "" for h, d in r["degenerate"].items()}}
                         for c in CLAIM_FAMILY for r in rows[c]]).set_index(["pixels", "split"])


def degenerate_facts(rows: dict) -> dict:
    """Glue name -> value: on how many splits each of Restricted and Re-weighted is degenerate,
    per convention of the claim (``<conv>_<head>_degenerate``)."""
    return {f"{conv}_{head}_degenerate": sum(r["degenerate"][head] for r in rows[conv])
            for conv in CLAIM_FAMILY for head in ("restricted", "reweighted")}


def compare_all(rows: dict) -> dict:
    """Convention -> :func:`table1.compare` of Re-weighted against Restricted."""
    return {conv: table1.compare(rows[conv], "restricted", "reweighted") for conv in rows}


def holm_adjusted(comparisons: dict) -> dict:
    """Convention -> the p-value each comparison is judged by: Holm-adjusted over
    :data:`CLAIM_FAMILY`, the independent-validation run's own p-value (a family of its own)."""
    adjusted = dict(zip(CLAIM_FAMILY, holm([comparisons[c]["perm_p"] for c in CLAIM_FAMILY]), strict=True))
    adjusted["independent"] = comparisons["independent"]["perm_p"]
    return adjusted


def comparison_table(comparisons: dict, holm_p: dict) -> pd.DataFrame:
    """One column per convention of :func:`table1.comparison_cells`."""
    return pd.DataFrame({PIXEL_LABELS[c]: table1.comparison_cells(s, holm_p[c]) for c, s in comparisons.items()})


def comparison_facts(comparisons: dict, n_boot: int) -> dict:
    """Glue name -> value: per convention the wins, usable splits, and the mean relative
    improvement with its t interval in percent; and ``bootstrap_samples``, ``n_boot``."""
    out = {}
    for conv, summ in comparisons.items():
        out[f"{conv}_wins"] = summ["wins"]
        out[f"{conv}_pairs"] = summ["usable"]
        verb = "is" if summ["usable"] == 1 else "are"
        out[f"{conv}_usable_words"] = f"{plural(summ['usable'], 'split')} {verb} usable"
        out[f"{conv}_mean_impr"] = 100 * summ["mean_rel_improvement"]
        out[f"{conv}_ci_low"] = 100 * summ["ci_low"]
        out[f"{conv}_ci_high"] = 100 * summ["ci_high"]
    out["bootstrap_samples"] = n_boot
    return out


def seed_table(rows: dict) -> pd.DataFrame:
    """Convention (rows) by meta seed (columns): the re-weighted head's mean test MSE over splits."""
    return pd.DataFrame({PIXEL_LABELS[c]: table1.seed_means(rows[c]) for c in rows}).T


def constant_comparisons(runs: dict, n_boot: int) -> dict:
    """Convention -> head -> :func:`table1.vs_constant` for Restricted and Re-weighted, with
    ``n_boot`` bootstrap samples of the test images, for the conventions of the claim."""
    return {conv: {m: table1.vs_constant(runs[conv], m, n_boot=n_boot) for m in ("restricted", "reweighted")}
            for conv in CLAIM_FAMILY}


def constant_table(beats_constant: dict) -> pd.DataFrame:
    """Pixels and head -> :func:`table1.constant_cells`."""
    return pd.DataFrame([{"pixels": PIXEL_LABELS[c], "head": display_name(m), **table1.constant_cells(r)}
                         for c, by_head in beats_constant.items() for m, r in by_head.items()]
                        ).set_index(["pixels", "head"])


def constant_facts(beats_constant: dict) -> dict:
    """Glue name -> value: per convention and head, the splits where it beats the constant
    significantly (``..._sig``) and its mean gain in years² (``..._gain``)."""
    out = {}
    for conv, by_head in beats_constant.items():
        for method, r in by_head.items():
            out[f"{conv}_{method}_sig"] = r["significant_splits"]
            out[f"{conv}_{method}_gain"] = r["mean_gain"]
    return out


def difference_facts(rows: dict, other_years: pd.Series, cfg, other_name: str) -> dict:
    """Glue name -> value for "why our numbers differ": how far (percent) our Restricted and
    Re-weighted means moved from Table 1 and which moved more, which meta settings come closer
    to the paper's Re-weighted, whether the constant scores below or above it, and the variance
    of ages spread evenly over the band (years² and years²/25)."""
    moved = {m: abs(table1.level(rows["scaled"], m)["mean"] - PAPER_TABLE1[m][0]) / PAPER_TABLE1[m][0]
             for m in ("restricted", "reweighted")}
    paper_rw = PAPER_TABLE1["reweighted"][0]
    own_rw = table1.level(rows["scaled"], "reweighted")["mean"]
    oth_rw = float(other_years.mean() / PAPER_UNIT)
    uniform = table1.uniform_age_variance(cfg.target_low, cfg.target_high)
    return {"res_moved": float(100 * moved["restricted"]), "rw_moved": float(100 * moved["reweighted"]),
            "moved_more": "restricted" if moved["restricted"] > moved["reweighted"] else "re-weighted",
            "settings_closer": cfg.meta_settings if abs(own_rw - paper_rw) < abs(oth_rw - paper_rw) else other_name,
            "const_vs_paper_rw": "below" if table1.level(rows["scaled"], "constant")["mean"] < paper_rw else "above",
            "uniform_y2": uniform, "uniform_pu": uniform / PAPER_UNIT}


def verdict_words(outcome: dict, rows: dict) -> dict:
    """Glue name -> the words of the verdict sentences, from :func:`table1.add_verdicts`'s
    ``outcome``: the level's agreement and direction, whether the 7-of-8 claim holds under each
    convention, the central claim, and how many times worse All is than Re-weighted."""
    level_dir = "lower" if table1.level(rows["scaled"], "reweighted")["mean"] < PAPER_TABLE1["reweighted"][0] \
        else "higher"
    return {"v_level": outcome["level_scaled"].word("agrees with", "differs from"),
            "v_level_dir": level_dir,
            "v_wins_scaled": outcome["wins_scaled"].word("holds", "does not hold"),
            "v_wins_code": outcome["wins_code"].word("holds", "does not hold", untested="cannot be tested"),
            "v_central": outcome["beats_scaled"].word(
                "reproduces", "does not reproduce: re-weighting loses",
                indistinguishable="does not reproduce: the two cannot be told apart"),
            "v_all_ratio": outcome["all_ratio"]}
