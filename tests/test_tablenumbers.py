import pandas as pd
import pytest

from metareweight import display, settings, tablenumbers

TOC = """format: jb-book
root: book/intro
parts:
  - caption: A
    chapters:
      - file: notebooks/_run/b
  - caption: B
    chapters:
      - file: notebooks/_run/a
      - file: book/errata
"""


def page(tables: list[str]) -> str:
    return "<html><body>" + "".join(tables) + "</body></html>"


def test_toc_pages_follow_the_reading_order(tmp_path):
    (tmp_path / "_toc.yml").write_text(TOC)
    assert settings.toc_pages(tmp_path / "_toc.yml") == ["book/intro", "notebooks/_run/b", "notebooks/_run/a",
                                                              "book/errata"]


def test_tables_get_one_running_number_in_toc_order(tmp_path):
    (tmp_path / "_toc.yml").write_text(TOC)
    html = tmp_path / "html"
    for d in ("book", "notebooks/_run"):
        (html / d).mkdir(parents=True)
    t = [display.table(pd.DataFrame({"x": [k]}), f"caption {k}").html for k in range(3)]
    (html / "book/intro.html").write_text(page([]))
    # "a" is second in the file system's order but third in the book's
    (html / "notebooks/_run/a.html").write_text(page([t[0]]))
    (html / "notebooks/_run/b.html").write_text(page([t[1], t[2]]))
    sphinx = '<span class="caption-number">Table 1 </span><span class="caption-text">errata</span>'
    (html / "book/errata.html").write_text(page([sphinx]))
    assert tablenumbers.renumber(html, tmp_path / "_toc.yml") == 4
    b, a = (html / "notebooks/_run/b.html").read_text(), (html / "notebooks/_run/a.html").read_text()
    assert ">Table 1.</span> caption 1" in b and ">Table 2.</span> caption 2" in b
    assert ">Table 3.</span> caption 0" in a
    assert '<span class="caption-number">Table 4 </span>' in (html / "book/errata.html").read_text()
    assert not list(html.rglob("*.partial"))
    # a second pass changes nothing
    assert tablenumbers.renumber(html, tmp_path / "_toc.yml") == 4 and (html / "notebooks/_run/a.html").read_text() == a


def test_a_page_missing_from_the_build_is_named(tmp_path):
    (tmp_path / "_toc.yml").write_text(TOC)
    (tmp_path / "html/book").mkdir(parents=True)
    (tmp_path / "html/book/intro.html").write_text(page([]))
    with pytest.raises(FileNotFoundError, match="notebooks/_run/b.html"):
        tablenumbers.renumber(tmp_path / "html", tmp_path / "_toc.yml")
    with pytest.raises(ValueError, match="no 'root'"):
        (tmp_path / "bad.yml").write_text("parts: []\n")
        settings.toc_pages(tmp_path / "bad.yml")
