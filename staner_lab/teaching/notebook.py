"""What the notebooks call that is not a figure: the fast switch, data for the lessons, sweeps.

The notebooks in ``notebooks/`` narrate the library; this module holds the few steps they need that
belong to no part of the model (figures are in :mod:`staner_lab.viz`, exercise checks in
:mod:`staner_lab.teaching.exercises`):

- :func:`fast` / :func:`budget`: ``STANER_FAST=1`` (set by ``tests/teaching/test_notebooks.py``) shrinks
  epochs, folds and integration steps so that every notebook runs in seconds. Numbers computed in
  fast mode show that the code runs, not what the model can learn.
- :func:`synthetic_samples`: new synthetic subjects rendered in memory and preprocessed exactly as
  the shipped data (given landmarks), e.g. a validation set the shipped checkpoint never saw.
- :func:`predictions` (with ``staner_lab.training.fusion.fused_accuracy`` / ``alpha_sweep``): Eq. 14 at any alpha from one
  pass of the model.
- :func:`as_leaky`, :func:`subject_overlap`: the mistake notebook 06 measures, a split that lets
  one subject appear in training and test.

Importing this module inside a Jupyter kernel also makes every plotly figure carry a static PNG
beside the interactive one (:mod:`staner_lab.teaching.figures`), so exports and hand-outs show them.

>>> budget(full=30, fast=1) in (1, 30)
True
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from staner_lab.config import InputConfig, PreprocessConfig
from staner_lab.data.records import Sample
from staner_lab.data.shipped import DATA_SAMPLES
from staner_lab.teaching import figures

__all__ = [
    "FAST_ENV",
    "RUNS_ENV",
    "as_leaky",
    "budget",
    "epoch_printer",
    "fast",
    "mode_banner",
    "one_per_class",
    "predictions",
    "run_dir",
    "shipped_look",
    "short_schedule",
    "subject_overlap",
    "subset_subjects",
    "synthetic_samples",
]

#: Environment variable of the fast switch: any value but "" and "0" turns it on.
FAST_ENV = "STANER_FAST"
#: Where notebooks write run folders (default: the repository's ``runs/notebooks/``).
RUNS_ENV = "STANER_NOTEBOOK_RUNS"


figures.install()


def fast() -> bool:
    """True when ``$STANER_FAST`` asks for tiny budgets (the notebook tests set it)."""
    return os.environ.get(FAST_ENV, "").strip() not in ("", "0")


def budget(full, fast_value):
    """``fast_value`` under ``STANER_FAST=1``, else ``full`` (epochs, folds, steps ...)."""
    return fast_value if fast() else full


def mode_banner() -> str:
    """One line that says which budget a notebook runs with."""
    if fast():
        return (f"{FAST_ENV}=1: tiny budgets (a few epochs, 2 folds). Every cell runs, but the numbers "
                "say nothing about what the model can learn. Unset it for the classroom run.")
    return f"Classroom budgets (set {FAST_ENV}=1 for a quick smoke run)."


def run_dir(name: str) -> Path:
    """A fresh folder for a notebook's run (``$STANER_NOTEBOOK_RUNS/name`` or ``runs/notebooks/name``).

    Earlier results in it are removed (the library refuses to overwrite a run folder otherwise).
    """
    import shutil

    root = Path(os.environ.get(RUNS_ENV) or DATA_SAMPLES.parent / "runs" / "notebooks").expanduser()
    path = root / name
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def epoch_printer(epochs: int, every: int = 1) -> Callable[[dict[str, float]], None]:
    """An ``on_epoch`` callback for :func:`staner_lab.training.loop.fit` that prints one line per epoch."""

    def show(row: dict[str, float]) -> None:
        e = int(row["epoch"]) + 1
        if e % every == 0 or e == epochs:
            held = "" if np.isnan(row["val_acc"]) else f", held-out accuracy {row['val_acc']:.2f}"
            print(f"epoch {e:3d}/{epochs}: loss {row['train_loss']:.3f}, train accuracy "
                  f"{row['train_acc']:.2f}{held} ({row['seconds']:.1f} s)")

    return show


def short_schedule(epochs: int, base=None):
    """A training config for a short run: ``base`` (default: the classroom preset) with ``epochs`` epochs
    and, when the run is shorter than the paper's drop at epoch 100, the learning-rate drop at 2/3 of it
    (``TrainConfig.with_epochs``, as ``staner-lab train --epochs``)."""
    from staner_lab.config import train_preset

    return (base or train_preset("classroom")).with_epochs(int(epochs))


# --- data ------------------------------------------------------------------------------------------


_LOOKS: dict[tuple[int, str], tuple] = {}


def shipped_look(model, sequence_id: str):
    """(SequenceView, Analysis) of one shipped sequence: Algorithm 1 and the model's intermediates.

    Cached per model and sequence, so a widget can switch between sequences quickly.
    """
    from staner_lab.explain.inspection import analyse, inspect_record, shipped_records

    key = (id(model), sequence_id)
    if key not in _LOOKS:
        records, class_names = shipped_records()
        record = next((r for r in records if r.sequence_id == sequence_id), None)
        if record is None:
            raise ValueError(f"no shipped sequence {sequence_id!r}; they are "
                             f"{records[0].sequence_id} ... {records[-1].sequence_id}")
        view = inspect_record(record, model.config.inputs, class_names=class_names)
        _LOOKS[key] = (view, analyse(model, view.sample))
    return _LOOKS[key]


def one_per_class(items: Sequence, class_names: Sequence[str]) -> dict[str, object]:
    """The first item (a SequenceRecord or Sample, anything with ``.label``) of each class, by class name."""
    out: dict[str, object] = {}
    for item in items:
        name = class_names[item.label]
        out.setdefault(name, item)
    return {n: out[n] for n in class_names if n in out}


def synthetic_samples(subjects: int, seed: int, inputs: InputConfig, *, intensity: float = 1.0,
                      frames: int = 5, size: int = 96, noise: float = 0.2):
    """Render new synthetic subjects and preprocess them like the shipped data.

    Same renderer and defaults as ``data_samples/synthetic_ckplus`` (5 frames of 96 x 96, noise 0.2),
    landmarks given (no dlib), peak = last frame. Subjects are named ``"seed<seed>-S001"`` ... so they
    never collide with the shipped ``S001`` ....

    Args:
        subjects: number of people; each shows all seven CK+ emotions once.
        seed: data seed (the shipped data is seed 0; the shipped checkpoint never saw another seed).
        inputs: model input sizes (``model.config.inputs``).
        intensity: AU amplitude scale in (0, 1]; 0.3 gives subtle expressions.
        frames, size, noise: passed to the renderer.

    Returns:
        (samples, sequences): model-ready Samples and the rendered
        :class:`~staner_lab.data.synthetic.SyntheticSequence` objects (frames, landmarks, AU masks).
    """
    from staner_lab.data.given_landmarks import GivenLandmarksBackend
    from staner_lab.data.synthetic import generate_dataset
    from staner_lab.explain.inspection import inspect_frames

    seqs = generate_dataset(subjects, seed, frames=frames, size=size, intensity=intensity, noise=noise)
    samples = []
    for s in seqs:
        subject = f"seed{seed}-{s.subject}"
        view = inspect_frames(s.frames, [f"{s.sequence_id}[{t}]" for t in range(len(s.frames))], inputs,
                              PreprocessConfig(landmarks="given"), GivenLandmarksBackend(s.landmarks),
                              sequence_id=f"seed{seed}-{s.sequence_id}", label=s.label, subject=subject)
        samples.append(view.sample)
    return samples, seqs


def predictions(model, samples: Sequence[Sample], batch_size: int = 32):
    """:func:`staner_lab.training.loop.predict` over ``samples`` (CPU or the model's device, eval mode).

    Returns:
        :class:`staner_lab.training.loop.Predictions`: ``P_G``, ``P_L``, ``P`` (N, K), ``labels`` (N,).
    """
    from staner_lab.data.dataset import StanerDataset, make_loader
    from staner_lab.training.loop import predict

    device = next(model.parameters()).device
    return predict(model, make_loader(StanerDataset(list(samples)), batch_size), device, amp=False)


def through_a_camera(samples: Sequence[Sample], *, contrast: float = 0.6, blur: float = 1.5,
                     noise: float = 0.0, seed: int = 0) -> list[Sample]:
    """The same sequences as a poorer camera shows them: less contrast, defocus blur and (if asked)
    sensor noise, one lighting for all the images of a sequence
    (:func:`staner_lab.data.augment.apply_photometric`).

    A domain shift under the student's control (notebook 06): the people and their expressions are
    the same, only the pixels change.

    Args:
        samples: model-ready samples.
        contrast: gain about mid grey (1 = unchanged).
        blur: Gaussian blur sigma, pixels of each image.
        noise: standard deviation of the pixel noise (images in [0, 1]).
        seed: draws the noise.
    """
    from staner_lab.data.augment import Photometric, apply_photometric

    look = Photometric(contrast=contrast, blur=blur, noise=noise)
    rng = np.random.default_rng(seed)
    return [apply_photometric(s, look, rng) for s in samples]


# --- the leak of notebook 06 ------------------------------------------------------------------------


def as_leaky(samples: Sequence[Sample]) -> list[Sample]:
    """The same samples with every *sequence* treated as its own subject.

    ``subject_kfold`` on these draws folds over sequences, not people: the mistake of ignoring who
    is in a video, so one person's other expressions sit in the training folds while one of their
    sequences is tested. Only the ``subject`` field changes.
    """
    return [dataclasses.replace(s, subject=s.sequence_id) for s in samples]


def subset_subjects(samples: Sequence[Sample], n: int) -> list[Sample]:
    """The samples of the first ``n`` subjects (in sorted order), e.g. a small set for a fast run."""
    keep = set(sorted({s.subject for s in samples})[:n])
    return [s for s in samples if s.subject in keep]


def subject_overlap(samples: Sequence[Sample], folds: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[int]:
    """For each fold, how many of its test subjects (real ``subject`` ids) also appear in training."""
    out = []
    for train_idx, test_idx in folds:
        train = {samples[int(i)].subject for i in train_idx}
        test = {samples[int(i)].subject for i in test_idx}
        out.append(len(train & test))
    return out
