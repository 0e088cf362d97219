"""Number the built book's tables in the order of its table of contents:
``python -m metareweight.tablenumbers _build/html``.

Each chapter runs in its own kernel and numbers its tables from 1 (:func:`metareweight.display.table`);
Sphinx numbers the figures, and the tables of the Markdown pages, across the whole book.  This
pass gives every table (the chapters' and the Markdown pages') one running number, page by page
in the order of ``_toc.yml``, so "Table 12" means one table and follows the same order as "Fig. 12".
A page is rewritten only when its numbers change, through a temporary file, so a failed run
leaves no page half-written.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from .display import NUMBER_CLASS
from .settings import toc_pages

#: a chapter's "Table k." and Sphinx's "Table k " caption numbers, in the order they appear
NUMBER = re.compile(rf"(<span class=['\"](?:{NUMBER_CLASS}|caption-number)['\"]>)Table \d+(\.?\s*)(</span>)")


def renumber(html_dir: Path, toc_file: Path) -> int:
    """Renumber every table caption of the pages under ``html_dir`` in table-of-contents order;
    return the number of tables.  A page of the table of contents that was not built is an error."""
    html_dir = Path(html_dir)
    count = 0
    for doc in toc_pages(toc_file):
        page = html_dir / f"{doc}.html"
        if not page.exists():
            raise FileNotFoundError(f"{page}: listed in {toc_file} but not built")
        text = page.read_text(encoding="utf-8")

        def next_number(match):
            nonlocal count
            count += 1
            return f"{match.group(1)}Table {count}{match.group(2)}{match.group(3)}"

        new = NUMBER.sub(next_number, text)
        if new != text:
            tmp = page.with_name(page.name + ".partial")
            tmp.write_text(new, encoding="utf-8")
            os.replace(tmp, page)
    return count


if __name__ == "__main__":
    root = Path(sys.argv[1])
    toc = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("_toc.yml")
    print(f"{renumber(root, toc)} tables numbered in {root}")
