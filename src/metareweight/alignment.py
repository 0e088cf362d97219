"""Appendix A: per-example gradient alignment on the CNN, and fine-tuning with it.

The alignment score of training example i is ``s_i = g_i . g_valid``, with g_i the gradient of
its squared error and g_valid the gradient of the mean validation loss, both over all network
parameters.  Three ways to compute the scores of a batch, from slowest to fastest:

``loop``  one backward pass per example (what the authors ran);
``vmap``  all per-example gradients at once with ``torch.func.vmap(grad(...))``, then a product;
``jvp``   one forward-mode Jacobian-vector product of the outputs along g_valid (dual numbers),
          s_i = 2 (f_i - y_i) (J g_valid)_i, without materialising any per-example gradient;
``fused`` the same product with the forward-mode rule of each layer of the ``Extractor`` written
          out: the convolution by W and the one by its tangent dW run as a single convolution
          with stacked kernels, in channels-last memory (the fastest here; the default).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from .extractor import run_epoch, to_tensor
from .models import Extractor, pick_device
from .progress import Progress
from .stats import pearson


def _params(model):
    return {k: v.detach() for k, v in model.named_parameters()}


def valid_gradient(model, x, y) -> dict:
    """Gradient of the mean squared validation error, as a dict like ``named_parameters``."""
    params = _params(model)

    def loss(p):
        return ((functional_call(model, p, (x,)) - y) ** 2).mean()

    return grad(loss)(params)


def per_example_grads(model, x, y) -> dict:
    """Gradients of each example's squared error: dict of tensors of shape (batch, *param)."""
    params = _params(model)

    def loss_one(p, xi, yi):
        return (functional_call(model, p, (xi.unsqueeze(0),)).squeeze(0) - yi) ** 2

    return vmap(grad(loss_one), in_dims=(None, 0, 0))(params, x, y)


def _fused_jvp(model: Extractor, x, g_valid: dict):
    """Outputs f and tangents J g_valid of the ``Extractor``, by the forward-mode rule of each layer.

    A layer maps (a, t) -> (a', t'), with t the tangent of a along g_valid (None for the input):
    Conv2d/Linear  a' = a*W + b,  t' = a*dW + db + t*W   (a*W and a*dW in one call);
    ReLU           t' = t [a > 0];  Tanh  t' = t (1 - a'^2);  MaxPool2d  t' = t at the argmax.
    """
    if not isinstance(model, Extractor):
        raise TypeError(f"method 'fused' handles the Extractor only, not {type(model).__name__}; use 'jvp'")
    if type(model).forward is not Extractor.forward:
        raise TypeError(f"method 'fused' follows Extractor.forward; {type(model).__name__} overrides forward, "
                        "so its scores would be wrong; use 'jvp'")
    names = {module: name for name, module in model.named_modules()}
    a, t = x.contiguous(memory_format=torch.channels_last), None
    layers = (*model.features, model.head)
    if not isinstance(layers[0], nn.Conv2d):
        raise TypeError(f"method 'fused' needs a Conv2d first layer, not {type(layers[0]).__name__}; use 'jvp'")
    for layer in layers:
        if isinstance(layer, nn.Conv2d):
            if layer.groups != 1 or layer.padding_mode != "zeros" or layer.bias is None:
                raise TypeError("method 'fused' handles Conv2d with groups=1, zero padding and a bias "
                                "only; use 'jvp'")
            w, dw = layer.weight, g_valid[names[layer] + ".weight"]
            both = F.conv2d(a, torch.cat([w, dw]), torch.cat([layer.bias, g_valid[names[layer] + ".bias"]]),
                            layer.stride, layer.padding, layer.dilation)
            a, tangent = both[:, :len(w)], both[:, len(w):]
            t = tangent if t is None else tangent + F.conv2d(t, w, None, layer.stride, layer.padding,
                                                             layer.dilation)
        elif isinstance(layer, nn.ReLU):  # the kernels of the backward passes apply the same rules
            t, a = torch.ops.aten.threshold_backward(t, a, 0), torch.relu(a)
        elif isinstance(layer, nn.Tanh):
            a = torch.tanh(a)
            t = torch.ops.aten.tanh_backward(t, a)
        elif isinstance(layer, nn.MaxPool2d):
            a, where = F.max_pool2d(a, layer.kernel_size, layer.stride, layer.padding, layer.dilation,
                                    layer.ceil_mode, return_indices=True)
            t = t.flatten(2).gather(2, where.flatten(2)).view(a.shape)
        elif isinstance(layer, nn.Flatten):
            a, t = a.flatten(1), t.flatten(1)
        elif isinstance(layer, nn.Linear):
            if layer.bias is None:
                raise TypeError("method 'fused' handles a Linear head with a bias only; use 'jvp'")
            dw, db = g_valid[names[layer] + ".weight"], g_valid[names[layer] + ".bias"]
            a, t = F.linear(a, layer.weight, layer.bias), F.linear(t, layer.weight) + F.linear(a, dw, db)
        else:
            raise TypeError(f"method 'fused' has no forward-mode rule for {type(layer).__name__}; use 'jvp'")
    return a.squeeze(-1), t.squeeze(-1)


def alignment_scores(model, x, y, g_valid: dict, method: str = "fused") -> torch.Tensor:
    """``s_i = grad L_i . g_valid`` for every example of the batch (shape (batch,))."""
    if method == "fused":
        with torch.no_grad():
            primal, tangent = _fused_jvp(model, x, g_valid)
        return 2 * (primal - y) * tangent
    if method == "jvp":
        # Forward-mode AD with dual numbers: parameters carry g_valid as their tangent, so one
        # forward pass gives every d f_i / d theta . g_valid (faster here than torch.func.jvp).
        with fwAD.dual_level():
            duals = {k: fwAD.make_dual(p.detach(), g_valid[k]) for k, p in model.named_parameters()}
            primal, tangent = fwAD.unpack_dual(functional_call(model, duals, (x,)))
        return (2 * (primal - y) * tangent).detach()
    if method == "vmap":
        grads = per_example_grads(model, x, y)
        return sum((grads[k].reshape(len(x), -1) @ g_valid[k].reshape(-1)) for k in grads)
    if method == "loop":
        scores = torch.empty(len(x), dtype=x.dtype, device=x.device)
        for i in range(len(x)):
            model.zero_grad(set_to_none=True)
            ((model(x[i:i + 1]).squeeze(0) - y[i]) ** 2).backward()
            scores[i] = sum((p.grad * g_valid[k]).sum() for k, p in model.named_parameters())
        model.zero_grad(set_to_none=True)
        return scores
    raise ValueError(f"unknown method {method!r}; choose 'fused', 'jvp', 'vmap' or 'loop'")


def finetune(
    model,
    images: np.ndarray,
    targets: np.ndarray,
    *,
    epochs: int,
    weighting: str = "alignment",
    valid: tuple[np.ndarray, np.ndarray] | None = None,
    monitor: tuple[np.ndarray, np.ndarray] | None = None,
    lr: float = 3e-4,
    batch_size: int = 100,
    scale: float = 2.0,
    method: str = "fused",
    force_cpu: bool = False,
    progress: str = "",
) -> dict:
    """Fine-tune ``model`` in place with Adam(``lr``), mini-batches in a fixed order.

    ``weighting="alignment"``: each example's squared error is weighted by
    ``clip(s_i / scale, 0, 1)`` with s_i its alignment with the current validation gradient
    (Appendix A with the authors' clipping); ``"uniform"``: plain MSE.  Minimises
    ``mean_i w_i (f(x_i) - y_i)^2`` per batch.  The returned history holds per epoch the Pearson
    correlation and MSE on the monitored rows (plotted only) and the mean weight.  Runs on CUDA
    when present unless ``force_cpu``, with channels-last convolutions; the model ends on the CPU.
    A non-empty ``progress`` label reports the epochs on the terminal.
    """
    if weighting not in ("alignment", "uniform"):
        raise ValueError(f"unknown weighting {weighting!r}")
    if weighting == "alignment" and valid is None:
        raise ValueError("alignment weighting needs a validation set")
    device = pick_device(force_cpu)
    model.to(device, memory_format=torch.channels_last)

    def tensors(images, targets):
        x = to_tensor(images).to(device).contiguous(memory_format=torch.channels_last)
        return x, torch.as_tensor(np.asarray(targets, np.float32)).to(device)

    x, y = tensors(images, targets)
    if valid is not None:
        xv, yv = tensors(*valid)
    if monitor is not None:
        xm = tensors(*monitor)[0]
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    history = {"epoch": [], "monitor_corr": [], "monitor_mse": [], "mean_weight": []}

    def record(epoch, mean_weight):
        history["epoch"].append(epoch)
        history["mean_weight"].append(mean_weight)
        if monitor is not None:
            with torch.no_grad():
                model.eval()
                pred = model(xm).cpu().numpy()
            history["monitor_corr"].append(pearson(pred, monitor[1]))
            history["monitor_mse"].append(float(np.mean((pred - monitor[1]) ** 2)))

    def weigh(model, xb, yb):
        if weighting == "uniform":
            return torch.ones_like(yb)
        g_valid = valid_gradient(model, xv, yv)
        return torch.clamp(alignment_scores(model, xb, yb, g_valid, method) / scale, 0.0, 1.0)

    record(0, 1.0)
    bar = Progress(f"fine-tuning {progress}", epochs, enabled=bool(progress), unit="epoch ")
    for epoch in range(1, epochs + 1):
        _, weights_seen = run_epoch(model, optimiser, x, y, batch_size, weigh)
        record(epoch, float(weights_seen.mean()))
        bar.update(epoch, **({"test_corr": history["monitor_corr"][-1]} if monitor is not None else {}))
    model.eval()
    model.cpu()
    return history
