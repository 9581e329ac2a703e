"""Dataset readers: a dataset folder -> :class:`SequenceRecord` objects (paths, labels, subjects).

Readers look at names only; they never decode pixels (preprocessing does, see ``preprocess.py``).
Three layouts are understood:

- **CK+** (``read_ckplus``), the original distribution::

      root/cohn-kanade-images/S005/001/S005_001_00000001.png
      root/Emotion/S005/001/S005_001_00000011_emotion.txt      # "   3.0000000e+00" -> code 3 = disgust
      root/Landmarks/S005/001/S005_001_00000001_landmarks.txt  # optional, 68 "x y" lines per frame

  Only sequences with a label file are records; the others are counted in ``report.unlabelled``.

- **Oulu-CASIA** (``read_oulu``)::

      root/<VL|NI>/<Strong|Weak|Dark>/P001/<Anger|Disgust|Fear|Happiness|Sadness|Surprise>/000.jpeg

- **Class folders** (``read_folders``), one folder per class, class names = sorted folder names::

      root/happy/S010_002/0001.png          # a sequence in its own sub-folder
      root/happy/S010_002_00000014.png      # or frames sharing the prefix <subject>_<sequence>_<frame>
      root/happy/P03_take1.mp4              # or a video file (.mp4, .avi, .mov, .mkv)

  Subject ids are recovered from names (needed for subject-independent folds): the subject is the
  first ``_``-separated token of the sub-folder's name, of the loose frames' shared prefix, or of
  the video's stem (the whole stem when it has no ``_``). Loose frames are grouped into sequences by
  dropping their last ``_<digits>`` token (the frame number); a file whose stem does not end in
  ``_<digits>`` is a one-frame sequence of its own.

Every reader takes ``on_error``: ``"fail"`` raises :class:`DataError` at the first bad item, naming
the file and the fix; ``"skip"`` leaves the item out and lists it in the :class:`ReadReport`. A
label is never guessed. Paths are resolved, and symlinks that lead outside the dataset root are
refused (a dataset folder should not read files from elsewhere on the machine).

>>> records, class_names, report = read_dataset("~/datasets/CK+")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..config import CK_PLUS_CLASSES, OULU_CASIA_CLASSES
from .records import SequenceRecord

__all__ = [
    "IMAGE_EXTENSIONS",
    "LAYOUTS",
    "VIDEO_EXTENSIONS",
    "DataError",
    "OnError",
    "ReadReport",
    "SkippedItem",
    "detect_layout",
    "natural_key",
    "oulu_subsets",
    "read_ckplus",
    "read_dataset",
    "read_folders",
    "read_oulu",
]

OnError = Literal["skip", "fail"]
LAYOUTS: tuple[str, ...] = ("ckplus", "oulu", "folders")
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".ppm", ".webp"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv"})

_EXPECTED = (
    "expected cohn-kanade-images/ and Emotion/ (CK+), VL/ or NI/ (Oulu-CASIA), "
    "or class folders (root/<class>/<sequence>/<frames>, root/<class>/<subject>_<seq>_<frame>.png "
    "or root/<class>/<video>.mp4)"
)

# CK+ names: S005_001_00000001.png, S005_001_00000011_emotion.txt, S005_001_00000001_landmarks.txt
_CK_FRAME = re.compile(r"^(?P<subject>[^_]+)_(?P<seq>[^_]+)_(?P<frame>\d+)$")
_CK_LANDMARKS = re.compile(r"^(?P<subject>[^_]+)_(?P<seq>[^_]+)_(?P<frame>\d+)_landmarks$")
_CK_LABEL_SUFFIX = "_emotion.txt"

#: Oulu-CASIA expression folder (lower-cased) -> class name in OULU_CASIA_CLASSES.
OULU_FOLDERS: dict[str, str] = {
    "anger": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happiness": "happy",
    "happy": "happy",
    "sadness": "sadness",
    "surprise": "surprise",
}
_OULU_LIGHTS = ("VL", "NI")


class DataError(ValueError):
    """A dataset problem the user can fix; the message names the file and the fix."""


@dataclass(frozen=True)
class SkippedItem:
    """One item left out with ``on_error="skip"``.

    Attributes:
        path: the file or folder, relative to the dataset root when it lies inside it.
        reason: what is wrong and how to fix it.
        stage: "read" (names, labels) or "preprocess" (faces, landmarks, pixels).
        kind: for "preprocess", the exception's class name (e.g. a face-not-found error).
    """

    path: str
    reason: str
    stage: str = "read"
    kind: str = ""


@dataclass
class ReadReport:
    """What a reader (and later preprocessing) saw besides the records.

    Attributes:
        root: the resolved dataset root.
        layout: "ckplus", "oulu" or "folders".
        class_names: the dataset's class names; a record's label indexes into them.
        skipped: items left out, with reasons.
        unlabelled: sequence ids without a label (CK+: no Emotion file); not errors.
        notes: things worth knowing that did not drop a sequence.
    """

    root: Path
    layout: str
    class_names: tuple[str, ...] = ()
    skipped: list[SkippedItem] = field(default_factory=list)
    unlabelled: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self, max_items: int = 20) -> str:
        """Human-readable lines about skipped items, unlabelled sequences and notes."""
        lines = []
        if self.unlabelled:
            lines.append(f"unlabelled sequences (no label file, not used): {len(self.unlabelled)}")
        lines.append(f"items skipped: {len(self.skipped)}")
        for item in self.skipped[:max_items]:
            lines.append(f"  - {item.path}: {item.reason}")
        if len(self.skipped) > max_items:
            lines.append(f"  ... and {len(self.skipped) - max_items} more")
        lines.extend(f"note: {note}" for note in self.notes[:max_items])
        if len(self.notes) > max_items:
            lines.append(f"note: ... and {len(self.notes) - max_items} more")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# shared machinery
# --------------------------------------------------------------------------------------------


def _resolve_root(root: str | os.PathLike[str]) -> Path:
    path = Path(root).expanduser()
    if not path.exists():
        raise DataError(f"dataset folder {path} does not exist; check the path given as --data")
    if not path.is_dir():
        raise DataError(f"{path} is a file, not a folder; pass the dataset's top folder as --data")
    return path.resolve()


def _check_on_error(on_error: str) -> bool:
    if on_error not in ("skip", "fail"):
        raise ValueError(f"on_error must be 'skip' or 'fail', got {on_error!r}")
    return on_error == "fail"


def natural_key(name: str) -> tuple[Any, ...]:
    """Sort key that orders "frame2" before "frame10"."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name))


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def _is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


class _Reader:
    """State of one read: the resolved root, the error policy and the report being filled."""

    def __init__(self, root: str | os.PathLike[str], layout: str, on_error: str) -> None:
        self.fail = _check_on_error(on_error)
        self.root = _resolve_root(root)
        self.report = ReadReport(root=self.root, layout=layout)

    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def problem(self, path: Path, reason: str, fix: str = "") -> None:
        """Raise (``on_error="fail"``) or record (``"skip"``) a bad item."""
        text = f"{reason}; {fix}" if fix else reason
        if self.fail:
            raise DataError(f"{path}: {text}")
        item = SkippedItem(self.rel(path), text)
        if item not in self.report.skipped:  # a folder can be reached twice (CK+ images and labels)
            self.report.skipped.append(item)

    def inside(self, path: Path) -> bool:
        """Whether ``path`` (following every symlink on the way) stays in the dataset root.

        A broken link or a link leading out of the root is reported (once) and refused.
        """
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            self.problem(path, "is a broken symlink (or a symlink loop)", "fix or remove the link")
            return False
        if not target.is_relative_to(self.root):
            self.problem(
                path,
                f"is a symlink to {target}, outside the dataset root {self.root}",
                "copy the data into the dataset folder, or pass the folder that holds everything as --data",
            )
            return False
        return True

    def require_inside(self, folder: Path) -> None:
        """Like :meth:`inside` for a folder the layout cannot do without: refusal is fatal."""
        if folder.exists() and not folder.resolve().is_relative_to(self.root):
            raise DataError(
                f"{folder} is a symlink to {folder.resolve()}, outside the dataset root {self.root}; "
                "copy the data into the dataset folder, or pass the folder that holds everything as --data"
            )

    def children(self, folder: Path) -> tuple[list[Path], bool]:
        """Visible entries of ``folder`` sorted naturally, and whether none had to be refused.

        Hidden names (``.DS_Store``, ``._S005...``) are ignored. A symlink is followed only when its
        target lies inside the dataset root; broken links and links leading out are refused.
        """
        clean = True
        entries = []
        for path in sorted(folder.iterdir(), key=lambda p: natural_key(p.name)):
            if path.name.startswith("."):
                continue
            if path.is_symlink() and not self.inside(path):
                clean = False
                continue
            entries.append(path)
        return entries, clean

    def subdirs(self, folder: Path) -> list[Path]:
        return [p for p in self.children(folder)[0] if p.is_dir()]

    def finish(self, records: list[SequenceRecord]) -> list[SequenceRecord]:
        """Check that the records can train a classifier: ≥1 sequence, ≥2 classes."""
        if not records:
            detail = f" ({len(self.report.skipped)} item(s) skipped:\n{self.report.summary(5)})"
            raise DataError(
                f"no usable labelled sequences in {self.root} (layout {self.report.layout})"
                + (detail if self.report.skipped or self.report.unlabelled else "")
            )
        present = sorted({r.label_name for r in records})
        if len(present) < 2:
            raise DataError(
                f"{self.root}: need at least 2 classes to train, found sequences of {present[0]!r} only "
                f"({len(records)} sequence(s)); add sequences of other classes"
            )
        return records


# --------------------------------------------------------------------------------------------
# layout detection
# --------------------------------------------------------------------------------------------


def _holds_media(folder: Path, depth: int = 1) -> bool:
    """True when ``folder`` holds images or videos, directly or ``depth`` folders down."""
    try:
        with os.scandir(folder) as it:
            entries = [e for e in it if not e.name.startswith(".")]
    except OSError:
        return False
    for entry in entries:
        if entry.is_file() and (_is_image(Path(entry.name)) or _is_video(Path(entry.name))):
            return True
    return depth > 0 and any(_holds_media(Path(e.path), depth - 1) for e in entries if e.is_dir())


def detect_layout(root: str | os.PathLike[str]) -> str:
    """Guess a dataset folder's layout: "ckplus", "oulu" or "folders".

    Raises:
        DataError: when the folder is missing or empty, or nothing matches; the message lists
            what was found and what was expected, and suggests a sub-folder when one matches.
    """
    top = _resolve_root(root)
    entries = sorted((p for p in top.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)
    if not entries:
        raise DataError(f"dataset folder {top} is empty; {_EXPECTED}")
    names = {p.name for p in entries if p.is_dir()}
    if names & {"cohn-kanade-images", "Emotion"}:
        return "ckplus"
    if names & set(_OULU_LIGHTS):
        return "oulu"
    if any(_holds_media(p) for p in entries if p.is_dir()):
        return "folders"
    found = ", ".join(p.name + ("/" if p.is_dir() else "") for p in entries[:8])
    if len(entries) > 8:
        found += f", ... ({len(entries)} entries)"
    hint = ""
    for sub in (p for p in entries if p.is_dir()):
        inner = {q.name for q in sub.iterdir() if q.is_dir()}
        if inner & {"cohn-kanade-images", "Emotion", *_OULU_LIGHTS}:
            hint = f"; {sub.name}/ looks like a dataset: try --data {sub}"
            break
    raise DataError(f"cannot tell the layout of {top}: found {found}; {_EXPECTED}{hint}")


# --------------------------------------------------------------------------------------------
# CK+
# --------------------------------------------------------------------------------------------


class _Skipped(Exception):
    """The item was reported (``on_error="skip"``); leave it out."""


def _ck_label(r: _Reader, folder: Path) -> int | None:
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


def _ck_frames(r: _Reader, folder: Path, subject: str, seq: str) -> dict[int, Path] | None:
    """Frame number -> image path for one CK+ sequence folder; None when it has to be skipped."""
    entries, clean = r.children(folder)
    frames: dict[int, Path] = {}
    for path in entries:
        if not (path.is_file() and _is_image(path)):
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


def _ck_landmarks(r: _Reader, folder: Path, frames: dict[int, Path], sid: str) -> tuple[Path, ...]:
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
    """Read the original CK+ layout (see the module docstring).

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
    r = _Reader(root, "ckplus", on_error)
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


# --------------------------------------------------------------------------------------------
# Oulu-CASIA
# --------------------------------------------------------------------------------------------


def oulu_subsets(root: str | os.PathLike[str]) -> list[str]:
    """The Oulu-CASIA subsets present under ``root``, e.g. ["NI/Strong", "VL/Strong"]."""
    top = _resolve_root(root)
    return [
        f"{light}/{sub.name}"
        for light in _OULU_LIGHTS
        if (top / light).is_dir()
        for sub in sorted((top / light).iterdir(), key=lambda p: p.name)
        if sub.is_dir() and not sub.name.startswith(".")
    ]


def read_oulu(
    root: str | os.PathLike[str],
    subsets: Sequence[str] | str = ("VL/Strong",),
    on_error: OnError = "skip",
) -> tuple[list[SequenceRecord], ReadReport]:
    """Read the Oulu-CASIA layout ``root/<VL|NI>/<Strong|Weak|Dark>/P001/<Expression>/000.jpeg``.

    Args:
        root: the folder holding ``VL/`` and/or ``NI/``.
        subsets: which ``<light>/<illumination>`` folders to read (case-insensitive); the paper's
            protocol uses visible light, strong illumination: ("VL/Strong",).
        on_error: "fail" raises at the first bad item; "skip" reports it and goes on.

    Returns:
        (records, report); ``subject`` = the person folder ("P001", the same person across
        subsets), ``sequence_id`` = "VL/Strong/P001/Happiness", labels index ``OULU_CASIA_CLASSES``.

    Raises:
        DataError: a requested subset is missing (the message lists the available ones), nothing
            usable, fewer than 2 classes, or (with "fail") an unknown expression folder, a frame not
            named by its number, an empty sequence, a symlink out of the root.
    """
    r = _Reader(root, "oulu", on_error)
    r.report.class_names = OULU_CASIA_CLASSES
    available = oulu_subsets(r.root)
    wanted = (subsets,) if isinstance(subsets, str) else tuple(subsets)
    if not wanted:
        raise DataError(f"no Oulu-CASIA subset requested; available in {r.root}: {', '.join(available)}")
    lookup = {a.lower(): a for a in available}
    missing = [s for s in wanted if s.strip("/").lower() not in lookup]
    if missing:
        raise DataError(
            f"Oulu-CASIA subset(s) {', '.join(missing)} not found in {r.root}; available: "
            f"{', '.join(available) or 'none (expected VL/Strong, NI/Weak, ...)'}; "
            "choose with subsets=(...) or --oulu-subset"
        )
    expressions = "Anger, Disgust, Fear, Happiness, Sadness, Surprise"
    records: list[SequenceRecord] = []
    for subset in dict.fromkeys(lookup[s.strip("/").lower()] for s in wanted):
        r.require_inside(r.root / subset)
        for person in r.subdirs(r.root / subset):
            for expr_dir in r.subdirs(person):
                name = OULU_FOLDERS.get(expr_dir.name.lower())
                if name is None:
                    r.problem(
                        expr_dir,
                        f"unknown expression folder {expr_dir.name!r}; expected one of {expressions}",
                        "rename or remove the folder",
                    )
                    continue
                frames = _numbered_frames(r, expr_dir)
                if frames is None:
                    continue
                records.append(
                    SequenceRecord(
                        sequence_id=f"{subset}/{person.name}/{expr_dir.name}",
                        subject=person.name,
                        label=OULU_CASIA_CLASSES.index(name),
                        label_name=name,
                        frame_paths=frames,
                    )
                )
    return r.finish(records), r.report


def _numbered_frames(r: _Reader, folder: Path) -> tuple[Path, ...] | None:
    """Oulu frames named by their number (000.jpeg, 001.jpeg, ...) in order; None when skipped."""
    entries, clean = r.children(folder)
    frames: dict[int, Path] = {}
    for path in entries:
        if not (path.is_file() and _is_image(path)):
            continue
        if not path.stem.isdigit():
            r.problem(
                path,
                "frame name is not a number (Oulu-CASIA frames are 000.jpeg, 001.jpeg, ...)",
                "rename it or move it out of the sequence folder",
            )
            return None
        if int(path.stem) in frames:
            r.problem(
                path,
                f"frame number {int(path.stem)} is also used by {frames[int(path.stem)].name}",
                "remove the duplicate",
            )
            return None
        frames[int(path.stem)] = path
    if not clean:
        r.problem(folder, "sequence skipped because one of its files was refused (see above)")
        return None
    if not frames:
        r.problem(folder, "sequence folder holds no images", "remove the folder or restore its frames")
        return None
    return tuple(frames[n] for n in sorted(frames))


# --------------------------------------------------------------------------------------------
# class folders
# --------------------------------------------------------------------------------------------


def _subject_of(key: str) -> str:
    return key.split("_", 1)[0] or key


def _split_frame_number(stem: str) -> tuple[str, int | None]:
    """(key, frame number): "S010_002_00000014" -> ("S010_002", 14); "face" -> ("face", None)."""
    head, sep, tail = stem.rpartition("_")
    if sep and head and tail.isdigit():
        return head, int(tail)
    return stem, None


def _class_sequences(r: _Reader, class_dir: Path) -> list[tuple[str, tuple[Path, ...], Path | None]]:
    """(sequence key, frames, video) for every sequence in one class folder."""
    entries, _ = r.children(class_dir)
    found: dict[str, tuple[tuple[Path, ...], Path | None]] = {}
    groups: dict[str, dict[int, Path]] = {}
    broken: set[str] = set()  # loose-frame groups with a duplicate frame number
    ignored = []

    def add(key: str, frames: tuple[Path, ...], video: Path | None, where: Path) -> None:
        if key in found:
            r.problem(
                where,
                f"sequence {key!r} is given twice in {class_dir.name}/ "
                "(as a folder, loose frames or a video)",
                "keep one of them",
            )
            return
        found[key] = (frames, video)

    for path in entries:
        if path.is_dir():
            images, clean = r.children(path)
            images = [p for p in images if p.is_file() and _is_image(p)]
            if not clean:
                r.problem(path, "sequence skipped because one of its files was refused (see above)")
            elif not images:
                r.problem(
                    path, "sequence folder holds no images", "remove the folder or put its frames in it"
                )
            else:
                add(path.name, tuple(images), None, path)  # already in natural order
        elif _is_video(path):
            add(path.stem, (), path, path)
        elif _is_image(path):
            key, number = _split_frame_number(path.stem)
            if number is None:
                add(path.stem, (path,), None, path)
                continue
            group = groups.setdefault(key, {})
            if number in group:
                r.problem(
                    path,
                    f"frame number {number} of sequence {key!r} is also used by {group[number].name}",
                    "remove the duplicate",
                )
                broken.add(key)
            group[number] = path
        else:
            ignored.append(path)
    for key, group in groups.items():
        if key in broken:
            continue
        add(key, tuple(group[n] for n in sorted(group)), None, class_dir / f"{key}_*")
    if ignored:
        r.report.notes.append(
            f"{class_dir.name}/: ignored {len(ignored)} file(s) that are neither images nor videos "
            f"(first: {ignored[0].name})"
        )
    ordered = sorted(found, key=natural_key)
    return [(key, *found[key]) for key in ordered]


def read_folders(
    root: str | os.PathLike[str], on_error: OnError = "skip"
) -> tuple[list[SequenceRecord], ReadReport]:
    """Read class folders ``root/<class>/...`` (see the module docstring for the naming rule).

    Args:
        root: the folder holding one sub-folder per class.
        on_error: "fail" raises at the first bad item; "skip" reports it and goes on.

    Returns:
        (records, report); class names = the sorted class folder names (in ``report.class_names``,
        also for a class whose every item was skipped, so label indices stay stable),
        ``sequence_id`` = "<class>/<sequence key>".

    Raises:
        DataError: no class folders, only one class, nothing usable, or (with "fail") an empty
            sequence or class folder, a duplicate frame number or sequence, a symlink out of the root.
    """
    r = _Reader(root, "folders", on_error)
    class_dirs = r.subdirs(r.root)
    if not class_dirs:
        files = [p.name for p in r.children(r.root)[0]]
        if not files:
            raise DataError(f"dataset folder {r.root} is empty; {_EXPECTED}")
        raise DataError(
            f"{r.root} holds files ({', '.join(files[:5])}) but no class folders; put each class's "
            "sequences in its own folder: root/happy/..., root/sadness/..."
        )
    if len(class_dirs) < 2:
        raise DataError(
            f"{r.root} has one class folder only ({class_dirs[0].name}/); need at least 2 classes: "
            "one sub-folder per class, e.g. root/happy/ and root/sadness/"
        )
    r.report.class_names = tuple(sorted(p.name for p in class_dirs))
    records: list[SequenceRecord] = []
    for class_dir in sorted(class_dirs, key=lambda p: p.name):
        sequences = _class_sequences(r, class_dir)
        if not sequences:
            r.problem(
                class_dir, "class folder holds no images or videos", "add its sequences or remove the folder"
            )
        for key, frames, video in sequences:
            records.append(
                SequenceRecord(
                    sequence_id=f"{class_dir.name}/{key}",
                    subject=_subject_of(key),
                    label=r.report.class_names.index(class_dir.name),
                    label_name=class_dir.name,
                    frame_paths=frames,
                    video_path=video,
                )
            )
    return r.finish(records), r.report


# --------------------------------------------------------------------------------------------
# one entry point
# --------------------------------------------------------------------------------------------

_READERS = {"ckplus": read_ckplus, "oulu": read_oulu, "folders": read_folders}
_OPTIONS = {"ckplus": set(), "oulu": {"subsets"}, "folders": set()}


def read_dataset(
    root: str | os.PathLike[str],
    layout: str = "auto",
    on_error: OnError = "skip",
    **kwargs: Any,
) -> tuple[list[SequenceRecord], tuple[str, ...], ReadReport]:
    """Read any supported dataset folder.

    Args:
        root: the dataset folder.
        layout: "auto" (see :func:`detect_layout`), "ckplus", "oulu" or "folders".
        on_error: "fail" raises at the first bad item; "skip" reports it and goes on.
        **kwargs: reader options, e.g. ``subsets=("VL/Strong",)`` for Oulu-CASIA.

    Returns:
        (records, class_names, report).
    """
    _check_on_error(on_error)
    if layout == "auto":
        layout = detect_layout(root)
    if layout not in _READERS:
        raise ValueError(f"unknown layout {layout!r}; choose one of auto, {', '.join(LAYOUTS)}")
    unknown = set(kwargs) - _OPTIONS[layout]
    if unknown:
        hint = " (subsets, --oulu-subset, is for Oulu-CASIA only)" if "subsets" in unknown else ""
        raise DataError(
            f"option(s) {', '.join(sorted(unknown))} do not apply to the {layout} layout of {root}{hint}"
        )
    records, report = _READERS[layout](root, on_error=on_error, **kwargs)
    return records, report.class_names, report
