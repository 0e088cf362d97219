import json

import numpy as np
import pytest
from scipy import stats as sps

from metareweight import records
from metareweight.reference import AUTHORS_SPLITS, PAPER_TABLE1
from metareweight.stats import mean_std, paired_summary


def test_authors_saved_splits_give_table1():
    # The paper's Table 1 is the mean and population std of the authors' saved splits.
    for method, (mean, std) in PAPER_TABLE1.items():
        m, s = mean_std(AUTHORS_SPLITS[method])
        assert m == pytest.approx(mean, abs=6e-4)
        assert s == pytest.approx(std, abs=1.5e-3)


def test_paired_summary_on_the_authors_values():
    summary = paired_summary(AUTHORS_SPLITS["restricted"], AUTHORS_SPLITS["reweighted"])
    assert summary["wins"] == 7 and summary["n"] == 8  # the paper's "7 of 8 splits"
    rel = (np.array(AUTHORS_SPLITS["restricted"]) - AUTHORS_SPLITS["reweighted"]) / AUTHORS_SPLITS["restricted"]
    np.testing.assert_allclose(summary["rel_improvement"], rel)
    low, high = sps.t.interval(0.95, 7, loc=rel.mean(), scale=sps.sem(rel))  # scipy's t interval
    assert (summary["ci_low"], summary["ci_high"]) == pytest.approx((low, high), rel=1e-12)
    expected_p = sps.wilcoxon(AUTHORS_SPLITS["restricted"], AUTHORS_SPLITS["reweighted"]).pvalue
    assert summary["wilcoxon_p"] == pytest.approx(expected_p)


def test_paired_summary_degenerate_cases():
    a = [1.0, 2.0, 3.0]
    same = paired_summary(a, a)
    assert same["wins"] == 0 and np.isnan(same["wilcoxon_p"]) and np.isnan(same["perm_p"])
    assert same["ci_low"] == same["ci_high"] == 0
    with pytest.raises(ValueError):
        paired_summary([1, 2], [1, 2, 3])


def _record():
    row = {k: 1.0 for k in records.SPLIT_KEYS}
    row["split"] = 0
    return {"profile": "quick", "units": "years^2", "data_sha256": "x", "versions": {},
            "config": {}, "cold_seconds": {"main": 1.0}, "splits": [row]}


def test_write_table1_round_trip_and_atomic(tmp_path):
    path = records.write_table1(tmp_path / "r" / "table1.json", _record())
    assert records.read_table1(path) == json.loads(json.dumps(_record()))
    assert [p.name for p in path.parent.iterdir()] == ["table1.json"]


def test_write_table1_refuses_incomplete_records(tmp_path):
    bad = _record()
    del bad["splits"][0]["cnn_head"]
    with pytest.raises(ValueError, match="cnn_head"):
        records.write_table1(tmp_path / "table1.json", bad)
    assert not (tmp_path / "table1.json").exists()


def test_committed_paper_record_is_complete():
    from pathlib import Path

    from metareweight.data import KNOWN_TARBALL_SHA256

    path = Path(__file__).resolve().parents[1] / "results" / "paper" / "table1.json"
    if not path.exists():
        pytest.skip("no paper record committed yet")
    rec = records.read_table1(path)
    assert rec["profile"] == "paper" and rec["units"] == "years^2"
    assert rec["data_sha256"] == KNOWN_TARBALL_SHA256
    assert [row["split"] for row in rec["splits"]] == list(range(8))
    for row in rec["splits"]:
        assert all(row[k] > 0 for k in ("all", "restricted", "reweighted", "constant", "cnn_head"))
        assert 0 <= row["n_weights_above_0_1"] <= 7780
    sections = {"splits": rec["splits"], "pixel_ablation": rec["pixel_ablation"]["splits"],
                "independent_validation": rec["independent_validation"]["splits"]}
    for name, rows in sections.items():
        assert len(rows) == 8, name
        for row in rows:
            assert set(row["degenerate"]) >= {"restricted", "reweighted"}, name
            # decided on validation: within 1% of the constant predictor's validation MSE
            flag = abs(row["valid"]["restricted"] - row["valid"]["constant"]) <= 0.01 * row["valid"]["constant"]
            assert row["degenerate"]["restricted"] == flag, (name, row["split"])
            assert len(row["reweighted_seeds"]) >= 3
            assert row["reweighted"] == pytest.approx(np.mean(row["reweighted_seeds"]), rel=1e-12)
    assert len({r["valid_digest"] for r in sections["splits"]}) == 2  # the paper's protocol: 2 validation sets
    assert len({r["valid_digest"] for r in sections["independent_validation"]}) == 8
    for a, b in zip(sections["splits"], sections["independent_validation"], strict=True):
        assert a["restricted"] == pytest.approx(b["restricted"], rel=1e-9) and a["extractor"] == b["extractor"]


def test_committed_verdicts_have_kinds_and_two_sided_levels():
    from pathlib import Path

    from metareweight.verdicts import KINDS, OUTCOMES, read_all

    folder = Path(__file__).resolve().parents[1] / "results" / "paper"
    chapters = read_all(folder)
    assert chapters
    for chapter in chapters:
        for row in chapter["rows"]:
            assert row["kind"] in KINDS and row["holds"] in OUTCOMES, (chapter["chapter"], row["claim"])
    rows = next(c for c in chapters if c["chapter"] == "age-prediction-accuracy")["rows"]
    levels = [r for r in rows if r["claim"].startswith("Table 1 level of")]
    assert len(levels) == 6  # All, Restricted and Reweighted under both pixel conventions
    for r in levels:
        assert "combined standard error" in r["criterion"]
        v = r["values"]
        assert (r["holds"] == "yes") == (abs(v["diff"]) <= v["bound"])


def test_readme_table_is_generated_from_the_committed_record(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    path = root / "results" / "paper" / "table1.json"
    if not path.exists():
        pytest.skip("no paper record committed yet")
    block = records.table1_block(records.read_table1(path), "results/paper/table1.json")
    assert block in (root / "README.md").read_text()


def test_update_readme_replaces_only_the_block(tmp_path):
    rec = _record()
    for key in ("all", "restricted", "reweighted"):
        rec["splits"][0][key] = 25.0
    rec_path = records.write_table1(tmp_path / "table1.json", rec)
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{records.START}\nold\n{records.END}\noutro\n")
    records.update_readme(readme, rec_path)
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("\noutro\n") and "old" not in text
    assert "| Reweighted | 0.206 ± 0.016 | 1.000 ± 0.000 | 25.00 ± 0.00 |" in text


def test_paired_bootstrap_rows_on_a_known_shift():
    from metareweight.stats import paired_bootstrap_rows

    rng = np.random.default_rng(3)
    base = rng.uniform(1, 2, size=400)
    out = paired_bootstrap_rows(base, base - 0.5, n_boot=2000)
    assert out["diff"] == pytest.approx(0.5)
    assert out["ci_low"] == pytest.approx(0.5) and out["ci_high"] == pytest.approx(0.5)  # a constant shift
    noisy = paired_bootstrap_rows(base, base + rng.normal(0, 1, size=400), n_boot=2000)
    assert noisy["ci_low"] < noisy["diff"] < noisy["ci_high"]
    assert noisy["ci_low"] < 0 < noisy["ci_high"]  # no real difference: the interval covers 0
    assert 0.05 < noisy["p_better"] < 0.95


def test_mean_diff_ci_uses_the_sample_std():
    from metareweight.stats import mean_diff_ci

    out = mean_diff_ci([3.0, 5.0, 7.0], [1.0, 2.0, 3.0])
    assert out["mean"] == pytest.approx(3.0) and out["sd"] == pytest.approx(1.0) and out["n"] == 3
    half = sps.t.ppf(0.975, 2) * 1.0 / np.sqrt(3)  # t quantile x sd / sqrt(n)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((3.0 - half, 3.0 + half))


def test_sign_flip_p_by_hand_for_four_pairs():
    from metareweight.stats import sign_flip_p

    # |d| = 1, 2, 3, 0.5 sum to 6.5; the observed sum is 5.5 (the 0.5 is negative).  Of the 16
    # sign patterns only +-(1+2+3+0.5) = +-6.5 and +-(1+2+3-0.5) = +-5.5 reach |sum| >= 5.5.
    assert sign_flip_p([1.0, 2.0, 3.0, -0.5]) == pytest.approx(4 / 16)
    assert sign_flip_p([1.0, 2.0, 3.0, 0.5]) == pytest.approx(2 / 16)  # the smallest possible
    assert sign_flip_p([1.0, -1.0, 1.0, -1.0]) == pytest.approx(1.0)  # mean 0: every pattern reaches it
    assert np.isnan(sign_flip_p([0.0, 0.0]))
    with pytest.raises(ValueError, match="exact limit"):
        sign_flip_p(np.ones(25))


def test_sign_flip_p_matches_scipy_permutation_test():
    from metareweight.stats import sign_flip_p

    d = np.array([0.3, -0.1, 0.25, 0.4, -0.05, 0.2, 0.15, 0.35])
    res = sps.permutation_test((d,), np.mean, permutation_type="samples", n_resamples=np.inf,
                               alternative="two-sided")
    assert sign_flip_p(d) == pytest.approx(res.pvalue)


def test_holm_on_a_textbook_example():
    from metareweight.stats import holm

    # sorted 0.005, 0.01, 0.03, 0.04 -> 4 x 0.005 = 0.02, 3 x 0.01 = 0.03, 2 x 0.03 = 0.06,
    # max(0.06, 1 x 0.04) = 0.06, returned in the order given
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.5, 0.9]), [1.0, 1.0])  # capped at 1
    out = holm([0.02, float("nan"), 0.04])  # nan is not a member of the family
    assert np.isnan(out[1]) and out[0] == pytest.approx(0.04) and out[2] == pytest.approx(0.04)


def test_write_json_writes_null_for_nan_and_infinity(tmp_path):
    from metareweight.records import write_json

    path = write_json(tmp_path / "r.json", {"a": float("nan"), "b": [1.5, np.float64("inf"), np.int64(3)],
                                            "c": {"d": np.float32(0.25), "e": -np.inf}})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [1.5, None, 3], "c": {"d": 0.25, "e": None}}


def test_committed_peer_control_decides_which_peers_are_compared():
    """L2RW's and Meta-Weight-Net's SGD loop, given Restricted's 0/1 weights, must reach the
    closed-form Restricted test MSE within 5% on every split before a peer is compared: with
    [0, 1] pixels and with 0-255 pixels it does on all 8 splits (its setting chosen by its own
    objective); a convention where it missed on any split would report its peer rows as untested."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "results" / "paper"
    record = json.loads((folder / "alternatives.json").read_text())
    control = record["methods"]["sgd_restricted_control"]
    assert set(control) == {"scaled", "code"}
    for conv, rows in control.items():
        assert [r["split"] for r in rows] == list(range(8)), conv
        for r in rows:
            assert r["within_5pct"] == (abs(r["sgd_mse"] / r["restricted_mse"] - 1) <= 0.05), (conv, r["split"])
        assert record["control_passed"][conv] == all(r["within_5pct"] for r in rows)
    assert record["control_passed"]["scaled"] and record["control_passed"]["code"]
    verdicts = json.loads((folder / "verdicts" / "alternatives.json").read_text())["rows"]
    for conv, pixels in (("scaled", "[0, 1] pixels"), ("code", "0-255 pixels")):
        peers = [r for r in verdicts
                 if ("L2RW" in r["claim"] or "Meta-Weight-Net" in r["claim"]) and pixels in r["claim"]]
        assert len(peers) == 4
        if not record["control_passed"][conv]:
            assert all(r["holds"] == "untested" and "control missed" in r["criterion"] for r in peers)


def test_committed_rows_not_in_the_paper_are_never_counted_as_claims():
    """A row that says it asks something the paper did not is of kind ``beyond``."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "results" / "paper" / "verdicts"
    wrong = [(p.stem, r["claim"]) for p in sorted(folder.glob("*.json")) for r in json.loads(p.read_text())["rows"]
             if "not in the paper" in r["claim"] and r["kind"] != "beyond"]
    assert not wrong, wrong
