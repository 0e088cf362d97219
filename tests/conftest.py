import os
from pathlib import Path

import numpy as np
import pytest

SHARED_TARBALL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "utkface" / "crop_part1.tar.gz"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch, request):
    """Every test writes its caches under its own temporary folder."""
    monkeypatch.setenv("METAREWEIGHT_CACHE", str(tmp_path / "cache"))


def pytest_collection_modifyitems(items):
    """Every test that uses the real data is marked ``real_data`` (``make unit`` leaves them out)."""
    for item in items:
        if "real_faces" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.real_data)


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


def band_features(n=400, p=5, seed=0, low=14, high=21):
    """A small problem shaped like one split of ours: integer ages (a quarter in [low, high]), a
    nonlinear age -> feature map (so that weighting matters) and a constant column.  Returns
    X, y (age / 100), the test block (the first 60 rows of a permutation) and the other rows."""
    rng = np.random.default_rng(seed)
    ages = np.concatenate([rng.integers(low, high + 1, n // 4), rng.integers(1, 80, n - n // 4)])
    rng.shuffle(ages)
    t = (ages - 30) / 20
    F = np.tanh(np.column_stack([t + 0.3 * np.sin(3 * t), t**2] + [rng.normal(size=n) for _ in range(p - 2)])
                + 0.1 * rng.normal(size=(n, p)))
    perm = rng.permutation(n)
    return np.hstack([F, np.ones((n, 1))]), ages / 100.0, perm[:60], perm[60:]
