"""The results record: ``results/<profile>/table1.json``, written atomically."""

from __future__ import annotations

import json
import platform
from pathlib import Path

from .cache import atomic_write, write_json  # noqa: F401  (records.write_json: the chapters' writer)

SCHEMA_KEYS = ("profile", "units", "data_sha256", "versions", "config", "cold_seconds", "splits")
SPLIT_KEYS = ("split", "all", "restricted", "reweighted", "constant", "cnn_head",
              "n_weights_above_0_1")


def versions() -> dict:
    import numpy
    import scipy
    import torch

    from . import __version__

    return {"python": platform.python_version(), "torch": torch.__version__,
            "numpy": numpy.__version__, "scipy": scipy.__version__, "metareweight": __version__}


def write_table1(path: Path, record: dict) -> Path:
    """Validate ``record`` against the schema and write it as JSON (temporary file, rename)."""
    missing = [k for k in SCHEMA_KEYS if k not in record]
    if missing:
        raise ValueError(f"table1 record lacks {missing}")
    for row in record["splits"]:
        absent = [k for k in SPLIT_KEYS if k not in row]
        if absent:
            raise ValueError(f"table1 split {row.get('split')} lacks {absent}")
    return write_json(path, record, indent=2)


def read_table1(path: Path) -> dict:
    return json.loads(Path(path).read_text())


START, END = "<!-- table1:start -->", "<!-- table1:end -->"
METHOD_LABELS = {"all": "All", "restricted": "Restricted", "reweighted": "Reweighted",
                 "reweighted_other_settings": "Reweighted, paper's text settings",
                 "constant": "Constant", "cnn_head": "CNN's own head"}


def table1_block(record: dict, path: str) -> str:
    """The README's headline table, generated from a table1 record (never typed by hand)."""
    from .reference import PAPER_TABLE1
    from .stats import mean_std

    lines = [START, "",
             f"From `{path}` (profile `{record['profile']}`, {len(record['splits'])} splits, "
             f"written by `make book`; MSE on ages {record.get('target', '14-21')}, mean ± population std "
             f"(ddof = 0) over splits; Reweighted averaged over {len(record.get('meta_seeds', [0]))} meta "
             "seeds):", "",
             "| method | paper (years²/25) | ours (years²/25) | ours (years²) |", "| --- | --- | --- | --- |"]
    for key, label in METHOD_LABELS.items():
        if key not in record["splits"][0]:
            continue
        m, s = mean_std([row[key] for row in record["splits"]])
        paper = "{:.3f} ± {:.3f}".format(*PAPER_TABLE1[key]) if key in PAPER_TABLE1 else "not reported"
        lines.append(f"| {label} | {paper} | {m / 25:.3f} ± {s / 25:.3f} | {m:.2f} ± {s:.2f} |")
    rows = record["splits"]
    if all(k in rows[0] for k in ("restricted", "reweighted")):
        wins = sum(row["reweighted"] < row["restricted"] for row in rows)
        lines += ["", f"Re-weighted beats Restricted on {wins} of {len(rows)} splits (the paper: 7 of 8)."]
        paired = record.get("paired", {}).get("scaled", {}).get("reweighted_vs_restricted")
        if paired and "holds" in paired:
            change = -paired["mean_rel_improvement"]
            lines[-1] += (f" Paired over splits its MSE is {abs(change):.1%} {'higher' if change > 0 else 'lower'} "
                          f"than Restricted's (t interval {-paired['ci_high']:+.1%} to {-paired['ci_low']:+.1%}); "
                          f"verdict: {paired['holds']}.")
    lines += ["", END]
    return "\n".join(lines)


def replace_block(readme: Path, block: str) -> None:
    """Replace the block of ``readme`` that starts and ends with the markers ``block`` starts
    and ends with (atomically)."""
    start, end = block.splitlines()[0], block.splitlines()[-1]
    text = Path(readme).read_text()
    if start not in text or end not in text:
        raise ValueError(f"{readme}: no {start} ... {end} block to update")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    new = head + block + tail

    def write(tmp):
        Path(tmp).write_text(new)

    atomic_write(Path(readme), write)


def update_readme(readme: Path, record_path: Path) -> None:
    """Replace the table1 block of ``readme`` by the one generated from ``record_path``."""
    replace_block(readme, table1_block(read_table1(record_path), Path(record_path).as_posix()))


if __name__ == "__main__":
    import sys

    update_readme(Path(sys.argv[1]), Path(sys.argv[2]))
