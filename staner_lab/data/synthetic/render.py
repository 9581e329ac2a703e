"""The 2-D face renderer: one frontal, upright face drawn from its landmarks and AU amplitudes.

:func:`draw_face` paints background, hair, face, wrinkles and folds of the active AUs, brows, eyes,
nose and mouth on a supersampled canvas; pose, lighting and noise are applied afterwards by
:func:`staner_lab.data.synthetic.sequence.render_sequence`.
"""

from __future__ import annotations

import cv2
import numpy as np

from staner_lab.data.synthetic.canvas import Canvas, arc, bezier, chaikin
from staner_lab.data.synthetic.identity import Identity
from staner_lab.data.synthetic.landmarks import BROW_L, BROW_R, EYE_L, EYE_R, JAW, LIPS_IN, NOSE_BASE

__all__ = ["draw_face"]


def draw_face(
    idt: Identity,
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
    cv = Canvas(canvas_px, idt.background)
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
    crown = arc(centre_top, half_w * 1.005, height, 0.0, -np.pi, 25)
    face = np.concatenate([L[JAW], crown[1:-1]])
    shade = np.zeros((canvas_px // 4, canvas_px // 4), np.uint8)
    cv2.fillPoly(shade, [np.round(face / 4 * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    shade = cv2.GaussianBlur(shade.astype(np.float32) / 255.0, (0, 0), unit * 0.22 / 4)
    shade = cv2.resize(shade, (canvas_px, canvas_px), interpolation=cv2.INTER_LINEAR)
    cv.fill([face], skin * (0.72 + 0.33 * shade), blur=0.6 * px)
    # shadow under the jaw on the neck
    cv.line(bezier(L[3], L[8] + [0, 0.12 * unit], L[13]), skin * 0.6, 0.10 * unit, alpha=0.35, blur=3 * px)

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
    hairline = chaikin(hairline, 2)
    cap = arc(centre_top, half_w * 1.07, height * 1.07, -0.12, -np.pi + 0.12, 25)
    cv.fill([np.concatenate([hairline, cap])], idt.hair, blur=px)

    # forehead wrinkles: central part from AU1, lateral parts from AU2
    brow_y = (L[BROW_R, 1].min() + L[BROW_L, 1].min()) / 2
    for k in range(3):
        y = brow_y - (0.15 + 0.095 * k) * unit
        bow = 0.04 * unit
        if a("AU1") > 0:
            seg = bezier(
                np.array([-0.28 * unit, y + bow]) + [origin[0], 0],
                np.array([origin[0], y - bow]),
                np.array([0.28 * unit, y + bow]) + [origin[0], 0],
            )
            cv.line(seg, skin * 0.62, 1.3 * px, alpha=0.55 * a("AU1"), blur=0.8 * px)
        if a("AU2") > 0:
            for s in (-1, 1):
                xs = origin[0] + s * np.array([0.38, 0.6, 0.82]) * unit
                seg = bezier(
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
        cv.line(bezier(start, ctrl, end), skin * 0.6, 2.0 * px, alpha=fold, blur=1.2 * px)

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
        wing_arc = arc(c, 0.075 * unit, 0.07 * unit, np.pi / 2 + s * 0.2, np.pi / 2 - s * 2.6, 10)
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
            seg = bezier(c + [-w, 0.015 * unit], c - [0, 0.02 * unit], c + [w, 0.015 * unit], 7)
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
    if gap > 0.03:  # open: dark cavity, upper teeth, lower teeth when the lower lip is pulled down or back
        cv.fill([inner], 22, blur=0.4 * px)
        # Lips parted (AU25) and drawn back (AU10, AU12, AU20) bare both rows of teeth, as in real fear,
        # smiles and disgust. No prototype has AU25, so the plain generator draws what it always drew.
        pulled = min(1.0, a("AU20") + a("AU12") + a("AU10")) * min(1.0, 2 * a("AU25"))
        teeth_h = min(0.055 + 0.02 * pulled, gap * (0.45 + 0.35 * pulled)) * unit
        up = inner[[0, 1, 2, 3, 4]]
        cv.fill(
            [np.concatenate([up, up[::-1] + [0, teeth_h]])],
            min(skin + 50, 225),
            alpha=0.9,
            blur=0.4 * px,
            clip=inner,
        )
        lower = max(a("AU16"), 0.8 * pulled)
        if lower > 0.05:
            lo = inner[[4, 5, 6, 7, 0]]
            cv.fill(
                [np.concatenate([lo, lo[::-1] - [0, 0.04 * unit * lower]])],
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
        seg = bezier(
            c + [side * 0.07 * unit, -0.07 * unit],
            c + [side * 0.12 * unit, 0],
            c + [side * 0.07 * unit, 0.07 * unit],
            7,
        )
        cv.line(seg, skin * 0.5, 2.0 * px, alpha=0.9 * a("AU14"), blur=0.8 * px)
    return cv.img
