"""From dataset folder to batches: ``load_samples`` -> :class:`StanerDataset` -> ``make_loader``.

>>> samples, class_names, report = load_samples("~/datasets/CK+", inputs, prep)  # doctest: +SKIP
>>> ds = StanerDataset(samples, flip=True, seed=0)  # doctest: +SKIP
>>> for epoch in range(epochs):  # doctest: +SKIP
...     ds.set_epoch(epoch)  # new, reproducible flips (augmentation, class-balanced draw) each epoch
...     for batch in make_loader(ds, batch_size=64, shuffle=True, seed=epoch):
...         batch["peak"]  # (B, 1, S, S)
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from staner_lab.config import AugmentConfig, InputConfig, PreprocessConfig
from staner_lab.data.cache import SampleCache
from staner_lab.data.readers import DataError, OnError, ReadReport, SkippedItem, read_dataset
from staner_lab.data.records import Sample, SequenceRecord

__all__ = [
    "StanerDataset",
    "balanced_indices",
    "batch_tensors",
    "class_weights",
    "collate",
    "load_samples",
    "make_loader",
    "prepare_records",
    "to_item",
]

Item = dict[str, Any]
ClassBalance = Literal["none", "sampler", "loss"]
_BALANCE_TAG = 0x62616C61  # "bala": keeps the class-balanced draw apart from the other streams


def _preprocess(
    record: SequenceRecord, inputs: InputConfig, prep: PreprocessConfig, backend: Any = None
) -> Sample:
    from staner_lab.data.preprocess import preprocess_sequence  # lazy: needs cv2/dlib, only when building

    return preprocess_sequence(record, inputs, prep, backend=backend)


def _default_flip(sample: Sample) -> Sample:
    from staner_lab.data.preprocess import flip_sample

    return flip_sample(sample)


def _augment(sample: Sample, cfg: AugmentConfig, seed: int, epoch: int, index: int) -> Sample:
    from staner_lab.data.augment import augment_sample  # lazy, like the flip: needs cv2

    return augment_sample(sample, cfg, seed, epoch, index)


def balanced_indices(labels: Sequence[int] | np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` sample indices with about ``n / K`` of each of the K classes present in ``labels``.

    Each class gets ``n // K`` places (the remainder goes to randomly chosen classes); a class fills
    its places from shuffled passes over its members (so rare classes repeat, each member as often
    as the others within one, and frequent classes are subsampled without repeats). The result is
    shuffled.

    Args:
        labels: (N,) class index of each sample.
        n: how many indices to draw (a dataset keeps its length: ``n = N``).
        rng: where every draw comes from.

    Returns:
        (n,) int64 indices into ``labels``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if n <= 0 or labels.size == 0:
        return np.zeros(0, dtype=np.int64)
    classes = np.unique(labels)
    k = len(classes)
    places = np.full(k, n // k, dtype=np.int64)
    places[rng.choice(k, n % k, replace=False)] += 1
    parts = []
    for c, m in zip(classes, places):
        members = np.flatnonzero(labels == c)
        passes = -(-int(m) // len(members))
        parts.append(np.concatenate([rng.permutation(members) for _ in range(passes)])[:m])
    order = np.concatenate(parts)
    rng.shuffle(order)
    return order


def class_weights(labels: Sequence[int] | np.ndarray, num_classes: int) -> torch.Tensor:
    """Inverse-frequency class weights normalised to mean 1 (for a class-weighted cross-entropy).

    ``w_c`` is proportional to ``1 / n_c``; a class with no sample gets 1 (it never occurs in the
    loss). With equal classes every weight is 1.

    Args:
        labels: (N,) class indices in [0, num_classes).
        num_classes: K.

    Returns:
        (K,) float32 tensor with mean 1.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got {labels.min()}..{labels.max()}")
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = np.ones(num_classes)
    present = counts > 0
    if present.any():
        inv = 1.0 / counts[present]
        weights[present] = inv / inv.mean()
    return torch.tensor(weights, dtype=torch.float32)


class StanerDataset(Dataset):
    """Samples as model inputs, with optional horizontal flips, augmentation and class balance.

    Built either from Samples in memory (``StanerDataset(samples)``) or from records that are
    preprocessed on demand through a cache (``StanerDataset.from_records(...)``).

    Each item is a dict:
        peak: (1, S, S) float32 tensor, the peak face I_p.
        regions: {"eyes"|"nose"|"mouth": (T, 1, h, w) float32 tensor}, I_e, I_n, I_m.
        label: int64 scalar tensor.
        index: int, the index of the Sample served (``class_balance="sampler"``: the one drawn for
            this position; otherwise the position itself).

    Flips: with ``flip=True`` each item is flipped with probability 0.5. Which items flip is drawn
    for the whole dataset from a ``torch.Generator`` seeded with (seed, epoch), so it is the same for
    the same seed and epoch whatever the batch order or number of workers. Call :meth:`set_epoch`
    before each epoch (and do not use ``persistent_workers``, which would keep an old epoch).

    Augmentation (``augment``, see :mod:`staner_lab.data.augment`) is applied after the flip, per
    item, seeded by (seed, epoch, position), so it too is independent of batch order and workers.

    Class balance: with ``class_balance="sampler"`` each epoch serves, at positions 0..N-1, samples
    drawn by :func:`balanced_indices` (about N / K of each class; rare classes repeat, each repeat
    with its own flip and augmentation) from a generator seeded with (seed, epoch). The length stays
    N. "loss" and "none" serve the samples as they are ("loss" is the loss's business:
    :func:`class_weights`).

    Args:
        samples: Samples to serve.
        flip: flip augmentation on/off.
        seed: seed of the flips, the augmentation and the class-balanced draw.
        flip_fn: Sample -> mirrored Sample; default ``preprocess.flip_sample`` (which also mirrors
            the landmarks and swaps left and right).
        augment: geometric / photometric augmentation; None (or nothing enabled) = none.
        class_balance: "none", "sampler" or "loss" (as ``TrainConfig.class_balance``).
    """

    def __init__(
        self,
        samples: Sequence[Sample] = (),
        *,
        flip: bool = False,
        seed: int = 0,
        flip_fn: Callable[[Sample], Sample] | None = None,
        augment: AugmentConfig | None = None,
        class_balance: ClassBalance = "none",
    ) -> None:
        self._samples: list[Sample] | None = list(samples)
        self._records: list[SequenceRecord] | None = None
        self._load: Callable[[SequenceRecord], Sample] | None = None
        self.labels = np.array([s.label for s in self._samples], dtype=np.int64)
        self.subjects = [s.subject for s in self._samples]
        self._setup_draws(flip, seed, flip_fn, augment, class_balance)

    @classmethod
    def from_records(
        cls,
        records: Sequence[SequenceRecord],
        inputs: InputConfig,
        prep: PreprocessConfig,
        *,
        cache: SampleCache | None = None,
        backend: Any = None,
        build_fn: Callable[[SequenceRecord], Sample] | None = None,
        flip: bool = False,
        seed: int = 0,
        flip_fn: Callable[[Sample], Sample] | None = None,
        augment: AugmentConfig | None = None,
        class_balance: ClassBalance = "none",
    ) -> StanerDataset:
        """A dataset that preprocesses ``records`` when an item is first asked for.

        Args:
            records: the sequences.
            inputs, prep: preprocessing configs.
            cache: where built Samples are kept; None builds every time.
            backend: passed to ``preprocess_sequence``.
            build_fn: record -> Sample; default ``preprocess_sequence(record, inputs, prep, backend)``.
            flip, seed, flip_fn, augment, class_balance: as in the constructor.
        """
        self = cls.__new__(cls)
        build = build_fn or functools.partial(_preprocess, inputs=inputs, prep=prep, backend=backend)
        self._samples = None
        self._records = list(records)
        # partial, not a lambda: DataLoader workers may need to pickle it
        self._load = (
            functools.partial(cache.get_or_build, inputs=inputs, prep=prep, build_fn=build)
            if cache is not None
            else build
        )
        self.labels = np.array([r.label for r in self._records], dtype=np.int64)
        self.subjects = [r.subject for r in self._records]
        self._setup_draws(flip, seed, flip_fn, augment, class_balance)
        return self

    def _setup_draws(self, flip: bool, seed: int, flip_fn: Callable[[Sample], Sample] | None,
                     augment: AugmentConfig | None, class_balance: ClassBalance) -> None:
        if class_balance not in ("none", "sampler", "loss"):
            raise ValueError(f"class_balance must be 'none', 'sampler' or 'loss', got {class_balance!r}")
        self.flip = flip
        self.seed = seed
        self.flip_fn = flip_fn or (_default_flip if flip else None)
        self.augment = augment if augment is not None and augment.enabled else None
        self.class_balance = class_balance
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Draw which items are flipped, augmented how and (``class_balance="sampler"``) which
        samples are served in ``epoch`` (a pure function of seed and epoch)."""
        self.epoch = epoch
        n = len(self)
        if self.class_balance == "sampler":
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, epoch], spawn_key=(_BALANCE_TAG,)))
            self._source = balanced_indices(self.labels, n, rng)
        else:
            self._source = np.arange(n, dtype=np.int64)
        if not self.flip:
            self._flipped = torch.zeros(n, dtype=torch.bool)
            return
        state = int(np.random.SeedSequence([self.seed, epoch]).generate_state(1)[0])
        generator = torch.Generator().manual_seed(state)
        self._flipped = torch.rand(n, generator=generator) < 0.5

    def flipped(self, index: int) -> bool:
        """Whether item ``index`` is flipped in the current epoch."""
        return bool(self._flipped[index])

    def source(self, index: int) -> int:
        """The index of the Sample served at position ``index`` in the current epoch."""
        return int(self._source[index])

    def __len__(self) -> int:
        return len(self._samples) if self._samples is not None else len(self._records or ())

    def sample(self, index: int) -> Sample:
        """The unflipped Sample at ``index``."""
        if self._samples is not None:
            return self._samples[index]
        assert self._records is not None and self._load is not None
        return self._load(self._records[index])

    def __getitem__(self, index: int) -> Item:
        index = int(index) + len(self) if index < 0 else int(index)
        source = self.source(index)
        sample = self.sample(source)
        if self.flipped(index):
            assert self.flip_fn is not None
            sample = self.flip_fn(sample)
        if self.augment is not None:
            sample = _augment(sample, self.augment, self.seed, self.epoch, index)
        return to_item(sample, source)


def to_item(sample: Sample, index: int) -> Item:
    """Sample -> dataset item (tensors with a channel axis; see :class:`StanerDataset`)."""

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # flips leave negative strides

    return {
        "peak": tensor(sample.peak)[None],  # (S, S) -> (1, S, S)
        "regions": {name: tensor(seq)[:, None] for name, seq in sample.regions.items()},  # (T, 1, h, w)
        "label": torch.tensor(sample.label, dtype=torch.int64),
        "index": index,
    }


def batch_tensors(samples: Sequence[Sample]) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """Samples -> (peak (B, 1, S, S), regions {r: (B, T, 1, h, w)}, labels (B,)) on the CPU, no flips."""
    b = collate([to_item(s, i) for i, s in enumerate(samples)])
    return b["peak"], b["regions"], b["label"]


def collate(batch: Sequence[Item]) -> Item:
    """Stack items: peak (B, 1, S, S); regions {name: (B, T, 1, h, w)}; label (B,); index (B,)."""
    return {
        "peak": torch.stack([item["peak"] for item in batch]),
        "regions": {
            name: torch.stack([item["regions"][name] for item in batch]) for name in batch[0]["regions"]
        },
        "label": torch.stack([item["label"] for item in batch]),
        "index": torch.tensor([item["index"] for item in batch], dtype=torch.int64),
    }


def make_loader(
    dataset: Dataset,
    batch_size: int = 64,
    *,
    shuffle: bool = False,
    seed: int = 0,
    num_workers: int = 0,
    drop_last: bool = False,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader with :func:`collate`; shuffling is reproducible from ``seed``."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(seed) if shuffle else None,
        num_workers=num_workers,
        collate_fn=collate,
        drop_last=drop_last,
        pin_memory=pin_memory,
    )


# Errors that mean a bug or a broken installation, not a bad sequence: never skipped.
_NOT_DATA_ERRORS = (ImportError, NameError, AttributeError, TypeError, NotImplementedError, MemoryError)


def _location(record: SequenceRecord, root: Path | None) -> str:
    path = record.video_path or (
        record.frame_paths[0].parent if record.frame_paths else Path(record.sequence_id)
    )
    if root is not None:
        try:
            return Path(path).relative_to(root).as_posix()
        except ValueError:
            pass
    return str(path)


def prepare_records(
    records: Sequence[SequenceRecord],
    inputs: InputConfig,
    prep: PreprocessConfig,
    *,
    cache: SampleCache | None = None,
    on_error: OnError = "skip",
    report: ReadReport | None = None,
    progress: bool = True,
    backend: Any = None,
    build_fn: Callable[[SequenceRecord], Sample] | None = None,
) -> list[Sample]:
    """Preprocess ``records`` (through ``cache`` when given), collecting per-sequence failures.

    Args:
        records: the sequences.
        inputs, prep: preprocessing configs.
        cache: a SampleCache; None builds without caching.
        on_error: "fail" raises DataError at the first sequence that fails; "skip" adds it to
            ``report.skipped`` (stage "preprocess") and goes on.
        report: where skipped sequences are listed (a new one when None).
        progress: show a tqdm bar.
        backend: passed to ``preprocess_sequence``.
        build_fn: record -> Sample; default ``preprocess_sequence(record, inputs, prep, backend)``.

    Returns:
        The Samples that were built, in record order.

    Raises:
        DataError: with "fail", the first failure; with "skip", when fewer than 2 classes are left.
    """
    if on_error not in ("skip", "fail"):
        raise ValueError(f"on_error must be 'skip' or 'fail', got {on_error!r}")
    fail = on_error == "fail"
    root = report.root if report is not None else None
    report = report if report is not None else ReadReport(root=Path.cwd(), layout="records")
    build = build_fn or functools.partial(_preprocess, inputs=inputs, prep=prep, backend=backend)
    samples = []
    skipped_before = len(report.skipped)
    bar = tqdm(records, desc="preprocessing", unit="seq", disable=not progress, dynamic_ncols=True)
    for record in bar:
        try:
            sample = cache.get_or_build(record, inputs, prep, build) if cache is not None else build(record)
        except _NOT_DATA_ERRORS:
            raise
        except Exception as exc:
            where = _location(record, root)
            reason = f"{type(exc).__name__}: {exc}"
            if fail:
                raise DataError(
                    f"{where}: preprocessing sequence {record.sequence_id} failed: {reason}"
                ) from exc
            report.skipped.append(SkippedItem(where, reason, stage="preprocess", kind=type(exc).__name__))
            continue
        samples.append(sample)
        if cache is not None:
            bar.set_postfix(hits=cache.hits, misses=cache.misses, refresh=False)
    failures = [item.reason for item in report.skipped[skipped_before:]]
    if records and not samples and len(set(failures)) == 1:  # e.g. the dlib model file is missing
        raise DataError(
            f"all {len(records)} sequence(s) failed to preprocess with the same error: {failures[0]}"
        )
    left = {s.label for s in samples}
    if records and len(left) < 2:
        raise DataError(
            f"after preprocessing {len(samples)} of {len(records)} sequence(s) are left, covering "
            f"{len(left)} class(es); need at least 2 classes:\n{report.summary(5)}"
        )
    return samples


def load_samples(
    root: str | os.PathLike[str],
    inputs: InputConfig,
    prep: PreprocessConfig,
    layout: str = "auto",
    cache_dir: str | os.PathLike[str] | None = None,
    on_error: OnError = "skip",
    progress: bool = True,
    *,
    cache: SampleCache | None = None,
    backend: Any = None,
    build_fn: Callable[[SequenceRecord], Sample] | None = None,
    **reader_kwargs: Any,
) -> tuple[list[Sample], tuple[str, ...], ReadReport]:
    """Read a dataset folder and preprocess every sequence through the cache.

    Args:
        root: the dataset folder.
        inputs, prep: preprocessing configs (part of the cache key).
        layout: "auto", "ckplus", "oulu" or "folders".
        cache_dir: cache folder (default ``$STANER_CACHE`` or ``~/.cache/staner-lab``); ignored
            when ``cache`` is given.
        on_error: "skip" collects bad items (reading and preprocessing) in the report; "fail"
            raises DataError at the first.
        progress: show a tqdm bar.
        cache: a SampleCache to use (to read its hit/miss counters afterwards).
        backend, build_fn: see :func:`prepare_records`.
        **reader_kwargs: reader options, e.g. ``subsets=("VL/Strong",)`` for Oulu-CASIA.

    Returns:
        (samples, class_names, report).
    """
    records, class_names, report = read_dataset(root, layout, on_error, **reader_kwargs)
    cache = cache if cache is not None else SampleCache(cache_dir)
    samples = prepare_records(
        records,
        inputs,
        prep,
        cache=cache,
        on_error=on_error,
        report=report,
        progress=progress,
        backend=backend,
        build_fn=build_fn,
    )
    return samples, class_names, report
