"""The 68-point landmark set (dlib/iBUG order): index groups, left-right mirror, neutral face.

Landmarks are in face units of a canonical frontal frame (origin between the eyes, y down, 1 = half
the face width); :func:`neutral_landmarks` places them from an :class:`Identity`.
"""

from __future__ import annotations

import numpy as np

from staner_lab.data.synthetic.identity import Identity

__all__ = [
    "BROW_L",
    "BROW_R",
    "EYE_L",
    "EYE_R",
    "JAW",
    "LIPS_IN",
    "LIPS_OUT",
    "MIRROR",
    "NOSE_BASE",
    "NOSE_BRIDGE",
    "neutral_landmarks",
]


# Landmark groups (dlib/iBUG 68 order; "R" = the subject's right = image left).
JAW = np.arange(0, 17)
BROW_R, BROW_L = np.arange(17, 22), np.arange(22, 27)  # R: outer -> inner, L: inner -> outer
NOSE_BRIDGE, NOSE_BASE = np.arange(27, 31), np.arange(31, 36)
EYE_R, EYE_L = np.arange(36, 42), np.arange(42, 48)
LIPS_OUT, LIPS_IN = np.arange(48, 60), np.arange(60, 68)
MIRROR = np.array(
    [16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]  # jaw
    + [26, 25, 24, 23, 22, 21, 20, 19, 18, 17]  # brows
    + [27, 28, 29, 30, 35, 34, 33, 32, 31]  # nose
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]  # eyes
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]  # outer lips
    + [64, 63, 62, 61, 60, 67, 66, 65]  # inner lips
)


def neutral_landmarks(idt: Identity) -> np.ndarray:
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
        left = MIRROR[right]
        p[left] = p[right] * [-1, 1]
    return p
