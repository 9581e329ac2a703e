"""Helpers of the executor tests (tests/training/test_ray_executor.py, tests/training/test_process_executor.py): a tiny
grid's samples and training, comparisons of two run folders, and killing the process of a run."""

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import torch

from staner_lab.config import TrainConfig, preset
from staner_lab.data.records import Sample
from staner_lab.training.checkpoint import load_checkpoint

CLASSES = ("anger", "happy", "surprise")


def tiny_samples(n_subjects=4):
    rng = np.random.default_rng(0)
    inp = preset("classroom").inputs
    return [Sample(peak=rng.random((inp.face_size, inp.face_size), dtype=np.float32),
                   regions={r: rng.random((inp.frames, *hw), dtype=np.float32) for r, hw in inp.region_sizes.items()},
                   landmarks=np.zeros((inp.frames, 68, 2), np.float32), label=label, subject=f"S{s}",
                   sequence_id=f"S{s}/{label}") for s in range(n_subjects) for label in range(3)]


def tiny_train_cfg(epochs):
    return TrainConfig(epochs=epochs, batch_size=4, lr=1e-3, lr_drop_epoch=max(1, epochs - 1), lr_after=1e-4)


def files_of(run):
    return sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file())


def same_weights(a, b):
    wa, wb = load_checkpoint(a)["model"], load_checkpoint(b)["model"]
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def without_timing(res):
    return {k: v for k, v in res.items() if k not in ("wall_time_s", "executor")}


def kill_after_first_checkpoint(fold: Path) -> tuple[threading.Thread, dict]:
    """A started thread that SIGKILLs the process training ``fold`` (the pid in its attempts.json) as
    soon as the fold has written its first checkpoint, and the dict where it puts that ``"pid"``.
    It never kills this process (the pid is recorded, the test asserts on it)."""
    hit: dict = {}

    def kill():
        deadline = time.time() + 120
        while time.time() < deadline:
            if (fold / "last.pt").is_file() and (fold / "attempts.json").is_file():
                hit["pid"] = json.loads((fold / "attempts.json").read_text())[0]["pid"]
                if hit["pid"] != os.getpid():
                    os.kill(hit["pid"], signal.SIGKILL)
                return
            time.sleep(0.01)

    thread = threading.Thread(target=kill)
    thread.start()
    return thread, hit
