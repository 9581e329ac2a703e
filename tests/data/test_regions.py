"""Region boxes, crops and horizontal flips (staner_lab.data.regions)."""

from __future__ import annotations

import numpy as np
import pytest

from staner_lab.config import REGIONS, InputConfig, preset
from staner_lab.data.dlib_landmarks import DlibBackend
from staner_lab.data.regions import (
    FLIP_PERMUTATION,
    REGION_LANDMARKS,
    crop_regions,
    flip_images,
    flip_landmarks,
    flip_sample_arrays,
    mirror_landmarks,
    region_box,
    sequence_region_boxes,
)


def inside(points: np.ndarray, box) -> bool:
    x0, y0, x1, y1 = box
    return bool(
        np.all(
            (points[..., 0] >= x0) & (points[..., 0] <= x1) & (points[..., 1] >= y0) & (points[..., 1] <= y1)
        )
    )


def test_region_landmarks():
    assert set(REGION_LANDMARKS) == set(REGIONS)
    assert REGION_LANDMARKS["eyes"] == tuple(range(17, 27)) + tuple(range(36, 48))
    assert REGION_LANDMARKS["nose"] == tuple(range(27, 36))
    assert REGION_LANDMARKS["mouth"] == tuple(range(48, 68))


def test_region_box_contains_its_landmarks(landmarks):
    for region, idx in REGION_LANDMARKS.items():
        tight = region_box(landmarks, region, margin=0.0)
        box = region_box(landmarks, region, margin=0.2)
        assert inside(landmarks[list(idx)], tight) and inside(landmarks[list(idx)], box)
        w, h = tight[2] - tight[0], tight[3] - tight[1]
        assert box[2] - box[0] == pytest.approx(1.4 * w) and box[3] - box[1] == pytest.approx(1.4 * h)
    with pytest.raises(ValueError, match="unknown region"):
        region_box(landmarks, "ears", 0.1)


def test_one_stable_box_per_sequence(landmarks):
    rng = np.random.default_rng(0)
    seq = (
        landmarks[None] + np.arange(6)[:, None, None] * np.array([2.0, 1.0]) + rng.normal(0, 0.5, (6, 68, 2))
    )
    sizes = InputConfig().region_sizes
    boxes = sequence_region_boxes(seq, sizes, margin=0.15, image_shape=(512, 512))
    assert list(boxes) == list(sizes)
    for region, box in boxes.items():
        assert len(box) == 4
        assert inside(seq[:, list(REGION_LANDMARKS[region])], box)  # every frame's points
        h, w = sizes[region]
        assert (box[3] - box[1]) / (box[2] - box[0]) == pytest.approx(h / w)
    assert sequence_region_boxes(seq, sizes, 0.15, (512, 512)) == boxes  # deterministic
    # a single glitched frame does not blow the box up
    glitch = seq.copy()
    glitch[3] += 200.0
    assert sequence_region_boxes(glitch, sizes, 0.15, (512, 512)) == sequence_region_boxes(
        np.delete(seq, 3, axis=0), sizes, 0.15, (512, 512)
    )


def test_boxes_kept_inside_the_image(landmarks):
    sizes = {"mouth": (48, 96)}
    near_edge = landmarks - [landmarks[:, 0].min() - 1, 0]  # jaw touches x = 1
    box = sequence_region_boxes(near_edge[None], {"nose": (64, 64), **sizes}, 0.5, image_shape=(512, 512))
    assert all(b[0] >= 0 and b[1] >= 0 and b[2] <= 512 and b[3] <= 512 for b in box.values())
    tiny = sequence_region_boxes(landmarks[None], sizes, 0.15, image_shape=(20, 20))["mouth"]
    assert tiny[2] - tiny[0] > 20  # too big to fit: left as is, cropping pads


def test_crop_regions_shapes_and_padding(astronaut, landmarks):
    sizes = preset("classroom").inputs.region_sizes
    frames = np.stack([astronaut, astronaut])
    boxes = sequence_region_boxes(np.stack([landmarks] * 2), sizes, 0.15, astronaut.shape)
    crops = crop_regions(frames, boxes, sizes)
    for region, (h, w) in sizes.items():
        c = crops[region]
        assert c.shape == (2, h, w) and c.dtype == np.float32 and 0.0 <= c.min() and c.max() <= 1.0
        assert c.std() > 0.02  # real image content
    # a box that leaves the image is padded with the edge values
    ramp = np.tile(np.arange(10, dtype=np.uint8) * 20, (10, 1))[None]  # (1, 10, 10), value grows with x
    out = crop_regions(ramp, {"nose": (-10, 0, 10, 10)}, {"nose": (10, 20)})["nose"][0]
    np.testing.assert_allclose(out[:, :10], 0.0)  # left half is the replicated first column
    np.testing.assert_allclose(out[:, 10:], ramp[0] / 255.0, atol=1e-6)
    with pytest.raises(ValueError, match="outside"):
        crop_regions(ramp, {"nose": (30, 30, 40, 40)}, {"nose": (4, 4)})


def test_flip_permutation_pairs():
    perm = FLIP_PERMUTATION
    assert sorted(perm.tolist()) == list(range(68))
    np.testing.assert_array_equal(perm[perm], np.arange(68))
    for a, b in [
        (0, 16),
        (8, 8),
        (17, 26),
        (21, 22),
        (27, 27),
        (30, 30),
        (31, 35),
        (33, 33),
        (36, 45),
        (39, 42),
        (40, 47),
        (48, 54),
        (51, 51),
        (57, 57),
        (60, 64),
        (62, 62),
        (66, 66),
    ]:
        assert perm[a] == b and perm[b] == a


def test_flip_landmarks_mirrors_and_keeps_index_meaning(landmarks):
    W = 512
    flipped = flip_landmarks(landmarks, W)
    np.testing.assert_allclose(flip_landmarks(flipped, W), landmarks, atol=1e-4)
    # the point now called 36 is where the mirror of point 45 went
    assert flipped[36, 0] == pytest.approx(W - 1 - landmarks[45, 0])
    assert flipped[36, 1] == pytest.approx(landmarks[45, 1])
    # index semantics preserved: the "right eye" 36-41 is still on the image-left side
    assert flipped[36:42, 0].mean() < flipped[42:48, 0].mean()
    assert flipped[48, 0] < flipped[54, 0] and flipped[0, 0] < flipped[16, 0]


def test_flip_landmarks_agree_with_dlib_on_the_flipped_image(astronaut, landmarks):
    flipped_image = np.ascontiguousarray(astronaut[:, ::-1])
    detected = DlibBackend(track=False).detect([flipped_image]).landmarks[0]
    predicted = flip_landmarks(landmarks, astronaut.shape[1])
    assert np.abs(detected[17:] - predicted[17:]).mean() < 3.0


def test_flip_sample_arrays_twice_is_identity(landmarks):
    rng = np.random.default_rng(1)
    peak = rng.random((8, 8), dtype=np.float32)
    regions = {"eyes": rng.random((3, 4, 6), dtype=np.float32)}
    lm = np.stack([landmarks] * 3)
    once = flip_sample_arrays(peak, regions, lm)
    np.testing.assert_array_equal(once[0], peak[:, ::-1])
    np.testing.assert_array_equal(once[1]["eyes"], regions["eyes"][:, :, ::-1])
    assert once[2][0, 36:42, 0].mean() < once[2][0, 42:48, 0].mean()
    twice = flip_sample_arrays(*once)
    np.testing.assert_array_equal(twice[0], peak)
    np.testing.assert_array_equal(twice[1]["eyes"], regions["eyes"])
    np.testing.assert_allclose(twice[2], lm, atol=1e-3)
    np.testing.assert_allclose(mirror_landmarks(mirror_landmarks(lm, 7.5), 7.5), lm, atol=1e-4)
    assert flip_images(peak).flags.c_contiguous
