"""Live progress on the terminal that started a run (a leaf module).

The core takes progress as a callable (or a :class:`Progress`), so nothing below the book's
machinery needs to know how a run is reported.  Lines go to the process's original stderr,
never into a notebook, so the HTML shows no progress bars.
"""

from __future__ import annotations

import sys
import time

from .settings import chapter


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
    name = chapter()
    stream = sys.__stderr__ or sys.stderr
    stream.write(f"  [{name}] {message}\n" if name else f"  {message}\n")
    stream.flush()
