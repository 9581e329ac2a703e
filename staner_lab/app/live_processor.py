"""One browser session's live recognition: the video processor of the Live view (streamlit-webrtc).

streamlit-webrtc calls :meth:`LiveProcessor.recv_queued` on its own worker thread with every frame
that arrived since the last call. Only the newest is recognised (``StreamingRecognizer.update``,
LSTM state carried); the others are dropped and counted, so a slow model never builds a queue.
A recording holds the frames of one sequence: frames with a face, from the start of recording
(which starts a new sequence); when the face is lost it starts over with the next sequence.
The page reads :meth:`LiveProcessor.snapshot` from the script thread; requests from the page
(reset, record) are flags that the worker applies before its next frame, so the recogniser is only
ever touched by one thread.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time

import av
import numpy as np
from streamlit_webrtc import VideoProcessorBase

from staner_lab.app.recording import MAX_FRAMES
from staner_lab.config import PreprocessConfig
from staner_lab.live.annotate import annotate
from staner_lab.live.recognizer import FrameResult, StreamingRecognizer
from staner_lab.models.staner import STANER

__all__ = ["LiveProcessor", "LiveSnapshot"]

LOG = logging.getLogger(__name__)

#: Gate traces cover the last this many seconds; rates are measured over the last RATE_S seconds.
HISTORY_S = 5.0
RATE_S = 2.0


@dataclasses.dataclass(frozen=True)
class LiveSnapshot:
    """What the page shows, copied under the lock.

    Attributes:
        result: the newest FrameResult (None before the first frame).
        received, processed: frames that arrived from the browser / that the model recognised;
            ``dropped = received - processed``.
        camera_fps, displayed_fps: frames per second that arrived / that were recognised and sent
            back annotated, over the last RATE_S seconds.
        model_fps: 1 / the mean time of one ``update`` over the last 30 frames (what the model could do).
        gate_history: {region: {"f", "i", "o": (T, N)}} over the last HISTORY_S seconds of the sequence.
        recording: frames held for the current recording (None when not recording).
        ended: the stream ended (Stop pressed, tab closed, connection lost).
    """

    result: FrameResult | None
    received: int
    processed: int
    camera_fps: float
    displayed_fps: float
    model_fps: float
    gate_history: dict[str, dict[str, np.ndarray]]
    recording: int | None
    ended: bool

    @property
    def dropped(self) -> int:
        return self.received - self.processed


class LiveProcessor(VideoProcessorBase):
    """Recognise the newest frame of a WebRTC video track and send it back annotated.

    Args:
        model: the STANER to run (shared, read-only).
        prep: face options (``whole_frame_face`` ...); see :class:`StreamingRecognizer`.
        recording: start recording from the first frame.
    """

    def __init__(self, model: STANER, prep: PreprocessConfig | None = None, recording: bool = False) -> None:
        # No reset_after: a sequence runs from Reset (or Record, or a lost face) until the next one,
        # so a recording is exactly one sequence.
        self._rec = StreamingRecognizer(model, prep or PreprocessConfig(), reset_after=None)
        self._lock = threading.Lock()
        self._reset_asked = False
        self._record_asked = recording
        self._recorded: list[np.ndarray] | None = None
        self._recorded_result: FrameResult | None = None
        self._received = self._processed = 0
        self._arrivals: collections.deque[float] = collections.deque()
        self._shown: collections.deque[float] = collections.deque()
        self._costs: collections.deque[float] = collections.deque(maxlen=30)
        self._gates: collections.deque[tuple[float, dict]] = collections.deque()
        self._result: FrameResult | None = None
        self._ended = False

    # --- called from the page (script thread) --------------------------------------------------

    def reset(self) -> None:
        """Start a new sequence at the next frame (LSTM state, boxes and peak forgotten)."""
        with self._lock:
            self._reset_asked = True

    def start_recording(self) -> None:
        """Record from the next frame on, which also starts a new sequence."""
        with self._lock:
            self._record_asked = True

    def stop_recording(self) -> tuple[list[np.ndarray], FrameResult | None]:
        """Stop recording: the BGR frames recorded (what the recogniser saw, oldest first) and the
        result of the last one (None when nothing was recorded)."""
        with self._lock:
            frames, last = self._recorded or [], self._recorded_result
            self._recorded, self._recorded_result, self._record_asked = None, None, False
        return frames, last

    def snapshot(self) -> LiveSnapshot:
        with self._lock:
            now = time.monotonic()
            cost = float(np.mean(self._costs)) if self._costs else 0.0
            gates: dict[str, dict[str, np.ndarray]] = {}
            for _, g in self._gates:
                for region, values in g.items():
                    for k, v in values.items():
                        gates.setdefault(region, {}).setdefault(k, []).append(v)
            return LiveSnapshot(
                result=self._result, received=self._received, processed=self._processed,
                camera_fps=_rate(self._arrivals, now), displayed_fps=_rate(self._shown, now),
                model_fps=1.0 / cost if cost > 0 else 0.0,
                gate_history={r: {k: np.stack(v) for k, v in g.items()} for r, g in gates.items()},
                recording=None if self._recorded is None else len(self._recorded), ended=self._ended)

    # --- called by streamlit-webrtc (its worker thread) -----------------------------------------

    async def recv_queued(self, frames: list[av.VideoFrame]) -> list[av.VideoFrame]:
        now = time.monotonic()
        with self._lock:
            self._received += len(frames)
            self._arrivals.extend([now] * len(frames))
            _rate(self._arrivals, now)  # keep only the last RATE_S seconds
            _rate(self._shown, now)
            reset = self._reset_asked or (self._record_asked and self._recorded is None)
            if self._record_asked and self._recorded is None:
                self._recorded = []
            self._reset_asked = False
        if reset:
            self._rec.reset()
        image = frames[-1].to_ndarray(format="bgr24")  # the newest frame; the rest are dropped
        t0 = time.perf_counter()
        result = self._rec.update(image)
        cost = time.perf_counter() - t0
        with self._lock:
            if self._recorded is not None and result.face_found:
                if result.reset:  # a recording is one sequence: after a lost face it starts over
                    self._recorded = []
                if len(self._recorded) < MAX_FRAMES:
                    self._recorded.append(image.copy())
                    self._recorded_result = result
            if result.reset:
                self._gates.clear()
            if result.gates is not None:
                self._gates.append((now, result.gates))
            while self._gates and self._gates[0][0] < now - HISTORY_S:
                self._gates.popleft()
            self._processed += 1
            self._shown.append(now)
            self._costs.append(cost)
            self._result = result
        out = av.VideoFrame.from_ndarray(annotate(image, result), format="bgr24")
        return [out]

    def on_ended(self) -> None:
        with self._lock:
            self._ended = True  # a recording in progress stays, for the page to save or drop
        # streamlit-webrtc calls this after joining its worker thread: no frame is processed after it
        LOG.warning("live: stream ended, worker stopped (%d frames received, %d recognised)", self._received,
                    self._processed)


def _rate(times: collections.deque[float], now: float) -> float:
    """Events per second over the last RATE_S seconds (drops older entries)."""
    while times and times[0] < now - RATE_S:
        times.popleft()
    return len(times) / RATE_S
