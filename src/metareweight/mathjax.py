"""Ship MathJax with the built HTML: ``python -m metareweight.mathjax _build/html``.

The book's pages load MathJax from ``_static/mathjax/MathJax.js`` (``mathjax_path`` in
``_config.yml``), so the math renders in a book opened offline.  The files come from the PyPI
package ``jupyter-server-mathjax`` (MathJax 2.7 with its STIX web fonts, about 12 MB).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def source() -> Path:
    import jupyter_server_mathjax

    return Path(jupyter_server_mathjax.__file__).parent / "static"


def install(html_dir: Path) -> Path:
    """Copy MathJax into ``<html_dir>/_static/mathjax`` (replacing an older copy); return it."""
    html_dir = Path(html_dir)
    if not (html_dir / "index.html").exists():
        raise FileNotFoundError(f"{html_dir}: no built HTML (index.html) to add MathJax to")
    src, target = source(), html_dir / "_static" / "mathjax"
    tmp = target.with_name("mathjax.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


if __name__ == "__main__":
    print(f"MathJax copied to {install(Path(sys.argv[1]))}")
