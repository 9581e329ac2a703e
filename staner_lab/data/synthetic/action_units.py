"""FACS action units: emotion prototypes, AU names, per-AU landmark shifts and the onset curve.

:data:`EMOTION_AUS` maps each CK+ emotion to its active AUs and peak amplitudes;
:func:`au_shift` is the (68, 2) landmark move of one AU at amplitude 1 (moves are linear in the
amplitude); :func:`ease` is the neutral -> peak time course.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from staner_lab.data.synthetic.landmarks import BROW_R, MIRROR

__all__ = ["AU_JITTER", "AU_NAMES", "EMOTION_AUS", "amplitudes", "au_shift", "ease"]

#: Emotion prototypes: active AUs and their peak amplitudes (at ``intensity=1``).
#: Contempt's AU14 is drawn on one side of the mouth only (which side is chosen per sequence).
EMOTION_AUS: dict[str, dict[str, float]] = {
    "anger": {"AU4": 1.0, "AU5": 0.7, "AU7": 1.0, "AU23": 1.0},
    "contempt": {"AU14": 1.0},
    "disgust": {"AU9": 1.0, "AU15": 0.8, "AU16": 1.0},
    "fear": {"AU1": 1.0, "AU2": 0.8, "AU4": 0.8, "AU5": 1.0, "AU20": 1.0, "AU26": 0.6},
    "happy": {"AU6": 1.0, "AU12": 1.0},
    "sadness": {"AU1": 1.0, "AU4": 0.8, "AU15": 1.0},
    "surprise": {"AU1": 1.0, "AU2": 1.0, "AU5": 1.0, "AU26": 1.0},
}

#: A sequence's peak amplitude of each AU lies in this fraction of its weight (times the intensity).
AU_JITTER: tuple[float, float] = (0.85, 1.0)


def amplitudes(combination: dict[str, float], intensity: float, jitter: Sequence[float]) -> dict[str, float]:
    """Peak amplitudes of a combination's AUs: weight x intensity x jitter (one draw in
    :data:`AU_JITTER` per AU, in the combination's order; extra draws are ignored)."""
    return {au: float(intensity * w * j) for (au, w), j in zip(combination.items(), jitter)}


#: Short FACS names of the AUs the renderer knows.
AU_NAMES: dict[str, str] = {
    "AU1": "inner brow raiser",
    "AU2": "outer brow raiser",
    "AU4": "brow lowerer",
    "AU5": "upper lid raiser",
    "AU6": "cheek raiser",
    "AU7": "lid tightener",
    "AU9": "nose wrinkler",
    "AU10": "upper lip raiser",
    "AU12": "lip corner puller",
    "AU14": "dimpler (unilateral)",
    "AU15": "lip corner depressor",
    "AU16": "lower lip depressor",
    "AU20": "lip stretcher",
    "AU23": "lip tightener",
    "AU25": "lips part",
    "AU26": "jaw drop",
}


def _sym(d: np.ndarray, idx: Sequence[int], dx: float | Sequence[float], dy: float | Sequence[float]) -> None:
    """Add (dx, dy) to image-left landmarks ``idx`` and the mirrored move to their mirror images."""
    idx = np.asarray(idx)
    dx, dy = np.broadcast_to(dx, idx.shape), np.broadcast_to(dy, idx.shape)
    d[idx, 0] += dx
    d[idx, 1] += dy
    m = MIRROR[idx]
    d[m, 0] -= dx
    d[m, 1] += dy


def au_shift(au: str, side: int) -> np.ndarray:
    """(68, 2) landmark displacement of ``au`` at amplitude 1, in face units.

    Displacements are linear in the amplitude, so ``amplitude * au_shift(au, side)`` is the move.
    ``side`` (+1 image right / -1 image left) only matters for the unilateral AU14.
    """
    d = np.zeros((68, 2))
    brow = BROW_R  # image-left brow, outer -> inner; _sym mirrors it
    if au == "AU1":  # inner brow raiser
        _sym(d, brow, [0.0, 0.0, 0.01, 0.02, 0.03], -0.17 * np.array([0.05, 0.2, 0.5, 0.85, 1.0]))
    elif au == "AU2":  # outer brow raiser
        _sym(d, brow, [-0.02, -0.01, 0, 0, 0], -0.16 * np.array([1.0, 0.85, 0.55, 0.2, 0.05]))
    elif au == "AU4":  # brow lowerer: down and together; upper lid a little lower
        _sym(d, brow, 0.07 * np.array([0, 0.1, 0.3, 0.6, 1.0]), 0.10 * np.array([0.3, 0.5, 0.75, 0.9, 1.0]))
        _sym(d, [37, 38], 0, 0.015)
    elif au == "AU5":  # upper lid raiser
        _sym(d, [37, 38], 0, -0.065)
        _sym(d, [36, 39], 0, -0.005)
    elif au == "AU6":  # cheek raiser: lower lid up, eye narrows, outer brow a little down
        _sym(d, [40, 41], 0, -0.035)
        _sym(d, [36], 0, -0.012)
        _sym(d, [17, 18], 0, 0.02)
    elif au == "AU7":  # lid tightener: lower lid up and straight, upper lid a little down
        _sym(d, [40, 41], 0, -0.045)
        _sym(d, [37, 38], 0, 0.015)
    elif au == "AU9":  # nose wrinkler: nostrils up, upper lip up, inner brows down
        _sym(d, [31], -0.02, -0.06)
        _sym(d, [32], -0.01, -0.05)
        _sym(d, [33], 0, -0.04)
        _sym(d, [30], 0, -0.02)
        _sym(d, [29], 0, -0.01)
        _sym(d, [20, 21], 0.01, [0.03, 0.05])
        _sym(d, [49, 50, 51], 0, -0.04)
        _sym(d, [61, 62], 0, -0.03)
        _sym(d, [40, 41], 0, -0.015)
    elif au == "AU10":  # upper lip raiser; the lip corners rise with it (as they do in real CK+ disgust)
        _sym(d, [49, 50, 51], 0, [-0.06, -0.07, -0.06])
        _sym(d, [61, 62], 0, -0.06)
        _sym(d, [48, 60], 0, -0.065)
    elif au == "AU12":  # lip corner puller: corners up and out, lips follow
        _sym(d, [48], -0.10, -0.12)
        _sym(d, [60], -0.09, -0.11)
        _sym(d, [49, 59], -0.045, [-0.06, -0.05])
        _sym(d, [50, 58], -0.01, [-0.02, -0.03])
        _sym(d, [61, 67], -0.02, -0.04)
        _sym(d, [57], 0, -0.015)
    elif au == "AU14":  # dimpler, one side only: corner tightened, pulled back and up
        c, ci, cu, cl = (54, 64, 53, 55) if side > 0 else (48, 60, 49, 59)
        d[[c, ci], 0] += side * 0.07
        d[[c, ci], 1] -= 0.085
        d[[cu, cl], 0] += side * 0.03
        d[cu, 1] -= 0.03
        d[cl, 1] -= 0.05
        d[[52 if side > 0 else 50, 63 if side > 0 else 61, 65 if side > 0 else 67], 1] -= 0.012
    elif au == "AU15":  # lip corner depressor
        _sym(d, [48], 0.01, 0.10)
        _sym(d, [60], 0.01, 0.09)
        _sym(d, [49, 59], 0, 0.04)
        _sym(d, [61, 67], 0, 0.025)
        _sym(d, [57], 0, -0.01)
    elif au == "AU16":  # lower lip depressor: lower lip down, mouth opens a little
        _sym(d, [59, 58], 0, [0.05, 0.085])
        _sym(d, [57], 0, 0.09)
        _sym(d, [67], 0, 0.07)
        _sym(d, [66], 0, 0.075)
    elif au == "AU20":  # lip stretcher: corners out, lips flatten
        _sym(d, [48], -0.11, 0.02)
        _sym(d, [60], -0.10, 0.02)
        _sym(d, [49, 59], -0.05, [0.012, -0.01])
        _sym(d, [50, 58], -0.015, [0.012, -0.012])
        _sym(d, [61, 67], -0.04, 0)
    elif au == "AU23":  # lip tightener: lips thinner and narrower
        _sym(d, [48], 0.045, 0)
        _sym(d, [60], 0.045, 0)
        _sym(d, [49, 50, 51], [0.02, 0, 0], [0.03, 0.04, 0.035])
        _sym(d, [59, 58, 57], [0.02, 0, 0], [-0.035, -0.045, -0.045])
        _sym(d, [61, 67], 0.02, 0)
    elif au == "AU25":  # lips part, far enough at full weight for the renderer to open the mouth
        _sym(d, [61, 62], 0, -0.025)
        _sym(d, [67, 66], 0, 0.09)
        _sym(d, [59, 58, 57], 0, [0.055, 0.07, 0.07])
    elif au == "AU26":  # jaw drop: chin and lower lip down, mouth opens (rounder)
        _sym(d, [4, 5, 6, 7, 8], 0, 0.30 * np.array([0.12, 0.35, 0.62, 0.87, 1.0]))
        _sym(d, [59, 58, 57], 0.0, [0.22, 0.27, 0.28])
        _sym(d, [67, 66], 0, [0.25, 0.27])
        _sym(d, [48, 60], 0.045, [0.09, 0.10])
        _sym(d, [49], 0.02, 0.0)
        _sym(d, [61, 62], 0, -0.01)
    else:
        raise ValueError(f"unknown action unit {au!r}; known: {sorted(AU_NAMES, key=_au_number)}")
    # _sym also mirrors the centre points (8, 27-30, 33, 51, 57, 62, 66) onto themselves: undo the
    # doubled vertical move there (their x moves cancel out already).
    centre = np.array([8, 27, 28, 29, 30, 33, 51, 57, 62, 66])
    if au != "AU14":
        d[centre, 1] *= 0.5
    return d


def _au_number(au: str) -> int:
    return int(au[2:])


def ease(p: float) -> float:
    """Smooth ease-in from neutral (0) to peak (1): slow onset, fastest mid-way, settles at peak."""
    return p * p * (3.0 - 2.0 * p)
