"""The Classroom training tab: train the classroom model on the shipped sequences or the class's own
recordings in a background job (the server's queue), with live curves and "Use this model"."""

from __future__ import annotations

import streamlit as st

from staner_lab import viz
from staner_lab.app import cached, jobs, limits, paths, recording, session, sidebar
from staner_lab.app.views.common import chart
from staner_lab.app.views.context import ViewContext
from staner_lab.config import preset

TRAINING_DATA = ["the shipped synthetic sequences", "the class's webcam recordings"]


def render(ctx: ViewContext) -> None:
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
    c2.button("Train", type="primary", on_click=_start, disabled=running, key="train_start")
    c3.button("Cancel" if running and job.status == "queued" else "Stop", on_click=job.stop if running else None,
              disabled=not running, key="train_stop")
    # Every 2 s, not 1: redrawing the live chart competes with training for the CPU (docs/app.md).
    st.fragment(_progress, run_every=2.0 if running else None)()


def _start() -> None:
    try:
        if st.session_state.get("train_data", TRAINING_DATA[0]) == TRAINING_DATA[1]:
            samples, class_names = recording.load_recordings(preset("classroom").inputs)
        else:
            samples, class_names = cached.training_data()
    except (FileNotFoundError, ValueError) as exc:
        st.session_state["train_error"] = f"Cannot train: {exc}"
        return
    st.session_state.pop("train_error", None)
    try:
        limits.check_disk(8 * 2**20)  # model.pt and last.pt of a classroom run
        st.session_state["train_job"] = cached.training_pool().submit(
            samples, class_names, st.session_state["train_epochs"], root=session.session_dir("runs"))
    except (jobs.QueueFull, limits.LimitReached) as exc:
        st.session_state["train_error"] = f"Cannot train now: {exc}"


def _progress() -> None:
    if st.session_state.get("train_error"):
        st.error(st.session_state["train_error"])
    job: jobs.TrainingJob | None = st.session_state.get("train_job")
    if job is None:
        return
    done = len(job.history)
    pool = cached.training_pool()
    state = {"running": "stopping after this epoch…" if job.stopping else "training…", "done": "finished",
             "stopped": "stopped", "failed": "failed", "cancelled": "cancelled",
             "queued": f"waiting: place {pool.position(job)} in the queue, {pool.workers} training(s) at a time "
                       "(Cancel leaves the queue)"}[job.status]
    st.progress(done / job.epochs, text=f"{paths.display_path(job.run_dir)}: epoch {done}/{job.epochs} — {state}")
    if job.history:
        chart(viz.training_curves_figure(job.history, title="Live training curves"), key="live_curves")
    if job.status == "failed":
        st.error(f"Training failed: {job.error}")
    elif not job.running and job.result is not None:
        acc = job.result.accuracy
        st.success(f"{'Stopped' if job.result.stopped else 'Finished'} after {len(job.history)} epoch(s); "
                   f"held-out accuracy {100 * acc:.1f}%. " if acc is not None else "Training ended. ")
        if st.button("Use this model", key="train_use", type="primary"):
            # a click inside this fragment reruns only the fragment; the checkpoint list is in the sidebar,
            # so the sidebar takes the choice on the next whole-page run
            sidebar.use_checkpoint(paths.display_path(job.result.checkpoint))
            st.rerun(scope="app")
        if st.session_state.get("_train_seen") != str(job.run_dir):
            st.session_state["_train_seen"] = str(job.run_dir)
            cached.forget_listing()
            st.rerun()  # the whole page: the new checkpoint appears in the sidebar, polling stops
