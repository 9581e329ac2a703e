"""What the app derives from model outputs for its pickers and the Decision view: a Sample's cache key
(:func:`sample_digest`), both branches' votes on every sequence (:func:`branch_votes`: the ⚡ marks
and the opening sequence) and the fused decision as a sentence (:func:`describe_decision`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from staner_lab.data.records import Sample
from staner_lab.models.staner import STANER

__all__ = ["branch_votes", "describe_decision", "frames_digest", "sample_digest"]


def sample_digest(sample: Sample) -> str:
    """A short content hash of a Sample's arrays (a cache key)."""
    h = hashlib.sha1()
    h.update(np.ascontiguousarray(sample.peak).tobytes())
    for r in sorted(sample.regions):
        h.update(r.encode())
        h.update(np.ascontiguousarray(sample.regions[r]).tobytes())
    return h.hexdigest()[:16]


def frames_digest(frames: np.ndarray) -> str:
    """A short content hash of raw frames (the cache key of the frame-by-frame trace)."""
    return hashlib.sha1(np.ascontiguousarray(frames).tobytes()).hexdigest()[:16]


def branch_votes(model: STANER, samples: Sequence[Sample], batch_size: int = 35) -> dict[str, dict[str, Any]]:
    """Each sequence's SGAER and TLER votes and how far apart the two branches are.

    Returns:
        {sequence_id: {"G": class or None, "L": class or None, "gap": total variation distance
        0.5 * sum |P_G - P_L| in [0, 1] (0 with one branch)}}. Sequences with a large gap are the ones
        where moving α can change the decision.
    """
    from staner_lab.data.dataset import StanerDataset, make_loader
    from staner_lab.training.loop import predict

    pred = predict(model, make_loader(StanerDataset(list(samples)), batch_size), next(model.parameters()).device,
                   amp=False)
    names = model.config.class_names
    out = {}
    for row, i in enumerate(pred.indices):
        g = None if pred.P_G is None else pred.P_G[row]
        l_ = None if pred.P_L is None else pred.P_L[row]
        gap = 0.0 if g is None or l_ is None else float(0.5 * np.abs(g - l_).sum())
        out[samples[int(i)].sequence_id] = {"G": None if g is None else names[int(g.argmax())],
                                            "L": None if l_ is None else names[int(l_.argmax())], "gap": gap}
    return out


def describe_decision(class_names: Sequence[str], P: np.ndarray, alpha: float) -> str:
    """One sentence for the fused decision, e.g. ``"α = 0.50 → happy (P = 0.62)"``."""
    k = int(np.argmax(P))
    return f"α = {alpha:.2f} → {class_names[k]} (P = {float(P[k]):.2f})"

