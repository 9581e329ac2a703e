"""Subject-independent stratified folds: invariants, determinism, balance, errors."""

from __future__ import annotations

import numpy as np
import pytest

from staner_lab.data.records import SequenceRecord
from staner_lab.data.splits import fold_class_counts, subject_kfold


def records_from(pairs: list[tuple[str, int]]) -> list[SequenceRecord]:
    return [SequenceRecord(f"{s}/{i:03d}", s, label, str(label)) for i, (s, label) in enumerate(pairs)]


def random_dataset(seed: int = 1, subjects: int = 40, classes: int = 7) -> list[SequenceRecord]:
    """Like CK+: 1-4 sequences per subject, unbalanced classes."""
    rng = np.random.default_rng(seed)
    weights = np.arange(1, classes + 1) / np.arange(1, classes + 1).sum()
    pairs = [
        (f"S{s:03d}", int(rng.choice(classes, p=weights)))
        for s in range(subjects)
        for _ in range(rng.integers(1, 5))
    ]
    return records_from(pairs)


def test_folds_partition_the_records_by_subject():
    records = random_dataset()
    folds = subject_kfold(records, k=10, seed=0)
    assert len(folds) == 10
    tests = np.concatenate([test for _, test in folds])
    np.testing.assert_array_equal(np.sort(tests), np.arange(len(records)))  # each record tested once
    seen: dict[str, int] = {}
    for f, (train, test) in enumerate(folds):
        assert len(test) >= 1 and train.dtype == np.int64
        np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(len(records)))
        train_subjects = {records[i].subject for i in train}
        test_subjects = {records[i].subject for i in test}
        assert not train_subjects & test_subjects
        for s in test_subjects:
            assert seen.setdefault(s, f) == f  # no subject in two test folds


def test_same_seed_same_folds_other_seed_other_folds():
    records = random_dataset()
    a, b = subject_kfold(records, 5, seed=3), subject_kfold(records, 5, seed=3)
    for (tr_a, te_a), (tr_b, te_b) in zip(a, b, strict=True):
        np.testing.assert_array_equal(tr_a, tr_b)
        np.testing.assert_array_equal(te_a, te_b)
    c = subject_kfold(records, 5, seed=4)
    assert any(not np.array_equal(x[1], y[1]) for x, y in zip(a, c, strict=True))


def test_perfectly_stratifiable_case_is_perfect():
    records = records_from([(f"S{i:02d}", i % 3) for i in range(12)])  # 4 subjects per class
    counts = fold_class_counts(records, subject_kfold(records, 4, seed=0), num_classes=3)
    np.testing.assert_array_equal(counts, np.ones((4, 3)))


def test_stratified_better_than_chance():
    records = random_dataset()
    counts = fold_class_counts(records, subject_kfold(records, 10, seed=0), num_classes=7)
    spread = (counts.max(0) - counts.min(0)).max()
    # a random subject split, for comparison
    rng = np.random.default_rng(0)
    subjects = sorted({r.subject for r in records})
    random_spreads = []
    for _ in range(20):
        fold_of = dict(zip(subjects, rng.permutation(len(subjects)) % 10, strict=True))
        rand = np.zeros((10, 7), int)
        for r in records:
            rand[fold_of[r.subject], r.label] += 1
        random_spreads.append((rand.max(0) - rand.min(0)).max())
    assert spread <= 3 and spread < np.mean(random_spreads)
    sizes = counts.sum(1)
    assert sizes.max() - sizes.min() <= 3


def test_every_fold_gets_a_subject_even_with_one_big_subject():
    records = records_from([("BIG", i % 2) for i in range(30)] + [("A", 0), ("B", 1)])
    folds = subject_kfold(records, 3, seed=0)
    assert sorted(len(test) for _, test in folds) == [1, 1, 30]


def test_errors():
    records = records_from([(f"S{i}", i % 2) for i in range(6)])
    with pytest.raises(
        ValueError, match="more folds than subjects: k=10 but only 6 subjects; use --folds 6 or fewer"
    ):
        subject_kfold(records, 10, seed=0)
    with pytest.raises(ValueError, match="at least 2 folds"):
        subject_kfold(records, 1, seed=0)
    assert len(subject_kfold(records, 6, seed=0)) == 6  # leave-one-subject-out works
