"""CK+ reader (``read_ckplus``), for the original distribution::

    root/cohn-kanade-images/S005/001/S005_001_00000001.png
    root/Emotion/S005/001/S005_001_00000011_emotion.txt      # "   3.0000000e+00" -> code 3 = disgust
    root/Landmarks/S005/001/S005_001_00000001_landmarks.txt  # optional, 68 "x y" lines per frame

Only sequences with a label file are records; the others are counted in ``report.unlabelled``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from staner_lab.config import CK_PLUS_CLASSES
from staner_lab.data.readers.common import DataError, OnError, Reader, ReadReport, is_image
from staner_lab.data.records import SequenceRecord

__all__ = ["CKPLUS_MARKERS", "read_ckplus"]

#: Top-level folders that identify a CK+ dataset (either one is enough for detection).
CKPLUS_MARKERS = ("cohn-kanade-images", "Emotion")

# CK+ names: S005_001_00000001.png, S005_001_00000011_emotion.txt, S005_001_00000001_landmarks.txt
_CK_FRAME = re.compile(r"^(?P<subject>[^_]+)_(?P<seq>[^_]+)_(?P<frame>\d+)$")
_CK_LANDMARKS = re.compile(r"^(?P<subject>[^_]+)_(?P<seq>[^_]+)_(?P<frame>\d+)_landmarks$")
_CK_LABEL_SUFFIX = "_emotion.txt"


class _Skipped(Exception):
    """The item was reported (``on_error="skip"``); leave it out."""


def _ck_label(r: Reader, folder: Path) -> int | None:
    """The 0-based class of a CK+ sequence from its Emotion folder; None when unlabelled.

    Raises:
        _Skipped: the label folder or file is bad (already reported).
    """
    if not folder.is_dir():
        return None
    if not r.inside(folder):
        raise _Skipped
    files = [p for p in r.children(folder)[0] if p.name.endswith(_CK_LABEL_SUFFIX) and p.is_file()]
    if not files:
        return None
    if len(files) > 1:
        r.problem(
            folder,
            f"holds {len(files)} label files ({', '.join(p.name for p in files)}); a sequence has one label",
            "delete the wrong one(s)",
        )
        raise _Skipped
    path = files[0]
    text = path.read_text(errors="replace").strip()
    codes = ", ".join(f"{i + 1} = {c}" for i, c in enumerate(CK_PLUS_CLASSES))
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None:
        r.problem(
            path,
            f"malformed CK+ label file: expected one number such as '3.0000000e+00', got {text[:40]!r}",
            "restore the file from Emotion_labels.zip, or delete it to leave the sequence unlabelled",
        )
        raise _Skipped
    if not value.is_integer() or not 1 <= value <= len(CK_PLUS_CLASSES):
        r.problem(
            path,
            f"unknown CK+ emotion code {value:g}; codes are {codes}",
            "restore the file from Emotion_labels.zip, or delete it to leave the sequence unlabelled",
        )
        raise _Skipped
    return int(value) - 1


def _ck_frames(r: Reader, folder: Path, subject: str, seq: str) -> dict[int, Path] | None:
    """Frame number -> image path for one CK+ sequence folder; None when it has to be skipped."""
    entries, clean = r.children(folder)
    frames: dict[int, Path] = {}
    for path in entries:
        if not (path.is_file() and is_image(path)):
            continue
        m = _CK_FRAME.match(path.stem)
        if m is None:
            r.problem(
                path,
                "frame name is not <subject>_<sequence>_<frame>, e.g. S005_001_00000001.png",
                "rename it or move it out of the sequence folder",
            )
            return None
        if (m["subject"], m["seq"]) != (subject, seq):
            r.problem(
                path,
                f"frame of {m['subject']}/{m['seq']} lies in the folder of {subject}/{seq}",
                "move it to its own sequence folder",
            )
            return None
        number = int(m["frame"])
        if number in frames:
            r.problem(
                path, f"frame number {number} is also used by {frames[number].name}", "remove the duplicate"
            )
            return None
        frames[number] = path
    if not clean:
        r.problem(folder, "sequence skipped because one of its files was refused (see above)")
        return None
    return frames


def _ck_landmarks(r: Reader, folder: Path, frames: dict[int, Path], sid: str) -> tuple[Path, ...]:
    """Landmark files in frame order when every frame has one, else ()."""
    if not folder.is_dir() or not r.inside(folder):
        return ()
    by_frame = {}
    for path in r.children(folder)[0]:
        m = _CK_LANDMARKS.match(path.stem)
        if m is not None and path.suffix == ".txt":
            by_frame[int(m["frame"])] = path
    if not by_frame:
        return ()
    missing = [n for n in frames if n not in by_frame]
    if missing:
        r.report.notes.append(
            f"{sid}: {len(missing)} of {len(frames)} frames have no landmark file; "
            "landmarks will be detected for this sequence"
        )
        return ()
    return tuple(by_frame[n] for n in sorted(frames))


def read_ckplus(
    root: str | os.PathLike[str], on_error: OnError = "skip"
) -> tuple[list[SequenceRecord], ReadReport]:
    """Read the original CK+ layout (see this module's docstring).

    Args:
        root: the folder holding ``cohn-kanade-images/`` and ``Emotion/``.
        on_error: "fail" raises at the first bad item; "skip" reports it and goes on.

    Returns:
        (records, report); records in subject then sequence order, frames sorted by frame number,
        ``subject`` = the subject folder (e.g. "S005"), ``sequence_id`` = "S005/001",
        ``label`` indexes ``CK_PLUS_CLASSES`` (code 1 -> 0 = anger).

    Raises:
        DataError: missing folders, no labelled sequence, fewer than 2 classes, or (with "fail")
            a malformed/unknown/duplicate label file, a misnamed frame, a symlink out of the root.
    """
    r = Reader(root, "ckplus", on_error)
    r.report.class_names = CK_PLUS_CLASSES
    images, emotion, landmarks = (r.root / n for n in ("cohn-kanade-images", "Emotion", "Landmarks"))
    if not images.is_dir():
        raise DataError(
            f"{r.root}: no cohn-kanade-images/ folder; expected root/cohn-kanade-images/S005/001/"
            "S005_001_00000001.png: unzip extended-cohn-kanade-images.zip into the dataset folder"
        )
    if not emotion.is_dir():
        raise DataError(
            f"{r.root}: no Emotion/ folder; CK+ ships its labels separately (Emotion_labels.zip): "
            "unzip it so that root/Emotion/S005/001/S005_001_00000011_emotion.txt exists"
        )
    for folder in (images, emotion, landmarks):
        r.require_inside(folder)
    records: list[SequenceRecord] = []
    seen: set[str] = set()
    for subject_dir in r.subdirs(images):
        for seq_dir in r.subdirs(subject_dir):
            subject, seq = subject_dir.name, seq_dir.name
            sid = f"{subject}/{seq}"
            seen.add(sid)
            try:
                label = _ck_label(r, emotion / subject / seq)
            except _Skipped:
                continue
            if label is None:
                r.report.unlabelled.append(sid)
                continue
            frames = _ck_frames(r, seq_dir, subject, seq)
            if frames is None:
                continue
            if not frames:
                r.problem(
                    seq_dir, "labelled sequence has no frames", "restore its images or delete its label"
                )
                continue
            records.append(
                SequenceRecord(
                    sequence_id=sid,
                    subject=subject,
                    label=label,
                    label_name=CK_PLUS_CLASSES[label],
                    frame_paths=tuple(frames[n] for n in sorted(frames)),
                    landmark_paths=_ck_landmarks(r, landmarks / subject / seq, frames, sid),
                )
            )
    for subject_dir in r.subdirs(emotion):  # labels whose images are missing
        for seq_dir in r.subdirs(subject_dir):
            sid = f"{subject_dir.name}/{seq_dir.name}"
            if sid not in seen and any(p.name.endswith(_CK_LABEL_SUFFIX) for p in seq_dir.iterdir()):
                r.problem(
                    seq_dir,
                    f"label for sequence {sid}, which has no images in cohn-kanade-images/",
                    "restore the images or delete the label folder",
                )
    return r.finish(records), r.report
