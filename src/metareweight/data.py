"""UTKFace ``crop_part1``: reading, 5x5 mean pooling, the on-disk cache, and the stand-in set.

The source is named by the environment variable ``UTKFACE`` (a ``.tar.gz`` or the extracted
``crop_part1/`` folder).  Without it :func:`load_dataset` returns a small generated stand-in with
the same interface, and ``Faces.source == "stand-in"``.

Decoding 9,780 JPEGs happens once: the pooled array is cached under :func:`cache_dir`, keyed by
the source's checksum, written to a temporary file and renamed, so an interrupted decode never
leaves a half-written cache behind.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tarfile
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cache import atomic_write, cache_dir, digest, file_digest
from .settings import DATA_ENV, data_path

#: Environment variable naming the tarball or folder.
#: sha256 of the ``crop_part1.tar.gz`` this book was built from (see ``shared/data/README.md``).
KNOWN_TARBALL_SHA256 = "40a38bcf26ecb732c1e8ce8c73be794b92d1c509953c09ec37e7c6f39aeeb3e5"
IMAGE_SIZE = 200
POOL = 5
SIDE = IMAGE_SIZE // POOL  # 40
CACHE_VERSION = 1

# [age]_[gender]_[race]_[date&time].jpg.chip.jpg; two files in crop_part1 lack the race field.
_NAME = re.compile(r"^(?P<age>\d{1,3})_(?P<gender>\d+)_(?:(?P<race>\d+)_)?(?P<date>\d+)\.jpg\.chip\.jpg$")


class DataError(ValueError):
    """The dataset on disk cannot be used; the message names the file."""


@dataclass(frozen=True)
class Faces:
    """Images and ages in sorted file-name order.

    Attributes
    ----------
    images : ndarray of shape (n_samples, 40, 40, 3), float32 in [0, 1]
    ages : ndarray of shape (n_samples,), int64, years
    names : tuple of str, sorted
    source : ``"utkface"`` or ``"stand-in"``
    checksum : sha256 of the source (tarball bytes, or file names and bytes of a folder)
    path : str, where the data came from
    """

    images: np.ndarray
    ages: np.ndarray
    names: tuple
    source: str
    checksum: str
    path: str

    @property
    def is_standin(self) -> bool:
        return self.source == "stand-in"

    def __len__(self) -> int:
        return len(self.ages)


def parse_age(name: str) -> int:
    """Age in years from a UTKFace file name such as ``23_1_0_20170116220224657.jpg.chip.jpg``."""
    match = _NAME.match(os.path.basename(name))
    if match is None:
        raise DataError(
            f"{name}: not a UTKFace file name ([age]_[gender]_[race]_[date].jpg.chip.jpg)"
        )
    return int(match.group("age"))


def pool_image(pixels: np.ndarray, factor: int = POOL) -> np.ndarray:
    """Mean over non-overlapping ``factor x factor`` blocks, scaled from [0, 255] to [0, 1].

    Parameters
    ----------
    pixels : ndarray of shape (H, W, C), uint8
        ``H`` and ``W`` must be multiples of ``factor``.

    Returns
    -------
    ndarray of shape (H // factor, W // factor, C), float32
    """
    h, w, c = pixels.shape
    if h % factor or w % factor:
        raise ValueError(f"image of {h}x{w} cannot be pooled by {factor}")
    blocks = pixels.astype(np.float64).reshape(h // factor, factor, w // factor, factor, c)
    return (blocks.mean(axis=(1, 3)) / 255.0).astype(np.float32)


def _image_files(folder: Path) -> list[Path]:
    entries = sorted(folder.iterdir(), key=lambda p: p.name)
    files = []
    for entry in entries:
        if entry.name.startswith("."):
            continue  # hidden files (.DS_Store and the like) are not part of the data
        if not entry.is_file():
            raise DataError(f"{entry}: expected only JPEG files in {folder}, found a folder")
        parse_age(str(entry))  # names without a parsable age fail here, naming the file
        files.append(entry)
    if not files:
        raise DataError(f"{folder}: no UTKFace images in this folder")
    return files


def _folder_checksum(files: list[Path]) -> str:
    return digest(*(c for path in files for c in (path.name.encode() + b"\0", file_digest(path).encode())))


def _decode(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image, UnidentifiedImageError

    images = np.empty((len(files), SIDE, SIDE, 3), dtype=np.float32)
    ages = np.empty(len(files), dtype=np.int64)
    for i, path in enumerate(files):
        ages[i] = parse_age(str(path))
        try:
            with Image.open(path) as img:
                img.load()
                mode, size = img.mode, img.size
                pixels = np.asarray(img)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
            raise DataError(f"{path}: cannot decode JPEG ({err})") from None
        if mode != "RGB" or size != (IMAGE_SIZE, IMAGE_SIZE):
            raise DataError(
                f"{path}: expected a {IMAGE_SIZE}x{IMAGE_SIZE} RGB image, got {size[0]}x{size[1]} {mode}"
            )
        images[i] = pool_image(pixels)
    return images, ages


def _find_image_folder(root: Path) -> Path:
    """The folder holding the JPEGs: ``root`` itself or its single subfolder (``crop_part1``)."""
    children = [p for p in root.iterdir() if not p.name.startswith(".")]
    if len(children) == 1 and children[0].is_dir():
        return children[0]
    return root


def _extract(tarball: Path, dest: Path) -> Path:
    try:
        with tarfile.open(tarball, "r:*") as archive:
            for member in archive.getmembers():
                parts = member.name.replace("\\", "/").split("/")
                if member.name.startswith(("/", "\\")) or ".." in parts:
                    raise DataError(f"{tarball}: unsafe member {member.name!r} (absolute or '..' path)")
                try:
                    tarfile.data_filter(member, str(dest))
                except tarfile.FilterError as err:
                    raise DataError(f"{tarball}: unsafe member {member.name!r} ({err})") from None
            archive.extractall(dest, filter="data")
    except (tarfile.TarError, EOFError, OSError) as err:
        raise DataError(f"{tarball}: cannot read the archive ({err})") from None
    return _find_image_folder(dest)


def _load_cache(path: Path, checksum: str):
    try:
        with np.load(path, allow_pickle=False) as npz:
            if str(npz["checksum"]) != checksum or int(npz["version"]) != CACHE_VERSION:
                return None
            sums = npz["pooled_sums"]
            return (sums / np.float32(POOL * POOL * 255.0)).astype(np.float32), npz["ages"], tuple(
                npz["names"].tolist()
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # truncated or foreign file: rebuilt by the caller


def _block_sums(images: np.ndarray) -> np.ndarray:
    """The exact integer sums of the 25 uint8 pixels behind each pooled value (float64)."""
    return np.rint(images.astype(np.float64) * (POOL * POOL * 255.0))


def _save_cache(path: Path, checksum, images, ages, names) -> None:
    # Pooled values are means of 25 uint8 values: store the exact integer sums (uint16).
    sums = _block_sums(images).astype(np.uint16)

    def write(tmp):
        with open(tmp, "wb") as handle:
            np.savez(handle, pooled_sums=sums, ages=ages, names=np.array(names),
                     checksum=np.array(checksum), version=np.array(CACHE_VERSION))

    atomic_write(path, write)


def load_utkface(path: str | os.PathLike) -> Faces:
    """Read UTKFace from a ``.tar.gz`` or a folder of JPEGs; pooled 40x40x3 in [0, 1].

    Raises
    ------
    DataError
        For a missing path, an empty folder, an unsafe or unreadable archive, a file name without
        a parsable age, a JPEG that cannot be decoded or is not 200x200 RGB.
    """
    source = Path(path).expanduser()
    if not source.exists():
        raise DataError(f"{source}: no such file or folder (set {DATA_ENV} to crop_part1.tar.gz)")
    if source.is_dir():
        folder = _find_image_folder(source)
        files = _image_files(folder)
        checksum = _folder_checksum(files)
        kind = "folder"
    else:
        checksum = file_digest(source)
        kind = "tarball"
        if checksum != KNOWN_TARBALL_SHA256:
            warnings.warn(
                f"{source}: sha256 {checksum[:12]}... differs from the tarball this book was built "
                f"from ({KNOWN_TARBALL_SHA256[:12]}...); numbers may differ from the book's",
                stacklevel=2,
            )
    cache = cache_dir() / f"utkface-{checksum[:20]}.npz"
    cached = _load_cache(cache, checksum) if cache.exists() else None
    if cached is None:
        if kind == "tarball":
            with tempfile.TemporaryDirectory(prefix="utkface-") as tmp:
                files = _image_files(_extract(source, Path(tmp)))
                images, ages = _decode(files)
        else:
            images, ages = _decode(files)
        names = tuple(p.name for p in files)
        _save_cache(cache, checksum, images, ages, names)
        images, ages, names = _load_cache(cache, checksum)
    else:
        images, ages, names = cached
    return Faces(images, ages, names, "utkface", checksum, str(source))


def make_standin(n: int = 9780, seed: int = 0) -> Faces:
    """A deterministic generated stand-in for UTKFace with the same interface.

    Ages follow a right-skewed mixture like UTKFace's (many infants, a mode in the twenties, a tail
    to 100).  Each 40x40x3 image is a soft "face" ellipse whose size, brightness, colour and a
    texture band depend on the age through smooth nonlinear maps, plus pixel noise, so a small
    CNN can learn the age but not perfectly.  Its numbers are not comparable with the paper's.
    """
    rng = np.random.default_rng(seed)
    component = rng.choice(3, size=n, p=[0.25, 0.55, 0.20])
    ages = np.where(
        component == 0,
        rng.integers(1, 11, size=n),
        np.where(component == 1, rng.normal(28, 9, size=n), rng.normal(58, 14, size=n)),
    )
    ages = np.clip(np.rint(ages), 1, 100).astype(np.int64)
    a = ages / 100.0
    yy, xx = np.mgrid[0:SIDE, 0:SIDE] / (SIDE - 1) - 0.5
    radius = 0.22 + 0.12 * np.sqrt(a) + rng.normal(0, 0.02, n)
    tone = 0.35 + 0.4 * rng.random(n)
    images = np.empty((n, SIDE, SIDE, 3), dtype=np.float32)
    for i in range(n):
        r2 = (xx / (radius[i] * 0.8)) ** 2 + (yy / radius[i]) ** 2
        face = 1.0 / (1.0 + np.exp((r2 - 1.0) * 8.0))
        band = np.exp(-((yy + 0.15 - 0.2 * a[i]) ** 2) / 0.004) * (0.5 * np.sin(6 * a[i]) + 0.5)
        bg = 0.2 + 0.6 * rng.random(3)
        for ch, gain in enumerate((1.0, 0.8 - 0.3 * a[i], 0.6 - 0.4 * a[i])):
            images[i, :, :, ch] = bg[ch] * (1 - face) + face * (tone[i] * gain) - 0.25 * band * face
    images += rng.normal(0, 0.05, images.shape).astype(np.float32)
    images = np.clip(images, 0.0, 1.0).astype(np.float32)
    names = tuple(f"standin_{i:05d}_{ages[i]}.png" for i in range(n))
    checksum = digest(f"stand-in:n={n}:seed={seed}:v1".encode())
    return Faces(images, ages, names, "stand-in", checksum, "generated")


def code_pixels(faces: Faces) -> Faces:
    """The images as the authors' code feeds them to the CNN: each 5x5 block mean floored to an
    integer, 0-255, never scaled to [0, 1] (an ablation; the book follows the paper's scaling).

    The checksum gets a suffix, so nothing cached from the scaled images is reused.
    """
    images = np.floor(_block_sums(faces.images) / (POOL * POOL)).astype(np.float32)
    return dataclasses.replace(faces, images=images, checksum=f"{faces.checksum}+code-pixels")


_LOADED: dict = {}


def loaded() -> dict:
    """``{"sha256": ..., "source": ...}`` of the data :func:`load_dataset` last returned in this
    process (empty before), for the records of the run."""
    return dict(_LOADED)


def load_dataset(path: str | os.PathLike | None = None) -> Faces:
    """UTKFace from ``path`` or ``$UTKFACE``; the generated stand-in when neither is set."""
    if path is None:
        path = data_path()
    faces = make_standin() if path is None else load_utkface(path)
    _LOADED.update(sha256=faces.checksum, source=faces.source)
    return faces
