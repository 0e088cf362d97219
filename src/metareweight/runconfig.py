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


def rerun_command(cfg: Config, chapter: str) -> tuple[str, str]:
    """The command that reruns ``chapter`` with this run's profile and overrides, and the same
    with one of its declared settings changed: a seed (``*_seed``, plus one, always a valid
    value), or else the first declared setting, at its own value, to show the form."""
    base = f"python -m metareweight.runbook --profile {cfg['profile']} --only {chapter or '<chapter>'}"
    overrides = current_overrides(cfg)
    given = "".join(f" -p {k} {v}" for k, v in sorted(overrides.items()))
    declared = sorted(k for k in cfg.declared if k != "profile" and k not in overrides)
    seeds = [k for k in declared if k.endswith("_seed")]
    if seeds:
        example = f" -p {seeds[0]} {dict.__getitem__(cfg, seeds[0]) + 1}"
    elif declared:
        example = f" -p {declared[0]} {dict.__getitem__(cfg, declared[0])}"
    else:
        example = ""
    return base + given, base + given + example


def rerun_box(cfg: Config):
    """The box that ends every chapter: how to rerun it, and how to rerun it with a setting
    changed (into ``results/<profile>-<hash>/``, never over the book's records)."""
    from IPython.display import HTML

    from .settings import chapter

    plain, changed = rerun_command(cfg, chapter())
    return HTML('<div class="admonition tip"><p class="admonition-title">Rerun this chapter</p>'
                f"<p>From the repository root, with <code>UTKFACE</code> set:</p><pre>{html.escape(plain)}</pre>"
                "<p>With a setting changed (any setting in the box at the top; the records go to "
                f"<code>results/&lt;profile&gt;-&lt;hash&gt;/</code>, never over the book's):</p>"
                f"<pre>{html.escape(changed)}</pre></div>")


def export(path: str | Path, cfg: Config | None) -> None:
    """Write ``{"config": record, "read": settings read}`` for the runbook (atomically)."""
    payload = {"config": record(cfg) if cfg is not None else _data(), "read": sorted(settings_read())}
    write_json(Path(path), payload)
