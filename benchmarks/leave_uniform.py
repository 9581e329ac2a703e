"""How many epochs does a branch sit at the uniform prediction? Trains one variant (C1 by default) on
the first subject-independent fold of a set, once per seed, and prints one JSON object: per seed the
training loss of every epoch, the first epoch whose loss is below 0.9 * ln K ("leaves the uniform
prediction"), SGAER's health after every epoch (the spread of its class scores over 64 training
faces, and the scale of F_G; ``staner-lab health``), and the test accuracy of the last epoch; then
the means.

SGAERConfig fields (end_norm, dropout, end_channels), TrainConfig fields (lr, weight_decay, ...)
and ``augment=none|geometric|photometric|both`` can be set, so each row of docs/model.md ("SGAER
leaving the uniform prediction") is one command, e.g.:

    python benchmarks/leave_uniform.py --data runs/hard_i06_n3 --variant C3 --seeds 0 1 2
    python benchmarks/leave_uniform.py --data runs/hard_i06_n3 --variant C3 --seeds 0 1 2 --set sgaer.end_norm=none
    python benchmarks/leave_uniform.py --data runs/hard_i06_n3 --variant C3 --set train.augment.geometric=true

One fold keeps it short (about 10 s per seed and 30 epochs on one core for 140 sequences); for
accuracies to compare, use benchmarks/branch_learning.py (all folds).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from staner_lab.config import ablation_config, configs_with_settings
from staner_lab.data.dataset import StanerDataset, batch_tensors, load_samples
from staner_lab.data.splits import subject_kfold
from staner_lab.training.fold import seeded_model
from staner_lab.training.health import health_report
from staner_lab.training.loop import fit


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--variant", default="C1")
    p.add_argument("--folds", type=int, default=5, help="the set is split in this many folds; fold 0 is used")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="config fields by dotted path, as staner-lab cv --set: sgaer.end_norm=none "
                        "train.augment.geometric=true")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    try:
        base, train, prep = configs_with_settings(args.set)
    except ValueError as e:  # a bad --set: say which, without a traceback
        p.error(str(e))
    train = train.with_epochs(args.epochs)
    samples, class_names, _ = load_samples(args.data, base.inputs, prep, progress=False)
    cfg = ablation_config(dataclasses.replace(base, class_names=tuple(class_names)), args.variant)
    uniform = math.log(len(class_names))

    runs = []
    t0 = time.perf_counter()
    for seed in args.seeds:
        tc = dataclasses.replace(train, seed=seed)
        train_idx, test_idx = subject_kfold(samples, args.folds, seed)[0]
        train_samples = [samples[i] for i in train_idx]
        train_set = StanerDataset(train_samples, flip=tc.flip, seed=seed, augment=tc.augment)
        test_set = StanerDataset([samples[i] for i in test_idx])
        model = seeded_model(cfg, tc)
        watch = batch_tensors(train_samples[:64])  # the same training faces after every epoch
        spread, scale = [], []

        def sgaer_health(row, model=model, watch=watch, spread=spread, scale=scale):
            report = health_report(model, *watch).sgaer
            spread.append(round(report.logit_spread, 3))
            scale.append(round(report.F_G_scale, 3))

        with tempfile.TemporaryDirectory() as tmp:
            history = fit(model, train_set, test_set, tc, tmp, progress=False, on_epoch=sgaer_health).history
        losses = [row["train_loss"] for row in history]
        runs.append({
            "seed": seed,
            "leaves_uniform_at_epoch": next((e for e, v in enumerate(losses) if v < 0.9 * uniform), None),
            "train_loss": [round(v, 3) for v in losses],
            # staner-lab health's "class scores' spread over faces" and F_G scale, after each epoch
            "sgaer_logit_spread": spread, "sgaer_F_G_scale": scale,
            "test_accuracy_last_epoch": round(history[-1]["val_acc"], 4),
        })
    left = [r["leaves_uniform_at_epoch"] for r in runs]
    print(json.dumps({
        "data": str(args.data), "variant": args.variant, "fold": 0, "folds": args.folds, "epochs": args.epochs,
        "set": args.set, "end_norm": base.sgaer.end_norm, "augment": dataclasses.asdict(train.augment),
        "uniform_loss": round(uniform, 3),
        "leaves_uniform_at_epoch": left,
        "mean_final_train_loss": round(float(np.mean([r["train_loss"][-1] for r in runs])), 3),
        "mean_test_accuracy_last_epoch": round(float(np.mean([r["test_accuracy_last_epoch"] for r in runs])), 4),
        "runs": runs, "wall_time_s": round(time.perf_counter() - t0, 1),
    }))


if __name__ == "__main__":
    main()
