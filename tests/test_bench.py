"""The benchmarks' correctness parts (no timing is asserted anywhere)."""

import json
from pathlib import Path

import pytest

from metareweight.bench import (
    bench_alignment,
    bench_meta_step,
    chapter_seconds_from_logs,
    cold_book_sentence,
    meets,
    timings_block,
)


@pytest.mark.slow
def test_meta_step_benchmark_compares_equal_gradients():
    out = bench_meta_step(repeats=1, n=400, p=21, n_valid=30)
    assert out["meta_step_rel_error"] <= 1e-6  # the fast path (the book's) vs float64 autograd
    assert out["meta_step_beta_rel_error"] <= 1e-6
    assert out["meta_step_rel_error_exact"] < 1e-10  # float64 closed form vs float64 autograd
    assert out["meta_step_fallbacks"] == 0 < out["meta_step_iterations"]
    assert 1e-10 < out["meta_step_authors_rel_error"] < 1e-1  # float32 inverse: visibly less exact
    seconds = out["meta_step_seconds"]
    assert set(seconds) == {"fast", "exact", "authors"} and all(v > 0 for v in seconds.values())
    # the speed-ups are the ratios of the times measured side by side, not numbers of their own
    assert out["meta_step_speedup"] == pytest.approx(seconds["authors"] / seconds["fast"], rel=1e-9)
    assert out["meta_step_speedup_exact"] == pytest.approx(seconds["authors"] / seconds["exact"], rel=1e-9)


def test_readme_rows_show_the_exact_path_when_measured():
    result = {"machine": {"cpus": 2, "cuda": False},
              "goals": {"meta_step_speedup": ">= 3", "meta_step_rel_error": "<= 1e-6"},
              "meta_step_speedup": 3.5, "meta_step_speedup_exact": 1.5,
              "meta_step_seconds": {"fast": 0.02, "exact": 0.05, "authors": 0.07},
              "meta_step_rel_error": 3e-10, "meta_step_rel_error_exact": 1e-14,
              "meta_step_authors_rel_error": 1e-3}
    rows = timings_block(result).splitlines()
    assert "| `meta_step_speedup` | 3.5 | >= 3 | yes | fast 0.020 s, exact 0.050 s, authors 0.070 s; " \
           "exact path 1.5x the authors' |" in rows
    assert "| `meta_step_rel_error` | 3.0e-10 | <= 1e-6 | yes | exact path: 1.0e-14; " \
           "authors' float32 inverse: 1.0e-03 |" in rows


def test_goals_are_read_both_ways():
    assert meets(">= 3", 3.0) and not meets(">= 3", 2.99)
    assert meets("<= 1.1", 0.5) and not meets("<= 1.1", 1.2)
    with pytest.raises(ValueError, match="expected"):
        meets("== 3", 3.0)


def test_readme_benchmark_block_is_generated_from_the_committed_results():
    root = Path(__file__).resolve().parents[1]
    result = json.loads((root / "results" / "bench.json").read_text())
    block = timings_block(result)
    assert block in (root / "README.md").read_text()
    for key, goal in result["goals"].items():  # every goal has a row saying whether it is met
        row = next(line for line in block.splitlines() if line.startswith(f"| `{key}` |"))
        assert row.split(" | ")[2] == goal
    # a result that misses its goal is shown as missed, and one that meets it as met
    missed = {**result, "meta_step_speedup": 0.5}
    met = {**result, "meta_step_speedup": 100.0}
    pick = lambda r: next(x for x in timings_block(r).splitlines() if x.startswith("| `meta_step_speedup` |"))  # noqa: E731
    assert pick(missed).split(" | ")[3] == "**no**" and pick(met).split(" | ")[3] == "yes"


@pytest.mark.slow
def test_alignment_benchmark_agrees_with_the_loop():
    out = bench_alignment(repeats=1)
    assert out["alignment_method"] in ("vmap", "jvp", "fused")
    assert max(out["alignment_rel_error"].values()) < 1e-4


def _log(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cold_book_is_read_chapter_by_chapter_across_a_resumed_run(tmp_path):
    first = _log(tmp_path / "first.log", [
        "profile paper; data: x", "> method (profile defaults)", "  [method] split 0: step 5 (~1 min left)",
        "  method: 1086 s", "> dataset-setup (profile defaults)", "  dataset-setup: 13 s"])
    # the second run reruns both from the cache (warm, not counted) and then runs the third
    second = _log(tmp_path / "second.log", [
        "> method (profile defaults)", "  method: 20 s", "> dataset-setup (profile defaults)",
        "  dataset-setup: 14 s", "> seeds (profile defaults)", "  seeds: 300 s"])
    names = ["method", "dataset-setup", "seeds"]
    assert chapter_seconds_from_logs([first, second], names) == {"method": 1086.0, "dataset-setup": 13.0,
                                                                 "seeds": 300.0}
    with pytest.raises(ValueError, match=r"no completed run of \['seeds'\]"):
        chapter_seconds_from_logs([first], names)


def test_a_chapter_resumed_after_a_stop_needs_a_run_of_its_own(tmp_path):
    stopped = _log(tmp_path / "stopped.log", ["> method (profile defaults)", "  method: 100 s",
                                               "> seeds (profile defaults)", "  [seeds] seed 1: step 3"])
    resumed = _log(tmp_path / "resumed.log", ["> method (profile defaults)", "  method: 5 s",
                                               "> seeds (profile defaults)", "  seeds: 40 s"])
    with pytest.raises(ValueError, match="'seeds' resumes the run stopped in .*stopped.log"):
        chapter_seconds_from_logs([stopped, resumed], ["method", "seeds"])
    alone = _log(tmp_path / "alone.log", ["> seeds (profile defaults)", "  seeds: 250 s"])
    assert chapter_seconds_from_logs([alone, stopped, resumed], ["method", "seeds"]) == {"method": 100.0,
                                                                                         "seeds": 250.0}


def test_readme_sentence_names_the_costly_chapters():
    result = {"paper_cold_chapters": {"method": 1086.0, "dataset-setup": 13.0, "seeds": 3600.0, "toy": 20.0},
              "paper_cold_jobs": 2}
    assert cold_book_sentence(result) == (
        "The notebooks of a cold paper book (`make book` on an empty cache with the shipped extractors, JOBS=2) took "
        "4,719 s (1.3 hours): method 1,086 s; seeds 3,600 s; the other 2 chapters 33 s together.")
    assert "has not been timed" in cold_book_sentence({})


def test_cold_then_warm_reads_each_runs_chapters_from_its_notebooks(tmp_path, monkeypatch):
    import nbformat

    from metareweight import bench

    run_dir = tmp_path / "notebooks" / "_run"
    run_dir.mkdir(parents=True)
    walls = iter([100.0, 10.0])

    def fake_book(profile, cache, root):  # a cold run, then a warm one on the same cache
        wall = next(walls)
        for name, share in (("method", 0.6), ("seeds", 0.3)):
            nb = nbformat.v4.new_notebook(metadata={"metareweight": {"wall_seconds": wall * share}})
            nbformat.write(nb, run_dir / f"{name}.ipynb")
        return wall

    monkeypatch.setattr(bench, "time_book", fake_book)
    monkeypatch.setattr(bench, "toc_notebooks", lambda root: ["method", "seeds"])
    (cold, cold_ch), (warm, warm_ch) = bench.cold_then_warm("paper", tmp_path)
    assert (cold, warm) == (100.0, 10.0)
    assert cold_ch == {"method": 60.0, "seeds": 30.0} and warm_ch == pytest.approx({"method": 6.0, "seeds": 3.0})
