"""Head-motion stabilisation of a sequence before its regions are cut (``InputConfig.stabilise``).

TLER reads the motion inside one fixed box per region (``regions.sequence_region_boxes``). When the
head turns, nods or drifts during the sequence, the box's content moves as much as a subtle
expression does, and the C-LSTM sees head motion. Here every frame is warped by the similarity
transform (rotation, uniform scale, translation) that best puts its *rigid* landmarks — the four eye
corners and the nose bridge, which expressions hardly move — onto the reference frame's, so that
what is left to move inside a box is the expression.

>>> import numpy as np
>>> face = np.random.default_rng(0).uniform(20, 80, (68, 2))
>>> moved = np.stack([face, face + 5.0, face])  # frame 1: the head shifted 5 px right and down
>>> m = stabilising_transforms(moved, reference=0)
>>> bool(np.allclose(apply_to_points(m[1], moved[1]), face, atol=1e-3))
True
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["RIGID_LANDMARKS", "apply_to_points", "stabilise_frames", "stabilising_transforms", "warp_onto"]

#: Eye corners (36, 39, 42, 45) and nose bridge (27-30): points a facial expression hardly moves.
RIGID_LANDMARKS = (27, 28, 29, 30, 36, 39, 42, 45)


def stabilising_transforms(landmarks: np.ndarray, reference: int) -> np.ndarray:
    """(T, 2, 3) similarity transforms taking each frame's rigid landmarks onto frame ``reference``'s.

    Fitted over :data:`RIGID_LANDMARKS` with ``cv2.estimateAffinePartial2D`` (least median of
    squares, so one misplaced point does not tilt the frame); the reference frame gets the identity.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[1:] != (68, 2):
        raise ValueError(f"landmarks must be (T, 68, 2), got {lm.shape}")
    out = np.empty((len(lm), 2, 3))
    for t, frame_lm in enumerate(lm):
        out[t] = np.eye(2, 3) if t == reference else _fit(frame_lm, lm[reference])
    return out


def _fit(landmarks: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(2, 3) similarity taking one frame's rigid landmarks onto the reference's."""
    rigid = list(RIGID_LANDMARKS)
    m, _ = cv2.estimateAffinePartial2D(np.asarray(landmarks, np.float64)[rigid],
                                       np.asarray(reference, np.float64)[rigid], method=cv2.LMEDS)
    return np.eye(2, 3) if m is None else m  # degenerate points: leave the frame as it is


def _warp(frame: np.ndarray, m: np.ndarray) -> np.ndarray:
    H, W = frame.shape[:2]
    return cv2.warpAffine(frame, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def apply_to_points(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) points mapped by one 2x3 transform."""
    p = np.asarray(points, dtype=np.float64)
    return p @ m[:, :2].T + m[:, 2]


def stabilise_frames(frames: np.ndarray, landmarks: np.ndarray, reference: int) -> tuple[np.ndarray, np.ndarray]:
    """Warp every frame (and its landmarks) onto the reference frame's head position.

    Args:
        frames: (T, H, W) grayscale frames.
        landmarks: (T, 68, 2) their landmarks.
        reference: index of the frame that stays as it is (the peak, so the peak face and its
            landmarks are unchanged).

    Returns:
        (frames, landmarks) of the same shapes and dtypes; borders replicate edge pixels.
    """
    frames = np.asarray(frames)
    transforms = stabilising_transforms(landmarks, reference)
    warped = np.empty_like(frames)
    moved = np.empty_like(np.asarray(landmarks))
    for t, (frame, m) in enumerate(zip(frames, transforms)):
        warped[t] = frame if t == reference else _warp(frame, m)
        moved[t] = apply_to_points(m, landmarks[t])
    return warped, moved


def warp_onto(frame: np.ndarray, landmarks: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One frame and its (68, 2) landmarks warped onto a reference frame's head position, given the
    reference's (68, 2) landmarks: the frame-by-frame form of :func:`stabilise_frames` (a stream
    cannot wait for its peak, so it stabilises onto the sequence's first frame)."""
    m = _fit(landmarks, reference)
    return _warp(np.asarray(frame), m), apply_to_points(m, landmarks).astype(np.asarray(landmarks).dtype)
