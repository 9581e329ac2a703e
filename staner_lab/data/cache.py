"""On-disk cache of preprocessed sequences: each sequence is processed once.

An entry is one ``np.savez_compressed`` file holding a :class:`Sample`'s arrays (``peak``,
``region_<name>``, ``landmarks``) and the key it was built for. Its file name is a SHA-256 of:

- the sequence id (its path relative to the dataset root, e.g. "S005/001" or "happy/S010_002");
- for every source file (frames, video, landmark files), its name, size and ``mtime_ns``;
- the ``InputConfig`` and ``PreprocessConfig`` as JSON, and :data:`CACHE_FORMAT`.

Why file stats and not a content hash: hashing CK+ (about 2 GB of PNG) would cost more on every run
than checking the cache saves, while ``os.stat`` is instant. Editing, replacing or touching a file
changes its size or mtime and so rebuilds its entry; moving the whole dataset (``mv``, ``cp -p``,
``rsync -t``) keeps the entries valid because no absolute path is in the key. A plain ``cp`` resets
mtimes, which only costs one rebuild.

Labels, subjects and sequence ids are not stored: they are taken from the record on every load, so
relabelling a dataset can never serve a stale label.

Writes are atomic (a temporary file in the same folder, then ``os.replace``), so a crash leaves
either the old entry or none. An entry that cannot be read, lacks arrays, has wrong shapes or was
built for another key is rebuilt with a warning.

>>> cache = SampleCache()  # ~/.cache/staner-lab, or $STANER_CACHE  # doctest: +SKIP
>>> sample = cache.get_or_build(record, inputs, prep, build_fn)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from staner_lab.atomic import atomic_write
from staner_lab.config import InputConfig, PreprocessConfig
from staner_lab.data.records import Sample, SequenceRecord

__all__ = ["CACHE_ENV", "CACHE_FORMAT", "CorruptEntry", "SampleCache", "cache_key", "default_cache_dir"]

#: Bump when preprocessing changes what it produces for the same inputs and config.
CACHE_FORMAT = 1
#: Environment variable that overrides the default cache folder.
CACHE_ENV = "STANER_CACHE"


def default_cache_dir() -> Path:
    """``$STANER_CACHE`` when set, else ``~/.cache/staner-lab``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "staner-lab"


def _source_files(record: SequenceRecord) -> list[tuple[str, Path]]:
    files = [("frame", p) for p in record.frame_paths]
    if record.video_path is not None:
        files.append(("video", record.video_path))
    files += [("landmarks", p) for p in record.landmark_paths]
    return files


def cache_key(record: SequenceRecord, inputs: InputConfig, prep: PreprocessConfig) -> str:
    """Hex SHA-256 identifying what ``record`` becomes under ``inputs`` and ``prep``.

    Raises:
        FileNotFoundError: a source file has disappeared since the dataset was read.
    """
    files = []
    for role, path in _source_files(record):
        st = os.stat(path)
        files.append([role, Path(path).name, st.st_size, st.st_mtime_ns])
    payload = {
        "format": CACHE_FORMAT,
        "sequence_id": record.sequence_id,
        "files": files,
        "inputs": inputs.to_dict(),
        "prep": prep.to_dict(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class CorruptEntry(Exception):
    """A cache entry that cannot be used (internal: it is rebuilt, never shown to the user)."""


def _expected_shapes(inputs: InputConfig) -> dict[str, tuple[int, ...]]:
    T, S = inputs.frames, inputs.face_size
    shapes = {"peak": (S, S), "landmarks": (T, 68, 2)}
    shapes.update({f"region_{name}": (T, h, w) for name, (h, w) in inputs.region_sizes.items()})
    return shapes


def _check_arrays(arrays: dict[str, np.ndarray], inputs: InputConfig) -> None:
    for name, shape in _expected_shapes(inputs).items():
        if name not in arrays:
            raise CorruptEntry(f"array {name!r} is missing")
        a = arrays[name]
        if a.shape != shape or a.dtype != np.float32:
            raise CorruptEntry(f"{name} is {a.dtype}{list(a.shape)}, expected float32{list(shape)}")


class SampleCache:
    """Preprocess each sequence once; later runs load the compressed arrays.

    Attributes:
        directory: where entries live (``<directory>/<key[:2]>/<key>.npz``).
        hits: entries loaded. misses: entries built because absent. rebuilt: entries built
            because the stored one was unusable (not counted in ``misses``).
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory).expanduser() if directory is not None else default_cache_dir()
        self.hits = 0
        self.misses = 0
        self.rebuilt = 0
        self._write_warned = False

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.stats().items())
        return f"SampleCache({str(self.directory)!r}, {counts})"

    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "rebuilt": self.rebuilt}

    def path_for(self, record: SequenceRecord, inputs: InputConfig, prep: PreprocessConfig) -> Path:
        key = cache_key(record, inputs, prep)
        return self.directory / key[:2] / f"{key}.npz"

    def get_or_build(
        self,
        record: SequenceRecord,
        inputs: InputConfig,
        prep: PreprocessConfig,
        build_fn: Callable[[SequenceRecord], Sample],
    ) -> Sample:
        """The record's Sample from the cache, or from ``build_fn(record)`` (then stored).

        Args:
            record: the sequence; its label, subject and id are copied into the returned Sample.
            inputs, prep: the configs the Sample is built with (part of the key).
            build_fn: record -> Sample, e.g. ``lambda r: preprocess_sequence(r, inputs, prep)``.

        Returns:
            Sample with float32 arrays: peak (S, S); regions {name: (T, h, w)}; landmarks (T, 68, 2).

        Raises:
            ValueError: ``build_fn`` returned arrays whose shapes do not match ``inputs``.
            Whatever ``build_fn`` raises (e.g. no face found) propagates; nothing is stored.
        """
        key = cache_key(record, inputs, prep)
        path = self.directory / key[:2] / f"{key}.npz"
        if path.exists():
            try:
                sample = self._load(path, key, record, inputs)
            except CorruptEntry as exc:
                warnings.warn(
                    f"cache entry {path} for {record.sequence_id} is unusable ({exc}); rebuilding it",
                    RuntimeWarning,
                    stacklevel=2,
                )
                self.rebuilt += 1
            else:
                self.hits += 1
                return sample
        else:
            self.misses += 1
        arrays = self._arrays_of(build_fn(record), inputs, record)
        self._save(path, key, arrays)
        return self._sample(arrays, record, inputs)

    # -- internals ---------------------------------------------------------------------------

    @staticmethod
    def _arrays_of(sample: Sample, inputs: InputConfig, record: SequenceRecord) -> dict[str, np.ndarray]:
        arrays = {
            "peak": np.asarray(sample.peak, dtype=np.float32),
            "landmarks": np.asarray(sample.landmarks, dtype=np.float32),
        }
        for name in inputs.region_sizes:
            if name not in sample.regions:
                raise ValueError(f"preprocessing of {record.sequence_id} produced no {name!r} region")
            arrays[f"region_{name}"] = np.asarray(sample.regions[name], dtype=np.float32)
        try:
            _check_arrays(arrays, inputs)
        except CorruptEntry as exc:
            raise ValueError(f"preprocessing of {record.sequence_id} produced wrong arrays: {exc}") from None
        return arrays

    @staticmethod
    def _sample(arrays: dict[str, np.ndarray], record: SequenceRecord, inputs: InputConfig) -> Sample:
        return Sample(
            peak=arrays["peak"],
            regions={name: arrays[f"region_{name}"] for name in inputs.region_sizes},
            landmarks=arrays["landmarks"],
            label=record.label,
            subject=record.subject,
            sequence_id=record.sequence_id,
        )

    def _load(self, path: Path, key: str, record: SequenceRecord, inputs: InputConfig) -> Sample:
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {name: z[name] for name in z.files}
        except Exception as exc:  # noqa: BLE001  # BadZipFile, zlib.error, EOFError, ValueError, OSError
            raise CorruptEntry(f"cannot read it: {type(exc).__name__}: {exc}") from None
        if "key" not in arrays or str(arrays.pop("key")) != key:
            raise CorruptEntry("it was written for another key")
        _check_arrays(arrays, inputs)
        return self._sample(arrays, record, inputs)

    def _save(self, path: Path, key: str, arrays: dict[str, np.ndarray]) -> None:
        try:
            with atomic_write(path) as f:  # readers see the old entry or the whole new one
                np.savez_compressed(f, key=np.array(key), **arrays)
        except BaseException as exc:
            if not isinstance(exc, OSError):
                raise
            if not self._write_warned:  # a read-only or full disk should not stop preprocessing
                warnings.warn(
                    f"cannot write to the cache folder {self.directory} ({exc}); going on without "
                    f"caching: set ${CACHE_ENV} or --cache to a writable folder",
                    RuntimeWarning,
                    stacklevel=3,
                )
                self._write_warned = True
