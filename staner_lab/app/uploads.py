"""Uploads and webcam snapshots -> grayscale frames, and those frames -> a sequence view.

Files are decoded from bytes by content (``cv2.imdecode``; a video through a temporary file whose
suffix comes from the file's magic bytes), never by file name, with size, frame-count and
resolution limits; a problem is an :class:`InputError` whose message says which file and what to do.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from staner_lab.config import InputConfig, PreprocessConfig
from staner_lab.data.faces import FaceNotFoundError
from staner_lab.data.readers import natural_key
from staner_lab.explain.inspection import SequenceView, inspect_frames

__all__ = [
    "MAX_FRAMES",
    "MAX_SIDE",
    "MAX_UPLOAD_MB",
    "MAX_VIDEO_FRAMES",
    "InputError",
    "decode_image",
    "decode_upload",
    "decode_video",
    "frames_from_uploads",
    "frames_view",
    "no_face_message",
    "sniff_kind",
]

#: Upload limit per file and in total, in MiB; ``.streamlit/config.toml`` sets the same
#: ``server.maxUploadSize`` so the browser refuses bigger files before they are sent.
MAX_UPLOAD_MB = 50

#: Longest side of a decoded frame; bigger frames are downscaled (dlib and the display need no more).
MAX_SIDE = 480

#: Frames kept from a video or a set of images (uniformly subsampled above this; T is 8 or 16).
MAX_FRAMES = 90

#: Frames read from a video before giving up ("trim the video to the expression").
MAX_VIDEO_FRAMES = 3000


class InputError(ValueError):
    """An upload or a webcam snapshot cannot be used; the message says which file and what to do."""


_IMAGE_MAGIC: tuple[tuple[bytes, int], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0), (b"\xff\xd8\xff", 0), (b"BM", 0), (b"II*\x00", 0), (b"MM\x00*", 0),
    (b"P5", 0), (b"P6", 0), (b"P2", 0), (b"P3", 0),
)


def sniff_kind(data: bytes) -> tuple[Literal["image", "video"], str] | None:
    """Guess what ``data`` holds from its first bytes (never from a file name).

    Returns:
        ("image", ".png"/".jpg"/...) or ("video", ".mp4"/".avi"/".mkv"), or None when neither.
    """
    head = bytes(data[:64])
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image", ".webp"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video", ".avi"
    if head[4:8] == b"ftyp":  # ISO base media: mp4, mov, m4v, 3gp
        return "video", ".mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # Matroska / WebM
        return "video", ".mkv"
    for magic, offset in _IMAGE_MAGIC:
        if head[offset:offset + len(magic)] == magic:
            ext = {b"\x89P": ".png", b"\xff\xd8": ".jpg", b"BM": ".bmp", b"II": ".tif", b"MM": ".tif"}
            return "image", ext.get(magic[:2], ".pgm")
    return None


def _fit_side(frame: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    h, w = frame.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return frame
    return cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _limit(max_mb: float | None) -> float:
    return MAX_UPLOAD_MB if max_mb is None else max_mb


def _check_size(data: bytes, name: str, max_mb: float | None) -> None:
    max_mb = _limit(max_mb)
    if len(data) == 0:
        raise InputError(f"{name}: the file is empty")
    if len(data) > max_mb * 2**20:
        raise InputError(f"{name}: {len(data) / 2**20:.1f} MB is over the {max_mb:g} MB upload limit; "
                         "trim or compress it (a few seconds of video around the expression are enough)")


def decode_image(data: bytes, name: str = "image", max_mb: float | None = None) -> np.ndarray:
    """Decode image bytes (PNG, JPEG, BMP, TIFF, WebP, PGM) to a grayscale (H, W) uint8 frame.

    The long side is reduced to ``MAX_SIDE`` pixels. ``name`` is used in messages only; ``max_mb``
    defaults to ``MAX_UPLOAD_MB``.

    Raises:
        InputError: empty, too big, or not a decodable image.
    """
    _check_size(data, name, max_mb)
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if img is None or img.size == 0:
        raise InputError(f"{name}: not an image OpenCV can decode (PNG, JPEG, BMP, TIFF, WebP); "
                         "is it a different kind of file, or corrupt?")
    return np.ascontiguousarray(_fit_side(img))


def decode_video(data: bytes, name: str = "video", max_mb: float | None = None,
                 max_frames: int = MAX_FRAMES) -> np.ndarray:
    """Decode video bytes to grayscale frames (N, H, W) uint8, at most ``max_frames`` of them.

    The bytes go to a private temporary file whose suffix comes from :func:`sniff_kind` (the
    upload's own name is never used on disk). Longer videos are subsampled uniformly; the long
    side of each frame is reduced to ``MAX_SIDE``.

    Raises:
        InputError: empty, too big, not a video, no decodable frame, or over ``MAX_VIDEO_FRAMES``.
    """
    _check_size(data, name, max_mb)
    kind = sniff_kind(data)
    if kind is None or kind[0] != "video":
        raise InputError(f"{name}: not a video (MP4, MOV, AVI, MKV/WebM) by its content")
    fd, tmp = tempfile.mkstemp(prefix="staner-upload-", suffix=kind[1])
    frames: list[np.ndarray] = []
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        cap = cv2.VideoCapture(tmp)
        try:
            if not cap.isOpened():
                raise InputError(f"{name}: OpenCV cannot open this video (corrupt, or a codec it lacks); "
                                 "convert it to H.264 MP4 or upload the frames as images")
            hint = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            stride = max(1, math.ceil(hint / max_frames)) if hint > 0 else 1
            read = 0
            while True:
                ok, frame = cap.read()
                if not ok or frame is None:
                    break
                if read >= MAX_VIDEO_FRAMES:
                    raise InputError(f"{name}: longer than {MAX_VIDEO_FRAMES} frames; trim it to the "
                                     "expression (neutral face to peak)")
                if read % stride == 0:
                    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
                    gray = _fit_side(gray)
                    if frames and gray.shape != frames[0].shape:
                        raise InputError(f"{name}: frame {read} changes the frame size")
                    frames.append(gray)
                read += 1
        finally:
            cap.release()
    finally:
        Path(tmp).unlink(missing_ok=True)
    if not frames:
        raise InputError(f"{name}: the video has no decodable frame (empty, or a codec OpenCV lacks)")
    arr = np.stack(frames)
    if len(arr) > max_frames:
        arr = arr[np.linspace(0, len(arr) - 1, max_frames).round().astype(int)]
    return arr


def decode_upload(data: bytes, name: str = "upload", max_mb: float | None = None) -> np.ndarray:
    """One uploaded file, image or video by content, as frames (N, H, W) uint8."""
    _check_size(data, name, max_mb)
    kind = sniff_kind(data)
    if kind is None:
        raise InputError(f"{name}: neither an image (PNG, JPEG, BMP, TIFF, WebP) nor a video "
                         "(MP4, MOV, AVI, MKV) by its content; upload frames or a video of one face")
    if kind[0] == "video":
        return decode_video(data, name, max_mb)
    return decode_image(data, name, max_mb)[None]


def frames_from_uploads(files: Sequence[tuple[str, bytes]], max_mb: float | None = None,
                        sort: bool = True) -> tuple[np.ndarray, list[str]]:
    """Uploaded files (or webcam snapshots) -> one grayscale sequence (N, H, W) uint8 and names.

    Either one video, or one or more images (ordered by natural sort of their names when ``sort``,
    else in the given order, e.g. snapshot order). Images must share one size.

    Raises:
        InputError: no file, over the total size limit, a file that does not decode, a video
            among several files, or images of different sizes.
    """
    if not files:
        raise InputError("no file: upload a video, or the frames of one sequence as images")
    max_mb = _limit(max_mb)
    total = sum(len(b) for _, b in files)
    if total > max_mb * 2**20:
        raise InputError(f"{len(files)} files, {total / 2**20:.1f} MB in all, are over the {max_mb:g} MB "
                         "upload limit; send fewer or smaller frames")
    items = sorted(files, key=lambda f: natural_key(f[0])) if sort else list(files)
    decoded = [(name, decode_upload(data, name, max_mb)) for name, data in items]
    if len(decoded) > 1 and any(len(f) > 1 for _, f in decoded):
        raise InputError("upload either one video or a set of images, not a video together with other files")
    if len(decoded) == 1 and len(decoded[0][1]) > 1:
        name, frames = decoded[0]
        return frames, [f"{name}[frame {i + 1}]" for i in range(len(frames))]  # counted from 1, as on the page
    first_name, first = decoded[0]
    for name, f in decoded[1:]:
        if f.shape[1:] != first.shape[1:]:
            raise InputError(f"{name} is {f.shape[2]}x{f.shape[1]} pixels but {first_name} is "
                             f"{first.shape[2]}x{first.shape[1]}; all frames of a sequence must have one size")
    names = [n for n, _ in decoded]
    frames = np.concatenate([f for _, f in decoded])
    if len(frames) > MAX_FRAMES:
        keep = np.linspace(0, len(frames) - 1, MAX_FRAMES).round().astype(int)
        frames, names = frames[keep], [names[i] for i in keep]
    return frames, names


def frames_view(frames: np.ndarray, names: Sequence[str], inputs: InputConfig, prep: PreprocessConfig,
                source: str) -> SequenceView:
    """A view of uploaded frames with dlib landmarks (or the whole frame as the face box)."""
    if prep.landmarks == "given":
        raise InputError("uploads have no landmark files; use landmarks='dlib'")
    try:
        return inspect_frames(frames, names, inputs, prep, sequence_id=source, source=source)
    except FaceNotFoundError as exc:
        raise InputError(no_face_message(exc, names)) from exc


def no_face_message(exc: FaceNotFoundError, names: Sequence[str]) -> str:
    """The page's wording of a missing face: frames counted from 1 and the sidebar checkbox to tick
    (the library's message names ``whole_frame_face`` and a CLI flag)."""
    k = exc.frame_index
    name = names[k] if 0 <= k < len(names) else exc.name
    file = name.split("[frame")[0] if name else None  # a video's frames are named "clip.mp4[frame 3]"
    where = f"frame {k + 1} of {len(names)}" + (f" ({file})" if file else "")
    return (f"no face found in {where}: dlib's detector finds frontal faces that are not too small. If the "
            "frames are already cropped to the face, tick 'Frames are already cropped to the face' in the "
            "sidebar, so the whole frame is taken as the face box.")

