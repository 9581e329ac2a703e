"""A captum attribution of the peak face beside the attention map M, for the Attention view
(``staner_lab.explain.peak`` and ``staner_lab.explain.agreement`` on one Sample).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from staner_lab.data.records import Sample
from staner_lab.explain.inspection import sample_batch
from staner_lab.models.staner import STANER

__all__ = ["Explanation", "explain_peak", "peak_methods"]


def peak_methods() -> tuple[str, ...]:
    """The peak-face attribution methods that ``staner_lab.explain`` offers (empty without it)."""
    try:
        from staner_lab.explain.peak import PEAK_METHODS
    except ImportError:
        return ()
    return tuple(PEAK_METHODS)


@dataclass(frozen=True)
class Explanation:
    """A peak-face attribution beside the attention map.

    Attributes:
        map: (S, S) attribution of the target class's P_G to the peak face's pixels.
        signed: True when the map has both signs (diverging colour map).
        method: the captum method.
        target: the explained class.
        agreement: Spearman rank correlation between the upsampled M and |map| (NaN where either
            is constant; None without a spatial attention map).
    """

    map: np.ndarray
    signed: bool
    method: str
    target: str
    agreement: float | None


def explain_peak(model: STANER, sample: Sample, method: str, target: int | None = None) -> Explanation:
    """Attribute SGAER's probability of ``target`` (default: the fused decision) to the peak face,
    and rank-correlate it with the attention map M (``staner_lab.explain``).

    Raises:
        ImportError: ``staner_lab.explain`` (or captum) is not available.
        ValueError: the model has no SGAER branch, or an unknown method.
    """
    from staner_lab.explain.agreement import attention_agreement, upsampled_attention
    from staner_lab.explain.peak import peak_attribution

    peak, regions = sample_batch(sample, next(model.parameters()).device)
    if target is None:
        with torch.no_grad():
            target = int(model(peak, regions).P.argmax(dim=-1)[0])
    result = peak_attribution(model, peak, regions, method=method, target=target, branch="sgaer")
    amap = np.asarray(result.map[0], dtype=np.float32)
    agreement = None
    if model.sgaer is not None and model.sgaer.attention is not None and model.sgaer.attention.kind == "spatial":
        agreement = float(attention_agreement(upsampled_attention(model, peak), result.map)[0])
    signed = bool(getattr(result, "signed", method in ("integrated_gradients", "occlusion")))
    return Explanation(map=amap, signed=signed, method=method, target=model.config.class_names[target],
                       agreement=agreement)

