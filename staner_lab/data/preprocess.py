"""One function from a :class:`SequenceRecord` on disk to a model-ready :class:`Sample`.

Algorithm 1, steps 1-5 of the paper, in order:

1. :func:`load_frames`: read the image files (or decode the video) as grayscale uint8 frames.
2. landmarks for every frame (:mod:`staner_lab.data.faces`; backend chosen by :func:`backend_for`).
3. peak frame (:func:`~staner_lab.data.align.choose_peak`), aligned to the face size (I_p).
4. one stable box per region over the whole sequence
   (:func:`~staner_lab.data.regions.sequence_region_boxes`).
5. T frames sampled from the first frame to the peak, cropped to the region sizes (I_e, I_n, I_m).

Horizontal-flip augmentation of a finished sample is :func:`flip_sample`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np

from staner_lab.config import InputConfig, PreprocessConfig
from staner_lab.data.align import align_face, choose_peak, sample_indices
from staner_lab.data.dlib_landmarks import DlibBackend
from staner_lab.data.faces import LandmarkBackend
from staner_lab.data.given_landmarks import GivenLandmarksBackend
from staner_lab.data.records import Sample, SequenceRecord
from staner_lab.data.regions import crop_regions, flip_sample_arrays, sequence_region_boxes
from staner_lab.data.stabilise import stabilise_frames

__all__ = [
    "ProcessedSequence",
    "backend_for",
    "dlib_backend",
    "flip_sample",
    "load_frames",
    "preprocess_sequence",
    "process_frames",
    "read_gray_image",
    "read_video",
]


def read_gray_image(path: str | Path) -> np.ndarray:
    """Read one image file as grayscale (colour is converted).

    Args:
        path: image file (any format OpenCV decodes: PNG, JPEG, BMP, TIFF ...).

    Returns:
        (H, W) uint8.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is empty or cannot be decoded; the message names it.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"image file not found: {p}")
    data = np.fromfile(p, dtype=np.uint8)  # also works for non-ASCII paths
    if data.size == 0:
        raise ValueError(f"image file is empty: {p}")
    img = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    if img is None or img.size == 0:
        raise ValueError(f"cannot decode image file {p}: unreadable or corrupt (not a valid image)")
    return img


def read_video(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """Decode every frame of a video with ``cv2.VideoCapture``, as grayscale.

    Args:
        path: video file.

    Returns:
        frames (N, H, W) uint8 and names ``"<path>[frame i]"``.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the video cannot be opened, has no decodable frame, or changes frame size.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"video file not found: {p}")
    cap = cv2.VideoCapture(str(p))
    try:
        if not cap.isOpened():
            raise ValueError(
                f"cannot open video {p}: empty, corrupt, or a codec/container OpenCV cannot decode"
            )
        frames: list[np.ndarray] = []
        while True:
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            if frame.ndim == 3:
                frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            if frames and frame.shape != frames[0].shape:
                raise ValueError(
                    f"video {p}: frame {len(frames)} is {frame.shape[1]}x{frame.shape[0]} but frame 0 "
                    f"is {frames[0].shape[1]}x{frames[0].shape[0]}"
                )
            frames.append(frame)
    finally:
        cap.release()
    if not frames:
        raise ValueError(f"video {p} has no decodable frames (zero-length or undecodable)")
    names = [f"{p}[frame {i}]" for i in range(len(frames))]
    return np.stack(frames), names


def load_frames(record: SequenceRecord) -> tuple[np.ndarray, list[str]]:
    """Read a record's frames as grayscale.

    Image files (``record.frame_paths``) are read in order; otherwise ``record.video_path`` is
    decoded. All frames of a sequence must share one size.

    Args:
        record: the sequence.

    Returns:
        frames (N, H, W) uint8 and one name per frame (file path, or ``"<video>[frame i]"``).

    Raises:
        FileNotFoundError: a file is missing.
        ValueError: no frames, an unreadable/corrupt image or video, or mixed image sizes; the
            message names the file.
    """
    if record.frame_paths:
        frames: list[np.ndarray] = []
        names: list[str] = []
        for i, path in enumerate(record.frame_paths):
            img = read_gray_image(path)
            if frames and img.shape != frames[0].shape:
                (h0, w0), (h, w) = frames[0].shape, img.shape
                raise ValueError(
                    f"sequence {record.sequence_id}: frame {i} ({path}) is {w}x{h} pixels but frame 0 "
                    f"({names[0]}) is {w0}x{h0}; all frames of a sequence must have the same size, "
                    "resize them to one size first"
                )
            frames.append(img)
            names.append(str(path))
        return np.stack(frames), names
    if record.video_path is not None:
        return read_video(record.video_path)
    raise ValueError(
        f"sequence {record.sequence_id} has no frames: neither frame_paths nor video_path is set"
    )


def backend_for(record: SequenceRecord, prep: PreprocessConfig) -> LandmarkBackend:
    """The landmark backend that ``prep.landmarks`` asks for.

    "auto" uses the record's landmark files when it has them, else dlib; "given" requires them.

    Args:
        record: the sequence (its ``landmark_paths`` decide "auto").
        prep: preprocessing options.

    Returns:
        A :class:`GivenLandmarksBackend` or a :class:`DlibBackend`.
    """
    mode = prep.landmarks
    if mode not in ("dlib", "given", "auto"):
        raise ValueError(f"unknown landmarks source {mode!r}; choose 'dlib', 'given' or 'auto'")
    if mode == "given" or (mode == "auto" and record.landmark_paths):
        if not record.landmark_paths:
            raise ValueError(
                f"sequence {record.sequence_id}: landmarks='given' but the record has no landmark "
                "files; use landmarks='dlib' or 'auto'"
            )
        return GivenLandmarksBackend(record.landmark_paths)
    return dlib_backend(prep)


def dlib_backend(prep: PreprocessConfig) -> DlibBackend:
    """A :class:`DlibBackend` with ``prep``'s tracking and whole-frame options."""
    return DlibBackend(
        track=prep.track,
        redetect_every=prep.redetect_every,
        whole_frame_face=prep.whole_frame_face,
        upscale_below=prep.upscale_below,
        whole_frame_fallback=prep.whole_frame_fallback,
    )


def preprocess_sequence(
    record: SequenceRecord,
    inputs: InputConfig,
    prep: PreprocessConfig,
    backend: LandmarkBackend | None = None,
) -> Sample:
    """Algorithm 1, steps 1-5: a record on disk -> a model-ready Sample (deterministic).

    Landmarks are found on every frame; the peak frame (``prep.peak``) is aligned to
    ``inputs.face_size``; one box per region is fitted over the whole sequence; ``inputs.frames``
    indices are sampled uniformly from the first frame to the peak (both kept, so with "last" the
    whole sequence is used) and cropped to ``inputs.region_sizes``.

    Args:
        record: the sequence on disk.
        inputs: model input sizes (face_size S, frames T, region_sizes {region: (h, w)}).
        prep: preprocessing options.
        backend: landmark backend; None picks one with :func:`backend_for`.

    Returns:
        Sample with peak (S, S), regions {region: (T, h, w)} float32 in [0, 1] and landmarks
        (T, 68, 2) float32 of the sampled frames in source-frame pixels.
    """
    frames, names = load_frames(record)
    if backend is None:
        backend = backend_for(record, prep)
    return process_frames(frames, names, inputs, prep, backend, label=record.label, subject=record.subject,
                          sequence_id=record.sequence_id).sample


@dataclasses.dataclass(frozen=True)
class ProcessedSequence:
    """Steps 2-5 of Algorithm 1 with what they found on the way (for views and notebooks).

    Attributes:
        frames: (N, H, W) uint8 frames the regions were cut from: the input frames, each warped onto
            the peak frame's head position when ``inputs.stabilise`` (the peak frame unchanged).
        landmarks: (N, 68, 2) landmarks of every frame, in the pixels of ``frames``.
        peak: index of the peak frame.
        boxes: one box per region for the whole sequence.
        indices: (T,) frames sampled for the region sequences.
        sample: the model-ready Sample.
    """

    frames: np.ndarray
    landmarks: np.ndarray
    peak: int
    boxes: dict
    indices: np.ndarray
    sample: Sample


def process_frames(
    frames: np.ndarray,
    names: list[str],
    inputs: InputConfig,
    prep: PreprocessConfig,
    backend: LandmarkBackend,
    *,
    label: int = -1,
    subject: str = "?",
    sequence_id: str = "frames",
) -> ProcessedSequence:
    """Algorithm 1, steps 2-5, on (N, H, W) uint8 grayscale frames already in memory."""
    track = backend.detect(frames, names=names)
    landmarks = np.asarray(track.landmarks, dtype=np.float32)
    if landmarks.shape != (len(frames), 68, 2):
        raise ValueError(
            f"sequence {sequence_id}: backend returned landmarks {landmarks.shape} for {len(frames)} frames"
        )
    peak = choose_peak(landmarks, prep.peak)
    face = align_face(frames[peak], landmarks[peak], inputs.face_size)
    if inputs.stabilise:  # the peak frame is the reference: the face and its landmarks stay as they were
        frames, landmarks = stabilise_frames(frames, landmarks, peak)
    boxes = sequence_region_boxes(
        landmarks, inputs.region_sizes, prep.region_margin, image_shape=frames.shape[1:]
    )
    idx = sample_indices(peak + 1, inputs.frames, inputs.short_sequences)
    regions = crop_regions(frames[idx], boxes, inputs.region_sizes)
    sample = Sample(
        peak=face,
        regions=regions,
        landmarks=np.ascontiguousarray(landmarks[idx]),
        label=label,
        subject=subject,
        sequence_id=sequence_id,
    )
    return ProcessedSequence(frames=frames, landmarks=landmarks, peak=peak, boxes=boxes, indices=idx, sample=sample)


def flip_sample(sample: Sample, width: int | None = None) -> Sample:
    """Horizontally flipped copy of a sample (the paper's flip augmentation).

    The peak face and every region crop are flipped left-right (each crop is symmetric about its
    own centre, so a plain flip is right). Landmarks are mirrored and re-indexed with
    ``FLIP_PERMUTATION``: about x = (width - 1) / 2 when the source frame ``width`` is given, else
    about the mean x of the sample's landmarks (a Sample does not record its source width).
    Flipping twice gives the original back.

    Args:
        sample: the sample.
        width: source frame width in pixels, if known.

    Returns:
        A new Sample.
    """
    axis = None if width is None else (width - 1) / 2
    peak, regions, landmarks = flip_sample_arrays(sample.peak, sample.regions, sample.landmarks, axis)
    return dataclasses.replace(sample, peak=peak, regions=regions, landmarks=landmarks)
