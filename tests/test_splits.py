import numpy as np
import pytest

from metareweight.splits import SplitError, make_splits


def _check_invariants(splits, ages, low, high):
    for s in splits:
        assert set(s.test) <= set(s.test_block)
        assert not set(s.test_block) & set(s.train_all)
        assert len(s.test_block) + len(s.train_all) == len(ages)
        assert set(s.valid) <= set(s.train_all) and not set(s.valid) & set(s.meta_train)
        assert set(s.meta_train) <= set(s.train_all)
        assert np.all((ages[s.test] >= low) & (ages[s.test] <= high))
        assert np.all((ages[s.valid] >= low) & (ages[s.valid] <= high))
        assert np.all((ages[s.train_restricted] >= low) & (ages[s.train_restricted] <= high))
        outside = np.setdiff1d(s.train_all, s.train_restricted)
        assert not np.any((ages[outside] >= low) & (ages[outside] <= high))
    blocks = np.concatenate([s.test_block for s in splits])
    assert len(np.unique(blocks)) == len(blocks)  # test blocks never overlap


def test_protocol_on_synthetic_ages():
    ages = np.random.default_rng(1).integers(1, 90, size=9780)
    splits = make_splits(ages)
    assert len(splits) == 8
    _check_invariants(splits, ages, 14, 21)
    assert all(len(s.meta_train) == 7780 and len(s.train_all) == 8780 for s in splits)


def test_protocol_follows_randomstate_zero():
    ages = np.arange(9780) % 100
    perm = np.random.RandomState(0).permutation(9780)
    s0, s3 = make_splits(ages, n_splits=4)[0], make_splits(ages, n_splits=4)[3]
    np.testing.assert_array_equal(s0.test_block, perm[:1000])
    np.testing.assert_array_equal(s3.test_block, perm[3000:4000])
    rest = np.concatenate([perm[:3000], perm[4000:]])
    np.testing.assert_array_equal(s3.train_all, rest)
    val_block = rest[2000:3000]
    np.testing.assert_array_equal(s3.valid, val_block[(ages[val_block] >= 14) & (ages[val_block] <= 21)])


def test_deterministic():
    ages = np.random.default_rng(2).integers(1, 90, size=9780)
    a, b = make_splits(ages), make_splits(ages)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.test, y.test)
        np.testing.assert_array_equal(x.meta_train, y.meta_train)


def test_other_target_range():
    ages = np.random.default_rng(3).integers(1, 90, size=9780)
    splits = make_splits(ages, low=30, high=40)
    _check_invariants(splits, ages, 30, 40)


def test_empty_target_range_is_an_error():
    ages = np.full(9780, 50)
    with pytest.raises(SplitError, match="no rows have ages in the target range 14-21"):
        make_splits(ages)


def test_empty_validation_is_an_error():
    ages = np.full(9780, 50)
    perm = np.random.RandomState(0).permutation(9780)
    ages[perm[:1000]] = 15  # test blocks of split 0 only
    with pytest.raises(SplitError, match="validation set is empty"):
        make_splits(ages, n_splits=1)


def test_too_few_rows():
    with pytest.raises(SplitError, match="too few"):
        make_splits(np.arange(5000), n_splits=8)


def test_real_split_sizes(real_faces):
    splits = make_splits(real_faces.ages)
    _check_invariants(splits, real_faces.ages, 14, 21)
    tests = [len(s.test) for s in splits]
    valids = [len(s.valid) for s in splits]
    assert 95 <= min(tests) and max(tests) <= 125 and 100 <= np.mean(tests) <= 120
    assert 100 <= np.mean(valids) <= 120
    assert all(900 <= len(s.train_restricted) <= 1000 for s in splits)
    # every in-range image is in the test set of at most one split
    assert len(np.concatenate([s.test for s in splits])) <= 1073


def test_paper_protocol_shares_two_validation_sets_and_independent_draws_eight():
    ages = np.random.default_rng(1).integers(1, 90, size=9780)
    paper = make_splits(ages)
    assert len({s.valid_digest() for s in paper}) == 2
    assert len({s.valid_digest() for s in paper[:3]}) == 1 and len({s.valid_digest() for s in paper[3:]}) == 1
    perm = np.random.RandomState(0).permutation(len(ages))
    # splits 0-2 validate on permuted rows 3000-3999, splits 3-7 on 2000-2999: split 2's test block
    np.testing.assert_array_equal(np.sort(paper[0].valid), np.sort(paper[2].valid))
    val_block_3 = perm[2000:3000]
    np.testing.assert_array_equal(paper[2].test_block, val_block_3)
    assert set(paper[3].valid) <= set(val_block_3)
    independent = make_splits(ages, protocol="independent")
    _check_invariants(independent, ages, 14, 21)
    assert len({s.valid_digest() for s in independent}) == 8
    for p, i in zip(paper, independent, strict=True):  # the extractor's rows, in order, are the same
        np.testing.assert_array_equal(p.train_all, i.train_all)
        np.testing.assert_array_equal(p.test, i.test)
        assert len(i.meta_train) == 7780
    again = make_splits(ages, protocol="independent")
    assert [s.valid_digest() for s in again] == [s.valid_digest() for s in independent]  # seeded
    with pytest.raises(SplitError, match="unknown split protocol"):
        make_splits(ages, protocol="random")
