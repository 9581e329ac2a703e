"""Live recognition, frame by frame, carrying the LSTM state (GitHub issue 8).

:class:`StreamingRecognizer` takes one frame at a time (a video file, a camera, a webcam snapshot)
and returns a :class:`FrameResult` per frame: face box, landmarks, region boxes, P_G, P_L and the
fused P of Eq. 14. A new frame costs one shape-predictor call (the face is *tracked*, the HOG
detector runs only when the face is lost), one small CNN pass per region and one explicit LSTM
step (Eq. 5-10) per region; SGAER runs only when the peak frame changes.

What equals the batch model (``tests/live/test_stream.py`` checks it to 1e-5):

- landmarks: :class:`~staner_lab.data.dlib_landmarks.FaceTracker` is the loop of ``DlibBackend.detect``;
- P_L at sequence frame t equals ``model.tler`` on the crops of frames 0..t of the sequence, cut
  with the region boxes that the frame's result reports (every frame, no temporal resampling);
- P_G equals ``model.sgaer`` on the aligned peak face, the peak being
  ``choose_peak(landmarks 0..t, "displacement")`` (with ``peak_every=1``);
- so P at the end of a sequence equals ``model(peak, regions)`` on those inputs.

What differs from ``preprocess_sequence`` (a stream cannot see the future): region boxes are fitted
on the first ``box_frames`` frames of a sequence, not on all of them (during those first frames the
boxes are re-fitted on every frame and the LSTM re-run from the sequence start, so the equality
above holds at every frame); every frame is fed instead of ``inputs.frames`` frames sampled between
the first frame and the peak; the peak is the most displaced frame *so far*; with
``InputConfig.stabilise`` (the default) every frame is warped onto the sequence's *first* frame (the
batch pipeline warps onto the peak), and the crops are cut from the warped frames. See ``docs/live.md``.

>>> rec = StreamingRecognizer(model)            # doctest: +SKIP
>>> for frame in VideoSource("clip.mp4"):       # doctest: +SKIP  (staner_lab.live.video)
...     r = rec.update(frame)                   # BGR from OpenCV; update(rgb, color="rgb") for RGB
...     print(r.index, r.predicted, r.P)
"""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Iterable, Iterator
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from staner_lab import functional as Fn
from staner_lab.config import REGIONS, PreprocessConfig
from staner_lab.data.align import align_face
from staner_lab.data.dlib_landmarks import DlibBackend
from staner_lab.data.faces import FaceNotFoundError, to_gray
from staner_lab.data.regions import Box, crop_regions, sequence_region_boxes
from staner_lab.data.stabilise import warp_onto
from staner_lab.models.staner import STANER

__all__ = [
    "FrameResult",
    "StreamingRecognizer",
    "recognize_frames",
]

Color = Literal["bgr", "rgb"]
ResetReason = Literal["start", "face_lost", "reset_after", "frame_size"]


@dataclasses.dataclass(frozen=True, eq=False)  # eq=False: numpy fields
class FrameResult:
    """What :meth:`StreamingRecognizer.update` returns for one frame.

    On a frame without a face only ``index``, ``face_found`` (False), ``detected`` and
    ``class_names`` are set; everything else is None / False.

    Attributes:
        index: frame number since the recognizer was created or :meth:`~StreamingRecognizer.reset`.
        face_found: a face (landmarks) was found on this frame.
        detected: the HOG face detector ran on this frame (else the face was tracked).
        sequence: number of the current sequence (0, 1, ...): a new one starts after a reset.
        seq_index: frame number t within the sequence (0 on its first frame).
        reset: this frame starts a new sequence (LSTM state, end-conv window, region boxes, peak
            and the frame counter were cleared before it); ``seq_index == 0`` exactly then.
        reset_reason: why, on a reset frame: "start" (first face after creation or ``reset()``),
            "face_lost" (the face was lost on an earlier frame), "reset_after" (the previous
            sequence reached ``reset_after`` frames) or "frame_size" (the frame size changed).
        face_box: (4,) float64 (x0, y0, x1, y1) box the shape predictor used, frame pixels.
        landmarks: (68, 2) float32 (x, y), frame pixels.
        region_boxes: {region: (x0, y0, x1, y1)} boxes the region crops were cut with; all frames
            0..t of the sequence were cropped with these boxes (None without TLER). With
            stabilisation the boxes are in the first frame's head position, as the warped frames.
        P_G, P_L, P: (K,) float32 SGAER (Eq. 3), TLER (Eq. 12) and fused (Eq. 14) probabilities;
            P_G / P_L are None when the model lacks that branch.
        alpha: the fusion weight used.
        predicted: the class name of argmax P (Eq. 14).
        peak_index: sequence frame whose aligned face gave P_G (None without SGAER).
        sgaer_ran: SGAER ran on this frame (the peak changed).
        class_names: the model's class names, in the order of P.
        gates: {region: {"f", "i", "o": (N,) float32}}: the LSTM gates (Eq. 5, 6, 8) of this frame's
            step (None without TLER).
        peak_face: (S, S) float32 aligned peak face SGAER read; M: its (h, w) spatial attention map
            (Eq. 1), None for channel or no attention. The same arrays until SGAER runs again.
    """

    index: int
    face_found: bool
    detected: bool
    class_names: tuple[str, ...]
    sequence: int | None = None
    seq_index: int | None = None
    reset: bool = False
    reset_reason: ResetReason | None = None
    face_box: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    region_boxes: dict[str, Box] | None = None
    P_G: np.ndarray | None = None
    P_L: np.ndarray | None = None
    P: np.ndarray | None = None
    alpha: float | None = None
    predicted: str | None = None
    peak_index: int | None = None
    sgaer_ran: bool = False
    gates: dict[str, dict[str, np.ndarray]] | None = None
    peak_face: np.ndarray | None = None
    M: np.ndarray | None = None

    @property
    def prediction(self) -> int | None:
        """Index of the predicted class, or None without a face."""
        return None if self.P is None else int(np.argmax(self.P))

    def probabilities(self, which: Literal["P", "P_G", "P_L"] = "P") -> dict[str, float] | None:
        """{class name: probability} of P, P_G or P_L (None where absent)."""
        if which not in ("P", "P_G", "P_L"):
            raise ValueError(f"which must be 'P', 'P_G' or 'P_L', got {which!r}")
        p = getattr(self, which)
        return None if p is None else {c: float(v) for c, v in zip(self.class_names, p)}

    def as_row(self) -> dict[str, object]:
        """A flat dict for a CSV row: frame facts, then P_<class>, P_G_<class>, P_L_<class>."""
        row: dict[str, object] = {
            "frame": self.index, "face_found": int(self.face_found), "detected": int(self.detected),
            "sequence": self.sequence, "seq_frame": self.seq_index, "reset": int(self.reset),
            "reset_reason": self.reset_reason or "", "peak_frame": self.peak_index,
            "sgaer_ran": int(self.sgaer_ran), "predicted": self.predicted or "", "alpha": self.alpha,
        }
        for k, name in enumerate(("x0", "y0", "x1", "y1")):
            row[f"face_{name}"] = None if self.face_box is None else round(float(self.face_box[k]), 2)
        for which in ("P", "P_G", "P_L"):
            p = getattr(self, which)
            for k, c in enumerate(self.class_names):
                row[f"{which}_{c}"] = None if p is None else round(float(p[k]), 6)
        return {k: ("" if v is None else v) for k, v in row.items()}


class StreamingRecognizer:
    """STANER on a stream of frames, one :meth:`update` per frame.

    Per frame: track the face and its 68 landmarks (detect only when lost); crop the three regions
    with the sequence's fixed boxes; one CNN pass (``CLSTM.frame_features``) and one LSTM step
    (``CLSTM.step``, Eq. 5-10) per region, carrying (h, c); TLER's causal end convolution over the
    last k hidden states F' (``TLER.head``, replicate padding at the sequence start) gives P_L;
    SGAER runs on the aligned peak face when the peak changes; P = alpha P_G + (1 - alpha) P_L.

    A *sequence* is a run of frames sharing one LSTM state and one set of region boxes. It ends when
    the face is lost, after ``reset_after`` frames, when the frame size changes, or on
    :meth:`reset`; the next frame with a face starts a new one from a zero state.

    Args:
        model: a STANER (any variant); put in eval mode. Its device is used.
        prep: face options: ``track``, ``redetect_every``, ``whole_frame_face``,
            ``whole_frame_fallback``, ``upscale_below`` and ``region_margin`` are used as in
            :func:`~staner_lab.data.preprocess.preprocess_sequence`; ``landmarks`` must be "dlib"
            or "auto" (a stream has no landmark files); ``peak`` is not used (see ``peak``).
        peak: "displacement": the peak is the frame of the sequence whose landmarks moved most from
            its first frame, so far (``choose_peak(..., "displacement")`` on the frames seen);
            "last": the newest frame is the peak.
        peak_every: at most one SGAER run per this many frames. With "displacement" a new peak
            waits until then (P_G lags the peak by less than ``peak_every`` frames; 1 = exact);
            with "last", SGAER runs on the newest frame every ``peak_every`` frames.
        reset_after: start a new sequence after this many frames (None or 0: never). CK+ sequences
            (neutral to peak) last 10-60 frames.
        box_frames: the region boxes are fitted (``sequence_region_boxes``) on the first this many
            frames of a sequence, then fixed until the next reset.
        alpha: fusion weight of Eq. 14; None: the model's ``config.alpha``.
        backend: a DlibBackend to use instead of the one built from ``prep``.

    >>> rec = StreamingRecognizer(STANER(preset("classroom")))  # doctest: +SKIP
    >>> rec.update(bgr_frame).probabilities()                    # doctest: +SKIP
    """

    def __init__(
        self,
        model: STANER,
        prep: PreprocessConfig | None = None,
        *,
        peak: Literal["displacement", "last"] = "displacement",
        peak_every: int = 1,
        reset_after: int | None = 60,
        box_frames: int = 5,
        alpha: float | None = None,
        backend: DlibBackend | None = None,
    ) -> None:
        prep = prep or PreprocessConfig()
        if prep.landmarks == "given":
            raise ValueError("landmarks='given' needs landmark files; a live stream has none: use 'dlib' or 'auto'")
        if peak not in ("displacement", "last"):
            raise ValueError(f"peak must be 'displacement' or 'last', got {peak!r}")
        if peak_every < 1:
            raise ValueError(f"peak_every must be >= 1, got {peak_every}")
        if box_frames < 1:
            raise ValueError(f"box_frames must be >= 1, got {box_frames}")
        if reset_after is not None and reset_after < 0:
            raise ValueError(f"reset_after must be >= 0 (0 or None: never), got {reset_after}")
        if alpha is not None and not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
        self.model = model.eval()
        self.prep = prep
        self.peak = peak
        self.peak_every = int(peak_every)
        self.reset_after = int(reset_after) if reset_after else None
        self.box_frames = int(box_frames)
        if model.sgaer is None:
            self.alpha = 0.0
        elif model.tler is None:
            self.alpha = 1.0
        else:
            self.alpha = float(model.config.alpha if alpha is None else alpha)
        self.backend = backend or DlibBackend(
            track=prep.track, redetect_every=prep.redetect_every, whole_frame_face=prep.whole_frame_face,
            upscale_below=prep.upscale_below, whole_frame_fallback=prep.whole_frame_fallback)
        self._tracker = self.backend.tracker()
        param = next(model.parameters())
        self._device, self._dtype = param.device, param.dtype
        self.reset()

    # --- public state -------------------------------------------------------------------------

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.model.config.class_names)

    @property
    def frames_seen(self) -> int:
        """Frames passed to :meth:`update` since creation or the last :meth:`reset`."""
        return self._frames

    @property
    def sequence_length(self) -> int:
        """Frames in the current sequence (0 when none is running, e.g. after the face was lost)."""
        return self._seq_len

    @property
    def lstm_state(self) -> dict[str, tuple[Tensor, Tensor]] | None:
        """{region: (h, c)} each (1, N) after the last frame of the sequence; None between sequences."""
        return dict(self._state) if self._state else None

    def reset(self) -> None:
        """Start afresh: forget the face, the sequence, and restart frame numbers at 0."""
        self._tracker.reset()
        self._frames = 0
        self._sequence = -1
        self._shape: tuple[int, ...] | None = None
        self._next_reason: ResetReason = "start"
        self._end_sequence("start")

    # --- the stream ---------------------------------------------------------------------------

    @torch.inference_mode()
    def update(self, frame: np.ndarray, color: Color = "bgr") -> FrameResult:
        """Process the next frame.

        Args:
            frame: (H, W) gray, or (H, W, 3|4) colour uint8 frame (e.g. 640x480 from a camera).
            color: channel order of a colour frame: "bgr" (OpenCV) or "rgb" (PIL, Streamlit).

        Returns:
            The frame's :class:`FrameResult`.
        """
        gray = to_gray(frame, color)
        index = self._frames
        self._frames += 1
        if self._shape is not None and gray.shape != self._shape:  # camera switched resolution
            self._tracker.reset()
            if self._seq_len:
                self._end_sequence("frame_size")
        self._shape = gray.shape
        try:
            face = self._tracker.update(gray, name=f"stream frame {index}")
        except FaceNotFoundError:
            if self._seq_len:
                self._end_sequence("face_lost")
            return FrameResult(index=index, face_found=False, detected=True, class_names=self.class_names)

        if self.reset_after and self._seq_len >= self.reset_after:
            self._end_sequence("reset_after")
        reason = None
        if self._seq_len == 0:
            reason = self._next_reason
            self._sequence += 1
        t = self._seq_len
        self._seq_len += 1
        lm = face.landmarks

        P_L = self._tler_step(gray, lm, t) if self.model.tler is not None else None
        ran = self._sgaer_step(gray, lm, t) if self.model.sgaer is not None else False
        P_G = self._P_G
        P = STANER.fuse(P_G, P_L, self.alpha)[0].float().cpu().numpy()
        return FrameResult(
            index=index, face_found=True, detected=bool(face.detected), class_names=self.class_names,
            sequence=self._sequence, seq_index=t, reset=reason is not None, reset_reason=reason,
            face_box=face.box, landmarks=lm,
            region_boxes=dict(self._boxes) if self._boxes is not None else None,
            P_G=None if P_G is None else P_G[0].float().cpu().numpy(),
            P_L=None if P_L is None else P_L[0].float().cpu().numpy(),
            P=P, alpha=self.alpha, predicted=self.class_names[int(np.argmax(P))],
            peak_index=self._peak_index, sgaer_ran=ran,
            gates=dict(self._gates) if P_L is not None else None, peak_face=self._peak_face, M=self._M,
        )

    # --- internals ----------------------------------------------------------------------------

    def _end_sequence(self, reason: ResetReason) -> None:
        self._next_reason = reason
        self._seq_len = 0
        self._state: dict[str, tuple[Tensor, Tensor]] = {}
        kernel = self.model.tler.end_conv.kernel_size if self.model.tler is not None else 1
        self._window: collections.deque[Tensor] = collections.deque(maxlen=kernel)  # F'_t, (1, 1, 3N)
        self._boxes: dict[str, Box] | None = None
        self._warm_frames: list[np.ndarray] = []
        self._warm_marks: list[np.ndarray] = []
        self._reference: dict[str, Tensor] = {}  # difference_input: each region's crop of frame 0
        self._reference_marks: np.ndarray | None = None  # stabilise: the first frame's landmarks
        self._first_centred: np.ndarray | None = None
        self._best_disp = -math.inf
        self._pending: tuple[int, np.ndarray, np.ndarray] | None = None  # peak waiting for SGAER
        self._sgaer_at: int | None = None
        self._peak_index: int | None = None
        self._P_G: Tensor | None = None
        self._gates: dict[str, dict[str, np.ndarray]] = {}
        self._peak_face: np.ndarray | None = None
        self._M: np.ndarray | None = None

    def _tler_step(self, gray: np.ndarray, lm: np.ndarray, t: int) -> Tensor:
        sizes = self.model.config.inputs.region_sizes
        if self.model.config.inputs.stabilise:  # as preprocess_sequence, onto the sequence's first frame (the peak is ahead)
            if t == 0:
                self._reference_marks = lm
            else:
                gray, lm = warp_onto(gray, lm, self._reference_marks)
        if t < self.box_frames:
            # warm-up: re-fit the boxes on frames 0..t and re-run the LSTM from the sequence start
            self._warm_frames.append(np.array(gray))  # a copy: callers may reuse their buffer
            self._warm_marks.append(lm)
            self._boxes = sequence_region_boxes(np.stack(self._warm_marks), sizes, self.prep.region_margin,
                                                image_shape=gray.shape)
            frames = np.stack(self._warm_frames)
            self._state = {}
            self._window.clear()
            if t == self.box_frames - 1:
                self._warm_frames, self._warm_marks = [], []
        else:
            frames = gray[None]
        crops = crop_regions(frames, self._boxes, sizes)  # {region: (n, h, w)} float32 in [0, 1]
        tler = self.model.tler
        hidden = []
        for r in REGIONS:
            clstm = tler.clstm[r]
            x = torch.from_numpy(crops[r]).to(self._device, self._dtype)[None, :, None]  # (1, n, 1, h, w)
            if t < self.box_frames:  # frame 0 cut with the boxes in use: the reference of difference_input
                self._reference[r] = x[:, 0]
            feats = clstm.frame_features(x, self._reference[r])  # (1, n, D)
            state = self._state.get(r)
            hs = []
            for j in range(feats.shape[1]):
                step = clstm.step(feats[:, j], state)  # Eq. 5-10
                state = (step.h, step.c)
                hs.append(step.h)
            self._state[r] = state
            self._gates[r] = {k: getattr(step, k)[0].float().cpu().numpy() for k in ("f", "i", "o")}
            hidden.append(hs)
        for hs in zip(*hidden):
            self._window.append(Fn.concatenate_regions(hs)[:, None])  # Eq. 11: F'_t (1, 1, 3N)
        # F_L = end conv at the last step over at most k steps; the end conv pads the window with
        # its first step, which is F'_0 whenever the window is not full (t < k).
        _, logits = tler.head(torch.cat(tuple(self._window), dim=1))
        return Fn.softmax(logits.float())  # Eq. 12

    def _sgaer_step(self, gray: np.ndarray, lm: np.ndarray, t: int) -> bool:
        new_peak = t == 0 or self.peak == "last"
        if self.peak == "displacement":  # as choose_peak(..., "displacement"), one frame at a time
            pts = np.asarray(lm, dtype=np.float64)
            centred = pts - pts.mean(axis=0, keepdims=True)
            if t == 0:
                self._first_centred = centred
            disp = float(np.linalg.norm(centred - self._first_centred, axis=1).mean())
            if disp > self._best_disp:  # strict: ties keep the earlier frame, as np.argmax
                self._best_disp = disp
                new_peak = True
        due = self._sgaer_at is None or t - self._sgaer_at >= self.peak_every
        if new_peak and not due:
            self._pending = (t, np.array(gray), lm)  # a copy: callers may reuse their buffer
            return False
        if new_peak:
            peak = (t, gray, lm)
        elif due and self._pending is not None:
            peak = self._pending
        else:
            return False
        self._pending = None
        size = self.model.config.inputs.face_size
        face = align_face(peak[1], peak[2], size)  # (S, S) float32
        x = torch.from_numpy(face).to(self._device, self._dtype)[None, None]
        it = self.model.sgaer.forward_intermediates(x)
        self._P_G = it.P_G  # Eq. 3
        spatial = it.M is not None and it.M.shape[-2:] != (1, 1)
        self._peak_face, self._M = face, (it.M[0, 0].float().cpu().numpy() if spatial else None)
        self._peak_index, self._sgaer_at = peak[0], t
        return True


def recognize_frames(recognizer: StreamingRecognizer, frames: Iterable[np.ndarray], name: str = "the input",
                     color: Color = "bgr") -> Iterator[tuple[np.ndarray, FrameResult]]:
    """``(frame, result)`` for every frame; raises at the end when no frame had a face.

    Raises:
        ValueError: naming ``name`` when not one frame had a face.
    """
    n = found = 0
    for frame in frames:
        result = recognizer.update(frame, color)
        n += 1
        found += result.face_found
        yield frame, result
    if n and not found:
        raise ValueError(f"no face found in any of the {n} frames of {name}. If the frames are already cropped "
                         "to the face, use --whole-frame-face (PreprocessConfig(whole_frame_face=True))")
