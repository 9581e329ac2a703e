"""Class-folders reader (``read_folders``): one folder per class, class names = sorted folder names::

    root/happy/S010_002/0001.png          # a sequence in its own sub-folder
    root/happy/S010_002_00000014.png      # or frames sharing the prefix <subject>_<sequence>_<frame>
    root/happy/P03_take1.mp4              # or a video file (.mp4, .avi, .mov, .mkv)

Subject ids are recovered from names (needed for subject-independent folds): the subject is the
first ``_``-separated token of the sub-folder's name, of the loose frames' shared prefix, or of
the video's stem (the whole stem when it has no ``_``). Loose frames are grouped into sequences by
dropping their last ``_<digits>`` token (the frame number); a file whose stem does not end in
``_<digits>`` is a one-frame sequence of its own.
"""

from __future__ import annotations

import os
from pathlib import Path

from staner_lab.data.readers.common import (
    EXPECTED_LAYOUTS,
    DataError,
    OnError,
    Reader,
    ReadReport,
    is_image,
    is_video,
    natural_key,
)
from staner_lab.data.records import SequenceRecord

__all__ = ["read_folders"]


def _subject_of(key: str) -> str:
    return key.split("_", 1)[0] or key


def _split_frame_number(stem: str) -> tuple[str, int | None]:
    """(key, frame number): "S010_002_00000014" -> ("S010_002", 14); "face" -> ("face", None)."""
    head, sep, tail = stem.rpartition("_")
    if sep and head and tail.isdigit():
        return head, int(tail)
    return stem, None


def _class_sequences(r: Reader, class_dir: Path) -> list[tuple[str, tuple[Path, ...], Path | None]]:
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
            images = [p for p in images if p.is_file() and is_image(p)]
            if not clean:
                r.problem(path, "sequence skipped because one of its files was refused (see above)")
            elif not images:
                r.problem(
                    path, "sequence folder holds no images", "remove the folder or put its frames in it"
                )
            else:
                add(path.name, tuple(images), None, path)  # already in natural order
        elif is_video(path):
            add(path.stem, (), path, path)
        elif is_image(path):
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
    """Read class folders ``root/<class>/...`` (see this module's docstring for the naming rule).

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
    r = Reader(root, "folders", on_error)
    class_dirs = r.subdirs(r.root)
    if not class_dirs:
        files = [p.name for p in r.children(r.root)[0]]
        if not files:
            raise DataError(f"dataset folder {r.root} is empty; {EXPECTED_LAYOUTS}")
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
