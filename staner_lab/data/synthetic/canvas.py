"""Drawing primitives of the renderer: a float canvas with soft anti-aliased shapes, and curves.

:class:`Canvas` blends filled polygons, poly-lines and ellipses (optionally blurred and clipped)
into a float32 image; :func:`bezier`, :func:`chaikin` and :func:`arc` build the curves they draw.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import cv2
import numpy as np

__all__ = ["Canvas", "arc", "bezier", "chaikin"]


class Canvas:
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


def bezier(a: np.ndarray, ctrl: np.ndarray, b: np.ndarray, n: int = 9) -> np.ndarray:
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * a + 2 * (1 - t) * t * ctrl + t**2 * b


def chaikin(pts: np.ndarray, iterations: int) -> np.ndarray:
    """Chaikin corner cutting: a smooth open curve through the ends of ``pts``."""
    for _ in range(iterations):
        q = 0.75 * pts[:-1] + 0.25 * pts[1:]
        r = 0.25 * pts[:-1] + 0.75 * pts[1:]
        pts = np.concatenate([pts[:1], np.stack([q, r], 1).reshape(-1, 2), pts[-1:]])
    return pts


def arc(center: np.ndarray, ax: float, ay: float, t0: float, t1: float, n: int = 24) -> np.ndarray:
    t = np.linspace(t0, t1, n)
    return np.stack([center[0] + ax * np.cos(t), center[1] + ay * np.sin(t)], 1)
