"""The Live tab: the browser's camera streamed through STANER over WebRTC (streamlit-webrtc).

The browser sends its camera to the app server itself (no media server, no STUN/TURN server: ICE
uses the host's own addresses, which works on localhost and on a LAN); every frame the model can
keep up with goes through :class:`~staner_lab.app.live_processor.LiveProcessor` and comes back
annotated. One processor per browser session; streamlit-webrtc stops it when the tab closes.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import streamlit as st

from staner_lab import viz
from staner_lab.app import paths
from staner_lab.app.recording import MAX_FRAMES, RecordingError, save_recording
from staner_lab.app.views.context import ViewContext
from staner_lab.config import PreprocessConfig

if TYPE_CHECKING:
    from staner_lab.app.live_processor import LiveProcessor

__all__ = ["RTC_CONFIGURATION", "render"]

#: No ICE servers at all: no public STUN, nothing leaves the app's host or LAN.
RTC_CONFIGURATION = {"iceServers": []}
MEDIA = {"video": {"width": {"ideal": 640}, "height": {"ideal": 480}, "frameRate": {"ideal": 30}}, "audio": False}
PROC = "_live_processor"  # session state: this session's newest processor (kept after Stop, to save a recording)


def render(ctx: ViewContext) -> None:
    model = ctx.model
    # imported when the tab opens: aiortc and av add 0.4 s to every page's first run otherwise
    from streamlit_webrtc import WebRtcMode, webrtc_streamer

    from staner_lab.app.live_processor import LiveProcessor

    st.markdown("Your own face, live: press **Start** and allow the camera. The video comes back with the face and "
                "region boxes; beside it, the fused decision and both branches' votes, the LSTM gates of the last "
                "seconds and the peak face with its attention map. A browser without WebRTC (or camera access) can "
                "still take webcam snapshots: sidebar → Input → Webcam.")
    if model is None:
        st.warning("No model loaded (the message above says why): the Live view needs one. Pick a checkpoint in the "
                   "sidebar.")
        return
    class_names = tuple(model.config.class_names)
    c1, c2, c3, c4 = st.columns([2, 2, 1, 1], vertical_alignment="bottom")
    c1.selectbox("True class of the recording", class_names, key="live_label",
                 help="the expression you will make; the recording is saved under this class")
    c2.text_input("Student (name or id)", "student", key="live_student", max_chars=32,
                  help="the subject id of the recording (kept apart in subject-independent folds)")
    c3.toggle("Record", key="live_record", on_change=_record_changed, args=(class_names,),
              help=f"save the frames the model sees (at most {MAX_FRAMES}) as a sequence folder on this machine "
                   "when you switch this off; recording starts a new sequence")
    c4.button("Reset", key="live_reset", on_click=_reset, help="start a new sequence: LSTM state, boxes and peak")
    video, status = st.columns([3, 2])
    with video:
        ctx = webrtc_streamer(
            key="live", mode=WebRtcMode.SENDRECV, rtc_configuration=RTC_CONFIGURATION, media_stream_constraints=MEDIA,
            video_processor_factory=functools.partial(LiveProcessor, model, PreprocessConfig(landmarks="dlib"),
                                                      recording=bool(st.session_state.get("live_record"))),
            async_processing=True)
    if ctx.video_processor is not None:
        st.session_state[PROC] = ctx.video_processor
    with status:
        st.fragment(live_status, run_every=1.0 if ctx.state.playing else None)()


def _reset() -> None:
    proc: LiveProcessor | None = st.session_state.get(PROC)
    if proc is not None:
        proc.reset()


def _record_changed(class_names: tuple[str, ...]) -> None:
    proc: LiveProcessor | None = st.session_state.get(PROC)
    if st.session_state["live_record"]:
        st.session_state.pop("live_saved", None)
        if proc is not None:  # else the next Start records from its first frame
            proc.start_recording()
        return
    frames, last = proc.stop_recording() if proc is not None else ([], None)
    try:
        path = save_recording(frames, st.session_state["live_label"], class_names, st.session_state["live_student"])
    except (RecordingError, OSError) as exc:
        st.session_state["live_saved"] = ("error", f"Recording not saved: {exc}")
        return
    decided = "" if last is None or not last.face_found else (
        f" The model's decision at its last frame: {last.predicted} (P = {float(last.P[last.prediction]):.3f}).")
    st.session_state["live_saved"] = ("ok", (f"Saved {len(frames)} frames to {paths.display_path(path)} (on this "
                                             f"machine only).{decided}"))


def live_status() -> None:
    """The last recording's outcome, then the decision, rates, gate traces and peak face of this session's stream
    (a fragment, rerun every second while the stream plays)."""
    # Here, not above the video: an element appearing there would remount the video (and stop it). And a
    # fragment: while the stream plays, the fragment's rerun every second draws it even when the full rerun
    # after switching Record off did not reach the page (on a loaded machine, in CI and once here in 5 runs,
    # the folder was written and the message never appeared).
    saved = st.session_state.get("live_saved")
    if saved is not None:
        (st.success if saved[0] == "ok" else st.error)(saved[1])
    proc: LiveProcessor | None = st.session_state.get(PROC)
    if proc is None:
        st.info("Press Start to stream your camera.")
        return
    s = proc.snapshot()
    st.markdown(f"Displayed **{s.displayed_fps:.1f} fps** · model {s.model_fps:.0f} fps · camera "
                f"{s.camera_fps:.1f} fps · **dropped {s.dropped}** of {s.received} frames"
                + (f" · **recording: {s.recording} frames**" if s.recording is not None else "")
                + (" · stream stopped" if s.ended else ""))
    r = s.result
    if r is None:
        return
    if not r.face_found:
        st.subheader("Live decision: no face in view")
        return
    p = float(r.P[r.prediction])
    st.subheader(f"Live decision after frame {r.seq_index + 1} of sequence {r.sequence}: {r.predicted} (P = {p:.3f})")
    votes = viz.probability_figure(r.class_names, r.P, r.alpha, r.P_G, r.P_L)
    # a narrow column: the legend under the bars, not over the title
    votes.update_layout(legend={"y": -0.22, "yanchor": "top"}, margin={"t": 70, "b": 150})
    _chart(votes, "live_decision")
    if r.peak_face is not None and r.M is not None:
        _chart(viz.attention_figure(r.peak_face, r.M, title=f"Peak face (frame {r.peak_index + 1}) and M"),
               "live_attention")
    if s.gate_history:
        gate = st.radio("Gate", ["f", "i", "o"], key="live_gate", horizontal=True,
                        format_func={"f": "forget f", "i": "input i", "o": "output o"}.get)
        fig = viz.gate_means_figure(s.gate_history, gate)
        fig.update_layout(xaxis={"dtick": None, "title": {"text": "frame (last few seconds of this sequence)"}})
        _chart(fig, "live_gates")


def _chart(fig, key: str) -> None:
    st.plotly_chart(fig, theme=None, key=key, config={"displaylogo": False})
