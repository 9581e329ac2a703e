"""captum on an LSTM on the GPU: Integrated Gradients through TLER's C-LSTMs needs a backward pass in
eval mode, which cuDNN's RNN refuses; ``staner_lab.explain.wrappers.attribution_context`` switches
cuDNN off for the attribution. Prints JSON: the error cuDNN gives without the switch (CUDA only),
then the attribution with it: time, map shape, completeness error.

Usage: python benchmarks/gpu_lstm_attribution.py [--device cuda] [--preset paper] [--batch 4] [--steps 64]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from staner_lab.config import preset
from staner_lab.device import resolve_device
from staner_lab.explain import region_attribution
from staner_lab.models import STANER


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto")
    p.add_argument("--preset", default="paper", choices=["classroom", "paper"])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=64, help="Integrated Gradients steps")
    args = p.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    model = STANER(preset(args.preset)).to(device).eval()
    peak, regions = model.example_inputs(args.batch, generator=torch.Generator().manual_seed(0))
    out = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu", "preset": args.preset,
           "torch": torch.__version__}
    if device.type == "cuda":
        out["cudnn"] = torch.backends.cudnn.version()
        # without the switch: gradients of the inputs through the LSTM in eval mode, cuDNN on
        x = {r: v.clone().requires_grad_(True) for r, v in regions.items()}
        try:
            model(peak, x).P[:, 0].sum().backward()
            out["eval_backward_with_cudnn"] = "ran (this torch/cuDNN accepts it; the switch is then harmless)"
        except RuntimeError as exc:
            out["eval_backward_with_cudnn"] = f"refused: {str(exc).splitlines()[0][:160]}"
    else:
        out["eval_backward_with_cudnn"] = "skipped (CUDA only)"
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    attr = region_attribution(model, peak, regions, branch="fused", n_steps=args.steps)
    if device.type == "cuda":
        torch.cuda.synchronize()
    out.update(attribution_s=round(time.perf_counter() - t0, 3), map_shape=list(attr.map.shape),
               max_abs_completeness_error=float(np.abs(attr.delta).max()),
               cudnn_enabled_after=bool(torch.backends.cudnn.enabled),
               model_training_after=model.training)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
