"""The weight network's inputs option and output maps (models.WeightNet)."""

import pytest
import torch

from metareweight.models import INPUT_CENTRE, INPUT_SCALE, OUTPUT_MAPS, WeightNet


def _net(inputs, hidden=20, seed=0, **kwargs):
    with torch.random.fork_rng(devices=[]):  # the global generator is left as it was
        torch.manual_seed(seed)
        return WeightNet(hidden, inputs=inputs, **kwargs).double()


def _ages(seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(50, generator=gen, dtype=torch.float64)


def test_age_only_network_ignores_the_initial_prediction():
    net, y = _net("y"), _ages(0)
    torch.testing.assert_close(net(y, _ages(1)), net(y, _ages(2)), rtol=0, atol=0)
    assert not torch.allclose(net(_ages(1), y), net(_ages(2), y))


def test_prediction_only_network_ignores_the_true_age():
    net, yhat0 = _net("yhat0"), _ages(0)
    torch.testing.assert_close(net(_ages(1), yhat0), net(_ages(2), yhat0), rtol=0, atol=0)
    assert not torch.allclose(net(yhat0, _ages(1)), net(yhat0, _ages(2)))


def test_both_inputs_is_the_paper_network():
    net, y, yhat0 = _net("both"), _ages(0), _ages(1)
    assert not torch.allclose(net(y, yhat0), net(y, _ages(2)))
    assert not torch.allclose(net(y, yhat0), net(_ages(2), yhat0))
    # Linear(2 -> h) on 5 (value - 0.18), ReLU, Linear(h -> 1), 1 / (x^2 + 1)
    first, last = net.net[0], net.net[2]
    x = INPUT_SCALE * (torch.stack([y, yhat0], 1) - INPUT_CENTRE)
    z = (torch.relu(x @ first.weight.T + first.bias) @ last.weight.T + last.bias).squeeze(1)
    torch.testing.assert_close(net(y, yhat0), 1 / (z * z + 1))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        default = WeightNet()
    for a, b in zip(default.parameters(), _net("both", seed=3).float().parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize(("inputs", "hidden", "count"),
                         [("y", 20, 61), ("yhat0", 20, 61), ("both", 20, 81), ("y", 5, 16), ("both", 5, 21)])
def test_parameter_counts(inputs, hidden, count):
    n_in = 2 if inputs == "both" else 1
    assert count == n_in * hidden + hidden + hidden + 1
    assert sum(p.numel() for p in WeightNet(hidden, inputs=inputs).parameters()) == count


def test_unknown_inputs_are_refused():
    with pytest.raises(ValueError, match="unknown inputs 'age'"):
        WeightNet(inputs="age")


def test_output_maps_for_the_ablations():
    assert {"inverse_square", "sigmoid", "one_plus_tanh"} <= set(OUTPUT_MAPS)
    x = torch.tensor([-2.0, 0.0, 3.0], dtype=torch.float64)
    torch.testing.assert_close(OUTPUT_MAPS["inverse_square"](x), 1 / (x * x + 1))
    torch.testing.assert_close(OUTPUT_MAPS["sigmoid"](x), 1 / (1 + torch.exp(-x)))
    torch.testing.assert_close(OUTPUT_MAPS["one_plus_tanh"](x), 1 + torch.tanh(x))
    for output in ("inverse_square", "sigmoid", "one_plus_tanh"):
        w = _net("y", output=output)(_ages(0), _ages(1))
        assert w.shape == (50,) and bool((w > 0).all())
