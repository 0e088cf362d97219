"""The on-disk cache: its folder, atomic writes, and memoised results keyed by their inputs.

Everything is written to a temporary file in the target folder and renamed, so an interrupted
run never leaves a half-written entry; an entry that cannot be read back is recomputed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .settings import cache_root, fresh


def cache_dir() -> Path:
    """Cache folder: ``$METAREWEIGHT_CACHE``, else ``$XDG_CACHE_HOME/metareweight``, else
    ``~/.cache/metareweight``.  Never inside the repository or the shared data folder."""
    path = cache_root()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``; remove the temporary file on error.

    The file ends with the permissions a newly created file gets (0666 less the umask), not
    the 0600 of the temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def digest(*chunks) -> str:
    """The one hasher of the package: sha256 (hex) of ``chunks`` in order, each bytes or a
    C-contiguous array (hashed as its raw bytes, without a copy)."""
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()


def file_digest(path) -> str:
    """sha256 (hex) of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def key_of(spec: dict) -> str:
    """A short stable hash of a JSON-serialisable description of the inputs."""
    return digest(json.dumps(spec, sort_keys=True).encode())[:24]


def finite_or_null(value):
    """``value`` with numpy scalars as Python numbers and every NaN or infinity as None, so the
    record is valid JSON (``json.dumps`` would write the non-standard ``NaN``)."""
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [finite_or_null(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def write_json(path: Path, record: dict, indent: int = 1) -> Path:
    """Write a record as indented JSON (numpy scalars as numbers, NaN and infinities as null),
    atomically; return the path."""
    text = json.dumps(finite_or_null(record), indent=indent, default=float, allow_nan=False) + "\n"
    atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text))
    return Path(path)


def save_entry(path: Path, arrays: dict, info: dict) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, info=np.array(json.dumps(info)), **arrays)

    def write(tmp):
        Path(tmp).write_bytes(buffer.getvalue())

    atomic_write(path, write)


def load_entry(path: Path):
    """(arrays, info) from ``path``, or None when it is missing, truncated or foreign."""
    if not Path(path).exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            info = json.loads(str(npz["info"]))
            arrays = {k: npz[k] for k in npz.files if k != "info"}
        return arrays, info
    except Exception:
        return None


class CacheMiss(LookupError):
    """Raised within :func:`hits_only` where a result is not cached and would be computed."""


_HITS_ONLY = False


@contextmanager
def hits_only():
    """A context in which :func:`memo` only reads: an entry that is not in the cache raises
    :class:`CacheMiss` instead of being computed (as does an extractor that would be trained).
    ``pool.parallel`` uses it to read cached runs in the calling process and start worker
    processes only for the others."""
    global _HITS_ONLY
    saved, _HITS_ONLY = _HITS_ONLY, True
    try:
        yield
    finally:
        _HITS_ONLY = saved


def refuse_to_compute(what: str) -> None:
    """Raise :class:`CacheMiss` for ``what`` within :func:`hits_only`; nothing otherwise."""
    if _HITS_ONLY:
        raise CacheMiss(what)


def memo(namespace: str, spec: dict, compute, *, use_cache: bool = True):
    """``compute()`` -> (arrays, info), cached under ``namespace`` by the inputs in ``spec``."""
    path = cache_dir() / namespace / f"{key_of(spec)}.npz"
    if use_cache and not fresh():  # FRESH=1 recomputes
        hit = load_entry(path)
        if hit is not None:
            return hit
    refuse_to_compute(f"{namespace}/{path.name}")
    started = time.perf_counter()
    arrays, info = compute()
    # the cost of computing it, kept with the entry: records report this, never a cache hit's time
    info = {**info, "cold_seconds": info.get("cold_seconds", time.perf_counter() - started)}
    if use_cache:
        save_entry(path, arrays, info)
    return arrays, info
