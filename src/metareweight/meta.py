"""The meta step: learn sample weights by gradient descent through the ridge solution.

Objective (Section 3.1): minimise over theta the validation loss

    L_valid(theta) = mean_v (x_v . beta(W_theta) - y_v)^2,
    beta(W) = argmin_beta sum_i w_i (y_i - x_i . beta)^2 + lambda s ||beta||^2,

where the weights come either from the weight network ``w_i = h_theta(y_i, yhat0_i)`` (the
paper's method) or are free parameters, one per training row (the variant the paper says
overfits the validation set).  One training loop serves both.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np
import torch

from .models import OUTPUT_MAPS, WEIGHT_INPUTS, WeightNet, pick_device
from .solver import FixedDesign, check_precision, ridge_solve_in_weights, torch_threads
from .stats import pearson

#: How often (in steps) ``train_weights`` reports to its ``progress`` callable.
PROGRESS_EVERY = 100


@dataclass
class MetaResult:
    """The learned weighting and its optimisation history.

    Attributes
    ----------
    weight_fn : callable (y, yhat0) -> weights (numpy, age/100 scale); for free weights it
        returns the learned weights of the training rows and ignores its arguments.
    weights : ndarray of shape (n_train,), final weights of the training rows
    history : dict with lists ``step``, ``valid_mse``, ``monitor_mse``, ``monitor_corr`` and
        ``n_above_0_1`` (the monitored rows are plotted only, never used to choose anything)
    """

    weight_fn: object
    weights: np.ndarray
    history: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MetaSettings:
    """How :func:`train_weights` learns the weights (every field but ``steps`` and ``lr`` has
    the paper's default).

    Attributes
    ----------
    steps, lr : number of full-batch Adam steps and their learning rate
    clip : float
        If positive, every gradient is clipped by value to [-clip, clip] (the authors' code).
    alpha, penalty : the ridge head's λ and its penalty convention (:mod:`metareweight.ridge`)
    mode : {"net", "free"}
        ``"net"``: w = h_theta(y, yhat0).  ``"free"``: one parameter z_i per row, w_i = map(z_i),
        started at z = 1 (w = 0.5 for the default map, whose gradient vanishes at z = 0).
    hidden, activation, output : h_theta's hidden width, activation and output map
        (:class:`~metareweight.models.WeightNet`; ``output`` is also the free weights' map)
    inputs : {"both", "y", "yhat0"}
        What the weight network sees; mode "net" only.
    seed : the seed of h_theta's initialisation (:func:`init_weight_net`)
    record_every : steps between the records of ``history``
    force_cpu : bool
        Runs on CUDA (float64) when present unless set; the results come back on the CPU.
    precision : {"fast", "exact"}
        How each step solves the ridge system (:func:`~metareweight.solver.ridge_solve_in_weights`):
        ``"fast"`` (float64 conjugate gradients preconditioned by a float32 Gram matrix formed
        now and then; beta and the hypergradient within about 1e-9 of ``"exact"`` at each step)
        or ``"exact"`` (a float64 Gram matrix at every step, the reference).
    patience, min_improvement : optional
        With ``patience`` > 0, stop early once the lowest validation MSE so far has improved by
        less than ``min_improvement`` (age/100 scale) over the last ``patience`` steps: the
        validation loss has stopped improving.
    """

    steps: int
    lr: float
    clip: float = 0.0
    alpha: float = 5e-3
    penalty: str = "n"
    mode: str = "net"
    hidden: int = 20
    activation: str = "relu"
    output: str = "inverse_square"
    inputs: str = "both"
    seed: int = 0
    record_every: int = 10
    force_cpu: bool = False
    precision: str = "fast"
    patience: int = 0
    min_improvement: float = 0.0

    def __post_init__(self):
        check_precision(self.precision)
        if self.inputs not in WEIGHT_INPUTS:
            raise ValueError(f"unknown inputs {self.inputs!r}; choose one of {WEIGHT_INPUTS}")
        if self.mode not in ("net", "free"):
            raise ValueError(f"unknown mode {self.mode!r}; choose 'net' or 'free'")
        if self.steps < 0:
            raise ValueError(f"steps must be at least 0, got {self.steps}")

    #: field -> the profile setting it is read from by :meth:`of`
    PROFILE_KEYS = MappingProxyType({
        "steps": "meta_steps", "lr": "meta_lr", "clip": "meta_clip", "alpha": "ridge_lambda",
        "penalty": "ridge_penalty", "hidden": "weight_hidden", "activation": "weight_activation",
        "output": "weight_output", "inputs": "weight_inputs", "seed": "meta_seed",
        "precision": "meta_precision", "force_cpu": "force_cpu"})

    @classmethod
    def of(cls, cfg, **given) -> MetaSettings:
        """The settings of a profile configuration ``cfg`` (its ``meta_*``, ``ridge_*`` and
        ``weight_*`` values), with ``given`` fields in place of the profile's; only the settings
        actually used are read from ``cfg``."""
        values = {f: cfg[key] for f, key in cls.PROFILE_KEYS.items() if f not in given}
        return cls(**values, **given)

    def but(self, **changes) -> MetaSettings:
        """A copy with ``changes``."""
        return replace(self, **changes)


def _t(a, device="cpu"):
    return torch.as_tensor(np.asarray(a, dtype=np.float64)).to(device)


def init_weight_net(seed: int, hidden: int = 20, activation: str = "relu", output: str = "inverse_square",
                    inputs: str = "both") -> WeightNet:
    """The weight network h_θ as the meta step starts it for ``seed`` (float64), drawn from a
    locally seeded generator: the global RNG is untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return WeightNet(hidden, activation, output, inputs=inputs).double()


def train_weights(
    X: np.ndarray,
    y: np.ndarray,
    yhat0: np.ndarray,
    X_valid: np.ndarray,
    y_valid: np.ndarray,
    settings: MetaSettings,
    *,
    monitor: tuple[np.ndarray, np.ndarray] | None = None,
    progress=None,
    keep_weights_at=(),
) -> MetaResult:
    """Learn weights for the rows of (X, y) that minimise the validation MSE of the ridge fit.

    Parameters
    ----------
    X : ndarray of shape (n_train, p)
        Design matrix of the rows to weight (features and a constant column).
    y, yhat0 : ndarray of shape (n_train,)
        Targets and the extractor's own predictions (age/100), the weight network's inputs.
    X_valid : ndarray of shape (n_valid, p);  y_valid : ndarray of shape (n_valid,)
    settings : :class:`MetaSettings`
        How the weights are learned (steps, step size, clipping, the ridge head, h_theta, the
        solver's precision, early stopping).
    monitor : (X_test, y_test), optional
        Rows whose MSE and Pearson correlation are recorded for plots only.
    progress : callable, optional
        Called as ``progress(step, steps, valid_mse)`` every ``PROGRESS_EVERY`` steps (from
        step 0) and at the last step; nothing is printed otherwise.
    keep_weights_at : iterable of int, optional
        Steps (0 to ``steps``) whose weights are kept in ``history["weights_at"]`` (a dict step ->
        weights): the weights the ridge fit of that step used, which are the final weights of a
        run of that many steps (the run is deterministic), so one run gives them all.

    With early stopping (``settings.patience`` > 0), ``history["stopped_at"]`` is the last step
    run and ``history["stopped_by"]`` ``"patience"`` or ``"steps"`` (the cap was reached).
    """
    if not isinstance(settings, MetaSettings):
        raise TypeError(f"train_weights: settings must be a MetaSettings, got {type(settings).__name__}")
    o = settings
    steps, lr, clip, alpha, penalty, mode = o.steps, o.lr, o.clip, o.alpha, o.penalty, o.mode
    precision, patience, min_improvement, record_every = o.precision, o.patience, o.min_improvement, o.record_every
    device = pick_device(o.force_cpu)
    Xt, yt, y0t = _t(X, device), _t(y, device), _t(yhat0, device)
    Xv, yv = _t(X_valid, device), _t(y_valid, device)
    if monitor is not None:
        Xm, ym = _t(monitor[0], device), _t(monitor[1], device)
    if len(yv) == 0:
        raise ValueError("train_weights: the validation set is empty")
    for name, arr in (("X", Xt), ("X_valid", Xv), ("yhat0", y0t)):
        if not torch.isfinite(arr).all():
            raise ValueError(f"train_weights: {name} contains non-finite values")
    # prepared once for every step (the fast path runs on the CPU; on a GPU every step is exact)
    design = FixedDesign(Xt) if precision == "fast" and Xt.device.type == "cpu" else Xt
    if mode == "net":
        net = init_weight_net(o.seed, o.hidden, o.activation, o.output, o.inputs).to(device)
        params = list(net.parameters())

        def weights():
            return net(yt, y0t)

    else:  # "free"
        z = torch.ones(len(yt), dtype=torch.float64, device=device, requires_grad=True)
        out_map = OUTPUT_MAPS[o.output]
        params = [z]

        def weights():
            return out_map(z)

    optimiser = torch.optim.Adam(params, lr=lr)
    history = {"step": [], "valid_mse": [], "monitor_mse": [], "monitor_corr": [], "n_above_0_1": []}
    keep = {int(s) for s in keep_weights_at}
    if any(not 0 <= s <= steps for s in keep):
        raise ValueError(f"train_weights: keep_weights_at must lie in [0, steps={steps}], got {sorted(keep)}")
    if keep:
        history["weights_at"] = {}
    best = []  # lowest validation MSE up to each step (for the patience rule)

    def record(step, w, beta, loss):
        history["step"].append(step)
        history["valid_mse"].append(float(loss))
        history["n_above_0_1"].append(int((w > 0.1).sum()))
        if monitor is not None:
            pred = Xm @ beta
            history["monitor_mse"].append(float(((pred - ym) ** 2).mean()))
            history["monitor_corr"].append(pearson(pred.cpu().numpy(), monitor[1]))  # nan if constant

    # torch's own work here (the weight network, Adam, 110 validation rows) is small: on the fast
    # path it runs on one thread while numpy's BLAS does the ridge solves on the design's threads
    with torch_threads(1) if isinstance(design, FixedDesign) else nullcontext():
        for step in range(steps + 1):
            w = weights()
            beta = ridge_solve_in_weights(design, yt, w, alpha, penalty, precision=precision)
            loss = ((Xv @ beta - yv) ** 2).mean()
            if step % record_every == 0 or step == steps:
                with torch.no_grad():
                    record(step, w.detach(), beta.detach(), loss.detach())
            if step in keep:
                history["weights_at"][step] = w.detach().cpu().numpy().copy()
            if progress is not None and (step % PROGRESS_EVERY == 0 or step == steps):
                progress(step, steps, float(loss.detach()))
            best.append(min(float(loss.detach()), best[-1]) if best else float(loss.detach()))
            stalled = patience > 0 and step >= patience and best[step - patience] - best[step] < min_improvement
            if stalled and step % record_every:
                with torch.no_grad():
                    record(step, w.detach(), beta.detach(), loss.detach())
            if step == steps or stalled:
                history["stopped_at"], history["stopped_by"] = step, "patience" if stalled else "steps"
                break
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            if clip > 0:
                torch.nn.utils.clip_grad_value_(params, clip)
            optimiser.step()

    final = weights().detach().cpu().numpy()
    if mode == "net":
        net.eval().cpu()

        def weight_fn(y_new, yhat0_new):
            with torch.no_grad():
                return net(_t(y_new), _t(yhat0_new)).numpy()

    else:

        def weight_fn(y_new=None, yhat0_new=None):
            return final

    return MetaResult(weight_fn, final, history)
