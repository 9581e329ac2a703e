"""Per-AU region masks: where each active AU changes the face at the peak frame.

Ground truth for attention/attribution "pointing game" scores: :func:`au_mask` is the dilated
convex hull of the neutral and peak positions of the landmarks (and wrinkles) an AU moves.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from staner_lab.data.synthetic.landmarks import EYE_L, EYE_R, LIPS_IN, LIPS_OUT

__all__ = ["au_mask"]


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
        return [([31, 35, 48, 49, 50, 51, 52, 53, 54, 60, 61, 62, 63, 64], [])]
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


def au_mask(
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
