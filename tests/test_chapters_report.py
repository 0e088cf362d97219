"""The report's tables and headline inputs, on a small made-up build of records."""

import json

import numpy as np
import pandas as pd
import pytest

from metareweight import report
from metareweight.chapters import report as chapter
from metareweight.models import Extractor, WeightNet
from metareweight.reference import PAPER_TABLE1


def _split(k, constant):
    return {"split": k, "restricted": 6.0 + k, "reweighted": 5.0 + k, "constant": constant,
            "reweighted_other_settings": 5.5, "valid_digest": f"v{k % 2}", "n_meta_train": 7780,
            "valid": {"all": 100.0, "restricted": 3.0 + k, "reweighted": 2.5, "constant": 5.0},
            "degenerate": {"all": False, "restricted": False, "reweighted": False}}


def _comparison(holds="yes"):
    return {"holds": holds, "mean_rel_improvement": 0.1, "wins": 3, "usable": 3, "ci_low": 0.05, "ci_high": 0.15}


def _table1(constants=(5.0, 5.5, 6.0)):
    settings = {"weight_hidden": 20, "weight_activation": "relu", "weight_output": "inverse_square",
                "weight_inputs": "both", "lr": 1e-3, "batch_size": 64, "epochs": 30, "ridge_lambda": 5e-3,
                "ridge_penalty": "n"}
    return {"target": "14-21", "splits": [_split(k, c) for k, c in enumerate(constants)],
            "pixel_ablation": {"splits": [_split(0, 5.0)]}, "meta_seeds": [0, 1],
            "paired": {"scaled": {"reweighted_vs_restricted": _comparison()},
                       "code": {"reweighted_vs_restricted": _comparison("untested")}},
            "independent_validation": {"reweighted_vs_restricted": _comparison()},
            "meta_settings": {"name": "code", "lr": 5e-3, "clip": 1e-4, "steps": 2000},
            "other_meta_settings": {"name": "paper"}, "config": {"settings": settings, "overrides": {"epochs": 3}},
            "cold_seconds": {"main": 10.4, "pixel_ablation": 2.0}, "versions": {"torch": "2.0"},
            "data_sha256": "abc", "data_source": "utkface", "profile": "paper"}


def _holds():
    return pd.DataFrame([{"chapter": "method", "kind": "claim", "claim": "a", "holds": "yes"},
                         {"chapter": "method", "kind": "setup", "claim": "b", "holds": "no"}])


def test_read_optional(tmp_path):
    assert chapter.read_optional(tmp_path / "none.json") is None
    (tmp_path / "a.json").write_text('{"x": 1}')
    assert chapter.read_optional(tmp_path / "a.json") == {"x": 1}


def test_headline_facts_read_the_optional_records(tmp_path):
    table1 = _table1()
    facts = chapter.headline_facts(tmp_path, _holds(), table1)
    assert facts["constant_pu"] == pytest.approx(5.5 / 25) and facts["paper_rw_pu"] == PAPER_TABLE1["reweighted"][0]
    assert facts["overall"] == report.headline(table1, None, report.claim_rows(_holds()), None)
    assert "best simple alternative" not in facts["overall"]
    best = {"scaled": {"name": "restricted", "pixels": "[0, 1] pixels", "holds": "yes",
                       "paired": {"mean_rel_improvement": 0.2}}}
    (tmp_path / "alternatives.json").write_text(json.dumps({"best_by_validation": best}))
    assert "best simple alternative" in chapter.headline_facts(tmp_path, _holds(), table1)["overall"]


def test_errata_and_leakage_tables():
    errata = chapter.errata_table(_table1(), {})
    assert len(errata) == 7 and errata.index.name == "where"
    assert errata.loc["Hypothesis 1 and Theorem 1 (§6.2)", "measured effect"] == "not recorded in this build"
    assert "2 distinct validation sets over 3 splits" in errata.loc["The split protocol (§4.1)", "measured effect"]
    leakage = chapter.leakage_table()
    assert leakage.loc["test rows", "test rows used to choose anything"] == "—"
    assert (leakage.drop("test rows")["test rows used to choose anything"] == "never").all()


def test_leak_facts_and_the_validation_table():
    rows = _table1()["splits"]
    assert chapter.leak_facts(rows) == {"leak_split": 0, "leak_valid": 3.0, "leak_test": 6.0}
    table = chapter.validation_table(rows)
    assert list(table.columns) == ["All, validation", "Restricted, validation",
                                   "Reweighted (the paper's method), validation", "constant predictor, validation",
                                   "Restricted, test", "Reweighted (the paper's method), test"]
    assert table.loc[2, "Restricted, validation"] == 5.0
    assert table.loc[2, "Reweighted (the paper's method), test"] == 7.0


def test_checklist_counts_the_networks():
    table = chapter.checklist_table(_table1())
    assert table.loc["CNN extractor", "parameters"] == sum(p.numel() for p in Extractor().parameters())
    assert table.loc["weight network h_θ", "parameters"] == sum(p.numel() for p in WeightNet(20).parameters())
    assert table.loc["ridge head", "hyperparameters: value, bound, how chosen"].startswith("λ = 0.005 x N:")
    assert table.loc["ridge head", "runs behind each number"] == "3 splits"
    assert chapter.penalty_symbol("n") == "N" and chapter.penalty_symbol("plain") == "plain"


def test_cold_seconds_and_the_cost_tables(tmp_path):
    chapters = {"method": {"cold_seconds": None}, "seeds": {"cold_seconds": {"runs": 100.6}}}
    cost = chapter.cold_seconds(chapters, _table1())
    assert cost == {"seeds": {"runs": 100.6}, "age-prediction-accuracy": {"main": 10.4, "pixel_ablation": 2.0}}
    assert chapter.cost_table(cost)["cold seconds"].tolist() == [101, 10, 2]
    for name, meta in (("seeds", {"metareweight": {"wall_seconds": 30.0}}), ("method", {}),
                       (".hidden", {"metareweight": {"wall_seconds": 1.0}})):
        (tmp_path / f"{name}.ipynb").write_text(json.dumps({"metadata": meta, "cells": []}))
    wall = chapter.wall_seconds(tmp_path)
    assert wall == {"seeds": 30.0}
    times = chapter.times_table(wall, cost)
    assert times.loc["seeds", "wall seconds, this build"] == 30.0
    assert times.loc["age-prediction-accuracy", "cold compute seconds (records)"] == 12
    assert np.isnan(times.loc["age-prediction-accuracy", "wall seconds, this build"])
    assert times.index[-1] == "total"
    assert times.loc["total"].tolist() == [times.iloc[:-1, 0].sum(), times.iloc[:-1, 1].sum()]


def test_environment_table():
    env = chapter.environment_table(_table1())["value"]
    assert env["torch"] == "2.0" and env["data sha256"] == "abc" and env["overrides"] == '{"epochs": 3}'
    assert "CPU cores" in env["machine"] and env["machine"] == chapter.machine()


def test_the_checklist_links_pages_that_exist():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    html = chapter.checklist_html()
    assert html.count("<tr>") == len(chapter.CHECKLIST) + 1
    for _, _, target, _ in chapter.CHECKLIST:
        if target.startswith("repo:"):
            assert (root / target.removeprefix("repo:")).exists(), target
        elif target.endswith(".html") and not target.startswith(".."):
            assert (root / "notebooks" / target.replace(".html", ".md")).exists(), target
        elif target.startswith(".."):
            assert (root / "book" / Path(target).name.replace(".html", ".md")).exists(), target


def test_links_name_the_authors_repository_and_ours_or_say_there_is_none():
    words = chapter.links_markdown("")
    assert "(https://github.com/anshgs/MetaReweight)" in words and "no public repository yet" in words
    ours = chapter.links_markdown("https://example.org/metareweight")
    assert "[example.org/metareweight](https://example.org/metareweight)" in ours and "no public repository" not in ours
