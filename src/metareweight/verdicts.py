"""Computed verdicts: every "holds" of the book comes from a criterion evaluated on measurements.

A verdict row is (claim, paper section, paper value, ours, criterion, holds).  ``holds`` is one
of ``yes``, ``no``, ``partly`` or ``untested`` and can only be produced by the criterion helpers
below (:func:`at_most`, :func:`at_least`, :func:`fraction`, ...), which also write the criterion's
text from the same numbers, so the wording can never drift from the computation.
:meth:`Verdicts.add` refuses a plain string or bool, and a test scans the chapters for typed
verdicts.  Each chapter writes its rows to ``<results>/verdicts/<chapter>.json``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .records import write_json

OUTCOMES = ("yes", "no", "partly", "untested")


@dataclass(frozen=True)
class Judgement:
    """The outcome of a criterion on measured values; build it with the helpers of this module."""

    holds: str
    criterion: str
    values: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.holds not in OUTCOMES:
            raise ValueError(f"holds must be one of {OUTCOMES}, got {self.holds!r}")

    def word(self, yes: str, no: str, partly: str | None = None, untested: str = "was not tested") -> str:
        """The wording that matches the outcome (for glued prose)."""
        return {"yes": yes, "no": no, "partly": partly or no, "untested": untested}[self.holds]

    @property
    def ok(self) -> bool:
        return self.holds == "yes"


def _fmt(x) -> str:
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        return f"{x:.3g}" if abs(x) < 1e4 else f"{x:,.0f}"
    return str(x)


def _finite(*values):
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def at_most(value: float, bound: float, *, name: str = "ours") -> Judgement:
    """yes when ``value <= bound``."""
    if not _finite(value, bound):
        return untested(f"{name} is not finite")
    return Judgement("yes" if value <= bound else "no", f"{name} ({_fmt(value)}) ≤ {_fmt(bound)}",
                     {"value": value, "bound": bound})


def at_least(value: float, bound: float, *, name: str = "ours") -> Judgement:
    """yes when ``value >= bound``."""
    if not _finite(value, bound):
        return untested(f"{name} is not finite")
    return Judgement("yes" if value >= bound else "no", f"{name} ({_fmt(value)}) ≥ {_fmt(bound)}",
                     {"value": value, "bound": bound})


def below(value: float, bound: float, *, name: str = "ours") -> Judgement:
    """yes when ``value < bound`` (strictly)."""
    if not _finite(value, bound):
        return untested(f"{name} is not finite")
    return Judgement("yes" if value < bound else "no", f"{name} ({_fmt(value)}) < {_fmt(bound)}",
                     {"value": value, "bound": bound})


def above(value: float, bound: float, *, name: str = "ours") -> Judgement:
    """yes when ``value > bound`` (strictly)."""
    if not _finite(value, bound):
        return untested(f"{name} is not finite")
    return Judgement("yes" if value > bound else "no", f"{name} ({_fmt(value)}) > {_fmt(bound)}",
                     {"value": value, "bound": bound})


def between(value: float, low: float, high: float, *, name: str = "ours") -> Judgement:
    """yes when ``low <= value <= high``."""
    if not _finite(value, low, high):
        return untested(f"{name} is not finite")
    return Judgement("yes" if low <= value <= high else "no",
                     f"{_fmt(low)} ≤ {name} ({_fmt(value)}) ≤ {_fmt(high)}",
                     {"value": value, "low": low, "high": high})


def fraction(k: int, n: int, *, yes_at: float, partly_at: float | None = None, what: str = "splits") -> Judgement:
    """yes when ``k / n >= yes_at``; partly when ``k / n >= partly_at`` (if given); else no."""
    if n <= 0:
        return untested(f"no {what}")
    share = k / n
    holds = "yes" if share >= yes_at else ("partly" if partly_at is not None and share >= partly_at else "no")
    text = f"{k} of {n} {what} ({share:.0%}) ≥ {yes_at:.0%}"
    if partly_at is not None:
        text += f" (partly: ≥ {partly_at:.0%})"
    return Judgement(holds, text, {"k": k, "n": n, "yes_at": yes_at, "partly_at": partly_at})


def interval_below(low: float, high: float, bound: float = 0.0, *, name: str = "95% CI") -> Judgement:
    """yes when the whole interval lies below ``bound``; partly when it straddles; no above."""
    if not _finite(low, high, bound):
        return untested(f"{name} is not finite")
    holds = "yes" if high < bound else ("no" if low >= bound else "partly")
    return Judgement(holds, f"{name} [{_fmt(low)}, {_fmt(high)}] entirely < {_fmt(bound)} (partly: straddles)",
                     {"low": low, "high": high, "bound": bound})


def interval_above(low: float, high: float, bound: float = 0.0, *, name: str = "95% CI") -> Judgement:
    """yes when the whole interval lies above ``bound``; partly when it straddles; no below."""
    if not _finite(low, high, bound):
        return untested(f"{name} is not finite")
    holds = "yes" if low > bound else ("no" if high <= bound else "partly")
    return Judgement(holds, f"{name} [{_fmt(low)}, {_fmt(high)}] entirely > {_fmt(bound)} (partly: straddles)",
                     {"low": low, "high": high, "bound": bound})


def is_true(condition: bool, criterion: str, **values) -> Judgement:
    """yes when a computed boolean ``condition`` holds; ``criterion`` says what it tests and
    ``values`` the numbers it was computed from (recorded, and required)."""
    if not values:
        raise ValueError("is_true needs the measured values the condition was computed from")
    if not isinstance(condition, bool | int) and not hasattr(condition, "__bool__"):
        raise TypeError("is_true needs a computed condition")
    shown = ", ".join(f"{k} = {_fmt(v)}" for k, v in values.items())
    return Judgement("yes" if bool(condition) else "no", f"{criterion} ({shown})",
                     {k: v for k, v in values.items() if isinstance(v, int | float | str | bool)})


def all_of(*judgements: Judgement) -> Judgement:
    """yes when all hold, no when none does, partly otherwise (untested ones are skipped)."""
    tested = [j for j in judgements if j.holds != "untested"]
    if not tested:
        return untested("none of the criteria could be evaluated")
    n_yes = sum(j.holds == "yes" for j in tested)
    holds = "yes" if n_yes == len(tested) else ("no" if n_yes == 0 and all(j.holds == "no" for j in tested)
                                                else "partly")
    return Judgement(holds, " and ".join(j.criterion for j in judgements))


def untested(reason: str) -> Judgement:
    """The claim could not be tested here; ``reason`` says why."""
    return Judgement("untested", reason)


@dataclass
class Row:
    claim: str
    section: str
    paper: str
    ours: str
    criterion: str
    holds: str
    values: dict


class Verdicts:
    """The verdict table of one chapter."""

    def __init__(self, chapter: str, title: str = ""):
        self.chapter, self.title, self.rows, self.extra = chapter, title, [], {}

    def add(self, claim: str, section: str, paper: str, ours: str, judgement: Judgement) -> Judgement:
        """Add a row; ``judgement`` must come from a criterion helper (never a typed outcome)."""
        if not isinstance(judgement, Judgement):
            raise TypeError(f"verdict {claim!r}: holds must be computed by a criterion "
                            f"(metareweight.verdicts), not given as {type(judgement).__name__} {judgement!r}")
        self.rows.append(Row(claim, section, str(paper), str(ours), judgement.criterion, judgement.holds,
                             judgement.values))
        return judgement

    def frame(self):
        """The table as a DataFrame: claim, paper section, paper value, ours, criterion, holds."""
        import pandas as pd

        return pd.DataFrame([{"claim": r.claim, "paper §": r.section, "paper": r.paper, "ours": r.ours,
                              "criterion": r.criterion, "holds": r.holds} for r in self.rows])

    def save(self, folder: Path, run: dict | None = None) -> Path:
        """Write ``<folder>/verdicts/<chapter>.json`` atomically, with ``run`` (the chapter's
        :func:`runconfig.record`) and the records given to :meth:`attach`."""
        path = Path(folder) / "verdicts" / f"{self.chapter}.json"
        payload = {"chapter": self.chapter, "title": self.title, "rows": [asdict(r) for r in self.rows],
                   "config": run or {}, **self.extra}
        return write_json(path, payload)

    def attach(self, **records) -> None:
        """Extra records saved with the verdicts (e.g. ``h1_counterexample``, ``cold_seconds``)."""
        self.extra = {**self.extra, **records}


def read_all(folder: Path) -> list[dict]:
    """Every chapter's verdict file under ``<folder>/verdicts`` (sorted by chapter name)."""
    return [json.loads(p.read_text()) for p in sorted((Path(folder) / "verdicts").glob("*.json"))]
