"""The gradient-alignment chapter's assembly (metareweight.chapters.appendix_gradient_alignment)."""

import json
from types import SimpleNamespace as NS

import matplotlib
import numpy as np
import pytest

from metareweight import plots
from metareweight.chapters import appendix_gradient_alignment as ch
from metareweight.names import display_name
from metareweight.verdicts import Verdicts

matplotlib.use("Agg")


def test_bench_note_reads_the_timings(tmp_path):
    path = tmp_path / "bench.json"
    assert ch.bench_note(path, "fused").startswith("Run make bench")
    path.write_text(json.dumps({"machine": {"cpus": 4}, "alignment_seconds": {"loop": 0.2, "fused": 0.05},
                                "alignment_rel_error": {"fused": 3e-7}}))
    note = ch.bench_note(path, "fused")
    assert "4 CPU cores" in note and "0.200 s by the loop" in note and "(4.0 times faster)" in note
    assert note.endswith("relative 3e-07.")
    assert ch.bench_note(path, "other").startswith("Run make bench")  # a method the bench did not time


def test_settings_glue():
    cfg = NS(align_scale=2.0, align_epochs=50, align_lr=3e-4, align_split=1)
    assert ch.settings_glue(cfg) == {"align_scale": 2.0, "align_epochs": 50, "align_lr": 3e-4, "align_split_id": 1}


def test_largest_drop():
    assert ch.largest_drop([0.1, 0.5, 0.2, 0.4, 0.35]) == pytest.approx(0.3)
    assert ch.largest_drop([0.1, 0.2, 0.3]) == 0.0 and ch.largest_drop([0.7]) == 0.0


RUNS = {"reweighted": {"epoch": [0, 1, 2], "monitor_corr": [0.2, 0.5, 0.3], "mean_weight": [1.0, 0.1, 0.3]},
        "restricted": {"epoch": [0, 1, 2], "monitor_corr": [0.2, 0.25, 0.28], "mean_weight": [1.0, 1.0, 1.0]},
        "all": {"epoch": [0, 1, 2], "monitor_corr": [0.2, 0.22, 0.21], "mean_weight": [1.0, 1.0, 1.0]}}


def test_summary_table_and_glue():
    t = ch.summary_table(RUNS)
    assert t.index.tolist() == list(ch.RUNS)
    assert t.loc["reweighted", "final correlation"] == 0.3 and t.loc["reweighted", "best correlation"] == 0.5
    assert t.loc["reweighted", "largest drop between epochs"] == pytest.approx(0.2)
    assert t.loc["reweighted", "mean weight"] == pytest.approx(0.2)  # the first record (all weights 1) left out
    g = ch.summary_glue(t, 1508.4)
    assert g["all_drop"] == pytest.approx(0.01) and g["rw_mean_weight"] == pytest.approx(0.2)
    assert "took 1,508 s" in g["align_cold_note"]
    assert ch.summary_glue(t, None)["align_cold_note"].startswith("The cache entry")


def test_figures_draw_every_run():
    fig = ch.figure5(RUNS)
    assert [line.get_label() for line in fig.axes[0].lines] == [display_name(r) for r in ch.RUNS]
    assert [line.get_color() for line in fig.axes[0].lines] == [plots.colour(r) for r in ch.RUNS]
    fig6 = ch.figure6({"step": [0, 10, 20], "monitor_corr": [0.1, 0.2, 0.3]})
    np.testing.assert_array_equal(fig6.axes[0].lines[0].get_ydata(), [0.1, 0.2, 0.3])


def test_indirect_curve_reads_on_the_alignment_clock():
    hist = {"step": [0, 10, 20, 30, 40], "monitor_corr": [0.1, 0.3, 0.25, 0.2, 0.5]}
    ind = ch.indirect_curve(hist, n_epochs=3)  # records 0, 2, 4: 0.1, 0.25, 0.5 never fall
    assert ind.drop == pytest.approx(0.05) and ind.drop_same == 0.0 and ind.every == 10
    g = ch.indirect_glue(ind)
    assert g == {"indirect_final_corr": 0.5, "indirect_drop_same": 0.0, "n_epochs": 3,
                 "indirect_drop": ind.drop, "indirect_every": 10}
    assert ch.indirect_curve({"step": [0], "monitor_corr": [0.4]}, 1).every == 0


def test_add_verdicts_and_words():
    summary = ch.summary_table(RUNS)
    hist = {"step": [0, 10, 20], "monitor_corr": [0.2, 0.6, 0.9]}
    ind = ch.indirect_curve(hist, 3)
    v = Verdicts("appendix-gradient-alignment")
    j = ch.add_verdicts(v, NS(align_split=0), summary, ind, RUNS, hist, 1000, {"alignment_runs": 1.0})
    assert [r.holds for r in v.rows] == [j[k].holds for k in ("fig5", "dips", "smooth", "higher")]
    # 0.3 vs 0.28 and 0.21 on 1000 rows: within noise of restricted, above all -> partly
    assert j["fig5"].holds == "partly" and j["dips"].holds == "yes" and j["smooth"].holds == "yes"
    assert j["higher"].holds == "yes" and v.extra["indirect"]["test_corr"] == [0.2, 0.6, 0.9]
    assert v.extra["curves"]["all"]["epoch"] == [0, 1, 2] and v.extra["split"] == 0
    words = ch.verdict_glue(j)
    assert words == {"v_fig5": "holds against one baseline only", "v_dips": "holds", "v_smooth": "holds",
                     "v_higher": "holds"}
