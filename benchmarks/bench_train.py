"""Training benchmark: prints JSON with epoch time and sequences/s for a preset on this machine, and
the projected wall time of a CK+-sized run (327 sequences, 10 folds x 150 and x 40 epochs).

The data are random tensors of the preset's input shapes (preprocessing is cached in real runs, so
it does not count). On CUDA it also compares fp32 with autocast, each with channels_last on (what
training uses on CUDA) and off. The Table 1 projection times every variant as STANER, the most
expensive (C1-C3 have one branch or no attention), so it is an upper bound.

Usage: python benchmarks/bench_train.py [--preset classroom|paper] [--sequences 327] [--epochs 2]
       [--seeds 3] [--face-size PX] [--distinct-frames N]

--distinct-frames 4 times sequences stored as neutral + last three frames (the first held to fill T):
training runs the region CNN once per distinct frame (docs/model.md, "Short sequences").
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from unittest import mock

import numpy as np
import torch

from staner_lab.config import preset as model_preset
from staner_lab.config import train_preset
from staner_lab.data.dataset import StanerDataset
from staner_lab.data.records import Sample
from staner_lab.device import resolve_device
from staner_lab.models import STANER
from staner_lab.training import loop
from staner_lab.training.loop import fit


def random_samples(cfg, n: int, distinct_frames: int | None = None) -> list[Sample]:
    """``distinct_frames`` n < T: the first frame held for T - n + 1 steps, as a short sequence is
    stored (InputConfig.short_sequences="hold_first"); None: T distinct frames."""
    rng = np.random.default_rng(0)
    inp = cfg.inputs
    n_distinct = inp.frames if distinct_frames is None else min(distinct_frames, inp.frames)
    held = [0] * (inp.frames - n_distinct) + list(range(n_distinct))
    return [Sample(peak=rng.random((inp.face_size, inp.face_size), dtype=np.float32),
                   regions={r: rng.random((n_distinct, *hw), dtype=np.float32)[held] for r, hw in inp.region_sizes.items()},
                   landmarks=np.zeros((inp.frames, 68, 2), np.float32), label=i % cfg.num_classes,
                   subject=f"S{i % 20}", sequence_id=str(i)) for i in range(n)]


def preset_config(name: str, face_size: int | None):
    cfg = model_preset(name)
    return cfg if face_size is None else dataclasses.replace(cfg, inputs=dataclasses.replace(cfg.inputs, face_size=face_size))


def epoch_time(name, samples, device, amp, epochs, tmp, channels_last=True, augment="preset", face_size=None):
    cfg = preset_config(name, face_size)
    tc = dataclasses.replace(train_preset(name), epochs=epochs)
    if augment != "preset":
        tc = dataclasses.replace(tc, augment=tc.augment.with_families(augment))
    torch.manual_seed(0)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    # fit() puts the model in channels_last on CUDA; "off" swaps that step for a plain move
    move = loop.prepare_model if channels_last else (lambda model, dev, compile=False: model.to(dev))
    with mock.patch.object(loop, "prepare_model", move):
        # the preset's own training data pipeline: flip, augmentation and class balance as it trains
        data = StanerDataset(samples, flip=tc.flip, seed=tc.seed, augment=tc.augment, class_balance=tc.class_balance)
        result = fit(STANER(cfg), data, None, tc, tmp, device=device, amp=amp, progress=False)
    times = [row["seconds"] for row in result.history[1:]] or [result.history[0]["seconds"]]  # skip warm-up
    return float(np.median(times))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="classroom", choices=["classroom", "paper"])
    p.add_argument("--sequences", type=int, default=327, help="training-set size (CK+ has 327 labelled sequences)")
    p.add_argument("--epochs", type=int, default=3, help="epochs to time (the first is a warm-up)")
    p.add_argument("--device", default="auto")
    p.add_argument("--project-epochs", type=int, nargs="+", default=[150, 40],
                   help="epoch budgets for the projected 10-fold wall time (default: the paper's 150, and 40)")
    p.add_argument("--seeds", type=int, default=3, help="seeds of the projected Table 1 grid (5 variants x 10 folds)")
    p.add_argument("--augment", choices=["preset", "none", "geometric", "photometric", "both"], default="preset",
                   help="augmentation to time (default: the preset's training default)")
    p.add_argument("--face-size", type=int, default=None, help="peak-face side in pixels (default: the preset's)")
    p.add_argument("--distinct-frames", type=int, default=None,
                   help="distinct frames per sequence, the first held to fill T (default: T, all distinct)")
    args = p.parse_args()
    import tempfile

    device = resolve_device(args.device)
    cfg = preset_config(args.preset, args.face_size)
    n_train = round(args.sequences * 0.9)  # one fold of 10-fold CV trains on 9/10
    samples = random_samples(cfg, n_train, args.distinct_frames)
    out = {"preset": args.preset, "device": torch.cuda.get_device_name() if device.type == "cuda" else
           (platform.processor() or "cpu"), "threads": torch.get_num_threads(), "torch": torch.__version__,
           "face_size": cfg.inputs.face_size, "train_sequences_per_epoch": n_train, "batch_size": train_preset(args.preset).batch_size,
           "augment": args.augment, "distinct_frames": args.distinct_frames or cfg.inputs.frames, "results": []}
    cuda = device.type == "cuda"
    for amp, channels_last in ([(False, False), (False, True), (True, False), (True, True)] if cuda
                               else [(False, False)]):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            sec = epoch_time(args.preset, samples, device, amp, args.epochs, tmp, channels_last, args.augment,
                             args.face_size)
            total = time.perf_counter() - t0
        row = {"amp": amp, "channels_last": channels_last, "epoch_s": round(sec, 3),
               "sequences_per_s": round(n_train / sec, 1)}
        if cuda:
            row["peak_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        for e in args.project_epochs:  # training epochs only; testing a fold adds under one epoch's time
            row[f"projected_ckplus_10fold_{e}epochs_min"] = round(sec * e * 10 / 60, 1)
            row[f"projected_table1_5x10x{args.seeds}seeds_{e}epochs_one_device_h"] = round(
                sec * e * 10 * 5 * args.seeds / 3600, 1)
        out["results"].append({**row, "benchmark_wall_s": round(total, 1)})
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
