"""Classroom training from the app: :func:`train_classroom` writes a run folder like ``staner-lab
train`` (results written atomically, so a server restart loses no finished run); a :class:`TrainingJob`
runs it in a background thread, stoppable through ``fit``'s ``on_epoch`` callback, in
``<folder>/app-<timestamp>/``; a :class:`TrainingPool` runs a whole class's jobs a few at a time.
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

__all__ = ["ClassroomResult", "QueueFull", "TrainingJob", "TrainingPool", "TrainingStopped", "new_run_dir",
           "train_classroom"]


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
    from staner_lab.training.fold import holdout_split
    from staner_lab.training.loop import atomic_write_text, fit, predict
    from staner_lab.training.results import versions, write_predictions

    run_dir = Path(run_dir)
    config = preset("classroom", tuple(class_names))
    cfg = dataclasses.replace(train_preset("classroom").with_epochs(int(epochs)), seed=seed)
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


class QueueFull(RuntimeError):
    """The training queue holds ``STANER_APP_QUEUE`` trainings already."""


class TrainingJob:
    """One classroom training, in a :class:`TrainingPool`'s worker thread (or its own thread, with
    :meth:`start`), so the page stays live and Stop can be pressed.

    The page polls :attr:`history`, :attr:`status` and :meth:`TrainingPool.position`; :meth:`stop`
    cancels a queued job, or asks ``fit``'s on_epoch callback to raise :class:`TrainingStopped`
    after the current epoch.

    >>> job = TrainingJob.start(samples, class_names, epochs=3)  # doctest: +SKIP
    >>> job.stop(); job.wait(60); job.status  # doctest: +SKIP
    'stopped'
    """

    def __init__(self, run_dir: Path, epochs: int, samples: Sequence[Sample] = (), class_names: Sequence[str] = (),
                 seed: int = 0, pool: TrainingPool | None = None) -> None:
        self.run_dir = run_dir
        self.epochs = epochs
        self.history: list[dict[str, float]] = []
        self.status: Literal["queued", "running", "done", "stopped", "cancelled", "failed"] = "queued"
        self.error: str | None = None
        self.result: ClassroomResult | None = None
        self.queued_at = time.time()
        self.started: float | None = None
        self.ended: float | None = None
        self._args = (list(samples), tuple(class_names), seed)
        self._pool = pool
        self._stop = threading.Event()
        self._done = threading.Event()

    @classmethod
    def start(cls, samples: Sequence[Sample], class_names: Sequence[str], epochs: int = 10, seed: int = 0,
              root: Path | None = None) -> TrainingJob:
        """Start at once in a thread of its own (no queue)."""
        job = cls(new_run_dir(root), int(epochs), samples, class_names, seed)
        threading.Thread(target=job._work, name=f"staner-train-{job.run_dir.name}", daemon=True).start()
        return job

    def _work(self) -> None:
        samples, class_names, seed = self._args
        self._args = ((), (), seed)  # the samples are not kept after training
        self.started = time.time()
        self.status = "running"
        try:
            self.result = train_classroom(samples, class_names, self.run_dir, self.epochs, seed,
                                          on_epoch=self.history.append, should_stop=self._stop.is_set)
            self.status = "stopped" if self.result.stopped else "done"
        except Exception as exc:  # noqa: BLE001 - a thread must report every failure to the page
            self.error = f"{type(exc).__name__}: {exc}"
            self.status = "failed"
        finally:
            self.ended = time.time()
            self._done.set()

    def stop(self) -> None:
        """Cancel a queued job; or stop training after the current epoch (its weights are kept)."""
        self._stop.set()
        if self._pool is not None:
            self._pool.cancel(self)

    @property
    def queue_wait(self) -> float | None:
        """Seconds from submission to the start of training (None while queued or when cancelled)."""
        return None if self.started is None else self.started - self.queued_at

    @property
    def stopping(self) -> bool:
        return self._stop.is_set() and self.status == "running"

    @property
    def running(self) -> bool:
        """Queued or training (the page keeps polling)."""
        return self.status in ("queued", "running")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends (finished, stopped, cancelled or failed); True if it did."""
        self._done.wait(timeout)
        return not self.running


class TrainingPool:
    """Classroom trainings for the whole server: ``workers`` at a time, at most ``max_queued`` waiting,
    first come first served. One per server (``st.cache_resource`` in the app).

    >>> pool = TrainingPool(workers=1, max_queued=30)  # doctest: +SKIP
    >>> job = pool.submit(samples, class_names, epochs=10, root=session_dir("runs"))  # doctest: +SKIP
    >>> pool.position(job)  # doctest: +SKIP
    1
    """

    def __init__(self, workers: int = 1, max_queued: int = 60) -> None:
        if workers < 1:
            raise ValueError("a training pool needs at least one worker")
        self.workers = int(workers)
        self.max_queued = int(max_queued)
        self._cond = threading.Condition()
        self._waiting: list[TrainingJob] = []
        self._running: list[TrainingJob] = []
        self._threads = [threading.Thread(target=self._worker, name=f"staner-train-worker-{k}", daemon=True)
                         for k in range(self.workers)]
        for t in self._threads:
            t.start()

    def submit(self, samples: Sequence[Sample], class_names: Sequence[str], epochs: int = 10, seed: int = 0,
               root: Path | None = None) -> TrainingJob:
        """Queue a training into a new ``root/app-<timestamp>`` folder.

        Raises:
            QueueFull: ``max_queued`` trainings are waiting already.
        """
        with self._cond:
            queued = sum(j.status == "queued" for j in self._waiting)
            if queued >= self.max_queued:
                raise QueueFull(f"{queued} trainings are already waiting (the server's limit, "
                                "STANER_APP_QUEUE); try again when some have finished")
            job = TrainingJob(new_run_dir(root), int(epochs), samples, class_names, seed, pool=self)
            if len(self._running) + len(self._waiting) < self.workers:
                job.status = "running"  # a worker is free: it starts now, no place in a queue to show
            self._waiting.append(job)
            self._cond.notify()
        return job

    def position(self, job: TrainingJob) -> int | None:
        """1 for the next job to start, 2 for the one after; None when not waiting."""
        with self._cond:
            queued = [j for j in self._waiting if j.status == "queued"]
            return queued.index(job) + 1 if job in queued else None

    @property
    def waiting(self) -> int:
        """Trainings waiting for a worker."""
        with self._cond:
            return sum(j.status == "queued" for j in self._waiting)

    def active_dirs(self) -> list[Path]:
        """Run folders of queued and running trainings (their sessions are not cleaned up)."""
        with self._cond:
            return [j.run_dir for j in (*self._waiting, *self._running)]

    def cancel(self, job: TrainingJob) -> bool:
        """Take a queued job off the queue (its empty run folder is removed); False if it is not queued."""
        with self._cond:
            if job not in self._waiting:
                return False
            self._waiting.remove(job)
            job.status = "cancelled"
            job._args = ((), (), 0)
        try:
            job.run_dir.rmdir()
        except OSError:
            pass
        job._done.set()
        return True

    def _worker(self) -> None:
        while True:
            with self._cond:
                while not self._waiting:
                    self._cond.wait()
                job = self._waiting.pop(0)
                job.status = "running"
                self._running.append(job)
            try:
                job._work()
            finally:
                with self._cond:
                    self._running.remove(job)
