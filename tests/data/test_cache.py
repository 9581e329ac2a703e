"""SampleCache: hits, misses, keys, atomic writes, corrupt entries rebuilt."""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from staner_lab.config import InputConfig, PreprocessConfig
from staner_lab.data.cache import CACHE_ENV, SampleCache, cache_key, default_cache_dir
from staner_lab.data.records import Sample, SequenceRecord

INPUTS = InputConfig(face_size=16, frames=4, region_sizes={"eyes": (6, 12), "nose": (8, 8), "mouth": (6, 10)})
PREP = PreprocessConfig()


def fake_sample(record: SequenceRecord, inputs: InputConfig = INPUTS, value: float = 0.5) -> Sample:
    T, S = inputs.frames, inputs.face_size
    rng = np.random.default_rng(len(record.sequence_id))
    return Sample(
        peak=np.full((S, S), value, np.float32),
        regions={
            name: rng.random((T, h, w), dtype=np.float32) for name, (h, w) in inputs.region_sizes.items()
        },
        landmarks=rng.random((T, 68, 2)).astype(np.float64) * 100,  # float64 on purpose: stored as float32
        label=record.label,
        subject=record.subject,
        sequence_id=record.sequence_id,
    )


class CountingBuilder:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, record: SequenceRecord) -> Sample:
        self.calls += 1
        return fake_sample(record)


def make_record(root: Path, sid: str = "S005/001", label: int = 4, frames: int = 3) -> SequenceRecord:
    folder = root / sid
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(frames):
        path = folder / f"{i:04d}.png"
        path.write_bytes(b"frame %d" % i)
        paths.append(path)
    return SequenceRecord(sid, sid.split("/")[0], label, "happy", frame_paths=tuple(paths))


def test_miss_then_hit(tmp_path):
    record = make_record(tmp_path / "data")
    cache, build = SampleCache(tmp_path / "cache"), CountingBuilder()
    first = cache.get_or_build(record, INPUTS, PREP, build)
    second = cache.get_or_build(record, INPUTS, PREP, build)
    assert build.calls == 1 and cache.stats() == {"hits": 1, "misses": 1, "rebuilt": 0}
    assert second.peak.shape == (16, 16) and second.regions["eyes"].shape == (4, 6, 12)
    assert second.landmarks.dtype == np.float32 and second.landmarks.shape == (4, 68, 2)
    np.testing.assert_array_equal(first.landmarks, second.landmarks)
    for name in INPUTS.region_sizes:
        np.testing.assert_array_equal(first.regions[name], second.regions[name])
    assert (second.label, second.subject, second.sequence_id) == (4, "S005", "S005/001")
    assert not list((tmp_path / "cache").rglob("*.tmp"))  # the atomic write left no temporary file


def test_labels_come_from_the_record_not_the_entry(tmp_path):
    record = make_record(tmp_path / "data")
    cache = SampleCache(tmp_path / "cache")
    cache.get_or_build(record, INPUTS, PREP, CountingBuilder())
    relabelled = SequenceRecord(
        record.sequence_id, record.subject, 2, "disgust", frame_paths=record.frame_paths
    )
    assert cache.get_or_build(relabelled, INPUTS, PREP, CountingBuilder()).label == 2
    assert cache.hits == 1


def test_key_follows_files_and_configs(tmp_path):
    record = make_record(tmp_path / "data")
    key = cache_key(record, INPUTS, PREP)
    assert cache_key(record, INPUTS, PreprocessConfig(whole_frame_face=True)) != key
    assert cache_key(record, InputConfig(), PREP) != key
    st = os.stat(record.frame_paths[1])
    os.utime(record.frame_paths[1], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # touched
    assert cache_key(record, INPUTS, PREP) != key

    # a copy that keeps mtimes (cp -p, mv, rsync -t) elsewhere on disk keeps its entries
    key = cache_key(record, INPUTS, PREP)
    shutil.copytree(tmp_path / "data", tmp_path / "moved", copy_function=shutil.copy2)
    moved = SequenceRecord(
        record.sequence_id,
        record.subject,
        record.label,
        record.label_name,
        frame_paths=tuple(tmp_path / "moved" / p.relative_to(tmp_path / "data") for p in record.frame_paths),
    )
    assert cache_key(moved, INPUTS, PREP) == key


def test_truncated_entry_is_rebuilt_with_a_warning(tmp_path):
    record = make_record(tmp_path / "data")
    cache, build = SampleCache(tmp_path / "cache"), CountingBuilder()
    cache.get_or_build(record, INPUTS, PREP, build)
    path = cache.path_for(record, INPUTS, PREP)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    with pytest.warns(RuntimeWarning, match="unusable.*rebuilding"):
        sample = cache.get_or_build(record, INPUTS, PREP, build)
    assert sample.peak.shape == (16, 16)
    assert build.calls == 2 and cache.stats() == {"hits": 0, "misses": 1, "rebuilt": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt entry is healthy
        cache.get_or_build(record, INPUTS, PREP, build)
    assert cache.hits == 1


@pytest.mark.parametrize("damage", ["missing array", "wrong shape", "wrong dtype", "other key", "garbage"])
def test_damaged_entries_are_rebuilt(tmp_path, damage):
    record = make_record(tmp_path / "data")
    cache, build = SampleCache(tmp_path / "cache"), CountingBuilder()
    cache.get_or_build(record, INPUTS, PREP, build)
    path = cache.path_for(record, INPUTS, PREP)
    with np.load(path) as z:
        arrays = dict(z)
    if damage == "missing array":
        del arrays["region_mouth"]
    elif damage == "wrong shape":
        arrays["peak"] = arrays["peak"][:8]
    elif damage == "wrong dtype":
        arrays["peak"] = arrays["peak"].astype(np.float64)
    elif damage == "other key":
        arrays["key"] = np.array("0" * 64)
    with open(path, "wb") as f:
        if damage == "garbage":
            f.write(b"not a zip file at all")
        else:
            np.savez_compressed(f, **arrays)
    with pytest.warns(RuntimeWarning, match=str(path.name)):
        cache.get_or_build(record, INPUTS, PREP, build)
    assert build.calls == 2 and cache.rebuilt == 1


def test_failed_build_stores_nothing(tmp_path):
    record = make_record(tmp_path / "data")
    cache = SampleCache(tmp_path / "cache")

    def broken(record: SequenceRecord) -> Sample:
        raise ValueError("no face found in frame 0")

    with pytest.raises(ValueError, match="no face"):
        cache.get_or_build(record, INPUTS, PREP, broken)
    assert not cache.path_for(record, INPUTS, PREP).exists()
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_builder_with_wrong_shapes_is_refused(tmp_path):
    record = make_record(tmp_path / "data")
    cache = SampleCache(tmp_path / "cache")
    small = InputConfig(face_size=8, frames=4, region_sizes=dict(INPUTS.region_sizes))
    with pytest.raises(ValueError, match=r"S005/001.*peak is float32\[8, 8\], expected float32\[16, 16\]"):
        cache.get_or_build(record, INPUTS, PREP, lambda r: fake_sample(r, small))


def test_unwritable_cache_warns_and_still_returns(tmp_path):
    record = make_record(tmp_path / "data")
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    cache = SampleCache(blocker)
    with pytest.warns(RuntimeWarning, match="cannot write to the cache folder"):
        sample = cache.get_or_build(record, INPUTS, PREP, CountingBuilder())
    assert sample.peak.shape == (16, 16)


def test_missing_source_file_is_reported(tmp_path):
    record = make_record(tmp_path / "data")
    record.frame_paths[0].unlink()
    with pytest.raises(FileNotFoundError, match=r"0000\.png"):
        SampleCache(tmp_path / "cache").get_or_build(record, INPUTS, PREP, CountingBuilder())


def test_default_directory(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    assert default_cache_dir() == Path.home() / ".cache" / "staner-lab"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "elsewhere"))
    assert SampleCache().directory == tmp_path / "elsewhere"
    assert SampleCache(tmp_path / "arg").directory == tmp_path / "arg"
