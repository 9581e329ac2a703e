"""Subject-independent, label-stratified k-fold cross-validation.

The paper uses 10-fold cross-validation on CK+ and Oulu-CASIA without saying how folds are drawn.
Splitting sequences at random would put the same person in training and test folds, and a network
that recognises faces would look better than it is; so every subject's sequences go to one fold.

Within that constraint the folds are stratified greedily, in the spirit of scikit-learn's
``StratifiedGroupKFold``: subjects are shuffled with the seed, then taken largest first, and each
goes to the fold that keeps the per-class share of each fold closest to 1/k (ties: the fold with
fewer sequences, then the lower index). A fold that is still empty when only as many subjects are
left as there are empty folds gets the next subject, so every fold has a test subject.

>>> folds = subject_kfold(records, k=10, seed=0)  # doctest: +SKIP
>>> train_idx, test_idx = folds[0]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

__all__ = ["Labelled", "fold_class_counts", "subject_kfold"]


class Labelled(Protocol):
    """Anything with a subject and a label: a SequenceRecord or a Sample."""

    subject: str
    label: int


def subject_kfold(records: Sequence[Labelled], k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split ``records`` into ``k`` subject-disjoint folds, balanced by label.

    Args:
        records: items with ``.subject`` and ``.label``.
        k: number of folds, 2 <= k <= number of subjects.
        seed: the same seed gives the same folds.

    Returns:
        k pairs (train_idx, test_idx) of sorted int64 indices into ``records``; the test sets
        partition range(len(records)) and no subject is in two of them.

    Raises:
        ValueError: k < 2, or more folds than subjects.
    """
    if k < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got k={k}; use --folds 2 or more")
    subjects = sorted({r.subject for r in records})
    if k > len(subjects):
        raise ValueError(
            f"more folds than subjects: k={k} but only {len(subjects)} subjects; "
            f"use --folds {len(subjects)} or fewer"
        )
    labels = np.array([r.label for r in records], dtype=np.int64)
    num_classes = int(labels.max()) + 1
    row = {s: i for i, s in enumerate(subjects)}
    by_subject = np.zeros((len(subjects), num_classes), dtype=np.int64)  # (subjects, C) counts
    np.add.at(by_subject, ([row[r.subject] for r in records], labels), 1)

    order = np.random.default_rng(seed).permutation(len(subjects))
    order = order[np.argsort(-by_subject[order].sum(1), kind="stable")]  # largest first, ties by seed

    class_totals = np.maximum(by_subject.sum(0), 1)  # (C,)
    fold_counts = np.zeros((k, num_classes), dtype=np.int64)  # (k, C)
    fold_of = np.empty(len(subjects), dtype=np.int64)
    for left, s in zip(range(len(order), 0, -1), order, strict=True):
        empty = np.flatnonzero(fold_counts.sum(1) == 0)
        candidates = empty if left <= len(empty) else np.arange(k)
        best, best_cost = -1, (np.inf, np.inf)
        for f in candidates:
            fold_counts[f] += by_subject[s]
            # spread of each class's share across folds, averaged over classes
            # (rounded so that float noise cannot decide a tie the fold sizes should decide)
            spread = round(float(np.std(fold_counts / class_totals, axis=0).mean()), 12)
            cost = (spread, int(fold_counts[f].sum()))
            fold_counts[f] -= by_subject[s]
            if cost < best_cost:
                best, best_cost = int(f), cost
        fold_counts[best] += by_subject[s]
        fold_of[s] = best

    record_fold = fold_of[[row[r.subject] for r in records]]
    everything = np.arange(len(records))
    return [(everything[record_fold != f], everything[record_fold == f]) for f in range(k)]


def fold_class_counts(
    records: Sequence[Labelled], folds: Sequence[tuple[np.ndarray, np.ndarray]], num_classes: int
) -> np.ndarray:
    """(k, C) number of test sequences of each class in each fold."""
    labels = np.array([r.label for r in records], dtype=np.int64)
    return np.stack([np.bincount(labels[test], minlength=num_classes) for _, test in folds])
