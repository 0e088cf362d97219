"""Open every built page in headless Chromium and fail on what a reader would see broken.

Usage: ``python tests/browser_check.py _build/html [--reader]``.  Fails (exit 1) on an image that
did not load, a glued value that is missing or empty, raw MyST syntax or unrendered math
(``\\(``, ``\\[``, ``$$``) left in the text, any failed request (MathJax ships with the HTML:
nothing is fetched from a CDN), or a console error or page error outside the allow-list below.

``--reader`` adds the reader's rules (:func:`reader_problems`), at a 1,280-pixel-wide window: a
table cell cut to "…", a table wider than its column that does not scroll inside its own box, a
visible "nan", a raw "(eq-" reference, an internal name of the display-name map, or a table
without a numbered caption ("Table k."; the settings box of each chapter excepted).  It also
keeps screenshots of the intro and the report in ``_build/screenshots/``.
"""

from __future__ import annotations

import functools
import http.server
import re
import sys
import threading
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

# Console errors that are not the book's fault.  Each entry: (pattern, why it is allowed).
ALLOWED = [
    # Jupyter Book 1.x always loads sphinx-thebe and writes its inline config twice; thebe is
    # switched off in _config.yml, so the duplicate declaration breaks nothing a reader uses.
    (re.compile(r"Identifier 'THEBE_JS_URL' has already been declared"), "sphinx-thebe duplicate"),
    # MathJax 2's HTML-CSS output declares a "MathJax_Blank" @font-face at about:blank, a measuring
    # aid Chromium refuses to fetch; the math itself is checked (no raw \\( \\[ $$ may remain).
    (re.compile(r"Access to font at 'about:blank'|Failed to load resource: net::ERR_FAILED$"), "MathJax_Blank"),
    # pydata-sphinx-theme logs this on a first visit, before a light/dark mode was stored.
    (re.compile(r"Got invalid theme mode: \. Resetting to auto"), "theme first visit"),
]

# True once MathJax 2 has typeset the page (or when the page has no MathJax at all).
MATHJAX_DONE = """() => !window.MathJax || (window.MathJax.isReady && window.MathJax.Hub
    && window.MathJax.Hub.queue && window.MathJax.Hub.queue.pending === 0 && !window.MathJax.Hub.queue.running)"""

# The reader-facing pages: the table of contents' documents (search and index pages excluded).
SKIP = {"search.html", "genindex.html", "index.html"}


def pages(root: Path) -> list[Path]:
    found = [p for p in sorted(root.rglob("*.html"))
             if p.name not in SKIP and "_static" not in p.parts and "_sources" not in p.parts]
    if not found:
        raise SystemExit(f"{root}: no HTML pages; build the book first")
    return found


def serve(root: Path):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# Internal names a reader must never see: the display-name map's keys that are not plain words.
def internal_names() -> list[str]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from metareweight.names import ALL_NAMES

    return sorted(k for k in ALL_NAMES if "_" in k or any(ch.isdigit() for ch in k) or k in ("mwnet",))


# Tables as the reader sees them: cut cells, and tables wider than their column with no box of
# their own that scrolls.
TABLES = r"""() => {
  const cut = [], wide = [], uncaptioned = [];
  for (const t of document.querySelectorAll('article table')) {
    const numbered = /^Table \d+[. ]/.test(((t.querySelector('caption') || {}).innerText || '').trim());
    if (!numbered && !t.closest('.settings-box'))
      uncaptioned.push((t.querySelector('th, td') || t).innerText.trim().slice(0, 60));
    for (const c of t.querySelectorAll('td, th')) {
      const text = c.innerText.trim();
      if (text.endsWith('…') || text.endsWith('...')) cut.push(text.slice(-60));
    }
    const column = document.querySelector('article').clientWidth;
    if (t.getBoundingClientRect().width > column + 1) {
      let box = t.parentElement, scrolls = false;
      while (box && box.tagName !== 'ARTICLE') {
        const o = getComputedStyle(box).overflowX;
        if ((o === 'auto' || o === 'scroll') && box.clientWidth <= column + 1) { scrolls = true; break; }
        box = box.parentElement;
      }
      if (!scrolls) wide.push((t.querySelector('caption, th') || t).innerText.trim().slice(0, 60));
    }
  }
  return {cut, wide, uncaptioned};
}"""


# The text a reader reads: code (cells, inline code, listings) and closed boxes left out.
READER_TEXT = """() => {
  const skip = 'pre, code, .cell_input, script, style, details:not([open])';
  const root = document.querySelector('article') || document.body, out = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const p = walker.currentNode.parentElement;
    const shown = p && (!p.closest(skip) || (p.closest('summary') && !p.closest('pre, code')));
    if (shown) out.push(walker.currentNode.textContent);
  }
  return out.join(' ');
}"""


def reader_problems(page, names: list[str]) -> list[str]:
    """The reader's rules on an open page (see the module docstring)."""
    problems = []
    tables = page.evaluate(TABLES)
    problems += [f"table cell cut: …{text}" for text in tables["cut"]]
    problems += [f"table wider than its column and not scrolling: {text}" for text in tables["wide"]]
    problems += [f"table without a numbered caption: {text}" for text in tables["uncaptioned"]]
    body = page.evaluate(READER_TEXT)
    if re.search(r"\bnan\b", body, flags=re.IGNORECASE):
        problems.append("a visible nan: " + re.search(r".{0,40}\bnan\b.{0,20}", body, flags=re.I).group(0))
    if "(eq-" in body:
        problems.append("a raw equation reference: (eq-")
    for name in names:
        if re.search(rf"(?<![\w/.-]){re.escape(name)}(?![\w-])", body):
            problems.append(f"internal name in the text: {name}")
    return problems


def check_page(browser, url: str, reader: bool = False, names=(), shots: Path | None = None) -> list[str]:
    problems: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    messages: list[str] = []
    failed: list[str] = []
    page.on("console", lambda m: messages.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: messages.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("response", lambda r: failed.append(f"{r.url} ({r.status})") if r.status >= 400 else None)
    page.goto(url, wait_until="load")
    page.wait_for_timeout(300)
    try:  # let MathJax (shipped in _static/mathjax) typeset the page
        page.wait_for_function(MATHJAX_DONE, timeout=20000)
    except Exception:
        problems.append("MathJax did not finish typesetting within 20 s")
    problems += [f"request failed: {u}" for u in failed if u != "about:blank"]  # MathJax_Blank, see ALLOWED
    for text in messages:
        if not any(pattern.search(text) for pattern, _ in ALLOWED):
            problems.append(f"console: {text}")
    broken = page.evaluate(
        "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
        ".map(i => i.getAttribute('src'))"
    )
    problems += [f"image did not load: {src}" for src in broken]
    empty_glue = page.evaluate(
        "Array.from(document.querySelectorAll('.pasted-text, .pasted-inline'))"
        ".filter(e => e.textContent.trim() === '').length"
    )
    if empty_glue:
        problems.append(f"{empty_glue} glued value(s) empty")
    body = page.inner_text("article") if page.query_selector("article") else page.inner_text("body")
    for raw in ("{glue:", "{numref}", "{cite}", "{eq}", "{doc}", "\\(", "\\[", "$$"):
        if raw in body:
            problems.append(f"raw MyST role left in the text: {raw}")
    if reader:
        problems += reader_problems(page, list(names))
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / (Path(url).stem + ".png")))
    page.close()
    return problems


def main(argv: list[str]) -> int:
    from playwright.sync_api import sync_playwright

    reader = "--reader" in argv
    argv = [a for a in argv if a != "--reader"]
    root = Path(argv[1] if len(argv) > 1 else "_build/html").resolve()
    names = internal_names() if reader else []
    shots = root.parent / "screenshots"
    server = serve(root)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    failures = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for path in pages(root):
            rel = path.relative_to(root).as_posix()
            shot = shots if reader and path.stem in ("intro", "report") else None
            problems = check_page(browser, f"{base}/{rel}", reader, names, shot)
            status = "ok" if not problems else "FAIL"
            print(f"{status:4} {rel}")
            for problem in problems:
                print(f"     {problem}")
            failures += bool(problems)
        browser.close()
    server.shutdown()
    print(f"{failures} page(s) with problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
