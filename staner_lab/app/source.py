"""The input sequence the sidebar chose (:class:`Source`) and the webcam snapshots that make one
(:class:`Snapshots`); testable without Streamlit."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from staner_lab.app import uploads
from staner_lab.config import PreprocessConfig

__all__ = ["Snapshots", "Source"]


@dataclasses.dataclass(frozen=True)
class Source:
    """Where the sequence comes from.

    kind: "shipped" (``sequence_id`` of a shipped sequence), "upload" (``files``: Streamlit's uploaded
    files), "webcam" (``snapshots``: (file id, JPEG bytes) in the order taken) or "error" (the shipped
    data cannot be read: ``error`` says why). ``prep``: how uploads and snapshots are preprocessed;
    ``error`` with a webcam source: why the newest snapshot was refused.
    """

    kind: Literal["shipped", "upload", "webcam", "error"]
    sequence_id: str | None = None
    files: tuple[Any, ...] = ()
    snapshots: tuple[tuple[str, bytes], ...] = ()
    prep: PreprocessConfig | None = None
    error: str | None = None

    @property
    def is_media(self) -> bool:
        """An upload or webcam snapshots: frames of the user's own, preprocessed here (dlib)."""
        return self.kind in ("upload", "webcam")


class Snapshots:
    """Webcam snapshots in the order taken. The camera widget returns its photo again on every rerun,
    so each photo (by file id) is checked once: added, or refused with the reason kept."""

    def __init__(self) -> None:
        self.shots: list[tuple[str, bytes]] = []
        self._checked: dict[str, str | None] = {}  # file id -> None (added) or why it was refused

    def add(self, file_id: str, data: bytes) -> None:
        if file_id in self._checked:
            return
        try:
            uploads.decode_image(data, f"snapshot {len(self.shots) + 1}")
        except uploads.InputError as exc:
            self._checked[file_id] = f"This snapshot was not added: {exc}"
            return
        self.shots.append((file_id, data))
        self._checked[file_id] = None

    def error(self, file_id: str | None) -> str | None:
        """Why the photo ``file_id`` was refused (None when added or never seen)."""
        return self._checked.get(file_id) if file_id is not None else None

    def clear(self) -> None:
        """A new sequence: no snapshots; the photo still in the camera stays checked (not re-added), its
        error dismissed."""
        self.shots.clear()
        self._checked = dict.fromkeys(self._checked)
