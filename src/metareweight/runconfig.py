"""What one run of a chapter used: its settings, data, results folder and live progress.

* :func:`record` is the chapter's resolved settings with the profile and the data checksum; it
  goes into every record the chapter writes, into the "Settings of this run" box
  (:func:`settings_box`) and, through :func:`export` (called by the runbook after the last
  cell), into the executed notebook's metadata under ``metareweight``.
* :func:`results_dir` is ``results/<profile>`` for a run with the profile's defaults and
  ``results/<profile>-<hash of the overrides>`` for any other, so that an experiment never
  overwrites the book's committed records.

Live progress is :mod:`metareweight.progress`.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from . import data
from .cache import key_of, write_json
from .profiles import Config, settings_read
from .settings import overrides_text, repo_root


def _data() -> dict:
    """Which data this process loaded (:func:`data.loaded`), as the records name it."""
    return {f"data_{k}": v for k, v in data.loaded().items()}


def current_overrides(cfg: Config) -> dict:
    """The overrides of the run: the runbook's (all chapters of one run share them), else the
    chapter's own explicit values that differ from the profile."""
    text = overrides_text()
    if text:
        return json.loads(text)
    return dict(getattr(cfg, "overrides", {}))


def run_tag(profile: str, overrides: dict) -> str:
    """``paper`` for the profile's defaults, ``paper-<8 hex>`` for a run with overrides."""
    return profile if not overrides else f"{profile}-{key_of(overrides)[:8]}"


def results_dir(cfg: Config, root: Path | None = None) -> Path:
    """Folder for this run's records (see the module docstring)."""
    root = repo_root() if root is None else Path(root)
    return root / "results" / run_tag(cfg["profile"], current_overrides(cfg))


def record(cfg: Config) -> dict:
    """The chapter's settings as recorded everywhere: profile, declared settings (resolved),
    the overrides of the run, and the data it loaded."""
    return {"profile": dict.__getitem__(cfg, "profile"), "settings": cfg.settings(),
            "overrides": current_overrides(cfg), **_data()}


def settings_box(cfg: Config):
    """A collapsed HTML box listing :func:`record` (shown near the top of every chapter)."""
    from IPython.display import HTML

    rec = record(cfg)
    rows = [("profile", rec["profile"])] + sorted(rec["settings"].items())
    if "data_sha256" in rec:
        rows += [("data", rec["data_source"]), ("data sha256", rec["data_sha256"][:16] + "…")]
    rows.append(("overrides", ", ".join(f"{k}={v}" for k, v in rec["overrides"].items()) or "none"))
    body = "".join(f"<tr><td><code>{html.escape(str(k))}</code></td><td>{html.escape(str(v))}</td></tr>"
                   for k, v in rows)
    return HTML(f'<details class="settings-box"><summary>Settings of this run</summary>'
                f'<table class="table">{body}</table></details>')


def export(path: str | Path, cfg: Config | None) -> None:
    """Write ``{"config": record, "read": settings read}`` for the runbook (atomically)."""
    payload = {"config": record(cfg) if cfg is not None else _data(), "read": sorted(settings_read())}
    write_json(Path(path), payload)
