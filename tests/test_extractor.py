import numpy as np
import pytest
import torch

from metareweight.extractor import (
    checkpoint_path,
    extract_features,
    predict,
    to_tensor,
    train_extractor,
)
from metareweight.models import Extractor, WeightNet


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.random((n, 40, 40, 3), dtype=np.float32)
    targets = images[:, 10:30, 10:30, 0].mean(axis=(1, 2)) * 0.5
    return images, targets


def _train(images, targets, **kw):
    args = dict(epochs=3, batch_size=20, lr=1e-3, seed=0, data_checksum="test", split=0,
                progress=False, force_cpu=True)
    args.update(kw)
    return train_extractor(images, targets, **args)


def _params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_architecture_shapes():
    model = Extractor()
    x = torch.zeros(2, 3, 40, 40)
    assert model.features(x).shape == (2, 400)
    assert model(x).shape == (2,)
    assert isinstance(model.features[4], torch.nn.Tanh)
    assert WeightNet()(torch.zeros(5), torch.zeros(5)).shape == (5,)


def test_training_lowers_the_loss_and_same_seed_same_numbers():
    images, targets = _data()
    a = _train(images, targets, epochs=5, use_cache=False)
    b = _train(images, targets, epochs=5, use_cache=False)
    assert a.history["train_mse"][-1] < a.history["train_mse"][0]
    assert torch.equal(_params(a.model), _params(b.model))
    assert a.history["train_mse"] == b.history["train_mse"]


def test_checkpoint_is_reused():
    images, targets = _data()
    first = _train(images, targets)
    assert first.resumed_from == 0 and checkpoint_path(first.key).exists()
    second = _train(images, targets)
    assert second.resumed_from == 3
    assert torch.equal(_params(first.model), _params(second.model))
    other = _train(images, targets, seed=1)  # other settings: another checkpoint
    assert other.key != first.key and other.resumed_from == 0


def test_interrupted_run_resumes_to_the_same_numbers():
    images, targets = _data()
    whole = _train(images, targets, epochs=4, use_cache=False)
    part = _train(images, targets, epochs=4, stop_after=2)
    assert len(part.history["train_mse"]) == 2
    resumed = _train(images, targets, epochs=4)
    assert resumed.resumed_from == 2
    assert torch.equal(_params(whole.model), _params(resumed.model))
    assert whole.history["train_mse"] == resumed.history["train_mse"]


def test_corrupt_checkpoint_is_rebuilt_not_loaded():
    images, targets = _data()
    first = _train(images, targets)
    path = checkpoint_path(first.key)
    path.write_bytes(path.read_bytes()[:500])  # truncated
    again = _train(images, targets)
    assert again.resumed_from == 0
    assert torch.equal(_params(first.model), _params(again.model))
    path.write_bytes(b"not a checkpoint at all")
    assert _train(images, targets).resumed_from == 0


def test_features_and_predictions_agree_with_the_head():
    images, targets = _data()
    trained = _train(images, targets, use_cache=False)
    feats = extract_features(trained.model, images, batch_size=7)
    pred = predict(trained.model, to_tensor(images), batch_size=7)
    head = trained.model.head
    manual = feats @ head.weight.detach().numpy().ravel().astype(np.float64) + head.bias.item()
    np.testing.assert_allclose(pred, manual, rtol=1e-5, atol=1e-6)
    assert feats.shape == (60, 400) and feats.dtype == np.float64


class _Line(torch.nn.Module):
    """f(x) = a . x + b, returning shape (batch,) as the extractor does."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 1)

    def forward(self, x):
        return self.lin(x).squeeze(1)


def test_run_epoch_is_the_one_training_loop():
    from metareweight.extractor import run_epoch

    torch.manual_seed(0)
    x, y = torch.randn(40, 3), torch.randn(40)
    model = _Line()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        loss0 = float(((model(x) - y) ** 2).mean())
    # one batch of all rows: the loss reported is the MSE before the step, and the step moves
    loss, seen = run_epoch(model, torch.optim.Adam(model.parameters(), lr=0.1), x, y, batch_size=40)
    assert loss == pytest.approx(loss0, rel=1e-6) and seen is None
    assert not torch.equal(model.lin.weight, start["lin.weight"])
    # zero weights: zero loss, zero gradient, so Adam leaves every parameter where it was
    model.load_state_dict(start)
    loss, seen = run_epoch(model, torch.optim.Adam(model.parameters(), lr=0.1), x, y, 10,
                           weigh=lambda m, xb, yb: torch.zeros_like(yb))
    assert loss == 0 and torch.equal(seen, torch.zeros(40))
    assert all(torch.equal(v, start[k]) for k, v in model.state_dict().items())
    # unit weights take the same steps as the plain MSE (to float rounding)
    plain, ones = _Line(), _Line()
    plain.load_state_dict(start)
    ones.load_state_dict(start)
    run_epoch(plain, torch.optim.Adam(plain.parameters(), lr=0.1), x, y, 10)
    run_epoch(ones, torch.optim.Adam(ones.parameters(), lr=0.1), x, y, 10, weigh=lambda m, xb, yb: torch.ones_like(yb))
    assert torch.allclose(plain.lin.weight, ones.lin.weight, atol=1e-6)
