"""The one hasher (cache.digest) keeps the bytes of every cache key: a shipped extractor is found
by a key that hashes its training rows, so a changed byte would orphan every shipped file."""

import hashlib

import numpy as np

from metareweight import cache, experiment, extractor, toys
from metareweight.splits import make_splits


def test_the_digests_keep_their_bytes():
    """Pinned values, computed before the hashers were made one."""
    images = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4) / 7
    rows = extractor._settings(images, np.array([0.2, 0.35]), 1, 2, 1e-4, 0, True)["rows"]
    assert rows == "2df664ca9f8f660339fe005e64163cfab0b1eda50b3eea86347bb734fdb74f75"
    assert toys.arrays_digest(np.arange(6.0).reshape(2, 3), np.array([1, 2])) == \
        "f647803ee9625cccea656b371f5c2283153642c15637060845b6d664ace1ec94"
    split = make_splits(np.arange(60) % 50 + 10, n_splits=2, block=10, val_offset=20)[1]
    assert experiment.rows_digest(split) == "3cdc62ee69753dc3d670cf585ac41f21a17a219b106635a6fb751cf01ce93688"
    assert split.valid_digest() == "6cc16abd70eefb90dc0ba0d14fb088630873b2c6ad943f7442356735984c35a3"
    assert cache.key_of({"a": 1, "b": [1, 2]}) == "e6f20bdc3757e5e7be4e316d"


def test_digest_is_sha256_of_the_concatenated_chunks(tmp_path):
    a = np.arange(5, dtype=np.int64)
    assert cache.digest(a, b"|", b"x") == hashlib.sha256(a.tobytes() + b"|x").hexdigest()
    path = tmp_path / "f.bin"
    path.write_bytes(b"\0" * (3 << 20) + b"tail")  # more than one 1 MiB chunk
    assert cache.file_digest(path) == hashlib.sha256(path.read_bytes()).hexdigest()
