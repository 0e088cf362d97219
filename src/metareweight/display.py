"""How the book shows a table and counts things in words.

:func:`table` is the one way a chapter shows a table: every cell whole (nothing cut to "…"), no
0..N index column, integers as integers, a number of digits chosen per table, missing values as
"—", reader words for internal names (:mod:`metareweight.names`), and a numbered caption that
states the unit and the standard-deviation convention.  A wide table scrolls inside its own box.
A chapter numbers its tables from 1; the built book renumbers them in the order of the table of
contents (:mod:`metareweight.tablenumbers`), as Sphinx numbers the figures.

:func:`plural` and :func:`count_of` write counts the way a paper does ("1 split", "3 of 8
splits"), so no page reads "1 examples" or "split(s)".
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .names import display_name

#: Tables shown so far in this process (one chapter runs in one kernel): the next table's number.
_SHOWN = {"tables": 0}
#: The class of a table's "Table k." in the page, which the built book renumbers.
NUMBER_CLASS = "mrw-table-number"
#: The standard-deviation conventions a caption may name.
STD_WORDS = {
    "population": "spreads (± or sd) are population standard deviations (ddof = 0)",
    "sample": "spreads (± or sd) are sample standard deviations (ddof = 1)",
    "none": "",
}


def plural(n: int, noun: str, plural_form: str | None = None) -> str:
    """``n`` and the noun in the right number: "1 split", "2 splits", "0 splits"."""
    word = noun if n == 1 else (plural_form or noun + "s")
    return f"{n:,} {word}"


def signed(value, spec: str, unit: str = "", missing: str = "— (too few splits to measure)") -> str:
    """``value`` formatted by ``spec`` with ``unit`` after it ("+0.073 years²"), or ``missing``
    when it is None or not finite (a glued NaN would read "+nan")."""
    if value is None or not math.isfinite(float(value)):
        return missing
    return f"{value:{spec}}{unit}"


def count_of(k: int, n: int, noun: str, plural_form: str | None = None) -> str:
    """"k of n nouns", the noun's number following ``n``: "1 of 1 split", "3 of 8 splits"."""
    word = noun if n == 1 else (plural_form or noun + "s")
    return f"{k:,} of {n:,} {word}"


def markdown_html(text: str) -> str:
    """Markdown (CommonMark) as HTML, for glued text that another page pastes (a pasted
    ``text/markdown`` output is not rendered across pages)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").render(text)


def _integral(column: pd.Series) -> bool:
    values = pd.to_numeric(column, errors="coerce").dropna()
    return len(values) > 0 and bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))


def _formatter(column: pd.Series, digits: int, decimals: int | None = None):
    """The format of one column: integers (and floats that are all whole) without decimals,
    other numbers with ``digits`` significant digits (below 1e-3 in scientific notation), booleans
    as "yes"/"no", text as it is; missing values as "—"."""
    if pd.api.types.is_bool_dtype(column):
        return lambda v: "—" if v is None or (isinstance(v, float) and math.isnan(v)) else ("yes" if v else "no")
    if not pd.api.types.is_numeric_dtype(column):
        return lambda v: "—" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    if _integral(column):
        return lambda v: "—" if pd.isna(v) else f"{int(round(v)):,}"

    def number(v):
        if pd.isna(v):
            return "—"
        if decimals is not None:
            return f"{v:,.{decimals}f}"
        if v == 0:
            return "0"
        if abs(v) < 1e-3:  # a gap of 1e-6 in scientific notation, not as 0.000001
            return f"{v:.{max(digits - 1, 0)}e}"
        places = max(0, digits - 1 - int(math.floor(math.log10(abs(v)))))
        return f"{v:,.{places}f}"

    return number


@dataclass
class Table:
    """A table as the book shows it; ``html`` is what the page gets (``_repr_html_``)."""

    frame: pd.DataFrame
    caption: str
    html: str
    text: str = ""

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text or self.caption


def table(frame: pd.DataFrame, caption: str, *, unit: str | None = None, std: str = "none",
          digits: int | dict = 3, decimals: int | None = None, formats: dict | None = None,
          names: bool = True) -> Table:
    """Show ``frame`` as the book shows tables.

    Parameters
    ----------
    frame : the table; a default 0..N index is dropped, a named index becomes the first column
    caption : what the table shows (the number "Table k." is put before it)
    unit : the unit of its numbers, stated in the caption ("MSE in years²")
    std : "population", "sample" or "none": the convention of its ± (:data:`STD_WORDS`)
    digits : significant digits of its numbers, for all columns or per column name
    decimals : a fixed number of decimals for every non-integer number, in place of ``digits``
        (shares of one scale, such as 0.082 beside 0.000)
    formats : column -> format string or callable, in place of the automatic format
    names : turn internal names (method keys) in the header, the index and text cells into
        reader words (:func:`metareweight.names.display_name`)
    """
    if std not in STD_WORDS:
        raise ValueError(f"std must be one of {sorted(STD_WORDS)}, got {std!r}")
    if not caption.strip():
        raise ValueError("a table needs a caption")
    shown = frame.copy()
    if shown.columns.name and not isinstance(shown.columns, pd.MultiIndex):  # columns 0, 1 named "split"
        shown.columns = [f"{shown.columns.name} {c}" if isinstance(c, (int, np.integer)) else c for c in shown.columns]
    if isinstance(shown.columns, pd.MultiIndex):  # ("least squares", "dot < 0") -> "least squares: dot < 0"
        shown.columns = [": ".join(str(part) for part in col if str(part)) for col in shown.columns]
    if isinstance(shown.index, pd.RangeIndex) and shown.index.name is None:
        shown = shown.reset_index(drop=True)
    else:
        unnamed = [n is None for n in shown.index.names]
        shown = shown.reset_index()
        if all(unnamed):  # an unnamed index of row labels: a column without a header
            shown = shown.rename(columns={"index": "", "level_0": ""})
    if names:
        shown.columns = [display_name(str(c)) for c in shown.columns]
        for c in shown.columns:
            if shown[c].dtype == object or pd.api.types.is_string_dtype(shown[c]):
                shown[c] = shown[c].map(lambda v: display_name(v) if isinstance(v, str) else v)
    per_column = digits if isinstance(digits, dict) else {}
    formats = {display_name(str(k)) if names else k: v for k, v in (formats or {}).items()}
    cells = {}
    for c in shown.columns:
        given = formats.get(c)
        if given is None:
            fmt = _formatter(shown[c], per_column.get(c, digits if isinstance(digits, int) else 3), decimals)
        elif isinstance(given, str):
            fmt = (lambda g: lambda v: "—" if pd.isna(v) else g.format(v))(given)
        else:
            fmt = given
        cells[c] = [fmt(v) for v in shown[c]]
    words = [caption.strip().rstrip(".") + "."]
    if unit:
        words.append(f"Unit: {unit}.")
    if STD_WORDS[std]:
        words.append(STD_WORDS[std][0].upper() + STD_WORDS[std][1:] + ".")
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cells[c][i])}</td>" for c in shown.columns) + "</tr>"
                   for i in range(len(shown)))
    text, page = html_table(head, body, " ".join(words))
    plain = pd.DataFrame(cells, columns=list(shown.columns)).to_string(index=False)
    return Table(shown, text, page, f"{text}\n{plain}")


def html_table(head: str, body: str, caption: str) -> tuple[str, str]:
    """A table of the book from its header cells ``head`` and rows ``body`` (HTML, escaped by the
    caller) and its ``caption`` (plain text): the next table number before the caption, and a
    box that scrolls when the table is wider than the page.  Returns the numbered caption and
    the HTML."""
    if not caption.strip():
        raise ValueError("a table needs a caption")
    _SHOWN["tables"] += 1
    number = f"Table {_SHOWN['tables']}."
    page = (f"<div class='mrw-table' style='overflow-x:auto;max-width:100%'>"
            f"<table class='table'><caption style='caption-side:top;text-align:left'>"
            f"<span class='{NUMBER_CLASS}'>{number}</span> {html.escape(caption.strip())}</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")
    return f"{number} {caption.strip()}", page
