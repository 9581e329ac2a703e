"""Model benchmark: prints JSON with forward / train-step time, throughput and peak memory for both
presets, forward vs forward_intermediates, explicit LSTM cell vs nn.LSTM; on CUDA fp32 vs autocast
(bf16 where the card has it), each with channels_last off and on.

Usage: python benchmarks/bench_model.py [--presets classroom paper] [--batch 16] [--repeats 5]
       [--channels-last off on]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import time

import torch

from staner_lab.config import preset
from staner_lab.device import autocast, resolve_device
from staner_lab.models import STANER


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fn, device, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _peak_memory_mb(device):
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process max RSS (Linux: KiB)


def bench_preset(name, batch, repeats, device, amp, channels_last=False):
    torch.manual_seed(0)
    model = STANER(preset(name)).to(device)
    peak, regions = model.example_inputs(batch)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        peak = peak.contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, model.config.num_classes, (batch,), device=device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def train_step():
        model.train()
        with autocast(device, amp):
            loss = model.loss(model(peak, regions), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    @torch.no_grad()
    def forward():
        model.eval()
        with autocast(device, amp):
            model(peak, regions)

    @torch.no_grad()
    def forward_intermediates():
        model.eval()
        with autocast(device, amp):
            model.forward_intermediates(peak, regions)

    t_train = _time(train_step, device, repeats)
    t_fwd = _time(forward, device, repeats)
    t_int = _time(forward_intermediates, device, repeats)
    # LSTM alone: one region's fused nn.LSTM vs the explicit Eq. 5-10 cell on the same features.
    block = model.tler.clstm["mouth"]
    with torch.no_grad():
        x = block.frame_features(regions["mouth"])
    t_fused = _time(lambda: block.lstm(x), device, repeats)
    t_explicit = _time(lambda: block.run_explicit(x), device, repeats)
    return {
        "preset": name,
        "amp": amp,
        "autocast_dtype": (str(torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
                           if amp and device.type == "cuda" else None),
        "channels_last": channels_last,
        "batch": batch,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_step_s": round(t_train, 4),
        "train_sequences_per_s": round(batch / t_train, 1),
        "forward_s": round(t_fwd, 4),
        "forward_sequences_per_s": round(batch / t_fwd, 1),
        "forward_intermediates_s": round(t_int, 4),
        "lstm_fused_s": round(t_fused, 5),
        "lstm_explicit_s": round(t_explicit, 5),
        "peak_memory_mb": round(_peak_memory_mb(device), 1),
        "peak_memory_kind": "cuda max allocated" if device.type == "cuda" else "process max RSS",
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="+", default=["classroom", "paper"])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="auto")
    p.add_argument("--channels-last", nargs="+", choices=["off", "on"], default=None,
                   help="memory formats to time (default: off and on on CUDA, off on CPU)")
    args = p.parse_args()
    device = resolve_device(args.device)
    info = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "results": [],
    }
    formats = args.channels_last or (["off", "on"] if device.type == "cuda" else ["off"])
    for name in args.presets:
        for amp in [False, True] if device.type == "cuda" else [False]:
            for fmt in formats:
                info["results"].append(bench_preset(name, args.batch, args.repeats, device, amp, fmt == "on"))
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
