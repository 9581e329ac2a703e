"""The streaming recogniser of ``staner-lab live`` (``staner_lab.live.recognizer``) run over an
upload or webcam snapshots one frame at a time: the fused decision after every frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from staner_lab.config import PreprocessConfig
from staner_lab.models.staner import STANER

__all__ = ["StreamTrace", "stream_trace"]


@dataclass(frozen=True)
class StreamTrace:
    """The streaming recogniser's decision after every frame of a sequence.

    Attributes:
        P: (N, K) fused probabilities after frame t (NaN rows where no face was found).
        resets: (N,) True where the recogniser started a new sequence (first frame, face lost).
        class_names: K class names.
    """

    P: np.ndarray
    resets: np.ndarray
    class_names: tuple[str, ...]


def stream_trace(model: STANER, frames: np.ndarray, prep: PreprocessConfig) -> StreamTrace:
    """Feed (N, H, W) uint8 gray frames one at a time to :class:`staner_lab.live.recognizer.StreamingRecognizer`
    (carrying each region's LSTM state) and collect the fused decision after every frame."""
    from staner_lab.live.recognizer import StreamingRecognizer, recognize_frames

    recognizer = StreamingRecognizer(model, prep)
    K = model.config.num_classes
    P, resets = [], []
    for _, result in recognize_frames(recognizer, list(frames), "this sequence", color="bgr"):
        P.append(np.asarray(result.P, dtype=np.float32) if result.P is not None else np.full(K, np.nan, np.float32))
        resets.append(bool(result.reset))
    return StreamTrace(P=np.stack(P), resets=np.array(resets), class_names=tuple(model.config.class_names))

