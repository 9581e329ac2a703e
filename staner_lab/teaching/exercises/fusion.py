"""Checks for notebooks 05 and 06 (the decision): fusion (Eq. 14), the best alpha, accuracy (Eq. 16)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from staner_lab import functional as Fn
from staner_lab.teaching.exercises.checking import (
    DTYPE,
    Mismatch,
    NotDone,
    call,
    close,
    gen,
    report,
    shape,
    tensor,
)

__all__ = ["check_accuracy", "check_best_alpha", "check_eq14"]


def check_eq14(student_fn: Callable[[Tensor, Tensor, float], Tensor]) -> bool:
    """Eq. 14 inside the argmax, ``student_fn(P_G, P_L, alpha) -> P = alpha P_G + (1 - alpha) P_L``."""

    def body() -> str:
        g = gen(8)
        P_G = Fn.softmax(torch.randn(4, 7, generator=g, dtype=DTYPE) * 2)
        P_L = Fn.softmax(torch.randn(4, 7, generator=g, dtype=DTYPE) * 2)
        cases = [(f"alpha = {a}", a) for a in (0.5, 0.2, 0.9, 0.0, 1.0)]
        for case, a in cases:
            out = tensor(call(student_fn, (P_G.clone(), P_L.clone(), a), case, "your fusion"), case, "P")
            want = Fn.fuse_probabilities(P_G, P_L, a)
            if close(out, want):
                continue
            if out.shape == (4,):
                raise Mismatch("you returned the decision O = argmax (one class per example); this function "
                               "should return the fused probabilities P (B, K). The argmax comes after.")
            if out.shape != want.shape:
                raise Mismatch(f"on {case} P has shape {shape(out)}, expected {shape(want)}.")
            if close(out, Fn.fuse_probabilities(P_L, P_G, a)):
                raise Mismatch("alpha weighs the wrong branch: Eq. 14 is alpha P_G (SGAER) + (1 - alpha) P_L "
                               "(TLER); with alpha = 1 only SGAER counts.")
            if close(out, a * P_G + P_L):
                raise Mismatch("the (1 - alpha) in front of P_L is missing; the rows of P must still sum to 1.")
            if close(out, Fn.fuse_probabilities(P_G, P_L, 0.5)):
                raise Mismatch("your P ignores alpha (always the plain average); use the alpha argument.")
            raise Mismatch(f"on {case} your P differs from alpha P_G + (1 - alpha) P_L; rows sum to "
                           f"{[round(v, 3) for v in out.sum(-1).tolist()]}.")
        return "Eq. 14: P = alpha P_G + (1 - alpha) P_L matches staner_lab.functional.fuse_probabilities (alpha 0 ... 1)."

    return report("Eq. 14", body)


def check_best_alpha(value: Any, P_G: np.ndarray, P_L: np.ndarray, labels: np.ndarray,
                     alphas: Sequence[float] | np.ndarray | None = None) -> bool:
    """Is ``value`` an alpha that maximises the validation accuracy of the fused decision (Eq. 14, 16)?

    The accuracy is computed on the grid ``alphas`` (default 0, 0.01, ..., 1) and at ``value``; any
    alpha that reaches the grid's best accuracy is correct (there is usually a whole interval of them).

    Args:
        value: the student's alpha.
        P_G, P_L: (N, K) validation probabilities of SGAER and TLER.
        labels: (N,) validation labels.
    """
    from staner_lab.training.fusion import alpha_sweep, fused_accuracy

    def body() -> str:
        if value is None or value is Ellipsis:
            raise NotDone("set best_alpha to the alpha you found (a number in [0, 1])")
        try:
            a = float(value)
        except (TypeError, ValueError):
            raise Mismatch(f"best_alpha should be a number in [0, 1], got {type(value).__name__}") from None
        if not 0.0 <= a <= 1.0:
            hint = " (a percentage? divide by 100)" if 1.0 < a <= 100.0 else ""
            raise Mismatch(f"alpha must lie in [0, 1]{hint}; Eq. 14 mixes P_G and P_L with weights alpha and 1 - alpha.")
        _, acc = alpha_sweep(P_G, P_L, labels, alphas)
        best = float(acc.max())
        mine = fused_accuracy(P_G, P_L, labels, a)
        at_half = fused_accuracy(P_G, P_L, labels, 0.5)
        if mine + 1e-12 >= best:
            return (f"alpha = {a:g} reaches the best validation accuracy, {best:.3f} "
                    f"(alpha = 0.5 gives {at_half:.3f}).")
        raise Mismatch(f"alpha = {a:g} gives a validation accuracy of {mine:.3f}, but some alpha reaches {best:.3f}. "
                       "Sweep alpha over np.linspace(0, 1, 101) on the VALIDATION predictions and keep one of the "
                       "alphas with the highest accuracy.")

    return report("best alpha", body)



def check_accuracy(student_fn: Callable[[np.ndarray], float]) -> bool:
    """Eq. 16 for K classes, ``student_fn(cm) -> accuracy`` from a confusion matrix (rows true, columns predicted)."""

    def body() -> str:
        rng = np.random.default_rng(9)
        cm7 = rng.integers(0, 6, size=(7, 7)) + np.diag(rng.integers(5, 15, size=7))
        cases = [("a 7-class confusion matrix", cm7),
                 ("an unbalanced matrix (one class has no test sample)",
                  np.array([[20, 2, 1], [0, 0, 0], [5, 3, 4]])),
                 ("a perfect classifier", np.diag([3, 4, 5])),
                 ("a 2-class matrix", np.array([[8, 2], [3, 7]]))]
        for case, cm in cases:
            got = call(student_fn, (cm.copy(),), case, "your accuracy function")
            try:
                got = float(got)
            except (TypeError, ValueError):
                raise Mismatch(f"on {case} return one number, got {type(got).__name__}") from None
            want = float(np.trace(cm) / cm.sum())
            if math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12):
                continue
            if math.isclose(got, 100 * want, rel_tol=1e-9):
                raise Mismatch("that is a percentage; return a fraction in [0, 1] (print it with :.1%).")
            total = cm.sum()
            tp = np.diag(cm)
            fp = cm.sum(0) - tp
            fn = cm.sum(1) - tp
            tn = total - tp - fp - fn
            binary = (tp + tn) / total
            if math.isclose(got, float(binary.mean()), rel_tol=1e-9):
                raise Mismatch(f"you applied Eq. 16, (TP + TN) / (TP + TN + FP + FN), to each class against the rest "
                               f"and averaged: {got:.3f}. With K classes TN is large for every class, so this "
                               f"flatters the model; the paper's figure is multi-class accuracy, correct / total = "
                               f"trace / sum = {want:.3f}.")
            rows = cm.sum(1)
            with np.errstate(invalid="ignore", divide="ignore"):
                recall = np.where(rows > 0, tp / np.maximum(rows, 1), np.nan)
                precision = np.where(cm.sum(0) > 0, tp / np.maximum(cm.sum(0), 1), np.nan)
            if math.isclose(got, float(np.nanmean(recall)), rel_tol=1e-9):
                raise Mismatch("you averaged the per-class recalls (balanced accuracy); Eq. 16 counts every test "
                               "sequence once: trace / total.")
            if math.isclose(got, float(np.nanmean(precision)), rel_tol=1e-9):
                raise Mismatch("you averaged the per-class precisions; Eq. 16 is correct / total = trace / sum.")
            if math.isclose(got, float(np.trace(cm) / len(cm)), rel_tol=1e-9):
                raise Mismatch("divide the trace by the number of test sequences (cm.sum()), not by the number "
                               "of classes.")
            raise Mismatch(f"on {case} expected {want:.4f}, got {got:.4f}: the correct predictions are on the "
                           "diagonal.")
        return "Eq. 16 as multi-class accuracy: trace(cm) / cm.sum(), as staner_lab.metrics.accuracy_from_confusion."

    return report("Eq. 16", body)
