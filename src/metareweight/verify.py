"""``make verify``: a reader's records against the committed ones, number by number.

Every JSON record under ``results/<profile>/`` (verdict files included) is compared with the
version committed in git (``git show HEAD:<path>``).  Numbers are compared by relative deviation
``|a - b| / max(|a|, |b|)``; a verdict's outcome, kind and claim must be equal (other texts quote
numbers that are compared on their own).  What a run does
not reproduce by construction is left out: timings, versions, the run's settings and paths.

Tolerances, from measurement: the deterministic heads (All, Restricted, the constant, the CNN's own
head, and anything computed from them alone) are exact up to float rounding (:data:`EXACT`); a
number downstream of the meta step moves by up to about 1e-3 between machines, because last-bit
differences grow over 2,000 clipped Adam steps (:data:`META`).  A number whose path names none of
:data:`DETERMINISTIC` is held to :data:`META`.

It also lists every verdict whose ``margin`` (its distance from the criterion's threshold,
:mod:`metareweight.verdicts`) is below :data:`META`: such a verdict could flip on another machine,
so agreement on it is not expected.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from .settings import repo_root

EXACT = 1e-9
META = 2e-3
#: Keys whose numbers come from heads that do not involve the meta step.
DETERMINISTIC = ("all", "restricted", "constant", "cnn_head", "n_", "digest", "sizes", "split")
#: Texts that must be equal: a verdict's outcome, its kind and its claim.
TEXTS = ("holds", "kind", "claim", "name", "pixels")
#: Keys a rerun does not reproduce by construction.
SKIPPED = ("seconds", "versions", "config", "data_source", "cold", "machine", "path")


def _leaves(value, path=()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, (*path, str(k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, str(i)))
    else:
        yield path, value


def tolerance(path: tuple) -> float | None:
    """The tolerance of the number at ``path``; None where the key is skipped."""
    keys = [p.lower() for p in path if not p.isdigit()]
    if any(s in k for k in keys for s in SKIPPED):
        return None
    last = keys[-1] if keys else ""
    meta_like = any(w in k for k in keys for w in ("reweight", "meta", "free", "seed", "weights", "l2rw", "mwnet"))
    if not meta_like and (last in DETERMINISTIC or any(k.startswith(DETERMINISTIC) for k in keys[-2:])):
        return EXACT
    return META


def compare(ours: dict, theirs: dict) -> dict:
    """Deviations of record ``ours`` from ``theirs``: ``{"largest": (rel, path), "failures": [...],
    "missing": [...], "numbers": n}``.  A failure is a number beyond its tolerance or a text
    that differs."""
    a, b = dict(_leaves(ours)), dict(_leaves(theirs))
    out = {"largest": (0.0, ""), "failures": [], "missing": sorted("/".join(p) for p in b.keys() - a.keys()
                                                                  if tolerance(p) is not None), "numbers": 0}
    for path, want in b.items():
        tol = tolerance(path)
        if tol is None or path not in a:
            continue
        got, name = a[path], "/".join(path)
        number = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (got, want))
        if not number:
            # outcomes and names must agree; other texts quote numbers compared on their own
            if (path[-1] in TEXTS or isinstance(want, bool) or want is None) and got != want:
                out["failures"].append(f"{name}: {got!r} != {want!r}")
            continue
        out["numbers"] += 1
        rel = 0.0 if got == want else abs(got - want) / max(abs(got), abs(want))
        if rel > out["largest"][0]:
            out["largest"] = (rel, name)
        if rel > tol:
            out["failures"].append(f"{name}: {got:.6g} vs {want:.6g} (relative {rel:.1e} > {tol:.0e})")
    return out


def near_threshold(record: dict, tolerance: float = META) -> list[dict]:
    """The rows of a verdict record whose margin is below ``tolerance`` (rows without a margin,
    such as counts and booleans, are never listed)."""
    return [row for row in record.get("rows", [])
            if isinstance(row.get("margin"), int | float) and row["margin"] < tolerance]


def committed(root: Path, path: Path, rev: str = "HEAD") -> dict | None:
    """The record at ``path`` as committed at ``rev``; None where it is not committed."""
    rel = path.resolve().relative_to(root.resolve()).as_posix()
    shown = subprocess.run(["git", "show", f"{rev}:{rel}"], cwd=root, capture_output=True, text=True)
    return json.loads(shown.stdout) if shown.returncode == 0 else None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="paper")
    parser.add_argument("--rev", default="HEAD", help="the git revision of the committed records")
    args = parser.parse_args(argv)
    root = repo_root()
    folder = root / "results" / args.profile
    paths = sorted(p for p in folder.rglob("*.json") if "extractors" not in p.parts)
    if not paths:
        print(f"error: no records under {folder}: run `make book PROFILE={args.profile}` first", file=sys.stderr)
        return 2
    failed = 0
    print(f"{'record':44s} {'numbers':>8s} {'largest deviation':>18s}  where")
    for path in paths:
        theirs = committed(root, path, args.rev)
        name = path.relative_to(folder).as_posix()
        if theirs is None:
            print(f"{name:44s} {'-':>8s} {'not committed':>18s}")
            continue
        result = compare(json.loads(path.read_text()), theirs)
        rel, where = result["largest"]
        print(f"{name:44s} {result['numbers']:8d} {rel:18.1e}  {where}")
        for line in result["failures"][:10] + [f"missing: {m}" for m in result["missing"][:10]]:
            print(f"    {line}")
        failed += bool(result["failures"] or result["missing"])
        for row in near_threshold(theirs):
            print(f"    near its threshold (margin {row['margin']:.1e} < {META:.0e}, may flip): {row['claim']}")
    print(f"{failed} of {len(paths)} records differ beyond tolerance (exact: {EXACT:.0e}; downstream of the meta "
          f"step: {META:.0e})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
