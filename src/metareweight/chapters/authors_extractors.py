"""What the chapter ``notebooks/authors-extractors.md`` (beyond the paper) assembles.

The authors' extractors run through our pipeline (:func:`metareweight.authors.chapter_rows`):
the table of every head on their features, the optimism that having seen the test rows buys
(measured with our own extractors, :func:`metareweight.authors.leakage_pairs`), the three
readings of Table 1, the values the prose glues, the verdicts (or their untested stand-ins when
``$AUTHORS_MODELS`` is unset) and the chapter's record ``authors_extractors.json``.

``rows`` is :func:`~metareweight.authors.chapter_rows`'s dict (model set -> one row per split,
test MSE in years²); ``leakage`` maps a pixel convention ("scaled", "code") to
``{"pairs": ..., "summary": ...}`` as :func:`leakage` returns it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import authors, records, runconfig
from ..display import signed
from ..experiment import split_features
from ..names import display_name
from ..reference import AUTHORS_SPLITS, PAPER_TABLE1
from ..report import PIXEL_WORDS
from ..stats import mean_std
from ..verdicts import untested

#: The heads of the first table, in its column order.
HEADS = ("all", "restricted", "reweighted", "constant", "cnn_head", "restricted_tuned", "label_shift")
#: The heads whose mean ``cv_k_b`` − ``cv_k`` difference the prose glues.
B_HEADS = ("all", "restricted", "reweighted", "cnn_head")
#: Why the verdicts are untested when ``$AUTHORS_MODELS`` is unset.
NOT_RUN = "$AUTHORS_MODELS is not set: the authors' models were not read"


def status_words(ran: bool) -> str:
    """The admonition's first sentence (glue key ``status``): whether the authors' models were
    read (``ran``) or why the chapter did not run."""
    if ran:
        return "The authors' models were read from the folder that AUTHORS_MODELS names, and every file matched " \
               "its sha256."
    return "This chapter did not run: AUTHORS_MODELS is not set. Point it at the models folder of a clone of the " \
           "authors' repository to run it; its tables below are empty."


def heads_table(rows: dict) -> pd.DataFrame:
    """Every head's test MSE (years², two decimals) of the authors' ``cv_k`` on our split k, one
    row per split and one column per head of :data:`HEADS` under its display name; empty (the
    columns only) when ``rows`` is empty (the chapter did not run)."""
    heads = list(HEADS)
    frame = pd.DataFrame(rows["cv"]).set_index("split")[heads] if rows else pd.DataFrame(columns=heads)
    return frame.rename(columns=display_name).round(2)


def conventions(faces, code_faces, splits, cfg) -> dict:
    """Pixel convention -> (faces, splits) that the leakage is measured on: every split with
    [0, 1] pixels ("scaled"), the §4.3 chapter's ``cfg.pixel_ablation_splits`` first splits with
    0-255 pixels ("code"), where our 0-255 extractors exist."""
    n_abl = min(cfg.pixel_ablation_splits, len(splits))
    return {"scaled": (faces, splits), "code": (code_faces, splits[:n_abl])}


def leakage(data: dict, cfg, features_of=None) -> dict:
    """Convention -> ``{"pairs": authors.leakage_pairs(...), "summary": authors.leakage_summary(...)}``
    for each convention of ``data`` (as :func:`conventions` returns it) that has at least two
    splits; ``features_of(faces, split, cfg)`` gives a split's design matrix of every row
    (default: the extractor's features, :func:`metareweight.experiment.split_features`)."""
    features_of = features_of or (lambda f, s, c: split_features(f, s, c).X)
    out = {}
    for conv, (frame_faces, conv_splits) in data.items():
        if len(conv_splits) >= 2:
            pairs = authors.leakage_pairs(frame_faces, conv_splits,
                                          lambda j, f=frame_faces, ss=conv_splits: features_of(f, ss[j], cfg), cfg)
            out[conv] = {"pairs": pairs, "summary": authors.leakage_summary(pairs)}
    return out


def leakage_column(summary: dict) -> dict:
    """One column of the leakage table from a :func:`metareweight.authors.leakage_summary`: the
    mean optimism of Restricted and All (years², signed, three decimals), Restricted's 95% t
    interval and how many (test split, extractor that saw it) pairs it rests on."""
    res = summary["restricted"]
    return ({f"{display_name(head)}: mean optimism (years²)": f"{summary[head]['mean']:+.3f}"
             for head in ("restricted", "all")}
            | {"Restricted: 95% t interval": f"{res['ci_low']:+.3f} to {res['ci_high']:+.3f}",
               "pairs (test split, extractor that saw it)": res["pairs"]})


def leakage_table(leak: dict) -> pd.DataFrame:
    """The leakage table: one :func:`leakage_column` per convention of ``leak``, headed by the
    convention in reader words."""
    return pd.DataFrame({PIXEL_WORDS[conv]: leakage_column(v["summary"]) for conv, v in leak.items()})


def own_table1(folder) -> dict:
    """The §4.3 chapter's record ``table1.json`` in the run's records ``folder`` (written before
    this chapter), or an empty stand-in with no split when it does not exist."""
    path = Path(folder) / "table1.json"
    return records.read_table1(path) if path.exists() else {"splits": [], "pixel_ablation": {"splits": []}}


def carrying_splits(own: dict) -> dict:
    """Convention -> the splits of our own extractors on which Restricted is not degenerate
    (its features carry signal in the band), read from the §4.3 record ``own``."""
    return {conv: [r["split"] for r in rows if not r["degenerate"]["restricted"]]
            for conv, rows in (("scaled", own["splits"]), ("code", own["pixel_ablation"]["splits"]))}


def leakage_glue(own: dict, leak: dict) -> dict:
    """The values the prose under the leakage table glues, by glue key: the 0-255 splits where
    Restricted carries signal (``carry_code``, ``n_carry_code``), their number with [0, 1]
    pixels (``n_carry_scaled``) and Restricted's mean optimism per convention
    (``leak_res_scaled``, ``leak_res_code``, as text; a dash where it was not measured)."""
    carry = carrying_splits(own)
    out = {"carry_code": ", ".join(map(str, carry["code"])) or "none", "n_carry_code": len(carry["code"]),
           "n_carry_scaled": len(carry["scaled"])}
    for conv in ("scaled", "code"):
        mean = leak[conv]["summary"]["restricted"]["mean"] if conv in leak else None
        out[f"leak_res_{conv}"] = signed(mean, "+.3f", " years²", "— (not measured)")
    return out


def mean_sd_cell(values) -> str:
    """``values`` as "mean ± population std" (ddof = 0), three decimals."""
    m, s = mean_std(np.asarray(values, dtype=float))
    return f"{m:.3f} ± {s:.3f}"


def readings_row(method: str, rows: dict) -> dict:
    """One row of the three readings of Table 1 for ``method``: the paper's value, the authors'
    saved splits (years²/25) and each model set of ``rows`` through our pipeline, in years²/25
    and years² ("not run" where a set has no row)."""
    row = {"method": method.capitalize(), "paper (Table 1), years²/25": "{:.3f} ± {:.3f}".format(*PAPER_TABLE1[method]),
           "authors' saved splits, years²/25": mean_sd_cell(AUTHORS_SPLITS[method])}
    for m in authors.MODEL_SETS:
        values = [r[method] for r in rows.get(m, [])]
        row[f"their {m} through our pipeline, years²/25"] = mean_sd_cell(np.asarray(values) / 25) if values \
            else "not run"
        row[f"their {m} through our pipeline, years²"] = mean_sd_cell(values) if values else "not run"
    return row


def readings_table(rows: dict) -> pd.DataFrame:
    """The three readings of Table 1 (:func:`readings_row`) of All, Restricted and Reweighted,
    indexed by method."""
    return pd.DataFrame([readings_row(m, rows) for m in ("all", "restricted", "reweighted")]).set_index("method")


def untested_verdicts(verdicts, reason: str = NOT_RUN) -> dict:
    """The chapter's three verdict rows, untested for ``reason``, added to ``verdicts``; returns
    ``{"judgements": ...}`` under the keys :func:`metareweight.authors.add_verdicts` uses."""
    claims = {"all": ("the authors' extractors reproduce the All level they saved", "§4.3", "correctness"),
              "beats_cv": ("learned re-weighting beats Restricted on the authors' own features (cv)", "§4.3",
                           "beyond"),
              "informative": ("the authors' features tell ages apart inside the band beyond the leakage bound",
                              "not in the paper", "beyond")}
    return {"judgements": {key: verdicts.add(claim, section, "—", "not run", untested(reason), kind=kind)
                           for key, (claim, section, kind) in claims.items()}}


def verdict_glue(judgements: dict) -> dict:
    """The verdict words the prose glues (``v_all``, ``v_beats``, ``v_informative``) from the
    judgements of :func:`metareweight.authors.add_verdicts` or :func:`untested_verdicts`."""
    return {"v_all": judgements["all"].word("reproduce", "do not reproduce", untested="could not be compared with"),
            "v_beats": judgements["beats_cv"].word("beats", "loses to", indistinguishable="cannot be told apart from",
                                                   untested="could not be compared with"),
            "v_informative": judgements["informative"].word("do", "do not", indistinguishable="cannot be shown to",
                                                            untested="could not be shown to")}


def b_minus_cv(rows: dict) -> dict:
    """Head of :data:`B_HEADS` -> the mean over splits of its test MSE on ``cv_k_b`` minus that
    on ``cv_k`` (years²)."""
    return {h: float(np.mean([rb[h] - ra[h] for ra, rb in zip(rows["cv"], rows["cv_b"], strict=True)]))
            for h in B_HEADS}


def b_minus_cv_words(diff: dict | None) -> str:
    """The differences of :func:`b_minus_cv` as "head +x.xx, ..." (glue key ``b_vs_cv``), or
    "not run" when ``diff`` is None."""
    return "not run" if diff is None else ", ".join(f"{display_name(h)} {v:+.2f}" for h, v in diff.items())


def comparison_record(summary: dict, holds: str, adjusted_p: float) -> dict:
    """A paired summary of :func:`metareweight.stats.paired_summary` for the record: its
    relative improvements as a list, with the verdict's ``holds`` and the Holm-adjusted p."""
    return ({k: v for k, v in summary.items() if k != "rel_improvement"}
            | {"rel_improvement": list(summary["rel_improvement"])}
            | {"holds": holds, "adjusted_p": float(adjusted_p)})


def record(cfg, rows: dict, leak: dict, found: dict) -> dict:
    """The chapter's record (``authors_extractors.json``): every row of both model sets, the
    ``cv_k_b`` − ``cv_k`` differences, the Restricted-vs-Reweighted comparisons with their
    verdicts, the leakage pairs and summaries, the leakage bound and Restricted's gain over the
    constant; ``found`` is :func:`metareweight.authors.add_verdicts`'s result."""
    j = found["judgements"]
    return {"units": "years^2", "std": "population (ddof = 0) in tables; t intervals use ddof = 1",
            "config": runconfig.record(cfg), "sha256": authors.SHA256, "model_sets": rows,
            "cv_b_minus_cv": b_minus_cv(rows),
            "comparisons": {m: comparison_record(s, j[f"beats_{m}"].holds, found["adjusted_p"][m])
                            for m, s in found["comparisons"].items()},
            "leakage": {c: {"summary": v["summary"], "pairs": v["pairs"]} for c, v in leak.items()},
            "leakage_bound": found["bound"], "restricted_gain_over_constant": found["gain"]}


def add_verdicts(verdicts, rows: dict, leak: dict) -> dict:
    """The chapter's three verdicts added to ``verdicts``: those of
    :func:`metareweight.authors.add_verdicts` (on the leakage summaries of ``leak``) when the
    chapter ran (``rows`` not empty), else :func:`untested_verdicts`.  Returns their result."""
    if not rows:
        return untested_verdicts(verdicts)
    return authors.add_verdicts(verdicts, rows, {c: v["summary"] for c, v in leak.items()})
