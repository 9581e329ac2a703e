"""Does each branch learn? Subject-independent k-fold accuracy of one variant on a synthetic set,
with the training health of every fold's final model. Prints one JSON object.

Every model, training and preprocessing field can be set as with ``staner-lab cv --set``, so that
each decision in docs/model.md ("Both branches learning") is measured with one command, e.g.:

    python benchmarks/branch_learning.py --data runs/synth_i10 --variant C2               # today's region CNN
    python benchmarks/branch_learning.py --data runs/synth_i10 --variant C2 --set tler.clstm.batch_norm=false
    python benchmarks/branch_learning.py --data runs/hard_i06 --variant STANER --seeds 0 1 2 --set train.augment.geometric=true train.augment.photometric=true

The first region CNN and its training (the values old checkpoints load with,
``checkpoint.LEGACY_VALUES``): ``--set tler.clstm.input_norm=none tler.clstm.batch_norm=false
tler.clstm.he_init=false tler.clstm.forget_bias=0.0 tler.clstm.difference_input=false
train.grad_clip=null``. For a variant with both branches, each fold also reports the accuracy of
P_G and of P_L alone on the test subjects, so one run shows every branch.

Make the data with ``staner-lab synth --out runs/synth_i10 --subjects 20 --seed 3 --frames 8
--size 96 --intensity 1.0 --noise 0.2`` (any folder ``staner-lab`` reads works, real faces included).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from staner_lab.config import ablation_config, configs_with_settings
from staner_lab.data.dataset import StanerDataset, batch_tensors, load_samples, make_loader
from staner_lab.training.checkpoint import load_model
from staner_lab.training.health import dead_regions, health_report
from staner_lab.training.loop import predict
from staner_lab.training.protocol import RunOptions, cross_validate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--variant", default="C2")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="one cross-validation per seed")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="config fields by dotted path, as staner-lab cv --set: tler.clstm.batch_norm=false "
                        "train.grad_clip=null inputs.short_sequences=hold_first prep.landmarks=given")
    p.add_argument("--cache", type=Path, default=None)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    try:
        base, train, prep = configs_with_settings(args.set)
    except ValueError as e:  # a bad --set: say which, without a traceback
        p.error(str(e))
    train = train.with_epochs(args.epochs)

    samples, class_names, _ = load_samples(args.data, base.inputs, prep, cache_dir=args.cache,
                                           progress=False)
    cfg = ablation_config(dataclasses.replace(base, class_names=tuple(class_names)), args.variant)
    t0 = time.perf_counter()
    accs, branch_accs, alphas, dead, drives = [], {"G": [], "L": []}, [], [], []
    pooled = np.zeros((len(class_names), len(class_names)), np.int64)  # rows: true class
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            res = cross_validate(samples, class_names, cfg, dataclasses.replace(train, seed=seed), args.folds,
                                 tmp, RunOptions(progress=False), figures=False)
            for k, fold in enumerate(res["folds"]):
                accs.append(fold["accuracy"])
                pooled += np.asarray(fold["confusion_matrix"])
                alphas.append(fold.get("alpha"))
                model = load_model(Path(tmp) / f"fold_{k}" / "last.pt")
                test = [s for s in samples if s.subject in set(fold["test_subjects"])]
                report = health_report(model, *batch_tensors(test[:64]))
                dead.append(dead_regions(report))
                drives.append({r: round(h.input_drive, 3) for r, h in report.regions.items()})
                pred = predict(model, make_loader(StanerDataset(test), 64), torch.device("cpu"), amp=False)
                for key, P in (("G", pred.P_G), ("L", pred.P_L)):
                    if P is not None:
                        branch_accs[key].append(float((P.argmax(1) == pred.labels).mean()))
    accs = np.array(accs)
    summary = {
        "data": str(args.data), "variant": args.variant, "folds": args.folds, "epochs": args.epochs,
        "seeds": args.seeds, "set": args.set, "stabilise": base.inputs.stabilise,
        "clstm": dataclasses.asdict(base.tler.clstm), "end_norm": base.sgaer.end_norm,
        "grad_clip": train.grad_clip, "schedule": train.schedule,
        "augment": dataclasses.asdict(train.augment), "class_balance": train.class_balance,
        "short_sequences": base.inputs.short_sequences,
        "accuracy_mean": round(float(accs.mean()), 4), "accuracy_std": round(float(accs.std()), 4),
        "fold_accuracies": [round(float(a), 4) for a in accs],
        # mean of the per-class recalls on the pooled test predictions: what a rare class gets
        "mean_recall": round(float(np.mean(np.diag(pooled) / np.maximum(pooled.sum(1), 1))), 4),
        "recall_per_class": dict(zip(class_names, np.round(np.diag(pooled) / np.maximum(pooled.sum(1), 1), 3).tolist())),
    }
    for key, name in (("G", "P_G"), ("L", "P_L")):
        if branch_accs[key] and cfg.sgaer is not None and cfg.tler is not None:
            a = np.array(branch_accs[key])
            summary[f"{name}_accuracy_mean"] = round(float(a.mean()), 4)
            summary[f"{name}_accuracy_std"] = round(float(a.std()), 4)
            summary[f"{name}_fold_accuracies"] = [round(float(x), 4) for x in a]
    summary.update({"alpha_per_fold": alphas, "dead_regions_per_fold": dead, "input_drive_per_fold": drives,
                    "wall_time_s": round(time.perf_counter() - t0, 1)})
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
