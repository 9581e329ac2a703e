"""Peak face alignment, peak frame choice and temporal sampling (Algorithm 1, steps 2 and 5).

- :func:`align_face` turns the peak frame into SGAER's input I_p: a similarity transform (rotation,
  uniform scale, translation) puts the two eye centres on fixed points of a square image.
- :func:`choose_peak` picks the peak frame: the last one (CK+ and Oulu-CASIA end at the peak) or
  the frame whose landmarks moved most from the first frame.
- :func:`sample_indices` picks T frames uniformly for TLER's region sequences.

>>> sample_indices(5, 8).tolist()
[0, 1, 1, 2, 2, 3, 3, 4]
>>> sample_indices(20, 4).tolist()
[0, 6, 13, 19]
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

__all__ = [
    "EYE_X",
    "EYE_Y",
    "LEFT_EYE",
    "RIGHT_EYE",
    "align_face",
    "alignment_matrix",
    "choose_peak",
    "eye_centres",
    "sample_indices",
]

#: Landmarks of the subject's right eye (image left) and left eye (image right).
RIGHT_EYE = tuple(range(36, 42))
LEFT_EYE = tuple(range(42, 48))
#: Where the eye centres land in the aligned face, as fractions of its size. With an inter-ocular
#: distance of 0.32 x size the brows (~0.23), the chin (~0.9) and both cheeks stay inside.
EYE_X: tuple[float, float] = (0.34, 0.66)
EYE_Y: float = 0.36


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of points 36-41 (image-left eye) and of 42-47 (image-right eye).

    Args:
        landmarks: (68, 2) landmarks (x, y).

    Returns:
        Two (2,) float64 arrays (x, y).
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"landmarks must be (68, 2), got shape {lm.shape}")
    return lm[list(RIGHT_EYE)].mean(axis=0), lm[list(LEFT_EYE)].mean(axis=0)


def alignment_matrix(
    landmarks: np.ndarray, size: int, eye_x: tuple[float, float] = EYE_X, eye_y: float = EYE_Y
) -> np.ndarray:
    """The 2x3 similarity transform that maps the eye centres to their target points.

    Args:
        landmarks: (68, 2) landmarks (x, y) in frame pixels.
        size: side of the square output, pixels.
        eye_x: target x of the image-left and image-right eye centre, fractions of ``size``.
        eye_y: target y of both eye centres, fraction of ``size``.

    Returns:
        (2, 3) float64 matrix M with [u, v] = M @ [x, y, 1].
    """
    src_l, src_r = eye_centres(landmarks)
    dst_l = np.array([eye_x[0] * size, eye_y * size])
    dst_r = np.array([eye_x[1] * size, eye_y * size])
    d_src, d_dst = src_r - src_l, dst_r - dst_l
    n_src = float(np.hypot(*d_src))
    if n_src < 1e-6:
        raise ValueError("cannot align: the two eye centres coincide (degenerate landmarks)")
    scale = float(np.hypot(*d_dst)) / n_src
    angle = np.arctan2(d_src[1], d_src[0]) - np.arctan2(d_dst[1], d_dst[0])
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    rot = np.array([[c, s], [-s, c]])  # rotates by -angle, scales
    t = dst_l - rot @ src_l
    return np.hstack([rot, t[:, None]])


def align_face(
    frame: np.ndarray,
    landmarks: np.ndarray,
    size: int,
    eye_x: tuple[float, float] = EYE_X,
    eye_y: float = EYE_Y,
) -> np.ndarray:
    """Aligned, grayscale square face: eye centres on fixed horizontal positions.

    Large downscales are done first with INTER_AREA (no aliasing), then ``cv2.warpAffine``
    (bilinear, border replicate) applies the remaining rotation and scale.

    Args:
        frame: (H, W) uint8 grayscale frame (a (H, W, 3) BGR frame is converted).
        landmarks: (68, 2) landmarks (x, y) of that frame.
        size: output side S.
        eye_x, eye_y: eye-centre targets, see :func:`alignment_matrix`.

    Returns:
        (S, S) float32 in [0, 1].
    """
    img = np.asarray(frame)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if img.ndim != 2:
        raise ValueError(f"frame must be (H, W) grayscale, got shape {img.shape}")
    lm = np.asarray(landmarks, dtype=np.float64)
    m = alignment_matrix(lm, size, eye_x, eye_y)
    scale = float(np.hypot(m[0, 0], m[0, 1]))
    if scale < 0.5:  # pre-shrink with area averaging; the warp then scales by about 1
        pre = scale
        new = (max(1, round(img.shape[1] * pre)), max(1, round(img.shape[0] * pre)))
        sx, sy = new[0] / img.shape[1], new[1] / img.shape[0]
        img = cv2.resize(img, new, interpolation=cv2.INTER_AREA)
        lm = lm * np.array([sx, sy])
        m = alignment_matrix(lm, size, eye_x, eye_y)
    out = cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if out.dtype == np.uint8:
        return out.astype(np.float32) / np.float32(255.0)
    return out.astype(np.float32)


def choose_peak(landmarks: np.ndarray, mode: Literal["last", "displacement"] = "last") -> int:
    """Index of the peak frame.

    Args:
        landmarks: (T, 68, 2) landmarks of the whole sequence.
        mode: "last": the last frame (CK+ and Oulu-CASIA sequences end at the peak).
            "displacement": the frame whose landmarks moved most, on average, from the first
            frame after removing translation (each frame's centroid subtracted); ties go to the
            earliest frame.

    Returns:
        An index in [0, T).
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[1:] != (68, 2) or len(lm) == 0:
        raise ValueError(f"landmarks must be (T, 68, 2) with T >= 1, got shape {lm.shape}")
    if mode == "last":
        return len(lm) - 1
    if mode == "displacement":
        centred = lm - lm.mean(axis=1, keepdims=True)
        disp = np.linalg.norm(centred - centred[0], axis=2).mean(axis=1)  # (T,)
        return int(np.argmax(disp))
    raise ValueError(f"unknown peak mode {mode!r}; choose 'last' or 'displacement'")


def sample_indices(n_frames: int, T: int, short: str = "stretch") -> np.ndarray:
    """T frame indices spread uniformly over ``n_frames`` frames.

    The first and last frames are always kept (for T >= 2); indices never decrease. Rounding is
    half-up, so the result is platform independent. Sequences shorter than T: ``short="stretch"``
    repeats frames evenly, ``"hold_first"`` repeats the first frame and ends with every frame once
    (``InputConfig.short_sequences``).

    Args:
        n_frames: frames in the sequence (>= 1).
        T: frames wanted (>= 1). T == 1 gives the last frame (the peak of a CK+ sequence).
        short: "stretch" or "hold_first", for ``n_frames < T``.

    Returns:
        (T,) int64 indices in [0, n_frames).
    """
    if n_frames < 1:
        raise ValueError(f"cannot sample from a sequence of {n_frames} frames; it needs at least one")
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T}")
    if T == 1:
        return np.array([n_frames - 1], dtype=np.int64)
    if n_frames < T and short == "hold_first":
        return np.concatenate([np.zeros(T - n_frames, np.int64), np.arange(n_frames, dtype=np.int64)])
    if short not in ("stretch", "hold_first"):
        raise ValueError(f"short must be 'stretch' or 'hold_first', got {short!r}")
    pos = np.arange(T, dtype=np.float64) * (n_frames - 1) / (T - 1)
    return np.minimum(np.floor(pos + 0.5).astype(np.int64), n_frames - 1)
