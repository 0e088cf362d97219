"""The extractors shipped with the repository (``results/paper/extractors``): a manifest of
cache keys, training data, histories and sha256s, and the files, each checked before it loads."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .cache import atomic_write, file_digest, write_json
from .settings import shipped_dir

MANIFEST = "manifest.json"


def read_manifest(folder: Path | None = None) -> dict:
    """``{"extractors": {key: entry}}`` of the shipped folder (empty when there is none)."""
    path = (folder or shipped_dir()) / MANIFEST
    if not path.exists():
        return {"extractors": {}}
    return json.loads(path.read_text())


class ShippedError(ValueError):
    """A shipped extractor whose file does not match its manifest."""


def load_shipped(key: str, folder: Path | None = None):
    """(model state dict, history) of the shipped extractor ``key``, or None when none is shipped.

    The file must match the sha256 of its manifest entry and load with ``weights_only``;
    otherwise :class:`ShippedError` names the file.
    """
    folder = folder or shipped_dir()
    entry = read_manifest(folder)["extractors"].get(key)
    if entry is None:
        return None
    path = folder / entry["file"]
    if not path.exists():
        raise ShippedError(f"{path}: shipped extractor listed in {folder / MANIFEST} is missing")
    found = file_digest(path)
    if found != entry["sha256"]:
        raise ShippedError(f"{path}: sha256 {found[:12]}… does not match the manifest's "
                           f"{entry['sha256'][:12]}… (tampered or truncated)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ShippedError(f"{path}: cannot be loaded with weights_only ({err})") from err
    return state, entry["history"]


def ship(trained, folder: Path, info: dict) -> dict:
    """Write the final weights of ``trained`` (a trained extractor) to ``folder`` and its entry in the manifest.

    ``info`` says what it was trained on (data checksum, split, pixels, seed, epochs).  Both
    files are written atomically; the returned entry carries the file's sha256.
    """
    folder = Path(folder)
    path = folder / f"{trained.key}.pt"
    state = {k: v.detach().cpu().clone() for k, v in trained.model.state_dict().items()}
    atomic_write(path, lambda tmp: torch.save(state, tmp))
    entry = {**info, "key": trained.key, "file": path.name, "sha256": file_digest(path),
             "history": trained.history}
    manifest = read_manifest(folder)
    manifest["extractors"][trained.key] = entry
    manifest["extractors"] = dict(sorted(manifest["extractors"].items()))
    write_json(folder / MANIFEST, manifest)
    return entry


