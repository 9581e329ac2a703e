"""Frames from a video file or a camera, with errors that name the source (truncated, corrupt, empty)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

__all__ = ["VideoSource"]


# Containers whose frame count is read from an index; elsewhere it may be an estimate.
_INDEXED = {".mp4", ".m4v", ".mov", ".avi"}


class VideoSource:
    """BGR frames of a video file or a camera, with errors that name the source.

    Args:
        source: a video file path, or an int camera index.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is empty, or cannot be opened (truncated, corrupt, unknown codec);
            a camera cannot be opened. While iterating a file: no frame could be decoded, or
            fewer frames than its index announces (truncated).
    """

    def __init__(self, source: str | Path | int) -> None:
        self.is_camera = isinstance(source, int)
        if self.is_camera:
            self.name = f"camera {source}"
            self.path = None
            self._cap = cv2.VideoCapture(int(source))
            if not self._cap.isOpened():
                raise ValueError(f"cannot open {self.name}: no such camera, or it is in use")
        else:
            self.path = Path(source).expanduser()
            self.name = str(self.path)
            if not self.path.is_file():
                raise FileNotFoundError(f"video file not found: {self.path}")
            if self.path.stat().st_size == 0:
                raise ValueError(f"video file {self.path} is empty (zero bytes)")
            self._cap = cv2.VideoCapture(str(self.path))
            if not self._cap.isOpened():
                self._cap.release()
                raise ValueError(f"cannot open video {self.path}: truncated, corrupt, or a codec/container "
                                 "OpenCV cannot decode")
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and math.isfinite(fps) and 0 < fps < 1000 else 30.0
        count = self._cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.frame_count: int | None = (int(count) if not self.is_camera and count and math.isfinite(count)
                                        and count > 0 else None)
        self.decoded = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            ok, frame = self._cap.read()
            if not ok or frame is None:
                break
            self.decoded += 1
            yield frame
        if self.is_camera:
            return
        if self.decoded == 0:
            raise ValueError(f"video {self.name} has no decodable frames (truncated, corrupt or not a video)")
        expected = self.frame_count
        if expected:
            slack = 0 if self.path.suffix.lower() in _INDEXED else max(1, round(0.02 * expected))
            if self.decoded < expected - slack:
                raise ValueError(f"video {self.name} ended after {self.decoded} of its {expected} frames: the "
                                 "file is truncated or corrupt (the decoded frames were processed)")

    def close(self) -> None:
        self._cap.release()

    def __enter__(self) -> VideoSource:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()
