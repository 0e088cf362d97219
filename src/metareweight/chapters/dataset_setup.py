"""What the dataset chapter (``notebooks/dataset-setup.md``, paper §4.1) shows: the facts of
the pooled images, the table of split sizes, the facts of the splits (overlaps, distinct
validation sets) and the chapter's verdict rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import KNOWN_TARBALL_SHA256
from ..splits import in_range
from ..verdicts import is_true

#: The paper's description of the data (§4.1).
PAPER_IMAGES = 9780
PAPER_SIDE = 40
PAPER_BLOCK = 1000


def image_facts(faces, low: int, high: int) -> dict:
    """The numbers the chapter's prose gives about the images.

    Parameters: ``faces`` (a :class:`data.Faces`), ``low`` and ``high`` (the target band, years,
    both inclusive).  Returns a dict of glue name -> value: image count, count in the band, the
    band, age range and median, pooled side, pixel range, the data source, and whether the
    source's sha256 "matches" the known tarball.
    """
    return {"n_images": len(faces),
            "n_target": int(in_range(faces.ages, low, high).sum()),
            "target_low": low, "target_high": high,
            "age_min": int(faces.ages.min()), "age_max": int(faces.ages.max()),
            "age_median": float(np.median(faces.ages)),
            "image_side": faces.images.shape[1],
            "pixel_min": float(faces.images.min()), "pixel_max": float(faces.images.max()),
            "data_source": faces.source,
            "sha_matches": "matches" if faces.checksum == KNOWN_TARBALL_SHA256 else "does not match"}


def sample_faces(n_images: int, n_shown: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n_shown`` of ``n_images`` faces drawn without replacement by a generator
    seeded with ``seed``, sorted (the chapter's face grid, which shows them youngest first)."""
    return np.sort(np.random.default_rng(seed).choice(n_images, size=n_shown, replace=False))


def split_table(splits) -> pd.DataFrame:
    """One row per split (indexed by split): the sizes of its test, validation, restricted
    training, meta-training and all-training sets (:meth:`splits.Split.sizes`)."""
    return pd.DataFrame([s.sizes() for s in splits]).set_index("split")


def splits_disjoint(splits) -> bool:
    """True when in every split the test block shares no row with the training rows, and the
    validation set lies inside the training rows but outside the meta-training rows."""
    return all(not (set(s.test_block) & set(s.train_all)) and set(s.valid) <= set(s.train_all)
               and not (set(s.valid) & set(s.meta_train)) for s in splits)


def split2_is_valid(splits) -> bool:
    """True when split 2's test block holds the validation rows of split 3 (the paper's
    protocol makes it so); False with fewer than four splits."""
    return bool(len(splits) > 3 and set(splits[3].valid) <= set(splits[2].test_block))


def split_facts(splits, table: pd.DataFrame) -> dict:
    """The numbers the chapter's prose gives about the splits.

    Parameters: ``splits`` (the :class:`splits.Split` list) and ``table`` (their
    :func:`split_table`).  Returns a dict of glue name -> value: the number of splits, the
    test-set sizes (mean, min, max), mean validation and restricted sizes, the meta-training and
    all-training sizes of the first split, "are" / "are NOT" for :func:`splits_disjoint`, the
    number of distinct validation sets and "is" / "is not" for :func:`split2_is_valid`.
    """
    return {"n_splits": len(splits),
            "test_mean": float(table["test"].mean()),
            "test_min": int(table["test"].min()), "test_max": int(table["test"].max()),
            "valid_mean": float(table["validation"].mean()),
            "restricted_mean": float(table["restricted training"].mean()),
            "meta_train": int(table["meta-training"].iloc[0]),
            "all_train": int(table["all training"].iloc[0]),
            "disjoint": "are" if splits_disjoint(splits) else "are NOT",
            "n_valid_sets": len({s.valid_digest() for s in splits}),
            "split2_is_valid": "is" if split2_is_valid(splits) else "is not"}


def add_verdicts(verdicts, faces, splits, table: pd.DataFrame, low: int, high: int) -> dict:
    """Add the chapter's five setup rows to ``verdicts`` (a :class:`verdicts.Verdicts`).

    Parameters: ``faces``, ``splits``, their ``table`` (:func:`split_table`) and the band
    ``low``-``high``.  Returns the judgements by name: ``count``, ``size``, ``range`` (the three
    facts of the data), ``test`` and ``valid``.
    """
    n_images, images = len(faces), faces.images
    out = {"count": verdicts.add("images in the dataset", "§4.1", f"{PAPER_IMAGES:,}", f"{n_images:,}",
                                 is_true(n_images == PAPER_IMAGES, f"count equals {PAPER_IMAGES:,}", count=n_images),
                                 kind="setup")}
    out["size"] = verdicts.add("image size after 5x5 mean pooling", "§4.1", f"{PAPER_SIDE}x{PAPER_SIDE}",
                               f"{images.shape[1]}x{images.shape[2]}",
                               is_true(images.shape[1:3] == (PAPER_SIDE, PAPER_SIDE),
                                       f"pooled side equals {PAPER_SIDE}", side=int(images.shape[1])), kind="setup")
    out["range"] = verdicts.add("pixels normalised to [0, 1]", "§4.1", "0 to 1",
                                f"{images.min():.2f} to {images.max():.2f}",
                                is_true(bool(images.min() >= 0 and images.max() <= 1), "every pixel in [0, 1]",
                                        min=float(images.min()), max=float(images.max())), kind="setup")
    block_sizes = sorted({len(s.test_block) for s in splits})
    out["test"] = verdicts.add("test set: 1,000 random images, then the target ages", "§4.1", "1,000 then ages 14-21",
                               f"blocks of {block_sizes}, {table['test'].mean():.1f} in range (ages {low}-{high})",
                               is_true(block_sizes == [PAPER_BLOCK], "every test block holds 1,000 images",
                                       min_block=min(block_sizes), max_block=max(block_sizes)), kind="setup")
    n_sets = len({s.valid_digest() for s in splits})
    out["valid"] = verdicts.add(
        "validation set: another 1,000, then the target ages", "§4.1", "1,000 then ages 14-21",
        f"{table['validation'].mean():.1f} per split; {n_sets} distinct sets over {len(splits)} splits",
        is_true(splits_disjoint(splits), "validation inside the training rows, outside meta-training and test",
                splits=len(splits)), kind="setup")
    return out


def data_matches(judgements: dict) -> str:
    """"matches" when the three facts of the data (``count``, ``size``, ``range`` of
    :func:`add_verdicts`) all hold, else "does not match"."""
    return "matches" if all(judgements[k].ok for k in ("count", "size", "range")) else "does not match"
