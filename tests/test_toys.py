import numpy as np
import pytest

from metareweight import toys
from metareweight.toys import (
    AlignSettings,
    align_fit,
    align_fit_cached,
    alignment_components,
    least_squares,
    make_piecewise_1d,
    make_product_2d,
    make_product_nd,
    precision_at,
    top_fraction,
)


@pytest.fixture(scope="module")
def toy():
    return make_piecewise_1d()


def test_piecewise_shapes_and_centring(toy):
    assert toy.X.shape == (100, 1) and toy.y.shape == (100,)
    x = toy.X[:, 0]
    assert abs(x.mean()) < 1e-12
    np.testing.assert_allclose(np.diff(x), 0.01, atol=1e-12)
    assert toy.y[0] == 0.0


def test_piecewise_slopes_one_then_four(toy):
    slopes = np.diff(toy.y) / np.diff(toy.X[:, 0])
    np.testing.assert_allclose(slopes[:90], 1.0, atol=1e-9)
    np.testing.assert_allclose(slopes[90:], 4.0, atol=1e-9)


def test_piecewise_validation_points_are_the_ten_largest(toy):
    assert toy.valid.sum() == 10
    np.testing.assert_array_equal(np.flatnonzero(toy.valid), np.arange(90, 100))
    coef, _ = least_squares(toy.X[toy.valid], toy.y[toy.valid])
    assert coef[0] == pytest.approx(4.0, abs=1e-9)


def test_product_2d_deterministic_and_in_range():
    a, b, c = make_product_2d(500, 3), make_product_2d(500, 3), make_product_2d(500, 4)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, c.X)
    assert a.X.shape == (500, 2) and a.X.min() >= 0 and a.X.max() <= 1
    np.testing.assert_allclose(a.y, 2 * a.X[:, 0] * (a.X[:, 1] - 0.5))
    assert a.valid.sum() == 50 and a.y[a.valid].min() >= a.y[~a.valid].max()


def test_product_2d_unweighted_slope_on_x1_is_about_zero():
    t = make_product_2d(20000, 0)
    coef, _ = least_squares(t.X, t.y)
    assert abs(coef[0]) < 0.03 and coef[1] == pytest.approx(1.0, abs=0.03)


def test_product_nd_nuisance_dimensions_do_not_enter():
    t = make_product_nd(300, 60, 1, n_pairs=1)
    assert t.X.shape == (300, 60)
    np.testing.assert_allclose(t.y, 2 * t.X[:, 0] * (t.X[:, 1] - 0.5))
    full = make_product_nd(300, 4, 1)
    np.testing.assert_allclose(full.y, 2 * full.X[:, 0] * (full.X[:, 1] - 0.5)
                               + 2 * full.X[:, 2] * (full.X[:, 3] - 0.5))
    with pytest.raises(ValueError):
        make_product_nd(10, 3, 0)


def test_top_fraction_and_precision():
    y = np.arange(20.0)
    np.testing.assert_array_equal(np.flatnonzero(top_fraction(y, 0.1)), [18, 19])
    assert precision_at(y, y) == 1.0
    assert precision_at(-y, y) == 0.0


def test_difference_formulation_recovers_slope_four(toy):
    res = align_fit(toy.X, toy.y, toy.X[toy.valid], toy.y[toy.valid],
                    AlignSettings(formulation="difference", steps=3000))
    assert res.coef[0] == pytest.approx(4.0, abs=0.1)
    assert set(np.flatnonzero(res.weights > 0.5)) <= set(range(88, 100))


def test_value_formulation_does_not_reach_slope_four(toy):
    res = align_fit(toy.X, toy.y, toy.X[toy.valid], toy.y[toy.valid], AlignSettings(formulation="value", steps=3000))
    assert res.coef[0] < 3.0


def test_alignment_is_deterministic_for_a_seed(toy):
    kw = dict(formulation="value", steps=200, seed=5)
    a = align_fit(toy.X, toy.y, toy.X[toy.valid], toy.y[toy.valid], AlignSettings(**kw))
    b = align_fit(toy.X, toy.y, toy.X[toy.valid], toy.y[toy.valid], AlignSettings(**kw))
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.coef, b.coef)


def test_alignment_components_sum_to_the_dot_product(toy):
    coef, b = least_squares(toy.X, toy.y)
    comp = alignment_components(toy.X, toy.y, toy.X[toy.valid], toy.y[toy.valid], coef, b)
    x, v = toy.X[:, 0], toy.valid
    r, rv = coef[0] * x + b - toy.y, coef[0] * x[v] + b - toy.y[v]
    gv = 2 * np.array([np.mean(rv * x[v]), np.mean(rv)])
    expected = 2 * r[:, None] * np.stack([x, np.ones_like(x)], 1) * gv
    np.testing.assert_allclose(comp, expected, rtol=1e-12)


def test_relu_rule_is_the_papers_relu_of_the_dot_product(toy):
    """rule="relu" without preconditioning and with the current g_v: w_i = ReLU(g_i . g_v) up to a
    common positive factor (which the weighted mean loss cancels)."""
    Xv, yv = toy.X[toy.valid], toy.y[toy.valid]
    res = align_fit(toy.X, toy.y, Xv, yv,
                    AlignSettings(formulation="value", steps=1, rule="relu", valid_ema=1.0, precondition_after=None))
    dots = alignment_components(toy.X, toy.y, Xv, yv, np.zeros(1), 0.0).sum(axis=1)  # at theta = 0
    relu = np.maximum(dots, 0.0)
    assert relu.max() > 0 and (relu == 0).any()
    np.testing.assert_allclose(res.weights / res.weights.max(), relu / relu.max(), rtol=1e-12, atol=1e-15)


def test_cached_alignment_equals_the_loop_and_is_computed_once(toy, tmp_path, monkeypatch):
    monkeypatch.setenv("METAREWEIGHT_CACHE", str(tmp_path))
    monkeypatch.delenv("METAREWEIGHT_FRESH", raising=False)
    data = (toy.X, toy.y, toy.X[toy.valid], toy.y[toy.valid])
    kw = dict(formulation="difference", steps=300, seed=2, record_every=50)
    ref = align_fit(*data, AlignSettings(**kw))
    cold = align_fit_cached(*data, AlignSettings(**kw))
    calls = []
    monkeypatch.setattr(toys, "align_fit", lambda *a, **k: calls.append(1))  # a recomputation would fail
    warm = align_fit_cached(*data, AlignSettings(**kw))
    assert calls == [] and len(list((tmp_path / "toys").glob("*.npz"))) == 1
    for res in (cold, warm):
        np.testing.assert_array_equal(res.coef, ref.coef)
        np.testing.assert_array_equal(res.weights, ref.weights)
        assert res.intercept == ref.intercept
        assert res.history["step"] == ref.history["step"]
        assert res.history["valid_loss"] == ref.history["valid_loss"]
        assert res.history["n_active"] == ref.history["n_active"]
        np.testing.assert_array_equal(np.array(res.history["weights"]), np.array(ref.history["weights"]))
        np.testing.assert_array_equal(np.array(res.history["coef"]), np.array(ref.history["coef"]))
    # another argument is another entry
    monkeypatch.setattr(toys, "align_fit", align_fit)
    other = align_fit_cached(*data, AlignSettings(**{**kw, "seed": 3}))
    assert not np.array_equal(other.weights, ref.weights)
    assert len(list((tmp_path / "toys").glob("*.npz"))) == 2


def test_align_settings_are_checked_when_built():
    with pytest.raises(ValueError, match="unknown formulation 'ratio'"):
        AlignSettings(formulation="ratio")
    with pytest.raises(ValueError, match="unknown rule 'max'"):
        AlignSettings(rule="max")
    with pytest.raises(TypeError, match="AlignSettings"):
        align_fit(np.zeros((3, 1)), np.zeros(3), np.zeros((2, 1)), np.zeros(2), {"steps": 1})
