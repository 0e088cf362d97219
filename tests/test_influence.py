import numpy as np
import pytest

from metareweight.influence import (
    coupling_counterexample,
    disagreement_rate,
    fit,
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


def test_standardised_single_feature_never_disagrees():
    assert disagreement_rate(60, 1, 10, 0, standardise=True) == 0.0
    assert disagreement_rate(60, 5, 10, 0) > 0.05
