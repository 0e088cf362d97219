import numpy as np
import pytest

from metareweight.meta import train_weights
from metareweight.ridge import WeightedRidge, design_matrix


def _two_regimes(seed=0, n=300):
    """Rows with y <= 0.3 follow y = 0.15 + 0.1 x; rows above follow another line.  The
    validation set comes from the first regime, so the best weighting keeps only those rows,
    which the weight network can find from y alone."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=n)
    low = rng.random(n) < 0.3
    y = np.where(low, 0.15 + 0.1 * x, 0.9 - 0.5 * x) + 0.005 * rng.normal(size=n)
    X = design_matrix(x[:, None])
    xv = rng.uniform(0, 1, size=40)
    Xv, yv = design_matrix(xv[:, None]), 0.15 + 0.1 * xv
    yhat0 = WeightedRidge(1e-3, penalty="plain").fit(X, y).predict(X)
    return X, y, yhat0, Xv, yv, low


def _valid_mse(X, y, w, Xv, yv):
    return np.mean((WeightedRidge(1e-3, penalty="plain").fit(X, y, sample_weight=w).predict(Xv) - yv) ** 2)


@pytest.mark.parametrize("mode", ["net", "free"])
def test_meta_step_finds_the_known_best_weighting(mode):
    X, y, yhat0, Xv, yv, low = _two_regimes()
    result = train_weights(X, y, yhat0, Xv, yv, steps=300, lr=0.05, alpha=1e-3, penalty="plain",
                           mode=mode, seed=0)
    hist = result.history["valid_mse"]
    oracle = _valid_mse(X, y, low.astype(float), Xv, yv)
    uniform = _valid_mse(X, y, np.ones(len(y)), Xv, yv)
    assert hist[-1] < 0.05 * hist[0]
    assert hist[-1] < 0.05 * uniform
    if mode == "net":  # two parameters' worth of structure: reaches the oracle weighting
        assert hist[-1] < oracle + 1e-4
    assert result.weights[low].mean() > 5 * result.weights[~low].mean()
    if mode == "net":  # the network generalises to new rows through (y, yhat0)
        w_new = result.weight_fn(np.array([0.2, 0.8]), np.array([0.4, 0.4]))
        assert w_new[0] > 5 * w_new[1]


def test_clipping_slows_the_meta_step():
    X, y, yhat0, Xv, yv, _ = _two_regimes()
    free = train_weights(X, y, yhat0, Xv, yv, steps=50, lr=0.05, alpha=1e-3, penalty="plain")
    clipped = train_weights(X, y, yhat0, Xv, yv, steps=50, lr=0.05, clip=1e-12, alpha=1e-3,
                            penalty="plain")
    assert free.history["valid_mse"][-1] < clipped.history["valid_mse"][-1]


def test_same_seed_same_numbers_other_seed_other_numbers():
    X, y, yhat0, Xv, yv, _ = _two_regimes()
    runs = [train_weights(X, y, yhat0, Xv, yv, steps=20, lr=0.01, seed=s) for s in (3, 3, 4)]
    np.testing.assert_array_equal(runs[0].weights, runs[1].weights)
    assert runs[0].history == runs[1].history
    assert not np.array_equal(runs[0].weights, runs[2].weights)


def test_history_is_recorded_with_monitor():
    X, y, yhat0, Xv, yv, _ = _two_regimes()
    r = train_weights(X, y, yhat0, Xv, yv, steps=25, lr=0.01, record_every=10, monitor=(Xv, yv))
    assert r.history["step"] == [0, 10, 20, 25]
    assert len(r.history["monitor_mse"]) == 4 and len(r.history["n_above_0_1"]) == 4


def test_bad_input():
    X, y, yhat0, Xv, yv, _ = _two_regimes()
    with pytest.raises(ValueError, match="validation set is empty"):
        train_weights(X, y, yhat0, Xv[:0], yv[:0], steps=1, lr=0.01)
    X = X.copy()
    X[0, 0] = np.inf
    with pytest.raises(ValueError, match="X contains non-finite"):
        train_weights(X, y, yhat0, Xv, yv, steps=1, lr=0.01)
    with pytest.raises(ValueError, match="unknown mode"):
        train_weights(Xv, yv, yv, Xv, yv, steps=1, lr=0.01, mode="other")
