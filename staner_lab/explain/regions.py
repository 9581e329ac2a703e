"""TLER attributions: which region, at which moment, drove the decision.

:func:`region_attribution` sums Integrated Gradients over each frame of the three region sequences,
a (B, 3, T) map (:class:`RegionAttribution`); :func:`region_ablation` replaces one region at a time
by its baseline and reports each region's share of the drop (:class:`RegionAblation`);
:func:`region_motion` does the same over a whole data set and reports how TLER's answers and
per-class recall change (:class:`RegionMotion`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from staner_lab.config import REGIONS
from staner_lab.data.dataset import batch_tensors
from staner_lab.data.records import Sample
from staner_lab.explain.wrappers import (
    BaselineKind,
    attribution_context,
    baseline_tensor,
    forward_fn,
    make_baseline,
    select_target,
    target_classes,
    to_numpy,
)
from staner_lab.models.staner import STANER

__all__ = ["MOTION_CASES", "RegionAblation", "RegionAttribution", "RegionMotion", "region_ablation",
           "region_attribution", "region_motion", "still_regions"]


def _region_inputs(model: STANER, branch: str, peak: Tensor | None,
                   regions: Mapping[str, Tensor]) -> tuple[tuple[Tensor, ...], tuple]:
    if branch not in ("fused", "tler"):
        raise ValueError(f"region attributions explain 'fused' or 'tler', got branch {branch!r}")
    if model.tler is None:
        raise ValueError(f"region attributions need a TLER branch; this {model.config.variant} model has none")
    if set(regions) != set(REGIONS):
        raise ValueError(f"regions: expected keys {list(REGIONS)}, got {list(regions)}")
    if branch == "fused" and model.sgaer is not None and peak is None:
        raise ValueError("branch 'fused' needs the peak face; pass peak= or use branch='tler'")
    seqs = tuple(regions[r].detach().requires_grad_(True) for r in REGIONS)  # new leaves
    return seqs, ((peak.detach(),) if branch == "fused" and peak is not None else ())


@dataclass(frozen=True)
class RegionAttribution:
    """Result of :func:`region_attribution`.

    Attributes:
        map: (B, 3, T) float numpy, Integrated Gradients summed over each frame's pixels; rows in
            ``REGIONS`` order (eyes, nose, mouth). Signed: positive = that region's change at that
            frame raised the target probability.
        target: (B,) int64 numpy.
        branch: "fused" or "tler".
        baseline: baseline name ("neutral", "black", "blur" or "tensor").
        raw: {region: (B, T, 1, h, w)} attribution tensors (detached).
        delta: (B,) numpy completeness error, sum(map) - (f(x) - f(baseline)).
    """

    map: np.ndarray
    target: np.ndarray
    branch: str
    baseline: str
    raw: dict[str, Tensor]
    delta: np.ndarray

    @property
    def per_region(self) -> np.ndarray:
        """(B, 3): the map summed over frames."""
        return self.map.sum(axis=-1)


def region_attribution(
    model: STANER,
    peak: Tensor | None,
    regions: Mapping[str, Tensor],
    target: int | Sequence[int] | Tensor | None = None,
    branch: Literal["fused", "tler"] = "fused",
    baseline: str | Mapping[str, Tensor] = "neutral",
    n_steps: int = 128,
    alpha: float | None = None,
    internal_batch_size: int | None = 64,
) -> RegionAttribution:
    """Which region, at which moment, drove the decision: IG on the three region sequences.

    With IG_r (B, T, 1, h, w) the Integrated Gradients of the target probability with respect to
    region r's sequence (formula in :func:`~staner_lab.explain.peak.peak_attribution`; all three
    regions move together along one straight path from their baselines)::

        map[b, r, t] = sum_{h, w} IG_r[b, t, 0, h, w]
        sum_{r, t} map[b, r, t] = y(x) - y(x') + delta[b]       (completeness)

    The default "neutral" baseline (frame 0 repeated) asks which *changes* since the first frame
    mattered; frame 0 then gets exactly 0. With the fused branch the peak face is held fixed and
    the map is (1 - alpha) times the TLER map.

    Args:
        model: a STANER with a TLER branch.
        peak: (B, 1, S, S); needed for "fused" when the model has SGAER, else may be None.
        regions: {"eyes", "nose", "mouth"}: (B, T, 1, h, w).
        target: class index, one per example, or None for the predicted class of ``branch``.
        branch: "fused" (P) or "tler" (P_L).
        baseline: a name of ``BASELINES`` applied to each region, or a dict of tensors.
        n_steps, alpha, internal_batch_size: see :func:`~staner_lab.explain.peak.peak_attribution`.

    Returns:
        :class:`RegionAttribution` with ``map`` (B, 3, T).
    """
    from captum.attr import IntegratedGradients

    seqs, extra = _region_inputs(model, branch, peak, regions)
    f = forward_fn(model, branch, alpha, regions_first=True)
    if isinstance(baseline, str):
        bases, base_name = tuple(make_baseline(s, baseline) for s in seqs), baseline  # type: ignore[arg-type]
    else:
        bases, base_name = tuple(baseline_tensor(s, baseline[r]) for s, r in zip(seqs, REGIONS)), "tensor"
    B = seqs[0].shape[0]
    with attribution_context(model):
        tgt = target_classes(f, (*seqs, *extra), target, B, seqs[0].device)
        raw, d = IntegratedGradients(f).attribute(
            seqs, baselines=bases, target=tgt, additional_forward_args=extra or None, n_steps=n_steps,
            internal_batch_size=internal_batch_size, return_convergence_delta=True)
    per_frame = torch.stack([a.detach().sum(dim=(2, 3, 4)) for a in raw], dim=1)  # (B, 3, T)
    return RegionAttribution(map=to_numpy(per_frame), target=to_numpy(tgt), branch=branch, baseline=base_name,
                             raw={r: a.detach() for r, a in zip(REGIONS, raw)}, delta=to_numpy(d))


@dataclass(frozen=True)
class RegionAblation:
    """Result of :func:`region_ablation`.

    Attributes:
        p: (B,) target probability with every input intact.
        drop: (B, 3) drop of the target probability when one region is replaced by its baseline,
            d_r = p - p(region r ablated); rows in ``REGIONS`` order; may be negative.
        share: (B, 3) share of the total drop, d_r+ / sum_r' d_r'+ with d+ = max(d, 0); rows sum
            to 1, or are all 0 when no region's ablation lowers the probability.
        joint_drop: (B,) drop when all three regions are ablated at once (sum(drop) differs from
            it by the regions' interaction).
        target: (B,) int64; branch: "fused" or "tler"; baseline: the baseline name.
    """

    p: np.ndarray
    drop: np.ndarray
    share: np.ndarray
    joint_drop: np.ndarray
    target: np.ndarray
    branch: str
    baseline: str


def region_ablation(
    model: STANER,
    peak: Tensor | None,
    regions: Mapping[str, Tensor],
    target: int | Sequence[int] | Tensor | None = None,
    branch: Literal["fused", "tler"] = "fused",
    baseline: BaselineKind = "neutral",
    alpha: float | None = None,
) -> RegionAblation:
    """Each region's share of the drop in the target probability when it is ablated.

    Region r is ablated by replacing its whole sequence by its baseline x'_r (default: frame 0
    repeated, i.e. "this region never moved"); the other regions and the peak are kept::

        d_r     = y(x) - y(x with x_r := x'_r)
        share_r = max(d_r, 0) / sum_r' max(d_r', 0)         (0 for all r when every d_r <= 0)

    Only drops count towards the share: a region whose removal *raises* the probability has
    share 0 (its signed effect stays in ``drop``). 4 forward passes, no gradients.

    Args: see :func:`region_attribution`.

    Returns:
        :class:`RegionAblation`.
    """
    seqs, extra = _region_inputs(model, branch, peak, regions)
    f = forward_fn(model, branch, alpha, regions_first=True)
    bases = tuple(make_baseline(s, baseline) for s in seqs)
    B = seqs[0].shape[0]
    with attribution_context(model), torch.no_grad():
        tgt = target_classes(f, (*seqs, *extra), target, B, seqs[0].device)
        p = select_target(f(*seqs, *extra), tgt)  # (B,)
        drops = []
        for i in range(len(REGIONS)):
            ablated = tuple(bases[j] if j == i else seqs[j] for j in range(len(REGIONS)))
            drops.append(p - select_target(f(*ablated, *extra), tgt))
        joint = p - select_target(f(*bases, *extra), tgt)
    drop = torch.stack(drops, dim=1).double()  # (B, 3)
    pos = drop.clamp(min=0)
    total = pos.sum(dim=1, keepdim=True)
    share = torch.where(total > 0, pos / total.clamp(min=torch.finfo(torch.float64).tiny), torch.zeros_like(pos))
    return RegionAblation(p=to_numpy(p), drop=to_numpy(drop), share=to_numpy(share),
                          joint_drop=to_numpy(joint), target=to_numpy(tgt), branch=branch, baseline=baseline)


#: The cases of :func:`region_motion`: (name, the regions stilled).
MOTION_CASES: tuple[tuple[str, frozenset[str]], ...] = (
    ("as recorded", frozenset()),
    *((f"{r} stilled", frozenset({r})) for r in REGIONS),
    *((f"only {r} moving", frozenset(REGIONS) - {r}) for r in REGIONS),
)


def still_regions(sample: Sample, regions: Sequence[str] | frozenset[str]) -> Sample:
    """``sample`` with each of ``regions`` stilled: its sequence replaced by its frame 0 repeated (the
    "neutral" baseline of :func:`region_ablation`), so the region keeps its appearance and never moves."""
    unknown = set(regions) - set(sample.regions)
    if unknown:
        raise ValueError(f"no region(s) {sorted(unknown)}; the sample has {list(sample.regions)}")
    return replace(sample, regions={r: np.repeat(seq[:1], len(seq), axis=0) if r in regions else seq
                                    for r, seq in sample.regions.items()})


@dataclass(frozen=True)
class RegionMotion:
    """Result of :func:`region_motion`.

    Attributes:
        cases: the case names of :data:`MOTION_CASES`.
        named: (cases, N) int, TLER's class for every sequence in every case.
        labels: (N,) int, the true classes.
        class_names: the model's classes.
    """

    cases: tuple[str, ...]
    named: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]

    def accuracy(self) -> np.ndarray:
        """(cases,) fraction of sequences TLER names right."""
        return (self.named == self.labels).mean(axis=1)

    def recall(self) -> np.ndarray:
        """(cases, K) per-class recall; NaN for a class with no sequence."""
        K = len(self.class_names)
        right = np.stack([np.bincount(self.labels[row == self.labels], minlength=K) for row in self.named])
        total = np.bincount(self.labels, minlength=K)
        return np.where(total > 0, right / np.maximum(total, 1), np.nan)

    def counts(self) -> np.ndarray:
        """(cases, K) how many sequences TLER names each class."""
        return np.stack([np.bincount(row, minlength=len(self.class_names)) for row in self.named])


def region_motion(model: STANER, samples: Sequence[Sample], batch_size: int = 32) -> RegionMotion:
    """TLER's answers on every sequence of ``samples``, as recorded and with regions stilled
    (:data:`MOTION_CASES`): from which region's motion does the model read each class?

    A class whose recall falls to 0 when a region is stilled is read from that region alone; one
    whose recall *rises* is misled by that region on this data (it moves there as another class
    moved in training). No gradients; the model's modes are restored afterwards.
    """
    if model.tler is None:
        raise ValueError(f"region_motion reads TLER; this {model.config.variant} model has none")
    f = forward_fn(model, "tler", regions_first=True)
    device = next(model.parameters()).device
    named = []
    with attribution_context(model), torch.no_grad():
        for _, still in MOTION_CASES:
            answers = []
            for start in range(0, len(samples), batch_size):
                _, regions, _ = batch_tensors([still_regions(s, still) for s in samples[start:start + batch_size]])
                answers.append(f(*(regions[r].to(device) for r in REGIONS)).argmax(dim=1).cpu().numpy())
            named.append(np.concatenate(answers) if answers else np.zeros(0, np.int64))
    return RegionMotion(cases=tuple(name for name, _ in MOTION_CASES), named=np.stack(named),
                        labels=np.array([s.label for s in samples], np.int64),
                        class_names=tuple(model.config.class_names))
