"""The one entry point: :func:`read_dataset` picks a layout (:func:`detect_layout`) and its reader.

Every layout is one line of ``_READERS``; :data:`LAYOUTS` lists them in that order.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from staner_lab.data.readers.ckplus import CKPLUS_MARKERS, read_ckplus
from staner_lab.data.readers.common import (
    EXPECTED_LAYOUTS,
    DataError,
    OnError,
    ReadReport,
    check_on_error,
    is_image,
    is_video,
    resolve_root,
)
from staner_lab.data.readers.folders import read_folders
from staner_lab.data.readers.oulu import OULU_LIGHTS, read_oulu
from staner_lab.data.records import SequenceRecord

__all__ = ["LAYOUTS", "detect_layout", "read_dataset"]

LayoutReader = Callable[..., tuple[list[SequenceRecord], ReadReport]]

#: layout name -> (reader, the keyword options read_dataset may pass on to it).
_READERS: dict[str, tuple[LayoutReader, frozenset[str]]] = {
    "ckplus": (read_ckplus, frozenset()),
    "oulu": (read_oulu, frozenset({"subsets"})),
    "folders": (read_folders, frozenset()),
}
LAYOUTS: tuple[str, ...] = tuple(_READERS)


def _holds_media(folder: Path, depth: int = 1) -> bool:
    """True when ``folder`` holds images or videos, directly or ``depth`` folders down."""
    try:
        with os.scandir(folder) as it:
            entries = [e for e in it if not e.name.startswith(".")]
    except OSError:
        return False
    for entry in entries:
        if entry.is_file() and (is_image(Path(entry.name)) or is_video(Path(entry.name))):
            return True
    return depth > 0 and any(_holds_media(Path(e.path), depth - 1) for e in entries if e.is_dir())


def detect_layout(root: str | os.PathLike[str]) -> str:
    """Guess a dataset folder's layout: "ckplus", "oulu" or "folders".

    Raises:
        DataError: when the folder is missing or empty, or nothing matches; the message lists
            what was found and what was expected, and suggests a sub-folder when one matches.
    """
    top = resolve_root(root)
    entries = sorted((p for p in top.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)
    if not entries:
        raise DataError(f"dataset folder {top} is empty; {EXPECTED_LAYOUTS}")
    names = {p.name for p in entries if p.is_dir()}
    if names & set(CKPLUS_MARKERS):
        return "ckplus"
    if names & set(OULU_LIGHTS):
        return "oulu"
    if any(_holds_media(p) for p in entries if p.is_dir()):
        return "folders"
    found = ", ".join(p.name + ("/" if p.is_dir() else "") for p in entries[:8])
    if len(entries) > 8:
        found += f", ... ({len(entries)} entries)"
    hint = ""
    for sub in (p for p in entries if p.is_dir()):
        inner = {q.name for q in sub.iterdir() if q.is_dir()}
        if inner & {*CKPLUS_MARKERS, *OULU_LIGHTS}:
            hint = f"; {sub.name}/ looks like a dataset: try --data {sub}"
            break
    raise DataError(f"cannot tell the layout of {top}: found {found}; {EXPECTED_LAYOUTS}{hint}")


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
    check_on_error(on_error)
    if layout == "auto":
        layout = detect_layout(root)
    if layout not in _READERS:
        raise ValueError(f"unknown layout {layout!r}; choose one of auto, {', '.join(LAYOUTS)}")
    reader, options = _READERS[layout]
    unknown = set(kwargs) - options
    if unknown:
        hint = " (subsets, --oulu-subset, is for Oulu-CASIA only)" if "subsets" in unknown else ""
        raise DataError(
            f"option(s) {', '.join(sorted(unknown))} do not apply to the {layout} layout of {root}{hint}"
        )
    records, report = reader(root, on_error=on_error, **kwargs)
    return records, report.class_names, report
