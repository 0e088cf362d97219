"""Helpers of the two chapters beyond the paper that rerun the pipeline with one thing changed:
the ablations of the paper's own choices and the sweep over other target ranges.

* :func:`valid_subset_run` is :func:`experiment.run_split` with the meta step's validation set
  cut to a seeded random subset of ``split.valid`` (every other step, the refit on all training
  rows and the test scores included, is the experiment's own code), cached.
* :func:`simple_alternatives_run` runs the four simple alternatives of
  :mod:`metareweight.alternatives` (not the two SGD peers) on one split of any band, cached.
* :func:`instability`, :func:`effective_n` and :func:`shrinkage` are the measures the ablation
  chapter defines; :func:`paired_table` summarises variants paired with the default run.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from . import alternatives, baselines, experiment
from .cache import memo
from .data import Faces
from .progress import log
from .splits import Split

#: The simple alternatives (closed-form ridge families; hyperparameters chosen on validation).
SIMPLE = ("restricted_tuned", "valid_only", "soft_band", "label_shift")

#: Validation-set sizes of the ablation (rows; capped at the split's validation set, which is
#: always run in full as well) and the seed of the subsets.
VALID_SIZES = (25, 50)
SUBSET_SEED = 0
SUBSET_VERSION = 1
SIMPLE_VERSION = 2

#: Share of the recorded meta steps at the end of the run whose spread :func:`instability` reports.
LATE_SHARE = 0.2


def valid_subset(split: Split, n: int, seed: int = SUBSET_SEED) -> Split:
    """The split with ``valid`` cut to ``n`` of its rows, chosen by a generator seeded with
    (``seed``, split index), kept in the split's order.  Subsets of one split are nested (the
    25 rows lie inside the 50) and every other row set is unchanged; ``n >= len(valid)`` returns
    the split itself."""
    if n < 1:
        raise ValueError(f"valid_subset: need at least one validation row, got {n}")
    if n >= len(split.valid):
        return split
    order = np.random.default_rng([seed, split.index]).permutation(len(split.valid))
    return dataclasses.replace(split, valid=split.valid[np.sort(order[:n])])


def valid_sizes(split: Split) -> list[int]:
    """The ablation's validation sizes for this split: :data:`VALID_SIZES` below the full size,
    then the full validation set."""
    full = len(split.valid)
    return [n for n in VALID_SIZES if n < full] + [full]


def valid_subset_run(faces: Faces, split: Split, cfg, n: int, *, seed: int = SUBSET_SEED, progress: bool = True):
    """:func:`experiment.run_split` with the meta step validated on ``n`` rows of ``split.valid``
    (:func:`valid_subset`); the full set is the ordinary cached run.  The learned weighting is
    refitted on all training rows and scored on the split's test rows exactly as there.
    ``info["valid_mse"]`` is measured on the subset; ``info["n_valid"]`` is ``n``."""
    sub = valid_subset(split, n, seed)
    if sub is split:
        arrays, info = experiment.run_split(faces, split, cfg, progress=progress)
        return arrays, {**info, "n_valid": len(split.valid)}
    spec = {**experiment.run_spec(cfg, faces, sub), "n_valid": int(n), "subset_seed": int(seed),
            "v_subset": SUBSET_VERSION}

    def compute():
        arrays, info = experiment.compute_split(faces, sub, cfg, progress)
        return arrays, {**info, "n_valid": int(n)}

    return memo("valid-subset", spec, compute)


def simple_alternatives(X, y, split: Split, low: int, high: int, names=SIMPLE) -> dict:
    """The methods ``names`` (of :data:`SIMPLE`) on one split's design matrix ``X`` and targets
    ``y`` (age/100) for the band ``low``-``high`` (years), with the grids of
    :func:`alternatives.run_alternatives`.  Fits and choices use the training, meta-training and
    validation rows only (the test rows are not passed).  Returns name -> :class:`alternatives.AltResult`."""
    unknown = sorted(set(names) - set(SIMPLE))
    if unknown:
        raise ValueError(f"simple_alternatives: {unknown} are not among {SIMPLE}")
    tr, mt, va = split.train_all, split.meta_train, split.valid
    out = {}
    for name in names:
        if name == "valid_only":
            out[name] = alternatives.valid_only(X, y, va)
        elif name == "label_shift":  # the validation rows define the band
            out[name] = alternatives.label_shift(X, y, tr, mt, va)
        else:
            out[name] = getattr(alternatives, name)(X, y, tr, mt, va, low, high)
    return out


def simple_alternatives_run(faces: Faces, split: Split, cfg, names=SIMPLE, *, progress: bool = True):
    """:func:`simple_alternatives` (the methods ``names``) on the split's features for ``cfg``'s
    band, cached; the test rows enter once, in ``X[test] @ coef``.

    Returns (arrays, info): ``test_pred_<name>``; ``info["mse"]``, ``info["valid_mse"]`` (age/100
    scale) and ``info["chosen"]`` per method."""

    def compute():
        sf = experiment.split_features(faces, split, cfg, progress)
        if progress:
            log(f"simple alternatives, split {split.index}, ages {cfg['target_low']}-{cfg['target_high']}")
        fits = simple_alternatives(sf.X, sf.y, split, cfg["target_low"], cfg["target_high"], names)
        X_test = np.asarray(sf.X[split.test], dtype=np.float64)
        preds = {name: X_test @ r.coef for name, r in fits.items()}
        info = {"mse": {name: baselines.mse(p, sf.y[split.test]) for name, p in preds.items()},
                "valid_mse": {name: float(r.valid_mse) for name, r in fits.items()},
                "chosen": {name: {k: (float(v) if isinstance(v, int | float | np.floating) else str(v))
                                  for k, v in r.chosen.items()} for name, r in fits.items()}}
        return {f"test_pred_{name}": p for name, p in preds.items()}, info

    spec = {**experiment.run_spec(cfg, faces, split), "simple": list(names), "v_simple": SIMPLE_VERSION}
    return memo("simple-alternatives", spec, compute)


def instability(valid_mse, share: float = LATE_SHARE) -> dict:
    """Two measures of how unsteadily the meta step's validation MSE moves, in the curve's units.

    ``largest_rise``: the largest increase between two consecutive recorded steps (0 for a curve
    that never goes up).  ``late_sd``: the sample standard deviation (ddof=1) of the last
    ``share`` of the recorded values (at least two of them)."""
    v = np.asarray(valid_mse, dtype=float)
    if v.ndim != 1 or len(v) < 2:
        raise ValueError("instability: need a curve of at least two recorded steps")
    tail = v[-max(2, int(np.ceil(share * len(v)))):]
    return {"largest_rise": float(max(np.diff(v).max(), 0.0)), "late_sd": float(tail.std(ddof=1))}


def effective_n(w) -> float:
    """Effective number of rows of a weighting, (sum w)^2 / sum w^2 (n for equal weights)."""
    w = np.asarray(w, dtype=float)
    return float(w.sum() ** 2 / (w**2).sum())


def shrinkage(pred, target) -> float:
    """Standard deviation of the predictions over that of the true values (population std of
    both; 0 for a constant predictor, about the correlation for a calibrated linear head)."""
    return float(np.std(pred) / np.std(target))


def paired_table(frame, default: str, columns) -> list[dict]:
    """Summary rows of variants (columns of ``frame``, one row per split, MSE in years²) paired
    with the ``default`` column of the same split: mean, sample std over splits (ddof=1; nan for
    one split), mean of the per-split relative change against the default, and the number of
    splits where the variant is lower than the default."""
    rows = []
    for col in columns:
        values = frame[col].to_numpy(dtype=float)
        base = frame[default].to_numpy(dtype=float)
        rows.append({"variant": col, "mean": float(values.mean()),
                     "sd": float(values.std(ddof=1)) if len(values) > 1 else float("nan"),
                     "change vs default": float(np.mean((values - base) / base)),
                     "lower than default": int((values < base).sum()), "splits": len(values)})
    return rows
