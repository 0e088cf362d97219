"""The paper's split protocol (Section 4.1, made exact in ``REPRODUCTION_NOTES.md``).

Rows are indexed in sorted file-name order.  One permutation ``RandomState(seed)`` of all rows;
split ``k`` takes the k-th consecutive block of ``block`` permuted rows as its test block, keeps
the rows in the target range as the test set; of the remaining rows (in permuted order) the block
at positions ``val_offset`` to ``val_offset + block - 1``, restricted to the range, is the
validation set, and the other rows are the meta-training rows.

Under that protocol the validation block is the same rows for many splits: positions 2,000-2,999
of the rest are permuted rows 3,000-3,999 for splits 0-2 and permuted rows 2,000-2,999 for splits
3-7, so the 8 splits use 2 validation sets, and split 2's test block is the validation block of
splits 3-7.  ``protocol="independent"`` draws each split's validation block instead from its own
non-test rows, at random with a split-specific seed; the test blocks and the training rows of
the extractor (``train_all``, in the same order) are those of the paper's protocol.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cache import digest

PROTOCOLS = ("paper", "independent")


class SplitError(ValueError):
    """A split cannot be formed (too few rows, or an empty target set)."""


@dataclass(frozen=True)
class Split:
    """Row indices of one train/test split (int64, in the permuted order of the protocol).

    The order matters: the extractor is trained on ``train_all`` in this order, in fixed
    mini-batches (sorted file names would group the batches by age).

    Attributes
    ----------
    index : int
    test : rows of the test block inside the target range
    test_block : the whole test block (all ages)
    train_all : every row outside the test block (the *All* baseline, the extractor's data)
    train_restricted : ``train_all`` inside the target range (the *Restricted* baseline)
    valid : the validation block inside the target range (the meta step's validation set)
    meta_train : ``train_all`` minus the whole validation block (rows weighted by the meta step)
    """

    index: int
    test: np.ndarray
    test_block: np.ndarray
    train_all: np.ndarray
    train_restricted: np.ndarray
    valid: np.ndarray
    meta_train: np.ndarray

    def valid_digest(self) -> str:
        """sha256 of the validation rows (int64 indices in order): equal digests, same set."""
        return digest(np.ascontiguousarray(self.valid, dtype=np.int64))

    def sizes(self) -> dict:
        return {
            "split": self.index,
            "test": len(self.test),
            "validation": len(self.valid),
            "restricted training": len(self.train_restricted),
            "meta-training": len(self.meta_train),
            "all training": len(self.train_all),
        }


def in_range(ages: np.ndarray, low: int, high: int) -> np.ndarray:
    """Boolean mask of ages in ``[low, high]`` (both inclusive)."""
    ages = np.asarray(ages)
    return (ages >= low) & (ages <= high)


def make_splits(
    ages,
    *,
    n_splits: int = 8,
    low: int = 14,
    high: int = 21,
    seed: int = 0,
    block: int = 1000,
    val_offset: int = 2000,
    protocol: str = "paper",
) -> list[Split]:
    """The ``n_splits`` splits for the target range ``[low, high]``: the paper's protocol, or
    with ``protocol="independent"`` a validation block of ``block`` rows drawn for each split
    from its own non-test rows (generator seeded by ``(seed, k)``)."""
    if protocol not in PROTOCOLS:
        raise SplitError(f"unknown split protocol {protocol!r}; choose one of {PROTOCOLS}")
    ages = np.asarray(ages)
    n = len(ages)
    if n_splits * block > n or val_offset + block > n - block:
        raise SplitError(
            f"{n} rows are too few for {n_splits} test blocks of {block} and a validation block "
            f"at positions {val_offset}-{val_offset + block - 1} of the rest"
        )
    target = in_range(ages, low, high)
    if not target.any():
        raise SplitError(f"no rows have ages in the target range {low}-{high}")
    perm = np.random.RandomState(seed).permutation(n)
    splits = []
    for k in range(n_splits):
        test_block = perm[k * block:(k + 1) * block]
        rest = np.concatenate([perm[: k * block], perm[(k + 1) * block:]])
        if protocol == "paper":
            in_val = np.zeros(len(rest), dtype=bool)
            in_val[val_offset:val_offset + block] = True
        else:
            in_val = np.zeros(len(rest), dtype=bool)
            in_val[np.random.default_rng([seed, k]).choice(len(rest), size=block, replace=False)] = True
        val_block, meta_train = rest[in_val], rest[~in_val]
        test = test_block[target[test_block]]
        valid = val_block[target[val_block]]
        if len(test) == 0:
            raise SplitError(f"split {k}: no test rows have ages in {low}-{high}")
        if len(valid) == 0:
            raise SplitError(f"split {k}: the validation set is empty for ages {low}-{high}")
        splits.append(
            Split(
                index=k,
                test=test,
                test_block=test_block,
                train_all=rest,
                train_restricted=rest[target[rest]],
                valid=valid,
                meta_train=meta_train,
            )
        )
    return splits
