import os
from pathlib import Path

import pytest

SHARED_TARBALL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "utkface" / "crop_part1.tar.gz"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch, request):
    """Every test writes its caches under its own temporary folder unless it asks for the real one."""
    if "real_cache" not in request.keywords:
        monkeypatch.setenv("METAREWEIGHT_CACHE", str(tmp_path / "cache"))


def utkface_path():
    """The real data: $UTKFACE, else the shared tarball beside the repository, else None."""
    env = os.environ.get("UTKFACE")
    if env:
        return Path(env)
    return SHARED_TARBALL if SHARED_TARBALL.exists() else None


@pytest.fixture(scope="session")
def real_faces():
    """UTKFace, decoded once per session into the user's cache (skipped locally without data;
    CI always sets UTKFACE and .ci/run fails before the tests if the file is missing)."""
    path = utkface_path()
    if path is None or not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the real data, but UTKFACE={os.environ.get('UTKFACE')!r} does not exist")
        pytest.skip("UTKFACE not set and the shared tarball is absent")
    from metareweight.data import load_utkface

    return load_utkface(path)
