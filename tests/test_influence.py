import numpy as np
import pytest

from metareweight.influence import (
    count_disagreements,
    coupling_counterexample,
    disagreements,
    effect_by_refit,
    fit,
    h1_coupling_counterexample,
    h1_scaling_counterexample,
    mirrored,
    random_problem,
    refit_valid_loss,
    scaling_counterexample,
    upweight_effects,
    valid_gradient,
    valid_loss,
)


def finite_difference(pr, alpha, delta=1e-6):
    base = valid_loss(fit(pr.X, pr.y, alpha=alpha), pr.X_valid, pr.y_valid)
    return np.array([
        (refit_valid_loss(pr.X, pr.y, pr.X_valid, pr.y_valid, x[None], yy, delta, alpha=alpha)
         - base) / delta
        for x, yy in zip(pr.x_new, pr.y_new, strict=True)
    ])


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_exact_effect_matches_finite_difference_refits(alpha):
    pr = random_problem(30, 3, seed=2, n_candidates=8)
    eff = upweight_effects(pr.X, pr.y, pr.X_valid, pr.y_valid, pr.x_new, pr.y_new, alpha=alpha)
    np.testing.assert_allclose(eff.exact, finite_difference(pr, alpha), rtol=1e-4, atol=1e-8)


def test_parameter_derivative_matches_finite_difference():
    pr = random_problem(25, 2, seed=7, n_candidates=3)
    eff = upweight_effects(pr.X, pr.y, pr.X_valid, pr.y_valid, pr.x_new, pr.y_new, alpha=0.1)
    base = fit(pr.X, pr.y, alpha=0.1)
    delta = 1e-7
    for k in range(3):
        moved = fit(np.vstack([pr.X, pr.x_new[k]]), np.append(pr.y, pr.y_new[k]),
                    np.append(np.ones(len(pr.y)), delta), alpha=0.1)
        np.testing.assert_allclose((moved - base) / delta, eff.dbeta[k], rtol=1e-4, atol=1e-8)


def test_dot_product_is_the_gradient_inner_product():
    pr = random_problem(20, 2, seed=3, n_candidates=4)
    eff = upweight_effects(pr.X, pr.y, pr.X_valid, pr.y_valid, pr.x_new, pr.y_new)
    beta = fit(pr.X, pr.y)
    g_d = 2 * (pr.x_new @ beta - pr.y_new)[:, None] * pr.x_new
    g_v = 2 * pr.X_valid.T @ (pr.X_valid @ beta - pr.y_valid) / len(pr.y_valid)
    np.testing.assert_allclose(eff.dot, g_d @ g_v, rtol=1e-12)


def test_rescaling_flips_the_dot_product_not_the_exact_effect():
    effects = {}
    for scale in (1.0, 2.0):
        pr = scaling_counterexample(scale)
        effects[scale] = upweight_effects(pr.X, pr.y, pr.X_valid, pr.y_valid, pr.x_new, pr.y_new)
    assert effects[1.0].exact[0] == pytest.approx(effects[2.0].exact[0], rel=1e-12)
    assert effects[1.0].exact[0] == pytest.approx(0.8 - 2 / 3)  # hand derivation: -x_d - 2/3
    assert effects[1.0].dot[0] > 0 > effects[2.0].dot[0]
    assert not effects[1.0].agree[0] and effects[2.0].agree[0]


def test_coupling_counterexample_without_scaling():
    pr = coupling_counterexample()
    eff = upweight_effects(pr.X, pr.y, pr.X_valid, pr.y_valid, pr.x_new, pr.y_new)
    # the gradient step raises the slope, the refit lowers it
    assert eff.step[0, 0] > 0 and eff.dbeta[0, 0] < 0
    np.testing.assert_allclose(eff.dbeta[0], [-0.5, 4 / 3])
    assert eff.dot[0] > 0 and eff.exact[0] > 0 and not eff.agree[0]
    g_v = valid_gradient(fit(pr.X, pr.y), pr.X_valid, pr.y_valid)
    np.testing.assert_allclose(g_v, [-2.0, 0.0])  # the validation set only asks for more slope
    for d in (0.1, 0.5, 3.0, 10.0):  # rescaling x cannot change the dot product's sign here
        D = np.diag([d, 1.0])
        assert (-eff.step[0]) @ D @ D @ g_v > 0


def effects_of(pr, alpha=0.0):
    return upweight_effects(pr.X, pr.y, pr.X_valid, pr.y_valid, pr.x_new, pr.y_new, alpha=alpha)


def test_effect_by_refit_is_the_finite_difference():
    pr = random_problem(30, 2, seed=4, n_candidates=5)
    for alpha in (0.0, 0.3):
        np.testing.assert_allclose(effect_by_refit(pr, alpha=alpha), finite_difference(pr, alpha), rtol=1e-12)


@pytest.mark.parametrize("scale", [1.5, 2.0, 4.0])
def test_h1_scaling_counterexample_dot_negative_yet_the_point_helps(scale):
    """Hypothesis 1 (g_d . g_v < 0 => adding d does not help) fails: dot < 0 and dL/ddelta < 0."""
    pr = h1_scaling_counterexample(scale)
    eff = effects_of(pr)
    assert eff.dot[0] < 0 and eff.exact[0] < 0
    assert eff.h1_violation[0] and not eff.reverse_violation[0] and not eff.agree[0]
    assert eff.dot[0] == pytest.approx(4 * (1 - 0.5 * scale**2))  # hand derivation
    assert eff.exact[0] == pytest.approx(-1 / 6)  # the same at every scale
    fd = effect_by_refit(pr, delta=1e-6)[0]
    assert fd < 0 and fd == pytest.approx(eff.exact[0], rel=1e-4)
    # adding a finite small weight really lowers the validation loss
    base = valid_loss(fit(pr.X, pr.y), pr.X_valid, pr.y_valid)
    assert refit_valid_loss(pr.X, pr.y, pr.X_valid, pr.y_valid, pr.x_new, pr.y_new[0], 1e-2) < base


def test_h1_scaling_counterexample_agrees_at_small_scales():
    eff = effects_of(h1_scaling_counterexample(1.0))
    assert eff.dot[0] > 0 > eff.exact[0] and eff.agree[0]


def test_h1_coupling_counterexample_dot_negative_yet_the_point_helps():
    pr = h1_coupling_counterexample()
    eff = effects_of(pr)
    assert eff.dot[0] < 0 and eff.exact[0] < 0 and eff.h1_violation[0]
    np.testing.assert_allclose([eff.dot[0], eff.exact[0]], [-4.0, -1.0])
    np.testing.assert_allclose(eff.dbeta[0], [0.5, -4 / 3])  # the refit raises the slope
    assert eff.step[0, 0] < 0  # while the point's gradient step lowers it
    fd = effect_by_refit(pr, delta=1e-6)[0]
    assert fd < 0 and fd == pytest.approx(eff.exact[0], rel=1e-4)
    g_v = valid_gradient(fit(pr.X, pr.y), pr.X_valid, pr.y_valid)
    for d in (0.1, 0.5, 3.0, 10.0):  # no rescaling of x makes the dot product positive
        D = np.diag([d, 1.0])
        assert (-eff.step[0]) @ D @ D @ g_v < 0


@pytest.mark.parametrize("alpha", [0.0, 0.7])
def test_mirroring_negates_dot_and_effect(alpha):
    pr = random_problem(40, 3, seed=11, n_candidates=20)
    a, b = effects_of(pr, alpha), effects_of(mirrored(pr, alpha=alpha), alpha)
    np.testing.assert_allclose(b.dot, -a.dot, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b.exact, -a.exact, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(a.h1_violation, b.reverse_violation)
    np.testing.assert_array_equal(a.reverse_violation, b.h1_violation)


def test_disagreements_are_counted_per_direction():
    d = disagreements(60, 5, 10, 0)
    assert d.candidates == 500 and d.h1 > 0 and d.reverse > 0
    assert d.share == pytest.approx((d.h1 + d.reverse) / 500)
    pr = random_problem(60, 5, 0)
    eff = effects_of(pr)
    one = count_disagreements(eff)
    assert one.h1 == int(((eff.dot < 0) & (eff.exact < 0)).sum())
    assert one.reverse == int(((eff.dot > 0) & (eff.exact > 0)).sum())
    assert one.h1 + one.reverse == int((~eff.agree).sum())


def test_standardised_single_feature_never_disagrees():
    assert disagreements(60, 1, 10, 0, inputs="standardised").share == 0.0
    assert disagreements(60, 5, 10, 0).share > 0.05


@pytest.mark.parametrize("p", [1, 5, 20])
def test_whitened_inputs_never_disagree(p):
    pr = random_problem(80, p, 3, inputs="whitened")
    np.testing.assert_allclose(pr.X.T @ pr.X, 80 * np.eye(p + 1), atol=1e-8)
    assert disagreements(80, p, 5, 0, inputs="whitened").share == 0.0
    assert disagreements(80, p, 5, 0, inputs="whitened", alpha=1.0).share == 0.0
    with pytest.raises(ValueError):
        random_problem(10, 1, 0, inputs="scaled")
