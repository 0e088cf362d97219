"""The results record: ``results/<profile>/table1.json``, written atomically."""

from __future__ import annotations

import json
import platform
from pathlib import Path

from .data import atomic_write

SCHEMA_KEYS = ("profile", "units", "data_sha256", "versions", "wall_seconds", "splits")
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
    text = json.dumps(record, indent=2, sort_keys=False) + "\n"

    def write(tmp):
        Path(tmp).write_text(text)

    atomic_write(Path(path), write)
    return Path(path)


def read_table1(path: Path) -> dict:
    return json.loads(Path(path).read_text())
