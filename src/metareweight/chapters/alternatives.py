"""What the chapter ``notebooks/alternatives.md`` (beyond the paper) assembles.

Every simple and peer alternative of :mod:`metareweight.alternatives`, the paper's re-weighted
head (mean over the meta seeds) and the age-only network, on every split under both pixel
conventions (:func:`run_every_method`); from those runs the tables of the page (the methods, the
SGD control, the league table, the chosen hyperparameters and their grid edges, the best simple
alternative), its figure, the verdicts with their Holm families, the values the prose glues and
the chapter's record ``alternatives.json``.

A convention is "scaled" ([0, 1] pixels) or "code" (the authors' 0-255 pixels); ``data`` maps it
to (faces, splits) as :func:`conventions` returns it, and :class:`Runs` holds every result by
convention, MSEs in years².
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import alternatives as methods_module
from .. import plots, runconfig, sweep, table1
from ..alternatives import ALTERNATIVES, CONTROL_TOLERANCE
from ..data import code_pixels
from ..experiment import alternatives_run, run_split, years2
from ..names import display_name
from ..pool import parallel
from ..stats import holm, mean_std, paired_summary
from ..table1 import DEGENERATE_WITHIN, constant_valid_mse
from ..verdicts import ALPHA, MIN_SPLITS, paired_comparison, untested

#: The pixel conventions in words.
LABELS = {"scaled": "[0, 1] pixels", "code": "0-255 pixels"}
#: The peer heads, compared only where the SGD control passed.
PEERS = ("l2rw", "mwnet", "l2rw_closed_form", "mwnet_closed_form")
#: How every ± of the chapter spreads.
SD = "population std, ddof = 0"
#: The simple alternatives, among which the best is chosen on validation.
SIMPLE = sweep.SIMPLE
#: The hyperparameters' names in the table of choices.
PARAM_WORDS = {"lambda": "λ", "sigma": "σ (years)", "width": "smoothing", "window": "window",
               "lr_scale": "step size (× 1/L)", "meta_lr": "weight-net step (Adam)", "epochs": "epochs"}
#: The smoothing windows of label distribution smoothing in words.
WINDOW_WORDS = {"gaussian": "DIR's Gaussian window (5 bins, σ 2)", "triangular": "DIR's triangular window (5 bins)",
                "laplace": "DIR's Laplace window (5 bins, σ 2)"}


def in_years2(frame):
    """A frame or series of MSEs on the age/100 scale in years² (:func:`experiment.years2`),
    index and columns kept."""
    return frame * float(years2(1.0))


def name(key: str) -> str:
    """Reader words for a method key (:func:`metareweight.names.display_name`)."""
    return display_name(key)


def conventions(faces, splits, cfg) -> dict:
    """Convention -> (faces, splits): every split with [0, 1] pixels, the first
    ``cfg.pixel_ablation_splits`` with 0-255 pixels."""
    n_abl = min(cfg.pixel_ablation_splits, len(splits))
    return {"scaled": (faces, splits), "code": (code_pixels(faces), splits[:n_abl])}


def method_descriptions() -> pd.DataFrame:
    """What every method of the chapter is, one row per method (its display name)."""
    described = {
        "all": "All: ridge on every training row (Table 1)",
        "restricted": "Restricted: ridge on the in-band training rows, λ = 5e-3 (Table 1)",
        "reweighted": "Reweighted: the paper's weight network h_θ(y, ŷ₀), mean over the meta seeds (Table 1)",
        "constant": "Constant: the mean age of the restricted training rows",
        **ALTERNATIVES,
        "age_only": "Age-only weighting h(y): the paper's network without the prediction input",
    }
    return pd.Series({name(k): v for k, v in described.items()}, name="what it is").rename_axis("method").to_frame()


def sgd_glue() -> dict:
    """The SGD settings the prose glues, by glue key: the control's tolerance, the batch size,
    the momentum, the schedule's length, the checkpoints, the step-size grid and the weight
    net's Adam steps (from :mod:`metareweight.alternatives`)."""
    return {"control_tol": f"{CONTROL_TOLERANCE:.0%}", "sgd_batch": methods_module.BATCH,
            "sgd_momentum": methods_module.MOMENTUM, "sgd_schedule": max(methods_module.EPOCHS),
            "sgd_epochs": ", ".join(str(e) for e in methods_module.EPOCHS),
            "sgd_lrs": ", ".join(f"{c:g}" for c in methods_module.LR_SCALES),
            "sgd_meta_lrs": " or ".join(f"{c:g}" for c in methods_module.META_LRS)}


@dataclass
class Runs:
    """Every result of the chapter, each a dict by convention: per-split ``test`` and ``valid``
    MSE frames (years², indexed by split, one column per method), the constant's validation MSE
    ``const_valid`` (years²), the SGD ``control`` rows, the hyperparameters ``chosen`` on
    validation and their grid ``edges`` (method -> one entry per split), and the ``cold``
    seconds of the alternatives."""

    test: dict
    valid: dict
    const_valid: dict
    control: dict
    chosen: dict
    edges: dict
    cold: dict


def split_test_row(split, base: dict, alt: dict, age_only: dict, by_seed) -> dict:
    """One split's test MSEs (age/100 scale): Table 1's heads from the seed-0 run ``base``, the
    re-weighted head as the mean over the meta seeds' runs ``by_seed`` (and its seed-0 value),
    every alternative of ``alt`` and the age-only network of ``age_only``."""
    return {"split": split.index, **{m: base["mse"][m] for m in ("all", "restricted", "constant")},
            "reweighted": np.mean([i["mse"]["reweighted"] for i in by_seed]),
            "reweighted_seed0": base["mse"]["reweighted"], **alt["mse"], "age_only": age_only["mse"]["reweighted"]}


def split_valid_row(split, base: dict, alt: dict, age_only: dict, by_seed) -> dict:
    """One split's validation MSEs (age/100 scale) of the methods that have one, as
    :func:`split_test_row` (the meta step's final validation MSE for the networks)."""
    return {"split": split.index, "reweighted": np.mean([i["valid_mse"]["meta_final"] for i in by_seed]),
            "reweighted_seed0": base["valid_mse"]["meta_final"], **alt["valid_mse"],
            "age_only": age_only["valid_mse"]["meta_final"]}


def split_jobs(frame_faces, conv_splits, cfg) -> list:
    """The three runs of every split, for :func:`metareweight.pool.parallel`: Table 1's
    (:func:`run_split`), the alternatives' and the age-only network's (``weight_inputs="y"``)."""
    age_only_cfg = cfg.variant(weight_inputs="y")
    return [call for s in conv_splits
            for call in ((run_split, frame_faces, s, cfg), (alternatives_run, frame_faces, s, cfg),
                         (run_split, frame_faces, s, age_only_cfg))]


def collect(conv_splits, runs, seeds) -> dict:
    """One convention's results from its runs: ``runs`` as :func:`split_jobs` orders them (three
    (arrays, info) per split), ``seeds[i][k]`` the (arrays, info) of meta seed i on split k.
    Returns the test and validation frames (years²), the control rows, the choices and edges
    by method, and the cold seconds of the alternatives and the age-only runs."""
    rows_t, rows_v, control, chosen, edges, seconds = [], [], [], {}, {}, 0.0
    for k, s in enumerate(conv_splits):
        (_, base), (_, alt), (_, age_only) = runs[3 * k: 3 * k + 3]
        by_seed = [seed_run[k][1] for seed_run in seeds]
        rows_t.append(split_test_row(s, base, alt, age_only, by_seed))
        rows_v.append(split_valid_row(s, base, alt, age_only, by_seed))
        control.append({"split": s.index, **alt["control"]})
        for m in alt["chosen"]:
            chosen.setdefault(m, []).append(alt["chosen"][m])
            edges.setdefault(m, []).append(alt["edges"][m])
        seconds += alt["cold_seconds"] + age_only["cold_seconds"]
    return {"test": in_years2(pd.DataFrame(rows_t).set_index("split")),
            "valid": in_years2(pd.DataFrame(rows_v).set_index("split")),
            "control": control, "chosen": chosen, "edges": edges, "cold": seconds}


def run_every_method(data: dict, cfg) -> Runs:
    """Every method on every split of every convention of ``data``: the runs of
    :func:`split_jobs` in worker processes when asked (``JOBS``), the re-weighted head of every
    meta seed (the §4.3 runs, :func:`metareweight.table1.seed_runs`), all from the cache when
    they are there; :func:`collect` of each, with the constant's validation MSE."""
    out = {field: {} for field in ("test", "valid", "const_valid", "control", "chosen", "edges", "cold")}
    for conv, (frame_faces, conv_splits) in data.items():
        runs = parallel(split_jobs(frame_faces, conv_splits, cfg), cached=True)
        found = collect(conv_splits, runs, table1.seed_runs(frame_faces, conv_splits, cfg))
        for field, value in found.items():
            out[field][conv] = value
        out["const_valid"][conv] = pd.Series([constant_valid_mse(frame_faces, s, cfg) for s in conv_splits],
                                             index=found["test"].index)
    return Runs(**out)


def methods_of(test: dict) -> list[str]:
    """The methods of the tables: the test frame's columns but the seed-0 re-weighted head."""
    return [m for m in test["scaled"].columns if m != "reweighted_seed0"]


def per_split_table(runs: Runs, conv: str = "scaled") -> pd.DataFrame:
    """Every method's test MSE per split (years², two decimals) for ``conv``."""
    return runs.test[conv][methods_of(runs.test)].rename(columns=name).round(2)


def control_row(conv: str, c: dict) -> dict:
    """One row of the control table: the control's and Restricted's test MSE (years²), their
    ratio, the step size and checkpoint chosen, the SGD steps and whether it passed."""
    return {"pixels": LABELS[conv], "split": c["split"],
            "SGD control, test MSE (years²)": f"{float(years2(c['sgd_mse'])):.3f}",
            "Restricted in closed form, test MSE (years²)": f"{float(years2(c['restricted_mse'])):.3f}",
            "ratio": f"{c['ratio']:.4f}", "step size (× 1/L)": f"{c['chosen']['lr_scale']:g}",
            "epochs": c["epochs"], "SGD steps": f"{c['steps']:,} of {c['schedule_steps']:,}",
            f"within {CONTROL_TOLERANCE:.0%}": "✓" if c["within_5pct"] else "✗ (missed)"}


def control_table(control: dict) -> pd.DataFrame:
    """The control table: one :func:`control_row` per convention and split."""
    rows = [control_row(conv, c) for conv in control for c in control[conv]]
    return pd.DataFrame(rows).set_index(["pixels", "split"])


def control_passed(control: dict) -> dict:
    """Convention -> whether the control reached Restricted within the tolerance on every split."""
    return {conv: bool(all(c["within_5pct"] for c in rows)) for conv, rows in control.items()}


def control_glue(control: dict) -> dict:
    """The control's outcome in words per convention (``control_ok_<conv>``: on every split, or
    on how many) and its largest gap to Restricted (``control_worst_<conv>``)."""
    out, ok = {}, control_passed(control)
    for conv, rows in control.items():
        out[f"control_ok_{conv}"] = "on every split" if ok[conv] else \
            f"on {sum(c['within_5pct'] for c in rows)} of {len(rows)} splits only"
        out[f"control_worst_{conv}"] = f"{max(abs(c['ratio'] - 1) for c in rows):.1%}"
    return out


def mean_sd(values) -> str:
    """``values`` as "mean ± population std", two decimals."""
    mean, sd = mean_std(values)
    return f"{mean:.2f} ± {sd:.2f}"


def league_row(runs: Runs, conv: str, m: str) -> dict:
    """One row of the league table: ``m``'s validation MSE (the constant's own; "—" where it has
    none) and test MSE (years², mean ± population std), its wins over Restricted and the
    constant and the t intervals of its mean relative improvement on each."""
    frame = runs.test[conv]
    vs_res, vs_const = paired_summary(frame["restricted"], frame[m]), paired_summary(frame["constant"], frame[m])
    v = runs.const_valid[conv] if m == "constant" else runs.valid[conv].get(m)
    return {"pixels": LABELS[conv], "method": name(m),
            f"validation MSE (years², {SD})": "—" if v is None else mean_sd(v),
            f"test MSE (years², {SD})": mean_sd(frame[m]), "beats Restricted": f"{vs_res['wins']}/{vs_res['n']}",
            "vs Restricted, 95% t interval": interval_words(vs_res),
            "beats constant": f"{vs_const['wins']}/{vs_const['n']}",
            "vs constant, 95% t interval": interval_words(vs_const)}


def league(runs: Runs) -> pd.DataFrame:
    """The league table: one :func:`league_row` per convention and method."""
    return pd.DataFrame([league_row(runs, conv, m) for conv in runs.test for m in methods_of(runs.test)]) \
        .set_index(["pixels", "method"])


def peers_glue(runs: Runs) -> dict:
    """Per convention, the peers against the constant in words (``peers_vs_const_<conv>``: wins
    on the test rows and mean test MSE over the constant's) and the peer with the lowest mean
    validation MSE beside the constant's (``best_peer_valid_<conv>``)."""
    out = {}
    for conv, test in runs.test.items():
        parts = []
        for m in PEERS:
            s = paired_summary(test["constant"], test[m])
            ratio = float(test[m].mean() / test["constant"].mean())
            parts.append(f"{name(m)} {s['wins']} of {s['n']} (mean test MSE {ratio:.2f} times the constant's)")
        out[f"peers_vs_const_{conv}"] = "; ".join(parts)
        valid = runs.valid[conv]
        best = min(PEERS, key=lambda m, v=valid: v[m].mean())
        out[f"best_peer_valid_{conv}"] = (f"{name(best)}, {valid[best].mean():.2f} years², against the constant's "
                                          f"{runs.const_valid[conv].mean():.2f}")
    return out


def league_figure(test: dict):
    """Every method's test MSE over the constant's on the same split, one dot per split and a
    bar for the mean, for both conventions, ordered by the [0, 1] pixels' mean.

    The y axis is linear from 0 to :func:`plots.ratio_top` of the methods that beat or nearly
    beat the constant; a mean beyond it is a bar cut at the top edge with a triangle and its
    value printed, a dot beyond it a hollow triangle on the edge.  Returns the figure."""
    order = test["scaled"].div(test["scaled"]["constant"], axis=0).mean().sort_values().index.tolist()
    rel = {conv: test[conv].div(test[conv]["constant"], axis=0) for conv in ("scaled", "code")}
    top = plots.ratio_top([(rel[c][m].mean(), rel[c][m]) for c in rel for m in order if m in rel[c]])
    fig, ax = plt.subplots(figsize=(10, 4))
    for i, conv in enumerate(("scaled", "code")):
        colour = plots.PIXELS[conv]
        x = np.arange(len(order)) + (i - 0.5) * 0.35
        mean = rel[conv][order].mean()
        ax.bar(x, np.minimum(mean, top), 0.35, color=colour, alpha=0.35, label=f"{LABELS[conv]} (mean)")
        for j, m in enumerate(order):
            values = rel[conv][m].to_numpy(dtype=float)
            over = values > top
            ax.scatter(np.full(int((~over).sum()), x[j]), values[~over], s=8, color=colour)
            if over.any():
                ax.scatter([x[j]], [top], s=22, marker="^", facecolors="white", edgecolors=colour, lw=0.8,
                           clip_on=False, zorder=3)
            if mean[m] > top:
                plots.clip_mark(ax, x[j], mean[m], top, colour=colour)
    plots.constant_line(ax, label="constant predictor (1)")
    ax.set_ylim(0, top)
    ax.set_xticks(np.arange(len(order)), [name(m) for m in order], rotation=40, ha="right")
    ax.set_ylabel("test MSE / constant's MSE (ratio)")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def value_words(param: str, value) -> str:
    """A chosen hyperparameter's value in words: a window's description, the smoothing width
    ("none" or a Gaussian's σ in bins), an infinite σ as All, else the number."""
    if isinstance(value, str):
        return WINDOW_WORDS.get(value, value)
    if param == "width":
        return "none" if value == 0 else f"Gaussian, σ {value:g} bin{'' if value == 1 else 's'}"
    if param == "sigma" and np.isinf(value):
        return "∞ (All)"
    return f"{value:g}"


def choice_rows(conv: str, method: str, picks: list, where: list) -> list[dict]:
    """The rows of the choices table of one method: per hyperparameter of ``picks`` (one dict
    per split; the raw step size ``lr`` left out) the values chosen and on how many splits, and
    how often the choice sat at an edge of its grid (``where``: one dict of edges per split)."""
    rows = []
    for param in [p for p in picks[0] if p != "lr"]:
        counts = Counter(value_words(param, p[param]) for p in picks)
        key = "lr" if param == "lr_scale" else param  # the edges are those of the step size itself
        edge = Counter(e.get(key) for e in where if e.get(key))
        rows.append({"pixels": LABELS[conv], "method": method, "hyperparameter": PARAM_WORDS.get(param, param),
                     "chosen (splits)": ", ".join(f"{v} ({k})" for v, k in counts.most_common()),
                     "at the grid's edge": ", ".join(f"{side} on {k} of {len(picks)}" for side, k in edge.items())
                     or "never"})
    return rows


def choices_table(runs: Runs) -> pd.DataFrame:
    """The choices table: :func:`choice_rows` of every method and of the SGD control, per
    convention, indexed by convention, method and hyperparameter."""
    rows = []
    for conv in runs.test:
        for m in runs.chosen[conv]:
            rows += choice_rows(conv, name(m), runs.chosen[conv][m], runs.edges[conv][m])
        control = runs.control[conv]
        rows += choice_rows(conv, "SGD control (Restricted's weights)", [c["chosen"] for c in control],
                            [c["edges"] for c in control])
    return pd.DataFrame(rows).set_index(["pixels", "method", "hyperparameter"])


def degenerate_flags(runs: Runs) -> dict:
    """Convention -> method -> per split whether its validation MSE is within
    :data:`~metareweight.table1.DEGENERATE_WITHIN` of the constant's (it learned nothing the
    mean age does not give)."""
    return {conv: {m: (valid[m] - runs.const_valid[conv]).abs() <= DEGENERATE_WITHIN * runs.const_valid[conv]
                   for m in valid.columns} for conv, valid in runs.valid.items()}


def compare(test: pd.DataFrame, degenerate: dict, baseline: str, method: str = "reweighted") -> tuple[dict, int]:
    """:func:`metareweight.stats.paired_summary` of ``method`` against ``baseline`` on the test
    rows of the splits where neither is degenerate (``degenerate``: one convention's flags of
    :func:`degenerate_flags`), and how many splits that is."""
    keep = ~(degenerate[baseline] | degenerate[method])
    return paired_summary(test[baseline][keep], test[method][keep]), int(keep.sum())


def best_simple(valid: dict) -> dict:
    """Convention -> the simple alternative (:data:`SIMPLE`) with the lowest mean validation MSE."""
    return {conv: frame[list(SIMPLE)].mean().idxmin() for conv, frame in valid.items()}


def interval_words(s: dict) -> str:
    """A paired summary's 95% t interval in words, "+1.0% to +2.0%", or a dash when it is not
    finite (a single split)."""
    low, high = s.get("ci_low"), s.get("ci_high")
    if low is None or high is None or not np.isfinite([low, high]).all():
        return "—"
    return f"{low:+.1%} to {high:+.1%}"


def interval(s: dict) -> str:
    """A paired summary's 95% t interval of the mean relative improvement ("—" below 2 splits)."""
    return f"{s['ci_low']:+.1%} to {s['ci_high']:+.1%}" if s["n"] >= 2 else "—"


def best_table(test: dict, best: dict, best_vs_rw: dict) -> pd.DataFrame:
    """Per convention, the best simple alternative by validation, its and the re-weighted head's
    mean test MSE (years²), the usable splits, the re-weighted head's wins on them and the t
    interval of its relative improvement (``best_vs_rw``: :func:`compare`'s result)."""
    def column(c):
        summary, usable = best_vs_rw[c]
        return {"best simple alternative (by validation)": name(best[c]),
                "its mean test MSE (years²)": f"{test[c][best[c]].mean():.2f}",
                "re-weighted mean test MSE (years²)": f"{test[c]['reweighted'].mean():.2f}",
                "usable splits": f"{usable} of {len(test[c])}",
                "re-weighted wins (usable splits)": f"{summary['wins']}/{usable}",
                "re-weighted vs it, 95% t interval": interval(summary)}

    return pd.DataFrame({LABELS[c]: column(c) for c in test})


class Plan(NamedTuple):
    """One verdict to be judged: its convention and key, the row's claim, paper section, paper
    value and kind, the paired ``summary`` over ``usable`` splits, and why it is untested (None
    when it is judged)."""

    conv: str
    key: str
    claim: str
    section: str
    paper: str
    kind: str
    summary: dict
    usable: int
    why: str | None


def plans(runs: Runs, best: dict, best_vs_rw: dict, degenerate: dict) -> list[Plan]:
    """Every verdict of the chapter, per convention: the re-weighted head against the best simple
    alternative, the prediction input (seed 0 of h(y, ŷ₀) against h(y)) and against each peer
    (untested where the SGD control missed on some split)."""
    out, ok = [], control_passed(runs.control)
    for conv, test in runs.test.items():
        pix, flags = LABELS[conv], degenerate[conv]
        out.append(Plan(conv, "best", f"learned re-weighting beats the best simple alternative ({name(best[conv])}, "
                        f"{pix})", "beyond the paper", "not compared", "beyond", *best_vs_rw[conv], None))
        out.append(Plan(conv, "age_only", f"the prediction input of h_θ helps: h(y, ŷ₀) beats h(y) ({pix})", "§3.1",
                        "uses both inputs", "claim", *compare(test, flags, "age_only", "reweighted_seed0"), None))
        missed = sum(not c["within_5pct"] for c in runs.control[conv])
        why = None if ok[conv] else (f"the SGD control missed Restricted by more than {CONTROL_TOLERANCE:.0%} on "
                                     f"{missed} of {len(runs.control[conv])} splits")
        for peer in PEERS:
            out.append(Plan(conv, peer, f"learned re-weighting beats {name(peer)} on the same features ({pix})",
                            "beyond the paper", "not compared", "beyond", *compare(test, flags, peer), why))
    return out


def raw_p(plan: Plan) -> float:
    """A plan's sign-flip p-value, NaN when it is untested or rests on fewer than
    :data:`~metareweight.verdicts.MIN_SPLITS` usable splits (it then takes no place in its family)."""
    return plan.summary["perm_p"] if plan.why is None and plan.usable >= MIN_SPLITS else np.nan


def holm_families(all_plans: list[Plan]) -> tuple[np.ndarray, np.ndarray]:
    """Holm-adjusted p-values of the plans within their families (the paper's claim over both
    conventions; per convention the questions beyond the paper), and the size of each plan's
    family (its tested members)."""
    group = [("claim",) if p.kind == "claim" else (p.conv,) for p in all_plans]
    raw = np.array([raw_p(p) for p in all_plans])
    adjusted, family_of = np.full(len(all_plans), np.nan), np.zeros(len(all_plans), dtype=int)
    for g in set(group):
        idx = [i for i, h in enumerate(group) if h == g]
        adjusted[idx] = holm(raw[idx])
        family_of[idx] = int(np.isfinite(raw[idx]).sum())
    return adjusted, family_of


def judge(plan: Plan, p: float, family: int):
    """A plan's judgement: untested for its reason, else the paired comparison at the adjusted
    p-value ``p`` (none when NaN) in a family of ``family`` tests."""
    if plan.why:
        return untested(plan.why)
    return paired_comparison(plan.summary, adjusted_p=None if np.isnan(p) else float(p), family=max(int(family), 1),
                             usable=plan.usable)


def ours_words(plan: Plan) -> str:
    """The "ours" cell of a plan's verdict row."""
    if plan.why:
        return "not reported (see the criterion)"
    if not plan.usable:
        return "no usable split"
    return (f"{plan.summary['wins']} of {plan.usable} usable splits, mean relative improvement "
            f"{plan.summary['mean_rel_improvement']:+.1%}")


def add_verdicts(verdicts, all_plans: list[Plan], adjusted, family_of) -> dict:
    """Every plan's verdict row added to ``verdicts``; returns (convention, key) -> judgement."""
    return {(p.conv, p.key): verdicts.add(p.claim, p.section, p.paper, ours_words(p), judge(p, a, m), kind=p.kind)
            for p, a, m in zip(all_plans, adjusted, family_of, strict=True)}


def holm_floor_words(all_plans: list[Plan], adjusted, family: int) -> str:
    """What eight (or however many usable) splits let a family of ``family`` tests show: the
    smallest two-sided sign-flip p-value and whether Holm's first step can reach
    :data:`~metareweight.verdicts.ALPHA` (glue key ``holm_floor``)."""
    if not family:
        return "no comparison could be tested"
    most = max([p.usable for p, a in zip(all_plans, adjusted, strict=True) if np.isfinite(a)], default=0)
    floor = 2.0 / 2**most if most else float("nan")
    return (f"with {most} usable splits the smallest two-sided sign-flip p-value is 2/2^{most} = {floor:.4f}, "
            f"so the first Holm step over {family} tests needs {family} x {floor:.4f} = {family * floor:.3f} "
            f"≤ {ALPHA}: "
            + ("a consistent enough comparison can be declared" if family * floor <= ALPHA else
               "no comparison of this family can be declared, whatever the data"))


def best_words(judgement) -> str:
    """The verdict on the best simple alternative in words: beats, loses to, does not clearly beat."""
    return judgement.word("beats", "loses to", "does not clearly beat")


def verdict_glue(best: dict, outcome: dict, family: int, floor_words: str) -> dict:
    """The values the prose around the verdicts glues: per convention the best simple
    alternative's name (``best_<conv>``) and the verdict on it (``v_best_<conv>``), the largest
    family (``family_size``) and :func:`holm_floor_words` (``holm_floor``)."""
    out = {}
    for conv in best:
        out[f"best_{conv}"] = name(best[conv])
        out[f"v_best_{conv}"] = best_words(outcome[conv, "best"])
    return out | {"family_size": family, "holm_floor": floor_words}


def plain(d: dict) -> dict:
    """A dict of hyperparameters for JSON: an infinite width as the text "inf" (JSON has no infinity)."""
    return {k: ("inf" if isinstance(v, float) and np.isinf(v) else v) for k, v in d.items()}


def control_record(c: dict) -> dict:
    """One control row for the record: the SGD and closed-form test MSEs (years²), their ratio,
    the checkpoint, the steps, the step size and whether it passed."""
    return {"split": int(c["split"]), "sgd_mse": float(years2(c["sgd_mse"])),
            "restricted_mse": float(years2(c["restricted_mse"])), "ratio": float(c["ratio"]),
            "epochs": int(c["epochs"]), "steps": int(c["steps"]), "schedule_steps": int(c["schedule_steps"]),
            "lr_scale": float(c["chosen"]["lr_scale"]), "within_5pct": bool(c["within_5pct"])}


def best_record(conv: str, best: str, vs_rw: tuple, judgement) -> dict:
    """The record of one convention's best simple alternative: its name, the paired summary of
    the re-weighted head against it (``vs_rw``, without the per-split improvements), the usable
    splits and the computed verdict."""
    return {"name": best, "pixels": LABELS[conv],
            "paired": {k: v for k, v in vs_rw[0].items() if k != "rel_improvement"}, "usable_splits": vs_rw[1],
            "holds": judgement.holds, "verdict": best_words(judgement)}


def per_split_lists(frames: dict, m: str) -> dict:
    """Convention -> method ``m``'s column of that convention's frame of ``frames``, as floats."""
    return {conv: [float(v) for v in frame[m]] for conv, frame in frames.items()}


def attachments(runs: Runs, family: int) -> dict:
    """The records saved with the verdicts: the cold seconds per convention, whether the SGD
    control passed per convention (in words) and the largest Holm family."""
    ok = control_passed(runs.control)
    return {"cold_seconds": {f"alternatives ({c})": runs.cold[c] for c in runs.cold},
            "sgd_control_passed": {LABELS[c]: ok[c] for c in runs.test}, "holm_family": family}


def record(cfg, runs: Runs, best: dict, best_vs_rw: dict, outcome: dict, family: int) -> dict:
    """The chapter's record (``alternatives.json``): every method's test and validation MSEs
    per split (years²), the SGD control, the choices and their grid edges, the splits, the best
    simple alternative and its verdict per convention, the Holm family and the cold seconds."""
    convs, methods = list(runs.test), methods_of(runs.test)
    per = per_split_lists
    return {
        "units": "years^2", "std": SD, "target": f"{cfg.target_low}-{cfg.target_high}", "config": runconfig.record(cfg),
        "methods": {**{m: per(runs.test, m) for m in methods},
                    "sgd_restricted_control": {conv: [control_record(c) for c in rows]
                                               for conv, rows in runs.control.items()}},
        "valid": {**{m: per(runs.valid, m) for m in methods if m in runs.valid["scaled"]},
                  "constant": {conv: [float(v) for v in runs.const_valid[conv]] for conv in convs}},
        "chosen": {m: {conv: [plain(c) for c in runs.chosen[conv][m]] for conv in convs}
                   for m in runs.chosen["scaled"]},
        "edges": {m: {conv: runs.edges[conv][m] for conv in convs} for m in runs.edges["scaled"]},
        "at_edge": {m: {conv: [any(v is not None for v in e.values()) for e in runs.edges[conv][m]] for conv in convs}
                    for m in runs.edges["scaled"]},
        "control_passed": control_passed(runs.control),
        "splits": {conv: [int(i) for i in runs.test[conv].index] for conv in convs},
        "best_by_validation": {conv: best_record(conv, best[conv], best_vs_rw[conv], outcome[conv, "best"])
                               for conv in convs},
        "holm_family": family, "cold_seconds": runs.cold,
    }
