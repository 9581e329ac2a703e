"""Who is drawn and how they are shown: identity, head pose and lighting parameters.

:func:`random_identity` draws one subject's face shape and tones (:class:`Identity`, in face units);
:func:`random_pose` and :func:`random_lighting` mix the subject's usual head pose / lighting with small
per-sequence changes. All three only consume the numpy ``Generator`` objects they are given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Identity", "Lighting", "Pose", "random_identity", "random_lighting", "random_pose"]


@dataclass(frozen=True)
class Identity:
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
class Pose:
    angle: float  # degrees, in-plane rotation
    tx: float  # translation, fraction of the image size
    ty: float
    scale: float
    yaw: float  # horizontal compression factor (1 = frontal)
    d_angle: float  # drift from first to last frame
    d_tx: float
    d_ty: float


@dataclass(frozen=True)
class Lighting:
    angle: float  # gradient direction (radians)
    strength: float  # gray levels across the image
    brightness: float
    contrast: float
    noise: float  # std of the pixel noise (gray levels)


def random_identity(rng: np.random.Generator) -> Identity:
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
    return Identity(
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


def random_pose(subject_rng: np.random.Generator, sequence_rng: np.random.Generator) -> Pose:
    base = (subject_rng.uniform(-5, 5), subject_rng.uniform(-0.025, 0.025), subject_rng.uniform(-0.02, 0.02))
    s, q = subject_rng.uniform, sequence_rng.uniform
    return Pose(
        angle=base[0] + q(-2, 2),
        tx=base[1] + q(-0.01, 0.01),
        ty=base[2] + q(-0.01, 0.01),
        scale=s(0.94, 1.04) * q(0.98, 1.02),
        yaw=1.0 - s(0.0, 0.06) - q(0.0, 0.02),
        d_angle=q(-1.5, 1.5),
        d_tx=q(-0.006, 0.006),
        d_ty=q(-0.006, 0.006),
    )


def random_lighting(
    subject_rng: np.random.Generator, sequence_rng: np.random.Generator, noise: float
) -> Lighting:
    s, q = subject_rng.uniform, sequence_rng.uniform
    return Lighting(
        angle=s(0, 2 * math.pi) + q(-0.3, 0.3),
        strength=s(0, 45) * q(0.85, 1.15),
        brightness=s(-12, 12) + q(-4, 4),
        contrast=s(0.85, 1.12) * q(0.97, 1.03),
        noise=s(0.6, 1.4) * noise,
    )
