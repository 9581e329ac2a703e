"""What the app keeps between reruns (Streamlit's caches): the server's training queue, checkpoints,
preprocessed sequences, model outputs, attributions, run folders and the folder listings.

An argument whose name starts with ``_`` is not hashed: the checkpoint's (path, mtime) and a content
digest stand for the model and the sample in the cache key.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from staner_lab.app import decision, explanations, jobs, limits, paths, runs, settings, streaming, uploads
from staner_lab.config import InputConfig, PreprocessConfig, preset
from staner_lab.data.dataset import batch_tensors
from staner_lab.data.shipped import load_shipped_samples
from staner_lab.explain import inspection
from staner_lab.training import health
from staner_lab.training.checkpoint import load_model


def ckpt_key(path: Path | None) -> tuple[str, float]:
    """(path, mtime): a checkpoint's cache key, new when the file is rewritten."""
    if path is None or not path.is_file():
        return ("", 0.0)
    return (str(path), path.stat().st_mtime)


@st.cache_resource(show_spinner=False)
def training_pool() -> jobs.TrainingPool:
    """One training queue for the whole server: STANER_APP_WORKERS trainings at a time."""
    s = settings.class_settings()
    return jobs.TrainingPool(s.workers, s.max_queued)


@st.cache_resource(max_entries=4, show_spinner="Loading the checkpoint…")
def model(path: str, mtime: float):
    return load_model(path)


@st.cache_data(show_spinner=False)
def shipped_index() -> list[tuple[str, str]]:
    """(sequence id, true class) of every shipped sequence."""
    records, class_names = inspection.shipped_records()
    return [(r.sequence_id, class_names[r.label]) for r in records]


@st.cache_data(max_entries=4, show_spinner="Comparing the two branches on every shipped sequence…")
def votes(ckpt: tuple[str, float], inputs_json: str, _model) -> dict:
    samples, _ = load_shipped_samples(InputConfig.from_json(inputs_json))
    return decision.branch_votes(_model, samples)


@st.cache_data(max_entries=16, show_spinner="Preprocessing the sequence…")
def shipped_view(sequence_id: str, inputs_json: str) -> inspection.SequenceView:
    records, class_names = inspection.shipped_records()
    by_id = {r.sequence_id: r for r in records}
    if sequence_id not in by_id:
        raise ValueError(f"no shipped sequence {sequence_id!r}; pick one from the list")
    return inspection.inspect_record(by_id[sequence_id], InputConfig.from_json(inputs_json), class_names=class_names)


@st.cache_data(max_entries=8, show_spinner="Finding the face and its 68 landmarks…")
def media_view(keys: tuple, inputs_json: str, prep_json: str, source: str, ordered: bool,
               _files: list[tuple[str, bytes]]) -> tuple[inspection.SequenceView | None, str | None]:
    """(view, None) or (None, message); the message is cached too, so a bad upload is decoded once."""
    try:
        frames, names = uploads.frames_from_uploads(_files, sort=not ordered)
        view = uploads.frames_view(frames, names, InputConfig.from_json(inputs_json),
                                   PreprocessConfig.from_json(prep_json), source)
        return view, None
    except (ValueError, FileNotFoundError) as exc:  # InputError, FaceNotFoundError, a missing dlib model
        return None, f"This input cannot be used: {exc}"


@st.cache_data(max_entries=32, show_spinner="Running the model…")
def analysis(ckpt: tuple[str, float], digest: str, _model, _sample) -> inspection.Analysis:
    return inspection.analyse(_model, _sample)


@st.cache_data(max_entries=32, show_spinner="Computing the attribution…")
def explanation(ckpt: tuple[str, float], digest: str, method: str, _model, _sample) -> explanations.Explanation:
    with limits.captum_slot():  # STANER_APP_CAPTUM attributions at a time, for the whole server
        return explanations.explain_peak(_model, _sample, method)


@st.cache_data(max_entries=4, show_spinner="Measuring the training health on the shipped sequences…")
def shipped_health(ckpt: tuple[str, float], inputs_json: str, _model) -> tuple[health.HealthReport, int]:
    """(report, number of sequences) of the model on every shipped sequence."""
    samples, _ = load_shipped_samples(InputConfig.from_json(inputs_json))
    return health.health_report(_model, *batch_tensors(samples)), len(samples)


@st.cache_data(max_entries=8, show_spinner="Streaming the frames one at a time…")
def stream(ckpt: tuple[str, float], digest: str, prep_json: str, _model, _frames) -> streaming.StreamTrace:
    return streaming.stream_trace(_model, _frames, PreprocessConfig.from_json(prep_json))


@st.cache_data(max_entries=8, show_spinner=False)
def run_folder(path: str, mtime: float, classes: tuple[str, ...] | None):
    """(run folder, its misclassified sequences, its test answers or why they cannot be read)."""
    run = runs.read_run_folder(path, classes)
    try:
        answers = runs.run_answers(run)
    except runs.RunFolderError as exc:  # the rest of the folder can still be shown
        answers = str(exc)
    return run, runs.misclassified(run), answers


@st.cache_resource(show_spinner="Loading the shipped sequences…")
def training_data():
    return load_shipped_samples(preset("classroom").inputs)


@st.cache_data(ttl=5, show_spinner=False)
def _shared_listing(roots: tuple[Path, ...]) -> tuple[list[str], list[str]]:
    return ([paths.display_path(p) for p in paths.list_checkpoints(roots)],
            [paths.display_path(p) for p in paths.list_run_dirs(roots)])


def listing(roots) -> tuple[list[str], list[str]]:
    """(checkpoints, run folders) as shown: this session's own first (a few files, listed on each run),
    then the server's (one walk shared by every session, refreshed every few seconds)."""
    own = tuple(r for r in roots if r.is_relative_to(paths.sessions_root()))
    shared = _shared_listing(tuple(r for r in roots if r not in own))
    return ([paths.display_path(p) for p in paths.list_checkpoints(own)] + shared[0],
            [paths.display_path(p) for p in paths.list_run_dirs(own)] + shared[1])


def forget_listing() -> None:
    """A checkpoint was just written: list the folders again on the next run."""
    _shared_listing.clear()
