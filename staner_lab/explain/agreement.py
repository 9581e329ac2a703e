"""Comparing attributions with the learned attention M and with ground-truth AU masks.

Spearman rank correlation between the upsampled attention M and a map (:func:`attention_agreement`),
the pointing game (:func:`pointing_game`) and the attribution mass inside a mask
(:func:`mass_inside`); the synthetic data's AU masks (:func:`load_au_masks`) are first warped into
the aligned peak-face frame by :func:`align_mask`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as TF

from staner_lab.data.align import alignment_matrix
from staner_lab.explain.wrappers import to_numpy
from staner_lab.models.staner import STANER

__all__ = [
    "align_mask",
    "attention_agreement",
    "load_au_masks",
    "mass_inside",
    "pointing_game",
    "union_mask",
    "upsampled_attention",
]


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two arrays (scipy; ties get average ranks), NaN when one is constant."""
    from scipy.stats import spearmanr

    a, b = np.ravel(a), np.ravel(b)
    if a.size != b.size:
        raise ValueError(f"rank correlation of arrays of different sizes ({a.size} vs {b.size})")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def upsampled_attention(model: STANER, peak: Tensor) -> np.ndarray:
    """The learned attention M (Eq. 1), (B, 1, S/8, S/8) upsampled bilinearly to (B, S, S) numpy.

    Raises a ValueError for the channel reading of Eq. 1 (M is (B, C, 1, 1), not a map) and for
    models without attention.
    """
    if model.sgaer is None or model.sgaer.attention is None:
        raise ValueError("this model has no attention module (variant C1/C2/C4), so there is no M")
    if model.sgaer.attention.kind != "spatial":
        raise ValueError("M is a per-channel gate with attention kind 'channel'; only the 'spatial' "
                         "reading gives a map to compare with attributions")
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            M = model.sgaer.forward_intermediates(peak).M  # (B, 1, S/8, S/8)
    finally:
        for m, mode in modes:
            m.training = mode
    S = peak.shape[-1]
    return to_numpy(TF.interpolate(M.float(), size=(S, S), mode="bilinear", align_corners=False)[:, 0])


def _block_mean(x: np.ndarray, pool: int) -> np.ndarray:
    """(B, H, W) -> (B, H/pool, W/pool) means of pool x pool blocks."""
    B, H, W = x.shape
    if H % pool or W % pool:
        raise ValueError(f"pool {pool} does not divide the map size {H}x{W}")
    return x.reshape(B, H // pool, pool, W // pool, pool).mean(axis=(2, 4))


def attention_agreement(attention: np.ndarray, attribution: np.ndarray, absolute: bool = True,
                        pool: int = 1) -> np.ndarray:
    """Spearman rho between the upsampled attention M and an attribution map, per example.

    rho = Spearman(M_up, |A|) over the S x S pixels. M lives on an (S/8) x (S/8) grid, so ranks
    among the pixels of one cell come from the bilinear upsampling, and a pixel-level attribution
    (IG, Saliency) is noisy at that scale: ``pool=S/8`` first averages both maps over the cells of
    M's grid and compares the (S/8)^2 cell values, the agreement at M's own resolution.

    Args:
        attention: (B, S, S) from :func:`upsampled_attention` (or (S, S)).
        attribution: (B, S, S) map of the same size, e.g. ``PeakAttribution.map``.
        absolute: rank |attribution| (M weighs importance whatever the sign; IG and Occlusion maps
            are signed). False ranks the signed values.
        pool: block size of the average pooling before ranking (1 = none).

    Returns:
        (B,) float64 rho in [-1, 1] (NaN where a map is constant).
    """
    M = np.asarray(attention, dtype=np.float64)
    A = np.asarray(attribution, dtype=np.float64)
    M, A = (M[None], A[None]) if M.ndim == 2 else (M, A)
    if M.shape != A.shape:
        raise ValueError(f"attention {M.shape} and attribution {A.shape} must have the same shape")
    A = np.abs(A) if absolute else A
    if pool > 1:
        M, A = _block_mean(M, pool), _block_mean(A, pool)
    return np.array([_spearman(m, a) for m, a in zip(M, A)])


def pointing_game(attribution: np.ndarray, mask: np.ndarray, tolerance: float = 0.0) -> bool:
    """Does the map's maximum point into the mask (Zhang et al. 2018, "Top-down neural attention")?

    Hit when the pixel of the largest value (the first in row-major order when tied) lies within
    ``tolerance`` pixels (Euclidean) of a mask pixel; tolerance 0 = inside the mask. A constant map
    points nowhere and is a miss. The signed value is used: for IG the maximum is the strongest
    evidence *for* the target.

    Args:
        attribution: (H, W) map.
        mask: (H, W) bool, e.g. the union of the aligned AU masks.
        tolerance: pixels (Zhang et al. use 15 px at 224 x 224).
    """
    a = np.asarray(attribution, dtype=np.float64)
    m = np.asarray(mask, dtype=bool)
    if a.shape != m.shape:
        raise ValueError(f"attribution {a.shape} and mask {m.shape} must have the same shape")
    if not m.any() or np.ptp(a) == 0:
        return False
    y, x = np.unravel_index(int(np.argmax(a)), a.shape)
    if tolerance <= 0:
        return bool(m[y, x])
    ys, xs = np.nonzero(m)
    return bool(np.min((ys - y) ** 2 + (xs - x) ** 2) <= tolerance**2)


def pointing_chance(mask: np.ndarray, tolerance: float = 0.0) -> float:
    """The pointing game's chance level: the share of pixels within ``tolerance`` pixels (Euclidean)
    of the mask, i.e. how often a uniformly random maximum would be a hit."""
    m = np.asarray(mask, dtype=bool)
    if tolerance <= 0:
        return float(m.mean())
    outside = cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return float((outside <= tolerance).mean())


def mass_inside(attribution: np.ndarray, mask: np.ndarray,
                part: Literal["positive", "absolute"] = "positive") -> float:
    """Fraction of the attribution mass that falls inside the mask.

        mass = sum_{mask} a+ / sum_all a+,   a+ = max(a, 0) ("positive") or |a| ("absolute")

    A uniform map scores the mask's area fraction, the chance level. NaN when the map has no
    mass.
    """
    a = np.asarray(attribution, dtype=np.float64)
    m = np.asarray(mask, dtype=bool)
    if a.shape != m.shape:
        raise ValueError(f"attribution {a.shape} and mask {m.shape} must have the same shape")
    w = np.clip(a, 0, None) if part == "positive" else np.abs(a)
    total = float(w.sum())
    return float(w[m].sum() / total) if total > 0 else float("nan")


def align_mask(mask: np.ndarray, peak_landmarks: np.ndarray, size: int) -> np.ndarray:
    """Warp a source-frame mask into the aligned peak-face frame of ``align_face``.

    Uses :func:`staner_lab.data.align.alignment_matrix` (the transform ``align_face`` applies),
    bilinear on the 0/1 mask, kept where >= 0.5; outside the frame is False. ``align_face`` may
    shrink a large frame with INTER_AREA first; the composite transform is the same similarity up
    to the rounding of the shrunk size (below a pixel).

    Args:
        mask: (H, W) bool in source-frame pixels (e.g. ``load_au_masks(...)["AU12"]``).
        peak_landmarks: (68, 2) landmarks (x, y) of the peak frame (``Sample.landmarks[-1]`` with
            the default peak "last").
        size: S, the aligned face side.

    Returns:
        (S, S) bool.
    """
    m = alignment_matrix(np.asarray(peak_landmarks, dtype=np.float64), size)
    warped = cv2.warpAffine(np.asarray(mask, dtype=np.float32), m, (size, size), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return warped >= 0.5


def load_au_masks(data_root: str | Path, sequence_id: str) -> dict[str, np.ndarray]:
    """The ground-truth AU masks of a synthetic sequence's peak frame.

    Args:
        data_root: the data set folder, e.g. ``staner_lab.data.shipped.shipped_data_dir()``.
        sequence_id: "S001/001".

    Returns:
        {"AU12": (H, W) bool, ...} in source-frame pixels, AUs in name order.
    """
    path = Path(data_root) / "GroundTruth" / sequence_id / "au_masks.npz"
    if not path.is_file():
        raise FileNotFoundError(f"no AU masks at {path}: only synthetic data sets written by "
                                "`staner-lab synth` have GroundTruth/<subject>/<sequence>/au_masks.npz")
    with np.load(path) as npz:
        return {k: npz[k].astype(bool) for k in sorted(npz.files)}


def union_mask(masks: Mapping[str, np.ndarray]) -> np.ndarray:
    """Pixel-wise OR of several masks of the same shape."""
    if not masks:
        raise ValueError("union_mask needs at least one mask")
    return np.logical_or.reduce([np.asarray(m, dtype=bool) for m in masks.values()])
