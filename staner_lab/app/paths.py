"""Paths the user types or picks: checkpoints and run folders, only inside the allowed folders.

The allowed folders are the repository's ``runs/`` and ``data_samples/``, ``$STANER_APP_RUNS`` (where
classroom training writes) and the folders named in ``$STANER_APP_ALLOW`` or ``--allow``; a path
outside them, or of the wrong kind, is a :class:`PathError`. Inside the sessions root (each browser
session's own folder, :mod:`staner_lab.app.session`) only a session's own folder, given as a root, is
allowed, and listings never walk into it from above.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from staner_lab.data.shipped import DATA_SAMPLES

__all__ = [
    "ALLOW_ENV",
    "RUNS_ENV",
    "SESSIONS_ENV",
    "PathError",
    "allowed_roots",
    "display_path",
    "list_checkpoints",
    "list_run_dirs",
    "runs_root",
    "sessions_root",
    "validate_checkpoint_path",
    "validate_run_dir",
]

#: The repository (where relative paths start).
REPO_ROOT = DATA_SAMPLES.parent
#: Extra folders the app may read checkpoints and run folders from (``os.pathsep``-separated).
ALLOW_ENV = "STANER_APP_ALLOW"
#: Where classroom training writes ``app-<timestamp>/`` (default: the repository's ``runs/``).
RUNS_ENV = "STANER_APP_RUNS"
#: Where each browser session keeps its uploads, recordings and runs (default: ``<runs root>/sessions``).
SESSIONS_ENV = "STANER_APP_SESSIONS"


class PathError(ValueError):
    """A typed path is outside the allowed folders, missing, or of the wrong kind."""


def runs_root() -> Path:
    """Where run folders live: ``$STANER_APP_RUNS`` or the repository's ``runs/``."""
    env = os.environ.get(RUNS_ENV)
    return Path(env).expanduser().resolve() if env else (REPO_ROOT / "runs").resolve()


def sessions_root() -> Path:
    """The folder of all sessions' folders: ``$STANER_APP_SESSIONS`` or ``<runs root>/sessions``."""
    env = os.environ.get(SESSIONS_ENV)
    return Path(env).expanduser().resolve() if env else runs_root() / "sessions"


def allowed_roots(extra: Iterable[str | os.PathLike[str]] = ()) -> tuple[Path, ...]:
    """The folders the app may read: the repository's runs/ and data_samples/, ``$STANER_APP_RUNS``
    (where classroom training writes), ``$STANER_APP_ALLOW`` and ``extra``."""
    roots = [runs_root(), (REPO_ROOT / "runs").resolve(), DATA_SAMPLES.resolve()]
    env = os.environ.get(ALLOW_ENV, "")
    for item in [*(p for p in env.split(os.pathsep) if p.strip()), *extra]:
        roots.append(Path(item).expanduser().resolve())
    out: list[Path] = []
    for r in roots:
        if r not in out:
            out.append(r)
    return tuple(out)


def display_path(path: str | os.PathLike[str]) -> str:
    """A path as shown to the user: relative to the repository when inside it."""
    path = Path(path)
    try:
        return path.resolve().relative_to(REPO_ROOT.resolve()).as_posix()
    except ValueError:
        return str(path)


def _inside(text: str | os.PathLike[str], roots: Sequence[Path], what: str) -> Path:
    raw = os.fspath(text).strip()
    if not raw:
        raise PathError(f"type the path of a {what}")
    if "\x00" in raw or len(raw) > 4096:
        raise PathError(f"not a valid path for a {what}")
    p = Path(raw).expanduser()
    if not p.is_absolute():
        p = REPO_ROOT / p
    resolved = p.resolve(strict=False)  # follows symlinks: a link out of the roots is refused
    sessions = sessions_root()
    if resolved.is_relative_to(sessions) and not any(r.is_relative_to(sessions) and r != sessions
                                                     and resolved.is_relative_to(r) for r in roots):
        raise PathError(f"{raw}: another session's folder; each student sees only their own uploads and runs")
    if not any(resolved.is_relative_to(r) for r in roots):
        shown = ", ".join(display_path(r) + "/" for r in roots)
        raise PathError(f"{raw}: the app reads {what}s only inside {shown}. To allow another folder, start it "
                        f"with {ALLOW_ENV}=/that/folder (or: streamlit run streamlit_app.py -- --allow /that/folder)")
    return resolved


def validate_checkpoint_path(text: str | os.PathLike[str], roots: Sequence[Path]) -> Path:
    """Accept a typed checkpoint path only if it is a ``.pt`` file inside one of ``roots``.

    Relative paths are taken from the repository root. Symlinks are resolved before the check.

    Raises:
        PathError: outside the roots, not ``.pt``, or not an existing file.
    """
    path = _inside(text, roots, "checkpoint")
    if path.suffix != ".pt":
        raise PathError(f"{display_path(path)}: a checkpoint is a .pt file (model.pt or last.pt of a run folder)")
    if not path.is_file():
        raise PathError(f"{display_path(path)}: no such checkpoint file")
    return path


def validate_run_dir(text: str | os.PathLike[str], roots: Sequence[Path]) -> Path:
    """Accept a typed run folder only inside ``roots`` and only if it holds results."""
    path = _inside(text, roots, "run folder")
    if not path.is_dir():
        raise PathError(f"{display_path(path)}: no such folder")
    if not any((path / n).is_file() for n in ("results.json", "table1.csv", "metrics.csv")):
        raise PathError(f"{display_path(path)}: no results.json, metrics.csv or table1.csv; is it the folder given "
                        "as --out to staner-lab train, cv or ablate?")
    return path


#: Folders of data sets (CK+, Oulu-CASIA, synthetic), never walked when looking for runs.
_DATA_FOLDERS = frozenset({"cohn-kanade-images", "Landmarks", "Emotion", "GroundTruth", "FACS", "VL", "NI"})


def _walk(root: Path, max_depth: int) -> Iterable[tuple[Path, list[str], list[str]]]:
    base = len(root.parts)
    sessions = sessions_root()
    for dirpath, dirnames, filenames in os.walk(root):
        p = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _DATA_FOLDERS
                             and not (d == sessions.name and (p / d).resolve() == sessions))  # never listed
        if len(p.parts) - base >= max_depth:
            dirnames[:] = []
        yield p, dirnames, filenames


def list_checkpoints(roots: Sequence[Path], max_depth: int = 3, limit: int = 200) -> list[Path]:
    """``.pt`` files under ``roots`` (newest first), skipping hidden and temporary files."""
    found: list[Path] = []
    for root in roots:
        if not root.is_dir():
            continue
        for p, _, files in _walk(root, max_depth):
            found += [p / f for f in files if f.endswith(".pt") and not f.startswith(".")]
    found = sorted(set(found), key=lambda p: (-p.stat().st_mtime, str(p)))
    return found[:limit]


def list_run_dirs(roots: Sequence[Path], max_depth: int = 2, limit: int = 200) -> list[Path]:
    """Folders under ``roots`` holding results.json, metrics.csv or table1.csv (newest first)."""
    found: list[Path] = []
    for root in roots:
        if not root.is_dir():
            continue
        for p, _, files in _walk(root, max_depth):
            if {"results.json", "table1.csv", "metrics.csv"} & set(files):
                found.append(p)
    found = sorted(set(found), key=lambda p: (-p.stat().st_mtime, str(p)))
    return found[:limit]

