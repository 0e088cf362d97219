import numpy as np
import pytest
import torch

from metareweight.alignment import (
    alignment_scores,
    finetune,
    per_example_grads,
    valid_gradient,
)
from metareweight.models import Extractor
from metareweight.stats import pearson


@pytest.fixture
def batch():
    torch.manual_seed(0)
    model = Extractor()
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(6, 3, 40, 40, generator=gen)
    y = torch.rand(6, generator=gen) * 0.5
    xv = torch.rand(5, 3, 40, 40, generator=gen)
    yv = torch.rand(5, generator=gen) * 0.5
    return model, x, y, xv, yv


@pytest.mark.slow
def test_per_example_gradients_match_one_backward_pass_each(batch):
    model, x, y, _, _ = batch
    grads = per_example_grads(model, x, y)
    for i in (0, 3, 5):
        model.zero_grad()
        ((model(x[i:i + 1]).squeeze(0) - y[i]) ** 2).backward()
        for name, p in model.named_parameters():
            torch.testing.assert_close(grads[name][i], p.grad, rtol=1e-4, atol=1e-7)


def test_valid_gradient_matches_autograd(batch):
    model, _, _, xv, yv = batch
    g = valid_gradient(model, xv, yv)
    model.zero_grad()
    ((model(xv) - yv) ** 2).mean().backward()
    for name, p in model.named_parameters():
        torch.testing.assert_close(g[name], p.grad, rtol=1e-4, atol=1e-7)


def test_three_ways_to_score_agree(batch):
    model, x, y, xv, yv = batch
    g = valid_gradient(model, xv, yv)
    loop = alignment_scores(model, x, y, g, "loop")
    for method in ("vmap", "jvp", "fused"):
        torch.testing.assert_close(alignment_scores(model, x, y, g, method), loop, rtol=1e-3, atol=1e-8)
    assert loop.abs().max() > 0
    model.to(memory_format=torch.channels_last)  # as fine-tuning runs it
    g_cl = valid_gradient(model, xv, yv)
    torch.testing.assert_close(alignment_scores(model, x, y, g_cl, "fused"), loop, rtol=1e-3, atol=1e-8)
    with pytest.raises(ValueError, match="unknown method"):
        alignment_scores(model, x, y, g, "other")


def test_fused_scores_refuse_a_model_they_have_no_rules_for(batch):
    model, x, y, xv, yv = batch
    g = valid_gradient(model, xv, yv)
    with pytest.raises(TypeError, match="Extractor only"):
        alignment_scores(torch.nn.Sequential(model), x, y, {"0." + k: v for k, v in g.items()}, "fused")
    model.features[1] = torch.nn.GELU()
    with pytest.raises(TypeError, match="no forward-mode rule for GELU"):
        alignment_scores(model, x, y, g, "fused")
    model.features[1] = torch.nn.ReLU()
    model.features[0].padding_mode = "reflect"  # would be silently wrong: refused
    with pytest.raises(TypeError, match="zero padding"):
        alignment_scores(model, x, y, g, "fused")


def test_one_alignment_step_matches_a_hand_computation():
    """One epoch of one batch: the weights are clip(s_i / scale, 0, 1) with s_i computed by the
    per-example loop at the starting parameters, and the update is one Adam step on
    mean(w_i (f(x_i) - y_i)^2); the recorded mean weight is their mean."""
    import copy

    rng = np.random.default_rng(0)
    images = rng.random((12, 40, 40, 3), dtype=np.float32)
    targets = rng.uniform(0.0, 0.8, size=12).astype(np.float32)  # residuals of both signs
    valid = (images[:4], rng.uniform(0.0, 0.8, size=4).astype(np.float32))
    torch.manual_seed(0)
    model = Extractor()
    ref = copy.deepcopy(model)
    x = torch.from_numpy(images.transpose(0, 3, 1, 2).copy())
    y = torch.from_numpy(targets)
    g = valid_gradient(ref, torch.from_numpy(valid[0].transpose(0, 3, 1, 2).copy()), torch.from_numpy(valid[1]))
    scores = alignment_scores(ref, x, y, g, "loop")
    scale = float(scores.abs().median())  # some weights clip at 1, some at 0, some in between
    w = torch.clamp(scores / scale, 0.0, 1.0)
    assert int((w == 0).sum()) > 0 and int((w == 1).sum()) > 0 and int(((w > 0) & (w < 1)).sum()) > 0
    result = finetune(model, images, targets, epochs=1, batch_size=12, valid=valid, scale=scale, lr=1e-3,
                      force_cpu=True)
    opt = torch.optim.Adam(ref.parameters(), lr=1e-3)
    opt.zero_grad()
    (w.detach() * (ref(x) - y) ** 2).mean().backward()
    opt.step()
    for (name, a), b in zip(model.named_parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=name)
    assert result["mean_weight"][1] == pytest.approx(float(w.mean()), rel=1e-4)
    with pytest.raises(ValueError, match="needs a validation set"):
        finetune(model, images, targets, epochs=1)


def test_pearson():
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert np.isnan(pearson([1, 1, 1], [1, 2, 3]))


class _Doubled(Extractor):
    def forward(self, x):  # a subclass whose output the fused rules do not follow
        return 2 * super().forward(x)


def test_fused_scores_refuse_an_overridden_forward_a_biasless_head_and_another_first_layer(batch):
    model, x, y, xv, yv = batch
    doubled = _Doubled()
    doubled.load_state_dict(model.state_dict())
    g = valid_gradient(doubled, xv, yv)
    # the dual-number method follows the real forward; fused would silently miss the factor 2
    reference = alignment_scores(doubled, x, y, g, "loop")
    torch.testing.assert_close(alignment_scores(doubled, x, y, g, "jvp"), reference, rtol=1e-4, atol=1e-8)
    with pytest.raises(TypeError, match="overrides forward.*use 'jvp'"):
        alignment_scores(doubled, x, y, g, "fused")
    g = valid_gradient(model, xv, yv)
    first = model.features[0]
    model.features[0] = torch.nn.Identity()
    with pytest.raises(TypeError, match="Conv2d first layer, not Identity.*use 'jvp'"):
        alignment_scores(model, x, y, g, "fused")
    model.features[0] = first
    model.head.bias = None
    with pytest.raises(TypeError, match="Linear head with a bias only.*use 'jvp'"):
        alignment_scores(model, x, y, g, "fused")
