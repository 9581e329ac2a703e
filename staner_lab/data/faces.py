"""Face boxes and 68 facial landmarks for every frame of a sequence (Algorithm 1, step 2): the shared types.

Two backends share one protocol, :class:`LandmarkBackend`, and return a :class:`FaceTrack`:

- :class:`staner_lab.data.dlib_landmarks.DlibBackend`: dlib's HOG face detector plus the 68-point
  shape predictor (the tool the paper names), detecting once and then tracking;
- :class:`staner_lab.data.given_landmarks.GivenLandmarksBackend`: landmarks shipped with the data
  (CK+ ``Landmarks/`` files, or arrays for synthetic data); no detector runs.

This module holds what they share: :class:`FaceTrack`, :class:`FaceNotFoundError`, the protocol, and
the frame checks (:func:`to_gray`, :func:`as_gray_frames`).

Landmarks follow the dlib / iBUG 68-point order (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47,
mouth 48-67) and are (x, y) in the pixels of the frames passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import cv2
import numpy as np

__all__ = [
    "N_LANDMARKS",
    "FaceNotFoundError",
    "FaceTrack",
    "FrameInput",
    "LandmarkBackend",
    "as_gray_frames",
    "landmark_box",
    "to_gray",
]

#: Number of landmarks of the iBUG / dlib markup.
N_LANDMARKS = 68

FrameInput = Sequence[np.ndarray] | np.ndarray


class FaceNotFoundError(ValueError):
    """No face was found in a frame.

    Attributes:
        frame_index: index of the frame within the sequence.
        name: the frame's file name (or video frame label) when the caller passed names.
    """

    def __init__(self, frame_index: int, name: str | None = None, detail: str = "") -> None:
        self.frame_index = frame_index
        self.name = name
        where = f"frame {frame_index}" + (f" ({name})" if name else "")
        msg = (
            f"no face found in {where}{': ' + detail if detail else ''}. If the frames are already "
            "cropped to the face, use whole_frame_face=True (CLI: --whole-frame-face) so the whole "
            "frame is taken as the face box; whole_frame_fallback=True uses the whole frame only on "
            "frames where detection fails."
        )
        super().__init__(msg)


@dataclass(frozen=True, eq=False)
class FaceTrack:
    """Face boxes and landmarks for every frame of one sequence.

    Attributes:
        boxes: (T, 4) float64 face box (x0, y0, x1, y1) that the shape predictor used, frame pixels.
        landmarks: (T, 68, 2) float32 landmarks (x, y), frame pixels.
        found: (T,) bool; False only where the landmarks come from the whole-frame fallback
            because no face was detected.
        detected: (T,) bool; True where the face detector ran on that frame.
    """

    boxes: np.ndarray
    landmarks: np.ndarray
    found: np.ndarray
    detected: np.ndarray

    @property
    def detected_frames(self) -> int:
        """How many frames the face detector actually ran on (1 when tracking a stable face)."""
        return int(np.count_nonzero(self.detected))

    def __len__(self) -> int:
        return int(self.landmarks.shape[0])


@runtime_checkable
class LandmarkBackend(Protocol):
    """Anything that turns grayscale frames into a :class:`FaceTrack`."""

    def detect(self, frames: FrameInput, names: Sequence[str] | None = None) -> FaceTrack:
        """Landmark every frame.

        Args:
            frames: list of (H, W) uint8 grayscale frames, or a (T, H, W) uint8 array.
            names: optional per-frame names (file names) used in error messages.

        Returns:
            A FaceTrack with T entries.
        """
        ...


def to_gray(frame: np.ndarray, color: Literal["bgr", "rgb"] = "bgr", name: str = "frame") -> np.ndarray:
    """(H, W) uint8 grayscale from a gray, BGR(A) or RGB(A) uint8 frame (no copy when already gray).

    Args:
        frame: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) uint8.
        color: channel order of colour frames: "bgr" (OpenCV) or "rgb" (PIL, Streamlit).
        name: how error messages name the frame, e.g. "frame 3".
    """
    img = np.asarray(frame)
    if img.dtype != np.uint8:
        raise ValueError(f"{name}: expected uint8 pixels, got {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        return np.ascontiguousarray(img)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"{name}: expected (H, W), (H, W, 3) or (H, W, 4) pixels, got shape {img.shape}")
    if color not in ("bgr", "rgb"):
        raise ValueError(f"color must be 'bgr' or 'rgb', got {color!r}")
    codes = {("bgr", 3): cv2.COLOR_BGR2GRAY, ("bgr", 4): cv2.COLOR_BGRA2GRAY,
             ("rgb", 3): cv2.COLOR_RGB2GRAY, ("rgb", 4): cv2.COLOR_RGBA2GRAY}
    return cv2.cvtColor(img, codes[(color, img.shape[2])])


def as_gray_frames(frames: FrameInput) -> list[np.ndarray]:
    """Check and normalise frames to a list of C-contiguous (H, W) uint8 arrays.

    Args:
        frames: (T, H, W) uint8 array, or a list of (H, W) uint8 / (H, W, 3) BGR uint8 arrays.

    Returns:
        List of T contiguous (H, W) uint8 arrays.

    Raises:
        ValueError: empty input, wrong rank or dtype.
    """
    if isinstance(frames, np.ndarray) and frames.ndim == 2:
        frames = [frames]
    seq = list(frames)
    if not seq:
        raise ValueError("no frames given: a sequence needs at least one frame")
    return [to_gray(f, name=f"frame {i}") for i, f in enumerate(seq)]


def landmark_box(points: np.ndarray) -> np.ndarray:
    """(x0, y0, x1, y1) bounding box of (K, 2) points."""
    return np.array([points[:, 0].min(), points[:, 1].min(), points[:, 0].max(), points[:, 1].max()])
