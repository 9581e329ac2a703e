"""STANER lab: what the model sees, from a shipped sample, an upload or a webcam.

    streamlit run streamlit_app.py                                # shipped data and checkpoint, offline
    streamlit run streamlit_app.py -- --allow ~/experiments/runs  # also read run folders there

Layout and widgets only: preprocessing and model outputs are in ``staner_lab.explain.inspection``,
uploads, path checks, run folders, training jobs and attributions in ``staner_lab.app``, figures in
``staner_lab.viz``. See docs/app.md.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
import time
from pathlib import Path

import streamlit as st
import torch

from staner_lab import viz
from staner_lab.app import (
    decision,
    explanations,
    jobs,
    limits,
    live_view,
    paths,
    recording,
    runs,
    session,
    settings,
    streaming,
    uploads,
)
from staner_lab.config import InputConfig, PreprocessConfig, preset
from staner_lab.data.dataset import batch_tensors
from staner_lab.data.shipped import SHIPPED_MODEL_NOTE, shipped_checkpoint
from staner_lab.explain import inspection
from staner_lab.training import health
from staner_lab.training.checkpoint import CheckpointError, load_model
from staner_lab.training.report import answer_report, branch_rows, reliabilities

VIEWS = ["Sequence", "Attention", "LSTM", "Decision", "Evaluation", "Classroom training", "Live"]
TRAINING_DATA = ["the shipped synthetic sequences", "the class's webcam recordings"]
SHIPPED = "data_samples/classroom.pt"
TYPED = "Type a path…"
FOLLOW = "Run folder of the selected checkpoint"
SOURCES = ["Shipped sample", "Upload", "Webcam"]
MEDIA_TYPES = ["png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp", "pgm", "mp4", "mov", "avi", "mkv", "webm"]


#: Torch intra-op threads. The app's batches are tiny; with two threads on a busy 2-core machine the
#: threads spin waiting for each other and every model run took 5-15 times longer (docs/app.md).
TORCH_THREADS = 1


def main() -> None:
    torch.set_num_threads(TORCH_THREADS)  # also for the training thread, which starts later
    # An emoji icon is drawn by the browser (a data: URL); Material icons come from fonts.gstatic.com.
    st.set_page_config(page_title="STANER lab", page_icon="🙂", layout="wide")
    space = class_session()
    roots = paths.allowed_roots([*command_line().allow, space.dir("runs")])  # this session's runs, no other's
    if "_use_ckpt" in st.session_state:  # "Use this model" (in a fragment) asked for this checkpoint
        st.session_state["ckpt"] = st.session_state.pop("_use_ckpt")
        st.session_state["run"] = FOLLOW
    st.sidebar.title("STANER lab")
    ckpt, ckpt_error = checkpoint_selector_ui(roots)
    model, model_error = selected_model(ckpt) if ckpt_error is None else (None, ckpt_error)
    inputs = model.config.inputs if model is not None else preset("classroom").inputs
    source = input_selector_ui(model, ckpt)
    run_dir = run_folder_selector_ui(roots, ckpt)

    st.title("STANER: what the model sees")
    if model_error:
        st.error(model_error)
    view, input_error = sequence_for(source, inputs)
    if input_error:
        st.error(input_error)
    # Only the open tab runs (a tab switch reruns the page): the first page draws the Sequence view
    # without waiting for the model views, the attribution (captum) or the training-health table.
    tabs = st.tabs(VIEWS, key="view", on_change="rerun")
    if tabs[0].open:
        with tabs[0]:
            sequence_view(view, input_error)
    for k in (1, 2, 3):
        if tabs[k].open:
            with tabs[k]:
                model_view(VIEWS[k], view, input_error, model, ckpt, source)
    if tabs[4].open:
        with tabs[4]:
            evaluation_view(run_dir, model)
    if tabs[5].open:
        with tabs[5]:
            training_view()
    if tabs[6].open:
        with tabs[6]:
            live_view.live_view(model)


def command_line() -> argparse.Namespace:
    """Options after ``--``: ``streamlit run streamlit_app.py -- --allow DIR``."""
    parser = argparse.ArgumentParser(prog="streamlit run streamlit_app.py --", allow_abbrev=False)
    parser.add_argument("--allow", action="append", default=[], metavar="DIR",
                        help=f"also read checkpoints and run folders inside DIR (or set ${paths.ALLOW_ENV})")
    return parser.parse_known_args(sys.argv[1:])[0]


def class_session() -> session.SessionSpace:
    """This browser session's folder (uploads, recordings, runs); idle sessions' folders are removed."""
    try:
        idle = settings.class_settings().idle_minutes
    except settings.SettingError as exc:
        st.error(f"The server's settings are wrong: {exc} (docs/app.md, 'Running the app for a class')")
        st.stop()
    space = session.current()
    session.sweep(idle * 60, training_pool().active_dirs(), every=60)
    return space


@st.cache_resource(show_spinner=False)
def training_pool() -> jobs.TrainingPool:
    """One training queue for the whole server: STANER_APP_WORKERS trainings at a time."""
    s = settings.class_settings()
    return jobs.TrainingPool(s.workers, s.max_queued)


# --- cached loaders ------------------------------------------------------------------------------


@st.cache_resource(max_entries=4, show_spinner="Loading the checkpoint…")
def cached_model(path: str, mtime: float):
    return load_model(path)


@st.cache_data(show_spinner=False)
def cached_shipped_index() -> list[tuple[str, str]]:
    records, class_names = inspection.shipped_records()
    return [(r.sequence_id, class_names[r.label]) for r in records]


@st.cache_data(max_entries=4, show_spinner="Comparing the two branches on every shipped sequence…")
def cached_votes(ckpt: tuple[str, float], inputs_json: str, _model) -> dict:
    from staner_lab.data.shipped import load_shipped_samples

    samples, _ = load_shipped_samples(InputConfig.from_json(inputs_json))
    return decision.branch_votes(_model, samples)


@st.cache_data(max_entries=16, show_spinner="Preprocessing the sequence…")
def cached_shipped_view(sequence_id: str, inputs_json: str) -> inspection.SequenceView:
    records, class_names = inspection.shipped_records()
    by_id = {r.sequence_id: r for r in records}
    if sequence_id not in by_id:
        raise ValueError(f"no shipped sequence {sequence_id!r}; pick one from the list")
    return inspection.inspect_record(by_id[sequence_id], InputConfig.from_json(inputs_json),
                                     class_names=class_names)


@st.cache_data(max_entries=8, show_spinner="Finding the face and its 68 landmarks…")
def cached_media_view(keys: tuple, inputs_json: str, prep_json: str, source: str, ordered: bool,
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
def cached_analysis(ckpt: tuple[str, float], digest: str, _model, _sample) -> inspection.Analysis:
    return inspection.analyse(_model, _sample)


@st.cache_data(max_entries=32, show_spinner="Computing the attribution…")
def cached_explanation(ckpt: tuple[str, float], digest: str, method: str, _model,
                       _sample) -> explanations.Explanation:
    with limits.captum_slot():  # STANER_APP_CAPTUM attributions at a time, for the whole server
        return explanations.explain_peak(_model, _sample, method)


@st.cache_data(max_entries=8, show_spinner=False)
def cached_run_folder(path: str, mtime: float, classes: tuple[str, ...] | None):
    run = runs.read_run_folder(path, classes)
    try:
        answers = runs.run_answers(run)
    except runs.RunFolderError as exc:  # the rest of the folder can still be shown
        answers = str(exc)
    return run, runs.misclassified(run), answers


@st.cache_resource(show_spinner="Loading the shipped sequences…")
def cached_training_data():
    from staner_lab.data.shipped import load_shipped_samples

    return load_shipped_samples(preset("classroom").inputs)


@st.cache_data(ttl=5, show_spinner=False)
def cached_listing(roots: tuple[Path, ...]) -> tuple[list[str], list[str]]:
    """(checkpoints, run folders) under the allowed roots, as shown; refreshed every few seconds."""
    return ([paths.display_path(p) for p in paths.list_checkpoints(roots)],
            [paths.display_path(p) for p in paths.list_run_dirs(roots)])


def listing(roots) -> tuple[list[str], list[str]]:
    """(checkpoints, run folders): this session's own first (a few files, listed on each run), then the
    server's (one cached walk shared by every session)."""
    own = tuple(r for r in roots if r.is_relative_to(paths.sessions_root()))
    shared = cached_listing(tuple(r for r in roots if r not in own))
    return ([paths.display_path(p) for p in paths.list_checkpoints(own)] + shared[0],
            [paths.display_path(p) for p in paths.list_run_dirs(own)] + shared[1])


def chart(fig, key: str) -> None:
    """A staner_lab.viz figure as built (its projector template; Streamlit's theme would shrink fonts)."""
    st.plotly_chart(fig, theme=None, key=key, config={"displaylogo": False})


def ckpt_key(path: Path | None) -> tuple[str, float]:
    if path is None or not path.is_file():
        return ("", 0.0)
    return (str(path), path.stat().st_mtime)


# --- sidebar ---------------------------------------------------------------------------------------


def checkpoint_selector_ui(roots) -> tuple[Path | None, str | None]:
    """(checkpoint, error): shipped, one found under runs/ (and allowed folders), or a typed path."""
    found = listing(roots)[0]
    options = [SHIPPED] + [p for p in found if p != SHIPPED] + [TYPED]
    current = st.session_state.setdefault("ckpt", SHIPPED)
    if current not in options:  # e.g. a model trained a moment ago, not yet in the listing
        options.insert(1, current)
    choice = st.sidebar.selectbox("Checkpoint", options, key="ckpt",
                                  help="model.pt or last.pt of a run folder from staner-lab train / cv, or the "
                                       "classroom model trained in this app")
    if choice == SHIPPED:
        st.sidebar.caption(SHIPPED_MODEL_NOTE)
        try:
            return shipped_checkpoint(), None
        except FileNotFoundError:
            return None, None
    text = st.sidebar.text_input("Checkpoint path", key="ckpt_typed",
                                 placeholder="runs/my-run/model.pt") if choice == TYPED else choice
    try:
        return paths.validate_checkpoint_path(text, roots), None
    except paths.PathError as exc:
        return None, f"Checkpoint not used: {exc}"


def selected_model(path: Path | None):
    """(model, error message): the error explains a missing, corrupt or foreign checkpoint."""
    if path is None:
        return None, (f"The shipped checkpoint {SHIPPED} is missing. Rebuild it with the command in "
                      "data_samples/README.md, or train a classroom model in the 'Classroom training' tab and "
                      "pick it under Checkpoint. The Sequence view works without a model.")
    try:
        return cached_model(*ckpt_key(path)), None
    except CheckpointError as exc:
        return None, f"Cannot use this checkpoint: {exc}"


def input_selector_ui(model, ckpt: Path | None) -> dict:
    """The input sequence: a shipped sample, uploaded files, or webcam snapshots."""
    st.sidebar.header("Input")
    kind = st.sidebar.radio("Sequence from", SOURCES, key="source", horizontal=True)
    if kind == "Shipped sample":
        try:
            index = cached_shipped_index()
            votes = cached_votes(ckpt_key(ckpt), model.config.inputs.to_json(), model) if model is not None else {}
        except (FileNotFoundError, ValueError) as exc:
            return {"kind": "error", "error": f"The shipped sample data cannot be read: {exc}"}
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
        return {"kind": "shipped", "sequence_id": sid}
    prep = preprocessing_ui()
    if kind == "Upload":
        label = f"A video, or the frames of one sequence (≤ {uploads.MAX_UPLOAD_MB} MB)"
        files = st.sidebar.file_uploader(label, type=MEDIA_TYPES, accept_multiple_files=True, key="uploads")
        return {"kind": "upload", "files": list(files or []), "prep": prep}
    shot = st.sidebar.camera_input("Webcam snapshot (take several: neutral face first, peak last)", key="camera")
    snaps = st.session_state.setdefault("snapshots", [])  # [(file id, JPEG bytes)] in the order taken
    seen = st.session_state.setdefault("snapshot_checks", {})  # file id -> None (added) or the error
    if shot is not None and shot.file_id not in seen:
        try:
            uploads.decode_image(shot.getvalue(), f"snapshot {len(snaps) + 1}")
            snaps.append((shot.file_id, shot.getvalue()))
            seen[shot.file_id] = None
        except uploads.InputError as exc:
            seen[shot.file_id] = f"This snapshot was not added: {exc}"
    st.sidebar.caption(f"{len(snaps)} snapshot(s) in the sequence. Clear the photo above and take the next one.")
    st.sidebar.button("Start a new sequence", on_click=new_webcam_sequence, args=(snaps, seen), disabled=not snaps,
                      key="snap_clear")
    error = seen.get(shot.file_id) if shot is not None else None
    return {"kind": "webcam", "snapshots": list(snaps), "prep": prep, "error": error}


def new_webcam_sequence(snaps: list, seen: dict) -> None:
    """Empty the sequence; the photo still in the camera stays seen (not re-added), its error dismissed."""
    snaps.clear()
    seen.update(dict.fromkeys(seen))


def preprocessing_ui() -> PreprocessConfig:
    whole = st.sidebar.checkbox("Frames are already cropped to the face", key="whole_frame",
                                help="skip face detection and take the whole frame as the face box")
    peak = st.sidebar.radio("Peak frame", ["last", "displacement"], key="peak_mode", horizontal=True,
                            help="last: the sequence ends at the peak (CK+). displacement: the frame whose "
                                 "landmarks moved most from the first frame")
    return PreprocessConfig(landmarks="dlib", whole_frame_face=whole, peak=peak)


def run_folder_selector_ui(roots, ckpt: Path | None) -> Path | str | None:
    """The run folder for the Evaluation view (a path, or an error message)."""
    st.sidebar.header("Evaluation")
    found = listing(roots)[1]
    options = [FOLLOW] + found + [TYPED]
    current = st.session_state.setdefault("run", FOLLOW)
    if current not in options:
        options.insert(1, current)
    choice = st.sidebar.selectbox("Run folder", options, key="run",
                                  help="the --out folder of staner-lab train, cv or ablate")
    if choice == FOLLOW:
        if ckpt is None:
            return None
        for folder in (ckpt.parent, ckpt.parent.parent):
            if (folder / "results.json").is_file() or (folder / "table1.csv").is_file():
                return folder
        return None
    text = st.sidebar.text_input("Run folder path", key="run_typed", placeholder="runs/ck-cv") \
        if choice == TYPED else choice
    try:
        return paths.validate_run_dir(text, roots)
    except paths.PathError as exc:
        return str(exc)


def sequence_for(source: dict, inputs: InputConfig) -> tuple[inspection.SequenceView | None, str | None]:
    """(view, error message) for the chosen input."""
    try:
        if source["kind"] == "error":
            return None, source["error"]
        if source["kind"] == "shipped":
            return cached_shipped_view(source["sequence_id"], inputs.to_json()), None
        if source["kind"] == "upload":
            files = source["files"]
            if not files:
                return None, None
            keys = tuple((f.file_id, f.size) for f in files)
            data = [(f.name, f.getvalue()) for f in files]
            if st.session_state.get("_uploads_kept") != keys:  # count, size, disk; kept in this session's folder
                limits.admit_uploads(session.current(), data)
                st.session_state["_uploads_kept"] = keys
            return cached_media_view(keys, inputs.to_json(), source["prep"].to_json(), "upload", False, data)
        snaps = source["snapshots"]
        if not snaps:
            return None, source["error"]
        data = [(f"snapshot {k + 1}", b) for k, (_, b) in enumerate(snaps)]
        limits.check_uploads([(n, len(b)) for n, b in data], "webcam snapshots")
        keys = tuple(fid for fid, _ in snaps)
        view, error = cached_media_view(keys, inputs.to_json(), source["prep"].to_json(), "webcam", True, data)
        return view, error or source["error"]
    except (ValueError, FileNotFoundError, limits.LimitReached) as exc:  # InputError, FaceNotFoundError, ...
        return None, f"This input cannot be used: {exc}"


# --- views -----------------------------------------------------------------------------------------


def no_input_note(view, input_error: str | None) -> bool:
    """True (and says why) when there is no sequence to show: none chosen, or the chosen one failed."""
    if view is not None:
        return False
    if input_error:
        st.info("The chosen input cannot be used (the message above says why), so there is nothing to show here. "
                "Fix it, or choose another input in the sidebar.")
    else:
        st.info("Choose an input in the sidebar: a shipped sample, an upload (a video or frames of one face), "
                "or webcam snapshots.")
    return True


def motion_note(view: inspection.SequenceView) -> None:
    """A single still photo carries no motion for TLER to read; say so where it matters."""
    if len(view.frames) == 1:
        st.warning(f"A single still photo carries no motion: TLER reads the same frame {len(view.indices)} times, "
                   "so its vote P_L comes from the face's appearance only, not from how it moved. Upload a video or "
                   "several frames (neutral face first, peak last), or take several webcam snapshots.")


def model_view(name: str, view, input_error: str | None, model, ckpt, source: dict) -> None:
    """The Attention, LSTM or Decision tab; each needs a model and an input, and says which is missing."""
    if model is None:
        st.warning("No model loaded (the message above says why): this view needs one. Pick a checkpoint in the "
                   "sidebar.")
        return
    if no_input_note(view, input_error):
        return
    analysis = cached_analysis(ckpt_key(ckpt), decision.sample_digest(view.sample), model, view.sample)
    if name == "Attention":
        attention_view(view, analysis, model, ckpt)
    elif name == "LSTM":
        motion_note(view)
        lstm_view(analysis)
        if model.tler is not None:
            health_view(ckpt, model)
    else:
        motion_note(view)
        decision_view(analysis, view.true_label)
        if source["kind"] in ("upload", "webcam"):
            stream_view(view, model, ckpt, source["prep"])


def sequence_view(view: inspection.SequenceView | None, input_error: str | None) -> None:
    if no_input_note(view, input_error):
        return
    motion_note(view)
    N, H, W = view.frames.shape
    T = len(view.indices)
    st.markdown(f"**{view.source}** — {N} frame{'s' if N > 1 else ''} of {W}×{H} px; peak = frame {view.peak + 1}; "
                f"TLER reads T = {T} frames from the first to the peak"
                + (f"; true class **{view.true_label}**" if view.true_label else ""))
    chart(viz.frames_figure(view.frames, view.landmarks, view.boxes, view.indices, view.peak),
                    key="frames_chart")
    chart(viz.filmstrip_figure(view.sample.regions, view.indices), key="filmstrip_chart")


@st.fragment
def attention_view(view, analysis: inspection.Analysis, model, ckpt) -> None:
    if analysis.attention == "none":
        st.info(f"This {model.config.variant} model has no attention module (ablation C1, C2 or C4): no M to show.")
        return
    if analysis.attention == "channel":
        chart(viz.channel_attention_figure(analysis.M), key="channel_chart")
        return
    left, right = st.columns(2)
    with left:
        opacity = st.slider("Opacity of M", 0.0, 1.0, 0.5, 0.05, key="opacity")
        chart(viz.attention_figure(view.sample.peak, analysis.M, opacity), key="attention_chart")
        st.caption("Eq. 1–2: M = σ(Conv(U)) weights each position of the front-end features, F = (1 + M) ⊗ U.")
    with right:
        methods = explanations.peak_methods()
        if not methods:
            st.info("Attributions need staner_lab.explain (captum), which this installation lacks.")
            return
        method = st.selectbox("Attribution method (captum)", methods, key="attr_method",
                              format_func=lambda m: m.replace("_", " "))
        try:
            ex = cached_explanation(ckpt_key(ckpt), decision.sample_digest(view.sample), method, model, view.sample)
        except (ValueError, RuntimeError) as exc:
            st.error(f"Attribution failed: {exc}")
            return
        chart(viz.attribution_overlay_figure(view.sample.peak, ex.map, signed=ex.signed,
                                             title=f"{method.replace('_', ' ').capitalize()}, P_G({ex.target})"),
              key="attribution_chart")
        rho = "n/a (a map is constant)" if ex.agreement is None or math.isnan(ex.agreement) else f"{ex.agreement:+.2f}"
        st.metric("Agreement with M (Spearman ρ of M and |attribution|)", rho)


@st.fragment
def lstm_view(analysis: inspection.Analysis) -> None:
    if not analysis.lstm:
        st.info("This model has no TLER branch (ablation C1 or C3): no LSTM to show.")
        return
    region = st.radio("Region", list(analysis.lstm), key="lstm_region", horizontal=True)
    g = analysis.lstm[region]
    chart(viz.states_figure(g["h"], g["c"], region), key="states_chart")
    chart(viz.gates_figure(g["f"], g["i"], g["o"], region), key="gates_chart")
    gate = st.radio("Mean gate of every region", ["f", "i", "o"], key="lstm_gate", horizontal=True,
                    format_func={"f": "forget f", "i": "input i", "o": "output o"}.get)
    chart(viz.gate_means_figure(analysis.lstm, gate), key="gate_means_chart")


@st.cache_data(max_entries=4, show_spinner="Measuring the training health on the shipped sequences…")
def cached_health(ckpt: tuple[str, float], inputs_json: str, _model) -> health.HealthReport:
    from staner_lab.data.shipped import load_shipped_samples

    samples, _ = load_shipped_samples(InputConfig.from_json(inputs_json))
    return health.health_report(_model, *batch_tensors(samples[:70]))


def health_view(ckpt, model) -> None:
    box = st.expander("Training health: is every region alive? (staner-lab health)", key="health_open",
                      on_change="rerun")
    if not box.open:  # measured on 70 sequences: only when asked for
        return
    with box:
        st.caption("On the 70 shipped sequences. Input drive = how much the frame features move the gates "
                   "(std of W x_t); near 0, the gates sit at sigmoid(bias) at every step and the region is dead. "
                   "Spread over t = how much the mean gate moves from frame to frame.")
        report = cached_health(ckpt_key(ckpt), model.config.inputs.to_json(), model)
        st.dataframe(health.region_rows(report), hide_index=True)
        if report.sgaer is not None and report.sgaer.M_min is not None:
            st.write(f"Attention M spans {report.sgaer.M_min:.2f}–{report.sgaer.M_max:.2f} "
                     f"(spread over positions {report.sgaer.M_spatial_std:.3f}). Made flat (each face's M "
                     f"replaced by its mean), it moves P_G by {report.sgaer.flat_M_shift:.3f} on average "
                     "(total variation, 0–1): near 0, the decision does not use where M points.")
        dead = health.dead_regions(report)
        (st.warning if dead else st.success)(
            f"Dead: {', '.join(dead)}" if dead else "Every region passes a signal to its LSTM.")


def decision_view(analysis: inspection.Analysis, true_label: str | None) -> None:
    st.latex(r"P = \alpha\,P_G + (1-\alpha)\,P_L, \qquad O = \arg\max_C P(C) \quad\text{(Eq. 14)}")
    decision_panel(analysis, true_label)


@st.cache_data(max_entries=8, show_spinner="Streaming the frames one at a time…")
def cached_stream(ckpt: tuple[str, float], digest: str, prep_json: str, _model, _frames) -> streaming.StreamTrace:
    return streaming.stream_trace(_model, _frames, PreprocessConfig.from_json(prep_json))


def stream_view(view: inspection.SequenceView, model, ckpt, prep: PreprocessConfig) -> None:
    """Live recognition (staner_lab.live.recognizer): the decision after every frame, LSTM state carried."""
    with st.expander("Frame by frame: the streaming recogniser (as in `staner-lab live`)"):
        digest = hashlib.sha256(view.frames.tobytes()).hexdigest()
        try:
            trace = cached_stream(ckpt_key(ckpt), digest, prep.to_json(), model, view.frames)
        except ValueError as exc:
            st.error(f"Streaming is not possible on this input: {exc}")
            return
        chart(viz.stream_figure(trace.class_names, trace.P, trace.resets), key="stream_chart")
        st.caption("Each frame costs one CNN pass per region and one LSTM step; SGAER re-runs on the peak so far.")


@st.fragment
def decision_panel(analysis: inspection.Analysis, true_label: str | None) -> None:
    """Only this part reruns when α moves: Eq. 14 on the cached P_G and P_L, no model run."""
    t0 = time.perf_counter()
    both = analysis.P_G is not None and analysis.P_L is not None
    alpha = st.slider("α, the weight of SGAER (peak face) in Eq. 14", 0.0, 1.0, float(analysis.alpha), 0.05,
                      key="alpha", disabled=not both)
    if not both:
        st.info("This model has one branch only (an ablation variant): α has no effect.")
        alpha = analysis.alpha
    P = inspection.fuse(analysis, alpha)
    st.subheader(f"Fused decision: {decision.describe_decision(analysis.class_names, P, alpha)}")
    chart(viz.probability_figure(analysis.class_names, P, alpha, analysis.P_G, analysis.P_L, true_label),
          key="decision_chart")
    st.caption(f"Recomputed from the cached P_G and P_L in {1000 * (time.perf_counter() - t0):.0f} ms on the server "
               "(no model run).")


def evaluation_view(run_dir: Path | str | None, model) -> None:
    if isinstance(run_dir, str):
        st.error(f"Run folder not used: {run_dir}")
        return
    if run_dir is None:
        st.info("The selected checkpoint has no results.json beside it. Pick a run folder in the sidebar (the --out "
                "folder of staner-lab train, cv or ablate), or train a classroom model in the 'Classroom training' tab.")
        return
    classes = tuple(model.config.class_names) if model is not None else None
    try:
        mtime = max(p.stat().st_mtime for p in run_dir.iterdir())
        run, wrong, answers = cached_run_folder(str(run_dir), mtime, classes)
    except (runs.RunFolderError, OSError) as exc:
        st.error(str(exc))
        return
    evaluation_panel(run, wrong, answers)


def calibration_panel(answers) -> None:
    """Each branch's accuracy, recall and calibration on the run's test answers (training/report.py)."""
    st.subheader("How far each branch can be trusted")
    if isinstance(answers, str):
        st.warning(answers)
        return
    st.caption("A branch that is often wrong but sure of itself outvotes a better one in Eq. 14. ECE: the gap "
               "between how sure a branch is and how often it is right (0 = calibrated); bars below the diagonal "
               "are over-confident answers. Command line: staner-lab evaluate --run RUN (or --checkpoint CKPT "
               "--data DIR for any data folder).")
    st.dataframe(branch_rows(answer_report(answers)), hide_index=True)
    chart(viz.reliability_figure(reliabilities(answers), "Reliability of the test answers"),
          key="reliability_chart")


@st.fragment
def evaluation_panel(run: runs.RunFolder, wrong: list[dict], answers) -> None:
    head = f"**{paths.display_path(run.path)}**" + (f" — {run.variant}" if run.variant else "")
    if run.accuracy is not None:
        head += f": accuracy {100 * run.accuracy:.1f}%" + (f" ± {100 * run.accuracy_std:.1f}" if run.accuracy_std
                                                            is not None else "")
    st.markdown(head)
    if run.confusion is not None:
        names = run.class_names
        which = ["summed over folds"] + [f"fold {k}" for k in range(len(run.folds))] if run.folds else ["held out"]
        pick = st.radio("Confusion matrix", which, key="eval_fold", horizontal=True)
        cm = run.confusion if pick in ("summed over folds", "held out") else run.folds[int(pick.split()[1])]
        counts, normalised = viz.confusion_pair(cm, names, f" ({pick})")
        left, right = st.columns(2)
        with left:
            chart(counts, key="cm_counts")
        with right:
            chart(normalised, key="cm_norm")
        chart(viz.recall_figure(names, run.recall), key="recall_chart")
    if run.table1:
        chart(viz.ablation_figure(run.table1), key="ablation_chart")
        st.dataframe([{"method": r["method"], "accuracy (%)": round(100 * r["accuracy_mean"], 2),
                       "± std": round(100 * r["accuracy_std"], 2), "folds": r["folds"]} for r in run.table1])
        if run.claims:
            st.markdown("**The paper's claims, tested on paired folds** (95 % interval of the mean difference, "
                        "corrected for overlapping training sets; docs/training.md)")
            st.dataframe(list(run.claims), hide_index=True)
    if run.metrics:
        chart(viz.training_curves_figure(run.metrics), key="curves_chart")
    if answers is not None:
        calibration_panel(answers)
    if wrong:
        st.subheader(f"Misclassified test sequences ({len(wrong)})")
        st.dataframe(wrong, hide_index=True)


def training_view() -> None:
    st.markdown("Train the **classroom** model on the shipped synthetic sequences or on the class's own webcam "
                "recordings (some subjects held out). "
                "The default 10 epochs take well under a minute on a 2-core CPU; the run is written to "
                f"`{paths.display_path(session.session_dir('runs'))}/app-<timestamp>/` (your session's folder) "
                "and can be picked as a checkpoint. The server trains a few models at a time; others wait in a queue.")
    job: jobs.TrainingJob | None = st.session_state.get("train_job")
    running = job is not None and job.running
    st.radio("Train on", TRAINING_DATA, key="train_data", horizontal=True, disabled=running,
             help="The class's recordings are the sequences saved with Record in the Live tab "
                  f"(`{paths.display_path(recording.recordings_root())}`); faces are found with dlib.")
    c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
    c1.number_input("Epochs", 1, 200, 10, key="train_epochs", disabled=running)
    c2.button("Train", type="primary", on_click=start_training, disabled=running, key="train_start")
    c3.button("Cancel" if running and job.status == "queued" else "Stop", on_click=job.stop if running else None,
              disabled=not running, key="train_stop")
    # Every 2 s, not 1: redrawing the live chart competes with training for the CPU (docs/app.md).
    st.fragment(training_progress, run_every=2.0 if running else None)()


def start_training() -> None:
    try:
        if st.session_state.get("train_data", TRAINING_DATA[0]) == TRAINING_DATA[1]:
            samples, class_names = recording.load_recordings(preset("classroom").inputs)
        else:
            samples, class_names = cached_training_data()
    except (FileNotFoundError, ValueError) as exc:
        st.session_state["train_error"] = f"Cannot train: {exc}"
        return
    st.session_state.pop("train_error", None)
    try:
        limits.check_disk(8 * 2**20)  # model.pt and last.pt of a classroom run
        st.session_state["train_job"] = training_pool().submit(samples, class_names, st.session_state["train_epochs"],
                                                               root=session.session_dir("runs"))
    except (jobs.QueueFull, limits.LimitReached) as exc:
        st.session_state["train_error"] = f"Cannot train now: {exc}"


def training_progress() -> None:
    if st.session_state.get("train_error"):
        st.error(st.session_state["train_error"])
    job: jobs.TrainingJob | None = st.session_state.get("train_job")
    if job is None:
        return
    done = len(job.history)
    place = training_pool().position(job)
    state = {"running": "stopping after this epoch…" if job.stopping else "training…", "done": "finished",
             "stopped": "stopped", "failed": "failed", "cancelled": "cancelled",
             "queued": f"waiting: place {place} in the queue, {training_pool().workers} training(s) at a time "
                       "(Cancel leaves the queue)"}[job.status]
    st.progress(done / job.epochs,
                text=f"{paths.display_path(job.run_dir)}: epoch {done}/{job.epochs} — {state}")
    if job.history:
        chart(viz.training_curves_figure(job.history, title="Live training curves"), key="live_curves")
    if job.status == "failed":
        st.error(f"Training failed: {job.error}")
    elif not job.running and job.result is not None:
        acc = job.result.accuracy
        st.success(f"{'Stopped' if job.result.stopped else 'Finished'} after {len(job.history)} epoch(s); "
                   f"held-out accuracy {100 * acc:.1f}%. " if acc is not None else "Training ended. ")
        if st.button("Use this model", key="train_use", type="primary"):
            # A click inside this fragment reruns only the fragment; the checkpoint list is in the sidebar,
            # so hand the choice to main() (it sets the widget before drawing it) and rerun the whole page.
            st.session_state["_use_ckpt"] = paths.display_path(job.result.checkpoint)
            st.rerun(scope="app")
        if st.session_state.get("_train_seen") != str(job.run_dir):
            st.session_state["_train_seen"] = str(job.run_dir)
            cached_listing.clear()
            st.rerun()  # the whole page: the new checkpoint appears in the sidebar, polling stops


if __name__ == "__main__":
    main()
