"""One split, one configuration: extractor -> features -> baselines and the meta-learned weighting.

Results are cached per (configuration, data checksum, split) under the cache folder, so the
chapters that share a run (3, 4.2, 4.3, 4.4) compute it once.  Errors are reported in two
units: the paper's (400 x MSE on age/100, that is years^2 / 25) and years^2.
"""

from __future__ import annotations

import copy
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial

import numpy as np

from . import baselines
from .alignment import finetune
from .cache import digest, memo
from .data import Faces
from .extractor import extract_features, predict, to_tensor, train_extractor
from .meta import MetaSettings, train_weights
from .models import device_key
from .pool import parallel
from .progress import Progress, log
from .ridge import design_matrix
from .splits import Split, in_range

AGE_SCALE = 100.0
#: Part of every cached run's key: bump it when what a run computes changes (a cache filled
#: before is then recomputed, never mixed in).  2: the meta step's conjugate-gradient solver.
RESULT_VERSION = 2
METHODS = ("all", "restricted", "reweighted", "constant", "cnn_head")


def years2(mse_scaled):
    """MSE on the age/100 scale -> years^2."""
    return np.asarray(mse_scaled) * AGE_SCALE**2


def paper_units(mse_scaled):
    """MSE on the age/100 scale -> the paper's Table 1 unit (400 x MSE = years^2 / 25)."""
    return np.asarray(mse_scaled) * 400.0


EXTRACTOR_KEYS = ("epochs", "batch_size", "lr", "train_seed", "force_cpu")
META_KEYS = ("ridge_lambda", "ridge_penalty", "weight_hidden", "weight_activation",
             "weight_output", "weight_inputs", "meta_lr", "meta_steps", "meta_clip", "meta_seed",
             "meta_precision")


def pixels_of(faces: Faces) -> str:
    """``"code"`` for the authors' unscaled pixels (:func:`data.code_pixels`), else ``"scaled"``."""
    return "code" if faces.checksum.endswith("+code-pixels") else "scaled"


def get_extractor(faces: Faces, split: Split, cfg, progress: bool = True):
    """The split's trained extractor: shipped, else from the checkpoint cache, else trained."""
    return train_extractor(
        faces.images[split.train_all], faces.ages[split.train_all] / AGE_SCALE,
        epochs=cfg["epochs"], batch_size=cfg["batch_size"], lr=cfg["lr"], seed=cfg["train_seed"],
        data_checksum=faces.checksum, split=split.index,
        monitor=(faces.images[split.test], faces.ages[split.test] / AGE_SCALE),
        force_cpu=cfg["force_cpu"], progress=progress,
        label=f"{pixels_of(faces)} pixels, seed {cfg['train_seed']}",
    )


def extractor_jobs(cfg) -> list[tuple[str, int, int]]:
    """Every extractor the book trains, as (pixels, split, seed), in the order the book needs
    them: the main splits, the pixel ablation, then the extra extractor seeds."""
    seed = cfg["train_seed"]
    jobs = [("scaled", k, seed) for k in range(cfg["n_splits"])]
    jobs += [("code", k, seed) for k in range(min(cfg["pixel_ablation_splits"], cfg["n_splits"]))]
    extra = [s for s in range(cfg["extractor_seeds"]) if s != seed]
    jobs += [("scaled", k, s) for s in extra for k in range(min(cfg["extractor_seed_splits"], cfg["n_splits"]))]
    return jobs


@dataclass
class SplitFeatures:
    """Design matrix (features + constant column), targets (age/100) and the extractor's own
    predictions ``yhat0`` for every row of the dataset, from one split's extractor."""

    X: np.ndarray  # design matrix of every row of the dataset
    y: np.ndarray
    yhat0: np.ndarray
    extractor: object


#: How many splits' features a process keeps in memory (about 31 MB each on the real data), on
#: top of the on-disk cache: a chapter that reruns the meta step with other settings on the same
#: splits (ablations, bands, seeds) then reads each split's features once.
FEATURE_MEMO = 8
FEATURE_VERSION = 1
_FEATURES: OrderedDict = OrderedDict()


def split_features(faces: Faces, split: Split, cfg, progress: bool = True) -> SplitFeatures:
    """Train (or load) the split's extractor and compute the features of every row, cached on
    disk per extractor (float32, as the CNN computes them; a CNN pass over every image costs
    about 13 s on one core) and kept in memory for the last :data:`FEATURE_MEMO` extractors
    (treat the arrays as read-only)."""
    trained = get_extractor(faces, split, cfg, progress)
    key = (trained.key, faces.checksum)
    if key in _FEATURES:
        _FEATURES.move_to_end(key)
        return _FEATURES[key]

    def compute():
        feats = extract_features(trained.model, faces.images)
        yhat0 = predict(trained.model, to_tensor(faces.images))
        return {"features": feats.astype(np.float32), "yhat0": yhat0.astype(np.float32)}, {}

    spec = {"v": FEATURE_VERSION, "extractor": trained.key, "data": faces.checksum, **device_key(cfg["force_cpu"])}
    arrays, _ = memo("features", spec, compute)
    # float32 values widened to float64 exactly as extract_features and predict do
    X = design_matrix(arrays["features"].astype(np.float64))
    _FEATURES[key] = SplitFeatures(X, faces.ages / AGE_SCALE, arrays["yhat0"].astype(np.float64), trained)
    while len(_FEATURES) > FEATURE_MEMO:
        _FEATURES.popitem(last=False)
    return _FEATURES[key]


def rows_digest(split: Split) -> str:
    """sha256 of the split's actual rows: test, validation, meta-training and training indices."""
    rows = (split.test, split.valid, split.meta_train, split.train_all)
    parts = (np.ascontiguousarray(r, dtype=np.int64) for r in rows)
    return digest(*(c for part in parts for c in (part, b"|")))


def run_spec(cfg, faces, split) -> dict:
    return {"v": RESULT_VERSION, "data": faces.checksum, "split": split.index, "rows": rows_digest(split),
            "range": [cfg["target_low"], cfg["target_high"]], "seed": cfg["split_seed"],
            **{k: cfg[k] for k in EXTRACTOR_KEYS + META_KEYS}, **device_key(cfg["force_cpu"])}


def meta_progress(what: str, steps: int, enabled: bool = True):
    """A ``progress(step, steps, valid_mse)`` callback for the meta step that reports on the
    terminal (None when disabled)."""
    if not enabled:
        return None
    bar = Progress(what, steps, unit="step ")
    return lambda step, total, valid_mse: bar.update(step, valid_mse_years2=valid_mse * AGE_SCALE**2)


def run_split(faces: Faces, split: Split, cfg, *, progress: bool = True, use_cache: bool = True):
    """All methods on one split.

    Returns
    -------
    (arrays, info)
        ``info["mse"][method]`` is the test MSE on the age/100 scale for every method in
        :data:`METHODS`; ``info["history"]`` the meta step's curves; ``arrays`` holds, for the
        meta-training rows, ``meta_y``, ``meta_yhat0`` and the learned ``meta_w``, and for all
        non-test rows ``train_w`` (the final weights), plus ``test_pred_*`` per method.
    """
    return memo("splits", run_spec(cfg, faces, split),
                lambda: compute_split(faces, split, cfg, progress), use_cache=use_cache)


def compute_split(faces: Faces, split: Split, cfg, progress: bool):
    started = time.perf_counter()
    sf = split_features(faces, split, cfg, progress)
    X, y, yhat0 = sf.X, sf.y, sf.yhat0
    ridge = {"alpha": cfg["ridge_lambda"], "penalty": cfg["ridge_penalty"]}
    tr, te, va, mt = split.train_all, split.test, split.valid, split.meta_train
    mask = in_range(faces.ages[tr], cfg["target_low"], cfg["target_high"])

    beta_all = baselines.all_baseline(X[tr], y[tr], **ridge)
    beta_res = baselines.restricted_baseline(X[tr], y[tr], mask, **ridge)
    meta = train_weights(
        X[mt], y[mt], yhat0[mt], X[va], y[va], MetaSettings.of(cfg), monitor=(X[te], y[te]),
        progress=meta_progress(f"meta step, split {split.index} ({pixels_of(faces)} pixels)", cfg["meta_steps"],
                               progress),
    )
    train_w = meta.weight_fn(y[tr], yhat0[tr])
    beta_rw = baselines.fit_ridge(X[tr], y[tr], train_w, **ridge)
    preds = {
        "all": X[te] @ beta_all,
        "restricted": X[te] @ beta_res,
        "reweighted": X[te] @ beta_rw,
        "constant": np.full(len(te), baselines.constant_prediction(y[tr], mask)),
        "cnn_head": yhat0[te],
    }
    grid = np.arange(0, 101) / AGE_SCALE  # true age x initial prediction, 0-100 years
    gy, gp = np.meshgrid(grid, grid, indexing="ij")
    grid_w = meta.weight_fn(gy.ravel(), gp.ravel()).reshape(gy.shape)
    info = {
        "split": split.index,
        "seconds": time.perf_counter() - started,
        "extractor_seconds": float(sum(sf.extractor.history.get("seconds", []))),
        "extractor_key": sf.extractor.key,
        "mse": {m: baselines.mse(p, y[te]) for m, p in preds.items()},
        "valid_mse_reweighted": baselines.mse(X[va] @ beta_rw, y[va]),
        # the validation rows are inside the rows All and Restricted are fitted on (the authors'
        # protocol), so these two validation scores are in-sample
        "valid_mse": {"all": baselines.mse(X[va] @ beta_all, y[va]),
                      "restricted": baselines.mse(X[va] @ beta_res, y[va]),
                      "reweighted": baselines.mse(X[va] @ beta_rw, y[va]),
                      "meta_final": float(meta.history["valid_mse"][-1])},
        "n_weights_above_0_1": int((meta.weights > 0.1).sum()),
        "n_meta_train": len(mt),
        "n_restricted": int(mask.sum()),
        "history": meta.history,
        "extractor_history": sf.extractor.history,
    }
    arrays = {
        "meta_y": y[mt], "meta_yhat0": yhat0[mt], "meta_w": meta.weights,
        "train_w": train_w, "test_y": y[te], "grid_w": grid_w,
        **{f"test_pred_{m}": p for m, p in preds.items()},
    }
    return arrays, info


def run_all(faces: Faces, splits, cfg, *, progress: bool = True, n_jobs: int | None = None):
    """:func:`run_split` for every split; a list of (arrays, info), in the order of ``splits``
    (in :func:`parallel` worker processes when ``n_jobs`` or ``JOBS`` is above 1)."""
    return parallel([(partial(run_split, progress=progress), faces, s, cfg) for s in splits], n_jobs, cached=True)


def free_weights_run(faces: Faces, split: Split, cfg, *, progress: bool = True) -> dict:
    """The meta step with one free weight per meta-training row (the §3 chapter), optimised until
    its validation loss stops improving (Adam at ``free_weight_lr`` without clipping, at most
    ``free_weight_steps`` steps, the patience rule of :func:`meta.train_weights`), cached.  The
    head is the ridge fit on the meta-training rows with the learned weights (the only rows that
    have one).  Returns its history, test and validation MSE and the steps it took."""

    def compute():
        sf = split_features(faces, split, cfg, progress)
        X, y = sf.X, sf.y
        mt, va, te = split.meta_train, split.valid, split.test
        free = MetaSettings(
            steps=cfg["free_weight_steps"], lr=cfg["free_weight_lr"], clip=0.0, alpha=cfg["ridge_lambda"],
            penalty=cfg["ridge_penalty"], mode="free", output=cfg["weight_output"], force_cpu=cfg["force_cpu"],
            precision=cfg["meta_precision"], patience=cfg["free_weight_patience"],
            min_improvement=cfg["free_weight_tol"] / AGE_SCALE**2)
        result = train_weights(
            X[mt], y[mt], sf.yhat0[mt], X[va], y[va], free, monitor=(X[te], y[te]),
            progress=meta_progress(f"free weights, split {split.index}", cfg["free_weight_steps"], progress),
        )
        beta = baselines.fit_ridge(X[mt], y[mt], result.weights, alpha=cfg["ridge_lambda"],
                                   penalty=cfg["ridge_penalty"])
        return ({"weights": result.weights, "test_pred": X[te] @ beta},
                {"history": result.history, "mse": baselines.mse(X[te] @ beta, y[te]),
                 "valid_mse": baselines.mse(X[va] @ beta, y[va]),
                 "steps": int(result.history["stopped_at"]), "stopped_by": result.history["stopped_by"]})

    spec = {**run_spec(cfg, faces, split), "v_free": 3,
            **{k: cfg[k] for k in ("free_weight_steps", "free_weight_lr", "free_weight_patience", "free_weight_tol")}}
    return memo("free-weights", spec, compute)[1]


#: Part of the alternatives' cache key.  2: the SGD heads with momentum 0.9 and a cosine schedule
#: over up to 100 epochs, the closed-form peers, DIR's windows and LDS, the convergence control,
#: and the edges of the choices in the record.
ALT_VERSION = 3  # 3: the SGD control chooses its setting by its own objective


def alternatives_run(faces: Faces, split: Split, cfg, *, progress: bool = True):
    """The simpler and peer alternatives (:mod:`alternatives`) on the split's features, cached.

    ``info["mse"]`` and ``info["valid_mse"]`` map each method to its test and validation MSE
    (age/100 scale); ``info["chosen"]`` holds each method's hyperparameters, chosen on validation
    rows only (an SGD head's step size also as ``lr_scale``, its multiple of the unit
    :func:`alternatives.sgd_lr_unit` of the meta-training rows); ``info["edges"]`` says for each
    hyperparameter whether the choice is the smallest ("low") or largest ("high") number of its
    grid (None: inside, or not a number), ``info["at_edge"]`` whether any is.  ``info["control"]``:
    the SGD heads' convergence control (:func:`alternatives.run_control`): its test MSE and
    Restricted's in closed form (age/100 scale), their ratio, ``within_5pct`` (``|ratio - 1| <=``
    :data:`alternatives.CONTROL_TOLERANCE`), its step size and epochs (chosen by its objective on the
    meta-training rows, ``objective``), the steps of its final run and the length of its schedule.
    Arrays: ``test_pred_<method>`` and ``test_pred_sgd_restricted_control``.
    """
    from .alternatives import CONTROL_TOLERANCE, run_alternatives, run_control, sgd_lr_unit

    def plain(value):  # a hyperparameter value as JSON wants it: a float for numbers, else its text
        return float(value) if isinstance(value, int | float | np.floating) else str(value)

    def chosen(r, unit):
        out = {k: plain(v) for k, v in r["chosen"].items()}
        return {**out, "lr_scale": float(f"{out['lr'] / unit:.6g}")} if "lr" in out else out

    def compute():
        sf = split_features(faces, split, cfg, progress)
        if progress:
            log(f"alternatives, split {split.index} ({pixels_of(faces)} pixels)")
        args = (sf.X, sf.y, split.train_all, split.meta_train, split.valid, split.test, cfg["target_low"],
                cfg["target_high"])
        out = run_alternatives(*args, seed=cfg["meta_seed"])
        control = run_control(*args, seed=cfg["meta_seed"])
        unit = sgd_lr_unit(np.asarray(sf.X[split.meta_train], dtype=np.float64))
        y_test = sf.y[split.test]
        sgd_mse, closed_mse = (baselines.mse(control[k], y_test) for k in ("test_pred", "restricted_test_pred"))
        arrays = {f"test_pred_{name}": r["test_pred"] for name, r in out.items()}
        arrays["test_pred_sgd_restricted_control"] = control["test_pred"]
        info = {"mse": {name: baselines.mse(r["test_pred"], y_test) for name, r in out.items()},
                "valid_mse": {name: float(r["valid_mse"]) for name, r in out.items()},
                "chosen": {name: chosen(r, unit) for name, r in out.items()},
                "edges": {name: dict(r["edges"]) for name, r in out.items()},
                "at_edge": {name: bool(r["at_edge"]) for name, r in out.items()},
                "control": {"sgd_mse": sgd_mse, "restricted_mse": closed_mse, "ratio": sgd_mse / closed_mse,
                            "within_5pct": bool(abs(sgd_mse / closed_mse - 1) <= CONTROL_TOLERANCE),
                            "chosen": chosen(control, unit), "edges": dict(control["result"].edges),
                            "epochs": control["epochs"], "steps": control["steps"],
                            "schedule_steps": control["schedule_steps"],
                            "chosen_by": "objective", "objective": float(control["valid_mse"])}}
        return arrays, info

    spec = {**run_spec(cfg, faces, split), "alternatives": ALT_VERSION}
    return memo("alternatives", spec, compute)


ALIGN_KEYS = ("align_epochs", "align_lr", "align_scale")
ALIGN_METHOD = "fused"  # how alignment_scores computes the scores (part of the cache key)


def alignment_runs(faces: Faces, split: Split, cfg, *, progress: bool = True) -> dict:
    """Appendix A fine-tuning of the split's extractor: histories for the alignment weighting, the
    restricted rows and all rows (Figure 5), cached."""
    def compute():
        pretrained = get_extractor(faces, split, cfg, progress).model
        tr, va = split.train_all, split.valid
        restricted = tr[in_range(faces.ages[tr], cfg["target_low"], cfg["target_high"])]
        plan = (("reweighted", tr, "alignment"), ("restricted", restricted, "uniform"), ("all", tr, "uniform"))
        calls = [(partial(finetune, epochs=cfg["align_epochs"], weighting=weighting,
                          valid=(faces.images[va], faces.ages[va] / AGE_SCALE),
                          monitor=(faces.images[split.test], faces.ages[split.test] / AGE_SCALE),
                          lr=cfg["align_lr"], scale=cfg["align_scale"], method=ALIGN_METHOD,
                          force_cpu=cfg["force_cpu"], progress=f"split {split.index}, {name}" if progress else ""),
                  copy.deepcopy(pretrained), faces.images[rows], faces.ages[rows] / AGE_SCALE)
                 for name, rows, weighting in plan]
        return {}, {name: history for (name, _, _), history in zip(plan, parallel(calls), strict=True)}

    spec = {**run_spec(cfg, faces, split), **{k: cfg[k] for k in ALIGN_KEYS}, "method": ALIGN_METHOD}
    return memo("alignment", spec, compute)[1]
