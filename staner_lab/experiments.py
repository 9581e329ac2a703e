"""The paper's protocol (Section 4): one training run, subject-independent k-fold cross-validation,
and the ablation table (Table 1). Every result is written atomically into a run folder:

    RUN/results.json            per-fold accuracy and size, mean +- std, recall, confusion, config ...
    RUN/metrics.csv             per-epoch metrics of every fold (column "fold")
    RUN/confusion.html / .png   the summed confusion matrix (interactive / static)
    RUN/fold_K/last.pt          checkpoint (resumable), fold_K/predictions.csv, fold_K/result.json
    RUN/table1.md / table1.csv  (ablate) C1-C4 and STANER, mean +- std accuracy
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import platform
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__
from .atomic import atomic_write_text
from .checkpoint import load_checkpoint, save_checkpoint
from .config import VARIANTS, StanerConfig, TrainConfig, ablation_config
from .data.dataset import StanerDataset, make_loader
from .data.records import Sample
from .data.splits import subject_kfold
from .metrics import accuracy_from_confusion, confusion_matrix, mean_std, per_class_recall
from .models.staner import STANER
from .models.vgg import load_vgg16_weights
from .train import Predictions, fit, predict

__all__ = [
    "RunExistsError",
    "ablate",
    "cross_validate",
    "holdout_split",
    "prepare_run_dir",
    "train_run",
    "versions",
    "write_predictions",
]

RESULT_FILES = ("results.json", "metrics.csv", "confusion.html", "confusion.png", "table1.md", "table1.csv",
                "model.pt")


class RunExistsError(ValueError):
    """The run folder already holds results."""


def versions() -> dict[str, str]:
    import numpy

    return {"staner_lab": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version()}


def prepare_run_dir(out: str | Path, overwrite: bool, resume: bool) -> Path:
    """Create ``out``; refuse to touch earlier results unless ``overwrite`` (or ``resume``)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunExistsError(f"--out {out} is a file, not a folder")
    existing = [p.name for p in out.glob("*")] if out.exists() else []
    ours = [n for n in existing if n in RESULT_FILES or n.startswith("fold_") or n in VARIANTS]
    if ours and not (overwrite or resume):
        raise RunExistsError(
            f"{out} already holds results ({', '.join(sorted(ours)[:5])}); pass --resume to continue "
            "that run, --overwrite to replace it, or choose another --out")
    if ours and overwrite and not resume:
        for name in ours:
            p = out / name
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return out


def holdout_split(samples: Sequence[Sample], fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Subject-disjoint (train, validation) indices with about ``fraction`` of subjects held out."""
    subjects = {s.subject for s in samples}
    k = max(2, min(len(subjects), round(1 / fraction)))
    return subject_kfold(samples, k, seed)[0]


def write_predictions(path: Path, pred: Predictions, samples: Sequence[Sample],
                      class_names: Sequence[str]) -> None:
    """One row per test sequence: ids, label, prediction and the three probability vectors."""
    buf = io.StringIO()
    w = csv.writer(buf)
    heads = [f"P_{c}" for c in class_names]
    w.writerow(["sequence_id", "subject", "label", "predicted"] + heads
               + (["G_" + h for h in heads] if pred.P_G is not None else [])
               + (["L_" + h for h in heads] if pred.P_L is not None else []))
    for row, i in enumerate(pred.indices):
        s = samples[int(i)]
        values = list(pred.P[row])
        values += list(pred.P_G[row]) if pred.P_G is not None else []
        values += list(pred.P_L[row]) if pred.P_L is not None else []
        w.writerow([s.sequence_id, s.subject, class_names[int(pred.labels[row])],
                    class_names[int(pred.predicted[row])]] + [f"{v:.6f}" for v in values])
    atomic_write_text(path, buf.getvalue())


def _build(config: StanerConfig, train_cfg: TrainConfig) -> STANER:
    torch.manual_seed(train_cfg.seed)
    model = STANER(config)
    if train_cfg.vgg_weights and model.sgaer is not None:
        load_vgg16_weights(model.sgaer.frontend, train_cfg.vgg_weights)
    return model


def _run_fold(samples, train_idx, test_idx, config, train_cfg, fold_dir: Path, device, amp, resume,
              progress, workers=0) -> dict[str, Any]:
    done = fold_dir / "result.json"
    if resume and done.exists():
        return json.loads(done.read_text())
    train_set = StanerDataset([samples[i] for i in train_idx], flip=train_cfg.flip, seed=train_cfg.seed)
    test_samples = [samples[i] for i in test_idx]
    test_set = StanerDataset(test_samples)
    model = _build(config, train_cfg)
    result = fit(model, train_set, test_set, train_cfg, fold_dir, device=device, amp=amp, resume=resume,
                 progress=progress, num_workers=workers)
    pred = predict(result.model, make_loader(test_set, train_cfg.batch_size), torch.device(device), amp)
    write_predictions(fold_dir / "predictions.csv", pred, test_samples, config.class_names)
    cm = confusion_matrix(pred.labels, pred.predicted, config.num_classes)
    fold_result = {
        "accuracy": accuracy_from_confusion(cm),
        "test_size": len(test_idx),
        "train_size": len(train_idx),
        "test_subjects": sorted({samples[i].subject for i in test_idx}),
        "confusion_matrix": cm.tolist(),
        "history": result.history,
    }
    atomic_write_text(done, json.dumps(fold_result, indent=1))
    return fold_result


def _combined_metrics(out: Path, folds: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    fields = ["fold"] + list(folds[0]["history"][0])
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    for k, f in enumerate(folds):
        for row in f["history"]:
            w.writerow({"fold": k, **row})
    atomic_write_text(out / "metrics.csv", buf.getvalue())


def cross_validate(samples: Sequence[Sample], class_names: Sequence[str], config: StanerConfig,
                   train_cfg: TrainConfig, folds: int, out: str | Path, device: str = "cpu", amp: bool = True,
                   resume: bool = False, overwrite: bool = False, progress: bool = True,
                   data: str = "", figures: bool = True, workers: int = 0,
                   _checked: bool = False) -> dict[str, Any]:
    """Subject-independent k-fold CV; writes and returns the results dict (see module docstring)."""
    out = Path(out) if _checked else prepare_run_dir(out, overwrite, resume)
    splits = subject_kfold(samples, folds, train_cfg.seed)
    t0 = time.perf_counter()
    fold_results = []
    for k, (train_idx, test_idx) in enumerate(splits):
        if progress:
            print(f"[{config.variant}] fold {k + 1}/{folds}: {len(train_idx)} train, {len(test_idx)} test sequences")
        fold_results.append(_run_fold(samples, train_idx, test_idx, config, train_cfg, out / f"fold_{k}",
                                      device, amp, resume, progress, workers))
    cm = np.sum([np.array(f["confusion_matrix"]) for f in fold_results], axis=0)
    accs = [f["accuracy"] for f in fold_results]
    mean, std = mean_std(accs)
    recall = per_class_recall(cm)
    results = {
        "variant": config.variant,
        "data": data,
        "class_names": list(class_names),
        "folds": [{"fold": k, "accuracy": f["accuracy"], "test_size": f["test_size"],
                   "train_size": f["train_size"], "test_subjects": f["test_subjects"],
                   "confusion_matrix": f["confusion_matrix"]} for k, f in enumerate(fold_results)],
        "accuracy_mean": mean,
        "accuracy_std": std,
        "pooled_accuracy": accuracy_from_confusion(cm),
        "per_class_recall": {c: (None if np.isnan(r) else float(r)) for c, r in zip(class_names, recall)},
        "confusion_matrix": cm.tolist(),
        "config": config.to_dict(),
        "train_config": train_cfg.to_dict(),
        "seed": train_cfg.seed,
        "versions": versions(),
        "device": str(device),
        "wall_time_s": time.perf_counter() - t0,
    }
    atomic_write_text(out / "results.json", json.dumps(results, indent=1))
    _combined_metrics(out, fold_results)
    if figures:
        from .viz import save_confusion_figures

        save_confusion_figures(cm, class_names, out / "confusion", title=f"{config.variant}: summed over {folds} folds")
    return results


def train_run(samples: Sequence[Sample], class_names: Sequence[str], config: StanerConfig,
              train_cfg: TrainConfig, out: str | Path, device: str = "cpu", amp: bool = True,
              val_fraction: float = 0.2, resume: bool = False, overwrite: bool = False,
              progress: bool = True, data: str = "", workers: int = 0) -> dict[str, Any]:
    """Train one model with ``val_fraction`` of the subjects held out; ``RUN/model.pt`` at the end."""
    out = prepare_run_dir(out, overwrite, resume)
    train_idx, val_idx = holdout_split(samples, val_fraction, train_cfg.seed) if val_fraction > 0 else (
        np.arange(len(samples)), np.zeros(0, int))
    result = _run_fold(samples, train_idx, val_idx, config, train_cfg, out, device, amp, resume, progress, workers)
    # model.pt: the final weights without the optimizer state (a third of last.pt's size)
    final = load_checkpoint(out / "last.pt")
    model = STANER(final["config"])
    model.load_state_dict(final["model"])
    save_checkpoint(out / "model.pt", model, {k: final["extra"][k] for k in ("epoch", "history", "train_config")})
    summary = {"variant": config.variant, "data": data, "class_names": list(class_names),
               "held_out_accuracy": result["accuracy"] if len(val_idx) else None,
               "held_out_size": len(val_idx), "held_out_subjects": result["test_subjects"],
               "train_size": len(train_idx), "confusion_matrix": result["confusion_matrix"],
               "config": config.to_dict(), "train_config": train_cfg.to_dict(), "seed": train_cfg.seed,
               "versions": versions(), "device": str(device)}
    atomic_write_text(out / "results.json", json.dumps(summary, indent=1))
    return summary


def ablate(samples: Sequence[Sample], class_names: Sequence[str], base: StanerConfig,
           train_cfg: TrainConfig, folds: int, out: str | Path, variants: Sequence[str] = VARIANTS,
           device: str = "cpu", amp: bool = True, resume: bool = False, overwrite: bool = False,
           progress: bool = True, data: str = "", workers: int = 0) -> list[dict[str, Any]]:
    """Table 1: every variant on the same subject-independent folds; writes table1.md and .csv."""
    out = prepare_run_dir(out, overwrite, resume)
    rows = []
    for variant in variants:
        cfg = ablation_config(base, variant)
        vdir = prepare_run_dir(out / variant, overwrite, resume)
        res = cross_validate(samples, class_names, cfg, train_cfg, folds, vdir, device, amp, resume, overwrite,
                             progress, data, workers=workers, _checked=True)
        rows.append({"method": variant, "accuracy_mean": res["accuracy_mean"], "accuracy_std": res["accuracy_std"],
                     "folds": folds, "fold_accuracies": [f["accuracy"] for f in res["folds"]]})
    name = Path(data).name or "data"
    md = [f"| Methods | {name} |", "|---|---|"]
    md += [f"| {r['method']} | {100 * r['accuracy_mean']:.2f}% ± {100 * r['accuracy_std']:.2f} |" for r in rows]
    atomic_write_text(out / "table1.md", "\n".join(md) + "\n")
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["method", "accuracy_mean", "accuracy_std", "folds"] + [f"fold_{k}" for k in range(folds)])
    for r in rows:
        w.writerow([r["method"], f"{r['accuracy_mean']:.6f}", f"{r['accuracy_std']:.6f}", folds]
                   + [f"{a:.6f}" for a in r["fold_accuracies"]])
    atomic_write_text(out / "table1.csv", buf.getvalue())
    return rows


def with_classes(config: StanerConfig, class_names: Sequence[str]) -> StanerConfig:
    return dataclasses.replace(config, class_names=tuple(class_names))
