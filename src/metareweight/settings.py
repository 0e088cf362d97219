"""Every setting the environment gives the package, read here and nowhere else (a leaf module).

=========================  ===================================================================
``UTKFACE``                the dataset (a ``.tar.gz`` or its extracted folder); unset: stand-in
``AUTHORS_MODELS``         the folder of the authors' trained extractors (their ``models/``)
``METAREWEIGHT_CACHE``     the cache folder (default ``$XDG_CACHE_HOME/metareweight``)
``METAREWEIGHT_FRESH``     ``1``: recompute everything, use no shipped extractor or cached run
``METAREWEIGHT_SHIPPED``   another folder of shipped extractors (tests)
``METAREWEIGHT_JOBS``      worker processes for independent runs (``make book JOBS=N``)
``METAREWEIGHT_PROFILE``   the profile of a notebook whose ``profile`` parameter is ``None``
``METAREWEIGHT_ROOT``      the repository, set by the runbook for the kernels it starts
``METAREWEIGHT_CHAPTER``   the chapter running, set by the runbook (prefix of progress lines)
``METAREWEIGHT_OVERRIDES`` the overrides of the whole run (JSON), set by the runbook
=========================  ===================================================================
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

DATA_ENV = "UTKFACE"
AUTHORS_ENV = "AUTHORS_MODELS"
CACHE_ENV = "METAREWEIGHT_CACHE"
FRESH_ENV = "METAREWEIGHT_FRESH"
SHIPPED_ENV = "METAREWEIGHT_SHIPPED"
JOBS_ENV = "METAREWEIGHT_JOBS"
PROFILE_ENV = "METAREWEIGHT_PROFILE"
ROOT_ENV = "METAREWEIGHT_ROOT"
CHAPTER_ENV = "METAREWEIGHT_CHAPTER"
OVERRIDES_ENV = "METAREWEIGHT_OVERRIDES"

#: The repository this package was installed from (an editable install: ``src/metareweight``).
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def _get(name: str) -> str:
    return os.environ.get(name, "") or ""


def data_path() -> str | None:
    """``$UTKFACE``, or None when unset or empty (the book then runs on the stand-in)."""
    return _get(DATA_ENV) or None


def authors_models() -> str | None:
    """``$AUTHORS_MODELS``, or None when unset or empty."""
    return _get(AUTHORS_ENV) or None


def cache_root() -> Path:
    """``$METAREWEIGHT_CACHE``, else ``$XDG_CACHE_HOME/metareweight``, else ``~/.cache/metareweight``."""
    root = _get(CACHE_ENV)
    if root:
        return Path(root)
    return Path(_get("XDG_CACHE_HOME") or Path.home() / ".cache") / "metareweight"


def fresh() -> bool:
    """True when this run recomputes everything from scratch (``make book FRESH=1``)."""
    return _get(FRESH_ENV) not in ("", "0")


def shipped_dir() -> Path:
    """The folder of shipped extractors: ``$METAREWEIGHT_SHIPPED``, else ``results/paper/extractors``
    of the repository."""
    folder = _get(SHIPPED_ENV)
    return Path(folder) if folder else PACKAGE_ROOT / "results" / "paper" / "extractors"


def jobs() -> int:
    """Worker processes for independent runs: ``$METAREWEIGHT_JOBS``, else 1."""
    text = _get(JOBS_ENV) or "1"
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{JOBS_ENV}={text!r}: the number of jobs must be a positive integer")
    return int(text)


def profile_env() -> str | None:
    """``$METAREWEIGHT_PROFILE``, or None."""
    return _get(PROFILE_ENV) or None


def chapter() -> str:
    """The chapter the runbook is running (empty outside a run)."""
    return _get(CHAPTER_ENV)


def overrides_text() -> str | None:
    """The run's overrides as the runbook wrote them (JSON), or None."""
    return _get(OVERRIDES_ENV) or None


def repo_root(start: Path | None = None) -> Path:
    """The folder holding ``_toc.yml``: ``$METAREWEIGHT_ROOT`` (set by the runbook), else searched
    upwards from ``start`` (default: cwd)."""
    if start is None and _get(ROOT_ENV):
        return Path(_get(ROOT_ENV))
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").exists():
            return folder
    raise FileNotFoundError(f"no _toc.yml found above {here}: run from inside the repository")


@contextmanager
def environment(**values: str):
    """A context in which the named variables hold ``values`` (restored, or removed, after)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def repository_url(root: Path | None = None) -> str:
    """This project's repository, from the one setting ``repository.url`` in ``_config.yml``
    (empty when the book has no public home yet)."""
    import yaml

    path = (repo_root() if root is None else Path(root)) / "_config.yml"
    config = yaml.safe_load(path.read_text()) or {}
    url = (config.get("repository") or {}).get("url") or ""
    if url and not str(url).startswith(("https://", "http://")):
        raise ValueError(f"{path}: repository.url must be an http(s) address, got {url!r}")
    return str(url)


def toc_pages(toc_file: Path) -> list[str]:
    """The documents of a Jupyter Book 1.x ``_toc.yml`` (the root first), in reading order."""
    import yaml

    toc = yaml.safe_load(Path(toc_file).read_text())
    if not isinstance(toc, dict) or "root" not in toc:
        raise ValueError(f"{toc_file}: not a Jupyter Book table of contents (no 'root')")
    found = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                found.append(node["file"])
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk({k: v for k, v in toc.items() if k in ("parts", "chapters", "sections")})
    return [str(Path(f).with_suffix("")) for f in found]
