"""What the reproduction report (``notebooks/report.md``) shows beside the verdict tables of
:mod:`metareweight.report`: the headline's inputs read from the records, the errata and
leakage tables, the validation-beside-test table, the checklist of models, the compute cost
of each chapter and the environment of the build."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import pandas as pd
import torch

from ..display import html_table, plural
from ..models import Extractor, WeightNet
from ..names import display_name
from ..reference import PAPER_TABLE1
from ..report import claim_rows, errata, first_screen, forest_rows, headline
from ..table1 import column

#: Table 1's unit: years² / 25.
PAPER_UNIT = 25
#: What each model was fitted on, and whether test rows chose anything (the leakage audit).
LEAKAGE = (
    ("CNN extractor", "every non-test row (validation block included), as in the authors' code", "never"),
    ("All head", "every non-test row (validation rows included)", "never"),
    ("Restricted head", "non-test rows in the band (validation rows included)", "never"),
    ("meta step (weight network)", "meta-training rows, scored on validation rows that the extractor was "
     "trained on", "never"),
    ("re-weighted head", "every non-test row (validation rows included), with the weights learned against "
     "those validation rows", "never"),
    ("hyperparameters", "fixed by the profile, or chosen on validation rows (alternatives chapter)", "never"),
    ("test rows", "scored once per head at the end; curves over steps are plotted only", "—"),
)


def read_optional(path: Path) -> dict | None:
    """The JSON record at ``path``, or None when this build did not write it."""
    return json.loads(path.read_text()) if path.exists() else None


def headline_facts(folder: Path, holds: pd.DataFrame, table1: dict) -> dict:
    """Glue name -> value for the report's opening paragraph.

    Parameters: ``folder`` (the build's results), ``holds`` (:func:`report.verdict_rows`) and
    ``table1`` (the §4.3 record).  Returns ``overall`` (:func:`report.headline`, with the
    alternatives' and authors' records where this build has them), ``constant_pu`` (the constant
    predictor's mean in years²/25) and ``paper_rw_pu`` (Table 1's re-weighted level).
    """
    alternatives = read_optional(folder / "alternatives.json")
    best = alternatives.get("best_by_validation") if alternatives is not None else None
    authors = read_optional(folder / "authors_extractors.json")
    overall = headline(table1, best, claim_rows(holds), authors)
    screen = first_screen(table1, best, claim_rows(holds), authors)
    return {"overall": overall, "constant_pu": float(column(table1["splits"], "constant").mean() / PAPER_UNIT),
            "paper_rw_pu": PAPER_TABLE1["reweighted"][0], "first_title": screen["title"],
            "first_bullets": "\n".join(f"- {b}" for b in screen["bullets"]),
            "forest_rows": forest_rows(table1, best)}


def write_intro_figure(fig, root: Path) -> Path:
    """Save the first screen's figure where the intro's ``{figure}`` reads it,
    ``book/_generated/forest.png`` under ``root`` (a build folder, written by every build that runs
    the report), atomically; returns the path."""
    from ..cache import atomic_write

    path = Path(root) / "book" / "_generated" / "forest.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=130, bbox_inches="tight"))
    return path


#: The reproducibility checklist (items of the NeurIPS and ACL checklists), each answered with
#: the page of this book or the file of the repository that answers it: (item, answer, link
#: target, link text).  A page target is a chapter's HTML name; a file target starts with "repo:".
CHECKLIST = (
    ("The mathematical setting, the algorithm and the model", "the closed-form method and its hypergradient, "
     "checked against scikit-learn and finite differences", "method.html", "Method (§3)"),
    ("The dataset: source, preprocessing, splits", "UTKFace crop_part1 by its sha256, the pixel conventions, the "
     "split protocol and the dependence between splits", "dataset-setup.html", "Dataset setup (§4.1)"),
    ("Code with its dependencies", "one package; pyproject.toml is the one list of dependencies", "repo:README.md",
     "README.md"),
    ("Training and evaluation code, and the trained models", "every notebook of this book; the extractors ship "
     "with the repository, each named by its settings", "model-architecture.html", "Model architecture (§4.2)"),
    ("Commands that reproduce every number", "make book, or one chapter with the box at its end",
     "../../book/building.html", "Building and rerunning the book"),
    ("Hyperparameters: values, ranges and how they were chosen", "the table below; every choice where the "
     "paper is silent or differs from its code is on the errata page", "../../book/errata.html", "Errata"),
    ("Number of runs and seeds behind each number", "8 splits, 3 meta seeds per re-weighted number, extra "
     "meta and extractor seeds", "seeds.html", "Seeds"),
    ("Error bars and their convention", "± is named on every table: the population std over splits (ddof = 0) "
     "or the sample std (ddof = 1); t intervals over splits", "age-prediction-accuracy.html",
     "Age prediction accuracy (§4.3)"),
    ("Statistical tests and multiple comparisons", "exact sign-flip tests over splits, Holm within each "
     "chapter's family, 'indistinguishable' as an outcome", "age-prediction-accuracy.html",
     "Age prediction accuracy (§4.3)"),
    ("Compute: hardware and run time", "the tables at the end of this page", "#compute-cost-and-environment",
     "Compute cost and environment"),
)


def checklist_html() -> str:
    """:data:`CHECKLIST` as an HTML table: item, answer, and a link to where it is answered."""
    import html

    rows = []
    for item, answer, target, text in CHECKLIST:
        href = target.removeprefix("repo:")
        if target.startswith("repo:"):
            link = f"<code>{html.escape(href)}</code> in the repository"
        else:
            link = f'<a href="{html.escape(href)}">{html.escape(text)}</a>'
        rows.append(f"<tr><td>{html.escape(item)}</td><td>{html.escape(answer)}</td><td>{link}</td></tr>")
    return html_table("<th>checklist item</th><th>answer</th><th>where</th>", "".join(rows),
                      "The NeurIPS and ACL reproducibility checklists, each item answered with where this "
                      "book answers it")[1]


def errata_table(table1: dict, chapters: dict) -> pd.DataFrame:
    """:func:`report.errata` as a table indexed by where the paper errs."""
    return pd.DataFrame(errata(table1, chapters),
                        columns=["where", "what the paper says or does", "measured effect"]).set_index("where")


def leakage_table() -> pd.DataFrame:
    """:data:`LEAKAGE` as a table indexed by model."""
    return pd.DataFrame(list(LEAKAGE), columns=["model", "rows it was fitted on", "test rows used to choose anything"]
                        ).set_index("model")


def leak_facts(rows: list[dict]) -> dict:
    """Glue name -> value: the first split of ``rows`` (``table1.json``'s splits) and its
    Restricted head's validation and test MSE (years²)."""
    return {"leak_split": rows[0]["split"], "leak_valid": float(rows[0]["valid"]["restricted"]),
            "leak_test": float(rows[0]["restricted"])}


def validation_table(rows: list[dict]) -> pd.DataFrame:
    """One row per split: every validation MSE the record holds beside Restricted's and
    Re-weighted's test MSE (years²)."""
    return pd.DataFrame([{"split": r["split"],
                          **{f"{display_name(k)}, validation": v for k, v in r.get("valid", {}).items()},
                          "Restricted, test": r["restricted"], f"{display_name('reweighted')}, test": r["reweighted"]}
                         for r in rows]).set_index("split")


def penalty_symbol(penalty: str) -> str:
    """How the ridge penalty scales λ, as a symbol: ``N`` for the code's rows of the fit, else
    the setting's name."""
    return "N" if penalty == "n" else penalty


def checklist_table(table1: dict) -> pd.DataFrame:
    """The checklist of models: for the extractor, the ridge head and h_theta, their parameter
    count, the runs behind each number and their hyperparameters with how they were chosen, all
    read from the settings of ``table1`` (the §4.3 record)."""
    settings, meta, n = table1["config"]["settings"], table1["meta_settings"], len(table1["splits"])
    n_ext = sum(p.numel() for p in Extractor().parameters())
    n_w = sum(p.numel() for p in WeightNet(settings["weight_hidden"], settings["weight_activation"],
                                           settings["weight_output"], inputs=settings["weight_inputs"]).parameters())
    return pd.DataFrame([
        ("CNN extractor", n_ext, f"{n} splits x 1 seed (the seeds chapter adds more)",
         f"Adam lr {settings['lr']:g}, batch {settings['batch_size']}, {settings['epochs']} epochs, from the authors' "
         "code; not tuned"),
        ("ridge head", 401, f"{n} splits",
         f"λ = {settings['ridge_lambda']:g} x {penalty_symbol(settings['ridge_penalty'])}: the paper's λ, the code's "
         "scaling; not tuned (the alternatives chapter tunes it on validation rows, grid 1e-5 to 10)"),
        ("weight network h_θ", n_w, f"{n} splits x {plural(len(table1.get('meta_seeds', [0])), 'meta seed')} (the "
         "seeds chapter adds more)",
         f"hidden {settings['weight_hidden']} (paper), {settings['weight_activation']} (code), output "
         f"{display_name(settings['weight_output'])} (paper), Adam {meta['lr']:g}, clip {meta['clip']:g}, "
         f"{meta['steps']} steps "
         f"({meta['name']} settings); not tuned"),
    ], columns=["model", "parameters", "runs behind each number", "hyperparameters: value, bound, how chosen"]
    ).set_index("model")


def cold_seconds(chapters: dict, table1: dict) -> dict:
    """Chapter -> part -> cold compute seconds, from each verdict record that carries them and
    from ``table1.json`` for the §4.3 chapter (whose verdicts carry none)."""
    cost = {c: v.get("cold_seconds") for c, v in chapters.items() if v.get("cold_seconds")}
    cost["age-prediction-accuracy"] = table1.get("cold_seconds")
    return cost


def cost_table(cost: dict) -> pd.DataFrame:
    """Chapter and part -> cold seconds (rounded) of :func:`cold_seconds`."""
    return pd.DataFrame([{"chapter": c, "part": part, "cold seconds": round(float(s))}
                         for c, parts in cost.items() if parts for part, s in parts.items()]
                        ).set_index(["chapter", "part"])


def wall_seconds(run_dir: Path) -> dict:
    """Chapter -> wall seconds of its execution, from the metadata of the executed notebooks in
    ``run_dir`` (hidden files, and notebooks that do not record it, left out)."""
    wall = {}
    for nb_path in sorted(run_dir.glob("*.ipynb")):
        meta = json.loads(nb_path.read_text()).get("metadata", {}).get("metareweight", {})
        if "wall_seconds" in meta and not nb_path.name.startswith("."):
            wall[nb_path.stem] = meta["wall_seconds"]
    return wall


def times_table(wall: dict, cost: dict) -> pd.DataFrame:
    """Chapter -> this build's wall seconds beside the cold compute seconds its records report
    (their sum over parts, rounded), for every chapter with either, and a last row ``total``."""
    cold = {c: sum(float(s) for s in (parts or {}).values() if s is not None) for c, parts in cost.items()}
    table = pd.DataFrame([{"chapter": c, "wall seconds, this build": wall.get(c),
                           "cold compute seconds (records)": round(cold.get(c, 0.0)) if c in cold else None}
                          for c in dict.fromkeys([*wall, *cold])]).set_index("chapter")
    table.loc["total"] = table.sum(numeric_only=True, min_count=1)
    return table


def machine() -> str:
    """This machine in words: architecture, CPU cores, torch threads, and whether CUDA is there."""
    return (f"{platform.machine()}, {os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}, "
            f"{'CUDA' if torch.cuda.is_available() else 'no GPU'}")


def environment_table(table1: dict) -> pd.DataFrame:
    """The build's environment: the package versions, data checksum and source, this machine,
    the profile and its overrides, from ``table1`` (the §4.3 record)."""
    env = {**table1["versions"], "data sha256": table1["data_sha256"], "data": table1["data_source"],
           "machine": machine(), "profile": table1["profile"],
           "overrides": json.dumps(table1["config"].get("overrides", {}))}
    return pd.Series(env, name="value").to_frame()


#: where the paper's authors published their code and trained extractors
AUTHORS_REPOSITORY = "https://github.com/anshgs/MetaReweight"


def links_markdown(repository: str) -> str:
    """The paper, the authors' repository and this project's ``repository`` (its URL, or empty
    when it has none) as one Markdown paragraph for the intro and the report."""
    ours = (f"this project's repository: [{repository.removeprefix('https://')}]({repository})" if repository
            else "this project has no public repository yet (its address is the setting `repository.url` in "
                 "`_config.yml`)")
    return ("The paper: Sharma and Ivanovic, *Meta-Learning For Regression Via Data Re-Weighting*, CS 598 LTL "
            "course report, University of Illinois, 2022 (no public copy is known to us); the authors' code and "
            f"trained extractors: [{AUTHORS_REPOSITORY.removeprefix('https://')}]({AUTHORS_REPOSITORY}); {ours}.")

