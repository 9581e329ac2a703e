"""Face detection, tracking and landmark files (staner_lab.data: faces, dlib_landmarks, given_landmarks), on a
real photograph."""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np
import pytest

from staner_lab.data import dlib_landmarks
from staner_lab.data.dlib_landmarks import DlibBackend, load_dlib_models, shape_predictor_path
from staner_lab.data.faces import FaceNotFoundError, FaceTrack, LandmarkBackend
from staner_lab.data.given_landmarks import GivenLandmarksBackend, read_landmark_file


@pytest.fixture(scope="module")
def reference(astronaut) -> FaceTrack:
    return DlibBackend(track=False).detect([astronaut])


def shift(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REPLICATE)


def test_backends_follow_the_protocol():
    assert isinstance(DlibBackend(), LandmarkBackend)
    assert isinstance(GivenLandmarksBackend(np.zeros((1, 68, 2))), LandmarkBackend)


def test_shape_predictor_found_without_importing_the_package():
    path = shape_predictor_path()
    assert path.name == "shape_predictor_68_face_landmarks.dat" and path.is_file()
    spec = importlib.util.find_spec("face_recognition_models")
    assert str(path).startswith(next(iter(spec.submodule_search_locations)))


def test_shape_predictor_override_and_clear_errors(monkeypatch, tmp_path):
    real = shape_predictor_path()
    monkeypatch.setenv(dlib_landmarks.SHAPE_PREDICTOR_ENV, str(real))
    assert shape_predictor_path() == real
    missing = tmp_path / "nope.dat"
    monkeypatch.setenv(dlib_landmarks.SHAPE_PREDICTOR_ENV, str(missing))
    with pytest.raises(FileNotFoundError, match="nope.dat"):
        shape_predictor_path()
    with pytest.raises(FileNotFoundError, match="nope.dat"):
        shape_predictor_path(missing)
    monkeypatch.delenv(dlib_landmarks.SHAPE_PREDICTOR_ENV)
    monkeypatch.setattr(dlib_landmarks.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install face-recognition-models"):
        shape_predictor_path()


def test_models_load_once():
    a = load_dlib_models()
    b = load_dlib_models()
    assert a[0] is b[0] and a[1] is b[1]


def test_one_face_and_68_landmarks_on_a_photograph(reference):
    assert reference.landmarks.shape == (1, 68, 2) and reference.landmarks.dtype == np.float32
    assert reference.boxes.shape == (1, 4) and reference.found.tolist() == [True]
    assert reference.detected_frames == 1
    lm, (x0, y0, x1, y1) = reference.landmarks[0], reference.boxes[0]
    w, h = x1 - x0, y1 - y0
    inner = lm[17:]  # brows, nose, eyes, mouth: inside the detector's box
    assert np.all((inner[:, 0] >= x0) & (inner[:, 0] <= x1) & (inner[:, 1] >= y0) & (inner[:, 1] <= y1))
    # the jaw line may run a little past dlib's box, never far
    assert np.all((lm[:, 0] >= x0 - 0.15 * w) & (lm[:, 0] <= x1 + 0.15 * w))
    assert np.all((lm[:, 1] >= y0 - 0.15 * h) & (lm[:, 1] <= y1 + 0.15 * h))
    eyes_y, mouth_y = lm[36:48, 1].mean(), lm[48:68, 1].mean()
    assert eyes_y < lm[30, 1] < mouth_y  # eyes above the nose tip above the mouth
    assert lm[36:42, 0].mean() < lm[42:48, 0].mean()  # subject's right eye on the image left


def test_tracking_detects_once_and_follows_the_shift(astronaut):
    T, dx, dy = 6, 3.0, 2.0
    frames = np.stack([shift(astronaut, dx * i, dy * i) for i in range(T)])
    tracked = DlibBackend(track=True).detect(frames)
    every = DlibBackend(track=False).detect(list(frames))
    assert tracked.detected_frames == 1 and tracked.detected.tolist() == [True] + [False] * (T - 1)
    assert every.detected_frames == T
    assert tracked.landmarks.shape == (T, 68, 2)
    moved = (tracked.landmarks - tracked.landmarks[0]).mean(axis=1)  # (T, 2)
    expected = np.stack([np.arange(T) * dx, np.arange(T) * dy], axis=1)
    np.testing.assert_allclose(moved, expected, atol=1.0)
    np.testing.assert_allclose(tracked.landmarks, every.landmarks, atol=3.0)


def test_redetect_every_and_after_a_jump(astronaut):
    frames = [shift(astronaut, i, 0) for i in range(5)]
    assert DlibBackend(redetect_every=2).detect(frames).detected.tolist() == [True, False, True, False, True]
    jump = [astronaut, astronaut, shift(astronaut, 150, 40), shift(astronaut, 150, 40)]
    track = DlibBackend().detect(jump)
    assert track.detected.tolist() == [True, False, True, False]  # lost at the jump -> re-detected
    np.testing.assert_allclose((track.landmarks[2] - track.landmarks[0]).mean(axis=0), [150, 40], atol=1.5)


def test_blank_frame_raises_naming_the_frame(astronaut):
    blank = np.zeros((120, 160), np.uint8)
    with pytest.raises(FaceNotFoundError, match=r"frame 0.*whole_frame_face=True"):
        DlibBackend().detect([blank])
    with pytest.raises(FaceNotFoundError, match=r"frame 1 \(seq/b\.png\).*--whole-frame-face") as info:
        DlibBackend().detect([astronaut, np.zeros_like(astronaut)], names=["seq/a.png", "seq/b.png"])
    assert isinstance(info.value, ValueError) and info.value.frame_index == 1
    fallback = DlibBackend(whole_frame_fallback=True).detect([astronaut, np.zeros_like(astronaut)])
    assert fallback.found.tolist() == [True, False]
    np.testing.assert_allclose(fallback.boxes[1], [0, 0, 511, 511])


def test_whole_frame_face_on_a_small_precropped_face(astronaut, reference):
    x0, y0, x1, y1 = reference.boxes[0].astype(int)
    crop = astronaut[y0:y1, x0:x1]
    small = cv2.resize(crop, (96, 96), interpolation=cv2.INTER_AREA)
    track = DlibBackend(whole_frame_face=True).detect([small, small])
    assert track.detected_frames == 0 and track.found.all()
    lm = track.landmarks[0]
    assert np.all((lm >= -2) & (lm <= 98))
    assert lm[36:48, 1].mean() < lm[48:68, 1].mean()
    # same points as on the full photograph, mapped into the crop (upscaling is undone)
    sx, sy = 96 / crop.shape[1], 96 / crop.shape[0]
    expected = (reference.landmarks[0] - [x0, y0]) * [sx, sy]
    inner = slice(17, 68)
    assert np.abs(lm[inner] - expected[inner]).mean() < 3.0


def test_upscaling_maps_coordinates_back(astronaut, reference):
    half = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    track = DlibBackend(upscale_below=400).detect([half])
    assert np.abs(track.landmarks[0] * 2 - reference.landmarks[0]).mean() < 2.0


def test_bad_frames_are_rejected():
    with pytest.raises(ValueError, match="no frames"):
        DlibBackend().detect([])
    with pytest.raises(ValueError, match="uint8"):
        DlibBackend().detect([np.zeros((10, 10), np.float32)])


def write_landmarks(path, points) -> None:
    path.write_text("".join(f"   {x:.7e}   {y:.7e}\n" for x, y in points))


def test_read_landmark_file(tmp_path, reference):
    pts = reference.landmarks[0]
    path = tmp_path / "S005_001_00000001_landmarks.txt"
    write_landmarks(path, pts)
    np.testing.assert_allclose(read_landmark_file(path), pts, atol=1e-4)
    (tmp_path / "ck.txt").write_text("   2.3700000e+02   2.1000000e+02\n" * 68)
    assert read_landmark_file(tmp_path / "ck.txt")[0].tolist() == [237.0, 210.0]


def test_read_landmark_file_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad_landmarks.txt"
    bad.write_text("1 2\n3 4\n5 six\n")
    with pytest.raises(ValueError, match=r"bad_landmarks\.txt, line 3"):
        read_landmark_file(bad)
    bad.write_text("1 2 3\n")
    with pytest.raises(ValueError, match=r"bad_landmarks\.txt, line 1"):
        read_landmark_file(bad)
    bad.write_text("1 2\n" * 67)
    with pytest.raises(ValueError, match=r"bad_landmarks\.txt: expected 68.*found 67"):
        read_landmark_file(bad)
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        read_landmark_file(tmp_path / "missing.txt")


def test_given_landmarks_backend(tmp_path, reference):
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"f{i}.txt")
        write_landmarks(paths[-1], reference.landmarks[0] + i)
    backend = GivenLandmarksBackend(paths)
    frames = np.zeros((3, 512, 512), np.uint8)
    track = backend.detect(frames)
    assert track.detected_frames == 0 and track.landmarks.shape == (3, 68, 2)
    np.testing.assert_allclose(track.landmarks[2] - track.landmarks[0], 2.0, atol=1e-4)
    with pytest.raises(ValueError, match="3 landmark files.*2 frames"):
        backend.detect(frames[:2])
