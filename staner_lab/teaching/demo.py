"""A short demo: build STANER, run one sequence, print the prediction and its intermediates."""

from __future__ import annotations

from pathlib import Path

import torch

from staner_lab.config import REGIONS, preset
from staner_lab.data.dataset import collate, to_item
from staner_lab.models.staner import STANER
from staner_lab.outputs import StanerIntermediates

__all__ = ["describe", "run_demo"]


def _shape(t) -> str:
    return "None" if t is None else "x".join(map(str, t.shape))


def describe(inter: StanerIntermediates, class_names: tuple[str, ...]) -> str:
    """A readable summary of one sample's intermediates (batch item 0)."""
    lines = []
    if inter.sgaer is not None:
        g = inter.sgaer
        lines.append("SGAER (peak face)")
        lines.append(f"  U   front-end features   {_shape(g.U)}")
        if g.M is not None:
            m = g.M[0]
            lines.append(f"  M   attention map        {_shape(g.M)}  range [{m.min():.3f}, {m.max():.3f}]  mean {m.mean():.3f}")
        lines.append(f"  F   (1+M)*U              {_shape(g.F)}")
        lines.append(f"  F_G appearance features  {_shape(g.F_G)}")
    if inter.tler is not None:
        t = inter.tler
        lines.append("TLER (region sequences)")
        for r in REGIONS:
            ri = t.regions[r]
            lines.append(f"  {r:<5} x_t {_shape(ri.features)}  h_t {_shape(ri.h)}  "
                         f"mean gates at last step: f {ri.f[0, -1].mean():.3f}  i {ri.i[0, -1].mean():.3f}  "
                         f"o {ri.o[0, -1].mean():.3f}")
        lines.append(f"  F'  concatenation        {_shape(t.F_prime)}")
        lines.append(f"  F_L local features       {_shape(t.F_L)}")
    lines.append(f"Decision (alpha = {inter.alpha})")
    width = max(map(len, class_names))
    for k, name in enumerate(class_names):
        pg = f"{inter.P_G[0, k]:.3f}" if inter.P_G is not None else "  -  "
        pl = f"{inter.P_L[0, k]:.3f}" if inter.P_L is not None else "  -  "
        lines.append(f"  {name:<{width}}  P_G {pg}  P_L {pl}  P {inter.P[0, k]:.3f}")
    lines.append(f"  prediction O = {class_names[int(inter.prediction[0])]}")
    return "\n".join(lines)


def run_demo(seed: int = 0, checkpoint: str | Path | None = None, index: int | None = None) -> StanerIntermediates:
    """Run the shipped classroom model on one shipped sample sequence and print what it computes.

    Falls back to an untrained model on random input (and says so) when the shipped files are absent.
    """
    from staner_lab.data.shipped import load_shipped_samples, shipped_checkpoint
    from staner_lab.training.checkpoint import load_model

    torch.manual_seed(seed)
    try:
        model = load_model(checkpoint or shipped_checkpoint())
        what = f"checkpoint {checkpoint or shipped_checkpoint().name}"
    except FileNotFoundError as exc:
        print(f"note: {exc}; using an untrained model")
        model, what = STANER(preset("classroom")).eval(), "untrained"
    cfg = model.config
    try:
        samples, _ = load_shipped_samples(cfg.inputs)
        sample = samples[index if index is not None else seed % len(samples)]
        batch = collate([to_item(sample, 0)])
        peak, regions = batch["peak"], batch["regions"]
        source = f"shipped sequence {sample.sequence_id} (true class: {cfg.class_names[sample.label]})"
    except FileNotFoundError as exc:
        print(f"note: {exc}; using random input")
        peak, regions = model.example_inputs(1, generator=torch.Generator().manual_seed(seed))
        source = "random input"
    with torch.no_grad():
        inter = model.forward_intermediates(peak, regions)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"STANER ({cfg.variant}, preset {cfg.preset!r}, {n_params:,} parameters, {what})")
    print(f"input: {source}")
    print(describe(inter, cfg.class_names))
    return inter
