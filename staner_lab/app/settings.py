"""Server settings for a class on one app server, read from environment variables (Streamlit's
config.toml has no room for an app's own settings). Each is documented in docs/app.md, "Running the
app for a class"; a bad value is a :class:`SettingError` naming the variable and what it accepts.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

__all__ = ["ENV", "ClassSettings", "SettingError", "class_settings"]


class SettingError(ValueError):
    """An environment variable holds a value the app cannot use."""


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


#: variable -> (field, default, minimum); a default of None is computed from the cores.
ENV: dict[str, tuple[str, float | None, float]] = {
    "STANER_APP_WORKERS": ("workers", None, 1),            # trainings at a time: one per two cores
    "STANER_APP_QUEUE": ("max_queued", 60, 0),             # trainings waiting for a worker
    "STANER_APP_CAPTUM": ("captum", None, 1),              # attributions computed at a time
    "STANER_SESSION_IDLE_MINUTES": ("idle_minutes", 120, 1),  # a session's folder is removed after this
    "STANER_UPLOAD_MB": ("upload_mb", 50, 0.001),          # per file and per upload set
    "STANER_UPLOAD_COUNT": ("upload_count", 100, 1),       # files in one upload set, or webcam snapshots
    "STANER_SESSIONS_DISK_MB": ("disk_mb", 2048, 1),       # all sessions' folders together
}


@dataclass(frozen=True)
class ClassSettings:
    workers: int
    max_queued: int
    captum: int
    idle_minutes: float
    upload_mb: float
    upload_count: int
    disk_mb: float


def class_settings(environ: dict[str, str] | None = None) -> ClassSettings:
    """The settings from ``environ`` (default ``os.environ``).

    Raises:
        SettingError: a value that is not a number, or below its minimum.
    """
    environ = os.environ if environ is None else environ
    per_two_cores = max(1, _cores() // 2)
    values: dict[str, float] = {}
    for var, (field, default, minimum) in ENV.items():
        raw = environ.get(var, "").strip()
        if not raw:
            values[field] = per_two_cores if default is None else default
            continue
        try:
            value = float(raw)
        except ValueError:
            raise SettingError(f"{var}={raw!r} is not a number; unset it or give e.g. {var}={default or 1}") from None
        if not (math.isfinite(value) and value >= minimum):
            raise SettingError(f"{var}={raw!r}: give a number of at least {minimum:g}, or unset it for the default")
        values[field] = value
    ints = {"workers", "max_queued", "captum", "upload_count"}
    return ClassSettings(**{k: int(v) if k in ints else float(v) for k, v in values.items()})
