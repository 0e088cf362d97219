"""Computed verdicts: every "holds" of the book comes from a criterion evaluated on measurements.

A verdict row is (kind, claim, paper section, paper value, ours, criterion, holds).  ``holds`` is
one of ``yes``, ``no``, ``partly``, ``indistinguishable`` or ``untested`` and can only be
produced by the criterion helpers below (:func:`at_most`, :func:`agrees_with`,
:func:`paired_comparison`, ...), which also write the criterion's text from the same numbers, so
the wording can never drift from the computation.

``kind`` says what a row tests (:data:`KINDS`): ``setup`` (our configuration matches the paper's
description), ``correctness`` (our code computes what it says), ``claim`` (an empirical claim of
the paper; the report's headline counts these only, one row per claim and pixel convention) or
``beyond`` (a question the paper did not ask, robustness checks included).
:meth:`Verdicts.add` refuses a plain string or bool, and a test scans the chapters for typed
verdicts.  Each chapter writes its rows to ``<results>/verdicts/<chapter>.json``.

Each row also records its ``margin``: how far the decisive number sits from the criterion's
threshold, relative (``|x - t| / max(|x|, |t|)``; for an interval against a bound, the distance of
its nearer end in interval widths; for a p-value, ``|p - ALPHA| / ALPHA``; the smallest of these
where several thresholds decide).  A margin below the tolerance of ``make verify`` marks a verdict
that could flip on another machine.  Counts and booleans have no margin (None): they change only
when a measured number crosses a threshold of its own.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .cache import write_json

OUTCOMES = ("yes", "no", "partly", "indistinguishable", "untested")
KINDS = ("setup", "correctness", "claim", "beyond")
#: Family-wise level of the tests of one chapter's family (Holm, :func:`paired_comparison`).
ALPHA = 0.05
#: A comparison over splits needs at least this many usable (non-degenerate) splits.
MIN_SPLITS = 5


@dataclass(frozen=True)
class Judgement:
    """The outcome of a criterion on measured values; build it with the helpers of this module."""

    holds: str
    criterion: str
    values: dict = field(default_factory=dict)
    margin: float | None = None

    def __post_init__(self):
        if self.holds not in OUTCOMES:
            raise ValueError(f"holds must be one of {OUTCOMES}, got {self.holds!r}")

    def word(self, yes: str, no: str, partly: str | None = None, untested: str = "was not tested",
             indistinguishable: str = "cannot be told apart") -> str:
        """The wording that matches the outcome (for glued prose)."""
        return {"yes": yes, "no": no, "partly": partly or no, "untested": untested,
                "indistinguishable": indistinguishable}[self.holds]

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


def relative_gap(value: float, threshold: float) -> float | None:
    """``|value - threshold| / max(|value|, |threshold|)``: the relative change of the number
    that would carry it onto the threshold.  None when both are 0 (a count of 0 against "> 0"
    has no relative distance; it changes only when something is counted)."""
    scale = max(abs(value), abs(threshold))
    return None if scale == 0 else abs(value - threshold) / scale


def interval_gap(low: float, high: float, bound: float) -> float:
    """Distance of the interval's nearer end from ``bound``, in interval widths (0 for a
    zero-width interval on the bound, inf for a zero-width interval off it)."""
    gap = min(abs(low - bound), abs(high - bound))
    width = high - low
    return gap / width if width > 0 else (0.0 if gap == 0 else math.inf)


def smallest(*margins) -> float | None:
    """The smallest of the margins that are not None (None when all are)."""
    known = [m for m in margins if m is not None]
    return min(known) if known else None


def at_most(value: float, bound: float, *, name: str = "ours") -> Judgement:
    """yes when ``value <= bound``."""
    if not _finite(value, bound):
        return untested(f"{name} is not finite")
    return Judgement("yes" if value <= bound else "no", f"{name} ({_fmt(value)}) ≤ {_fmt(bound)}",
                     {"value": value, "bound": bound}, relative_gap(value, bound))


def at_least(value: float, bound: float, *, name: str = "ours") -> Judgement:
    """yes when ``value >= bound``."""
    if not _finite(value, bound):
        return untested(f"{name} is not finite")
    return Judgement("yes" if value >= bound else "no", f"{name} ({_fmt(value)}) ≥ {_fmt(bound)}",
                     {"value": value, "bound": bound}, relative_gap(value, bound))


def below(value: float, bound: float, *, name: str = "ours") -> Judgement:
    """yes when ``value < bound`` (strictly)."""
    if not _finite(value, bound):
        return untested(f"{name} is not finite")
    return Judgement("yes" if value < bound else "no", f"{name} ({_fmt(value)}) < {_fmt(bound)}",
                     {"value": value, "bound": bound}, relative_gap(value, bound))


def above(value: float, bound: float, *, name: str = "ours") -> Judgement:
    """yes when ``value > bound`` (strictly)."""
    if not _finite(value, bound):
        return untested(f"{name} is not finite")
    return Judgement("yes" if value > bound else "no", f"{name} ({_fmt(value)}) > {_fmt(bound)}",
                     {"value": value, "bound": bound}, relative_gap(value, bound))


def between(value: float, low: float, high: float, *, name: str = "ours") -> Judgement:
    """yes when ``low <= value <= high``."""
    if not _finite(value, low, high):
        return untested(f"{name} is not finite")
    return Judgement("yes" if low <= value <= high else "no",
                     f"{_fmt(low)} ≤ {name} ({_fmt(value)}) ≤ {_fmt(high)}",
                     {"value": value, "low": low, "high": high},
                     smallest(relative_gap(value, low), relative_gap(value, high)))


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


def interval_above(low: float, high: float, bound: float = 0.0, *, name: str = "95% CI") -> Judgement:
    """yes when the whole interval lies above ``bound``; partly when it straddles; no below."""
    if not _finite(low, high, bound):
        return untested(f"{name} is not finite")
    holds = "yes" if low > bound else ("no" if high <= bound else "partly")
    return Judgement(holds, f"{name} [{_fmt(low)}, {_fmt(high)}] entirely > {_fmt(bound)} (partly: straddles)",
                     {"low": low, "high": high, "bound": bound}, interval_gap(low, high, bound))


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
    """yes when all hold; partly when some do; otherwise no when any says no, else
    indistinguishable (untested ones are skipped)."""
    tested = [j for j in judgements if j.holds != "untested"]
    if not tested:
        return untested("none of the criteria could be evaluated")
    outcomes = [j.holds for j in tested]
    holds = ("yes" if all(o == "yes" for o in outcomes) else "partly" if any(o in ("yes", "partly") for o in outcomes)
             else "no" if "no" in outcomes else "indistinguishable")
    return Judgement(holds, " and ".join(j.criterion for j in judgements), {},
                     smallest(*(j.margin for j in tested)))


def agrees_with(ours_mean: float, ours_sd: float, n: int, paper_mean: float, paper_sd: float, n_paper: int = 8,
                *, name: str = "our mean") -> Judgement:
    """Two-sided level check: yes when |ours - paper| <= 2 sqrt(sd_ours^2/n + sd_paper^2/n_paper),
    twice the combined standard error of the two means (both sds with ddof = 1); no otherwise,
    with the direction ("lower than the paper's" or "higher") in the criterion."""
    if not _finite(ours_mean, ours_sd, paper_mean, paper_sd) or n < 2:
        return untested(f"{name}: fewer than 2 splits or a non-finite value")
    bound = 2.0 * math.sqrt(ours_sd**2 / n + paper_sd**2 / n_paper)
    diff = ours_mean - paper_mean
    holds = "yes" if abs(diff) <= bound else "no"
    side = "" if holds == "yes" else (": lower than the paper's" if diff < 0 else ": higher than the paper's")
    return Judgement(holds, f"|{name} ({_fmt(ours_mean)}) − paper ({_fmt(paper_mean)})| = {_fmt(abs(diff))} "
                            f"{'≤' if holds == 'yes' else '>'} 2 × combined standard error ({_fmt(bound)}){side}",
                     {"value": ours_mean, "paper": paper_mean, "bound": bound, "diff": diff},
                     relative_gap(abs(diff), bound))


def paired_comparison(summary: dict, *, adjusted_p: float | None = None, family: int = 1,
                      usable: int | None = None, what: str = "relative improvement") -> Judgement:
    """Does the method beat the baseline over splits?  ``summary`` is
    :func:`metareweight.stats.paired_summary`'s dict (positive improvement: the method is better).

    yes: a majority of wins, the Holm-adjusted sign-flip p-value (``adjusted_p``, default the raw
    one) at most :data:`ALPHA`, and the t interval at the Bonferroni level 1 − ALPHA/``family``
    above 0; no: the same evidence the other way (a majority of losses, interval below 0);
    indistinguishable otherwise.  Untested with fewer than :data:`MIN_SPLITS` usable splits
    (``usable``, default ``summary["n"]``: degenerate splits removed by the caller).
    """
    from .stats import t_interval

    n = summary["n"] if usable is None else usable
    if n < MIN_SPLITS:
        return untested(f"{n} usable split{'s' if n != 1 else ''} (a comparison needs at least {MIN_SPLITS})")
    rel = [float(x) for x in summary["rel_improvement"]]
    level = 1 - ALPHA / family
    low, high = t_interval(rel, level)
    p = summary["perm_p"] if adjusted_p is None else adjusted_p
    wins, losses = summary["wins"], sum(x < 0 for x in rel)
    if not _finite(low, high) or not _finite(p):
        return untested("the interval or the p-value is not finite")
    if wins > n / 2 and p <= ALPHA and low > 0:
        holds = "yes"
    elif losses > n / 2 and p <= ALPHA and high < 0:
        holds = "no"
    else:
        holds = "indistinguishable"
    adj = f"Holm-adjusted over {family} tests" if family > 1 else "unadjusted (a family of 1)"
    return Judgement(holds, f"{wins} of {n} wins; sign-flip p {_fmt(p)} ({adj}) ≤ {ALPHA}; {level:.1%} t interval of "
                            f"the mean {what} [{_fmt(low)}, {_fmt(high)}] clear of 0 (a majority of losses and an "
                            "interval below 0: no; otherwise indistinguishable)",
                     {"wins": wins, "n": n, "p": p, "low": low, "high": high, "family": family},
                     smallest(relative_gap(p, ALPHA), interval_gap(low, high, 0.0)))


def correlation_above(r: float, r_other: float, n: int, *, name: str = "ours", other: str = "other") -> Judgement:
    """Is correlation ``r`` above ``r_other``, both measured on ``n`` rows, beyond noise?  On
    Fisher's z scale each has standard error 1/sqrt(n − 3); yes when z − z_other exceeds twice the
    standard error of a difference of two independent estimates, 2 sqrt(2 / (n − 3)), no when it
    falls below minus that, indistinguishable between."""
    if not _finite(r, r_other) or n <= 3 or abs(r) >= 1 or abs(r_other) >= 1:
        return untested(f"{name}: a correlation is not finite or too few rows ({n})")
    diff = math.atanh(r) - math.atanh(r_other)
    bound = 2.0 * math.sqrt(2.0 / (n - 3))
    holds = "yes" if diff > bound else ("no" if diff < -bound else "indistinguishable")
    where = {"yes": f"> {_fmt(bound)}", "no": f"< −{_fmt(bound)}", "indistinguishable": f"within ±{_fmt(bound)}"}
    return Judgement(holds, f"Fisher z of {name} ({_fmt(r)}) − {other} ({_fmt(r_other)}) = {_fmt(diff)}, "
                            f"{where[holds]} (2 standard errors of a difference on {n} rows)",
                     {"value": r, "other": r_other, "diff_z": diff, "bound": bound, "n": n},
                     relative_gap(abs(diff), bound))


def beats_each(summaries: dict, *, what: str = "relative improvement") -> Judgement:
    """Does the method beat every baseline of ``summaries`` (name -> paired_summary dict with
    that baseline)?  Each comparison is :func:`paired_comparison` with Holm's adjustment over the
    family of ``len(summaries)``; yes when all are yes, no when all are no, partly when some are
    yes, indistinguishable otherwise."""
    from .stats import holm

    names = list(summaries)
    adjusted = holm([summaries[n]["perm_p"] for n in names])
    parts = {n: paired_comparison(summaries[n], adjusted_p=float(a), family=len(names), what=what)
             for n, a in zip(names, adjusted, strict=True)}
    outcomes = [j.holds for j in parts.values()]
    if all(o == "untested" for o in outcomes):
        return untested("; ".join(f"against {n}: {j.criterion}" for n, j in parts.items()))
    holds = ("yes" if all(o == "yes" for o in outcomes) else "no" if all(o == "no" for o in outcomes)
             else "partly" if "yes" in outcomes else "indistinguishable")
    return Judgement(holds, "; ".join(f"against {n}: {j.holds} ({j.criterion})" for n, j in parts.items()),
                     {n: j.holds for n, j in parts.items()},
                     smallest(*(j.margin for j in parts.values() if j.holds != "untested")))


def interval_beyond(low: float, high: float, bound: float, *, name: str = "95% t interval") -> Judgement:
    """yes when the whole interval lies above ``bound``, no when it lies at or below it,
    indistinguishable when it straddles it."""
    if not _finite(low, high, bound):
        return untested(f"{name} or the bound is not finite")
    holds = "yes" if low > bound else ("no" if high <= bound else "indistinguishable")
    return Judgement(holds, f"{name} [{_fmt(low)}, {_fmt(high)}] entirely above {_fmt(bound)} (below: no; "
                            "straddling: indistinguishable)", {"low": low, "high": high, "bound": bound},
                     interval_gap(low, high, bound))


def untested(reason: str) -> Judgement:
    """The claim could not be tested here; ``reason`` says why."""
    return Judgement("untested", reason)


@dataclass
class Row:
    kind: str
    claim: str
    section: str
    paper: str
    ours: str
    criterion: str
    holds: str
    values: dict
    margin: float | None = None


class Verdicts:
    """The verdict table of one chapter."""

    def __init__(self, chapter: str, title: str = ""):
        self.chapter, self.title, self.rows, self.extra = chapter, title, [], {}

    def add(self, claim: str, section: str, paper: str, ours: str, judgement: Judgement, *, kind: str) -> Judgement:
        """Add a row of ``kind`` (:data:`KINDS`); ``judgement`` must come from a criterion helper
        (never a typed outcome)."""
        if not isinstance(judgement, Judgement):
            raise TypeError(f"verdict {claim!r}: holds must be computed by a criterion "
                            f"(metareweight.verdicts), not given as {type(judgement).__name__} {judgement!r}")
        if kind not in KINDS:
            raise ValueError(f"verdict {claim!r}: kind must be one of {KINDS}, got {kind!r}")
        self.rows.append(Row(kind, claim, section, str(paper), str(ours), judgement.criterion, judgement.holds,
                             judgement.values, judgement.margin))
        return judgement

    def frame(self):
        """The table as a DataFrame: kind, claim, paper section, paper value, ours, criterion, holds."""
        import pandas as pd

        return pd.DataFrame([{"kind": r.kind, "claim": r.claim, "paper §": r.section, "paper": r.paper,
                              "ours": r.ours, "criterion": r.criterion, "holds": r.holds} for r in self.rows])

    def show(self):
        """The table as the page shows it (:func:`metareweight.display.table`): the outcome
        first, every criterion whole, no index column."""
        from .display import table

        frame = self.frame()
        frame = frame[["holds", *[c for c in frame.columns if c != "holds"]]] if len(frame) else frame
        return table(frame, "Verdicts of this chapter; each outcome is computed from the criterion in its row",
                     names=False)

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
