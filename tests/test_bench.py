"""The benchmarks' correctness parts (no timing is asserted anywhere)."""

import json
from pathlib import Path

import pytest

from metareweight.bench import bench_alignment, bench_meta_step, meets, timings_block


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
