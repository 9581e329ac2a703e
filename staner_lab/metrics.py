"""Evaluation metrics: Eq. 16 as multi-class accuracy, the confusion matrix, per-class recall."""

from __future__ import annotations

import numpy as np

__all__ = ["accuracy_from_confusion", "confusion_matrix", "mean_std", "per_class_recall"]


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts (K, K): row = true class, column = predicted class."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(labels, int), np.asarray(predicted, int)), 1)
    return cm


def accuracy_from_confusion(cm: np.ndarray) -> float:
    """Eq. 16 for K classes: trace / total (NaN for an empty matrix)."""
    total = cm.sum()
    return float(np.trace(cm) / total) if total else float("nan")


def per_class_recall(cm: np.ndarray) -> np.ndarray:
    """(K,) recall of each true class (NaN where the class has no test sample)."""
    rows = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(rows > 0, np.diag(cm) / np.maximum(rows, 1), np.nan)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and population standard deviation (ddof=0), as usually reported for k-fold CV."""
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std())
