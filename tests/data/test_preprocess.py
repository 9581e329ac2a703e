"""Peak face, temporal sampling and record -> Sample (staner_lab.data.align, .preprocess)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from staner_lab.config import REGIONS, PreprocessConfig, preset
from staner_lab.data.align import (
    EYE_X,
    EYE_Y,
    align_face,
    alignment_matrix,
    choose_peak,
    eye_centres,
    sample_indices,
)
from staner_lab.data.dlib_landmarks import DlibBackend
from staner_lab.data.given_landmarks import GivenLandmarksBackend
from staner_lab.data.preprocess import backend_for, flip_sample, load_frames, preprocess_sequence
from staner_lab.data.records import Sample, SequenceRecord

N_FRAMES = 10


def face_frames(astronaut: np.ndarray, n: int = N_FRAMES) -> list[np.ndarray]:
    """(240, 240) frames around the astronaut's face, shifted 2 px right and 1 px down per frame."""
    out = []
    for i in range(n):
        m = np.float32([[1, 0, 2 * i - 110], [0, 1, i - 30]])
        out.append(cv2.warpAffine(astronaut, m, (240, 240), borderMode=cv2.BORDER_REPLICATE))
    return out


@pytest.fixture(scope="module")
def png_sequence(astronaut, tmp_path_factory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("S005") / "001"
    root.mkdir()
    paths = []
    for i, frame in enumerate(face_frames(astronaut)):
        paths.append(root / f"S005_001_{i + 1:08d}.png")
        assert cv2.imwrite(str(paths[-1]), cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))  # colour on disk
    return root, paths


def record(paths=(), video=None, landmark_paths=()) -> SequenceRecord:
    return SequenceRecord(
        sequence_id="S005/001",
        subject="S005",
        label=4,
        label_name="happy",
        frame_paths=tuple(paths),
        video_path=video,
        landmark_paths=tuple(landmark_paths),
    )


# ---- align.py -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "T", "expected"),
    [
        (1, 4, [0, 0, 0, 0]),
        (3, 5, [0, 1, 1, 2, 2]),  # fewer frames than T: repeats
        (4, 4, [0, 1, 2, 3]),
        (20, 4, [0, 6, 13, 19]),  # more frames than T
        (60, 2, [0, 59]),
        (7, 1, [6]),
    ],
)
def test_sample_indices(n, T, expected):
    idx = sample_indices(n, T)
    assert idx.tolist() == expected and idx.dtype == np.int64


def test_sample_indices_properties_and_errors():
    for n in range(1, 40):
        for T in range(2, 20):
            idx = sample_indices(n, T)
            assert len(idx) == T and idx[0] == 0 and idx[-1] == n - 1
            assert np.all(np.diff(idx) >= 0)
            if n >= T:
                assert len(set(idx.tolist())) == T  # no repeats when there are enough frames
    with pytest.raises(ValueError, match="0 frames"):
        sample_indices(0, 8)
    with pytest.raises(ValueError, match="T must be"):
        sample_indices(5, 0)


@pytest.mark.parametrize(("n", "T", "expected"), [
    (4, 8, [0, 0, 0, 0, 0, 1, 2, 3]),  # neutral + last three: the real frames end the sequence, in order
    (3, 8, [0, 0, 0, 0, 0, 0, 1, 2]),
    (1, 3, [0, 0, 0]),
    (8, 8, list(range(8))),
    (20, 4, [0, 6, 13, 19]),  # enough frames: the same as "stretch"
])
def test_sample_indices_hold_first(n, T, expected):
    assert sample_indices(n, T, "hold_first").tolist() == expected


def test_hold_first_keeps_every_frame_once_and_at_the_end():
    for n in range(1, 12):
        idx = sample_indices(n, 12, "hold_first")
        assert idx[-n:].tolist() == list(range(n)) and np.all(idx[:-n] == 0)
    with pytest.raises(ValueError, match="stretch"):
        sample_indices(3, 8, "loop")


def test_preprocess_follows_input_config_short_sequences(tmp_path):
    from staner_lab.config import InputConfig, PreprocessConfig
    from staner_lab.data.preprocess import preprocess_sequence
    from staner_lab.data.readers import read_dataset
    from staner_lab.data.shipped import shipped_data_dir

    record = read_dataset(shipped_data_dir())[0][0]  # 5 frames
    sizes = {"eyes": (24, 64), "nose": (32, 32), "mouth": (24, 48)}
    out = {}
    for mode in ("stretch", "hold_first"):
        inputs = InputConfig(face_size=64, frames=8, region_sizes=sizes, short_sequences=mode)
        out[mode] = preprocess_sequence(record, inputs, PreprocessConfig(landmarks="given")).regions["mouth"]
    held = out["hold_first"]
    assert all(np.array_equal(held[k], held[0]) for k in range(4))  # frame 0 held for T - n + 1 steps
    assert not np.array_equal(held[-1], held[-2])  # the last steps are distinct frames
    assert np.array_equal(held[-1], out["stretch"][-1]) and np.array_equal(held[0], out["stretch"][0])


def test_choose_peak(landmarks):
    seq = np.stack([landmarks] * 6).astype(np.float64)
    seq += np.arange(6)[:, None, None] * 5.0  # pure translation: not an expression change
    mouth = slice(48, 68)
    seq[3, mouth, 1] += 8.0  # frame 3 opens the mouth most
    seq[4, mouth, 1] += 3.0
    assert choose_peak(seq, "last") == 5
    assert choose_peak(seq, "displacement") == 3
    assert choose_peak(seq[:1], "displacement") == 0
    with pytest.raises(ValueError, match="peak mode"):
        choose_peak(seq, "middle")


def test_align_face_puts_eyes_on_their_targets(astronaut, landmarks):
    S = 64
    face = align_face(astronaut, landmarks, S)
    assert face.shape == (S, S) and face.dtype == np.float32 and 0 <= face.min() and face.max() <= 1
    m = alignment_matrix(landmarks, S)
    (lx, ly), (rx, ry) = (m @ np.append(c, 1.0) for c in eye_centres(landmarks))
    assert (lx, ly, rx, ry) == pytest.approx((EYE_X[0] * S, EYE_Y * S, EYE_X[1] * S, EYE_Y * S))


def test_align_face_undoes_rotation(astronaut, landmarks):
    rot = cv2.getRotationMatrix2D((256, 256), 12, 1.0)
    rotated = cv2.warpAffine(astronaut, rot, (512, 512), borderMode=cv2.BORDER_REPLICATE)
    rotated_lm = (rot @ np.c_[landmarks, np.ones(68)].T).T
    a = align_face(astronaut, landmarks, 96)
    b = align_face(rotated, rotated_lm, 96)
    inner = (slice(16, 80), slice(16, 80))
    assert np.corrcoef(a[inner].ravel(), b[inner].ravel())[0, 1] > 0.95


# ---- preprocess.py --------------------------------------------------------------------------------


def check_shapes(sample: Sample, inputs) -> None:
    S, T = inputs.face_size, inputs.frames
    assert sample.peak.shape == (S, S) and sample.peak.dtype == np.float32
    assert list(sample.regions) == list(REGIONS)
    for region, (h, w) in inputs.region_sizes.items():
        crops = sample.regions[region]
        assert crops.shape == (T, h, w) and crops.dtype == np.float32
        assert 0.0 <= crops.min() and crops.max() <= 1.0 and crops.std() > 0.02
    assert sample.landmarks.shape == (T, 68, 2) and sample.landmarks.dtype == np.float32
    assert 0.0 <= sample.peak.min() and sample.peak.max() <= 1.0


def test_load_frames_from_pngs(png_sequence):
    _, paths = png_sequence
    frames, names = load_frames(record(paths))
    assert frames.shape == (N_FRAMES, 240, 240) and frames.dtype == np.uint8
    assert names == [str(p) for p in paths]


def test_preprocess_sequence_with_dlib(png_sequence):
    _, paths = png_sequence
    inputs = preset("classroom").inputs
    prep = PreprocessConfig()
    rec = record(paths)
    assert isinstance(backend_for(rec, prep), DlibBackend)
    sample = preprocess_sequence(rec, inputs, prep)
    check_shapes(sample, inputs)
    assert (sample.label, sample.subject, sample.sequence_id) == (4, "S005", "S005/001")
    # landmarks of the sampled frames: first and last kept; the fixed boxes (no stabilisation) see
    # them follow the 2 px / frame shift, the default stabilisation puts every frame on the peak's
    idx = sample_indices(N_FRAMES, inputs.frames)
    fixed = preprocess_sequence(rec, dataclasses.replace(inputs, stabilise=False), prep)
    moved = (fixed.landmarks - fixed.landmarks[0]).mean(axis=1)
    np.testing.assert_allclose(moved, np.stack([2.0 * idx, 1.0 * idx], axis=1), atol=1.0)
    np.testing.assert_array_equal(fixed.peak, sample.peak)
    assert inputs.stabilise
    np.testing.assert_allclose((sample.landmarks - sample.landmarks[-1]).mean(axis=1), 0.0, atol=1.0)
    again = preprocess_sequence(rec, inputs, prep)  # deterministic
    np.testing.assert_array_equal(again.peak, sample.peak)
    for r in REGIONS:
        np.testing.assert_array_equal(again.regions[r], sample.regions[r])


def test_preprocess_sequence_with_given_landmarks(png_sequence, astronaut, landmarks, tmp_path):
    _, paths = png_sequence
    lm_paths = []
    for i in range(N_FRAMES):  # CK+ Landmarks/ layout: one file of 68 "x y" lines per frame
        pts = landmarks + [2 * i - 110, i - 30]
        lm_paths.append(tmp_path / f"S005_001_{i + 1:08d}_landmarks.txt")
        lm_paths[-1].write_text("".join(f"   {x:.7e}   {y:.7e}\n" for x, y in pts))
    rec = record(paths, landmark_paths=lm_paths)
    prep = PreprocessConfig(peak="displacement")
    assert isinstance(backend_for(rec, prep), GivenLandmarksBackend)
    inputs = dataclasses.replace(preset("classroom").inputs, stabilise=False)  # the landmarks as read
    sample = preprocess_sequence(rec, inputs, prep)
    check_shapes(sample, inputs)
    np.testing.assert_allclose(sample.landmarks[0], landmarks - [110, 30], atol=1e-3)
    with pytest.raises(ValueError, match="no landmark files"):
        backend_for(record(paths), PreprocessConfig(landmarks="given"))


def test_video_decodes_and_preprocesses(astronaut, tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (240, 240))
    assert writer.isOpened()
    frames = face_frames(astronaut, 6)
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
    writer.release()
    decoded, names = load_frames(record(video=path))
    assert decoded.shape == (6, 240, 240) and decoded.dtype == np.uint8
    assert names[2] == f"{path}[frame 2]"
    assert np.abs(decoded.astype(float) - np.stack(frames)).mean() < 4.0  # lossy, but the same pictures
    inputs = preset("classroom").inputs
    check_shapes(preprocess_sequence(record(video=path), inputs, PreprocessConfig()), inputs)


def test_bad_inputs_name_the_file(png_sequence, tmp_path):
    _, paths = png_sequence
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    with pytest.raises(ValueError, match=r"corrupt\.png"):
        load_frames(record([paths[0], corrupt]))
    empty_image = tmp_path / "empty.png"
    empty_image.touch()
    with pytest.raises(ValueError, match=r"empty\.png"):
        load_frames(record([empty_image]))
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        load_frames(record([tmp_path / "missing.png"]))
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), np.zeros((100, 120), np.uint8))
    with pytest.raises(ValueError, match=r"small\.png.*120x100.*240x240.*resize"):
        load_frames(record([paths[0], small]))
    with pytest.raises(ValueError, match="no frames"):
        load_frames(record())


def test_bad_videos_name_the_file(tmp_path):
    zero = tmp_path / "zero.avi"
    zero.touch()
    with pytest.raises(ValueError, match=r"zero\.avi"):
        load_frames(record(video=zero))
    no_frames = tmp_path / "no_frames.avi"
    writer = cv2.VideoWriter(str(no_frames), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 64))
    assert writer.isOpened()
    writer.release()
    # a real container with a header and no frames (not the zero-byte case above)
    assert no_frames.is_file() and no_frames.stat().st_size > 0
    with pytest.raises(ValueError, match=r"no_frames\.avi"):
        load_frames(record(video=no_frames))
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x01garbage" * 100)
    with pytest.raises(ValueError, match=r"garbage\.mp4"):
        load_frames(record(video=garbage))


def test_face_not_found_names_the_file(tmp_path):
    blank = tmp_path / "blank_0001.png"
    cv2.imwrite(str(blank), np.full((200, 200), 128, np.uint8))
    with pytest.raises(ValueError, match=r"frame 0 \(.*blank_0001\.png\).*--whole-frame-face"):
        preprocess_sequence(record([blank]), preset("classroom").inputs, PreprocessConfig())


def test_flip_sample(png_sequence):
    _, paths = png_sequence
    inputs = preset("classroom").inputs
    sample = preprocess_sequence(record(paths[:3]), inputs, PreprocessConfig())
    flipped = flip_sample(sample)
    np.testing.assert_array_equal(flipped.peak, sample.peak[:, ::-1])
    for r in REGIONS:
        np.testing.assert_array_equal(flipped.regions[r], sample.regions[r][:, :, ::-1])
    assert np.all(flipped.landmarks[:, 36:42, 0].mean(1) < flipped.landmarks[:, 42:48, 0].mean(1))
    back = flip_sample(flipped)
    np.testing.assert_array_equal(back.peak, sample.peak)
    np.testing.assert_allclose(back.landmarks, sample.landmarks, atol=1e-3)
    with_width = flip_sample(sample, width=240)
    np.testing.assert_allclose(
        with_width.landmarks[0, 36], [239 - sample.landmarks[0, 45, 0], sample.landmarks[0, 45, 1]]
    )
    assert dataclasses.replace(flipped, peak=sample.peak).label == sample.label


def test_stabilise_undoes_head_motion_before_the_regions_are_cut():
    from staner_lab.data.given_landmarks import read_landmark_file
    from staner_lab.data.preprocess import process_frames, read_gray_image
    from staner_lab.data.shipped import shipped_data_dir
    from staner_lab.data.stabilise import apply_to_points

    root = shipped_data_dir()
    frame = read_gray_image(root / "cohn-kanade-images/S001/001/S001_001_00000001.png")
    lm = read_landmark_file(root / "Landmarks/S001/001/S001_001_00000001_landmarks.txt")
    H, W = frame.shape
    centre = (W / 2, H / 2)
    moves = [(0.0, 0, 0), (5.0, 3, -2), (-4.0, -3, 2), (3.0, 2, 3)]  # degrees, dx, dy: a drifting head
    frames, landmarks = [], []
    for deg, dx, dy in moves:
        m = cv2.getRotationMatrix2D(centre, deg, 1.0)
        m[:, 2] += (dx, dy)
        frames.append(cv2.warpAffine(frame, m, (W, H), borderMode=cv2.BORDER_REPLICATE))
        landmarks.append(apply_to_points(m, lm))
    frames, landmarks = np.stack(frames), np.stack(landmarks).astype(np.float32)
    inputs = dataclasses.replace(preset("classroom").inputs, frames=4)

    def run(stabilise):
        return process_frames(frames, [f"{t}.png" for t in range(4)], dataclasses.replace(inputs, stabilise=stabilise),
                              PreprocessConfig(landmarks="given"), GivenLandmarksBackend(landmarks)).sample

    assert inputs.stabilise  # the default
    still, moving = run(True), run(False)
    np.testing.assert_array_equal(still.peak, moving.peak)  # the peak frame is the reference
    for r in REGIONS:  # the same face in every frame: stabilised crops barely change, fixed boxes do
        drift_still = np.abs(still.regions[r] - still.regions[r][-1]).mean()
        drift_moving = np.abs(moving.regions[r] - moving.regions[r][-1]).mean()
        assert drift_still < 0.25 * drift_moving, (r, drift_still, drift_moving)
    np.testing.assert_allclose(still.landmarks, np.repeat(landmarks[-1:], 4, axis=0), atol=0.05)
