"""StanerDataset items and batches, flip determinism, load_samples, and ``prepare``."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from staner_lab.config import CK_PLUS_CLASSES, REGIONS, InputConfig, PreprocessConfig, preset
from staner_lab.data import dataset as dataset_module
from staner_lab.data.cache import SampleCache
from staner_lab.data.cli import add_prepare_parser
from staner_lab.data.dataset import StanerDataset, collate, load_samples, make_loader
from staner_lab.data.readers import DataError
from staner_lab.data.records import Sample, SequenceRecord

INPUTS = InputConfig(face_size=16, frames=4, region_sizes={"eyes": (6, 12), "nose": (8, 8), "mouth": (6, 10)})


def make_sample(i: int, label: int = 0, inputs: InputConfig = INPUTS) -> Sample:
    rng = np.random.default_rng(i)
    T, S = inputs.frames, inputs.face_size
    return Sample(
        peak=rng.random((S, S), dtype=np.float32),
        regions={
            name: rng.random((T, h, w), dtype=np.float32) for name, (h, w) in inputs.region_sizes.items()
        },
        landmarks=(rng.random((T, 68, 2)) * 50).astype(np.float32),
        label=label,
        subject=f"S{i:03d}",
        sequence_id=f"S{i:03d}/001",
    )


def mirror(sample: Sample) -> Sample:
    """A stand-in flip (images only) so these tests do not depend on preprocess.flip_sample."""
    return dataclasses.replace(
        sample, peak=sample.peak[:, ::-1], regions={k: v[:, :, ::-1] for k, v in sample.regions.items()}
    )


def test_item_and_batch_shapes():
    ds = StanerDataset([make_sample(i, label=i % 3) for i in range(5)])
    item = ds[2]
    assert item["peak"].shape == (1, 16, 16) and item["peak"].dtype == torch.float32
    assert list(item["regions"]) == list(REGIONS)
    assert item["regions"]["eyes"].shape == (4, 1, 6, 12)
    assert item["regions"]["mouth"].shape == (4, 1, 6, 10)
    assert item["label"].dtype == torch.int64 and int(item["label"]) == 2 and item["index"] == 2

    batches = list(make_loader(ds, batch_size=3))
    assert batches[0]["peak"].shape == (3, 1, 16, 16)
    assert batches[0]["regions"]["nose"].shape == (3, 4, 1, 8, 8)
    assert batches[0]["label"].tolist() == [0, 1, 2]
    assert batches[1]["index"].tolist() == [3, 4]
    np.testing.assert_array_equal(ds.labels, [0, 1, 2, 0, 1])


def test_shuffled_loader_is_reproducible():
    ds = StanerDataset([make_sample(i) for i in range(10)])
    order = lambda seed: torch.cat([b["index"] for b in make_loader(ds, 4, shuffle=True, seed=seed)]).tolist()
    assert order(1) == order(1) and sorted(order(1)) == list(range(10)) and order(1) != order(2)


def test_flips_are_deterministic_per_seed_and_epoch():
    samples = [make_sample(i) for i in range(64)]
    a = StanerDataset(samples, flip=True, seed=7, flip_fn=mirror)
    b = StanerDataset(samples, flip=True, seed=7, flip_fn=mirror)
    pattern = lambda ds: [ds.flipped(i) for i in range(len(ds))]
    assert pattern(a) == pattern(b)
    assert 10 < sum(pattern(a)) < 54  # about half
    epoch0 = pattern(a)
    a.set_epoch(1)
    assert pattern(a) != epoch0
    a.set_epoch(0)
    assert pattern(a) == epoch0
    assert pattern(StanerDataset(samples, flip=True, seed=8, flip_fn=mirror)) != epoch0

    i = pattern(a).index(True)
    torch.testing.assert_close(a[i]["peak"][0], torch.from_numpy(samples[i].peak[:, ::-1].copy()))
    j = pattern(a).index(False)
    torch.testing.assert_close(a[j]["peak"][0], torch.from_numpy(samples[j].peak))
    # the same items flip whatever the batch order
    flipped_in_batches = {}
    for batch in make_loader(a, 5, shuffle=True, seed=3):
        for k, idx in enumerate(batch["index"].tolist()):
            flipped_in_batches[idx] = torch.equal(
                batch["peak"][k, 0], torch.from_numpy(samples[idx].peak[:, ::-1].copy())
            )
    assert [flipped_in_batches[k] for k in range(len(samples))] == epoch0


def test_no_flip_without_flag():
    ds = StanerDataset([make_sample(i) for i in range(8)])
    assert not any(ds.flipped(i) for i in range(8))


def test_default_flip_is_preprocess_flip_sample():
    from staner_lab.data.preprocess import flip_sample

    samples = [make_sample(i) for i in range(16)]
    ds = StanerDataset(samples, flip=True, seed=0)
    i = [ds.flipped(k) for k in range(16)].index(True)
    expected = flip_sample(samples[i])
    torch.testing.assert_close(ds[i]["peak"][0], torch.from_numpy(np.ascontiguousarray(expected.peak)))
    torch.testing.assert_close(
        ds[i]["regions"]["eyes"][:, 0], torch.from_numpy(np.ascontiguousarray(expected.regions["eyes"]))
    )


def test_from_records_builds_on_demand_through_the_cache(tmp_path):
    frames = []
    for i in range(2):
        path = tmp_path / "data" / f"S00{i}_001_00000001.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.zeros((8, 8), np.uint8))
        frames.append(path)
    records = [
        SequenceRecord(f"S00{i}/001", f"S00{i}", i, str(i), frame_paths=(frames[i],)) for i in range(2)
    ]
    calls = []

    def build(record: SequenceRecord) -> Sample:
        calls.append(record.sequence_id)
        return make_sample(int(record.subject[-1]), record.label)

    cache = SampleCache(tmp_path / "cache")
    ds = StanerDataset.from_records(records, INPUTS, PreprocessConfig(), cache=cache, build_fn=build)
    assert len(ds) == 2 and ds.labels.tolist() == [0, 1] and calls == []
    batch = collate([ds[0], ds[1], ds[0]])
    assert batch["regions"]["eyes"].shape == (3, 4, 1, 6, 12) and batch["label"].tolist() == [0, 1, 0]
    assert calls == ["S000/001", "S001/001"] and cache.stats() == {"hits": 1, "misses": 2, "rebuilt": 0}


# ---------------------------------------------------------------------------- load_samples / CLI


def write_folders(root: Path) -> Path:
    for cls, names in {"happy": ["S001_001", "S002_001"], "sad": ["S001_002", "S003_001"]}.items():
        for name in names:
            for t in (1, 2):
                path = root / cls / name / f"{t:04d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(path), np.full((20, 20), 50 * t, np.uint8))
    return root


class FaceNotFoundError(ValueError):
    """Same class name as staner_lab.data.faces.FaceNotFoundError, which ``prepare`` counts."""


def fake_build(record: SequenceRecord, inputs: InputConfig = INPUTS, prep=None, backend=None) -> Sample:
    if record.sequence_id == "sad/S003_001":
        raise FaceNotFoundError("no face found in frame 0 (0001.png)")
    return dataclasses.replace(
        make_sample(len(record.sequence_id), record.label, inputs),
        subject=record.subject,
        sequence_id=record.sequence_id,
    )


def test_load_samples_skips_failures_and_uses_the_cache(tmp_path):
    root = write_folders(tmp_path / "data")
    cache = SampleCache(tmp_path / "cache")
    samples, class_names, report = load_samples(
        root, INPUTS, PreprocessConfig(), cache=cache, progress=False, build_fn=fake_build
    )
    assert class_names == ("happy", "sad")
    assert [s.sequence_id for s in samples] == ["happy/S001_001", "happy/S002_001", "sad/S001_002"]
    assert [s.label for s in samples] == [0, 0, 1]
    [item] = report.skipped
    assert (item.path, item.stage, item.kind) == ("sad/S003_001", "preprocess", "FaceNotFoundError")
    assert "no face found" in item.reason
    assert cache.stats() == {"hits": 0, "misses": 4, "rebuilt": 0}

    load_samples(root, INPUTS, PreprocessConfig(), cache=cache, progress=False, build_fn=fake_build)
    assert cache.hits == 3  # the failed one is tried again, never stored

    with pytest.raises(DataError, match=r"sad/S003_001.*preprocessing sequence sad/S003_001 failed.*no face"):
        load_samples(
            root,
            INPUTS,
            PreprocessConfig(),
            cache_dir=tmp_path / "cache",
            on_error="fail",
            progress=False,
            build_fn=fake_build,
        )


def test_load_samples_same_error_everywhere_is_reported_once(tmp_path):
    root = write_folders(tmp_path / "data")

    def missing_model(record: SequenceRecord) -> Sample:
        raise FileNotFoundError(
            "dlib 68-point shape predictor not found; pip install face-recognition-models"
        )

    with pytest.raises(DataError, match=r"all 4 sequence.*same error.*face-recognition-models"):
        load_samples(
            root, INPUTS, PreprocessConfig(), cache_dir=tmp_path / "c", progress=False, build_fn=missing_model
        )


def test_load_samples_does_not_hide_bugs(tmp_path):
    root = write_folders(tmp_path / "data")

    def buggy(record: SequenceRecord) -> Sample:
        raise TypeError("bug")

    with pytest.raises(TypeError):
        load_samples(
            root, INPUTS, PreprocessConfig(), cache_dir=tmp_path / "c", progress=False, build_fn=buggy
        )


def test_prepare_command_prints_a_summary(tmp_path, monkeypatch, capsys):
    root = write_folders(tmp_path / "data")
    monkeypatch.setattr(dataset_module, "_preprocess", fake_build)  # called with the preset's inputs
    parser = argparse.ArgumentParser(prog="staner-lab")
    add_prepare_parser(parser.add_subparsers(dest="command"))

    def run(*extra: str) -> str:
        args = parser.parse_args(
            ["prepare", "--data", str(root), "--cache", str(tmp_path / "cache"), "--no-progress", *extra]
        )
        assert args.func(args) == 0
        return capsys.readouterr().out

    out = run()
    assert "sequences:  3 prepared of 4 read" in out
    assert "subjects:   2" in out and "frames:     6 on disk" in out
    assert "happy  2" in out and "sad    1" in out
    assert "faces not found: 1 sequence(s)" in out
    assert "sad/S003_001: FaceNotFoundError: no face found" in out
    assert "0 hits, 4 misses" in out
    assert "3 hits, 1 misses" in run()


def test_prepare_takes_the_settings_that_decide_what_is_prepared(tmp_path, monkeypatch):
    """``--set`` reaches the inputs and the preprocessing as ``train --set`` would set them, so
    ``prepare`` fills the cache that a training with the same settings reads."""
    root = write_folders(tmp_path / "data")
    seen = []

    def build(record, inputs=INPUTS, prep=None, backend=None):
        seen.append((inputs, prep))
        return fake_build(record, inputs, prep, backend)

    monkeypatch.setattr(dataset_module, "_preprocess", build)
    parser = argparse.ArgumentParser(prog="staner-lab")
    add_prepare_parser(parser.add_subparsers(dest="command"))
    base = ["prepare", "--data", str(root), "--cache", str(tmp_path / "cache"), "--no-progress"]
    args = parser.parse_args([*base, "--set", "inputs.face_size=96", "--set", "prep.upscale_below=64"])
    assert args.func(args) == 0
    assert {(inputs.face_size, prep.upscale_below) for inputs, prep in seen} == {(96, 64)}
    for bad, match in ((["--set", "train.label_smoothing=0.1"], "train.label_smoothing: prepare only"),
                       (["--set", "prep.landmarks=exact"], "landmarks")):
        args = parser.parse_args([*base, *bad])
        with pytest.raises(ValueError, match=match):
            args.func(args)


def test_integration_synthetic_ckplus_through_preprocess(tmp_path):
    """The real chain: synthetic CK+ tree -> read_ckplus -> preprocess_sequence -> cache -> batches."""
    from staner_lab.data import synthetic

    sequences = synthetic.generate_dataset(2, seed=0, frames=4, size=96, emotions=("happy", "surprise"))
    root = synthetic.write_ckplus(sequences, tmp_path / "ck")
    inputs = preset("classroom").inputs
    prep = PreprocessConfig(landmarks="given")  # Landmarks/ is written too: no dlib needed
    cache = SampleCache(tmp_path / "cache")

    samples, class_names, report = load_samples(root, inputs, prep, cache=cache, progress=False)
    assert class_names == CK_PLUS_CLASSES and report.skipped == []
    assert len(samples) == 4 and {CK_PLUS_CLASSES[s.label] for s in samples} == {"happy", "surprise"}
    assert {s.subject for s in samples} == {"S001", "S002"}
    ds = StanerDataset(samples, flip=True, seed=0)
    batch = next(iter(make_loader(ds, batch_size=4)))
    S, T = inputs.face_size, inputs.frames
    assert batch["peak"].shape == (4, 1, S, S)
    for name, (h, w) in inputs.region_sizes.items():
        assert batch["regions"][name].shape == (4, T, 1, h, w)
    assert torch.isfinite(batch["peak"]).all() and 0 <= batch["peak"].min() and batch["peak"].max() <= 1

    again, _, _ = load_samples(root, inputs, prep, cache=cache, progress=False)
    assert cache.hits == 4
    np.testing.assert_array_equal(again[0].peak, samples[0].peak)
