import numpy as np
import pandas as pd
import pytest

from metareweight import display


def test_plural_and_count_follow_the_number():
    assert display.plural(1, "split") == "1 split" and display.plural(2, "split") == "2 splits"
    assert display.plural(0, "example") == "0 examples" and display.plural(3, "child", "children") == "3 children"
    assert display.count_of(1, 1, "split") == "1 of 1 split" and display.count_of(3, 8, "split") == "3 of 8 splits"
    assert display.plural(1200, "row") == "1,200 rows"


def test_a_table_shows_every_cell_whole_without_the_default_index():
    long = "x" * 300
    t = display.table(pd.DataFrame({"claim": [long, "short"], "n": [7.0, 8.0], "mse": [0.123456, np.nan]}),
                      "Two rows", unit="years²", std="population")
    assert long in t.html and "…" not in t.html
    assert "<td>7</td>" in t.html and "7.000000" not in t.html  # whole floats print as integers
    assert "<td>0.123</td>" in t.html and "<td>—</td>" in t.html and "nan" not in t.html.lower()
    assert "<th>claim</th><th>n</th><th>mse</th>" in t.html  # no 0..N column
    assert "Unit: years²." in t.caption and "population standard deviation" in t.caption
    assert t.caption.startswith("Table ") and "overflow-x:auto" in t.html


def test_a_named_index_stays_and_internal_names_become_reader_words():
    frame = pd.DataFrame({"restricted_tuned": [0.1], "method": ["l2rw"]}, index=pd.Index([3], name="split"))
    t = display.table(frame, "Names", digits=2)
    assert "<th>split</th><th>Restricted, λ tuned</th><th>method</th>" in t.html
    assert "<td>L2RW</td>" in t.html and "<td>3</td>" in t.html and "<td>0.10</td>" in t.html


def test_tables_are_numbered_and_digits_are_per_column():
    first = display.table(pd.DataFrame({"a": [1.23456], "b": [1.23456]}), "One", digits={"a": 2})
    second = display.table(pd.DataFrame({"a": [1.0]}), "Two")
    k = int(first.caption.split()[1].rstrip("."))
    assert second.caption.startswith(f"Table {k + 1}.")
    assert "<td>1.2</td><td>1.23</td>" in first.html
    assert "<td>-0.5</td>" in display.table(pd.DataFrame({"a": [-0.5, 0.25]}), "Neg", digits=1).html


def test_bad_table_arguments_are_refused():
    with pytest.raises(ValueError, match="std must be one of"):
        display.table(pd.DataFrame({"a": [1]}), "c", std="ddof")
    with pytest.raises(ValueError, match="needs a caption"):
        display.table(pd.DataFrame({"a": [1]}), " ")


def test_markdown_becomes_html_with_its_text_escaped():
    out = display.markdown_html("- **We find** a < b\n- two")
    assert out.count("<li>") == 2 and "<strong>We find</strong>" in out and "a &lt; b" in out


def test_signed_writes_a_dash_for_what_was_not_measured():
    assert display.signed(0.0734, "+.3f", " years²") == "+0.073 years²"
    assert display.signed(float("nan"), "+.1f", "%") == "— (too few splits to measure)"
    assert display.signed(None, "+.1f", missing="—") == "—"


def test_a_table_prints_as_its_caption_and_cells():
    t = display.table(pd.DataFrame({"method": ["l2rw", "all"], "mse": [1.23456, 2.0]}), "Plain text", digits=2)
    lines = repr(t).splitlines()
    assert lines[0] == t.caption and "L2RW" in lines[2] and "1.2" in lines[2] and "All" in lines[3]
    assert f"<span class='{display.NUMBER_CLASS}'>Table " in t.html


def test_small_numbers_booleans_and_two_level_headers():
    frame = pd.DataFrame([[5.032057e-07, True], [-1.555039e-06, False]],
                         columns=pd.MultiIndex.from_tuples([("check", "relative gap"), ("check", "ok")]))
    t = display.table(frame, "Small")
    assert "<td>5.03e-07</td>" in t.html and "<td>-1.56e-06</td>" in t.html
    assert "<td>yes</td>" in t.html and "<td>no</td>" in t.html
    assert "<th>check: relative gap</th><th>check: ok</th>" in t.html
    unnamed = display.table(pd.DataFrame({"a": [1.0]}, index=["row"]), "Unnamed").html
    assert "<th></th><th>a</th>" in unnamed and "<td>row</td><td>1</td>" in unnamed and "index" not in unnamed


def test_fixed_decimals_keep_one_scale():
    t = display.table(pd.DataFrame({"share": [0.082, 0.0, 0.17]}), "Shares", decimals=3)
    assert all(f"<td>{v}</td>" in t.html for v in ("0.082", "0.000", "0.170"))


def test_numbered_columns_take_the_name_of_their_axis():
    frame = pd.DataFrame([[1.5, 2.5, 2.0]], columns=pd.Index([0, 1, "mean"], name="split"))
    assert "<th>split 0</th><th>split 1</th><th>mean</th>" in display.table(frame, "Splits").html


def test_html_table_numbers_and_escapes_its_caption():
    text, page = display.html_table("<th>a</th>", "<tr><td>1</td></tr>", "x < y")
    k = int(text.split()[1].rstrip("."))
    assert text == f"Table {k}. x < y" and "x &lt; y</caption>" in page and "<th>a</th>" in page
    assert display.html_table("<th>a</th>", "", "next")[0].startswith(f"Table {k + 1}.")
    with pytest.raises(ValueError, match="needs a caption"):
        display.html_table("", "", "  ")
