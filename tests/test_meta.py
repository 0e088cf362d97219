import numpy as np
import pytest
import torch
from torch.func import functional_call

from metareweight.meta import MetaSettings, train_weights
from metareweight.models import WeightNet
from metareweight.ridge import WeightedRidge, design_matrix, ridge_solve


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
    settings = MetaSettings(steps=300, lr=0.05, alpha=1e-3, penalty="plain", mode=mode, seed=0)
    result = train_weights(X, y, yhat0, Xv, yv, settings)
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


def _t(a):
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def _one_adam_step_by_hand(X, y, yhat0, Xv, yv, *, lr, clip, alpha, penalty, seed=0):
    """Weights of the training rows after one Adam step, computed independently of
    train_weights: the same seeded network, the raw gradient by float64 autograd through
    ridge_solve, clamped by value to [-clip, clip] (clip > 0), then Adam's first update
    written out (m = (1 - b1) g, v = (1 - b2) g^2, bias-corrected).  Also returns |raw gradient|."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = WeightNet(20, "relu", "inverse_square").double()
    names = [name for name, _ in net.named_parameters()]
    params = [p for _, p in net.named_parameters()]
    beta = ridge_solve(_t(X), _t(y), net(_t(y), _t(yhat0)), alpha, penalty)
    grads = torch.autograd.grad(((_t(Xv) @ beta - _t(yv)) ** 2).mean(), params)
    raw = torch.cat([g.flatten() for g in grads]).abs()
    if clip > 0:
        grads = [g.clamp(-clip, clip) for g in grads]
    b1, b2, eps = 0.9, 0.999, 1e-8
    new = {}
    for name, p, g in zip(names, params, grads, strict=True):
        m_hat = (1 - b1) * g / (1 - b1)
        v_hat = (1 - b2) * g * g / (1 - b2)
        new[name] = p.detach() - lr * m_hat / (v_hat.sqrt() + eps)
    with torch.no_grad():
        weights = functional_call(net, new, (_t(y), _t(yhat0))).numpy()
    return weights, raw


@pytest.mark.parametrize("precision", ["fast", "exact"])
def test_one_clipped_meta_step_matches_a_hand_computed_adam_step(precision):
    X, y, yhat0, Xv, yv, _ = _two_regimes()
    kw = {"lr": 0.05, "alpha": 1e-3, "penalty": "plain"}
    clip = 1e-4  # the authors' value; here it binds on most, not all, non-zero gradient entries
    clipped, raw = _one_adam_step_by_hand(X, y, yhat0, Xv, yv, clip=clip, **kw)
    unclipped, _ = _one_adam_step_by_hand(X, y, yhat0, Xv, yv, clip=0.0, **kw)
    assert 0 < int((raw > clip).sum()) < int((raw > 0).sum())
    ours = train_weights(X, y, yhat0, Xv, yv, MetaSettings(steps=1, clip=clip, seed=0, precision=precision, **kw))
    ours_unclipped = train_weights(X, y, yhat0, Xv, yv, MetaSettings(steps=1, seed=0, precision=precision, **kw))
    # A single Adam step moves each parameter by about lr either way; clipping at 1e-4 shrinks
    # it by about lr * eps / clip = 5e-6, which is what must show up (and nothing else).
    assert np.abs(clipped - unclipped).max() > 1e-7
    np.testing.assert_allclose(ours.weights, clipped, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours_unclipped.weights, unclipped, rtol=0, atol=1e-12)


def test_fast_and_exact_meta_steps_agree():
    X, y, yhat0, Xv, yv, _ = _two_regimes()
    kw = {"steps": 30, "lr": 0.05, "alpha": 1e-3, "penalty": "plain", "seed": 1}
    fast = train_weights(X, y, yhat0, Xv, yv, MetaSettings(precision="fast", **kw))
    exact = train_weights(X, y, yhat0, Xv, yv, MetaSettings(precision="exact", **kw))
    np.testing.assert_allclose(fast.weights, exact.weights, rtol=1e-7)
    np.testing.assert_allclose(fast.history["valid_mse"], exact.history["valid_mse"], rtol=1e-7)


def test_weights_kept_at_steps_equal_shorter_runs():
    X, y, yhat0, Xv, yv, _ = _two_regimes()
    kw = {"lr": 0.05, "alpha": 1e-3, "penalty": "plain", "seed": 1}
    for mode in ("net", "free"):
        long = train_weights(X, y, yhat0, Xv, yv, MetaSettings(steps=12, mode=mode, **kw), keep_weights_at=[0, 5, 12])
        assert sorted(long.history["weights_at"]) == [0, 5, 12]
        for s in (0, 5, 12):
            short = train_weights(X, y, yhat0, Xv, yv, MetaSettings(steps=s, mode=mode, **kw))
            np.testing.assert_array_equal(long.history["weights_at"][s], short.weights)
        assert not np.array_equal(long.history["weights_at"][0], long.history["weights_at"][12])
    assert "weights_at" not in train_weights(X, y, yhat0, Xv, yv, MetaSettings(steps=2, **kw)).history
    with pytest.raises(ValueError, match="keep_weights_at"):
        train_weights(X, y, yhat0, Xv, yv, MetaSettings(steps=3, **kw), keep_weights_at=[4])


def test_progress_is_reported_every_hundred_steps_and_at_the_end():
    X, y, yhat0, Xv, yv, _ = _two_regimes()
    calls = []
    r = train_weights(X, y, yhat0, Xv, yv, MetaSettings(steps=250, lr=0.01, record_every=10),
                      progress=lambda *args: calls.append(args))
    assert [c[0] for c in calls] == [0, 100, 200, 250]
    assert all(c[1] == 250 for c in calls)
    mse = dict(zip(r.history["step"], r.history["valid_mse"], strict=True))
    assert [c[2] for c in calls] == [mse[s] for s in (0, 100, 200, 250)]


def test_weight_network_inputs_reach_the_meta_step():
    X, y, yhat0, Xv, yv, _ = _two_regimes()
    r = train_weights(X, y, yhat0, Xv, yv, MetaSettings(steps=5, lr=0.05, inputs="y"))
    grid = np.linspace(0.1, 0.9, 5)
    np.testing.assert_array_equal(r.weight_fn(grid, np.zeros(5)), r.weight_fn(grid, np.ones(5)))
    both = train_weights(X, y, yhat0, Xv, yv, MetaSettings(steps=5, lr=0.05))
    assert not np.array_equal(both.weight_fn(grid, np.zeros(5)), both.weight_fn(grid, np.ones(5)))


def test_same_seed_same_numbers_other_seed_other_numbers():
    X, y, yhat0, Xv, yv, _ = _two_regimes()
    runs = [train_weights(X, y, yhat0, Xv, yv, MetaSettings(steps=20, lr=0.01, seed=s)) for s in (3, 3, 4)]
    np.testing.assert_array_equal(runs[0].weights, runs[1].weights)
    assert runs[0].history == runs[1].history
    assert not np.array_equal(runs[0].weights, runs[2].weights)


def test_history_is_recorded_with_monitor():
    X, y, yhat0, Xv, yv, _ = _two_regimes()
    r = train_weights(X, y, yhat0, Xv, yv, MetaSettings(steps=25, lr=0.01, record_every=10), monitor=(Xv, yv))
    assert r.history["step"] == [0, 10, 20, 25]
    assert len(r.history["monitor_mse"]) == 4 and len(r.history["n_above_0_1"]) == 4


def test_bad_input():
    X, y, yhat0, Xv, yv, _ = _two_regimes()
    with pytest.raises(ValueError, match="validation set is empty"):
        train_weights(X, y, yhat0, Xv[:0], yv[:0], MetaSettings(steps=1, lr=0.01))
    X = X.copy()
    X[0, 0] = np.inf
    with pytest.raises(ValueError, match="X contains non-finite"):
        train_weights(X, y, yhat0, Xv, yv, MetaSettings(steps=1, lr=0.01))
    with pytest.raises(ValueError, match="unknown mode"):
        train_weights(Xv, yv, yv, Xv, yv, MetaSettings(steps=1, lr=0.01, mode="other"))
    with pytest.raises(ValueError, match="unknown precision 'double'"):
        train_weights(Xv, yv, yv, Xv, yv, MetaSettings(steps=1, lr=0.01, precision="double"))
    with pytest.raises(ValueError, match="unknown inputs 'age'"):
        train_weights(Xv, yv, yv, Xv, yv, MetaSettings(steps=1, lr=0.01, inputs="age"))


def test_a_constant_monitored_prediction_records_nan_without_a_warning():
    import warnings

    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(120, 4)), rng.uniform(0.1, 0.6, size=120)
    Xv, yv = rng.normal(size=(20, 4)), rng.uniform(0.14, 0.21, size=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the collapsed extractors of the 0-255 runs used to warn here
        res = train_weights(X, y, y, Xv, yv, MetaSettings(steps=3, lr=5e-3),
                            monitor=(np.zeros((10, 4)), rng.uniform(size=10)))
    assert all(np.isnan(res.history["monitor_corr"]))


def test_patience_stops_when_the_validation_loss_stops_improving():
    X, y, yhat0, Xv, yv, _ = _two_regimes()
    kw = {"lr": 0.05, "alpha": 1e-3, "penalty": "plain", "mode": "free", "record_every": 7}
    full = train_weights(X, y, yhat0, Xv, yv, MetaSettings(steps=60, **kw))
    assert full.history["stopped_at"] == 60 and full.history["stopped_by"] == "steps"
    # no improvement of at least 1 (the loss is far below 1) in 10 steps: stop at step 10
    early = train_weights(X, y, yhat0, Xv, yv, MetaSettings(steps=60, patience=10, min_improvement=1.0, **kw))
    assert early.history["stopped_at"] == 10 and early.history["stopped_by"] == "patience"
    assert early.history["step"][-1] == 10  # the last step is recorded even off the grid of 7
    # the run is deterministic: stopping early gives the weights of a 10-step run
    ten = train_weights(X, y, yhat0, Xv, yv, MetaSettings(steps=10, **kw))
    np.testing.assert_array_equal(early.weights, ten.weights)
    # a loss that keeps falling by more than the tolerance is never stopped
    never = train_weights(X, y, yhat0, Xv, yv, MetaSettings(steps=60, patience=10, min_improvement=0.0, **kw))
    assert never.history["stopped_by"] == "steps"


def test_settings_of_a_profile_read_only_what_they_use():
    from metareweight.profiles import resolve

    cfg = resolve("paper")
    s = MetaSettings.of(cfg)
    assert (s.steps, s.lr, s.clip, s.seed, s.alpha) == (2000, 5e-3, 1e-4, 0, 5e-3)  # the authors' code settings
    assert (s.hidden, s.output, s.inputs, s.mode) == (20, "inverse_square", "both", "net")
    read = []

    class Spy(dict):
        def __getitem__(self, key):
            read.append(key)
            return dict.__getitem__(self, key)

    t = MetaSettings.of(Spy(cfg), seed=7, inputs="y")
    assert t.seed == 7 and t.inputs == "y" and t.but(seed=1).seed == 1 and t.seed == 7
    assert "meta_seed" not in read and "weight_inputs" not in read and "meta_steps" in read
    with pytest.raises(TypeError, match="MetaSettings"):
        train_weights(*_two_regimes()[:5], {"steps": 1, "lr": 0.01})
    with pytest.raises(ValueError, match="steps must be at least 0"):
        MetaSettings(steps=-1, lr=0.1)
