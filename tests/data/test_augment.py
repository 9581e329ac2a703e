"""Augmentation (data/augment.py), class balance (data/dataset.py) and their config and CLI options."""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import pytest
import torch

from staner_lab.config import AugmentConfig, InputConfig, TrainConfig, train_preset
from staner_lab.data.align import alignment_matrix
from staner_lab.data.augment import (
    Geometry,
    Photometric,
    apply_geometry,
    apply_photometric,
    augment_sample,
)
from staner_lab.data.dataset import StanerDataset, balanced_indices, class_weights, make_loader, to_item
from staner_lab.data.preprocess import flip_sample
from staner_lab.data.records import Sample

INPUTS = InputConfig(face_size=48, frames=5,
                     region_sizes={"eyes": (20, 40), "nose": (24, 24), "mouth": (18, 30)})
BOTH = AugmentConfig(geometric=True, photometric=True)
GEOMETRY = Geometry(dx=0.05, dy=-0.04, scale=1.07, angle=7.0)


def face_landmarks(T: int, rng: np.random.Generator) -> np.ndarray:
    """(T, 68, 2) landmarks in a 200 x 200 source frame with two clear eyes (a valid alignment)."""
    lm = rng.uniform(60, 140, size=(T, 68, 2))
    lm[:, 36:42] = rng.normal((70, 80), 2, size=(T, 6, 2))
    lm[:, 42:48] = rng.normal((130, 84), 2, size=(T, 6, 2))
    return lm.astype(np.float32)


def random_sample(i: int = 0, label: int = 0, inputs: InputConfig = INPUTS) -> Sample:
    rng = np.random.default_rng(i)
    T, S = inputs.frames, inputs.face_size
    return Sample(
        peak=rng.random((S, S), dtype=np.float32),
        regions={n: rng.random((T, h, w), dtype=np.float32) for n, (h, w) in inputs.region_sizes.items()},
        landmarks=face_landmarks(T, rng),
        label=label,
        subject=f"S{i:03d}",
        sequence_id=f"S{i:03d}/001",
    )


def tiny_sample(label: int) -> Sample:
    """A sample with 1-pixel images: enough for the class-balance tests, fast to serve."""
    z = np.zeros((1, 1, 1), np.float32)
    return Sample(peak=np.zeros((1, 1), np.float32), regions={"eyes": z, "nose": z, "mouth": z},
                  landmarks=np.zeros((1, 68, 2), np.float32), label=label, subject="S", sequence_id="s")


def blob(shape_hw: tuple[int, int], centre_xy, sigma: float = 1.5) -> np.ndarray:
    """A Gaussian spot (peak 1) on black, (h, w) float32."""
    h, w = shape_hw
    y, x = np.mgrid[0:h, 0:w]
    return np.exp(-((x - centre_xy[0]) ** 2 + (y - centre_xy[1]) ** 2) / (2 * sigma**2)).astype(np.float32)


def centroid(img: np.ndarray) -> np.ndarray:
    y, x = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    return np.array([(img * x).sum(), (img * y).sum()]) / img.sum()


def apply(m: np.ndarray, p) -> np.ndarray:
    return m[:, :2] @ np.asarray(p, dtype=np.float64) + m[:, 2]


def test_geometry_moves_a_mark_the_same_way_in_peak_regions_and_landmarks():
    rng = np.random.default_rng(1)
    T, S = INPUTS.frames, INPUTS.face_size
    lm = face_landmarks(T, rng)
    align = alignment_matrix(lm[-1], S)  # source -> peak face, as preprocessing does it
    nose_tip = apply(align, lm[-1, 30])  # mark the peak face where landmark 30 lies
    # the same mark, at the same offset from the centre in units of each image's size
    offset = np.array([-0.12, 0.15])
    regions = {}
    for name, (h, w) in INPUTS.region_sizes.items():
        spot = blob((h, w), ((w - 1) / 2 + offset[0] * w, (h - 1) / 2 + offset[1] * h))
        regions[name] = np.repeat(spot[None], T, axis=0)
    peak = blob((S, S), nose_tip)
    sample = Sample(peak=peak, regions=regions, landmarks=lm, label=0, subject="S", sequence_id="s")

    out = apply_geometry(sample, GEOMETRY)

    # the peak's mark went where the matrix sends it, and where the moved landmark projects
    moved = centroid(out.peak)
    np.testing.assert_allclose(moved, apply(GEOMETRY.matrix((S, S)), centroid(peak)), atol=0.25)
    np.testing.assert_allclose(moved, apply(align, out.landmarks[-1, 30]), atol=0.3)
    # in every region (any aspect ratio) the mark goes where that region's matrix sends it; in a
    # square crop that is where the PEAK's transform sends that relative position (same jitter)
    c_peak = np.full(2, (S - 1) / 2)
    peak_at = lambda r: (apply(GEOMETRY.matrix((S, S)), c_peak + r * S) - c_peak) / S
    for name, (h, w) in INPUTS.region_sizes.items():
        got = centroid(out.regions[name][0])
        np.testing.assert_allclose(got, apply(GEOMETRY.matrix((h, w)), centroid(regions[name][0])), atol=0.25)
        if h == w:
            np.testing.assert_allclose((got - (w - 1) / 2) / w, peak_at(offset), atol=0.25 / w)
    # landmarks: one similarity for all frames, its scale the drawn one, the point order kept
    d_before = np.linalg.norm(lm[:, None] - lm[None, :1], axis=-1)
    d_after = np.linalg.norm(out.landmarks[:, None] - out.landmarks[None, :1], axis=-1)
    np.testing.assert_allclose(d_after, GEOMETRY.scale * d_before, rtol=1e-4, atol=1e-3)
    assert out.landmarks.dtype == np.float32 and out.landmarks.shape == lm.shape


def test_degenerate_landmarks_are_moved_not_crashed_on():
    sample = dataclasses.replace(random_sample(0), landmarks=np.zeros((INPUTS.frames, 68, 2), np.float32))
    out = apply_geometry(sample, GEOMETRY)
    np.testing.assert_array_equal(out.landmarks, sample.landmarks)  # one point: nothing to move about
    lm = face_landmarks(INPUTS.frames, np.random.default_rng(3))
    lm[:, 36:48] = 100.0  # eye centres coincide: about the centroid instead
    out = apply_geometry(dataclasses.replace(sample, landmarks=lm), GEOMETRY)
    assert np.isfinite(out.landmarks).all() and not np.allclose(out.landmarks, lm)


def test_all_frames_of_a_region_get_the_same_transform():
    """A spot that moves by a known step per frame keeps its motion: each step rotated and scaled
    the same way (same length ratio, same turn), whatever transform was drawn."""
    T, (h, w) = 6, (40, 64)
    start = np.array([20.0, 17.0])
    step = np.array([2.5, 1.0])
    seq = np.stack([blob((h, w), start + t * step) for t in range(T)])
    face = np.zeros((48, 48), np.float32)
    lm = face_landmarks(T, np.random.default_rng(0))
    sample = Sample(peak=face, regions={"eyes": seq, "nose": seq[:, :24, :24], "mouth": seq},
                    landmarks=lm, label=0, subject="S", sequence_id="s")
    cfg = AugmentConfig(geometric=True, rotation=15.0)
    for index in range(3):
        out = augment_sample(sample, cfg, seed=4, epoch=0, index=index).regions["eyes"]
        c = np.array([centroid(f) for f in out])
        moves = c[1:] - c[0]  # displacement from frame 0, t = 1..T-1
        ratios = np.linalg.norm(moves, axis=1) / (np.arange(1, T) * np.linalg.norm(step))
        turns = np.arctan2(moves[:, 1], moves[:, 0]) - np.arctan2(step[1], step[0])
        assert np.ptp(ratios) < 0.02 and np.ptp(turns) < 0.02, (ratios, turns)
        assert abs(ratios[0] - 1) > 1e-3 or abs(turns[0]) > 1e-3  # it did transform
        np.testing.assert_allclose(np.diff(c, axis=0), np.diff(c, axis=0)[:1].repeat(T - 1, 0), atol=0.15)


def test_photometric_is_one_lighting_for_the_peak_and_every_frame():
    values = np.array([0.0, 0.1, 0.35, 0.5, 0.8, 1.0], np.float32)
    pattern = lambda h, w: values[np.add.outer(np.arange(h), np.arange(w)) % len(values)]
    T = INPUTS.frames
    sample = Sample(peak=pattern(48, 48), landmarks=face_landmarks(T, np.random.default_rng(0)),
                    regions={n: np.repeat(pattern(h, w)[None], T, 0)
                             for n, (h, w) in INPUTS.region_sizes.items()},
                    label=0, subject="S", sequence_id="s")
    cfg = AugmentConfig(photometric=True, noise=0.0, blur=0.0)  # the pointwise part alone
    out = augment_sample(sample, cfg, seed=0, epoch=0, index=3)
    images_in = [sample.peak.ravel()] + [v.ravel() for v in sample.regions.values()]
    images_out = [out.peak.ravel()] + [v.ravel() for v in out.regions.values()]
    x, y = np.concatenate(images_in), np.concatenate(images_out)
    mapped = []
    for v in values:
        got = np.unique(y[x == v])
        assert len(got) == 1, f"value {v} became {got}: not one lighting"
        mapped.append(got[0])
    assert np.all(np.diff(mapped) >= 0) and not np.allclose(mapped, values)  # monotone, not the identity
    np.testing.assert_array_equal(out.landmarks, sample.landmarks)

    # blur: identical frames stay identical; noise: the same strength in every image, new per frame
    out = augment_sample(sample, dataclasses.replace(cfg, blur=1.5), seed=0, epoch=0, index=3)
    for seq in out.regions.values():
        assert all(np.array_equal(seq[0], f) for f in seq)
    flat = dataclasses.replace(sample, peak=np.full((48, 48), 0.5, np.float32),
                               regions={n: np.full((T, 40, 40), 0.5, np.float32) for n in sample.regions})
    noisy = apply_photometric(flat, Photometric(noise=0.05), np.random.default_rng(0))
    stds = [noisy.peak.std()] + [f.std() for seq in noisy.regions.values() for f in seq]
    np.testing.assert_allclose(stds, 0.05, rtol=0.15)
    assert not np.array_equal(noisy.regions["eyes"][0], noisy.regions["eyes"][1])


def test_deterministic_per_seed_epoch_index_and_varied_otherwise():
    s = random_sample(2)
    a = augment_sample(s, BOTH, seed=3, epoch=1, index=5)
    b = augment_sample(s, BOTH, seed=3, epoch=1, index=5)
    np.testing.assert_array_equal(a.peak, b.peak)
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    for k in a.regions:
        np.testing.assert_array_equal(a.regions[k], b.regions[k])
    for other in ((4, 1, 5), (3, 2, 5), (3, 1, 6)):
        assert not np.allclose(augment_sample(s, BOTH, *other).peak, a.peak)
    assert augment_sample(s, AugmentConfig(), 3, 1, 5) is s  # nothing on: untouched


@pytest.mark.parametrize("cfg", [BOTH, AugmentConfig(geometric=True, photometric=True, shift=0.3, scale=0.5,
                                                     rotation=45, brightness=0.6, contrast=0.9, gamma=0.9,
                                                     noise=0.3, blur=3.0)])
def test_values_shapes_and_dtypes_are_kept(cfg):
    s = random_sample(5)
    for index in range(4):
        out = augment_sample(s, cfg, seed=0, epoch=index, index=index)
        assert out.peak.shape == s.peak.shape and out.peak.dtype == np.float32
        assert 0.0 <= out.peak.min() and out.peak.max() <= 1.0
        assert list(out.regions) == list(s.regions)
        for name, seq in out.regions.items():
            assert seq.shape == s.regions[name].shape and seq.dtype == np.float32
            assert 0.0 <= seq.min() and seq.max() <= 1.0
        assert out.landmarks.shape == s.landmarks.shape and out.landmarks.dtype == np.float32
        assert (out.label, out.subject, out.sequence_id) == (s.label, s.subject, s.sequence_id)


def test_dataset_flips_then_augments_per_seed_epoch_and_position():
    samples = [random_sample(i) for i in range(6)]
    ds = StanerDataset(samples, flip=True, seed=9, augment=BOTH)
    i = [ds.flipped(k) for k in range(6)].index(True)
    want = to_item(augment_sample(flip_sample(samples[i]), BOTH, 9, 0, i), i)
    torch.testing.assert_close(ds[i]["peak"], want["peak"])
    torch.testing.assert_close(ds[i]["regions"]["mouth"], want["regions"]["mouth"])
    # the same whatever the batch order; new each epoch; back again for the same epoch
    epoch0 = torch.stack([ds[k]["peak"] for k in range(6)])
    shuffled = {}
    for batch in make_loader(ds, 4, shuffle=True, seed=1):
        for k, idx in enumerate(batch["index"].tolist()):
            shuffled[idx] = batch["peak"][k]
    torch.testing.assert_close(torch.stack([shuffled[k] for k in range(6)]), epoch0)
    ds.set_epoch(1)
    assert not torch.allclose(torch.stack([ds[k]["peak"] for k in range(6)]), epoch0)
    ds.set_epoch(0)
    torch.testing.assert_close(torch.stack([ds[k]["peak"] for k in range(6)]), epoch0)
    # off by default, and a config with nothing enabled is the same as none
    plain = StanerDataset(samples, augment=AugmentConfig())
    torch.testing.assert_close(plain[2]["peak"][0], torch.from_numpy(samples[2].peak))


def test_class_balanced_sampler_draws_classes_about_equally():
    labels = [0] * 18 + [1] * 83 + [2] * 40 + [3] * 6  # CK+-like: contempt 18, surprise 83
    ds = StanerDataset([tiny_sample(c) for c in labels], seed=0, class_balance="sampler")
    n, epochs = len(labels), 40
    totals = np.zeros(4)
    for epoch in range(epochs):
        ds.set_epoch(epoch)
        source = np.array([ds.source(k) for k in range(n)])
        counts = np.bincount(np.asarray(labels)[source], minlength=4)
        assert counts.max() - counts.min() <= 1  # every epoch: n / K each, up to the remainder
        rare = np.bincount(source[np.asarray(labels)[source] == 3], minlength=n)[-6:]
        assert rare.min() >= 6 and rare.max() - rare.min() <= 1  # rare members repeat evenly
        totals += counts
    np.testing.assert_allclose(totals / totals.sum(), 0.25, atol=0.005)
    # deterministic per (seed, epoch), different across epochs and seeds
    order = lambda d, e: (d.set_epoch(e), [d.source(k) for k in range(n)])[1]
    again = StanerDataset([tiny_sample(c) for c in labels], seed=0, class_balance="sampler")
    assert order(ds, 3) == order(again, 3) and order(ds, 3) != order(ds, 4)
    other = StanerDataset([tiny_sample(c) for c in labels], seed=1, class_balance="sampler")
    assert order(other, 3) != order(ds, 3)
    # through the loader: labels balanced, "index" names the sample served
    ds.set_epoch(0)
    seen = []
    for batch in make_loader(ds, 32, shuffle=True, seed=0):
        assert batch["label"].tolist() == [labels[i] for i in batch["index"].tolist()]
        seen += batch["label"].tolist()
    assert np.bincount(seen).max() - np.bincount(seen).min() <= 1
    # "none" and "loss" serve the data as it is
    for mode in ("none", "loss"):
        plain = StanerDataset([tiny_sample(c) for c in labels], class_balance=mode)
        assert [plain.source(k) for k in range(n)] == list(range(n))
    with pytest.raises(ValueError, match="class_balance"):
        StanerDataset([tiny_sample(0)], class_balance="oversample")


def test_balanced_indices_edge_cases():
    rng = np.random.default_rng(0)
    assert balanced_indices([], 5, rng).size == 0
    np.testing.assert_array_equal(np.sort(balanced_indices([2, 2, 2], 3, rng)), [0, 1, 2])
    got = balanced_indices([0, 1, 1, 1, 1], 7, rng)
    assert len(got) == 7 and sorted(np.bincount(np.array([0, 1, 1, 1, 1])[got])) == [3, 4]


def test_class_weights_are_inverse_frequency_with_mean_one():
    labels = [0] * 18 + [1] * 83 + [2] * 40
    w = class_weights(labels, 4)
    assert w.dtype == torch.float32 and w.shape == (4,)
    assert float(w.mean()) == pytest.approx(1.0)
    assert float(w[0] / w[1]) == pytest.approx(83 / 18) and float(w[3]) == 1.0  # absent class: neutral
    torch.testing.assert_close(class_weights([0, 1, 2, 0, 1, 2], 3), torch.ones(3))
    with pytest.raises(ValueError, match="labels"):
        class_weights([0, 5], 3)


def test_train_config_json_round_trip_and_old_json():
    cfg = dataclasses.replace(TrainConfig(), class_balance="sampler",
                              augment=AugmentConfig(geometric=True, photometric=True, rotation=5.0))
    back = TrainConfig.from_json(cfg.to_json())
    assert back == cfg and isinstance(back.augment, AugmentConfig)
    assert TrainConfig.from_json(TrainConfig().to_json()) == TrainConfig()
    # JSON written before these fields existed (checkpoints, results.json): loads with them off
    new = json.loads(TrainConfig().to_json())
    old = {k: v for k, v in new.items() if k not in ("augment", "class_balance")}
    assert TrainConfig.from_dict(old) == TrainConfig()
    # the JSON of the original TrainConfig, verbatim, through the one compatibility step at load
    from staner_lab.training.checkpoint import read_train_config

    original = ('{"epochs": 150, "batch_size": 64, "lr": 0.0001, "lr_drop_epoch": 100, "lr_after": 1e-05, '
                '"optimizer": "adam", "weight_decay": 0.0001, "flip": true, "seed": 0, "vgg_weights": null}')
    loaded = read_train_config(original)
    assert loaded.augment == AugmentConfig() and not loaded.augment.enabled and loaded.class_balance == "none"
    assert loaded.grad_clip is None  # trained without clipping
    # an old JSON of augment without a later-added range also loads
    partial = dict(new, augment={"geometric": True})
    assert TrainConfig.from_dict(partial).augment == AugmentConfig(geometric=True)
    # presets keep the paper's recipe: nothing beyond the flip unless asked for
    for name in ("paper", "classroom"):
        assert not train_preset(name).augment.enabled and train_preset(name).class_balance == "none"
    with pytest.raises(ValueError, match="class_balance"):
        TrainConfig.from_dict(dict(new, class_balance="oversample"))
    with pytest.raises(ValueError, match="rotation"):
        AugmentConfig(rotation=-1.0)


def test_cli_flags_set_augment_and_class_balance():
    from staner_lab.training import cli

    parser = argparse.ArgumentParser()
    cli.add_training_parsers(parser.add_subparsers())
    def parse(*extra):
        return cli._train_config(parser.parse_args(["train", "--data", "d", "--out", "o", *extra]))
    default = parse()
    assert default.augment == train_preset("classroom").augment and default.class_balance == "none"
    for flag, geo, photo in (("both", True, True), ("geometric", True, False), ("photometric", False, True),
                             ("none", False, False)):
        a = parse("--augment", flag).augment
        assert (a.geometric, a.photometric) == (geo, photo)
        assert dataclasses.replace(a, geometric=False, photometric=False) == AugmentConfig()  # ranges kept
    assert parse("--set", "train.class_balance=sampler").class_balance == "sampler"
    assert parse("--set", "train.class_balance=loss", "--preset", "paper").class_balance == "loss"


def test_run_fold_builds_the_training_set_with_the_options(monkeypatch, tmp_path):
    from staner_lab.training import fold

    seen = []

    class Stop(Exception):
        pass

    def fake_dataset(samples, **kwargs):
        seen.append(kwargs)
        raise Stop

    monkeypatch.setattr(fold, "StanerDataset", fake_dataset)
    cfg = dataclasses.replace(TrainConfig(), augment=BOTH, class_balance="sampler")
    with pytest.raises(Stop):
        fold.run_fold(fold.FoldRun("STANER", 0, 0, 1, None, cfg, np.array([0]), np.array([], int), tmp_path),
                      [random_sample(0)], fold.RunOptions(amp=False, progress=False))
    assert seen[0]["augment"] == BOTH and seen[0]["class_balance"] == "sampler"
