import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from metareweight import data
from metareweight.data import DataError, load_utkface, parse_age, pool_image


def _jpeg(path, size=(200, 200), mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "L": 1}[mode]
    arr = rng.integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8)
    Image.fromarray(arr.squeeze() if channels == 1 else arr, mode).save(path, "JPEG", quality=95)


def _folder(tmp_path, names):
    folder = tmp_path / "crop_part1"
    folder.mkdir()
    for i, name in enumerate(names):
        _jpeg(folder / name, seed=i)
    return folder


NAMES = [
    "23_1_0_20170116220224657.jpg.chip.jpg",
    "61_1_20170109142408075.jpg.chip.jpg",  # one of the two real names without a race field
    "8_0_2_20161219190524395.jpg.chip.jpg",
]


def test_parse_age_known_forms():
    assert parse_age("23_1_0_20170116220224657.jpg.chip.jpg") == 23
    assert parse_age("61_1_20170109142408075.jpg.chip.jpg") == 61
    assert parse_age("61_3_20170109150557335.jpg.chip.jpg") == 61
    assert parse_age("some/dir/110_0_0_20170112213500903.jpg.chip.jpg") == 110


@pytest.mark.parametrize("name", ["x_1_0_2017.jpg.chip.jpg", "23.jpg", "readme.txt", "_1_0_1.jpg.chip.jpg"])
def test_parse_age_rejects_names_without_age(name):
    with pytest.raises(DataError, match="not a UTKFace file name"):
        parse_age(name)


def test_pool_matches_hand_computed_block():
    pixels = np.zeros((10, 10, 3), dtype=np.uint8)
    pixels[:5, :5, 0] = np.arange(25, dtype=np.uint8).reshape(5, 5)  # mean 12
    pixels[5:, 5:, 2] = 255
    pooled = pool_image(pixels)
    assert pooled.shape == (2, 2, 3)
    assert pooled[0, 0, 0] == pytest.approx(12 / 255)
    assert pooled[1, 1, 2] == pytest.approx(1.0)
    assert pooled[0, 1].sum() == 0 and pooled[1, 0].sum() == 0


def test_folder_is_read_sorted_pooled_and_cached(tmp_path):
    folder = _folder(tmp_path, NAMES)
    faces = load_utkface(folder)
    assert faces.names == tuple(sorted(NAMES))
    assert list(faces.ages) == [parse_age(n) for n in sorted(NAMES)]
    assert faces.images.shape == (3, 40, 40, 3) and faces.images.dtype == np.float32
    with Image.open(folder / faces.names[0]) as img:
        expected = pool_image(np.asarray(img))
    np.testing.assert_allclose(faces.images[0], expected, atol=1e-6)
    cached = list(data.cache_dir().glob("utkface-*.npz"))
    assert len(cached) == 1
    again = load_utkface(folder)  # from the cache: identical values
    np.testing.assert_array_equal(again.images, faces.images)


def test_truncated_cache_is_rebuilt(tmp_path):
    folder = _folder(tmp_path, NAMES)
    faces = load_utkface(folder)
    cache = next(data.cache_dir().glob("utkface-*.npz"))
    cache.write_bytes(cache.read_bytes()[:100])
    again = load_utkface(folder)
    np.testing.assert_array_equal(again.images, faces.images)
    assert cache.stat().st_size > 100


def test_tarball_with_other_checksum_warns_and_loads(tmp_path):
    folder = _folder(tmp_path, NAMES)
    tarball = tmp_path / "crop_part1.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(folder, arcname="crop_part1")
    with pytest.warns(UserWarning, match="differs from the tarball"):
        faces = load_utkface(tarball)
    assert len(faces) == 3


def test_code_pixels_are_floored_block_means_of_the_raw_pixels(tmp_path):
    folder = _folder(tmp_path, NAMES)
    faces = load_utkface(folder)
    code = data.code_pixels(faces)
    for i, name in enumerate(faces.names):
        with Image.open(folder / name) as img:
            raw = np.asarray(img).astype(np.int64)
        block_sums = raw.reshape(40, 5, 40, 5, 3).sum(axis=(1, 3))
        np.testing.assert_array_equal(code.images[i], block_sums // 25)  # integer floor, 0-255
    assert code.images.dtype == np.float32 and code.images.max() <= 255 and code.images.max() > 1
    assert code.checksum != faces.checksum and code.checksum.startswith(faces.checksum)
    np.testing.assert_array_equal(code.ages, faces.ages)


def _snapshot(root):
    return {str(q): (q.stat().st_size, q.stat().st_mtime_ns) for q in [root, *sorted(root.rglob("*"))]}


def test_the_source_is_only_read(tmp_path, monkeypatch):
    """Loading a folder or a tarball (cold, then from the cache) never writes beside the source
    (sizes and mtimes of the folder and everything in it are unchanged), and every file under it
    that Python's ``open`` touches is opened read-only (tarfile binds its own ``open``; the
    snapshot covers it)."""
    source = tmp_path / "shared"
    source.mkdir()
    folder = _folder(source, NAMES)
    with tarfile.open(source / "crop_part1.tar.gz", "w:gz") as archive:
        archive.add(folder, arcname="crop_part1")
    before = _snapshot(source)
    modes = []
    real_open = open

    def spying_open(file, mode="r", *args, **kwargs):
        if str(file).startswith(str(source)):
            modes.append(mode)
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", spying_open)
    with pytest.warns(UserWarning, match="differs from the tarball"):
        for _ in range(2):
            load_utkface(source / "crop_part1.tar.gz")
    for _ in range(2):
        load_utkface(folder)
    assert _snapshot(source) == before
    assert modes and set(modes) <= {"r", "rb"}


def _no_partial_cache():
    leftovers = [p for p in data.cache_dir().iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]
    assert leftovers == []
    assert list(data.cache_dir().glob("utkface-*.npz")) == []


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        load_utkface(tmp_path / "nowhere.tar.gz")


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no UTKFace images"):
        load_utkface(tmp_path / "empty")
    _no_partial_cache()


def test_corrupt_jpeg_names_the_file(tmp_path):
    folder = _folder(tmp_path, NAMES)
    bad = folder / NAMES[0]
    bad.write_bytes(bad.read_bytes()[:200])
    with pytest.raises(DataError, match=NAMES[0].replace(".", r"\.") + ".*cannot decode"):
        load_utkface(folder)
    _no_partial_cache()


def test_not_a_jpeg_names_the_file(tmp_path):
    folder = _folder(tmp_path, NAMES)
    (folder / NAMES[2]).write_bytes(b"this is not an image")
    with pytest.raises(DataError, match="cannot decode JPEG"):
        load_utkface(folder)
    _no_partial_cache()


@pytest.mark.parametrize("size,mode", [((100, 100), "RGB"), ((200, 200), "L")])
def test_wrong_size_or_mode(tmp_path, size, mode):
    folder = _folder(tmp_path, NAMES[:2])
    odd = "30_1_0_20170116220224657.jpg.chip.jpg"
    _jpeg(folder / odd, size=size, mode=mode)
    with pytest.raises(DataError, match=f"{odd}.*expected a 200x200 RGB"):
        load_utkface(folder)
    _no_partial_cache()


def test_other_files_in_folder(tmp_path):
    folder = _folder(tmp_path, NAMES)
    (folder / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="notes.txt.*not a UTKFace file name"):
        load_utkface(folder)


def _tar_with_member(tmp_path, member_name):
    tarball = tmp_path / "evil.tar.gz"
    payload = io.BytesIO()
    Image.fromarray(np.zeros((200, 200, 3), np.uint8)).save(payload, "JPEG")
    with tarfile.open(tarball, "w:gz") as archive:
        info = tarfile.TarInfo(member_name)
        info.size = len(payload.getvalue())
        archive.addfile(info, io.BytesIO(payload.getvalue()))
    return tarball


@pytest.mark.parametrize("member", ["/tmp/23_1_0_1.jpg.chip.jpg", "../23_1_0_1.jpg.chip.jpg",
                                    "crop_part1/../../23_1_0_1.jpg.chip.jpg"])
def test_unsafe_tar_member(tmp_path, member):
    tarball = _tar_with_member(tmp_path, member)
    with pytest.warns(UserWarning), pytest.raises(DataError, match="unsafe member"):
        load_utkface(tarball)
    assert not (tmp_path / "23_1_0_1.jpg.chip.jpg").exists()
    _no_partial_cache()


def test_corrupt_tarball(tmp_path):
    tarball = tmp_path / "broken.tar.gz"
    tarball.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.warns(UserWarning), pytest.raises(DataError, match="cannot read the archive"):
        load_utkface(tarball)


@pytest.mark.slow
def test_standin_is_deterministic_and_shaped_like_utkface(monkeypatch):
    monkeypatch.delenv("UTKFACE", raising=False)
    a, b = data.load_dataset(), data.load_dataset()
    assert a.is_standin and a.images.shape[1:] == (40, 40, 3)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.images.min() >= 0 and a.images.max() <= 1
    assert 0 < ((a.ages >= 14) & (a.ages <= 21)).mean() < 0.3
    assert np.median(a.ages) < np.mean(a.ages)  # right-skewed like UTKFace


def test_real_data_facts(real_faces):
    assert len(real_faces) == 9780
    if Path(real_faces.source).is_file():  # the tarball (a folder has a checksum of its own)
        assert real_faces.checksum == data.KNOWN_TARBALL_SHA256
    assert int(((real_faces.ages >= 14) & (real_faces.ages <= 21)).sum()) == 1073
    assert real_faces.ages.min() == 1 and real_faces.ages.max() == 110
    assert real_faces.images.min() >= 0 and real_faces.images.max() <= 1
