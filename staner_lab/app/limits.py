"""Limits that keep one app server up for a whole class: uploads per session, disk for all
sessions' folders, attributions (captum) computed at a time. A limit that is hit is a
:class:`LimitReached` whose message says which limit, its setting, and what to do; never a crash.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from staner_lab.app.paths import sessions_root
from staner_lab.app.session import SessionSpace, save_upload, usage_bytes
from staner_lab.app.settings import class_settings
from staner_lab.app.uploads import sniff_kind

__all__ = ["LimitReached", "admit_uploads", "captum_slot", "check_disk", "check_uploads"]


class LimitReached(RuntimeError):
    """A server limit is reached; the message names it and says what to do."""


def check_uploads(files: Sequence[tuple[str, int]], what: str = "uploaded files") -> None:
    """``files``: (name, size in bytes) of one session's upload set or snapshots.

    Raises:
        LimitReached: more than ``STANER_UPLOAD_COUNT`` files, or one (or all together) over ``STANER_UPLOAD_MB``.
    """
    s = class_settings()
    if len(files) > s.upload_count:
        raise LimitReached(f"{len(files)} {what} are over this server's limit of {s.upload_count} per student "
                           "(STANER_UPLOAD_COUNT); remove some, or pick fewer frames")
    limit = s.upload_mb * 2**20
    for name, size in files:
        if size > limit:
            raise LimitReached(f"{name}: {size / 2**20:.1f} MB is over this server's limit of {s.upload_mb:g} MB per "
                               "file (STANER_UPLOAD_MB); trim or compress it")
    total = sum(size for _, size in files)
    if total > limit:
        raise LimitReached(f"{len(files)} {what}, {total / 2**20:.1f} MB in all, are over this server's limit of "
                           f"{s.upload_mb:g} MB (STANER_UPLOAD_MB); send fewer or smaller files")


_usage: dict[Path, tuple[float, int]] = {}
_usage_lock = threading.Lock()


def check_disk(adding: int = 0, root: Path | None = None, max_age: float = 5.0) -> None:
    """Refuse to write ``adding`` more bytes when all sessions' folders would pass ``STANER_SESSIONS_DISK_MB``.

    The folders' size is measured at most every ``max_age`` seconds (a walk of the sessions root).

    Raises:
        LimitReached: the space for students' files is full.
    """
    root = root or sessions_root()
    limit = class_settings().disk_mb * 2**20
    with _usage_lock:
        at, used = _usage.get(root, (0.0, 0))
        if time.monotonic() - at > max_age:
            at, used = time.monotonic(), usage_bytes(root)
        if used + adding > limit:
            _usage[root] = (at, used)
            raise LimitReached(f"the server's space for students' files is full ({used / 2**20:.0f} of "
                               f"{limit / 2**20:.0f} MB, STANER_SESSIONS_DISK_MB); nothing more can be kept. Ask "
                               "the instructor to clear old sessions (docs/app.md, 'Running the app for a class')")
        _usage[root] = (at, used + adding)  # counts what is about to be written until the next walk


_captum: dict[int, threading.BoundedSemaphore] = {}
_captum_lock = threading.Lock()


@contextmanager
def captum_slot(wait: float = 60.0) -> Iterator[None]:
    """Hold one of the ``STANER_APP_CAPTUM`` attribution slots while computing (waits up to ``wait`` s).

    Raises:
        LimitReached: no slot came free in time.
    """
    n = class_settings().captum
    with _captum_lock:
        sem = _captum.setdefault(n, threading.BoundedSemaphore(n))
    if not sem.acquire(timeout=wait):
        raise LimitReached(f"{n} attribution(s) are being computed for other students (STANER_APP_CAPTUM={n}) and "
                           f"none finished within {wait:.0f} s; open the Attention tab again in a moment")
    try:
        yield
    finally:
        sem.release()


def admit_uploads(space: SessionSpace, files: Sequence[tuple[str, bytes]], what: str = "uploaded files") -> None:
    """Check one session's upload set against the limits and keep it in the session's ``uploads/``
    (by content hash; a file that is neither image nor video is not kept, its decoding says why).

    Raises:
        LimitReached: too many files, too big, or the disk for sessions' folders is full.
    """
    check_uploads([(name, len(data)) for name, data in files], what)
    kept = space.path / "uploads"
    new = []
    for _, data in files:
        kind = sniff_kind(data)
        if kind is not None and not (kept / (hashlib.sha256(data).hexdigest()[:32] + kind[1])).exists():
            new.append((data, kind[1]))
    if new:
        check_disk(sum(len(d) for d, _ in new))
        for data, suffix in new:
            save_upload(space, data, suffix)
