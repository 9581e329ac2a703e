"""Procedurally rendered facial-expression sequences with exact ground truth.

Every sequence is a grayscale face that moves from neutral (first frame) to an expression peak (last
frame). The expression is driven by FACS action units (AUs) with the usual emotion prototypes
(:data:`EMOTION_AUS`), and the whole drawing hangs off a 68-point landmark set in dlib/iBUG order:

1. identity parameters (face width/height, eye spacing, brow height, mouth width, nose length, tones)
   give the *neutral* 68 landmarks in a canonical, frontal face frame;
2. each active AU displaces the landmarks it moves (scaled by its amplitude and by an ease-in curve
   over time) and darkens the wrinkles/folds it creates (nose wrinkles, nasolabial folds, ...);
3. the face is drawn from those landmarks (brows, eyelids, iris, nose, lips, open mouth, ...);
4. the head pose (in-plane rotation, translation, scale, a little yaw as horizontal compression) is
   one affine map applied to both the drawing (``cv2.warpAffine``) and the landmarks, so the returned
   landmarks lie exactly where the features are drawn;
5. lighting (a linear gradient, brightness, contrast) and pixel noise finish the frame.

Each active AU also gets a region mask for the peak frame (the dilated hull of the landmarks it moves
and the wrinkles it draws): ground truth for attention/attribution "pointing game" scores.

Everything is deterministic: numpy ``Generator`` objects seeded from the subject and sequence seeds,
no global random state, and byte-stable files (:func:`write_ckplus`). :func:`write_ckplus` writes the
original CK+ folder layout, so the CK+ reader of this package reads a synthetic tree unchanged.

>>> seq = render_sequence("happy", subject_seed=1, sequence_seed=2, frames=6, size=96)
>>> seq.frames.shape, seq.landmarks.shape, seq.label_name, sorted(seq.au_masks)
((6, 96, 96), (6, 68, 2), 'happy', ['AU12', 'AU6'])

Command line (also ``python -m staner_lab.data.synthetic``)::

    staner-lab synth --out data_samples/synthetic_ckplus --subjects 10 --seed 0 --frames 6
"""

from __future__ import annotations

import argparse
import io
import math
import os
import shlex
import shutil
import sys
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..atomic import atomic_write_bytes
from ..config import CK_PLUS_CLASSES

__all__ = [
    "AU_NAMES",
    "EMOTION_AUS",
    "SyntheticSequence",
    "add_synth_parser",
    "generate_dataset",
    "main",
    "render_sequence",
    "run_synth",
    "write_ckplus",
]

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

# Folder names of the CK+ original layout.
_IMAGES, _EMOTION, _LANDMARKS, _GROUND_TRUTH = "cohn-kanade-images", "Emotion", "Landmarks", "GroundTruth"
_README_MARK = "Synthetic facial-expression sequences in the CK+ layout, written by staner_lab"
_SS = 2  # supersampling: faces are drawn at 2x and shrunk by the pose warp


@dataclass(frozen=True, eq=False)  # eq=False: fields are arrays; compare them explicitly
class SyntheticSequence:
    """One rendered sequence and its ground truth.

    Attributes:
        frames: (T, H, W) uint8 grayscale frames, neutral first, peak last.
        landmarks: (T, 68, 2) float32 (x, y) pixel coordinates, dlib/iBUG 68-point order.
        au_masks: {"AU12": (H, W) bool, ...} where each active AU changes the face at the peak frame.
        label: index into :data:`~staner_lab.config.CK_PLUS_CLASSES`.
        label_name: the emotion, e.g. "happy".
        subject: subject id, e.g. "S001".
        sequence_id: "S001/003" (subject / sequence number).
        aus: active AU amplitudes at the peak, e.g. {"AU6": 0.93, "AU12": 0.97}.
    """

    frames: np.ndarray
    landmarks: np.ndarray
    au_masks: dict[str, np.ndarray]
    label: int
    label_name: str
    subject: str
    sequence_id: str
    aus: dict[str, float]


# --------------------------------------------------------------------------------------------------
# Identity, pose and lighting parameters
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Identity:
    """Face shape and tones of one subject. Lengths are in face units (1 = half the face width)."""

    face_px: float  # half face width, as a fraction of the image size
    eye_x: float  # eye centre distance from the midline
    eye_w: float  # eye half length
    eye_h: float  # upper-lid height above the eye line
    iris_r: float
    brow_h: float  # brow height above the eye line
    brow_t: float  # brow thickness
    brow_arch: float
    nose_len: float  # eye line to nose tip
    nose_w: float  # half width of the nostril base
    mouth_y: float  # eye line to mouth
    mouth_w: float  # mouth half width
    lip_up: float  # upper lip height
    lip_lo: float  # lower lip height
    chin_y: float  # eye line to chin
    jaw_top: float  # height of jaw points 0 and 16
    jaw_round: float  # superellipse exponent of the jaw (2 = ellipse, larger = squarer)
    forehead: float  # eye line to the top of the skull
    hairline: float  # eye line to the hairline (centre)
    hair_len: float  # 0 = short, 1 = long
    part: float  # hair parting position (x)
    skin: float
    hair: float
    background: float
    clothes: float
    brow_tone: float
    lip_tone: float
    iris_tone: float


@dataclass(frozen=True)
class _Pose:
    angle: float  # degrees, in-plane rotation
    tx: float  # translation, fraction of the image size
    ty: float
    scale: float
    yaw: float  # horizontal compression factor (1 = frontal)
    d_angle: float  # drift from first to last frame
    d_tx: float
    d_ty: float


@dataclass(frozen=True)
class _Lighting:
    angle: float  # gradient direction (radians)
    strength: float  # gray levels across the image
    brightness: float
    contrast: float
    noise: float  # std of the pixel noise (gray levels)


def _identity(rng: np.random.Generator) -> _Identity:
    u = rng.uniform
    skin = u(120, 185)
    dark_hair = rng.random() < 0.8
    hair = u(20, 65) if dark_hair else u(150, 200)
    # keep background and skin apart so the face outline is always visible
    background = u(40, 215)
    while abs(background - skin) < 35:
        background = u(40, 215)
    nose_len = u(0.56, 0.70)
    mouth_y = nose_len + u(0.34, 0.42)
    return _Identity(
        face_px=u(0.26, 0.285),
        eye_x=u(0.40, 0.48),
        eye_w=u(0.19, 0.22),
        eye_h=u(0.085, 0.105),
        iris_r=u(0.075, 0.088),
        brow_h=u(0.25, 0.32),
        brow_t=u(0.06, 0.085),
        brow_arch=u(0.03, 0.07),
        nose_len=nose_len,
        nose_w=u(0.17, 0.22),
        mouth_y=mouth_y,
        mouth_w=u(0.33, 0.41),
        lip_up=u(0.07, 0.095),
        lip_lo=u(0.09, 0.12),
        chin_y=mouth_y + u(0.50, 0.62),
        jaw_top=u(0.0, 0.10),
        jaw_round=u(2.1, 2.8),
        forehead=u(1.15, 1.30),
        hairline=u(0.80, 0.98),
        hair_len=u(0.0, 1.0),
        part=u(-0.4, 0.4),
        skin=skin,
        hair=hair,
        background=background,
        clothes=u(30, 220),
        brow_tone=min(skin - 55, hair + 20) if dark_hair else skin - u(60, 85),
        lip_tone=skin - u(30, 50),
        iris_tone=u(30, 90),
    )


def _pose(subject_rng: np.random.Generator, sequence_rng: np.random.Generator) -> _Pose:
    base = (subject_rng.uniform(-5, 5), subject_rng.uniform(-0.025, 0.025), subject_rng.uniform(-0.02, 0.02))
    s, q = subject_rng.uniform, sequence_rng.uniform
    return _Pose(
        angle=base[0] + q(-2, 2),
        tx=base[1] + q(-0.01, 0.01),
        ty=base[2] + q(-0.01, 0.01),
        scale=s(0.94, 1.04) * q(0.98, 1.02),
        yaw=1.0 - s(0.0, 0.06) - q(0.0, 0.02),
        d_angle=q(-1.5, 1.5),
        d_tx=q(-0.006, 0.006),
        d_ty=q(-0.006, 0.006),
    )


def _lighting(subject_rng: np.random.Generator, sequence_rng: np.random.Generator, noise: float) -> _Lighting:
    s, q = subject_rng.uniform, sequence_rng.uniform
    return _Lighting(
        angle=s(0, 2 * math.pi) + q(-0.3, 0.3),
        strength=s(0, 45) * q(0.85, 1.15),
        brightness=s(-12, 12) + q(-4, 4),
        contrast=s(0.85, 1.12) * q(0.97, 1.03),
        noise=s(0.6, 1.4) * noise,
    )


# --------------------------------------------------------------------------------------------------
# Landmarks: neutral face and AU displacements (face units, canonical frame)
# --------------------------------------------------------------------------------------------------

# Landmark groups (dlib/iBUG 68 order; "R" = the subject's right = image left).
JAW = np.arange(0, 17)
BROW_R, BROW_L = np.arange(17, 22), np.arange(22, 27)  # R: outer -> inner, L: inner -> outer
NOSE_BRIDGE, NOSE_BASE = np.arange(27, 31), np.arange(31, 36)
EYE_R, EYE_L = np.arange(36, 42), np.arange(42, 48)
LIPS_OUT, LIPS_IN = np.arange(48, 60), np.arange(60, 68)
_MIRROR = np.array(
    [16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]  # jaw
    + [26, 25, 24, 23, 22, 21, 20, 19, 18, 17]  # brows
    + [27, 28, 29, 30, 35, 34, 33, 32, 31]  # nose
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]  # eyes
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]  # outer lips
    + [64, 63, 62, 61, 60, 67, 66, 65]  # inner lips
)


def _neutral_landmarks(idt: _Identity) -> np.ndarray:
    """(68, 2) neutral landmarks in face units; origin between the eyes, y down."""
    p = np.zeros((68, 2))
    # jaw: lower half of a superellipse from point 0 (image left) through the chin (8) to 16
    theta = np.pi * (1 - np.arange(17) / 16)
    c, s = np.cos(theta), np.sin(theta)
    e = 2.0 / idt.jaw_round
    p[JAW, 0] = np.sign(c) * np.abs(c) ** e
    p[JAW, 1] = idt.jaw_top + (idt.chin_y - idt.jaw_top) * np.abs(s) ** e
    # brows, outer -> inner on the image-left side
    u = np.linspace(0, 1, 5)
    bx = -(idt.eye_x + idt.eye_w * 1.35) + u * (idt.eye_w * 2.35 + 0.02)
    by = -idt.brow_h - idt.brow_arch * np.sin(np.pi * (0.15 + 0.7 * u)) + 0.03 * (1 - u) ** 2
    p[BROW_R] = np.stack([bx, by], 1)
    # nose: bridge 27-30 down to the tip, base 31-35 left to right
    p[NOSE_BRIDGE, 0] = 0.0
    p[NOSE_BRIDGE, 1] = np.linspace(0.0, idt.nose_len, 4)
    nw, nl = idt.nose_w, idt.nose_len
    p[NOSE_BASE] = [
        [-nw, nl + 0.06],
        [-nw * 0.5, nl + 0.10],
        [0, nl + 0.12],
        [nw * 0.5, nl + 0.10],
        [nw, nl + 0.06],
    ]
    # right eye (image left): 36 outer corner, 37-38 upper lid, 39 inner corner, 40-41 lower lid
    ex, ew, eh = idt.eye_x, idt.eye_w, idt.eye_h
    p[EYE_R] = [
        [-ex - ew, 0.012],
        [-ex - ew * 0.38, -eh],
        [-ex + ew * 0.30, -eh * 0.95],
        [-ex + ew, 0.0],
        [-ex + ew * 0.32, eh * 0.62],
        [-ex - ew * 0.36, eh * 0.62],
    ]
    # lips: 48 corner (image left) ... 54 corner, 55-59 lower lip back to the left; inner 60-67
    my, mw, lu, ll = idt.mouth_y, idt.mouth_w, idt.lip_up, idt.lip_lo
    p[LIPS_OUT] = [
        [-mw, my],
        [-mw * 0.58, my - lu * 0.80],
        [-mw * 0.22, my - lu * 1.05],
        [0.0, my - lu * 0.88],
        [mw * 0.22, my - lu * 1.05],
        [mw * 0.58, my - lu * 0.80],
        [mw, my],
        [mw * 0.60, my + ll * 0.82],
        [mw * 0.25, my + ll * 1.0],
        [0.0, my + ll * 1.02],
        [-mw * 0.25, my + ll * 1.0],
        [-mw * 0.60, my + ll * 0.82],
    ]
    p[LIPS_IN] = [
        [-mw * 0.86, my],
        [-mw * 0.36, my - 0.008],
        [0.0, my - 0.006],
        [mw * 0.36, my - 0.008],
        [mw * 0.86, my],
        [mw * 0.36, my + 0.008],
        [0.0, my + 0.006],
        [-mw * 0.36, my + 0.008],
    ]
    # mirror the left-only parts (brows, eyes) onto the image-right side
    for right in (BROW_R, EYE_R):
        left = _MIRROR[right]
        p[left] = p[right] * [-1, 1]
    return p


def _sym(d: np.ndarray, idx: Sequence[int], dx: float | Sequence[float], dy: float | Sequence[float]) -> None:
    """Add (dx, dy) to image-left landmarks ``idx`` and the mirrored move to their mirror images."""
    idx = np.asarray(idx)
    dx, dy = np.broadcast_to(dx, idx.shape), np.broadcast_to(dy, idx.shape)
    d[idx, 0] += dx
    d[idx, 1] += dy
    m = _MIRROR[idx]
    d[m, 0] -= dx
    d[m, 1] += dy


def _au_shift(au: str, side: int) -> np.ndarray:
    """(68, 2) landmark displacement of ``au`` at amplitude 1, in face units.

    Displacements are linear in the amplitude, so ``amplitude * _au_shift(au, side)`` is the move.
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
    elif au == "AU10":  # upper lip raiser
        _sym(d, [49, 50, 51], 0, [-0.06, -0.07, -0.06])
        _sym(d, [61, 62], 0, -0.06)
        _sym(d, [48, 60], 0, -0.02)
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
    elif au == "AU25":  # lips part
        _sym(d, [61, 62], 0, -0.015)
        _sym(d, [67, 66], 0, 0.05)
        _sym(d, [59, 58, 57], 0, [0.03, 0.04, 0.04])
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


def _ease(p: float) -> float:
    """Smooth ease-in from neutral (0) to peak (1): slow onset, fastest mid-way, settles at peak."""
    return p * p * (3.0 - 2.0 * p)


# --------------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------------


class _Canvas:
    """A float32 image plus soft, anti-aliased painting restricted to each shape's bounding box."""

    def __init__(self, size: int, value: float) -> None:
        self.img = np.full((size, size), value, np.float32)
        self.size = size

    def _roi(self, pts: np.ndarray, pad: float) -> tuple[int, int, int, int] | None:
        x0 = max(math.floor(pts[:, 0].min() - pad), 0)
        y0 = max(math.floor(pts[:, 1].min() - pad), 0)
        x1 = min(math.ceil(pts[:, 0].max() + pad) + 1, self.size)
        y1 = min(math.ceil(pts[:, 1].max() + pad) + 1, self.size)
        return None if x0 >= x1 or y0 >= y1 else (x0, y0, x1, y1)

    def paint(
        self,
        pts: np.ndarray,
        draw: Callable[[np.ndarray, Callable[[np.ndarray], np.ndarray]], None],
        value: float | np.ndarray,
        alpha: float = 1.0,
        blur: float = 0.0,
        pad: float = 2.0,
        clip: np.ndarray | None = None,
    ) -> None:
        """Blend ``value`` where ``draw`` paints (255 = full ``alpha``), softened by ``blur`` pixels.

        ``draw(mask, fix)`` paints on a uint8 ROI; ``fix(points)`` converts image points to the ROI's
        fixed-point coordinates (``shift=4``). ``clip`` is an optional polygon limiting the paint.
        """
        if alpha <= 0.0:
            return
        roi = self._roi(np.asarray(pts, np.float64).reshape(-1, 2), pad + 3 * blur + 2)
        if roi is None:
            return
        x0, y0, x1, y1 = roi
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)

        def fix(p: np.ndarray) -> np.ndarray:
            return np.round((np.asarray(p, np.float64).reshape(-1, 2) - (x0, y0)) * 16).astype(np.int32)

        draw(mask, fix)
        if clip is not None:
            keep = np.zeros_like(mask)
            cv2.fillPoly(keep, [fix(clip)], 255, cv2.LINE_AA, 4)
            mask = cv2.min(mask, keep)
        m = mask.astype(np.float32) * np.float32(alpha / 255.0)
        if blur > 0:
            m = cv2.GaussianBlur(m, (0, 0), blur)
        region = self.img[y0:y1, x0:x1]
        if isinstance(value, np.ndarray):
            value = value[y0:y1, x0:x1]
        region += m * (value - region)

    def fill(
        self,
        polys: Sequence[np.ndarray],
        value: float | np.ndarray,
        alpha: float = 1.0,
        blur: float = 0.0,
        clip: np.ndarray | None = None,
    ) -> None:
        pts = np.concatenate([np.asarray(p).reshape(-1, 2) for p in polys])
        self.paint(
            pts,
            lambda m, fix: cv2.fillPoly(m, [fix(p) for p in polys], 255, cv2.LINE_AA, 4),
            value,
            alpha,
            blur,
            clip=clip,
        )

    def line(
        self,
        pts: np.ndarray,
        value: float,
        thickness: float,
        alpha: float = 1.0,
        blur: float = 0.0,
        closed: bool = False,
        clip: np.ndarray | None = None,
    ) -> None:
        t = max(round(thickness), 1)
        self.paint(
            pts,
            lambda m, fix: cv2.polylines(m, [fix(pts)], closed, 255, t, cv2.LINE_AA, 4),
            value,
            alpha,
            blur,
            pad=thickness + 1,
            clip=clip,
        )

    def ellipse(
        self,
        center: np.ndarray,
        axes: tuple[float, float],
        value: float,
        alpha: float = 1.0,
        blur: float = 0.0,
        angle: float = 0.0,
        clip: np.ndarray | None = None,
    ) -> None:
        cx, cy = center
        r = max(axes)
        box = np.array([[cx - r, cy - r], [cx + r, cy + r]])

        def draw(m: np.ndarray, fix: Callable[[np.ndarray], np.ndarray]) -> None:
            c = fix(np.array([cx, cy]))[0]
            ax = (max(round(axes[0] * 16), 1), max(round(axes[1] * 16), 1))
            cv2.ellipse(m, (int(c[0]), int(c[1])), ax, angle, 0, 360, 255, -1, cv2.LINE_AA, 4)

        self.paint(box, draw, value, alpha, blur, clip=clip)


def _bezier(a: np.ndarray, ctrl: np.ndarray, b: np.ndarray, n: int = 9) -> np.ndarray:
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * a + 2 * (1 - t) * t * ctrl + t**2 * b


def _chaikin(pts: np.ndarray, iterations: int) -> np.ndarray:
    """Chaikin corner cutting: a smooth open curve through the ends of ``pts``."""
    for _ in range(iterations):
        q = 0.75 * pts[:-1] + 0.25 * pts[1:]
        r = 0.25 * pts[:-1] + 0.75 * pts[1:]
        pts = np.concatenate([pts[:1], np.stack([q, r], 1).reshape(-1, 2), pts[-1:]])
    return pts


def _arc(center: np.ndarray, ax: float, ay: float, t0: float, t1: float, n: int = 24) -> np.ndarray:
    t = np.linspace(t0, t1, n)
    return np.stack([center[0] + ax * np.cos(t), center[1] + ay * np.sin(t)], 1)


def _draw_face(
    idt: _Identity,
    lm: np.ndarray,
    amp: dict[str, float],
    side: int,
    canvas_px: int,
    origin: np.ndarray,
    unit: float,
) -> np.ndarray:
    """Draw the canonical (frontal, upright) face; ``lm`` are the landmarks in face units.

    Returns the (canvas_px, canvas_px) float32 image. Face unit -> pixel: ``origin + unit * p``.
    """

    def P(q: np.ndarray | list) -> np.ndarray:  # face units -> canvas pixels
        return origin + unit * np.asarray(q, np.float64)

    def a(au: str) -> float:  # amplitude of an AU in this frame (0 when inactive)
        return amp.get(au, 0.0)

    L = P(lm)
    skin = idt.skin
    cv = _Canvas(canvas_px, idt.background)
    px = unit / 40.0  # ~ one output pixel at the usual scale, in canvas pixels

    # background: a soft vertical gradient, then shoulders
    ys = np.linspace(-1, 1, canvas_px, dtype=np.float32)[:, None]
    cv.img += (12.0 * ys).astype(np.float32)
    cv.ellipse(P([0, idt.chin_y + 1.35]), (unit * 1.9, unit * 1.0), idt.clothes, blur=2 * px)

    # hair behind the head
    top = -idt.forehead
    hair_c = P([0, top + 0.95 + 0.35 * idt.hair_len])
    cv.ellipse(
        hair_c,
        (unit * (1.2 + 0.1 * idt.hair_len), unit * (1.12 + 0.35 * idt.hair_len)),
        idt.hair,
        blur=1.5 * px,
    )

    # neck and ears
    jaw0, jaw16 = L[0], L[16]
    neck = P(
        [
            [-0.48, idt.chin_y - 0.6],
            [0.48, idt.chin_y - 0.6],
            [0.52, idt.chin_y + 1.5],
            [-0.52, idt.chin_y + 1.5],
        ]
    )
    cv.fill([neck], skin * 0.86, blur=px)
    for j, s in ((L[1], -1), (L[15], 1)):
        ear = j + np.array([s * 0.07 * unit, -0.12 * unit])
        cv.ellipse(ear, (0.11 * unit, 0.21 * unit), skin * 0.92, blur=px)
        cv.ellipse(
            ear + [s * 0.02 * unit, 0], (0.05 * unit, 0.12 * unit), skin * 0.78, alpha=0.6, blur=1.5 * px
        )

    # face: jaw landmarks + an arc over the forehead; shaded darker towards the edges
    centre_top = (jaw0 + jaw16) / 2
    half_w = np.linalg.norm(jaw16 - jaw0) / 2
    height = centre_top[1] - P([0, top])[1]
    crown = _arc(centre_top, half_w * 1.005, height, 0.0, -np.pi, 25)
    face = np.concatenate([L[JAW], crown[1:-1]])
    shade = np.zeros((canvas_px // 4, canvas_px // 4), np.uint8)
    cv2.fillPoly(shade, [np.round(face / 4 * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    shade = cv2.GaussianBlur(shade.astype(np.float32) / 255.0, (0, 0), unit * 0.22 / 4)
    shade = cv2.resize(shade, (canvas_px, canvas_px), interpolation=cv2.INTER_LINEAR)
    cv.fill([face], skin * (0.72 + 0.33 * shade), blur=0.6 * px)
    # shadow under the jaw on the neck
    cv.line(_bezier(L[3], L[8] + [0, 0.12 * unit], L[13]), skin * 0.6, 0.10 * unit, alpha=0.35, blur=3 * px)

    # hair over the forehead: the hairline curve and the crown arc
    hl = -idt.hairline
    hairline = P(
        [
            [-1.02, -0.25],
            [-0.85, hl + 0.18],
            [-0.45, hl + 0.04],
            [idt.part, hl - 0.04],
            [0.45, hl + 0.05],
            [0.85, hl + 0.2],
            [1.02, -0.25],
        ]
    )
    hairline = _chaikin(hairline, 2)
    cap = _arc(centre_top, half_w * 1.07, height * 1.07, -0.12, -np.pi + 0.12, 25)
    cv.fill([np.concatenate([hairline, cap])], idt.hair, blur=px)

    # forehead wrinkles: central part from AU1, lateral parts from AU2
    brow_y = (L[BROW_R, 1].min() + L[BROW_L, 1].min()) / 2
    for k in range(3):
        y = brow_y - (0.15 + 0.095 * k) * unit
        bow = 0.04 * unit
        if a("AU1") > 0:
            seg = _bezier(
                np.array([-0.28 * unit, y + bow]) + [origin[0], 0],
                np.array([origin[0], y - bow]),
                np.array([0.28 * unit, y + bow]) + [origin[0], 0],
            )
            cv.line(seg, skin * 0.62, 1.3 * px, alpha=0.55 * a("AU1"), blur=0.8 * px)
        if a("AU2") > 0:
            for s in (-1, 1):
                xs = origin[0] + s * np.array([0.38, 0.6, 0.82]) * unit
                seg = _bezier(
                    np.array([xs[0], y]), np.array([xs[1], y - bow]), np.array([xs[2], y + 1.5 * bow])
                )
                cv.line(seg, skin * 0.62, 1.3 * px, alpha=0.55 * a("AU2"), blur=0.8 * px)

    # eye sockets (soft shadow), then the glabella lines of AU4
    for eye in (EYE_R, EYE_L):
        c = L[eye].mean(0)
        cv.ellipse(
            c - [0, 0.06 * unit],
            (idt.eye_w * 1.6 * unit, idt.eye_h * 2.6 * unit),
            skin * 0.80,
            alpha=0.7,
            blur=0.09 * unit,
        )
    if a("AU4") > 0:
        mid = (L[21] + L[22]) / 2
        for s in (-1, 1):
            x = mid[0] + s * 0.055 * unit
            seg = np.array([[x + s * 0.01 * unit, mid[1] - 0.04 * unit], [x, mid[1] + 0.13 * unit]])
            cv.line(seg, skin * 0.55, 1.8 * px, alpha=0.85 * a("AU4"), blur=0.8 * px)

    # cheeks: highlight (raised by AU6 / AU12) and the infra-orbital furrow of AU6
    lift = a("AU6") + 0.5 * a("AU12")
    for eye, corner, s in ((EYE_R, 48, -1), (EYE_L, 54, 1)):
        c = L[eye].mean(0) * 0.55 + L[corner] * 0.45 + [s * 0.12 * unit, -0.06 * unit * lift]
        cv.ellipse(
            c, (0.24 * unit, 0.17 * unit), min(skin * 1.18, 245), alpha=0.25 + 0.35 * lift, blur=0.08 * unit
        )
        if a("AU6") > 0:
            lower = L[[eye[3], eye[4], eye[5], eye[0]]] + [0, 0.07 * unit]
            cv.line(lower, skin * 0.58, 1.8 * px, alpha=0.8 * a("AU6"), blur=px)
            o = L[eye[0]]  # outer corner: crow's feet
            for dy in (-0.05, 0.0, 0.06):
                seg = np.array(
                    [o + [s * 0.05 * unit, dy * 0.5 * unit], o + [s * 0.17 * unit, dy * 1.6 * unit]]
                )
                cv.line(seg, skin * 0.58, 1.4 * px, alpha=0.75 * a("AU6"), blur=0.7 * px)

    # nasolabial folds: faint at rest, deepened by AU12, AU9, AU10, AU6
    fold = min(0.18 + 0.7 * (a("AU12") + 0.6 * a("AU9") + 0.6 * a("AU10") + 0.3 * a("AU6")), 0.95)
    for wing, corner, s in ((31, 48, -1), (35, 54, 1)):
        start = L[wing] + [s * 0.05 * unit, -0.05 * unit]
        end = L[corner] + [s * 0.10 * unit, 0.07 * unit]
        ctrl = (start + end) / 2 + [s * 0.12 * unit, -0.02 * unit]
        cv.line(_bezier(start, ctrl, end), skin * 0.6, 2.0 * px, alpha=fold, blur=1.2 * px)

    # nose: side shadows, tip highlight, wings, nostrils, wrinkles of AU9
    for s, wing in ((-1, 31), (1, 35)):
        side_line = np.array(
            [
                L[27] + [s * 0.11 * unit, 0.12 * unit],
                L[29] + [s * 0.12 * unit, 0],
                L[wing] + [s * 0.01 * unit, -0.07 * unit],
            ]
        )
        cv.line(side_line, skin * 0.7, 0.06 * unit, alpha=0.5, blur=0.035 * unit)
    cv.ellipse(
        L[30] - [0, 0.03 * unit],
        (0.07 * unit, 0.06 * unit),
        min(skin * 1.15, 245),
        alpha=0.6,
        blur=0.03 * unit,
    )
    for s, wing, inner in ((-1, 31, 32), (1, 35, 34)):
        c = (L[wing] + L[inner]) / 2 - [0, 0.045 * unit]
        wing_arc = _arc(c, 0.075 * unit, 0.07 * unit, np.pi / 2 + s * 0.2, np.pi / 2 - s * 2.6, 10)
        cv.line(wing_arc, skin * 0.55, 1.6 * px, alpha=0.6, blur=0.8 * px)
        cv.ellipse(
            (L[inner] * 0.6 + L[33] * 0.4) - [0, 0.012 * unit],
            (0.045 * unit, 0.022 * unit),
            skin * 0.3,
            alpha=0.9,
            blur=0.6 * px,
            angle=-s * 15,
        )
    cv.line(L[NOSE_BASE][1:4], skin * 0.6, 1.4 * px, alpha=0.45, blur=0.8 * px)
    if a("AU9") > 0:
        for k, t in enumerate((0.22, 0.36, 0.5)):
            c = L[27] * (1 - t) + L[30] * t
            w = (0.06 + 0.015 * k) * unit
            seg = _bezier(c + [-w, 0.015 * unit], c - [0, 0.02 * unit], c + [w, 0.015 * unit], 7)
            cv.line(seg, skin * 0.55, 1.3 * px, alpha=0.7 * a("AU9"), blur=0.6 * px)
        for s in (-1, 1):  # bunny lines on the sides of the bridge
            c = L[28] + [s * 0.13 * unit, 0]
            seg = np.array([c + [-s * 0.02 * unit, -0.05 * unit], c + [s * 0.04 * unit, 0.06 * unit]])
            cv.line(seg, skin * 0.5, 1.6 * px, alpha=0.8 * a("AU9"), blur=0.7 * px)

    # brows: thick tapered bands centred on the brow landmarks
    taper = np.array([0.55, 0.9, 1.0, 1.0, 0.85]) * idt.brow_t * unit / 2
    for brow in (BROW_R, BROW_L[::-1]):  # both outer -> inner
        b = L[brow]
        upper = b - np.stack([np.zeros(5), taper], 1)
        lower = b + np.stack([np.zeros(5), taper], 1)
        cv.fill([np.concatenate([upper, lower[::-1]])], idt.brow_tone, alpha=0.92, blur=0.7 * px)

    # eyes: sclera, iris + pupil clipped by the lids, lashes, lids and the lid crease
    white = min(skin + 55, 235)
    for eye, brow in ((EYE_R, BROW_R), (EYE_L, BROW_L[::-1])):
        e = L[eye]
        corners = (e[0] + e[3]) / 2
        cv.fill([e], white, blur=0.4 * px)
        iris_c = corners + [0, 0.01 * unit]
        cv.ellipse(iris_c, (idt.iris_r * unit, idt.iris_r * unit), idt.iris_tone, blur=0.5 * px, clip=e)
        cv.ellipse(iris_c, (idt.iris_r * 0.45 * unit, idt.iris_r * 0.45 * unit), 12, blur=0.4 * px, clip=e)
        cv.ellipse(
            iris_c + [0.025 * unit, -0.025 * unit], (0.018 * unit, 0.018 * unit), 235, alpha=0.8, clip=e
        )
        # upper lid shadow on the sclera
        cv.line(e[[0, 1, 2, 3]] + [0, 0.015 * unit], skin * 0.45, 2.2 * px, alpha=0.45, blur=px, clip=e)
        cv.line(e[[0, 1, 2, 3]], 18, 0.045 * unit, alpha=0.95, blur=0.5 * px)  # lash line
        cv.line(e[[3, 4, 5, 0]], skin * 0.5, 1.4 * px, alpha=0.7, blur=0.5 * px)  # lower lid
        b = L[brow][np.argsort(L[brow][:, 0])]
        crease = e[[0, 1, 2, 3]].copy()
        crease[:, 1] += 0.38 * (np.interp(crease[:, 0], b[:, 0], b[:, 1]) - crease[:, 1])
        crease[0] += [(-1 if eye[0] == 36 else 1) * 0.02 * unit, 0.02 * unit]
        cv.line(crease, skin * 0.6, 1.6 * px, alpha=0.55, blur=0.9 * px)

    # mouth: philtrum, shadow under the lower lip, lips, open mouth with teeth, seam, corners
    for s in (-1, 1):
        seg = np.array(
            [L[33] + [s * 0.035 * unit, 0.03 * unit], L[51 + s] * 0.7 + L[51] * 0.3 - [0, 0.01 * unit]]
        )
        cv.line(seg, skin * 0.75, 1.6 * px, alpha=0.45, blur=px)
    cv.ellipse(L[57] + [0, 0.09 * unit], (0.2 * unit, 0.06 * unit), skin * 0.65, alpha=0.45, blur=0.04 * unit)
    cv.ellipse(
        L[8] - [0, 0.17 * unit],
        (0.22 * unit, 0.12 * unit),
        min(skin * 1.1, 240),
        alpha=0.35,
        blur=0.05 * unit,
    )
    inner = L[LIPS_IN]
    upper_lip = np.concatenate([L[48:55], L[[64, 63, 62, 61, 60]]])
    lower_lip = np.concatenate([L[[54, 55, 56, 57, 58, 59, 48]], L[[60, 67, 66, 65, 64]]])
    tight = 0.35 * a("AU23")
    cv.fill([upper_lip], idt.lip_tone - 8 - 10 * tight, blur=0.5 * px)
    cv.fill([lower_lip], idt.lip_tone + 4 - 10 * tight, blur=0.5 * px)
    cv.ellipse(
        (L[57] + L[66]) / 2,
        (0.12 * unit, 0.03 * unit),
        min(idt.lip_tone + 35, 240),
        alpha=0.45,
        blur=0.02 * unit,
    )
    gap = (inner[[7, 6, 5], 1] - inner[[1, 2, 3], 1]).max() / unit
    if gap > 0.03:  # open: dark cavity, upper teeth (and lower teeth when the lower lip is pulled down)
        cv.fill([inner], 22, blur=0.4 * px)
        teeth_h = min(0.055, gap * 0.45) * unit
        up = inner[[0, 1, 2, 3, 4]]
        cv.fill(
            [np.concatenate([up, up[::-1] + [0, teeth_h]])],
            min(skin + 50, 225),
            alpha=0.9,
            blur=0.4 * px,
            clip=inner,
        )
        if a("AU16") > 0.05:
            lo = inner[[4, 5, 6, 7, 0]]
            cv.fill(
                [np.concatenate([lo, lo[::-1] - [0, 0.04 * unit * a("AU16")]])],
                min(skin + 40, 215),
                alpha=0.8,
                blur=0.4 * px,
                clip=inner,
            )
    cv.line(inner[[0, 1, 2, 3, 4]], 25, 0.035 * unit, alpha=0.9, blur=0.5 * px)  # lip seam
    cv.line(
        np.concatenate([L[48:55], L[[55, 56, 57, 58, 59]]]),
        idt.lip_tone - 35,
        1.2 * px,
        alpha=0.25 + 0.5 * tight,
        blur=0.5 * px,
        closed=True,
    )
    for c, s in ((48, -1), (54, 1)):
        cv.ellipse(
            L[c] + [s * 0.01 * unit, 0], (0.03 * unit, 0.022 * unit), skin * 0.45, alpha=0.7, blur=0.7 * px
        )
    if a("AU14") > 0:  # dimple beside the tightened corner
        c = L[54 if side > 0 else 48]
        seg = _bezier(
            c + [side * 0.07 * unit, -0.07 * unit],
            c + [side * 0.12 * unit, 0],
            c + [side * 0.07 * unit, 0.07 * unit],
            7,
        )
        cv.line(seg, skin * 0.5, 2.0 * px, alpha=0.9 * a("AU14"), blur=0.8 * px)
    return cv.img


# --------------------------------------------------------------------------------------------------
# AU region masks
# --------------------------------------------------------------------------------------------------


def _mask_groups(au: str, side: int) -> list[tuple[list[int], list[tuple[int, float, float]]]]:
    """Where ``au`` changes the face: groups of (landmark indices, extra points).

    Each extra point is (landmark index, dx, dy) in face units; its x offset is used as written.
    Each group becomes one convex hull (groups are drawn separately so that, e.g., the two outer
    brows of AU2 are two blobs, not one band across the forehead).
    """
    if au == "AU1":
        return [
            (
                [19, 20, 21, 22, 23, 24],
                [(21, 0.0, -0.55), (22, 0.0, -0.55), (20, -0.1, -0.45), (23, 0.1, -0.45)],
            )
        ]
    if au == "AU2":
        return [
            ([17, 18, 19], [(17, -0.05, -0.5), (19, 0.0, -0.5)]),
            ([24, 25, 26], [(26, 0.05, -0.5), (24, 0.0, -0.5)]),
        ]
    if au == "AU4":
        return [([19, 20, 21, 22, 23, 24, 27], [(27, 0, 0.1)])]
    if au == "AU5":
        return [([36, 37, 38, 39], []), ([42, 43, 44, 45], [])]
    if au == "AU6":
        return [
            ([36, 40, 41], [(41, -0.2, 0.2), (36, -0.2, 0.0), (40, 0.1, 0.15)]),
            ([45, 46, 47], [(46, 0.2, 0.2), (45, 0.2, 0.0), (47, -0.1, 0.15)]),
        ]
    if au == "AU7":
        return [(list(EYE_R), []), (list(EYE_L), [])]
    if au == "AU9":
        return [([27, 28, 29, 30, 31, 32, 33, 34, 35, 50, 51, 52], [(28, -0.15, 0), (28, 0.15, 0)])]
    if au == "AU10":
        return [([31, 35, 49, 50, 51, 52, 53, 61, 62, 63], [])]
    if au in ("AU12", "AU20"):
        return [
            ([48, 49, 59, 60], [(31, -0.1, 0.0), (48, -0.12, 0.08)]),
            ([54, 53, 55, 64], [(35, 0.1, 0.0), (54, 0.12, 0.08)]),
        ]
    if au == "AU14":
        if side > 0:
            return [([54, 53, 55, 64], [(54, 0.14, -0.07), (54, 0.14, 0.07)])]
        return [([48, 49, 59, 60], [(48, -0.14, -0.07), (48, -0.14, 0.07)])]
    if au == "AU15":
        return [([48, 49, 59, 60], [(48, -0.05, 0.12)]), ([54, 53, 55, 64], [(54, 0.05, 0.12)])]
    if au == "AU16":
        return [([55, 56, 57, 58, 59, 65, 66, 67], [(57, 0, 0.08)])]
    if au == "AU23":
        return [(list(LIPS_OUT) + list(LIPS_IN), [])]
    if au == "AU25":
        return [(list(range(55, 68)), [])]
    if au == "AU26":
        return [(list(LIPS_OUT) + list(LIPS_IN) + [5, 6, 7, 8, 9, 10, 11], [])]
    raise ValueError(f"no region mask for {au!r}")


def _au_mask(
    au: str,
    side: int,
    neutral: np.ndarray,
    peak: np.ndarray,
    to_image: Callable[[np.ndarray], np.ndarray],
    size: int,
    unit_out: float,
) -> np.ndarray:
    """(size, size) bool mask: dilated hulls of the neutral and peak positions the AU affects."""
    mask = np.zeros((size, size), np.uint8)
    for idx, extra in _mask_groups(au, side):
        pts = [neutral[idx], peak[idx]]
        if extra:
            pts.append(np.array([peak[i] + (dx, dy) for i, dx, dy in extra]))
        hull = cv2.convexHull(np.round(to_image(np.concatenate(pts)) * 16).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 1, cv2.LINE_8, 4)
    r = max(round(0.08 * unit_out), 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.dilate(mask, kernel).astype(bool)


# --------------------------------------------------------------------------------------------------
# Sequences and data sets
# --------------------------------------------------------------------------------------------------


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in key]))


_TAG_IDENTITY, _TAG_SUBJECT_SCENE, _TAG_SEQUENCE = 11, 12, 13


def _pose_matrix(
    pose: _Pose, p: float, size: int, canvas_px: int, canvas_origin: np.ndarray, out_origin: np.ndarray
) -> np.ndarray:
    """2x3 affine map from canvas pixels to output pixels at time ``p`` in [0, 1]."""
    ang = math.radians(pose.angle + p * pose.d_angle)
    s = pose.scale * size / canvas_px
    c, n = math.cos(ang), math.sin(ang)
    A = np.array([[c, -n], [n, c]]) @ np.diag([s * pose.yaw, s])
    t = out_origin + size * np.array([pose.tx + p * pose.d_tx, pose.ty + p * pose.d_ty]) - A @ canvas_origin
    return np.hstack([A, t[:, None]])


def render_sequence(
    emotion: str,
    subject_seed: int,
    sequence_seed: int,
    frames: int = 12,
    size: int = 128,
    intensity: float = 1.0,
    *,
    noise: float = 1.0,
    subject: str | None = None,
    sequence_id: str | None = None,
) -> SyntheticSequence:
    """Render one sequence: neutral in the first frame, ``emotion`` at its peak in the last.

    Args:
        emotion: one of :data:`EMOTION_AUS` (the CK+ class names).
        subject_seed: fixes the identity (face shape, tones, hair) and the subject's usual pose and
            lighting; the same seed gives the same person in every sequence.
        sequence_seed: fixes the small per-sequence changes of pose and lighting, the AU amplitude
            jitter, the side of contempt's AU14 and the pixel noise.
        frames: T >= 2 frames.
        size: frame height and width in pixels (>= 48).
        intensity: in (0, 1]; scales all AU amplitudes (0.3 = subtle, 1 = the full prototype).
        noise: scales the pixel noise (std 0.6-1.4 gray levels per subject at 1; 0 = none).
            Noise costs PNG compression: ``noise=0.2`` keeps a 96x96 frame under 4 KB.
        subject: subject id to record (default ``f"S{subject_seed:03d}"``).
        sequence_id: sequence id to record (default ``f"{subject}/{sequence_seed:03d}"``).

    Returns:
        A :class:`SyntheticSequence` with frames (T, size, size) uint8, landmarks (T, 68, 2) and
        the peak frame's AU masks.
    """
    if emotion not in EMOTION_AUS:
        raise ValueError(f"unknown emotion {emotion!r}; choose one of {sorted(EMOTION_AUS)}")
    if not 0.0 < intensity <= 1.0:
        raise ValueError(f"intensity must lie in (0, 1], got {intensity}")
    if frames < 2:
        raise ValueError(f"need at least 2 frames (neutral and peak), got {frames}")
    if size < 48:
        raise ValueError(f"size must be at least 48 pixels, got {size}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    subject = subject if subject is not None else f"S{subject_seed:03d}"
    sequence_id = sequence_id if sequence_id is not None else f"{subject}/{sequence_seed:03d}"

    idt = _identity(_rng(_TAG_IDENTITY, subject_seed))
    scene_rng, seq_rng = (
        _rng(_TAG_SUBJECT_SCENE, subject_seed),
        _rng(_TAG_SEQUENCE, subject_seed, sequence_seed),
    )
    pose, light = _pose(scene_rng, seq_rng), _lighting(scene_rng, seq_rng, noise)
    jitter = seq_rng.uniform(0.85, 1.0, size=len(EMOTION_AUS[emotion]))
    side = 1 if seq_rng.random() < 0.5 else -1
    aus = {au: float(intensity * w * j) for (au, w), j in zip(EMOTION_AUS[emotion].items(), jitter)}
    noise_rng = np.random.default_rng(seq_rng.integers(2**63))

    neutral = _neutral_landmarks(idt)
    shift = sum(amp * _au_shift(au, side) for au, amp in aus.items())

    canvas_px = _SS * size
    unit = idt.face_px * canvas_px  # face unit in canvas pixels
    canvas_origin = np.array([canvas_px / 2, canvas_px / 2 - 0.25 * unit])
    out_origin = np.array([size / 2, size / 2 - 0.25 * idt.face_px * size])
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    ramp = ((xx - size / 2) * math.cos(light.angle) + (yy - size / 2) * math.sin(light.angle)) / size

    out = np.empty((frames, size, size), np.uint8)
    lms = np.empty((frames, 68, 2), np.float32)
    for t in range(frames):
        p = t / (frames - 1)
        e = _ease(p)
        lm = neutral + e * shift
        img = _draw_face(
            idt, lm, {au: e * amp for au, amp in aus.items()}, side, canvas_px, canvas_origin, unit
        )
        img = cv2.GaussianBlur(img, (0, 0), 0.45 * _SS)
        M = _pose_matrix(pose, p, size, canvas_px, canvas_origin, out_origin)
        img = cv2.warpAffine(img, M, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        img = (img - 128.0) * light.contrast + 128.0 + light.brightness + light.strength * ramp
        img += noise_rng.normal(0.0, light.noise, img.shape).astype(np.float32)
        out[t] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
        canvas_pts = canvas_origin + unit * lm
        lms[t] = canvas_pts @ M[:, :2].T + M[:, 2]

    M_peak = _pose_matrix(pose, 1.0, size, canvas_px, canvas_origin, out_origin)

    def to_image(q: np.ndarray) -> np.ndarray:
        return (canvas_origin + unit * q) @ M_peak[:, :2].T + M_peak[:, 2]

    unit_out = unit * pose.scale * size / canvas_px
    peak = neutral + shift
    masks = {au: _au_mask(au, side, neutral, peak, to_image, size, unit_out) for au in aus}
    return SyntheticSequence(
        frames=out,
        landmarks=lms,
        au_masks=masks,
        label=CK_PLUS_CLASSES.index(emotion),
        label_name=emotion,
        subject=subject,
        sequence_id=sequence_id,
        aus=aus,
    )


def generate_dataset(
    subjects: int,
    seed: int,
    frames: int = 12,
    size: int = 128,
    intensity: float = 1.0,
    emotions: Sequence[str] = CK_PLUS_CLASSES,
    noise: float = 1.0,
) -> list[SyntheticSequence]:
    """Render ``subjects`` people, each showing every emotion once; deterministic per ``seed``.

    Subjects are "S001", "S002", ...; each subject's sequence numbers 001, 002, ... are assigned to
    the emotions in a seeded random order (as in CK+, the number says nothing about the label).
    ``frames``, ``size``, ``intensity`` and ``noise`` are passed to :func:`render_sequence`.

    Returns:
        The sequences, ordered by subject and sequence number.
    """
    if subjects < 1:
        raise ValueError(f"need at least one subject, got {subjects}")
    unknown = [e for e in emotions if e not in EMOTION_AUS]
    if unknown:
        raise ValueError(f"unknown emotion(s) {unknown}; choose from {sorted(EMOTION_AUS)}")
    out = []
    for s in range(subjects):
        key = np.random.SeedSequence([int(seed), s])
        subject_seed = int(key.generate_state(1)[0])
        order = np.random.default_rng(key).permutation(len(emotions))
        name = f"S{s + 1:03d}"
        for number, k in enumerate(order, start=1):
            out.append(
                render_sequence(
                    emotions[k],
                    subject_seed,
                    sequence_seed=number,
                    frames=frames,
                    size=size,
                    intensity=intensity,
                    noise=noise,
                    subject=name,
                    sequence_id=f"{name}/{number:03d}",
                )
            )
    return out


# --------------------------------------------------------------------------------------------------
# Writing the CK+ layout
# --------------------------------------------------------------------------------------------------


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A compressed .npz (readable by ``np.load``) with fixed zip timestamps, so bytes are stable."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(arrays):
            arr = io.BytesIO()
            np.lib.format.write_array(arr, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, arr.getvalue())
    return buf.getvalue()


def _png_bytes(img: np.ndarray) -> bytes:
    params = [cv2.IMWRITE_PNG_COMPRESSION, 9, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_FILTERED]
    ok, buf = cv2.imencode(".png", img, params)
    if not ok:
        raise RuntimeError("cv2.imencode failed to encode a PNG")
    return buf.tobytes()


def _ck_float(v: float) -> str:
    """One value as CK+ (MATLAB ``save -ascii``) writes it: ``   2.3700000e+02``."""
    return f"{v:16.7e}"


def write_ckplus(
    sequences: Iterable[SyntheticSequence], out_dir: str | os.PathLike[str], command: str | None = None
) -> Path:
    """Write sequences in the original CK+ layout (plus the AU masks) under ``out_dir``.

    Layout (``S001/001`` = subject / sequence; frame numbers are 8-digit and 1-based)::

        cohn-kanade-images/S001/001/S001_001_00000001.png
        Emotion/S001/001/S001_001_000000NN_emotion.txt       (NN = last frame; CK+ code 1..7)
        Landmarks/S001/001/S001_001_00000001_landmarks.txt   (68 lines "   x   y")
        GroundTruth/S001/001/au_masks.npz                     (peak frame, one bool array per AU)
        README.txt

    Every file is written to a temporary name and renamed, so no half-written file remains.

    Args:
        sequences: rendered sequences (labels index :data:`~staner_lab.config.CK_PLUS_CLASSES`).
        out_dir: the data set folder (created if missing).
        command: the command that regenerates the folder, recorded in README.txt.

    Returns:
        ``out_dir`` as a Path.
    """
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    n_frames: set[int] = set()
    sizes: set[tuple[int, int]] = set()
    for seq in sequences:
        subj, num = seq.sequence_id.split("/")
        stem = f"{subj}_{num}"
        for t, frame in enumerate(seq.frames, start=1):
            atomic_write_bytes(root / _IMAGES / subj / num / f"{stem}_{t:08d}.png", _png_bytes(frame))
            text = "".join(
                f"{_ck_float(x)}{_ck_float(y)}\n" for x, y in seq.landmarks[t - 1].astype(np.float64)
            )
            atomic_write_bytes(root / _LANDMARKS / subj / num / f"{stem}_{t:08d}_landmarks.txt", text.encode())
        last = len(seq.frames)
        code = CK_PLUS_CLASSES.index(seq.label_name) + 1
        atomic_write_bytes(
            root / _EMOTION / subj / num / f"{stem}_{last:08d}_emotion.txt",
            f"{_ck_float(float(code))}\n".encode(),
        )
        atomic_write_bytes(root / _GROUND_TRUTH / subj / num / "au_masks.npz", _npz_bytes(seq.au_masks))
        counts[seq.label_name] = counts.get(seq.label_name, 0) + 1
        n_frames.add(last)
        sizes.add(seq.frames.shape[1:])
    codes = ", ".join(f"{i + 1} {name}" for i, name in enumerate(CK_PLUS_CLASSES))
    per_class = ", ".join(f"{name} {counts[name]}" for name in CK_PLUS_CLASSES if name in counts)
    readme = f"""{_README_MARK}.

These faces are procedurally drawn (staner_lab/data/synthetic.py); they are not photographs of people.
Each sequence goes from a neutral face (first frame) to an expression peak (last frame), driven by
FACS action units (anger AU4+5+7+23, contempt unilateral AU14, disgust AU9+15+16,
fear AU1+2+4+5+20+26, happy AU6+12, sadness AU1+4+15, surprise AU1+2+5+26).

Sequences: {sum(counts.values())} ({per_class}); frames per sequence: {sorted(n_frames)};
frame size (h, w): {sorted(sizes)}.

Layout (the original CK+ layout, plus GroundTruth/):
  cohn-kanade-images/S001/001/S001_001_00000001.png      grayscale frames, 1-based 8-digit numbers
  Emotion/S001/001/S001_001_000000NN_emotion.txt         label of the sequence (NN = last frame)
                                                          CK+ codes: {codes}
  Landmarks/S001/001/S001_001_00000001_landmarks.txt     68 points "x y" per frame (dlib/iBUG order)
  GroundTruth/S001/001/au_masks.npz                      peak frame: one (H, W) bool mask per active AU
                                                          (np.load(path)["AU12"]) for pointing-game scores

Regenerate (byte-identical):
  {command if command else "(not recorded: written by write_ckplus without a command)"}
"""
    atomic_write_bytes(root / "README.txt", readme.encode())
    return root


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, type=Path, help="folder to write the CK+-layout data set into")
    p.add_argument("--subjects", type=int, default=10, help="number of subjects (each shows all 7 emotions)")
    p.add_argument("--seed", type=int, default=0, help="data set seed; same seed, same bytes")
    p.add_argument("--intensity", type=float, default=1.0, help="AU amplitude scale in (0, 1]; 0.3 = subtle")
    p.add_argument("--frames", type=int, default=12, help="frames per sequence (neutral ... peak)")
    p.add_argument("--size", type=int, default=128, help="frame width and height in pixels")
    p.add_argument(
        "--noise",
        type=float,
        default=1.0,
        help="pixel-noise scale (1 = std 0.6-1.4 gray levels per subject; 0 = none)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier synthetic data set in --out (other folders are refused)",
    )


def _command_line(args: argparse.Namespace) -> str:
    parts = [
        "staner-lab",
        "synth",
        "--out",
        str(args.out),
        "--subjects",
        str(args.subjects),
        "--seed",
        str(args.seed),
    ]
    defaults = {"intensity": 1.0, "frames": 12, "size": 128, "noise": 1.0}
    for name, default in defaults.items():
        value = getattr(args, name)
        if value != default:
            parts += [f"--{name}", str(value)]
    return shlex.join(parts)


def _prepare_out(out: Path, overwrite: bool) -> None:
    """Refuse a non-empty folder unless ``overwrite`` and it holds an earlier synthetic data set."""
    if out.exists() and not out.is_dir():
        raise SystemExit(f"staner-lab synth: --out {out} is a file; give a folder.")
    if not out.exists() or not any(out.iterdir()):
        return
    readme = out / "README.txt"
    ours = readme.is_file() and readme.read_text(errors="replace").startswith(_README_MARK)
    if not overwrite:
        raise SystemExit(
            f"staner-lab synth: {out} is not empty. Choose an empty or new folder, or pass --overwrite to "
            "replace an earlier synthetic data set there."
        )
    if not ours:
        raise SystemExit(
            f"staner-lab synth: {out} is not empty and holds no synthetic data set (no README.txt written "
            "by staner-lab synth), so --overwrite will not touch it. Choose an empty or new folder."
        )
    for name in (_IMAGES, _EMOTION, _LANDMARKS, _GROUND_TRUTH):
        if (out / name).is_dir():
            shutil.rmtree(out / name)
    readme.unlink()


def run_synth(args: argparse.Namespace) -> int:
    """Write the data set described by parsed ``synth`` arguments and print a summary."""
    if not 0.0 < args.intensity <= 1.0:
        raise SystemExit(f"staner-lab synth: --intensity must lie in (0, 1], got {args.intensity}")
    if args.subjects < 1 or args.frames < 2 or args.size < 48 or args.noise < 0:
        raise SystemExit(
            "staner-lab synth: need --subjects >= 1, --frames >= 2, --size >= 48 and --noise >= 0"
        )
    out = Path(args.out)
    _prepare_out(out, args.overwrite)
    seqs = generate_dataset(
        args.subjects,
        args.seed,
        frames=args.frames,
        size=args.size,
        intensity=args.intensity,
        noise=args.noise,
    )
    write_ckplus(seqs, out, command=_command_line(args))
    files = sum(1 for p in out.rglob("*") if p.is_file())
    nbytes = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(
        f"Wrote {len(seqs)} synthetic sequences ({args.subjects} subjects x {len(CK_PLUS_CLASSES)} "
        f"emotions, {args.frames} frames of {args.size}x{args.size} px, intensity {args.intensity:g}, "
        f"noise {args.noise:g}, seed {args.seed}) to {out} in the CK+ layout: {files} files, "
        f"{nbytes / 1e6:.2f} MB. Labels are in Emotion/, 68-point "
        f"landmarks in Landmarks/, peak-frame AU masks in GroundTruth/; README.txt records the command that "
        f"rebuilds it byte for byte."
    )
    return 0


def add_synth_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``synth`` on a ``staner-lab`` subcommand parser; its ``func`` is :func:`run_synth`."""
    p = subparsers.add_parser(
        "synth",
        help="render a synthetic CK+-layout expression data set",
        description="Render synthetic facial-expression sequences (FACS-driven, with landmarks and AU masks) "
        "and write them in the CK+ layout.",
    )
    _add_arguments(p)
    p.set_defaults(func=run_synth)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``staner-lab synth`` as a stand-alone command (``python -m staner_lab.data.synthetic``)."""
    parser = argparse.ArgumentParser(
        prog="staner-lab synth",
        description="Render synthetic facial-expression sequences (FACS-driven, with landmarks and AU masks) "
        "and write them in the CK+ layout.",
    )
    _add_arguments(parser)
    args = parser.parse_args(argv)
    return run_synth(args)


if __name__ == "__main__":
    sys.exit(main())
