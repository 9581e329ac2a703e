"""A short demo: build STANER, run one sequence, print the prediction and its intermediates."""

from __future__ import annotations

import torch

from .config import REGIONS, preset
from .models.staner import STANER
from .outputs import StanerIntermediates

__all__ = ["run_demo", "describe"]


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


def run_demo(seed: int = 0) -> StanerIntermediates:
    """Build the classroom preset and run it on one input; print what it computes."""
    torch.manual_seed(seed)
    cfg = preset("classroom")
    model = STANER(cfg).eval()
    source = "random input (untrained model)"
    peak, regions = model.example_inputs(1, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        inter = model.forward_intermediates(peak, regions)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"STANER, preset {cfg.preset!r}, {n_params:,} parameters; input: {source}")
    print(describe(inter, cfg.class_names))
    return inter
