"""The benchmarks' correctness parts (no timing is asserted anywhere)."""

from metareweight.bench import bench_meta_step


def test_meta_step_benchmark_compares_equal_gradients():
    out = bench_meta_step(repeats=1, n=400, p=21, n_valid=30)
    assert out["meta_step_rel_error"] < 1e-10  # closed form vs float64 autograd
    assert 1e-10 < out["meta_step_authors_rel_error"] < 1e-1  # float32 inverse: visibly less exact
    assert set(out["meta_step_seconds"]) == {"ours", "authors"}
