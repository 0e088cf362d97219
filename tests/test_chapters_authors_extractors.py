"""What the authors' extractors chapter assembles (metareweight.chapters.authors_extractors)."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import band_features

from metareweight import authors
from metareweight.chapters import authors_extractors as chapter
from metareweight.profiles import resolve
from metareweight.verdicts import Verdicts, is_true


def head_row(split, base):
    """A made-up chapter row: every head's test MSE is ``base`` plus its position in HEADS."""
    return {"split": split, **{h: base + i + 0.004 for i, h in enumerate(chapter.HEADS)}}


def test_status_words_say_whether_the_models_were_read():
    assert "matched its sha256" in chapter.status_words(True)
    assert chapter.status_words(False).startswith("This chapter did not run: AUTHORS_MODELS is not set")


def test_heads_table_rounds_and_names_every_head():
    table = chapter.heads_table({"cv": [head_row(3, 1.0), head_row(5, 2.0)]})
    assert list(table.index) == [3, 5]
    assert list(table.columns)[:2] == ["All", "Restricted"] and "Reweighted" in table.columns[2]
    assert table.loc[5, "Restricted"] == 3.0  # 2 + 1 + 0.004, rounded to two decimals
    assert table.shape == (2, len(chapter.HEADS))


def test_heads_table_is_empty_when_the_chapter_did_not_run():
    table = chapter.heads_table({})
    assert len(table) == 0 and len(table.columns) == len(chapter.HEADS)


def test_conventions_take_the_pixel_ablation_splits_with_0_255_pixels():
    splits = list(range(5))
    data = chapter.conventions("faces", "code", splits, SimpleNamespace(pixel_ablation_splits=2))
    assert data == {"scaled": ("faces", splits), "code": ("code", [0, 1])}
    many = chapter.conventions("faces", "code", splits, SimpleNamespace(pixel_ablation_splits=9))
    assert many["code"][1] == splits


def fake_splits(n_splits=3):
    """Small splits over the rows of :func:`conftest.band_features`: disjoint test blocks."""
    X, y, _, _ = band_features(n=300, seed=1)
    rows = np.arange(len(y))
    blocks = np.array_split(rows, n_splits)
    return X, y, [SimpleNamespace(index=k, test=b, train_all=np.setdiff1d(rows, b)) for k, b in enumerate(blocks)]


def test_leakage_is_zero_when_every_extractor_gives_the_same_features():
    X, y, splits = fake_splits()
    faces = SimpleNamespace(ages=np.rint(y * 100))
    cfg = {"ridge_lambda": 5e-3, "ridge_penalty": "n", "target_low": 14, "target_high": 21}
    leak = chapter.leakage({"scaled": (faces, splits), "code": (faces, splits[:1])}, cfg,
                           features_of=lambda f, s, c: X)
    assert list(leak) == ["scaled"]  # one split cannot measure leakage
    pairs = leak["scaled"]["pairs"]
    assert len(pairs) == 3 * 2 and {p["split"] for p in pairs} == {0, 1, 2}
    assert all(p["restricted_optimism"] == 0 and p["all_optimism"] == 0 for p in pairs)
    assert leak["scaled"]["summary"]["restricted"]["mean"] == 0


def test_leakage_sees_features_that_know_the_test_ages():
    X, y, splits = fake_splits()
    faces = SimpleNamespace(ages=np.rint(y * 100))
    cfg = {"ridge_lambda": 5e-3, "ridge_penalty": "n", "target_low": 14, "target_high": 21}
    seen = np.column_stack([X, y])  # a feature that is the age itself: what an extractor that saw the rows knows

    def features_of(f, split, c):
        return X if split.index == 0 else seen

    pairs = chapter.leakage({"scaled": (faces, splits)}, cfg, features_of=features_of)["scaled"]["pairs"]
    on_zero = [p for p in pairs if p["split"] == 0]  # clean is extractor 0; every other one "saw" split 0
    assert all(p["all_optimism"] > 0 for p in on_zero)


def summary(mean_res, mean_all, low, high, pairs):
    return {"restricted": {"mean": mean_res, "ci_low": low, "ci_high": high, "pairs": pairs},
            "all": {"mean": mean_all}}


def test_leakage_table_formats_signed_means_and_the_interval():
    table = chapter.leakage_table({"scaled": {"summary": summary(0.12345, -1.5, -0.2, 0.45, 56)}})
    col = table["[0, 1] pixels"]
    assert col["Restricted: mean optimism (years²)"] == "+0.123"
    assert col["All: mean optimism (years²)"] == "-1.500"
    assert col["Restricted: 95% t interval"] == "-0.200 to +0.450"
    assert col["pairs (test split, extractor that saw it)"] == 56


def test_own_table1_reads_the_record_or_stands_in(tmp_path):
    assert chapter.own_table1(tmp_path) == {"splits": [], "pixel_ablation": {"splits": []}}
    record = {"splits": [{"split": 0}], "pixel_ablation": {"splits": []}}
    (tmp_path / "table1.json").write_text(json.dumps(record))
    assert chapter.own_table1(tmp_path) == record


def own_record():
    row = lambda k, degenerate: {"split": k, "degenerate": {"restricted": degenerate}}  # noqa: E731
    return {"splits": [row(0, False), row(1, True), row(2, False)],
            "pixel_ablation": {"splits": [row(0, True), row(1, False)]}}


def test_carrying_splits_drop_the_degenerate_ones():
    assert chapter.carrying_splits(own_record()) == {"scaled": [0, 2], "code": [1]}


def test_leakage_glue_counts_the_carrying_splits_and_reads_the_means():
    leak = {"scaled": {"summary": summary(0.25, 0.0, 0.0, 0.5, 6)}}
    glue = chapter.leakage_glue(own_record(), leak)
    assert glue["carry_code"] == "1" and glue["n_carry_code"] == 1 and glue["n_carry_scaled"] == 2
    assert glue["leak_res_scaled"] == "+0.250 years²" and glue["leak_res_code"] == "— (not measured)"
    assert chapter.leakage_glue({"splits": [], "pixel_ablation": {"splits": []}}, {})["carry_code"] == "none"


def test_mean_sd_cell_uses_the_population_std():
    assert chapter.mean_sd_cell([1.0, 3.0]) == "2.000 ± 1.000"  # ddof = 1 would give 1.414


def test_readings_table_gives_both_units_or_not_run():
    rows = {"cv": [{"all": 25.0, "restricted": 5.0, "reweighted": 2.5}, {"all": 75.0, "restricted": 5.0,
                                                                          "reweighted": 7.5}]}
    table = chapter.readings_table(rows)
    assert list(table.index) == ["All", "Restricted", "Reweighted"]
    assert table.loc["All", "their cv through our pipeline, years²"] == "50.000 ± 25.000"
    assert table.loc["All", "their cv through our pipeline, years²/25"] == "2.000 ± 1.000"
    assert table.loc["Restricted", "their cv_b through our pipeline, years²"] == "not run"
    assert table.loc["Reweighted", "paper (Table 1), years²/25"] == "0.206 ± 0.016"


def test_untested_verdicts_fill_the_three_rows():
    verdicts = Verdicts("x")
    found = chapter.untested_verdicts(verdicts)
    assert set(found["judgements"]) == {"all", "beats_cv", "informative"}
    frame = verdicts.frame()
    assert list(frame["holds"]) == ["untested"] * 3 and list(frame["kind"]) == ["correctness", "beyond", "beyond"]
    assert chapter.verdict_glue(found["judgements"]) == {
        "v_all": "could not be compared with", "v_beats": "could not be compared with",
        "v_informative": "could not be shown to"}


def test_add_verdicts_is_untested_without_rows():
    verdicts = Verdicts("x")
    chapter.add_verdicts(verdicts, {}, {})
    assert list(verdicts.frame()["holds"]) == ["untested"] * 3


def test_verdict_glue_words_follow_the_outcome():
    yes, no = is_true(True, "c", v=1), is_true(False, "c", v=0)
    words = chapter.verdict_glue({"all": yes, "beats_cv": no, "informative": no})
    assert words == {"v_all": "reproduce", "v_beats": "loses to", "v_informative": "do not"}


def test_b_minus_cv_is_the_mean_paired_difference():
    cv = [{h: 1.0 for h in chapter.B_HEADS}, {h: 3.0 for h in chapter.B_HEADS}]
    cv_b = [{h: 2.0 for h in chapter.B_HEADS}, {h: 2.0 for h in chapter.B_HEADS} | {"all": 6.0}]
    diff = chapter.b_minus_cv({"cv": cv, "cv_b": cv_b})
    assert diff == {"all": 2.0, "restricted": 0.0, "reweighted": 0.0, "cnn_head": 0.0}
    assert chapter.b_minus_cv_words(diff) == ("All +2.00, Restricted +0.00, Reweighted (the paper's method) +0.00, "
                                              "the CNN's own head +0.00")
    assert chapter.b_minus_cv_words(None) == "not run"
    with pytest.raises(ValueError):
        chapter.b_minus_cv({"cv": cv, "cv_b": cv_b[:1]})


def test_comparison_record_lists_the_improvements_and_adds_the_verdict():
    out = chapter.comparison_record({"wins": 3, "rel_improvement": np.array([0.1, 0.2])}, "yes", np.float64(0.5))
    assert out == {"wins": 3, "rel_improvement": [0.1, 0.2], "holds": "yes", "adjusted_p": 0.5}
    assert list(out) == ["wins", "rel_improvement", "holds", "adjusted_p"]
    assert type(out["adjusted_p"]) is float


def test_record_gathers_the_rows_comparisons_and_leakage():
    rows = {"cv": [{h: 1.0 for h in chapter.B_HEADS}], "cv_b": [{h: 1.5 for h in chapter.B_HEADS}]}
    found = {"judgements": {"beats_cv": is_true(True, "c", v=1)}, "adjusted_p": {"cv": 0.01},
             "comparisons": {"cv": {"wins": 1, "rel_improvement": [0.3]}}, "bound": 0.4, "gain": {"mean": 1.0}}
    leak = {"scaled": {"summary": {"s": 1}, "pairs": [{"p": 1}], "other": 0}}
    record = chapter.record(resolve("quick"), rows, leak, found)
    assert record["cv_b_minus_cv"] == {h: 0.5 for h in chapter.B_HEADS}
    assert record["comparisons"]["cv"]["holds"] == "yes" and record["comparisons"]["cv"]["adjusted_p"] == 0.01
    assert record["leakage"] == {"scaled": {"summary": {"s": 1}, "pairs": [{"p": 1}]}}
    assert record["sha256"] is authors.SHA256 and record["config"]["profile"] == "quick"
    assert (record["leakage_bound"], record["restricted_gain_over_constant"]) == (0.4, {"mean": 1.0})
