"""The authors' own trained extractors, run through our pipeline.

The authors' repository (GitHub ``anshgs/MetaReweight``) ships the CNN extractor of each of their
8 splits, ``models/cv_k.pt``, and a second set ``models/cv_k_b.pt`` of undocumented role.  The
book never redistributes them: a reader points ``$AUTHORS_MODELS`` at the folder (their clone's
``models/``), and every file is checked against the sha256 list below before it is loaded.

Each file is ``{"state_dict": ...}`` with the keys of the authors' CNN: ``conv1.0`` (Conv2d 3->32,
kernel 7, then ReLU and MaxPool 2), ``conv2.0`` (Conv2d 32->16, kernel 7, then Tanh and MaxPool 2)
and ``out`` (Linear 400->1), our :class:`~metareweight.models.Extractor` under other names.  It
is loaded with ``weights_only=True`` and strictly: a missing, extra or misshapen tensor is an
error that names the file.  The authors trained on the 0-255 pixels (:func:`data.code_pixels`).

Their splits cannot be recreated (their permutation ran over an unsorted folder listing), so on
our split k about 90% of the test rows were training rows of their ``cv_k``:
:func:`leakage_pairs` measures how much such overlap flatters a head, with our own extractors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from . import baselines
from .cache import file_digest, memo
from .models import Extractor
from .ridge import design_matrix
from .settings import AUTHORS_ENV, authors_models

MODEL_SETS = ("cv", "cv_b")
FEATURE_VERSION = 1

#: sha256 of every model file of ``anshgs/MetaReweight`` at commit b7c244e (its ``models/``).
SHA256 = {
    "cv_0.pt": "be58bfca71125f2ff69a2ecd5e5199804a27260cbebbfddb6b1eb5ba321ef096",
    "cv_0_b.pt": "e00fe4bf777b7ff389f2831d509cf90fafa5614389f41c09f114f62f924a94eb",
    "cv_1.pt": "40874b7a34c73528af7a4f4735881e1a7cbe4bc5710db7eb64280908528820c1",
    "cv_1_b.pt": "11498bc8ddcfea2e5933b371ce227f636b63c44c2a1cb5190ebacb6073f2ba29",
    "cv_2.pt": "7c208eaa0822cbd8a87cc1fff9bffd9b9a3a034654dc025617a9dedd1a5fe1ff",
    "cv_2_b.pt": "46b81fa4ff53b12cd1c6459925db311f269df6e66f9fa38f80dfe0b197e3d914",
    "cv_3.pt": "99c1107603d54491df5a926adedfd34ab53a26ade1e20980873f9a3320516445",
    "cv_3_b.pt": "99ef7863bb5774d511504847d171e2d27a4a105dfb8362bff485f869860a1d28",
    "cv_4.pt": "abe0103ef3576d8cdc737c768c04f6587c9f9ddb6aae9ef6e0ca9efe19490831",
    "cv_4_b.pt": "623a09bab59c72306a35d8146601e5ac117f116accbab82f19179337651a8b18",
    "cv_5.pt": "2f6274da3fd3838eff02558d2c7c523621ea3f6bd892e1b91b71a272844ff6fa",
    "cv_5_b.pt": "c86e89f573d304109e5f940ea2a043b314424d6d7dffee6fe3ee6ec97238b7a6",
    "cv_6.pt": "a22c398f1024510438f6b19c4d1c3ff9109edf1a72fd1ae00d28a9091a39e8d4",
    "cv_6_b.pt": "34a4f029b06f7bc0f8f749224ff179eecf3ce86dc4a133c3165c70b3472386d1",
    "cv_7.pt": "d83e4ec1d2b92875a34168473ba3ad7250025035de38771f50514ec71a854164",
    "cv_7_b.pt": "67a4bee70719bb62be8a078c73f715e45752d2e82a5f11910dfa9d178995ba61",
}

#: the authors' layer names -> ours
KEY_MAP = {"conv1.0.": "features.0.", "conv2.0.": "features.3.", "out.": "head."}


class AuthorsModelError(ValueError):
    """An authors' model file that is missing, altered or not the authors' CNN."""


def models_dir() -> Path | None:
    """The folder ``$AUTHORS_MODELS`` names, or None when the variable is unset or empty.  A
    variable that names no folder is an error, never a silent skip."""
    value = authors_models() or ""
    if not value:
        return None
    folder = Path(value)
    if not folder.is_dir():
        raise AuthorsModelError(f"${AUTHORS_ENV}={value}: no such folder (it should hold cv_0.pt ... cv_7_b.pt)")
    return folder


def file_name(model_set: str, split: int) -> str:
    if model_set not in MODEL_SETS:
        raise AuthorsModelError(f"unknown model set {model_set!r}; choose one of {MODEL_SETS}")
    return f"cv_{split}.pt" if model_set == "cv" else f"cv_{split}_b.pt"


def verify(path: Path) -> str:
    """The file's sha256, checked against :data:`SHA256`; an unknown name, a missing file or
    another digest raises :class:`AuthorsModelError` naming the file."""
    path = Path(path)
    if path.name not in SHA256:
        raise AuthorsModelError(f"{path}: not one of the authors' model files ({', '.join(sorted(SHA256))})")
    if not path.is_file():
        raise AuthorsModelError(f"{path}: the authors' model file is missing")
    digest = file_digest(path)
    if digest != SHA256[path.name]:
        raise AuthorsModelError(f"{path}: sha256 {digest[:12]}… is not the authors' {SHA256[path.name][:12]}… "
                                "(altered or truncated)")
    return digest


def to_ours(state: dict, source: str) -> dict:
    """The authors' state dict under our layer names; any other key set is an error naming
    ``source``."""
    expected = {f"{a}{p}" for a in KEY_MAP for p in ("weight", "bias")}
    if set(state) != expected:
        raise AuthorsModelError(f"{source}: keys {sorted(state)} are not the authors' CNN's {sorted(expected)}")
    out = {}
    for key, value in state.items():
        prefix = next(a for a in KEY_MAP if key.startswith(a))
        out[KEY_MAP[prefix] + key[len(prefix):]] = value
    return out


def load(path: Path, *, check: bool = True) -> Extractor:
    """An authors' model file as our :class:`Extractor` (float32, CPU, eval mode): sha256 checked
    (unless ``check`` is False, for tests on made-up files), ``weights_only`` loading, strict."""
    path = Path(path)
    if check:
        verify(path)
    try:
        blob = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:
        raise AuthorsModelError(f"{path}: cannot be loaded with weights_only ({err})") from err
    if not isinstance(blob, dict) or "state_dict" not in blob:
        raise AuthorsModelError(f"{path}: expected a dict with a 'state_dict', got {type(blob).__name__}")
    model = Extractor()
    try:
        model.load_state_dict(to_ours(blob["state_dict"], str(path)), strict=True)
    except RuntimeError as err:
        raise AuthorsModelError(f"{path}: does not fit the authors' architecture ({err})") from err
    return model.float().eval()


def features(code_faces, path: Path) -> dict:
    """Features (float32) and the model's own predictions (age/100) of every image under the
    0-255 pixels, cached by the file's sha256 and the data checksum."""
    from .extractor import extract_features, predict, to_tensor

    digest = verify(path)

    def compute():
        model = load(path)
        return {"features": extract_features(model, code_faces.images).astype(np.float32),
                "yhat0": predict(model, to_tensor(code_faces.images)).astype(np.float32)}, {}

    arrays, _ = memo("authors-features", {"v": FEATURE_VERSION, "model": digest, "data": code_faces.checksum},
                     compute)
    return {"X": design_matrix(arrays["features"].astype(np.float64)), "yhat0": arrays["yhat0"].astype(np.float64)}


def _head(head, X, y, mask, ridge):
    if head == "restricted":
        return baselines.restricted_baseline(X, y, mask, **ridge)
    return baselines.all_baseline(X, y, **ridge)


def leakage_pairs(faces, splits, features_of, cfg) -> list[dict]:
    """How much a head is flattered when its extractor was trained on the test rows.

    For every ordered pair (k, j), j != k, of ``splits``: the Restricted and All heads of split k
    (fitted on split k's training rows) on the features of our extractor j, which was trained on
    split k's test rows, scored on split k's test rows; beside them the same heads on extractor
    k, which never saw them.  ``features_of(j)`` returns split j's design matrix of every row.
    MSE in years²; ``optimism`` is (clean − seen): positive means that having seen the test rows
    lowered the error.
    """
    from .splits import in_range

    y = faces.ages / 100.0
    ridge = {"alpha": cfg["ridge_lambda"], "penalty": cfg["ridge_penalty"]}
    out = []
    for k, sk in enumerate(splits):
        tr, te = sk.train_all, sk.test
        mask = in_range(faces.ages[tr], cfg["target_low"], cfg["target_high"])
        clean = features_of(k)
        for j in range(len(splits)):
            if j == k:
                continue
            seen = features_of(j)
            row = {"split": sk.index, "extractor": splits[j].index}
            for head in ("restricted", "all"):
                c, s = (baselines.mse(X[te] @ _head(head, X[tr], y[tr], mask, ridge), y[te]) * 1e4
                        for X in (clean, seen))
                row.update({f"{head}_clean": c, f"{head}_seen": s, f"{head}_optimism": c - s})
            out.append(row)
    return out


AUTHORS_RUN_VERSION = 1


def authors_run(code_faces, split, model_set: str, cfg, *, seed: int, progress: bool = True) -> dict:
    """Every head of the §4.3 chapter on the features of the authors' model for ``split``,
    with meta seed ``seed``, cached: test and validation MSE (years²) of All, Restricted, the
    constant, the CNN's own head, the re-weighted head and the two best simple alternatives of
    the alternatives chapter (Restricted with λ tuned, the smoothed density ratio)."""
    from .alternatives import label_shift, restricted_tuned
    from .experiment import META_KEYS, meta_progress, rows_digest
    from .meta import MetaSettings, train_weights
    from .splits import in_range

    folder = models_dir()
    if folder is None:
        raise AuthorsModelError(f"${AUTHORS_ENV} is not set")
    path = folder / file_name(model_set, split.index)
    digest = verify(path)

    def compute():
        feats = features(code_faces, path)
        X, yhat0, y = feats["X"], feats["yhat0"], code_faces.ages / 100.0
        tr, te, va, mt = split.train_all, split.test, split.valid, split.meta_train
        low, high = cfg["target_low"], cfg["target_high"]
        mask = in_range(code_faces.ages[tr], low, high)
        ridge = {"alpha": cfg["ridge_lambda"], "penalty": cfg["ridge_penalty"]}
        meta = train_weights(
            X[mt], y[mt], yhat0[mt], X[va], y[va], MetaSettings.of(cfg, seed=seed),
            progress=meta_progress(f"authors' {file_name(model_set, split.index)}, seed {seed}", cfg["meta_steps"],
                                   progress))
        coef = {"all": baselines.all_baseline(X[tr], y[tr], **ridge),
                "restricted": baselines.restricted_baseline(X[tr], y[tr], mask, **ridge),
                "reweighted": baselines.fit_ridge(X[tr], y[tr], meta.weight_fn(y[tr], yhat0[tr]), **ridge),
                "restricted_tuned": restricted_tuned(X, y, tr, mt, va, low, high).coef,
                "label_shift": label_shift(X, y, tr, mt, va).coef}
        const = baselines.constant_prediction(y[tr], mask)
        pred = {m: X[te] @ c for m, c in coef.items()}
        test = {**{m: baselines.mse(p, y[te]) for m, p in pred.items()},
                "constant": baselines.mse(np.full(len(te), const), y[te]), "cnn_head": baselines.mse(yhat0[te], y[te])}
        valid = {**{m: baselines.mse(X[va] @ c, y[va]) for m, c in coef.items()},
                 "constant": baselines.mse(np.full(len(va), const), y[va]),
                 "meta_final": float(meta.history["valid_mse"][-1])}
        return {}, {"test": {m: v * 1e4 for m, v in test.items()}, "valid": {m: v * 1e4 for m, v in valid.items()},
                    "sha256": digest}

    spec = {"v": AUTHORS_RUN_VERSION, "model": digest, "data": code_faces.checksum, "split": split.index,
            "rows": rows_digest(split), "range": [cfg["target_low"], cfg["target_high"]], "seed": seed,
            **{k: cfg[k] for k in META_KEYS if k != "meta_seed"}}
    return memo("authors", spec, compute)[1]


def ensure_features(code_faces, path) -> str:
    """Compute (or find) the cached features of one model; returns its sha256 (for
    :func:`pool.parallel`, which should not carry the arrays back)."""
    features(code_faces, path)
    return verify(path)


def chapter_rows(code_faces, splits, cfg, *, progress: bool = True) -> dict:
    """model set -> one row per split of every head's test MSE (years²), Reweighted as the mean
    over the meta seeds (``cv``: every seed of the profile; ``cv_b``: the first), with the
    validation MSEs, the degenerate flags of :func:`table1.degenerate` and the file's sha256."""
    from functools import partial

    from .pool import parallel
    from .table1 import degenerate

    folder = models_dir()
    if folder is None:
        raise AuthorsModelError(f"${AUTHORS_ENV} is not set")
    seeds = {"cv": list(range(cfg["meta_seeds"])), "cv_b": [0]}
    paths = [folder / file_name(m, s.index) for m in MODEL_SETS for s in splits]
    parallel([(ensure_features, code_faces, p) for p in paths], cached=True)
    plan = [(m, k, seed) for m in MODEL_SETS for k in range(len(splits)) for seed in seeds[m]]
    runs = parallel([(partial(authors_run, seed=seed, progress=progress), code_faces, splits[k], m, cfg)
                     for m, k, seed in plan], cached=True)
    out = {m: [] for m in MODEL_SETS}
    for m in MODEL_SETS:
        for k, split in enumerate(splits):
            infos = [r for (mm, kk, _), r in zip(plan, runs, strict=True) if (mm, kk) == (m, k)]
            first = infos[0]
            rw = [i["test"]["reweighted"] for i in infos]
            valid = {**first["valid"], "reweighted": float(np.mean([i["valid"]["reweighted"] for i in infos]))}
            row = {"split": split.index, "file": file_name(m, split.index), "sha256": first["sha256"],
                   **{h: first["test"][h] for h in ("all", "restricted", "constant", "cnn_head",
                                                    "restricted_tuned", "label_shift")},
                   "reweighted": float(np.mean(rw)), "reweighted_seeds": rw, "valid": valid,
                   "degenerate": degenerate({h: valid[h] for h in ("all", "restricted", "reweighted")},
                                            valid["constant"])}
            out[m].append(row)
    return out


def leakage_summary(pairs: list[dict]) -> dict:
    """Mean optimism (years²) of each head over the pairs, with a t interval over the test
    splits (each split's optimism averaged over the extractors that saw it)."""
    from .stats import t_interval

    out = {}
    for head in ("restricted", "all"):
        by_split = {}
        for p in pairs:
            by_split.setdefault(p["split"], []).append(p[f"{head}_optimism"])
        per_split = np.array([np.mean(v) for v in by_split.values()])
        low, high = t_interval(per_split)
        out[head] = {"mean": float(per_split.mean()) if len(per_split) else float("nan"), "ci_low": low,
                     "ci_high": high, "splits": len(per_split), "pairs": len(pairs)}
    return out


def add_verdicts(verdicts, rows: dict, leakage: dict) -> dict:
    """The chapter's three questions (see the chapter); returns the judgements and the numbers
    they came from."""
    from .reference import AUTHORS_SPLITS
    from .stats import holm, paired_summary, t_interval
    from .table1 import compare, level
    from .verdicts import agrees_with, interval_beyond, paired_comparison

    out = {}
    saved = np.asarray(AUTHORS_SPLITS["all"], dtype=float)
    lev = level(rows["cv"], "all")
    out["all"] = verdicts.add(
        "the authors' extractors reproduce the All level they saved", "§4.3, Table 1 (the authors' files)",
        f"{saved.mean():.3f} ± {saved.std():.3f}", f"{lev['mean']:.3f} ± {lev['sd_pop']:.3f} (n = {lev['n']})",
        agrees_with(lev["mean"], lev["sd"], lev["n"], float(saved.mean()), float(saved.std(ddof=1)),
                    len(saved), name="our All on their extractors (years²/25)"), kind="correctness")
    comparisons = {m: compare(rows[m], "restricted", "reweighted") for m in MODEL_SETS}
    adjusted = dict(zip(MODEL_SETS, holm([comparisons[m]["perm_p"] for m in MODEL_SETS]), strict=True))
    for m in MODEL_SETS:
        s = comparisons[m]
        out[f"beats_{m}"] = verdicts.add(
            f"learned re-weighting beats Restricted on the authors' own features ({m})", "§4.3",
            "7 of 8 (their splits)",
            f"{s['wins']} of {s['usable']} usable splits, mean {s['mean_rel_improvement']:+.1%}" if s["usable"]
            else "no usable split",
            paired_comparison(s, adjusted_p=float(adjusted[m]), family=len(MODEL_SETS), usable=s["usable"]),
            kind="beyond")
    ends = [v["restricted"]["ci_high"] for v in leakage.values() if np.isfinite(v["restricted"]["ci_high"])]
    bound = float(max(ends)) if ends else float("nan")
    kept = [r for r in rows["cv"] if not r["degenerate"]["restricted"]]
    gain = np.array([r["constant"] - r["restricted"] for r in kept])
    low, high = t_interval(gain)
    out["informative"] = verdicts.add(
        "the authors' features tell ages apart inside the band beyond the leakage bound", "not in the paper",
        "implied", f"Restricted {np.mean(gain):+.2f} years² better than the constant on {len(kept)} usable splits; "
        f"bound {bound:.2f}", interval_beyond(low, high, bound, name="95% t interval of constant − Restricted "
                                                                      "(years², over usable splits)"), kind="beyond")
    vs_const = {m: paired_summary([r["constant"] for r in rows[m]], [r["restricted"] for r in rows[m]])
                for m in MODEL_SETS}
    return {"judgements": out, "comparisons": comparisons, "adjusted_p": adjusted, "bound": bound,
            "restricted_vs_constant": vs_const, "gain": {"mean": float(np.mean(gain)) if len(gain) else float("nan"),
                                                         "ci_low": low, "ci_high": high, "splits": len(kept)}}
