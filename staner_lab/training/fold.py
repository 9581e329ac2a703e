"""One run of the protocol: a model trained on one split of the data and tested on the rest.

:class:`FoldRun` names the run (variant, seed, fold, its configs, its train and test indices, its
folder); :class:`RunOptions` says how to run it (device, mixed precision, resume, overwrite,
progress, data-loader workers); :func:`run_fold` does it: the model, the split for model selection,
``fit``, the test predictions and ``fold_dir/result.json``. Both the protocol
(:mod:`staner_lab.training.protocol`) and every executor (:mod:`staner_lab.training.executors`)
import this module; neither imports the other's internals.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from staner_lab.atomic import atomic_write_text
from staner_lab.config import StanerConfig, TrainConfig
from staner_lab.data.dataset import StanerDataset, make_loader
from staner_lab.data.records import Sample
from staner_lab.data.splits import subject_kfold
from staner_lab.metrics import accuracy_from_confusion, confusion_matrix
from staner_lab.models.staner import STANER
from staner_lab.models.vgg import load_vgg16_weights
from staner_lab.training.checkpoint import CheckpointError, load_checkpoint
from staner_lab.training.fusion import choose_alpha
from staner_lab.training.loop import fit, predict
from staner_lab.training.results import write_predictions

__all__ = ["FoldRun", "RunOptions", "holdout_split", "run_attempt", "run_fold", "seeded_model", "start_from"]


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How a run is carried out; none of it changes what is learned (except the device's arithmetic).

    device: "cpu", "cuda", "mps" or "auto"; amp: mixed precision on CUDA; resume: continue from each
    run's last checkpoint (a finished run is read back, not trained again); overwrite: replace a run
    folder that holds results; progress: progress bars and per-run lines; workers: DataLoader worker
    processes (0: load in the training process).
    """

    device: str = "cpu"
    amp: bool = True
    resume: bool = False
    overwrite: bool = False
    progress: bool = True
    workers: int = 0

    def __post_init__(self) -> None:
        if self.workers < 0:
            raise ValueError(f"--workers {self.workers}: give 0 (load in the training process) or more")


@dataclasses.dataclass(frozen=True)
class FoldRun:
    """One cell of the grid: train ``config`` on ``train_idx``, test on ``test_idx``, in ``fold_dir``."""

    variant: str
    seed: int
    fold: int
    folds: int
    config: StanerConfig
    train_cfg: TrainConfig  # its seed is ``seed``
    train_idx: np.ndarray
    test_idx: np.ndarray
    fold_dir: Path
    nested: bool = False  # several seeds: the label names the seed

    @property
    def label(self) -> str:
        return f"[{self.variant}]" + (f" seed {self.seed}," if self.nested else "") + f" fold {self.fold + 1}/{self.folds}"

    def finished(self) -> dict[str, Any] | None:
        """The run's result.json when it has one."""
        done = self.fold_dir / "result.json"
        return json.loads(done.read_text()) if done.is_file() else None


def holdout_split(samples: Sequence[Sample], fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Subject-disjoint (train, validation) indices with about ``fraction`` of subjects held out."""
    subjects = {s.subject for s in samples}
    k = max(2, min(len(subjects), round(1 / fraction)))
    return subject_kfold(samples, k, seed)[0]


def seeded_model(config: StanerConfig, train_cfg: TrainConfig) -> STANER:
    """A fresh model seeded by ``train_cfg.seed``: its weights from the checkpoint ``init`` if given, its
    front end from ``vgg_weights`` if given."""
    torch.manual_seed(train_cfg.seed)
    model = STANER(config)
    if train_cfg.init:
        start_from(model, train_cfg.init)
    if train_cfg.vgg_weights and model.sgaer is not None:
        load_vgg16_weights(model.sgaer.frontend, train_cfg.vgg_weights)
    return model


def start_from(model: STANER, path: str | Path) -> None:
    """Load the weights of the checkpoint ``path`` into ``model`` (``--init``): the same classes and
    the same architecture (preset, variant, options), or a CheckpointError that names what differs."""
    init = load_checkpoint(path)
    theirs, ours = init["config"], model.config
    if tuple(theirs.class_names) != tuple(ours.class_names):
        raise CheckpointError(f"--init {path}: it was trained on classes {list(theirs.class_names)}, this data has "
                              f"{list(ours.class_names)}")
    state = model.state_dict()
    differ = sorted(k for k in set(state) | set(init["model"])
                    if k not in state or k not in init["model"] or state[k].shape != init["model"][k].shape)
    if differ:
        raise CheckpointError(f"--init {path}: its {theirs.preset} {theirs.variant} model is not this "
                              f"{ours.preset} {ours.variant} model ({len(differ)} weights differ, e.g. "
                              f"{', '.join(differ[:3])}); train it with the same --preset, --variant and "
                              "architecture options")
    model.load_state_dict(init["model"])


def run_fold(run: FoldRun, samples: Sequence[Sample], options: RunOptions = RunOptions()) -> dict[str, Any]:
    """Train on ``run.train_idx``, test on ``run.test_idx``; ``fold_dir/result.json`` (read back when
    resuming a finished run)."""
    done = run.fold_dir / "result.json"
    if options.resume and done.exists():
        return json.loads(done.read_text())
    t0 = time.perf_counter()
    cfg, config = run.train_cfg, run.config
    fit_idx, select_idx = np.asarray(run.train_idx), np.zeros(0, np.int64)
    if cfg.select_fraction > 0:  # model selection on training subjects, never on the test fold
        rel_fit, rel_select = holdout_split([samples[i] for i in fit_idx], cfg.select_fraction, cfg.seed)
        fit_idx, select_idx = fit_idx[rel_fit], fit_idx[rel_select]
    train_set = StanerDataset([samples[i] for i in fit_idx], flip=cfg.flip, seed=cfg.seed,
                              augment=cfg.augment, class_balance=cfg.class_balance)
    test_samples = [samples[i] for i in run.test_idx]
    test_set = StanerDataset(test_samples)
    # without selection the test fold is only reported per epoch (val_* in metrics.csv), never used
    watch = StanerDataset([samples[i] for i in select_idx]) if len(select_idx) else test_set
    device = torch.device(options.device)
    result = fit(seeded_model(config, cfg), train_set, watch, cfg, run.fold_dir, device=device, amp=options.amp,
                 resume=options.resume, progress=options.progress, num_workers=options.workers,
                 select_best=bool(len(select_idx)))
    alpha = None
    if cfg.select_alpha and len(select_idx) and result.model.sgaer is not None and result.model.tler is not None:
        seen = predict(result.model, make_loader(watch, cfg.batch_size), device, options.amp)
        alpha = choose_alpha(seen.P_G, seen.P_L, seen.labels)
    pred = predict(result.model, make_loader(test_set, cfg.batch_size), device, options.amp, alpha)
    write_predictions(run.fold_dir / "predictions.csv", pred, test_samples, config.class_names)
    cm = confusion_matrix(pred.labels, pred.predicted, config.num_classes)
    fold_result = {
        "accuracy": accuracy_from_confusion(cm),
        "test_size": len(run.test_idx),
        "train_size": len(run.train_idx),
        "test_subjects": sorted({samples[i].subject for i in run.test_idx}),
        "confusion_matrix": cm.tolist(),
        "history": result.history,
        "selection_subjects": sorted({samples[i].subject for i in select_idx}),
        "best_epoch": result.best_epoch,
        "best_epochs": result.best_epochs,
        "alpha": alpha if alpha is not None else config.alpha,
        "device": str(options.device),
        "seconds": time.perf_counter() - t0,
    }
    atomic_write_text(done, json.dumps(fold_result, indent=1))
    return fold_result


def _epochs_done(fold_dir: Path) -> int:
    """Epochs in ``fold_dir/last.pt`` (0 without one); read memory-mapped, weights not copied."""
    path = fold_dir / "last.pt"
    if not path.is_file():
        return 0
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True, mmap=True)["extra"]["epoch"]) + 1
    except Exception:  # noqa: BLE001 - unreadable: the run itself reports it with the fix
        return 0


def _record_attempt(fold_dir: Path) -> None:
    path = fold_dir / "attempts.json"
    attempts = json.loads(path.read_text()) if path.is_file() else []
    attempts.append({"pid": os.getpid(), "host": socket.gethostname(), "start_epoch": _epochs_done(fold_dir),
                     "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    atomic_write_text(path, json.dumps(attempts, indent=1))


def run_attempt(run: FoldRun, samples: Sequence[Sample], options: RunOptions) -> dict[str, Any]:
    """One attempt at ``run`` by an executor: its result.json when resuming a finished run, else train
    (from ``last.pt`` when resuming) and test, noting the attempt in ``fold_dir/attempts.json``."""
    if options.resume and (done := run.finished()) is not None:
        return done
    run.fold_dir.mkdir(parents=True, exist_ok=True)
    _record_attempt(run.fold_dir)
    return run_fold(run, samples, options)
