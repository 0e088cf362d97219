"""The CNN feature extractor (Section 4.2), the weight network h_theta (Section 3.1), and the
device they run on."""

from __future__ import annotations

import torch
from torch import nn

N_FEATURES = 400  # 16 channels x 5 x 5 after the second pooling


def pick_device(force_cpu: bool = False) -> torch.device:
    """CUDA when present (unless ``force_cpu``), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() and not force_cpu else "cpu")


def device_key(force_cpu: bool = False) -> dict:
    """What a cache key adds for the device: nothing on the CPU (keys stay as they were), the
    device type on a GPU, whose results differ from the CPU's in the last bits."""
    device = pick_device(force_cpu)
    return {} if device.type == "cpu" else {"device": device.type}


class Extractor(nn.Module):
    """Conv(3->32, k7) ReLU MaxPool(2) Conv(32->16, k7) Tanh MaxPool(2) -> 400 features -> Linear.

    The Tanh after the second convolution is in the authors' code, not in the paper's text.
    Input: images of shape (n, 3, 40, 40) in [0, 1]; output of ``forward``: age/100, shape (n,).
    """

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=7),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 16, kernel_size=7),
            nn.Tanh(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.head = nn.Linear(N_FEATURES, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(-1)


def inverse_square(x: torch.Tensor) -> torch.Tensor:
    """The paper's output map ``1 / (x^2 + 1)``, in (0, 1]."""
    return 1.0 / (x * x + 1.0)


def one_plus_tanh(x: torch.Tensor) -> torch.Tensor:
    """``1 + tanh(x)``, in (0, 2)."""
    return 1.0 + torch.tanh(x)


OUTPUT_MAPS = {"inverse_square": inverse_square, "sigmoid": torch.sigmoid, "one_plus_tanh": one_plus_tanh}
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}

#: Centre and scale of the weight network's inputs (on the age/100 scale), as in the authors'
#: code: ``5 * (y - 0.18)``; 0.18 is the middle of the 14-21 band.
INPUT_CENTRE = 0.18
INPUT_SCALE = 5.0


#: What the weight network sees: both the true and the initially predicted age (the paper), or
#: one of them (the ablations; ``"y"`` is an age-only weighting h(y)).
WEIGHT_INPUTS = ("both", "y", "yhat0")


class WeightNet(nn.Module):
    """h_theta: (true age, initial predicted age) -> weight.  Linear(k->h) act Linear(h->1) map.

    Parameters
    ----------
    hidden : int
        Width of the hidden layer (the paper: 20).
    activation : {"relu", "tanh", "sigmoid"}
    output : {"inverse_square", "sigmoid", "one_plus_tanh"}
        The final map; the paper found ``1 / (x^2 + 1)`` best.
    centre : float
        Inputs enter as ``5 * (value - centre)``; by default the middle of the 14-21 band.
    inputs : {"both", "y", "yhat0"}
        ``"both"`` (the paper): the first layer takes (y, yhat0), k = 2.  ``"y"`` or ``"yhat0"``:
        it takes that one value, k = 1, and the other argument of ``forward`` is ignored.
        ``"both"`` builds (and, with the same seed, initialises) exactly the paper's network.
    """

    def __init__(self, hidden=20, activation="relu", output="inverse_square", centre=INPUT_CENTRE,
                 inputs="both"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        if output not in OUTPUT_MAPS:
            raise ValueError(f"unknown output map {output!r}; choose one of {sorted(OUTPUT_MAPS)}")
        if inputs not in WEIGHT_INPUTS:
            raise ValueError(f"unknown inputs {inputs!r}; choose one of {WEIGHT_INPUTS}")
        n_in = 2 if inputs == "both" else 1
        self.net = nn.Sequential(nn.Linear(n_in, hidden), ACTIVATIONS[activation](), nn.Linear(hidden, 1))
        self.output = OUTPUT_MAPS[output]
        self.centre = centre
        self.inputs = inputs

    def forward(self, y: torch.Tensor, yhat0: torch.Tensor) -> torch.Tensor:
        """Weights of shape (n,) for targets ``y`` and initial predictions ``yhat0`` (age/100)."""
        if self.inputs == "both":
            values = torch.stack([y, yhat0], dim=-1)
        else:
            values = (y if self.inputs == "y" else yhat0).unsqueeze(-1)
        return self.output(self.net(INPUT_SCALE * (values - self.centre)).squeeze(-1))
