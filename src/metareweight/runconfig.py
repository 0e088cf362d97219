"""What one run of a chapter used: its settings, data, results folder and live progress.

* :func:`record` is the chapter's resolved settings with the profile and the data checksum; it
  goes into every record the chapter writes, into the "Settings of this run" box
  (:func:`settings_box`) and, through :func:`export` (called by the runbook after the last
  cell), into the executed notebook's metadata under ``metareweight``.
* :func:`results_dir` is ``results/<profile>`` for a run with the profile's defaults and
  ``results/<profile>-<hash of the overrides>`` for any other, so that an experiment never
  overwrites the book's committed records.
* :class:`Progress` writes live progress lines to the terminal that started the run (the
  kernel's original stderr), never into the notebook, so the HTML shows no progress bars.
"""

from __future__ import annotations

import html
import json
import os
import sys
import time
from pathlib import Path

from .cache import atomic_write, key_of
from .profiles import Config, settings_read

#: Set by the runbook: the overrides of the whole run (JSON), the chapter's name.
OVERRIDES_ENV = "METAREWEIGHT_OVERRIDES"
CHAPTER_ENV = "METAREWEIGHT_CHAPTER"

_DATA: dict = {}


def note_data(checksum: str, source: str) -> None:
    """Remember which data this process loaded (called by :func:`data.load_dataset`)."""
    _DATA.update({"data_sha256": checksum, "data_source": source})


def current_overrides(cfg: Config) -> dict:
    """The overrides of the run: the runbook's (all chapters of one run share them), else the
    chapter's own explicit values that differ from the profile."""
    text = os.environ.get(OVERRIDES_ENV)
    if text:
        return json.loads(text)
    return dict(getattr(cfg, "overrides", {}))


def run_tag(profile: str, overrides: dict) -> str:
    """``paper`` for the profile's defaults, ``paper-<8 hex>`` for a run with overrides."""
    return profile if not overrides else f"{profile}-{key_of(overrides)[:8]}"


def results_dir(cfg: Config, root: Path | None = None) -> Path:
    """Folder for this run's records (see the module docstring)."""
    from .runbook import repo_root

    root = repo_root() if root is None else Path(root)
    return root / "results" / run_tag(cfg["profile"], current_overrides(cfg))


def record(cfg: Config) -> dict:
    """The chapter's settings as recorded everywhere: profile, declared settings (resolved),
    the overrides of the run, and the data it loaded."""
    return {"profile": dict.__getitem__(cfg, "profile"), "settings": cfg.settings(),
            "overrides": current_overrides(cfg), **_DATA}


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
    payload = {"config": record(cfg) if cfg is not None else dict(_DATA), "read": sorted(settings_read())}
    atomic_write(Path(path), lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=1)))


class Progress:
    """Live progress of a long loop on the terminal: a line at most every ``interval`` seconds
    and one at the end, prefixed with the chapter's name.  Silent when ``enabled`` is False.

    ``update(done, **values)`` reports ``done`` of ``total`` units with values such as a loss.
    """

    def __init__(self, what: str, total: int, *, interval: float = 20.0, enabled: bool = True, unit: str = ""):
        self.what, self.total, self.interval, self.enabled, self.unit = what, total, interval, enabled, unit
        self.started = self.last = time.perf_counter()

    def update(self, done: int, **values) -> None:
        now = time.perf_counter()
        if not self.enabled or (done < self.total and now - self.last < self.interval):
            return
        self.last = now
        elapsed = now - self.started
        eta = elapsed / done * (self.total - done) if done else float("nan")
        shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items())
        left = "done" if done >= self.total else f"~{eta / 60:.1f} min left"
        log(f"{self.what}: {self.unit}{done}/{self.total}{', ' + shown if shown else ''} ({left})")


def log(message: str) -> None:
    """One progress line on the terminal that started the run (not in the notebook)."""
    chapter = os.environ.get(CHAPTER_ENV, "")
    stream = sys.__stderr__ or sys.stderr
    stream.write(f"  [{chapter}] {message}\n" if chapter else f"  {message}\n")
    stream.flush()
