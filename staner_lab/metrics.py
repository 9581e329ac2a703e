"""Evaluation metrics: Eq. 16 as multi-class accuracy, the confusion matrix, per-class recall, how far
a branch's probabilities can be trusted (``confidence_report``, ``reliability``: expected calibration
error and the reliability diagram's bins); and the
statistics that test a claim "variant A beats variant B" on cross-validation folds (paired
differences, the corrected resampled t interval with scipy's Student t)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import NamedTuple

import numpy as np

__all__ = ["PairedInterval", "Reliability", "accuracy_from_confusion", "claim_verdict", "confidence_report",
           "confusion_matrix", "mean_std", "paired_differences", "paired_interval", "per_class_recall",
           "reliability"]


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


def confidence_report(P: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Can these probabilities be averaged with another branch's (Eq. 14)? A branch that is often
    wrong but sure of itself outvotes a better one; its likelihood shows it, its accuracy does not.

    Args:
        P: (N, K) probabilities (P_G, P_L or the fused P).
        labels: (N,) true classes.

    Returns:
        accuracy; nll, the mean of -ln P(true class) (probabilities clipped at 1e-12); confidence, the
        mean top probability; confidence_when_wrong, the same over the wrong answers (NaN if none).
    """
    P, y = np.asarray(P, dtype=np.float64), np.asarray(labels, dtype=int)
    top, wrong = P.max(axis=1), P.argmax(axis=1) != y
    return {"accuracy": float((~wrong).mean()),
            "nll": float(-np.log(np.clip(P[np.arange(len(y)), y], 1e-12, None)).mean()),
            "ece": reliability(P, y).ece,
            "confidence": float(top.mean()),
            "confidence_when_wrong": float(top[wrong].mean()) if wrong.any() else float("nan")}


class Reliability(NamedTuple):
    """What a reliability diagram draws: the answers grouped by their confidence.

    Attributes:
        edges: (B + 1,) bin edges over the top probability, 0 ... 1.
        confidence: (B,) mean top probability of the answers in each bin (NaN for an empty bin).
        accuracy: (B,) share of those answers that are right (NaN for an empty bin).
        count: (B,) answers in each bin.
        ece: expected calibration error, sum over bins of count/N * |accuracy - confidence|
            (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017).
    """

    edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray
    ece: float


def reliability(P: np.ndarray, labels: np.ndarray, bins: int = 10) -> Reliability:
    """Bin the answers (argmax of each row of ``P``) by their top probability into ``bins`` equal-width
    bins. A calibrated branch is right as often as it is sure: the bins lie on the diagonal, ECE 0.

    Args:
        P: (N, K) probabilities.
        labels: (N,) true classes.
        bins: number of equal-width bins over [0, 1].
    """
    P, y = np.asarray(P, dtype=np.float64), np.asarray(labels, dtype=int)
    if P.ndim != 2 or len(P) != len(y):
        raise ValueError(f"reliability needs P of shape (N, K) and N labels, got {P.shape} and {y.shape}")
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    top, right = P.max(axis=1), (P.argmax(axis=1) == y).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(top, edges[1:-1], right=True), 0, bins - 1)  # (0.1, 0.2] -> bin 1
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.bincount(which, weights=top, minlength=bins) / count
        accuracy = np.bincount(which, weights=right, minlength=bins) / count
    gap = np.abs(np.nan_to_num(accuracy) - np.nan_to_num(confidence))
    ece = float((count * gap).sum() / len(y)) if len(y) else float("nan")
    return Reliability(edges, confidence, accuracy, count, ece)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and population standard deviation (ddof=0), as usually reported for k-fold CV."""
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std())


# ---------------------------------------------------------------------------------------------------
# Claims tested, not assumed: paired differences between two variants and their interval.


class PairedInterval(NamedTuple):
    """The mean of paired differences with its two-sided interval.

    Attributes:
        mean: mean difference (first minus second).
        low, high: the interval (NaN with fewer than two pairs).
        n: number of pairs.
        better: pairs where the first is strictly better (difference > 0).
        worse: pairs where it is strictly worse (difference < 0).
        std: sample standard deviation of the differences (ddof=1; NaN with fewer than two pairs).
        se: the standard error used for the interval (corrected, see :func:`paired_interval`).
        df: degrees of freedom of the t quantile (n - 1).
    """

    mean: float
    low: float
    high: float
    n: int
    better: int
    worse: int
    std: float
    se: float
    df: int


def paired_differences(a: Mapping[Hashable, float], b: Mapping[Hashable, float]) -> tuple[list, np.ndarray]:
    """Differences ``a[key] - b[key]`` over the keys both hold, in ``a``'s order.

    For cross-validation the key is ``(seed, fold)``: both variants were trained and tested on the
    same split (same seed, same fold), so the difference removes what the split itself does to
    accuracy (an easy fold is easy for both), which the unpaired mean ± std keeps.
    """
    keys = [k for k in a if k in b]
    return keys, np.array([float(a[k]) - float(b[k]) for k in keys], dtype=float)


def paired_interval(differences: Sequence[float], level: float = 0.95,
                    test_train_ratio: float = 0.0) -> PairedInterval:
    """Mean of paired differences and its two-sided ``level`` t interval, optionally corrected for CV.

    The interval is ``mean ± t(1 - (1 - level) / 2, n - 1) * se`` with

        se = sqrt((1 / n + test_train_ratio) * s²),   s² = sample variance of the n differences.

    ``test_train_ratio = 0`` is the ordinary paired t interval, right for independent pairs.
    Cross-validation pairs are not independent: any two folds share most of their training data, and
    repeating k-fold CV with other seeds reuses the same sequences, so the differences are
    positively correlated and the ordinary interval is too narrow (it shrinks as seeds are added even
    though no new data comes in). Nadeau & Bengio (2003, "Inference for the generalization error")
    showed that replacing 1/n by 1/n + n_test/n_train corrects for this; Bouckaert & Frank (2004)
    checked that this "corrected repeated k-fold CV t-test" keeps about the nominal error rate for
    r seeds x k folds (n = r k, df = n - 1). Pass the mean test size over the mean train size of
    the folds (about 1 / (k - 1) for k folds). A bootstrap over the pairs would not help: it too
    treats the pairs as independent.

    Fewer than two pairs give a NaN interval. Identical differences give a zero-width interval.
    """
    d = np.asarray(differences, dtype=float)
    n = int(d.size)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    if test_train_ratio < 0:
        raise ValueError(f"test_train_ratio must be >= 0, got {test_train_ratio}")
    mean = float(d.mean()) if n else float("nan")
    better, worse = int((d > 0).sum()), int((d < 0).sum())
    if n < 2:
        nan = float("nan")
        return PairedInterval(mean, nan, nan, n, better, worse, nan, nan, max(n - 1, 0))
    std = float(d.std(ddof=1))
    se = math.sqrt((1.0 / n + test_train_ratio) * std * std)
    from scipy.stats import t as student_t  # imported here: scipy.stats takes a second to import

    half = float(student_t.ppf(1.0 - (1.0 - level) / 2.0, n - 1)) * se
    return PairedInterval(mean, mean - half, mean + half, n, better, worse, std, se, n - 1)


def claim_verdict(low: float, high: float) -> str:
    """A claim's verdict from its interval: "holds" (above 0), "reversed" (below 0), else "not shown"
    (the interval contains 0, or is undefined)."""
    if low > 0:
        return "holds"
    if high < 0:
        return "reversed"
    return "not shown"
