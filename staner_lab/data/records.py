"""The records that flow through the data pipeline (see DESIGN.md "Data flow").

A reader turns a dataset folder into :class:`SequenceRecord` objects (paths and labels, no pixels).
Preprocessing turns one record into a :class:`Sample` (peak face, region sequences, landmarks),
which is what the cache stores and the Dataset batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Sample", "SequenceRecord"]


@dataclass(frozen=True)
class SequenceRecord:
    """One labelled image sequence on disk.

    Attributes:
        sequence_id: unique within a dataset, e.g. "S005/001".
        subject: subject id, used for subject-independent folds, e.g. "S005".
        label: class index into the dataset's class names.
        label_name: the class name.
        frame_paths: image files in temporal order (empty for a video).
        video_path: a video file, when the sequence is a video.
        landmark_paths: one 68-point landmark file per frame when the dataset ships them
            (CK+ ``Landmarks/`` layout), else empty.
    """

    sequence_id: str
    subject: str
    label: int
    label_name: str
    frame_paths: tuple[Path, ...] = ()
    video_path: Path | None = None
    landmark_paths: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Sample:
    """Model-ready arrays for one sequence (all grayscale float32 in [0, 1]).

    Attributes:
        peak: (S, S) aligned peak face I_p.
        regions: {"eyes"|"nose"|"mouth": (T, h, w)} region sequences I_e, I_n, I_m.
        landmarks: (T, 68, 2) landmarks (x, y) of the sampled frames, in source-frame pixels.
        label, subject, sequence_id: copied from the record.
    """

    peak: np.ndarray
    regions: dict[str, np.ndarray]
    landmarks: np.ndarray
    label: int
    subject: str
    sequence_id: str
