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

__all__ = ["RecordingError", "recordings_root", "save_recording", "student_id"]

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
