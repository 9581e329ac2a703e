"""The sidebar: the checkpoint, the input sequence (:class:`~staner_lab.app.source.Source`) and the
run folder of the Evaluation view. Each selector returns what it chose, or why it cannot be used."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from staner_lab.app import cached, paths, runs, uploads
from staner_lab.app.source import Snapshots, Source
from staner_lab.config import PreprocessConfig
from staner_lab.data import shipped
from staner_lab.training.checkpoint import CheckpointError

SHIPPED = "data_samples/classroom.pt"
TYPED = "Type a path…"
FOLLOW = "Run folder of the selected checkpoint"
SOURCES = ["Shipped sample", "Upload", "Webcam"]
MEDIA_TYPES = ["png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp", "pgm", "mp4", "mov", "avi", "mkv", "webm"]


def use_checkpoint(display_path: str) -> None:
    """Ask for this checkpoint on the next run of the page ("Use this model", from a fragment that
    cannot change the sidebar itself)."""
    st.session_state["_use_ckpt"] = display_path


def checkpoint(roots) -> tuple[Path | None, str | None]:
    """(checkpoint, error): shipped, one found under runs/ (and allowed folders), or a typed path."""
    if "_use_ckpt" in st.session_state:  # set before the widget is drawn
        st.session_state["ckpt"] = st.session_state.pop("_use_ckpt")
        st.session_state["run"] = FOLLOW
    found = cached.listing(roots)[0]
    options = [SHIPPED] + [p for p in found if p != SHIPPED] + [TYPED]
    current = st.session_state.setdefault("ckpt", SHIPPED)
    if current not in options:  # e.g. a model trained a moment ago, not yet in the listing
        options.insert(1, current)
    choice = st.sidebar.selectbox("Checkpoint", options, key="ckpt",
                                  help="model.pt or last.pt of a run folder from staner-lab train / cv, or the "
                                       "classroom model trained in this app")
    if choice == SHIPPED:
        st.sidebar.caption(shipped.SHIPPED_MODEL_NOTE)
        try:
            return shipped.shipped_checkpoint(), None
        except FileNotFoundError:
            return None, None
    text = st.sidebar.text_input("Checkpoint path", key="ckpt_typed",
                                 placeholder="runs/my-run/model.pt") if choice == TYPED else choice
    try:
        return paths.validate_checkpoint_path(text, roots), None
    except paths.PathError as exc:
        return None, f"Checkpoint not used: {exc}"


def model_of(path: Path | None, error: str | None):
    """(model, error message): the error explains a missing, corrupt or foreign checkpoint."""
    if error is not None:
        return None, error
    if path is None:
        return None, (f"The shipped checkpoint {SHIPPED} is missing. Rebuild it with the command in "
                      "data_samples/README.md, or train a classroom model in the 'Classroom training' tab and "
                      "pick it under Checkpoint. The Sequence view works without a model.")
    try:
        return cached.model(*cached.ckpt_key(path)), None
    except CheckpointError as exc:
        return None, f"Cannot use this checkpoint: {exc}"


def source(model, ckpt: Path | None) -> Source:
    """The input sequence: a shipped sample, uploaded files, or webcam snapshots."""
    st.sidebar.header("Input")
    kind = st.sidebar.radio("Sequence from", SOURCES, key="source", horizontal=True)
    if kind == "Shipped sample":
        return _shipped(model, ckpt)
    prep = _preprocessing()
    if kind == "Upload":
        label = f"A video, or the frames of one sequence (≤ {uploads.MAX_UPLOAD_MB} MB)"
        files = st.sidebar.file_uploader(label, type=MEDIA_TYPES, accept_multiple_files=True, key="uploads")
        return Source("upload", files=tuple(files or ()), prep=prep)
    shot = st.sidebar.camera_input("Webcam snapshot (take several: neutral face first, peak last)", key="camera")
    snaps: Snapshots = st.session_state.setdefault("snapshots", Snapshots())
    if shot is not None:
        snaps.add(shot.file_id, shot.getvalue())
    st.sidebar.caption(f"{len(snaps.shots)} snapshot(s) in the sequence. Clear the photo above and take the next one.")
    st.sidebar.button("Start a new sequence", on_click=snaps.clear, disabled=not snaps.shots, key="snap_clear")
    return Source("webcam", snapshots=tuple(snaps.shots), prep=prep,
                  error=snaps.error(shot.file_id if shot is not None else None))


def _shipped(model, ckpt: Path | None) -> Source:
    try:
        index = cached.shipped_index()
        votes = cached.votes(cached.ckpt_key(ckpt), model.config.inputs.to_json(), model) if model is not None else {}
    except (FileNotFoundError, ValueError) as exc:
        return Source("error", error=f"The shipped sample data cannot be read: {exc}")
    labels = {}
    for sid, label in index:
        v = votes.get(sid)
        split = v is not None and v["G"] is not None and v["L"] is not None and v["G"] != v["L"]
        labels[sid] = f"{sid} ({label})" + (f" ⚡ SGAER {v['G']}, TLER {v['L']}" if split else "")
    if votes and "sequence" not in st.session_state:  # open on the sequence where α matters most
        st.session_state["sequence"] = max(votes, key=lambda k: votes[k]["gap"])
    sid = st.sidebar.selectbox("Shipped sequence (true class)", list(labels), format_func=labels.get,
                               key="sequence", help="⚡: the two branches vote for different classes, so "
                                                    "the α slider can change the decision")
    return Source("shipped", sequence_id=sid)


def _preprocessing() -> PreprocessConfig:
    whole = st.sidebar.checkbox("Frames are already cropped to the face", key="whole_frame",
                                help="skip face detection and take the whole frame as the face box")
    peak = st.sidebar.radio("Peak frame", ["last", "displacement"], key="peak_mode", horizontal=True,
                            help="last: the sequence ends at the peak (CK+). displacement: the frame whose "
                                 "landmarks moved most from the first frame")
    return PreprocessConfig(landmarks="dlib", whole_frame_face=whole, peak=peak)


def run_folder(roots, ckpt: Path | None) -> Path | str | None:
    """The run folder for the Evaluation view (a path, or an error message)."""
    st.sidebar.header("Evaluation")
    found = cached.listing(roots)[1]
    options = [FOLLOW] + found + [TYPED]
    current = st.session_state.setdefault("run", FOLLOW)
    if current not in options:
        options.insert(1, current)
    choice = st.sidebar.selectbox("Run folder", options, key="run",
                                  help="the --out folder of staner-lab train, cv or ablate")
    if choice == FOLLOW:
        return runs.run_folder_of(ckpt)
    text = st.sidebar.text_input("Run folder path", key="run_typed", placeholder="runs/ck-cv") \
        if choice == TYPED else choice
    try:
        return paths.validate_run_dir(text, roots)
    except paths.PathError as exc:
        return str(exc)
