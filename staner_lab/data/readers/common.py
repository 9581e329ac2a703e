"""What every dataset reader shares: the report types, the error policy and safe folder walking.

:class:`Reader` holds the state of one read (resolved root, ``on_error`` policy, the
:class:`ReadReport` being filled) and walks folders without leaving the dataset root.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from staner_lab.data.records import SequenceRecord

__all__ = [
    "EXPECTED_LAYOUTS",
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "DataError",
    "OnError",
    "ReadReport",
    "Reader",
    "SkippedItem",
    "check_on_error",
    "is_image",
    "is_video",
    "natural_key",
    "resolve_root",
]

OnError = Literal["skip", "fail"]
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".ppm", ".webp"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv"})

#: What a dataset folder should look like; ends the "cannot tell the layout" / "empty folder" errors.
EXPECTED_LAYOUTS = (
    "expected cohn-kanade-images/ and Emotion/ (CK+), VL/ or NI/ (Oulu-CASIA), "
    "or class folders (root/<class>/<sequence>/<frames>, root/<class>/<subject>_<seq>_<frame>.png "
    "or root/<class>/<video>.mp4)"
)


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


def resolve_root(root: str | os.PathLike[str]) -> Path:
    """The dataset folder, ``~`` expanded and resolved; :class:`DataError` when missing or a file."""
    path = Path(root).expanduser()
    if not path.exists():
        raise DataError(f"dataset folder {path} does not exist; check the path given as --data")
    if not path.is_dir():
        raise DataError(f"{path} is a file, not a folder; pass the dataset's top folder as --data")
    return path.resolve()


def check_on_error(on_error: str) -> bool:
    """Whether ``on_error`` is "fail"; ValueError unless it is "skip" or "fail"."""
    if on_error not in ("skip", "fail"):
        raise ValueError(f"on_error must be 'skip' or 'fail', got {on_error!r}")
    return on_error == "fail"


def natural_key(name: str) -> tuple[Any, ...]:
    """Sort key that orders "frame2" before "frame10"."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name))


def is_image(path: Path) -> bool:
    """Whether the file name has an image extension (:data:`IMAGE_EXTENSIONS`)."""
    return path.suffix.lower() in IMAGE_EXTENSIONS


def is_video(path: Path) -> bool:
    """Whether the file name has a video extension (:data:`VIDEO_EXTENSIONS`)."""
    return path.suffix.lower() in VIDEO_EXTENSIONS


class Reader:
    """State of one read: the resolved root, the error policy and the report being filled."""

    def __init__(self, root: str | os.PathLike[str], layout: str, on_error: str) -> None:
        self.fail = check_on_error(on_error)
        self.root = resolve_root(root)
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
