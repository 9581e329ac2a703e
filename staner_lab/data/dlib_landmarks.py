"""Landmarks from dlib: the HOG face detector plus the 68-point shape predictor, with tracking.

- :func:`shape_predictor_path`, :func:`load_dlib_models`: find the model file (without importing
  ``face_recognition_models``) and load the models once per process;
- :class:`DlibBackend`: a :class:`~staner_lab.data.faces.LandmarkBackend` that detects once and then
  *tracks*: the face box of frame ``t`` is derived from the landmarks of frame ``t-1``, so only the
  cheap shape predictor runs on most frames;
- :class:`FaceTracker`: the same detect-then-track loop one frame per call (live streams), returning
  a :class:`TrackedFace`.

>>> track = DlibBackend().detect(frames)        # doctest: +SKIP
>>> track.landmarks.shape, track.detected_frames  # doctest: +SKIP
((12, 68, 2), 1)
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from staner_lab.data.faces import (
    N_LANDMARKS,
    FaceNotFoundError,
    FaceTrack,
    FrameInput,
    as_gray_frames,
    landmark_box,
)

__all__ = [
    "SHAPE_PREDICTOR_ENV",
    "DlibBackend",
    "FaceTracker",
    "TrackedFace",
    "load_dlib_models",
    "shape_predictor_path",
]

#: Environment variable that overrides the location of the 68-point shape predictor file.
SHAPE_PREDICTOR_ENV = "STANER_DLIB_68"
_MODEL_NAME = "shape_predictor_68_face_landmarks.dat"


# --------------------------------------------------------------------------------------------
# dlib models: located without importing face_recognition_models, loaded lazily and once.
# --------------------------------------------------------------------------------------------

_MODEL_CACHE: dict[str, Any] = {}
_MODEL_LOCK = threading.Lock()


def shape_predictor_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Locate the dlib 68-point shape predictor file.

    Order: explicit ``path``; the ``STANER_DLIB_68`` environment variable; the file shipped by the
    ``face_recognition_models`` package (found with ``importlib.util.find_spec`` without importing
    the package, whose ``__init__`` needs the removed ``pkg_resources``).

    Args:
        path: explicit file path, or None.

    Returns:
        Path of an existing file.

    Raises:
        FileNotFoundError: naming the expected path and how to fix it.
    """
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"dlib 68-point shape predictor not found at {p} (explicit path)")
        return p
    env = os.environ.get(SHAPE_PREDICTOR_ENV)
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise FileNotFoundError(
                f"dlib 68-point shape predictor not found at {p} (from ${SHAPE_PREDICTOR_ENV}); "
                f"point ${SHAPE_PREDICTOR_ENV} at {_MODEL_NAME} or unset it to use the file of "
                "the face-recognition-models package"
            )
        return p
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"dlib 68-point shape predictor {_MODEL_NAME} not found: the package "
            "face_recognition_models is not installed. Fix: pip install face-recognition-models "
            f"(or set ${SHAPE_PREDICTOR_ENV} to the path of {_MODEL_NAME})"
        )
    p = Path(next(iter(spec.submodule_search_locations))) / "models" / _MODEL_NAME
    if not p.is_file():
        raise FileNotFoundError(
            f"dlib 68-point shape predictor not found at {p}. Fix: pip install --force-reinstall "
            f"face-recognition-models (or set ${SHAPE_PREDICTOR_ENV} to the path of {_MODEL_NAME})"
        )
    return p


def load_dlib_models(path: str | os.PathLike[str] | None = None) -> tuple[Any, Any]:
    """Return ``(hog_detector, shape_predictor)``, loading each at most once per process.

    Args:
        path: shape predictor file; see :func:`shape_predictor_path`.
    """
    import dlib  # imported lazily: only the dlib backend needs it

    model = str(shape_predictor_path(path).resolve())
    with _MODEL_LOCK:
        if "detector" not in _MODEL_CACHE:
            _MODEL_CACHE["detector"] = dlib.get_frontal_face_detector()
        key = "predictor:" + model
        if key not in _MODEL_CACHE:
            _MODEL_CACHE[key] = dlib.shape_predictor(model)
        return _MODEL_CACHE["detector"], _MODEL_CACHE[key]


# --------------------------------------------------------------------------------------------
# dlib backend
# --------------------------------------------------------------------------------------------

# Detector box relative to the landmarks' bounding box: (dcx, dcy) centre offset as a fraction of
# the landmark box size, and (sw, sh) size ratio. Measured on frontal faces; used after a
# whole-frame fallback. After a real detection the relation is measured on that frame instead.
_DEFAULT_CALIBRATION = (-0.03, -0.07, 0.95, 0.95)


def _calibrate(box: np.ndarray, landmarks: np.ndarray) -> tuple[float, float, float, float]:
    lb = landmark_box(landmarks)
    lw, lh = max(lb[2] - lb[0], 1.0), max(lb[3] - lb[1], 1.0)
    return (
        ((box[0] + box[2]) - (lb[0] + lb[2])) / 2 / lw,
        ((box[1] + box[3]) - (lb[1] + lb[3])) / 2 / lh,
        (box[2] - box[0]) / lw,
        (box[3] - box[1]) / lh,
    )


def _box_from_landmarks(landmarks: np.ndarray, calib: tuple[float, float, float, float]) -> np.ndarray:
    lb = landmark_box(landmarks)
    lw, lh = lb[2] - lb[0], lb[3] - lb[1]
    cx = (lb[0] + lb[2]) / 2 + calib[0] * lw
    cy = (lb[1] + lb[3]) / 2 + calib[1] * lh
    w, h = calib[2] * lw, calib[3] * lh
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class DlibBackend:
    """dlib HOG face detector + 68-point shape predictor, with frame-to-frame tracking.

    Args:
        track: detect on the first frame only, then derive each frame's box from the previous
            frame's landmarks and run only the shape predictor. Re-detects when the tracked face
            looks lost (degenerate box, centre outside the frame, size jump vs. the detection).
        redetect_every: when > 0 and tracking, also re-detect every this many frames.
        whole_frame_face: the whole frame is the face box on every frame; no detector runs. For
            faces that are already cropped, where the HOG detector often finds nothing.
        upscale_below: frames whose short side is below this many pixels are upscaled to it
            (bilinear) before detection and landmarking; coordinates are mapped back.
        whole_frame_fallback: where detection finds no face, use the whole frame as the face box
            (``found`` is False there) instead of raising :class:`FaceNotFoundError`.
        model_path: explicit shape predictor file (else ``$STANER_DLIB_68``, else the
            face-recognition-models package).
        min_similarity: tracking is also taken as lost when the normalised cross-correlation
            between the face patch of the previous frame and the tracked patch of this frame
            (both 24x24, under the landmarks' bounding box) falls below this value: the face
            jumped further than the shape predictor can follow, or left the frame.
    """

    def __init__(
        self,
        track: bool = True,
        redetect_every: int = 0,
        whole_frame_face: bool = False,
        upscale_below: int = 160,
        whole_frame_fallback: bool = False,
        model_path: str | os.PathLike[str] | None = None,
        min_similarity: float = 0.5,
    ) -> None:
        if redetect_every < 0:
            raise ValueError(f"redetect_every must be >= 0, got {redetect_every}")
        if upscale_below < 0:
            raise ValueError(f"upscale_below must be >= 0, got {upscale_below}")
        self.track = track
        self.redetect_every = redetect_every
        self.whole_frame_face = whole_frame_face
        self.upscale_below = upscale_below
        self.whole_frame_fallback = whole_frame_fallback
        self.model_path = model_path
        self.min_similarity = min_similarity

    def __repr__(self) -> str:
        return (
            f"DlibBackend(track={self.track}, redetect_every={self.redetect_every}, "
            f"whole_frame_face={self.whole_frame_face}, upscale_below={self.upscale_below}, "
            f"whole_frame_fallback={self.whole_frame_fallback})"
        )

    # -- helpers working in the (possibly upscaled) working image ------------------------------

    def _working(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        short = min(frame.shape[:2])
        if self.upscale_below and short < self.upscale_below:
            scale = self.upscale_below / short
            size = (round(frame.shape[1] * scale), round(frame.shape[0] * scale))
            return cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR), scale
        return frame, 1.0

    @staticmethod
    def _detect_boxes(detector: Any, image: np.ndarray) -> list[np.ndarray]:
        for upsample in (0, 1):  # a second pass with 2x upsampling finds smaller faces
            rects = detector(image, upsample)
            if len(rects):
                return [np.array([r.left(), r.top(), r.right(), r.bottom()], float) for r in rects]
        return []

    @staticmethod
    def _predict(predictor: Any, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        import dlib

        rect = dlib.rectangle(*(round(float(v)) for v in box))
        shape = predictor(image, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)

    @staticmethod
    def _patch(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """Zero-mean, unit-norm 24x24 patch under the landmarks' bounding box (edge padded)."""
        lb = np.round(landmark_box(landmarks)).astype(int)
        h, w = image.shape
        x0, y0 = max(lb[0], 0), max(lb[1], 0)
        x1, y1 = min(max(lb[2], x0 + 1), w), min(max(lb[3], y0 + 1), h)
        if x1 <= x0 or y1 <= y0:
            return np.zeros((24, 24), np.float32)
        p = cv2.resize(image[y0:y1, x0:x1], (24, 24), interpolation=cv2.INTER_AREA).astype(np.float32)
        p -= p.mean()
        n = float(np.linalg.norm(p))
        return p / n if n > 1e-6 else np.zeros_like(p)

    @staticmethod
    def _lost(landmarks: np.ndarray, ref_size: float, shape: tuple[int, int]) -> bool:
        lb = landmark_box(landmarks)
        w, h = lb[2] - lb[0], lb[3] - lb[1]
        cx, cy = (lb[0] + lb[2]) / 2, (lb[1] + lb[3]) / 2
        if w < 8 or h < 8 or not 0.4 < w / h < 2.5:
            return True
        if not (0 <= cx < shape[1] and 0 <= cy < shape[0]):
            return True
        size = np.sqrt(w * h)
        return not 0.5 < size / max(ref_size, 1e-6) < 2.0

    def tracker(self) -> FaceTracker:
        """A :class:`FaceTracker`: this backend's detect-then-track loop, one frame per call."""
        return FaceTracker(self)

    def detect(self, frames: FrameInput, names: Sequence[str] | None = None) -> FaceTrack:
        """Landmark every frame; see :meth:`LandmarkBackend.detect`.

        Raises:
            FaceNotFoundError: no face on a frame where detection ran (and no fallback).
        """
        gray = as_gray_frames(frames)
        n = len(gray)
        if names is not None and len(names) != n:
            raise ValueError(f"got {len(names)} names for {n} frames")
        tracker = self.tracker()
        boxes = np.zeros((n, 4))
        marks = np.zeros((n, N_LANDMARKS, 2), np.float32)
        found = np.ones(n, bool)
        detected = np.zeros(n, bool)
        for i, frame in enumerate(gray):
            face = tracker.update(frame, names[i] if names is not None else None)
            boxes[i], marks[i], found[i], detected[i] = face.box, face.landmarks, face.found, face.detected
        return FaceTrack(boxes=boxes, landmarks=marks, found=found, detected=detected)


@dataclass(frozen=True, eq=False)
class TrackedFace:
    """One frame's face from :meth:`FaceTracker.update`.

    Attributes:
        box: (4,) float64 face box (x0, y0, x1, y1) that the shape predictor used, frame pixels.
        landmarks: (68, 2) float32 landmarks (x, y), frame pixels.
        found: False only where the landmarks come from the whole-frame fallback.
        detected: True where the face detector ran on this frame (else the face was tracked).
    """

    box: np.ndarray
    landmarks: np.ndarray
    found: bool
    detected: bool


class FaceTracker:
    """:class:`DlibBackend`'s detect-then-track loop, one frame per call (live streams).

    ``DlibBackend.detect`` runs exactly this loop over a sequence, so a stream of frames gets the
    same boxes and landmarks as the batch pipeline. Frames are counted from the last
    :meth:`reset` (``redetect_every`` and error messages use that count).

    >>> tracker = DlibBackend().tracker()      # doctest: +SKIP
    >>> face = tracker.update(gray_frame)      # doctest: +SKIP
    """

    def __init__(self, backend: DlibBackend) -> None:
        self.backend = backend
        self._detector, self._predictor = load_dlib_models(backend.model_path)
        self.reset()

    def reset(self) -> None:
        """Forget the face (the next frame runs the detector) and restart the frame count."""
        self.frames = 0  # frames seen since the last reset
        self._prev: np.ndarray | None = None  # previous landmarks, working-image pixels
        self._prev_patch: np.ndarray | None = None
        self._prev_scale = 1.0
        self._calib = _DEFAULT_CALIBRATION
        self._ref_size = 0.0
        self._last_detect = 0

    def update(self, frame: np.ndarray, name: str | None = None) -> TrackedFace:
        """Box and landmarks of the next frame.

        Args:
            frame: (H, W) uint8 grayscale (or (H, W, 3) BGR) frame.
            name: label used in error messages.

        Raises:
            FaceNotFoundError: the detector ran and found no face (and no fallback). The tracker
                then forgets the face, so the next frame runs the detector.
        """
        b = self.backend
        detector, predictor = self._detector, self._predictor
        i = self.frames
        self.frames += 1
        image, scale = b._working(as_gray_frames([frame])[0])
        h, w = image.shape
        whole = np.array([0.0, 0.0, w - 1.0, h - 1.0])
        box: np.ndarray | None = None
        pts: np.ndarray | None = None
        found, detected = True, False
        prev = self._prev
        if b.whole_frame_face:
            box = whole
            pts = b._predict(predictor, image, box)
        else:
            want_detect = (
                not b.track
                or prev is None
                or (b.redetect_every > 0 and i - self._last_detect >= b.redetect_every)
            )
            if not want_detect:
                assert prev is not None
                box = _box_from_landmarks(prev * (scale / self._prev_scale), self._calib)
                pts = b._predict(predictor, image, box)
                similar = float(np.sum(b._patch(image, pts) * self._prev_patch)) >= b.min_similarity
                if not similar or b._lost(pts, self._ref_size * scale, image.shape):
                    want_detect, box, pts = True, None, None
            if want_detect:
                detected = True
                self._last_detect = i
                cands = b._detect_boxes(detector, image)
                if cands:
                    if prev is not None:  # keep following the same face
                        pbox = _box_from_landmarks(prev * (scale / self._prev_scale), self._calib)
                        box = max(cands, key=lambda c: (_iou(c, pbox), (c[2] - c[0]) * (c[3] - c[1])))
                    else:
                        box = max(cands, key=lambda c: (c[2] - c[0]) * (c[3] - c[1]))
                    pts = b._predict(predictor, image, box)
                    self._calib = _calibrate(box, pts)
                    lb = landmark_box(pts)
                    self._ref_size = np.sqrt((lb[2] - lb[0]) * (lb[3] - lb[1])) / scale
                elif b.whole_frame_fallback:
                    box, found = whole, False
                    pts = b._predict(predictor, image, box)
                    self._calib = _DEFAULT_CALIBRATION
                    lb = landmark_box(pts)
                    self._ref_size = np.sqrt(max((lb[2] - lb[0]) * (lb[3] - lb[1]), 1.0)) / scale
                else:
                    self._prev = self._prev_patch = None  # lost: detect again on the next frame
                    raise FaceNotFoundError(i, name, "the HOG face detector found no face")
        assert box is not None and pts is not None
        self._prev, self._prev_scale = pts, scale
        if b.track and not b.whole_frame_face:
            self._prev_patch = b._patch(image, pts)
        return TrackedFace(box=box / scale, landmarks=(pts / scale).astype(np.float32), found=found,
                           detected=detected)
