"""Frames recorded in the Live view, saved as one sequence folder of the class-folders layout::

    <runs root>/recordings/<true class>/<student>_<YYYYmmdd-HHMMSS>/0001.png ...

``staner-lab predict`` reads such a folder, and ``recordings/`` is a data set root for the class-folders
reader (``staner_lab.data.readers.folders``: the subject is the student name, the first ``_`` token).
Lossless PNG, so the saved frames are exactly the frames the recogniser saw. The folder appears whole
or not at all: the frames are written to a hidden temporary folder that is renamed at the end.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from staner_lab.app.paths import runs_root

__all__ = ["RecordingError", "load_recordings", "recordings_root", "save_recording", "student_id"]

#: At most this many frames per recording (about 20 s at 15 fps): a recording is held in memory first.
MAX_FRAMES = 300


class RecordingError(ValueError):
    """A recording cannot be saved; the message says why and what to do."""


def recordings_root() -> Path:
    """``recordings/`` inside the folder where the app writes (``$STANER_APP_RUNS`` or ``runs/``)."""
    return runs_root() / "recordings"


def student_id(text: str) -> str:
    """A student name as a subject id: letters, digits and ``-`` only (``_`` separates the subject)."""
    cleaned = re.sub(r"[^A-Za-z0-9-]+", "-", text.strip()).strip("-")[:32]
    return cleaned or "student"


def save_recording(frames: Sequence[np.ndarray], label: str, class_names: Sequence[str], student: str = "student",
                   root: Path | None = None) -> Path:
    """Write ``frames`` ((H, W, 3) BGR or (H, W) uint8) as ``root/<label>/<student>_<time>/NNNN.png``.

    Raises:
        RecordingError: no frames, or ``label`` is not one of ``class_names``.
    """
    if not frames:
        raise RecordingError("nothing was recorded: start the camera with 'Record' on, then stop recording")
    if label not in class_names:
        raise RecordingError(f"true class {label!r} is not one of the model's classes: {', '.join(class_names)}")
    root = recordings_root() if root is None else Path(root)
    class_dir = root / label
    class_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = class_dir / f"{student_id(student)}_{stamp}"
    n = 1
    while target.exists():
        n += 1
        target = class_dir / f"{student_id(student)}_{stamp}-{n}"
    tmp = Path(tempfile.mkdtemp(prefix=".recording-", dir=class_dir))
    try:
        for k, frame in enumerate(frames, 1):
            if not cv2.imwrite(str(tmp / f"{k:04d}.png"), frame):
                raise RecordingError(f"could not write frame {k} to {tmp}")
        tmp.chmod(0o755)  # mkdtemp makes it private
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def load_recordings(inputs, root: Path | None = None, cache_dir: Path | None = None):
    """The class's recordings as training data: (samples, class names), classes = the recorded ones.

    Faces and landmarks come from dlib, as for any folder of frames; a recording in which no face is
    found is skipped. Raises a RecordingError that says what is missing when the recordings cannot
    train a model: at least two classes (a classifier needs a choice) and two students (one is held
    out to test on, subject-independent).
    """
    from staner_lab.config import PreprocessConfig
    from staner_lab.data.dataset import load_samples

    root = recordings_root() if root is None else Path(root)
    if not root.is_dir() or not any(p.is_dir() for p in root.iterdir()):
        raise RecordingError(f"no recordings yet in {root}: record sequences in the Live tab first "
                             "(at least two classes, from at least two students)")
    samples, class_names, _ = load_samples(root, inputs, PreprocessConfig(landmarks="dlib"), layout="folders",
                                           cache_dir=cache_dir, on_error="skip", progress=False)
    classes = sorted({class_names[s.label] for s in samples})
    students = sorted({s.subject for s in samples})
    if len(classes) < 2 or len(students) < 2:
        raise RecordingError(f"the recordings in {root} hold {len(samples)} usable sequences of "
                             f"{len(classes)} class(es) ({', '.join(classes) or 'none'}) from {len(students)} "
                             "student(s); training needs at least two classes and two students")
    return samples, class_names
