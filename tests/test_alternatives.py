"""Tests of the peer re-weighting methods (metareweight.alternatives): known solutions, oracles,
limits and a leakage spy.  Every problem here is tiny, so the whole file runs in seconds."""

import math

import numpy as np
import pytest
import torch
from conftest import band_features
from scipy.ndimage import convolve1d, gaussian_filter1d
from scipy.signal.windows import triang
from sklearn.linear_model import Ridge

from metareweight import alternatives as A
from metareweight import baselines

LOW, HIGH = 14, 21


def split_problem(n=400, p=5, seed=0):
    """:func:`conftest.band_features` as row sets: disjoint test / validation / meta-training rows."""
    X, y, te_block, rest = band_features(n, p, seed, LOW, HIGH)
    val_block = rest[:80]
    te = te_block[A.in_band(y[te_block], LOW, HIGH)]
    va = val_block[A.in_band(y[val_block], LOW, HIGH)]
    mt = rest[80:]
    return X, y, rest, mt, va, te


def ridge_oracle(X, y, alpha, w=None):
    """scikit-learn's weighted ridge with the "n" convention: penalty alpha * N."""
    return Ridge(alpha=alpha * len(y), fit_intercept=False, solver="cholesky").fit(X, y, sample_weight=w).coef_


def valid_mse(X, y, va, coef):
    return float(np.mean((X[va] @ coef - y[va]) ** 2))


# ----------------------------------------------------------------------------- helpers


def test_band_distance_and_mask_handle_float_ages():
    y = np.array([13, 14, 17, 21, 22, 24.5, 40]) / 100.0  # 21/100*100 = 21.000000000000004
    assert np.allclose(A.distance_to_band(y, LOW, HIGH), [1, 0, 0, 0, 1, 3.5, 19])
    assert A.in_band(y, LOW, HIGH).tolist() == [False, True, True, True, False, False, False]


def test_choose_then_refit_takes_first_minimum_skips_nan_and_flags_edges():
    scores = {1: 3.0, 2: float("nan"), 3: 1.0, 4: 1.0, 5: 2.0}
    res = A.choose_then_refit("m", ("k",), list(scores), scores.__getitem__, lambda v: (np.array([v]), [0], None))
    assert res.chosen == {"k": 3} and res.valid_mse == 1.0 and res.coef.tolist() == [3.0]
    assert not res.at_edge and [s for _, s in res.grid][0] == 3.0
    res = A.choose_then_refit("m", ("a", "b"), [(1, 1), (1, 2), (2, 1)], lambda v: v[0] + 0.1 * v[1],
                              lambda v: (np.zeros(1), [0], None))
    assert res.chosen == {"a": 1, "b": 1} and res.at_edge
    with pytest.raises(ValueError, match="finite"):
        A.choose_then_refit("m", ("k",), [1, 2], lambda v: float("inf"), lambda v: None)


# ----------------------------------------------------------------------------- 1. Restricted, tuned


def test_restricted_tuned_chooses_on_mt_and_refits_on_tr_like_the_oracle():
    X, y, tr, mt, va, _ = split_problem()
    lambdas = (1e-4, 5e-3, 1e-1, 3.0)
    res = A.restricted_tuned(X, y, tr, mt, va, LOW, HIGH, lambdas=lambdas)
    mt_band, tr_band = mt[A.in_band(y[mt], LOW, HIGH)], tr[A.in_band(y[tr], LOW, HIGH)]
    expected = [valid_mse(X, y, va, ridge_oracle(X[mt_band], y[mt_band], lam)) for lam in lambdas]
    assert np.allclose([s for _, s in res.grid], expected, rtol=1e-9)
    best = lambdas[int(np.argmin(expected))]
    assert res.chosen == {"lambda": best} and res.valid_mse == pytest.approx(min(expected), rel=1e-12)
    assert np.allclose(res.coef, ridge_oracle(X[tr_band], y[tr_band], best), atol=1e-9)
    assert sorted(res.rows.tolist()) == sorted(tr_band.tolist()) and res.weights is None
    # the paper's lambda is in the default grid, so tuning never does worse on validation than it
    assert A.ALPHA in A.LAMBDAS and len(A.LAMBDAS) == 14 and min(A.LAMBDAS) == 1e-5 and max(A.LAMBDAS) == 10.0


# ----------------------------------------------------------------------------- 2. Validation only


@pytest.mark.parametrize("n,p", [(12, 20), (30, 5)])  # more columns than rows, and fewer
def test_closed_form_loo_matches_explicit_refits_without_each_row(n, p):
    rng = np.random.default_rng(n)
    Xv = np.hstack([rng.uniform(-1, 1, (n, p - 1)), np.ones((n, 1))])
    yv = rng.uniform(0.14, 0.21, n)
    lambdas = (1e-4, 5e-3, 0.3)
    loop = []
    with A._one_thread():  # many tiny torch solves: one thread is far faster on a busy machine
        for lam in lambdas:
            errs = []
            for i in range(n):
                keep = np.arange(n) != i
                # the penalty held at lambda * n: fit_ridge on n - 1 rows with lambda * n / (n - 1)
                coef = baselines.fit_ridge(Xv[keep], yv[keep], alpha=lam * n / (n - 1))
                errs.append(Xv[i] @ coef - yv[i])
            loop.append(np.mean(np.square(errs)))
    assert np.allclose(A.loo_ridge_mse(Xv, yv, lambdas), loop, rtol=1e-8)


def test_valid_only_picks_the_loo_minimum_and_fits_on_validation_rows_only():
    X, y, _, _, va, _ = split_problem()
    lambdas = (1e-4, 1e-2, 1.0)
    res = A.valid_only(X, y, va, lambdas=lambdas)
    loo = A.loo_ridge_mse(X[va], y[va], lambdas)
    assert res.chosen == {"lambda": lambdas[int(np.argmin(loo))]} and res.valid_mse == pytest.approx(loo.min())
    assert np.allclose(res.coef, ridge_oracle(X[va], y[va], res.chosen["lambda"]), atol=1e-9)
    assert res.rows.tolist() == va.tolist()


# ----------------------------------------------------------------------------- 3. Soft band


def test_soft_band_weights_follow_the_gaussian_of_the_distance():
    y = np.array([10, 14, 20, 23]) / 100.0  # distances 4, 0, 0, 2 years
    assert np.allclose(A.soft_band_weights(y, LOW, HIGH, 2.0), [math.exp(-2), 1, 1, math.exp(-0.5)])
    assert A.soft_band_weights(y, LOW, HIGH, 0.0).tolist() == [0, 1, 1, 0]
    assert A.soft_band_weights(y, LOW, HIGH, math.inf).tolist() == [1, 1, 1, 1]


@pytest.mark.parametrize("sigma", [0.0, 1e-3])
def test_soft_band_tends_to_restricted_as_sigma_goes_to_zero(sigma):
    X, y, tr, mt, va, _ = split_problem()
    res = A.soft_band(X, y, tr, mt, va, LOW, HIGH, sigmas=(sigma,))
    restricted = baselines.restricted_baseline(X[tr], y[tr], A.in_band(y[tr], LOW, HIGH))
    assert np.max(np.abs(res.coef - restricted)) < 1e-8


@pytest.mark.parametrize("sigma", [math.inf, 1e9])
def test_soft_band_tends_to_all_as_sigma_grows(sigma):
    X, y, tr, mt, va, _ = split_problem()
    res = A.soft_band(X, y, tr, mt, va, LOW, HIGH, sigmas=(sigma,))
    assert np.max(np.abs(res.coef - baselines.all_baseline(X[tr], y[tr]))) < 1e-8


def test_soft_band_choice_and_final_fit_match_the_weighted_oracle():
    X, y, tr, mt, va, _ = split_problem()
    sigmas = (0.0, 1.0, 4.0, math.inf)
    res = A.soft_band(X, y, tr, mt, va, LOW, HIGH, sigmas=sigmas)

    def oracle(rows, s):
        w = A.soft_band_weights(y[rows], LOW, HIGH, s)
        return ridge_oracle(X[rows], y[rows], A.ALPHA, w * len(w) / w.sum())

    expected = [valid_mse(X, y, va, oracle(mt, s)) for s in sigmas]
    assert np.allclose([s for _, s in res.grid], expected, rtol=1e-8)
    assert res.chosen == {"sigma": sigmas[int(np.argmin(expected))]}
    assert np.allclose(res.coef, oracle(tr, res.chosen["sigma"]), atol=1e-9)
    assert res.weights.shape == tr.shape and res.weights.mean() == pytest.approx(1.0)


# ----------------------------------------------------------------------------- 4. Label shift


def test_label_shift_weights_by_hand():
    y_fit = np.array([14, 14, 15, 16, 30]) / 100.0
    y_valid = np.array([14, 15, 15]) / 100.0
    # p_valid: 14 -> 1/3, 15 -> 2/3; p_fit: 14 -> 2/5, 15, 16, 30 -> 1/5 each
    assert np.allclose(A.label_shift_weights(y_fit, y_valid), [5 / 6, 5 / 6, 10 / 3, 0, 0])
    # two-year bins: {14, 15} -> p_valid 1, p_fit 3/5; {16, 17} and {30, 31} -> p_valid 0
    assert np.allclose(A.label_shift_weights(y_fit, y_valid, bin_width=2), [5 / 3] * 3 + [0, 0])


@pytest.mark.parametrize("width", [0.5, 1.0, 2.0])
def test_label_shift_smoothing_is_the_gaussian_filter_of_both_histograms(width):
    rng = np.random.default_rng(1)
    fit_ages, valid_ages = rng.integers(5, 60, 300), rng.integers(LOW, HIGH + 1, 40)
    hist = [np.bincount(a, minlength=120) / len(a) for a in (fit_ages, valid_ages)]
    pf, pv = (gaussian_filter1d(h, width, mode="constant", truncate=3.0) for h in hist)
    got = A.label_shift_weights(fit_ages / 100.0, valid_ages / 100.0, width=width)
    assert np.allclose(got, pv[fit_ages] / pf[fit_ages], rtol=1e-10, atol=1e-14)
    far = np.abs(fit_ages - 17.5) > 3.5 + math.ceil(3 * width)  # beyond the smoothed validation support
    assert np.all(got[far] == 0) and np.all(got[~far & A.in_band(fit_ages / 100, LOW, HIGH)] > 0)


def test_label_shift_with_proportional_band_histograms_is_restricted():
    X, y, tr, mt, va, _ = split_problem()
    # rewrite the labels: every band age has 2 validation rows and 6 meta-training rows (so 8 in tr)
    y = y.copy()
    assert len(va) >= 16
    y[va[:16]] = np.repeat(np.arange(LOW, HIGH + 1), 2) / 100.0
    y[va[16:]] = 0.50  # the other in-band rows of the validation block leave the band
    band_mt = mt[A.in_band(y[mt], LOW, HIGH)]
    y[band_mt[:48]] = np.repeat(np.arange(LOW, HIGH + 1), 6) / 100.0
    y[band_mt[48:]] = 0.50
    va = va[:16]
    res = A.label_shift(X, y, tr, mt, va, widths=(0.0,))
    band = A.in_band(y[tr], LOW, HIGH)
    assert np.allclose(res.weights[band], res.weights[band][0]) and np.all(res.weights[~band] == 0)
    assert np.max(np.abs(res.coef - baselines.restricted_baseline(X[tr], y[tr], band))) < 1e-8


def test_label_shift_choice_matches_the_weighted_oracle():
    X, y, tr, mt, va, _ = split_problem()
    widths = (0.0, 1.0, 4.0)
    res = A.label_shift(X, y, tr, mt, va, widths=widths)

    def oracle(rows, width):
        w = A.label_shift_weights(y[rows], y[va], 1, width)
        return ridge_oracle(X[rows], y[rows], A.ALPHA, w * len(w) / w.sum())

    expected = [valid_mse(X, y, va, oracle(mt, w)) for w in widths]
    assert np.allclose([s for _, s in res.grid], expected, rtol=1e-8)
    assert np.allclose(res.coef, oracle(tr, res.chosen["width"]), atol=1e-9)


# ----------------------------------------------------------------------------- 4b. DIR's windows and LDS


def test_dir_gaussian_window_is_scipys_filter_of_a_delta_over_its_max():
    for ks, sigma in ((5, 2.0), (7, 1.0), (3, 0.5), (9, 3.0)):
        delta = np.zeros(ks)
        delta[ks // 2] = 1.0
        filtered = gaussian_filter1d(delta, sigma=sigma)  # scipy's defaults: reflect, truncate 4
        assert np.allclose(A.dir_window("gaussian", ks, sigma), filtered / filtered.max(), rtol=1e-12, atol=0)
    # DIR's default (5 taps, sigma 2) is nearly a box
    w = A.dir_window("gaussian")
    assert w[2] == 1.0 and np.all(w > 0.85) and np.allclose(w, w[::-1])


def test_dir_triangular_and_laplace_windows_by_hand():
    assert np.allclose(A.dir_window("triangular"), [1 / 3, 2 / 3, 1, 2 / 3, 1 / 3], rtol=1e-14)
    assert np.allclose(A.dir_window("triangular", 7), triang(7), rtol=1e-14)
    e = math.exp
    assert np.allclose(A.dir_window("laplace"), [e(-1), e(-0.5), 1, e(-0.5), e(-1)], rtol=1e-14)  # exp(-|x| / 2)
    with pytest.raises(ValueError, match="odd"):
        A.dir_window("gaussian", 4)
    with pytest.raises(ValueError, match="unknown DIR window"):
        A.dir_window("box")


def test_label_shift_with_a_dir_window_smooths_both_histograms_with_it():
    y_fit = np.array([14, 14, 16, 30]) / 100.0
    y_valid = np.array([15]) / 100.0
    # laplace window k = (e^-1, e^-0.5, 1, e^-0.5, e^-1); p_valid smoothed: 15 -> 1, 14 and 16 -> e^-0.5;
    # p_fit: 14 -> (2 + e^-1) / 4, 16 -> (1 + 2 e^-1) / 4 (bin 14 two away), 30 -> 1/4 (bin 15 gets nothing there)
    e = math.exp
    expected = [e(-0.5) * 4 / (2 + e(-1))] * 2 + [e(-0.5) * 4 / (1 + 2 * e(-1)), 0.0]
    assert np.allclose(A.label_shift_weights(y_fit, y_valid, width="laplace"), expected, rtol=1e-12)
    assert set(A.DIR_WINDOWS) <= set(A.SMOOTHING)


def test_lds_inverse_weights_on_a_known_histogram():
    ages = np.array([10] * 4 + [12] + [14] * 9)
    # sqrt of the counts: 2 at 10, 1 at 12, 3 at 14; the laplace window (peak 1, e^-0.5 at 1 bin, e^-1 at 2)
    # smooths them to 2 + e^-1 at 10, 1 + 5 e^-1 at 12 (both neighbours two bins away), 3 + e^-1 at 14
    e = math.exp(-1)
    expected = 1 / np.array([2 + e] * 4 + [1 + 5 * e] + [3 + e] * 9)
    assert np.allclose(A.lds_inverse_weights(ages / 100.0, kernel="laplace"), expected, rtol=1e-12)
    # DIR's default window, against scipy's convolve1d of the square-rooted histogram (zero padding)
    counts = np.bincount(ages, minlength=20).astype(float)
    smoothed = convolve1d(np.sqrt(counts), A.dir_window("gaussian"), mode="constant")
    assert np.allclose(A.lds_inverse_weights(ages / 100.0), 1 / smoothed[ages], rtol=1e-12)


def test_lds_inverse_fits_every_training_row_with_the_mean_one_weights():
    X, y, tr, mt, va, _ = split_problem()
    res = A.lds_inverse(X, y, tr, mt, va, LOW, HIGH)
    w = A.lds_inverse_weights(y[tr])
    assert np.allclose(res.weights, w * len(w) / w.sum(), rtol=1e-12)
    assert np.allclose(res.coef, ridge_oracle(X[tr], y[tr], A.ALPHA, res.weights), atol=1e-9)
    w_mt = A.lds_inverse_weights(y[mt])
    expected = valid_mse(X, y, va, ridge_oracle(X[mt], y[mt], A.ALPHA, w_mt * len(w_mt) / w_mt.sum()))
    assert res.valid_mse == pytest.approx(expected, rel=1e-9)
    assert res.chosen == {"window": "gaussian"} and not res.at_edge  # one value: nothing was chosen


# ----------------------------------------------------------------------------- 5. the SGD loop and its control


def test_momentum_sgd_is_torch_sgd_with_momentum_and_a_cosine_schedule():
    rng = np.random.default_rng(7)
    Xf, yf = rng.normal(size=(23, 3)), rng.normal(size=23)
    w = rng.uniform(0, 2, 23)
    lr, alpha, batch, epochs = 0.05, 0.01, 5, 3
    out = A.momentum_sgd(Xf, yf, lambda b, *_: w[b], lr, (epochs,), batch=batch, alpha=alpha)
    theta = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([theta], lr=lr, momentum=0.9, weight_decay=2 * alpha)
    total = epochs * math.ceil(23 / batch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5 * (1 + math.cos(math.pi * t / total)))
    Xt, yt, wt = (torch.as_tensor(a) for a in (Xf, yf, w))
    for batches in A._batches(23, batch, epochs, 0):
        for b in batches:
            b = torch.as_tensor(b)
            opt.zero_grad()
            torch.mean(wt[b] * (Xt[b] @ theta - yt[b]) ** 2).backward()
            opt.step()
            sched.step()
    assert np.allclose(out[epochs][0], theta.detach().numpy(), rtol=1e-12, atol=1e-14)
    assert np.array_equal(out[epochs][1], w)  # every row's weight in the last epoch


def restricted_problem():
    X, y, _, rest = band_features(400, 5, 0, LOW, HIGH)
    Xf, yf = X[rest], y[rest]
    band = A.in_band(yf, LOW, HIGH)
    return Xf, yf, A._mean_one(band.astype(float)), baselines.fit_ridge(Xf[band], yf[band], alpha=A.ALPHA)


def test_momentum_sgd_with_restricted_weights_converges_to_restricted_in_closed_form():
    Xf, yf, w, exact = restricted_problem()
    unit = A.sgd_lr_unit(Xf)
    # full batches: heavy ball on the weighted objective reaches its minimiser to rounding
    full = A.momentum_sgd(Xf, yf, lambda b, *_: w[b], unit, (1000,), batch=len(yf))[1000][0]
    assert np.max(np.abs(full - exact)) < 1e-10 * np.max(np.abs(exact))
    # mini-batches of 20: the cosine's end leaves the gradient noise within 1% of the largest coefficient
    mini = A.momentum_sgd(Xf, yf, lambda b, *_: w[b], 0.3 * unit, (200,), batch=20)[200][0]
    assert np.max(np.abs(mini - exact)) < 1e-2 * np.max(np.abs(exact))


def test_the_control_reaches_restricted_on_a_split_and_reports_its_budget():
    X, y, tr, mt, va, te = split_problem()
    out = A.run_control(X, y, tr, mt, va, te, LOW, HIGH, sgd={"lr_scales": (0.1, 1.0), "epochs": (50, 200),
                                                                "batch": 20})
    closed = baselines.restricted_baseline(X[tr], y[tr], A.in_band(y[tr], LOW, HIGH))
    assert np.allclose(out["restricted_test_pred"], X[te] @ closed, atol=1e-12)
    ratio = np.mean((out["test_pred"] - y[te]) ** 2) / np.mean((out["restricted_test_pred"] - y[te]) ** 2)
    assert abs(ratio - 1) < 0.05
    assert out["steps"] == out["epochs"] * math.ceil(len(tr) / 20) and out["schedule_steps"] == 200 * 17
    assert out["result"].name == "sgd_restricted" and set(out["chosen"]) == {"lr", "epochs"}


def test_the_control_chooses_the_setting_that_minimises_its_objective():
    """Oracle: each grid setting run by momentum_sgd on the choice rows, scored by the weighted
    objective written out here; the control must pick the argmin and report its value."""
    X, y, tr, mt, va, _ = split_problem()
    scales, epochs = (1e-3, 0.1, 0.3), (5, 40)
    res = A.sgd_restricted(X, y, tr, va, LOW, HIGH, mt=mt, lr_scales=scales, epochs=epochs, batch=20)
    Xf, yf = X[mt], y[mt]
    w = A._mean_one(A.in_band(yf, LOW, HIGH).astype(float))
    unit = A.sgd_lr_unit(Xf)
    scores = {}
    for s in scales:
        runs = A.momentum_sgd(Xf, yf, lambda b, *_: w[b], s * unit, epochs, batch=20)
        for e, (theta, _) in runs.items():
            scores[s, e] = np.mean(w * (Xf @ theta - yf) ** 2) + A.ALPHA * theta @ theta
    best = min(scores, key=scores.get)
    assert res.chosen["lr"] == pytest.approx(best[0] * unit) and res.chosen["epochs"] == best[1]
    assert res.valid_mse == pytest.approx(scores[best], rel=1e-12)
    assert best[0] != 1e-3  # the smallest step is far from converged in 40 epochs


def test_sgd_checkpoints_are_prefixes_of_longer_runs():
    X, y, tr, mt, va, _ = split_problem()
    long = A.l2rw_path(X[mt], y[mt], X[va], y[va], 1e-2, (1, 3), schedule=3)
    short = A.l2rw_path(X[mt], y[mt], X[va], y[va], 1e-2, (1,), schedule=3)
    assert np.array_equal(long[1][0], short[1][0]) and np.array_equal(long[1][1], short[1][1])
    m_long = A.mwnet_path(X[mt], y[mt], X[va], y[va], 1e-2, (1, 2), hidden=8)
    m_short = A.mwnet_path(X[mt], y[mt], X[va], y[va], 1e-2, (1,), schedule=2, hidden=8)
    assert np.array_equal(m_long[1][0], m_short[1][0])


def test_a_diverging_run_is_all_nan_and_rejected_by_the_choice():
    Xf, yf, w, _ = restricted_problem()
    out = A.momentum_sgd(Xf, yf, lambda b, *_: w[b], 50 * A.sgd_lr_unit(Xf), (1, 40), batch=20)
    assert np.all(np.isfinite(out[1][0])) and np.abs(out[1][0]).max() > 1e6  # on its way
    assert np.all(np.isnan(out[40][0])) and np.all(np.isnan(out[40][1]))
    X, y, tr, mt, va, _ = split_problem()
    res = A.sgd_restricted(X, y, tr, va, LOW, HIGH, mt=mt, lr_scales=(0.3, 50.0), epochs=(40,), batch=20)
    assert res.chosen["lr"] == pytest.approx(0.3 * A.sgd_lr_unit(X[mt])) and np.isnan(res.grid[1][1])


def test_cosine_rate():
    assert A.cosine_rate(2.0, 0, 10) == 2.0 and A.cosine_rate(2.0, 5, 10) == pytest.approx(1.0)
    assert A.cosine_rate(2.0, 10, 10) == pytest.approx(0.0, abs=1e-15)


def test_sgd_lr_units():
    Xf = np.array([[1.0, 2.0], [3.0, 0.0], [0.0, 0.5]])
    assert A.sgd_lr_unit(Xf, "row") == pytest.approx(1 / 18)  # 2 * max ||x||^2 = 2 * 9
    assert A.sgd_lr_unit(Xf, "mean") == pytest.approx(1 / (2 * np.linalg.eigvalsh(Xf.T @ Xf / 3)[-1]))


# ----------------------------------------------------------------------------- 6. L2RW


def test_l2rw_weights_and_step_by_hand():
    Xb = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    yb = np.array([1.0, -1.0, 0.0])
    theta = np.array([0.5, 0.5])
    Xv, yv = np.array([[1.0, 0.0]]), np.array([2.0])
    # residuals -0.5, 1.5, 1; g_i = (-1, 0), (0, 3), (2, 2); g_valid = 2 * (-1.5) * (1, 0) = (-3, 0)
    # dots 3, 0, -6 -> w = (1, 0, 0)
    assert A.l2rw_weights(Xb, yb, Xv, yv, theta).tolist() == [1.0, 0.0, 0.0]
    # with y_b = (2, 2, 3) and x_valid = (1, 1), y_valid = 3: r_v = -2, g_valid = (-4, -4);
    # r = (-1.5, -1.5, -2), g = (-3, 0), (0, -3), (-4, -4): dots 12, 12, 32
    w = A.l2rw_weights(Xb, np.array([2.0, 2.0, 3.0]), np.array([[1.0, 1.0]]), np.array([3.0]), theta)
    assert np.allclose(w, [12 / 56, 12 / 56, 32 / 56])
    # the first step on one batch holding all three rows: v = sum_i w_i g_i (theta = 0: no decay) and
    # theta = -lr v, the cosine's rate at step 0 being lr
    lr, alpha = 0.05, 0.1
    out = A.l2rw_path(Xb, yb, Xv, yv, lr, (1,), batch=3, alpha=alpha)
    # at theta = 0: r = -y = (-1, 1, 0); g = (-2, 0), (0, 2), (0, 0); g_valid = (-4, 0): dots 8, 0, 0
    assert np.allclose(out[1][0], -lr * np.array([-2.0, 0.0]))
    assert np.allclose(out[1][1], [3.0, 0.0, 0.0])  # weight times the batch size


def test_l2rw_two_steps_by_hand_with_momentum_including_an_all_zero_step():
    Xb = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    yb = np.array([1.0, -1.0, 0.0])
    lr, alpha = 0.05, 0.1
    # two steps: rates lr and lr / 2 (cosine over 2 steps); v1 = g1 = (-2, 0), theta1 = (0.1, 0).
    # validation label 2: at theta1 r = (-0.9, 1, 0.1), g = (-1.8, 0), (0, 2), (0.2, 0.2);
    # g_valid = 2 (0.1 - 2) (1, 0): dots 6.84, 0, -0.76 -> w = (1, 0, 0); g2 = (-1.8 + 2 alpha 0.1, 0)
    out = A.l2rw_path(Xb, yb, np.array([[1.0, 0.0]]), np.array([2.0]), lr, (1, 2), batch=3, alpha=alpha)
    v2 = 0.9 * -2.0 + (-1.8 + 2 * alpha * 0.1)
    assert np.allclose(out[1][0], [0.1, 0.0]) and np.allclose(out[2][0], [0.1 - lr / 2 * v2, 0.0])
    assert np.allclose(out[2][1], [3.0, 0.0, 0.0])
    # validation label 0.1: at theta1 the validation residual is 0, every weight is 0 and the gradient
    # is the decay alone, 2 alpha theta1; the velocity still carries the first step
    out = A.l2rw_path(Xb, yb, np.array([[1.0, 0.0]]), np.array([0.1]), lr, (1, 2), batch=3, alpha=alpha)
    assert np.all(A.l2rw_weights(Xb, yb, np.array([[1.0, 0.0]]), np.array([0.1]), out[1][0]) == 0)
    assert np.allclose(out[2][0], [0.1 - lr / 2 * (0.9 * -2.0 + 2 * alpha * 0.1), 0.0])
    assert np.allclose(out[1][1], [3.0, 0.0, 0.0]) and np.all(out[2][1] == 0)


def test_l2rw_weights_are_a_distribution_or_all_zero():
    rng = np.random.default_rng(2)
    Xb, yb, Xv, yv = rng.normal(size=(50, 4)), rng.normal(size=50), rng.normal(size=(9, 4)), rng.normal(size=9)
    for _ in range(20):
        w = A.l2rw_weights(Xb, yb, Xv, yv, rng.normal(size=4))
        assert np.all(w >= 0) and w.sum() == pytest.approx(1.0)
    # where the validation residuals vanish (exactly, in integers), g_valid = 0: every weight is 0
    Xi, theta = rng.integers(-3, 4, (9, 4)).astype(float), np.array([1.0, -2.0, 0.0, 3.0])
    assert np.all(A.l2rw_weights(Xb, yb, Xi, Xi @ theta, theta) == 0)
    # every row anti-aligned: at theta = 0, g_valid = 2 (0 - 1) 1 = -2 and g_i = -2 y_i x_i = 2, 12
    assert np.all(A.l2rw_weights(np.array([[1.0], [2.0]]), np.array([-1.0, -3.0]), np.ones((1, 1)), np.ones(1),
                                 np.zeros(1)) == 0)


def test_l2rw_weights_concentrate_on_rows_of_the_validation_model():
    rng = np.random.default_rng(3)
    p = 4
    theta_a, theta_b = rng.normal(size=p), rng.normal(size=p)
    Xa, Xb = rng.normal(size=(30, p)), rng.normal(size=(30, p))
    X = np.vstack([Xa, Xb])
    y = np.concatenate([Xa @ theta_a, Xb @ theta_b])
    Xv = np.sqrt(p) * np.eye(p)  # (1/m) Xv^T Xv = I, validation labels from model A
    yv = Xv @ theta_a
    # midway between the models a row of A has residual x.(theta_b - theta_a)/2, a row of B the
    # opposite, and g_valid = (theta_b - theta_a): dots (x.delta)^2 >= 0 for A, -(x.delta)^2 for B
    w = A.l2rw_weights(X, y, Xv, yv, (theta_a + theta_b) / 2)
    assert np.all(w[30:] == 0) and w[:30].sum() == pytest.approx(1.0) and np.all(w[:30] > 0)
    delta = theta_b - theta_a
    assert np.allclose(w[:30], (Xa @ delta) ** 2 / np.sum((Xa @ delta) ** 2))


def two_model_problem():
    rng = np.random.default_rng(4)
    n, p = 300, 4
    X = np.hstack([rng.uniform(-1, 1, (n, p - 1)), np.ones((n, 1))])
    theta_a, theta_b = np.array([0.3, -0.2, 0.1, 0.2]), np.array([-0.4, 0.3, 0.2, 0.6])
    group_a = np.arange(n) < n // 2
    y = np.where(group_a, X @ theta_a, X @ theta_b)
    return X, y, theta_a, theta_b, group_a, np.arange(n), np.arange(40, n), np.arange(0, 40)  # va: rows of A


def test_l2rw_recovers_the_validation_model_and_refits_with_the_chosen_setting():
    X, y, theta_a, theta_b, group_a, tr, mt, va = two_model_problem()
    res = A.l2rw(X, y, tr, va, mt=mt, lr_scales=(0.03, 0.3), epochs=(2, 10, 30), alpha=0.0)
    all_mse = valid_mse(X, y, va, baselines.all_baseline(X[tr], y[tr]))
    assert res.valid_mse < 0.02 * all_mse
    assert np.linalg.norm(res.coef - theta_a) < 0.1 * np.linalg.norm(theta_b - theta_a)
    assert res.weights[group_a].mean() > 5 * res.weights[~group_a].mean()
    # the final head is the run on tr with the chosen absolute step size, to the chosen checkpoint
    # of the same 30-epoch schedule
    e = res.chosen["epochs"]
    final = A.l2rw_path(X[tr], y[tr], X[va], y[va], res.chosen["lr"], (e,), schedule=30, alpha=0.0)
    assert np.array_equal(res.coef, final[e][0]) and np.array_equal(res.weights, final[e][1])
    assert res.chosen["lr"] in [c * A.sgd_lr_unit(X[mt]) for c in (0.03, 0.3)]


def test_the_closed_form_variant_is_fit_ridge_with_the_last_epochs_weights():
    X, y, _, _, _, tr, mt, va = two_model_problem()
    grid = {"lr_scales": (0.03, 0.3), "epochs": (2, 10)}
    head, closed = A.l2rw(X, y, tr, va, mt=mt, both=True, **grid)
    assert closed.name == "l2rw_closed_form" and len(closed.grid) == len(head.grid) == 4
    assert A.l2rw(X, y, tr, va, mt=mt, closed_form=True, **grid).chosen == closed.chosen
    unit = A.sgd_lr_unit(X[mt])
    # every candidate: fit_ridge on mt with that run's last-epoch weights (mean 1), scored on va
    for (lr, e), score in closed.grid:
        w = A.l2rw_path(X[mt], y[mt], X[va], y[va], lr, (2, 10))[e][1]
        assert score == pytest.approx(valid_mse(X, y, va, ridge_oracle(X[mt], y[mt], A.ALPHA, A._mean_one(w))),
                                      rel=1e-8)
        assert lr in (0.03 * unit, 0.3 * unit)
    # the final fit: the chosen setting rerun on tr, its last-epoch weights, mean 1, weighted ridge
    e = closed.chosen["epochs"]
    w = A.l2rw_path(X[tr], y[tr], X[va], y[va], closed.chosen["lr"], (e,), schedule=10)[e][1]
    assert np.allclose(closed.weights, A._mean_one(w), rtol=1e-12)
    assert np.allclose(closed.coef, baselines.fit_ridge(X[tr], y[tr], A._mean_one(w), alpha=A.ALPHA), atol=1e-12)
    assert np.allclose(closed.coef, ridge_oracle(X[tr], y[tr], A.ALPHA, A._mean_one(w)), atol=1e-9)


# ----------------------------------------------------------------------------- 7. MW-Net


def tiny_mwnet_problem():
    rng = np.random.default_rng(5)
    Xb, yb = rng.normal(size=(6, 3)), rng.uniform(0, 1, 6)
    Xv, yv = rng.normal(size=(4, 3)), rng.uniform(0, 1, 4)
    theta = rng.normal(scale=0.3, size=3)
    params = A.mwnet_init(hidden=5, seed=1)
    params[1] = np.abs(params[1]) + 0.1  # every hidden unit active, so no gradient is 0 by ReLU
    return Xb, yb, Xv, yv, theta, params


def torch_valid_after_pseudo_update(theta, Xb, yb, Xv, yv, params, lr, alpha):
    """The same loss by torch autograd (an independent implementation of V and the pseudo-update)."""
    W1, b1, W2, b2 = params
    r = torch.as_tensor(Xb @ theta - yb)
    v = torch.sigmoid(torch.relu((r**2).unsqueeze(1) @ W1.T + b1) @ W2.T + b2).squeeze(1)
    Xb_t, theta_t = torch.as_tensor(Xb), torch.as_tensor(theta)
    theta_hat = theta_t - lr * ((v * 2 * r) @ Xb_t / len(r) + 2 * alpha * theta_t)
    return torch.mean((torch.as_tensor(Xv) @ theta_hat - torch.as_tensor(yv)) ** 2)


def test_mwnet_meta_gradient_matches_autograd_and_finite_differences():
    Xb, yb, Xv, yv, theta, params = tiny_mwnet_problem()
    lr, alpha = 0.3, 0.05
    loss, grads = A.mwnet_meta_gradient(theta, Xb, yb, Xv, yv, params, lr, alpha)
    tparams = [torch.as_tensor(p).requires_grad_(True) for p in params]
    tloss = torch_valid_after_pseudo_update(theta, Xb, yb, Xv, yv, tparams, lr, alpha)
    assert loss == pytest.approx(tloss.item(), rel=1e-12)
    for ours, theirs in zip(grads, torch.autograd.grad(tloss, tparams), strict=True):
        assert ours.shape == theirs.shape and np.allclose(ours, theirs.numpy(), rtol=1e-10, atol=1e-15)
    h = 1e-6
    for k, p in enumerate(params):
        fd = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            plus = [q.copy() for q in params]
            minus = [q.copy() for q in params]
            plus[k][idx] += h
            minus[k][idx] -= h
            fd[idx] = (A.mwnet_meta_gradient(theta, Xb, yb, Xv, yv, plus, lr, alpha)[0]
                       - A.mwnet_meta_gradient(theta, Xb, yb, Xv, yv, minus, lr, alpha)[0]) / (2 * h)
        assert np.allclose(grads[k], fd, rtol=1e-5, atol=1e-11), k


def test_adam_step_matches_torch_adam():
    rng = np.random.default_rng(6)
    ours = [rng.normal(size=(3, 2)), rng.normal(size=2)]
    ref = [torch.as_tensor(p.copy()).requires_grad_(True) for p in ours]
    opt = torch.optim.Adam(ref, lr=0.01)
    state = {}
    for _ in range(3):
        grads = [rng.normal(size=p.shape) for p in ours]
        A.adam_step(ours, grads, state, 0.01)
        for p, g in zip(ref, grads, strict=True):
            p.grad = torch.as_tensor(g)
        opt.step()
    for a, b in zip(ours, ref, strict=True):
        assert np.allclose(a, b.detach().numpy(), rtol=1e-12, atol=1e-15)


def test_mwnet_one_iteration_by_hand():
    Xb, yb, Xv, yv, _, _ = tiny_mwnet_problem()
    lr, alpha, meta_lr, hidden, seed = 0.2, 0.05, 1e-2, 5, 3
    out = A.mwnet_path(Xb, yb, Xv, yv, lr, (1,), batch=len(yb), alpha=alpha, meta_lr=meta_lr, hidden=hidden,
                       seed=seed)
    params0 = A.mwnet_init(hidden, seed)
    theta0 = np.zeros(3)
    _, g = A.mwnet_meta_gradient(theta0, Xb, yb, Xv, yv, params0, lr, alpha)
    # Adam's first step, bias-corrected: m_hat = g, v_hat = g^2 -> Theta - meta_lr g / (|g| + 1e-8)
    params1 = [p - meta_lr * gk / (np.abs(gk) + 1e-8) for p, gk in zip(params0, g, strict=True)]
    # real step from theta = 0 at the rate lr (the cosine's first): residuals -y, losses y^2,
    # gradients -2 y x; the velocity is the first gradient
    v1 = A.mwnet_v(yb**2, params1)
    theta1 = -lr * (v1 @ (-2 * yb[:, None] * Xb)) / len(yb)
    assert np.allclose(out[1][0], theta1, rtol=1e-10, atol=1e-14)
    assert np.allclose(out[1][1], v1, rtol=1e-10)  # the weights of the step, V at the row's visit


def test_mwnet_refits_with_the_chosen_setting():
    X, y, tr, mt, va, _ = split_problem()
    res = A.mwnet(X, y, tr, va, mt=mt, lr_scales=(0.3, 1.0), meta_lrs=(1e-2,), epochs=(1, 3), hidden=8)
    assert set(res.chosen) == {"lr", "meta_lr", "epochs"} and len(res.grid) == 4
    unit = A.sgd_lr_unit(X[mt])
    runs = {lr: A.mwnet_path(X[mt], y[mt], X[va], y[va], lr, (1, 3), meta_lr=1e-2, hidden=8)
            for lr in (0.3 * unit, unit)}
    expected = [valid_mse(X, y, va, runs[lr][e][0]) for lr in runs for e in (1, 3)]
    assert np.allclose([s for _, s in res.grid], expected, rtol=1e-10)
    e = res.chosen["epochs"]
    final = A.mwnet_path(X[tr], y[tr], X[va], y[va], res.chosen["lr"], (e,), schedule=3, meta_lr=1e-2, hidden=8)
    assert np.array_equal(res.coef, final[e][0]) and np.array_equal(res.weights, final[e][1])
    assert np.all((res.weights > 0) & (res.weights < 1))


# ----------------------------------------------------------------------------- all methods, no leakage

SMALL_SGD = {"lr_scales": (0.01, 0.1), "epochs": (2, 5), "meta_lrs": (1e-2,)}


def test_run_alternatives_never_fits_or_chooses_on_test_rows(monkeypatch):
    X, y, tr, mt, va, te = split_problem()
    assert len(te) > 0 and not set(te) & set(tr)
    clean = A.run_alternatives(X, y, tr, mt, va, te, LOW, HIGH, sgd=SMALL_SGD)
    control = A.run_control(X, y, tr, mt, va, te, LOW, HIGH, sgd=SMALL_SGD)
    assert list(clean) == list(A.ALTERNATIVES)
    for name, r in clean.items():
        assert np.array_equal(r["test_pred"], X[te] @ r["coef"]), name
        assert np.isfinite(r["valid_mse"]) and r["chosen"], name
        assert r["at_edge"] == any(v is not None for v in r["edges"].values()), name

    # spy 1: every row access of the module, and every ridge fit identified row by row
    row_of = {X[i].tobytes(): i for i in range(len(X))}
    accessed, fitted = [], []
    real_rows, real_fit = A._rows, baselines.fit_ridge

    def spy_rows(X_, y_, idx):
        accessed.append(np.asarray(idx).copy())
        return real_rows(X_, y_, idx)

    def spy_fit(Xf, yf, weights=None, **kw):
        fitted.append(np.array([row_of[r.tobytes()] for r in np.asarray(Xf)]))
        return real_fit(Xf, yf, weights, **kw)

    monkeypatch.setattr(A, "_rows", spy_rows)
    monkeypatch.setattr(baselines, "fit_ridge", spy_fit)
    # spy 2: test rows poisoned (NaN features and labels): any use in a fit or a choice shows
    Xp, yp = X.copy(), y.copy()
    Xp[te], yp[te] = np.nan, np.nan
    row_of.update({Xp[i].tobytes(): i for i in te})
    poisoned = A.run_alternatives(Xp, yp, tr, mt, va, te, LOW, HIGH, sgd=SMALL_SGD)
    # one fit per grid value on mt and one final fit for each ridge family; the closed-form peers fit
    # one per SGD grid value (2 x 2 for L2RW, 2 x 1 x 2 for MW-Net) and a final one
    assert len(fitted) == len(A.LAMBDAS) + len(A.SIGMAS) + len(A.SMOOTHING) + 1 + 4 + 1 + (4 + 1) + (4 + 1)
    poisoned_control = A.run_control(Xp, yp, tr, mt, va, te, LOW, HIGH, sgd=SMALL_SGD)
    assert set(np.concatenate(accessed).tolist()) == set(tr.tolist())  # the spy saw every training row
    test_rows = set(te.tolist())
    assert all(not test_rows & set(rows.tolist()) for rows in accessed + fitted)
    for name, r in [*clean.items(), ("control", control)]:
        q = poisoned_control if name == "control" else poisoned[name]
        assert np.array_equal(q["result"].coef, r["result"].coef) and q["chosen"] == r["chosen"], name
        assert q["valid_mse"] == r["valid_mse"] and q["result"].grid == r["result"].grid, name
