"""Named configurations (``paper`` and ``quick``) and the checking of notebook parameters.

Every notebook declares its parameters with the value ``None`` ("take it from the profile") in
one cell tagged ``parameters``; papermill may overwrite any of them.  :func:`resolve` then merges
profile and explicit values, refusing unknown names, unknown profiles and values of the wrong
type with a message that names the parameter.
"""

from __future__ import annotations

from types import MappingProxyType

from .settings import PROFILE_ENV, profile_env

#: Settings of the meta step, selectable by name (``meta_settings``).
#: ``paper``: Section 4.2 of the paper (Adam 1e-4, 1,000 steps, no clipping).
#: ``code``: the authors' published code (Adam 5e-3, gradients clipped by value at 1e-4,
#: 2,000 steps).
META_SETTINGS = MappingProxyType(
    {
        "paper": MappingProxyType({"meta_lr": 1e-4, "meta_steps": 1000, "meta_clip": 0.0}),
        "code": MappingProxyType({"meta_lr": 5e-3, "meta_steps": 2000, "meta_clip": 1e-4}),
    }
)

_PAPER = {
    # data and splits (Section 4.1)
    "n_splits": 8,
    "target_low": 14,
    "target_high": 21,
    "split_seed": 0,
    # "paper": the authors' validation block (2 distinct validation sets over the 8 splits);
    # "independent": each split draws its own (the §4.3 chapter runs both)
    "split_protocol": "paper",
    "n_faces": 24,  # faces shown in Figure 1
    # feature extractor (Section 4.2)
    "epochs": 100,
    "batch_size": 100,
    "lr": 1e-4,
    "train_seed": 0,
    "force_cpu": False,
    # extractor seeds: seeds 0 .. extractor_seeds-1 on the first extractor_seed_splits splits
    "extractor_seeds": 3,
    "extractor_seed_splits": 2,
    # ridge head (Sections 3.1, 4.2)
    "ridge_lambda": 5e-3,
    "ridge_penalty": "n",
    # weight network and meta step (Sections 3.1, 4.2)
    "weight_hidden": 20,
    "weight_activation": "relu",
    "weight_output": "inverse_square",
    "weight_inputs": "both",  # h_theta's inputs: "both" (y, yhat0), "y" only or "yhat0" only
    # The authors' code settings: Table 1 and the saved per-split values come from runs with
    # them; the paper's text settings (Adam 1e-4, 1,000 steps) are run beside them in 4.3.
    "meta_settings": "code",
    "meta_lr": -1.0,  # -1: take it from meta_settings
    "meta_steps": -1,  # -1: take it from meta_settings
    "meta_clip": -1.0,  # -1: take it from meta_settings; 0 disables clipping
    "meta_seed": 0,
    "meta_seeds": 3,  # every re-weighted number of Table 1 averages the meta seeds 0 .. meta_seeds-1
    # the seeds chapter: seeds 0 .. seed_check_seeds-1 on the first seed_check_splits splits
    "seed_check_seeds": 5,
    "seed_check_splits": 2,
    # "fast": float32 Gram matrix, float64 solve and hypergradient; "exact": float64 throughout
    "meta_precision": "fast",
    # free weights (one per meta-training row), optimised until the validation loss stops
    # improving: Adam without clipping, at most free_weight_steps steps, stopped when the lowest
    # validation MSE has improved by less than free_weight_tol years² in free_weight_patience
    # steps.  The step size 0.2 reached the lowest validation loss in 3,000 steps of 0.01, 0.05
    # and 0.2 on split 0 (validation rows only).
    "free_weight_steps": 6000,
    "free_weight_lr": 0.2,
    "free_weight_patience": 500,
    "free_weight_tol": 0.02,
    "heatmap_splits": 3,
    "bootstrap_samples": 10000,
    # chapter 4.3: rerun the first splits on the authors' unscaled integer pixels
    "pixel_ablation_splits": 8,
    # ablations of the paper's own claims: the first ablation_splits splits ([0, 1] pixels)
    "ablation_splits": 8,
    # other target ranges: bands "low-high" separated by commas, on every split
    "sweep_bands": "1-13,14-21,22-29,30-40,41-110",  # five bands that tile every age
    # Appendix A, gradient alignment on the CNN (Figures 5 and 6)
    "align_split": 0,
    "align_epochs": 50,
    "align_lr": 3e-4,
    "align_scale": 2.0,
}

# Appendix A chapters (toys, Theorem 1, gradient alignment): their own parameters.
_APPENDIX_PAPER: dict = {
    # A.1 piecewise-affine toy
    "toy1d_n": 100,
    "toy1d_steps": 10000,  # gradient-alignment steps (the authors' code: 10,000)
    "toy1d_lr": 1e-2,  # RMSprop (the authors' code: lr 1e-2, alpha 0.95)
    "toy1d_valid_ema": 1.0,  # 1.0: the paper's g_i . g_v; the authors' code: 0.02
    "toy1d_starts": 10,  # random starts of the gradient-alignment loop
    "toy1d_meta_steps": 3000,  # closed-form method (weight net through the ridge solution)
    "toy1d_meta_lr": 3e-2,
    "toy1d_ridge_alpha": 1e-4,
    "toy1d_seed": 0,
    # A.1 two-dimensional toy and its 60-dimensional variant
    "toy2d_n": 1000,
    "toy2d_n_valid": 1000,  # held-out sample whose top 10 % is the validation set
    "toy2d_n_test": 10000,
    "toy2d_steps": 5000,
    "toy2d_valid_ema": 1.0,
    "toy2d_meta_steps": 1000,
    "toy2d_meta_lr": 3e-2,
    "toy2d_seed": 0,
    "toy60_dim": 60,
    "toy60_n": 2000,
    "toy60_starts": 5,
    "toy60_steps": 5000,
    # A.2 Theorem 1
    "thm_n": 100,
    "thm_trials": 200,
    "thm_candidates": 50,
    "thm_ridge_alpha": 1.0,
    "thm_seed": 0,
}
_APPENDIX_QUICK: dict = {
    "toy1d_steps": 3000,
    "toy1d_starts": 4,
    "toy1d_meta_steps": 1000,
    "toy2d_steps": 2000,
    "toy2d_n_test": 5000,
    "toy2d_meta_steps": 500,
    "toy60_n": 1000,
    "toy60_starts": 3,
    "toy60_steps": 1500,
    "thm_trials": 40,
}

_PAPER.update(_APPENDIX_PAPER)

_QUICK = dict(
    _PAPER,
    **_APPENDIX_QUICK,
    n_splits=2,
    epochs=4,
    meta_steps=200,
    free_weight_steps=200,
    heatmap_splits=2,
    bootstrap_samples=2000,
    pixel_ablation_splits=1,
    extractor_seeds=2,
    extractor_seed_splits=1,
    meta_seeds=2,
    seed_check_seeds=3,
    seed_check_splits=1,
    ablation_splits=1,
    sweep_bands="14-21,30-40",
    align_epochs=2,
)

#: The named profiles.  Read-only: change a value with an explicit notebook parameter.
PROFILES = MappingProxyType(
    {"paper": MappingProxyType(_PAPER), "quick": MappingProxyType(_QUICK)}
)


#: Settings that must be at least 1, and settings restricted to a set of values.
AT_LEAST_ONE = ("n_splits", "epochs", "batch_size", "meta_steps", "pixel_ablation_splits", "meta_seeds",
                "free_weight_steps", "seed_check_seeds", "seed_check_splits",
                "extractor_seeds", "extractor_seed_splits", "ablation_splits")
CHOICES = {"split_protocol": ("paper", "independent"),
           "ridge_penalty": ("n", "sum_w", "plain"), "weight_inputs": ("both", "y", "yhat0"),
           "meta_precision": ("fast", "exact"), "weight_activation": ("relu", "tanh", "sigmoid"),
           "weight_output": ("inverse_square", "sigmoid", "one_plus_tanh")}


class ParameterError(ValueError):
    """A notebook parameter or profile that cannot be used."""


#: Every setting read through any :class:`Config` of this process (what the chapter used).
_READ: set[str] = set()


class Config(dict):
    """Resolved settings: a dict whose keys also read as attributes (``cfg.epochs``).

    Every read by key or attribute is recorded in the process-wide set of settings read
    (:func:`settings_read`), so a test can check that a chapter declares every setting that
    reaches its computation, shared runs included.  ``overrides`` holds the explicit values that
    differ from the profile's; ``declared`` the names the chapter declared as parameters.
    """

    overrides: dict
    declared: tuple

    def __getitem__(self, key):
        value = dict.__getitem__(self, key)
        if key != "profile":
            _READ.add(key)
        return value

    def get(self, key, default=None):
        return self[key] if key in self else default

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def variant(self, **changes) -> Config:
        """The same run with ``changes`` on top of this config's explicit values (re-resolved, so
        a new ``meta_settings`` brings its own optimiser settings unless they were set)."""
        params = {k: v for k, v in self.overrides.items() if k not in changes}
        if "meta_settings" in changes:
            for key in META_SETTINGS[changes["meta_settings"]]:
                if key not in params:
                    params[key] = None
        return resolve(dict.__getitem__(self, "profile"), **params, **changes)

    def settings(self, names=None) -> dict:
        """Plain dict of the given settings (default: the declared ones) without recording reads."""
        names = self.declared if names is None else names
        return {k: dict.__getitem__(self, k) for k in names if k in self}


def settings_read() -> set[str]:
    """Names of the settings read so far in this process."""
    return set(_READ)


def note_read(names) -> None:
    """Add settings read elsewhere (in a worker process) to this process's record."""
    _READ.update(names)


def check_type(name, value, reference):
    if isinstance(reference, bool):
        ok = isinstance(value, bool)
    elif isinstance(reference, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(reference, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok:
            value = float(value)
    else:
        ok = isinstance(value, type(reference))
    if not ok:
        raise ParameterError(
            f"parameter {name!r} must be of type {type(reference).__name__}, "
            f"got {value!r} of type {type(value).__name__}"
        )
    return value


def profile_name(profile: str | None = None) -> str:
    """The profile to use: ``profile`` if given, else ``$METAREWEIGHT_PROFILE``, else ``paper``."""
    name = profile if profile is not None else profile_env() or "paper"
    if not isinstance(name, str) or name not in PROFILES:
        raise ParameterError(
            f"unknown profile {name!r} (from parameter 'profile' or ${PROFILE_ENV}); "
            f"choose one of {sorted(PROFILES)}"
        )
    return name


def resolve(profile: str | None = None, **params) -> Config:
    """Merge a named profile with explicit parameters.

    Parameters
    ----------
    profile : str or None
        ``"paper"`` or ``"quick"``; ``None`` reads ``$METAREWEIGHT_PROFILE`` (default ``paper``).
    **params
        Notebook parameters.  ``None`` keeps the profile's value; anything else overrides it and
        must have the profile value's type (an int is accepted where a float is expected).

    Returns
    -------
    Config
        Every setting of the profile, with ``profile`` and the resolved meta-step settings.
    """
    name = profile_name(profile)
    base = PROFILES[name]
    values = dict(base)
    overrides = {}
    for key, value in params.items():
        if key not in values:
            raise ParameterError(
                f"unknown parameter {key!r}; known parameters are {sorted(values)}"
            )
        if value is not None:
            values[key] = check_type(key, value, base[key])
            if values[key] != base[key]:
                overrides[key] = values[key]
    if values["meta_settings"] not in META_SETTINGS:
        raise ParameterError(
            f"unknown meta_settings {values['meta_settings']!r}; choose one of {sorted(META_SETTINGS)}"
        )
    for key, value in META_SETTINGS[values["meta_settings"]].items():
        if values[key] == -1:
            values[key] = value
    if not 0 <= values["target_low"] <= values["target_high"]:
        raise ParameterError(
            f"target range is empty: target_low={values['target_low']} > target_high={values['target_high']}"
        )
    for key in AT_LEAST_ONE:
        if values[key] < 1:
            raise ParameterError(f"parameter {key!r} must be at least 1, got {values[key]}")
    for key, choices in CHOICES.items():
        if values[key] not in choices:
            raise ParameterError(f"parameter {key!r} must be one of {sorted(choices)}, got {values[key]!r}")
    values["profile"] = name
    parse_bands(values["sweep_bands"])
    cfg = Config(values)
    cfg.overrides = overrides
    cfg.declared = tuple(k for k in params if k in base)
    return cfg


def parse_bands(text: str) -> list[tuple[int, int]]:
    """``"14-21,30-40"`` -> ``[(14, 21), (30, 40)]``; a malformed or empty band names the parameter."""
    bands = []
    for part in text.split(","):
        try:
            low, high = (int(v) for v in part.strip().split("-"))
        except ValueError:
            raise ParameterError(f"parameter 'sweep_bands': {part.strip()!r} is not a band 'low-high' "
                                 f"(e.g. '14-21,30-40')") from None
        if not 0 <= low <= high:
            raise ParameterError(f"parameter 'sweep_bands': band {low}-{high} is empty")
        bands.append((low, high))
    return bands


def resolve_declared(profile: str | None, namespace: dict) -> Config:
    """:func:`resolve` with every setting the chapter declared: the names of ``namespace`` (the
    notebook's globals after its ``parameters`` cell) that are settings of the profiles."""
    return resolve(profile, **{k: namespace[k] for k in PROFILES["paper"] if k in namespace})
