"""Classroom training from the app: :func:`train_classroom` writes a run folder like ``staner-lab
train``; :class:`TrainingJob` runs it in a background thread, stoppable through ``fit``'s
``on_epoch`` callback, in ``runs/app-<timestamp>/``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from staner_lab.app.paths import runs_root
from staner_lab.config import preset, train_preset
from staner_lab.data.records import Sample
from staner_lab.models.staner import STANER

__all__ = ["ClassroomResult", "TrainingJob", "TrainingStopped", "new_run_dir", "train_classroom"]


class TrainingStopped(Exception):
    """Raised from ``fit``'s ``on_epoch`` callback when the user presses Stop."""


@dataclass(frozen=True)
class ClassroomResult:
    """A finished (or stopped) classroom run: ``checkpoint`` is ``run_dir/model.pt``."""

    run_dir: Path
    checkpoint: Path
    history: list[dict[str, float]]
    stopped: bool
    accuracy: float | None


def new_run_dir(root: Path | None = None) -> Path:
    """A fresh ``runs/app-<timestamp>`` folder (a suffix keeps two runs in one second apart)."""
    root = root or runs_root()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(100):
        p = root / (f"app-{stamp}" + (f"-{n}" if n else ""))
        try:
            p.mkdir(parents=True, exist_ok=False)
            return p
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a new run folder under {root}")


def train_classroom(samples: Sequence[Sample], class_names: Sequence[str], run_dir: str | os.PathLike[str],
                    epochs: int = 10, seed: int = 0, val_fraction: float = 0.2,
                    on_epoch: Callable[[dict[str, float]], None] | None = None,
                    should_stop: Callable[[], bool] | None = None) -> ClassroomResult:
    """Train the classroom preset on ``samples`` with some subjects held out; write a run folder.

    Writes ``last.pt`` and ``metrics.csv`` (by ``fit``) and, at the end or when stopped after at
    least one epoch, ``model.pt``, ``predictions.csv`` and ``results.json`` with the held-out
    confusion matrix (the format of ``staner-lab train``).

    Args:
        samples, class_names: the data (e.g. ``load_shipped_samples``).
        run_dir: the run folder (created).
        epochs: epochs to train; the learning rate drops tenfold after two thirds of them.
        on_epoch: called with each epoch's metrics row.
        should_stop: polled after each epoch; True stops training (``fit``'s on_epoch raises).
    """
    from staner_lab.data.dataset import StanerDataset, make_loader
    from staner_lab.metrics import accuracy_from_confusion, confusion_matrix, per_class_recall
    from staner_lab.training.checkpoint import load_checkpoint, save_checkpoint
    from staner_lab.training.loop import atomic_write_text, fit, predict
    from staner_lab.training.protocol import holdout_split
    from staner_lab.training.results import versions, write_predictions

    run_dir = Path(run_dir)
    config = preset("classroom", tuple(class_names))
    base = train_preset("classroom")
    cfg = dataclasses.replace(base, epochs=int(epochs), seed=seed, lr_drop_epoch=max(1, (2 * int(epochs)) // 3)
                              if epochs <= base.lr_drop_epoch else base.lr_drop_epoch)
    train_idx, val_idx = holdout_split(samples, val_fraction, seed)
    train_set = StanerDataset([samples[i] for i in train_idx], flip=cfg.flip, seed=seed)
    val_samples = [samples[i] for i in val_idx]
    val_set = StanerDataset(val_samples)
    torch.manual_seed(seed)
    model = STANER(config)
    history: list[dict[str, float]] = []

    def callback(row: dict[str, float]) -> None:
        history.append(dict(row))
        if on_epoch is not None:
            on_epoch(dict(row))
        if should_stop is not None and should_stop() and len(history) < cfg.epochs:
            raise TrainingStopped

    stopped = False
    try:
        fit(model, train_set, val_set, cfg, run_dir, device="cpu", amp=False, progress=False, on_epoch=callback)
    except TrainingStopped:
        stopped = True
    final = load_checkpoint(run_dir / "last.pt")
    model.load_state_dict(final["model"])
    checkpoint = save_checkpoint(run_dir / "model.pt", model, {k: final["extra"][k] for k in ("epoch", "history",
                                                                                         "train_config")})
    pred = predict(model, make_loader(val_set, cfg.batch_size), torch.device("cpu"), amp=False)
    write_predictions(run_dir / "predictions.csv", pred, val_samples, config.class_names)
    cm = confusion_matrix(pred.labels, pred.predicted, config.num_classes)
    acc = accuracy_from_confusion(cm) if len(val_idx) else None
    recall = per_class_recall(cm)
    summary = {"variant": config.variant, "data": "data_samples/synthetic_ckplus (classroom training in the app)",
               "class_names": list(config.class_names), "held_out_accuracy": acc, "held_out_size": len(val_idx),
               "held_out_subjects": sorted({s.subject for s in val_samples}), "train_size": len(train_idx),
               "confusion_matrix": cm.tolist(),
               "per_class_recall": {c: (None if np.isnan(r) else float(r)) for c, r in zip(config.class_names, recall)},
               "epochs_done": len(history), "stopped": stopped, "config": config.to_dict(),
               "train_config": cfg.to_dict(), "seed": seed, "versions": versions(), "device": "cpu"}
    atomic_write_text(run_dir / "results.json", json.dumps(summary, indent=1))
    return ClassroomResult(run_dir=run_dir, checkpoint=checkpoint, history=history, stopped=stopped, accuracy=acc)


class TrainingJob:
    """Classroom training in a background thread, so the page stays live and Stop can be pressed.

    The page polls :attr:`history` and :attr:`status`; :meth:`stop` asks ``fit``'s on_epoch callback
    to raise :class:`TrainingStopped` after the current epoch.

    >>> job = TrainingJob.start(samples, class_names, epochs=3)  # doctest: +SKIP
    >>> job.stop(); job.wait(60); job.status  # doctest: +SKIP
    'stopped'
    """

    def __init__(self, run_dir: Path, epochs: int) -> None:
        self.run_dir = run_dir
        self.epochs = epochs
        self.history: list[dict[str, float]] = []
        self.status: Literal["running", "done", "stopped", "failed"] = "running"
        self.error: str | None = None
        self.result: ClassroomResult | None = None
        self.started = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def start(cls, samples: Sequence[Sample], class_names: Sequence[str], epochs: int = 10, seed: int = 0,
              root: Path | None = None) -> TrainingJob:
        job = cls(new_run_dir(root), int(epochs))
        job._thread = threading.Thread(target=job._work, args=(list(samples), tuple(class_names), seed),
                                       name=f"staner-train-{job.run_dir.name}", daemon=True)
        job._thread.start()
        return job

    def _work(self, samples: list[Sample], class_names: tuple[str, ...], seed: int) -> None:
        try:
            self.result = train_classroom(samples, class_names, self.run_dir, self.epochs, seed,
                                          on_epoch=self.history.append, should_stop=self._stop.is_set)
            self.status = "stopped" if self.result.stopped else "done"
        except Exception as exc:  # noqa: BLE001 - a thread must report every failure to the page
            self.error = f"{type(exc).__name__}: {exc}"
            self.status = "failed"

    def stop(self) -> None:
        """Ask training to stop after the current epoch (the weights of the last epoch are kept)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set() and self.status == "running"

    @property
    def running(self) -> bool:
        return self.status == "running"

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the thread ends; True if it did."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

