"""From dataset folder to batches: ``load_samples`` -> :class:`StanerDataset` -> ``make_loader``.

>>> samples, class_names, report = load_samples("~/datasets/CK+", inputs, prep)  # doctest: +SKIP
>>> ds = StanerDataset(samples, flip=True, seed=0)  # doctest: +SKIP
>>> for epoch in range(epochs):  # doctest: +SKIP
...     ds.set_epoch(epoch)  # new, reproducible flips each epoch
...     for batch in make_loader(ds, batch_size=64, shuffle=True, seed=epoch):
...         batch["peak"]  # (B, 1, S, S)
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from staner_lab.config import InputConfig, PreprocessConfig
from staner_lab.data.cache import SampleCache
from staner_lab.data.readers import DataError, OnError, ReadReport, SkippedItem, read_dataset
from staner_lab.data.records import Sample, SequenceRecord

__all__ = ["StanerDataset", "collate", "load_samples", "make_loader", "prepare_records", "to_item"]

Item = dict[str, Any]


def _preprocess(
    record: SequenceRecord, inputs: InputConfig, prep: PreprocessConfig, backend: Any = None
) -> Sample:
    from staner_lab.data.preprocess import preprocess_sequence  # lazy: needs cv2/dlib, only when building

    return preprocess_sequence(record, inputs, prep, backend=backend)


def _default_flip(sample: Sample) -> Sample:
    from staner_lab.data.preprocess import flip_sample

    return flip_sample(sample)


class StanerDataset(Dataset):
    """Samples as model inputs, with optional horizontal flips.

    Built either from Samples in memory (``StanerDataset(samples)``) or from records that are
    preprocessed on demand through a cache (``StanerDataset.from_records(...)``).

    Each item is a dict:
        peak: (1, S, S) float32 tensor, the peak face I_p.
        regions: {"eyes"|"nose"|"mouth": (T, 1, h, w) float32 tensor}, I_e, I_n, I_m.
        label: int64 scalar tensor.
        index: int, the item's index in this dataset.

    Flips: with ``flip=True`` each item is flipped with probability 0.5. Which items flip is drawn
    for the whole dataset from a ``torch.Generator`` seeded with (seed, epoch), so it is the same for
    the same seed and epoch whatever the batch order or number of workers. Call :meth:`set_epoch`
    before each epoch (and do not use ``persistent_workers``, which would keep an old epoch).

    Args:
        samples: Samples to serve.
        flip: flip augmentation on/off.
        seed: seed of the flips.
        flip_fn: Sample -> mirrored Sample; default ``preprocess.flip_sample`` (which also mirrors
            the landmarks and swaps left and right).
    """

    def __init__(
        self,
        samples: Sequence[Sample] = (),
        *,
        flip: bool = False,
        seed: int = 0,
        flip_fn: Callable[[Sample], Sample] | None = None,
    ) -> None:
        self._samples: list[Sample] | None = list(samples)
        self._records: list[SequenceRecord] | None = None
        self._load: Callable[[SequenceRecord], Sample] | None = None
        self.labels = np.array([s.label for s in self._samples], dtype=np.int64)
        self.subjects = [s.subject for s in self._samples]
        self._setup_flips(flip, seed, flip_fn)

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
    ) -> StanerDataset:
        """A dataset that preprocesses ``records`` when an item is first asked for.

        Args:
            records: the sequences.
            inputs, prep: preprocessing configs.
            cache: where built Samples are kept; None builds every time.
            backend: passed to ``preprocess_sequence``.
            build_fn: record -> Sample; default ``preprocess_sequence(record, inputs, prep, backend)``.
            flip, seed, flip_fn: as in the constructor.
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
        self._setup_flips(flip, seed, flip_fn)
        return self

    def _setup_flips(self, flip: bool, seed: int, flip_fn: Callable[[Sample], Sample] | None) -> None:
        self.flip = flip
        self.seed = seed
        self.flip_fn = flip_fn or (_default_flip if flip else None)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Draw which items are flipped in ``epoch`` (a pure function of seed and epoch)."""
        self.epoch = epoch
        n = len(self)
        if not self.flip:
            self._flipped = torch.zeros(n, dtype=torch.bool)
            return
        state = int(np.random.SeedSequence([self.seed, epoch]).generate_state(1)[0])
        generator = torch.Generator().manual_seed(state)
        self._flipped = torch.rand(n, generator=generator) < 0.5

    def flipped(self, index: int) -> bool:
        """Whether item ``index`` is flipped in the current epoch."""
        return bool(self._flipped[index])

    def __len__(self) -> int:
        return len(self._samples) if self._samples is not None else len(self._records or ())

    def sample(self, index: int) -> Sample:
        """The unflipped Sample at ``index``."""
        if self._samples is not None:
            return self._samples[index]
        assert self._records is not None and self._load is not None
        return self._load(self._records[index])

    def __getitem__(self, index: int) -> Item:
        sample = self.sample(index)
        if self.flipped(index):
            assert self.flip_fn is not None
            sample = self.flip_fn(sample)
        return to_item(sample, index)


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
