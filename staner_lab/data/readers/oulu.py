"""Oulu-CASIA reader (``read_oulu``, ``oulu_subsets``) for the layout::

    root/<VL|NI>/<Strong|Weak|Dark>/P001/<Anger|Disgust|Fear|Happiness|Sadness|Surprise>/000.jpeg

A subset is one ``<light>/<illumination>`` folder, e.g. "VL/Strong" (the paper's protocol).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from staner_lab.config import OULU_CASIA_CLASSES
from staner_lab.data.readers.common import DataError, OnError, Reader, ReadReport, is_image, resolve_root
from staner_lab.data.records import SequenceRecord

__all__ = ["OULU_FOLDERS", "OULU_LIGHTS", "oulu_subsets", "read_oulu"]

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
#: The light folders at the top of an Oulu-CASIA dataset (either one is enough for detection).
OULU_LIGHTS = ("VL", "NI")


def oulu_subsets(root: str | os.PathLike[str]) -> list[str]:
    """The Oulu-CASIA subsets present under ``root``, e.g. ["NI/Strong", "VL/Strong"]."""
    top = resolve_root(root)
    return [
        f"{light}/{sub.name}"
        for light in OULU_LIGHTS
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
    r = Reader(root, "oulu", on_error)
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


def _numbered_frames(r: Reader, folder: Path) -> tuple[Path, ...] | None:
    """Oulu frames named by their number (000.jpeg, 001.jpeg, ...) in order; None when skipped."""
    entries, clean = r.children(folder)
    frames: dict[int, Path] = {}
    for path in entries:
        if not (path.is_file() and is_image(path)):
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
