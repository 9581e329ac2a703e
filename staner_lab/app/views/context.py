"""What every view reads: :class:`ViewContext` (the sidebar's choices and the preprocessed input),
built once per page run by :func:`context`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import streamlit as st

from staner_lab.app import cached, limits, session
from staner_lab.app.source import Source
from staner_lab.config import InputConfig, preset
from staner_lab.explain import inspection


@dataclasses.dataclass(frozen=True)
class ViewContext:
    model: object | None  # the STANER of the chosen checkpoint, None when it cannot be used
    ckpt: Path | None
    source: Source
    view: inspection.SequenceView | None  # the preprocessed input; None with input_error, or no input
    input_error: str | None
    run_dir: Path | str | None  # the Evaluation view's run folder, or why it cannot be used


def context(model, ckpt: Path | None, source: Source, run_dir: Path | str | None) -> ViewContext:
    inputs = model.config.inputs if model is not None else preset("classroom").inputs
    view, error = sequence_for(source, inputs)
    return ViewContext(model, ckpt, source, view, error, run_dir)


def sequence_for(source: Source, inputs: InputConfig) -> tuple[inspection.SequenceView | None, str | None]:
    """(view, error message) for the chosen input; uploads are kept in this session's folder."""
    try:
        if source.kind == "error":
            return None, source.error
        if source.kind == "shipped":
            return cached.shipped_view(source.sequence_id, inputs.to_json()), None
        prep = source.prep.to_json()
        if source.kind == "upload":
            if not source.files:
                return None, None
            keys = tuple((f.file_id, f.size) for f in source.files)
            data = [(f.name, f.getvalue()) for f in source.files]
            if st.session_state.get("_uploads_kept") != keys:  # count, size, disk; kept in this session's folder
                limits.admit_uploads(session.current(), data)
                st.session_state["_uploads_kept"] = keys
            return cached.media_view(keys, inputs.to_json(), prep, "upload", False, data)
        if not source.snapshots:
            return None, source.error
        data = [(f"snapshot {k + 1}", b) for k, (_, b) in enumerate(source.snapshots)]
        limits.check_uploads([(n, len(b)) for n, b in data], "webcam snapshots")
        keys = tuple(fid for fid, _ in source.snapshots)
        view, error = cached.media_view(keys, inputs.to_json(), prep, "webcam", True, data)
        return view, error or source.error
    except (ValueError, FileNotFoundError, limits.LimitReached) as exc:  # InputError, FaceNotFoundError, ...
        return None, f"This input cannot be used: {exc}"
