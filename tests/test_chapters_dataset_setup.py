"""The dataset chapter's facts, split table and verdict rows, on small hand-made data."""

import numpy as np
import pytest

from metareweight.chapters import dataset_setup as chapter
from metareweight.data import KNOWN_TARBALL_SHA256, Faces
from metareweight.splits import Split, make_splits
from metareweight.verdicts import Verdicts


def _faces(ages, side=40, low_pixel=0.0, high_pixel=1.0, checksum=KNOWN_TARBALL_SHA256):
    face = np.full((side, side, 3), low_pixel, dtype=np.float32)
    face[0, 0, 0] = high_pixel
    images = np.broadcast_to(face, (len(ages), side, side, 3))  # one face, many times, no copies
    names = tuple(f"{i}.jpg" for i in range(len(ages)))
    return Faces(images=images, ages=np.asarray(ages, dtype=np.int64), names=names, source="utkface",
                 checksum=checksum, path="mem")


def _splits(n=60, n_splits=4):
    ages = 10 + np.arange(n) % 15  # ages 10..24, two thirds of them in the band 10-19
    return make_splits(ages, n_splits=n_splits, low=10, high=19, block=10, val_offset=20), ages


def test_image_facts_measure_the_images():
    faces = _faces([10, 14, 15, 30, 50], checksum="other")
    facts = chapter.image_facts(faces, 14, 21)
    assert facts["n_images"] == 5 and facts["n_target"] == 2
    assert (facts["age_min"], facts["age_max"], facts["age_median"]) == (10, 50, 15.0)
    assert facts["image_side"] == 40 and (facts["pixel_min"], facts["pixel_max"]) == (0.0, 1.0)
    assert facts["sha_matches"] == "does not match"
    assert chapter.image_facts(_faces([20]), 14, 21)["sha_matches"] == "matches"


def test_sample_faces_is_sorted_distinct_and_seeded():
    a = chapter.sample_faces(100, 12, seed=0)
    assert len(set(a)) == 12 and list(a) == sorted(a) and a.max() < 100
    assert np.array_equal(a, chapter.sample_faces(100, 12, seed=0))
    assert not np.array_equal(a, chapter.sample_faces(100, 12, seed=1))


def test_split_table_and_facts_count_rows():
    splits, _ = _splits()
    table = chapter.split_table(splits)
    assert list(table.index) == [0, 1, 2, 3]
    assert (table["all training"] == 50).all()  # 60 rows less a test block of 10
    assert (table["meta-training"] == 40).all()  # less the validation block of 10
    facts = chapter.split_facts(splits, table)
    assert facts["n_splits"] == 4 and facts["all_train"] == 50 and facts["meta_train"] == 40
    assert facts["test_min"] <= facts["test_mean"] <= facts["test_max"]
    assert facts["disjoint"] == "are"
    # positions 20-29 of the rest: permuted rows 30-39 for splits 0-2, rows 20-29 for split 3 (two sets)
    assert facts["n_valid_sets"] == 2 and facts["split2_is_valid"] == "is"


def test_overlapping_rows_are_not_disjoint():
    rows = np.arange(10)
    good = Split(0, test=rows[:2], test_block=rows[:3], train_all=rows[3:], train_restricted=rows[3:5],
                 valid=rows[3:5], meta_train=rows[5:])
    assert chapter.splits_disjoint([good])
    leaky = Split(0, test=rows[:2], test_block=rows[:4], train_all=rows[3:], train_restricted=rows[3:5],
                  valid=rows[3:5], meta_train=rows[5:])
    assert not chapter.splits_disjoint([leaky])
    in_meta = Split(0, test=rows[:2], test_block=rows[:3], train_all=rows[3:], train_restricted=rows[3:5],
                    valid=rows[3:6], meta_train=rows[5:])
    assert not chapter.splits_disjoint([in_meta])
    assert not chapter.split2_is_valid([good, good, good])  # needs four splits


def test_verdicts_hold_for_the_papers_data_and_fail_otherwise():
    splits, ages = _splits()
    table = chapter.split_table(splits)
    v = Verdicts("dataset-setup")
    judged = chapter.add_verdicts(v, _faces(ages), splits, table, 14, 21)
    assert [j.holds for j in judged.values()] == ["no", "yes", "yes", "no", "yes"]  # 60 images; blocks of 10
    assert chapter.data_matches(judged) == "does not match"
    assert {r.kind for r in v.rows} == {"setup"} and len(v.rows) == 5
    judged = chapter.add_verdicts(Verdicts("d"), _faces(np.arange(9780) % 80), splits, table, 14, 21)
    assert chapter.data_matches(judged) == "matches"
    judged = chapter.add_verdicts(Verdicts("d"), _faces(np.arange(9780) % 80, high_pixel=255.0), splits, table, 14, 21)
    assert judged["range"].holds == "no" and chapter.data_matches(judged) == "does not match"


@pytest.mark.parametrize("side", [32, 40])
def test_the_size_row_reads_the_pooled_side(side):
    splits, ages = _splits()
    judged = chapter.add_verdicts(Verdicts("d"), _faces(ages, side=side), splits, chapter.split_table(splits), 14, 21)
    assert judged["size"].holds == ("yes" if side == 40 else "no")
