"""Per-session folders: what one browser session of the app writes (uploads, webcam recordings,
classroom runs) lives in ``<sessions root>/<token>/<kind>/``, invisible to other sessions.

The token is 32 random hex digits (``secrets``), kept in the session's state and never taken from
user input, so a folder name cannot be guessed or chosen. Each rerun touches ``.last_seen``;
:func:`sweep` removes folders idle longer than ``STANER_SESSION_IDLE_MINUTES`` (not those with a
training queued or running). The sessions root is ``$STANER_APP_SESSIONS`` or ``<runs root>/sessions``;
:mod:`staner_lab.app.paths` lets a session read only its own folder there.

For the page: :func:`session_dir` (``session_dir("webcam")``, ``session_dir("runs")``, ...) and
:func:`current`; the rest works without Streamlit.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from staner_lab.app.paths import sessions_root

__all__ = ["KINDS", "SessionSpace", "current", "new_space", "save_upload", "session_dir", "sweep", "usage_bytes"]

#: What a session may keep, one subfolder each.
KINDS = ("uploads", "webcam", "runs")
_TOKEN = re.compile(r"^[0-9a-f]{32}$")
_STATE_KEY = "_staner_session_token"
SEEN = ".last_seen"


@dataclass(frozen=True)
class SessionSpace:
    """One session's folder: ``root/token``."""

    root: Path
    token: str

    @property
    def path(self) -> Path:
        return self.root / self.token

    def dir(self, kind: str) -> Path:
        """The session's folder for ``kind`` (one of :data:`KINDS`), created on first use."""
        if kind not in KINDS:
            raise ValueError(f"session_dir({kind!r}): kind must be one of {', '.join(KINDS)}")
        p = self.path / kind
        p.mkdir(parents=True, exist_ok=True)
        return p

    def touch(self) -> None:
        """Mark the session as seen now (the idle clock restarts)."""
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / SEEN).touch()


def new_space(root: Path | None = None) -> SessionSpace:
    """A fresh session with an unguessable token (its folder is made on first use)."""
    return SessionSpace((root or sessions_root()), secrets.token_hex(16))


def current() -> SessionSpace:
    """This browser session's space (Streamlit's session state keeps the token), touched now."""
    import streamlit as st

    token = st.session_state.get(_STATE_KEY)
    if not (isinstance(token, str) and _TOKEN.match(token)):
        token = st.session_state[_STATE_KEY] = new_space().token
    space = SessionSpace(sessions_root(), token)
    space.touch()
    return space


def session_dir(kind: str) -> Path:
    """This browser session's folder for ``kind``: "uploads", "webcam" (recordings) or "runs"."""
    return current().dir(kind)


def save_upload(space: SessionSpace, data: bytes, suffix: str) -> Path:
    """Keep uploaded bytes in the session's ``uploads/`` under their SHA-256 (never the file's name)."""
    if not re.fullmatch(r"\.[a-z0-9]{1,5}", suffix):
        raise ValueError(f"not a file suffix: {suffix!r}")
    path = space.dir("uploads") / (hashlib.sha256(data).hexdigest()[:32] + suffix)
    if not path.exists():
        from staner_lab.atomic import atomic_write_bytes

        atomic_write_bytes(path, data)
    return path


def usage_bytes(root: Path | None = None) -> int:
    """Bytes in all sessions' folders."""
    root = root or sessions_root()
    total = 0
    for dirpath, _, files in os.walk(root):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:  # removed meanwhile
                pass
    return total


_sweep_lock = threading.Lock()
_last_sweep = [0.0]


def sweep(idle_seconds: float, busy: Iterable[Path] = (), root: Path | None = None, every: float = 0.0) -> list[str]:
    """Remove session folders not seen for ``idle_seconds``; return their tokens.

    ``busy``: paths (run folders of queued or running trainings) whose session is kept. ``every``:
    do nothing if the last sweep was less than this many seconds ago (the page calls it each rerun).
    """
    root = root or sessions_root()
    with _sweep_lock:
        now = time.time()
        if now - _last_sweep[0] < every:
            return []
        _last_sweep[0] = now
    keep = set()
    for p in busy:
        try:
            keep.add(Path(p).resolve().relative_to(root.resolve()).parts[0])
        except (ValueError, IndexError):
            continue
    removed = []
    if not root.is_dir():
        return removed
    for child in root.iterdir():
        if not (child.is_dir() and _TOKEN.match(child.name)) or child.name in keep:
            continue
        marker = child / SEEN
        try:
            seen = marker.stat().st_mtime if marker.exists() else child.stat().st_mtime
        except OSError:
            continue
        if now - seen > idle_seconds:
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child.name)
    return removed
