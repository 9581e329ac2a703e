"""Landmarks that come with the data: CK+ landmark files, or arrays (synthetic data); no detector runs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from staner_lab.data.faces import N_LANDMARKS, FaceTrack, FrameInput, landmark_box

__all__ = ["GivenLandmarksBackend", "read_landmark_file"]


def read_landmark_file(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one CK+ landmark file: 68 lines of ``x y`` floats (e.g. ``2.3700000e+02  2.1e+02``).

    Args:
        path: the file.

    Returns:
        (68, 2) float32 landmarks (x, y).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: malformed content; the message names the file and the line.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"landmark file not found: {p}")
    rows: list[tuple[float, float]] = []
    with p.open("r", encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            text = line.strip()
            if not text:
                continue
            parts = text.replace(",", " ").split()
            if len(parts) != 2:
                raise ValueError(
                    f"{p}, line {lineno}: expected two numbers 'x y', got {len(parts)} field(s): {text!r}"
                )
            try:
                x, y = float(parts[0]), float(parts[1])
            except ValueError:
                raise ValueError(f"{p}, line {lineno}: not a number in {text!r}") from None
            if not (np.isfinite(x) and np.isfinite(y)):
                raise ValueError(f"{p}, line {lineno}: non-finite coordinate in {text!r}")
            rows.append((x, y))
    if len(rows) != N_LANDMARKS:
        raise ValueError(f"{p}: expected {N_LANDMARKS} landmark lines 'x y', found {len(rows)}")
    return np.asarray(rows, dtype=np.float32)


class GivenLandmarksBackend:
    """Landmarks that come with the data; no detector runs (``detected_frames == 0``).

    Args:
        landmarks: per-frame landmark files (CK+ ``Landmarks/`` layout, one file per frame), or a
            (T, 68, 2) array (synthetic data).
    """

    def __init__(self, landmarks: Sequence[str | os.PathLike[str]] | np.ndarray) -> None:
        if isinstance(landmarks, np.ndarray):
            arr = np.asarray(landmarks, dtype=np.float32)
            if arr.ndim != 3 or arr.shape[1:] != (N_LANDMARKS, 2):
                raise ValueError(f"given landmarks must be (T, 68, 2), got {arr.shape}")
            self._array: np.ndarray | None = arr
            self.paths: tuple[Path, ...] = ()
        else:
            self._array = None
            self.paths = tuple(Path(p) for p in landmarks)
            if not self.paths:
                raise ValueError("GivenLandmarksBackend needs at least one landmark file")

    def __repr__(self) -> str:
        n = len(self._array) if self._array is not None else len(self.paths)
        return f"GivenLandmarksBackend({n} frames)"

    def read(self) -> np.ndarray:
        """All landmarks, (T, 68, 2) float32."""
        if self._array is not None:
            return self._array
        return np.stack([read_landmark_file(p) for p in self.paths])

    def detect(self, frames: FrameInput, names: Sequence[str] | None = None) -> FaceTrack:
        """Return the given landmarks for ``frames`` (checked for count); boxes bound them."""
        n = len(frames) if not (isinstance(frames, np.ndarray) and frames.ndim == 2) else 1
        marks = self.read()
        if len(marks) != n:
            src = f"{len(self.paths)} landmark files (first: {self.paths[0]})" if self.paths else "array"
            raise ValueError(f"{src} for {n} frames: need exactly one landmark set per frame")
        boxes = np.stack([landmark_box(m) for m in marks]).astype(np.float64)
        return FaceTrack(boxes=boxes, landmarks=marks, found=np.ones(n, bool), detected=np.zeros(n, bool))
