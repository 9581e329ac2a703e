"""Drawing one :class:`~staner_lab.live.recognizer.FrameResult` on its frame: face, regions, probabilities."""

from __future__ import annotations

import cv2
import numpy as np

from staner_lab.live.recognizer import FrameResult

__all__ = ["annotate"]

_REGION_COLORS = {"eyes": (255, 200, 0), "nose": (0, 220, 255), "mouth": (255, 0, 200)}  # BGR
_FACE_COLOR = (0, 220, 0)


def _pt(x: float, y: float) -> tuple[int, int]:
    return round(float(x)), round(float(y))


def annotate(frame: np.ndarray, result: FrameResult, landmarks: bool = True) -> np.ndarray:
    """Draw the face box, landmarks, region boxes and the probabilities (bars + text) in place.

    Args:
        frame: (H, W, 3) uint8 BGR frame (drawn on in place and returned); a gray frame is
            converted to BGR first (a new array).
        result: that frame's result.
        landmarks: also draw the 68 landmarks.
    """
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    font, small = cv2.FONT_HERSHEY_SIMPLEX, 0.45
    if not result.face_found:
        cv2.putText(frame, f"frame {result.index}: no face", (10, 24), font, 0.6, (0, 0, 255), 2, cv2.LINE_AA)
        return frame
    x0, y0, x1, y1 = result.face_box
    cv2.rectangle(frame, _pt(x0, y0), _pt(x1, y1), _FACE_COLOR, 2)
    if landmarks and result.landmarks is not None:
        for x, y in result.landmarks:
            cv2.circle(frame, _pt(x, y), 1, _FACE_COLOR, -1)
    for region, box in (result.region_boxes or {}).items():
        color = _REGION_COLORS.get(region, (255, 255, 255))
        cv2.rectangle(frame, _pt(box[0], box[1]), _pt(box[2], box[3]), color, 1)
        cv2.putText(frame, region, _pt(box[0], box[1] - 3), font, 0.35, color, 1, cv2.LINE_AA)
    # probability panel: one bar of P per class, with P_G / P_L as numbers
    names = result.class_names
    row_h, bar_w, label_w = 18, 120, 70
    panel_w, panel_h = label_w + bar_w + 120, row_h * (len(names) + 1) + 8
    H, W = frame.shape[:2]
    pw, ph = min(panel_w, W), min(panel_h, H)
    roi = frame[:ph, :pw]
    roi[:] = (roi * 0.35).astype(np.uint8)  # darken under the panel
    head = (f"#{result.index} seq {result.sequence}:{result.seq_index}"
            + (" RESET" if result.reset else "") + f"  {result.predicted}")
    cv2.putText(frame, head, (6, 14), font, small, (255, 255, 255), 1, cv2.LINE_AA)
    pred = result.prediction
    for k, name in enumerate(names):
        y = row_h * (k + 1) + 4
        p = float(result.P[k])
        color = (0, 255, 255) if k == pred else (220, 220, 220)
        cv2.putText(frame, name[:9], (6, y + 12), font, small, color, 1, cv2.LINE_AA)
        cv2.rectangle(frame, (label_w, y + 3), (label_w + round(p * bar_w), y + row_h - 3), color, -1)
        cv2.rectangle(frame, (label_w, y + 3), (label_w + bar_w, y + row_h - 3), (120, 120, 120), 1)
        text = f"{p:.2f}"
        if result.P_G is not None and result.P_L is not None:
            text += f" G{float(result.P_G[k]):.2f} L{float(result.P_L[k]):.2f}"
        cv2.putText(frame, text, (label_w + bar_w + 4, y + 12), font, 0.38, color, 1, cv2.LINE_AA)
    return frame
