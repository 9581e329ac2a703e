"""One sequence shown to a student: what preprocessing found and what the model computed on it.

- Frames or a shipped record -> a :class:`SequenceView`: the source frames, the 68 landmarks of
  every frame, the region boxes, the peak and the sampled frames, and the model-ready ``Sample``
  (the same steps as ``preprocess_sequence``, keeping what it computes on the way).
- A model and a Sample -> an :class:`Analysis`: numpy copies of P_G, P_L, P, M and every LSTM gate
  and state (small enough to cache); :func:`fuse` re-applies Eq. 14 at another alpha.

Used by the app, the notebooks and ``staner_lab.teaching``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from staner_lab import functional as Fn
from staner_lab.config import REGIONS, InputConfig, PreprocessConfig
from staner_lab.data.faces import LandmarkBackend
from staner_lab.data.records import Sample, SequenceRecord
from staner_lab.data.regions import Box
from staner_lab.models.staner import STANER

__all__ = [
    "Analysis",
    "SequenceView",
    "analyse",
    "fuse",
    "inspect_frames",
    "inspect_record",
    "sample_batch",
    "shipped_records",
]


@dataclass(frozen=True)
class SequenceView:
    """One sequence as the model sees it, with what preprocessing found on the way.

    Attributes:
        frames: (N, H, W) uint8 frames the regions were cut from (the source frames, each warped onto
            the peak frame's head position when ``InputConfig.stabilise``).
        landmarks: (N, 68, 2) float32 landmarks of every frame (pixels of ``frames``).
        boxes: {region: (x0, y0, x1, y1)}, one box per region for the whole sequence.
        peak: index of the peak frame.
        indices: (T,) frames sampled for TLER (first frame to peak).
        sample: the model-ready Sample (peak face, region sequences).
        source: where it came from, for captions.
        true_label: the class name when known (shipped data), else None.
    """

    frames: np.ndarray
    landmarks: np.ndarray
    boxes: dict[str, Box]
    peak: int
    indices: np.ndarray
    sample: Sample
    source: str
    true_label: str | None = None


def inspect_frames(frames: np.ndarray, names: Sequence[str], inputs: InputConfig, prep: PreprocessConfig,
                   backend: LandmarkBackend | None = None, sequence_id: str = "upload",
                   label: int = -1, subject: str = "?", source: str = "upload",
                   true_label: str | None = None) -> SequenceView:
    """Algorithm 1, steps 2-5, on frames already in memory (``preprocess_sequence`` after its step 1).

    Args:
        frames: (N, H, W) uint8 grayscale.
        names: one name per frame, for error messages.
        inputs, prep: as for ``preprocess_sequence``.
        backend: landmark backend; None = dlib with ``prep``'s options.

    Raises:
        FaceNotFoundError: (a ValueError) no face in a frame; its message names the frame.
    """
    from staner_lab.data.preprocess import dlib_backend, process_frames

    done = process_frames(frames, list(names), inputs, prep, backend or dlib_backend(prep), label=label,
                          subject=subject, sequence_id=sequence_id)
    return SequenceView(frames=done.frames, landmarks=done.landmarks, boxes=done.boxes, peak=done.peak,
                        indices=done.indices, sample=done.sample, source=source, true_label=true_label)


def inspect_record(record: SequenceRecord, inputs: InputConfig, prep: PreprocessConfig | None = None,
                   class_names: Sequence[str] | None = None) -> SequenceView:
    """A :class:`SequenceView` of a record on disk (its landmark files when it has them, else dlib)."""
    from staner_lab.data.preprocess import backend_for, load_frames

    prep = prep or PreprocessConfig()
    frames, names = load_frames(record)
    backend = backend_for(record, prep)
    true = class_names[record.label] if class_names is not None and record.label >= 0 else None
    return inspect_frames(frames, names, inputs, prep, backend, record.sequence_id, record.label, record.subject,
                          source=f"shipped sequence {record.sequence_id}", true_label=true)


def shipped_records() -> tuple[list[SequenceRecord], tuple[str, ...]]:
    """The shipped synthetic sequences (records with given landmarks) and their class names."""
    from staner_lab.data.readers import read_dataset
    from staner_lab.data.shipped import shipped_data_dir

    records, class_names, _ = read_dataset(shipped_data_dir(), "ckplus", "fail")
    return records, class_names


@dataclass(frozen=True)
class Analysis:
    """What the model computes for one sequence, as numpy (batch item 0).

    Attributes:
        class_names: the model's classes.
        alpha: the model's own fusion weight.
        P_G, P_L: (K,) branch probabilities, or None for a missing branch.
        P: (K,) fused at ``alpha``.
        M: (h, w) spatial attention map, (C,) channel gate, or None without attention.
        attention: "spatial", "channel" or "none".
        lstm: {region: {"f", "i", "g", "o", "c", "h": (T, N)}}; empty without TLER.
    """

    class_names: tuple[str, ...]
    alpha: float
    P_G: np.ndarray | None
    P_L: np.ndarray | None
    P: np.ndarray
    M: np.ndarray | None
    attention: str
    lstm: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def sample_batch(sample: Sample, device: torch.device | str = "cpu") -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One Sample as a batch of one: peak (1, 1, S, S), regions {r: (1, T, 1, h, w)}."""
    from staner_lab.data.dataset import collate, to_item

    batch = collate([to_item(dataclasses.replace(sample, label=max(sample.label, 0)), 0)])
    return batch["peak"].to(device), {r: x.to(device) for r, x in batch["regions"].items()}


@torch.no_grad()
def analyse(model: STANER, sample: Sample) -> Analysis:
    """Run ``forward_intermediates`` on one Sample and keep what the app shows."""
    model.eval()
    device = next(model.parameters()).device
    peak, regions = sample_batch(sample, device)
    it = model.forward_intermediates(peak, regions)

    def np1(t: torch.Tensor | None) -> np.ndarray | None:
        return None if t is None else t[0].detach().float().cpu().numpy()

    M = np1(it.M)  # (1, h, w) spatial map or (C, 1, 1) channel gate
    attention = "none"
    if M is not None:
        attention = "channel" if M.shape[1:] == (1, 1) else "spatial"
        M = M.reshape(-1) if attention == "channel" else M[0]  # (C,) or (h, w)
    lstm = {}
    if it.tler is not None:
        for r in REGIONS:
            ri = it.tler.regions[r]
            lstm[r] = {k: np1(getattr(ri, k)) for k in ("f", "i", "g", "o", "c", "h")}
    return Analysis(class_names=tuple(model.config.class_names), alpha=float(it.alpha), P_G=np1(it.P_G),
                    P_L=np1(it.P_L), P=np1(it.P), M=M, attention=attention, lstm=lstm)


def fuse(analysis: Analysis, alpha: float) -> np.ndarray:
    """Eq. 14 at another ``alpha`` from the cached branch probabilities (no model run)."""
    if analysis.P_G is None or analysis.P_L is None:
        return analysis.P
    P = Fn.fuse_probabilities(torch.from_numpy(analysis.P_G), torch.from_numpy(analysis.P_L), float(alpha))
    return P.numpy()

