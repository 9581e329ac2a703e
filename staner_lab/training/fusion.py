"""The fusion weight α of Eq. 14 as a choice: accuracy over a sweep of α, and α chosen on held-out
training subjects by likelihood (``TrainConfig.select_alpha``).

The paper fixes α = 0.5. When one branch is much stronger than the other (on subtle expressions the
temporal branch can be far ahead of the peak frame alone), the fixed weight lets the weak branch
pull the fused decision away from the strong one; choosing α on subjects held out from *training*
(never the test fold) lets the data decide how much each branch counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from staner_lab import functional as Fn

__all__ = ["alpha_sweep", "choose_alpha", "fused_accuracy", "fused_nll"]


def fused_accuracy(P_G: np.ndarray, P_L: np.ndarray, labels: np.ndarray, alpha: float) -> float:
    """Multi-class accuracy (Eq. 16) of the Eq. 14 decision argmax(alpha P_G + (1 - alpha) P_L)."""
    P = Fn.fuse_probabilities(torch.as_tensor(np.asarray(P_G)), torch.as_tensor(np.asarray(P_L)), float(alpha))
    O = Fn.decision(P)
    return float(Fn.accuracy(O, torch.as_tensor(np.asarray(labels))))


def alpha_sweep(P_G: np.ndarray, P_L: np.ndarray, labels: np.ndarray,
                alphas: Sequence[float] | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy of the fused decision for every alpha in ``alphas`` (default: 0, 0.01, ..., 1).

    Returns:
        (alphas, accuracies), both (A,).
    """
    a = np.linspace(0.0, 1.0, 101) if alphas is None else np.asarray(alphas, dtype=float)
    return a, np.array([fused_accuracy(P_G, P_L, labels, x) for x in a])


def fused_nll(P_G: np.ndarray, P_L: np.ndarray, labels: np.ndarray, alpha: float) -> float:
    """Mean negative log-likelihood -log P_y of the Eq. 14 fusion alpha P_G + (1 - alpha) P_L."""
    P = alpha * np.asarray(P_G, dtype=np.float64) + (1.0 - alpha) * np.asarray(P_L, dtype=np.float64)
    p_true = P[np.arange(len(P)), np.asarray(labels)]
    return float(-np.log(np.clip(p_true, 1e-12, None)).mean())


def choose_alpha(P_G: np.ndarray, P_L: np.ndarray, labels: np.ndarray, step: float = 0.05) -> float:
    """The α in {0, step, ..., 1} whose fused probabilities give the held-out labels the highest
    likelihood (lowest :func:`fused_nll`).

    Why likelihood and not accuracy: a selection set is small (a few subjects), so many α give the
    same accuracy, and accuracy ignores that a weak branch is often confidently wrong. The
    likelihood is a smooth, proper score that sees both (docs/model.md, "Fusion weight").
    Ties (within 1e-9) go to the α closest to the paper's 0.5 (then the smaller), so that a set that
    cannot tell the branches apart keeps the paper's equal weights.
    """
    alphas = np.round(np.arange(0.0, 1.0 + step / 2, step), 6)
    nll = np.array([fused_nll(P_G, P_L, labels, a) for a in alphas])
    candidates = [a for a, x in zip(alphas, nll) if x <= nll.min() + 1e-9]
    return float(min(candidates, key=lambda a: (abs(a - 0.5), a)))
