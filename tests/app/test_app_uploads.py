"""staner_lab.app.uploads: uploads and webcam snapshots decoded by content (never by name), size
limits, frame ordering, and uploaded frames -> a sequence view."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from staner_lab.app import uploads
from staner_lab.config import PreprocessConfig, preset
from staner_lab.data.faces import FaceNotFoundError
from staner_lab.data.preprocess import load_frames
from staner_lab.explain.inspection import shipped_records

INPUTS = preset("classroom").inputs


@pytest.fixture(scope="module")
def face_frames() -> np.ndarray:
    records, _ = shipped_records()
    frames, _ = load_frames(records[0])
    return frames  # (5, 96, 96) uint8, a synthetic face from neutral to peak


def png(img: np.ndarray) -> bytes:
    return cv2.imencode(".png", img)[1].tobytes()


def avi(frames: np.ndarray, path: Path) -> bytes:
    h, w = frames.shape[1:]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (w, h))
    assert writer.isOpened(), "OpenCV cannot write MJPG/AVI here"
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path.read_bytes()


def test_sniff_kind_reads_content_not_names(face_frames, tmp_path):
    assert uploads.sniff_kind(png(face_frames[0])) == ("image", ".png")
    assert uploads.sniff_kind(cv2.imencode(".jpg", face_frames[0])[1].tobytes()) == ("image", ".jpg")
    assert uploads.sniff_kind(avi(face_frames, tmp_path / "v.avi")) == ("video", ".avi")
    assert uploads.sniff_kind(b"\x00\x00\x00\x18ftypmp42") == ("video", ".mp4")
    assert uploads.sniff_kind(b"just some text") is None


def test_decode_image_gray_and_downscaled(face_frames):
    big = cv2.resize(face_frames[0], (1200, 1200))
    out = uploads.decode_image(png(big), "big.png")
    assert out.dtype == np.uint8 and out.ndim == 2 and max(out.shape) == uploads.MAX_SIDE
    colour = cv2.cvtColor(face_frames[0], cv2.COLOR_GRAY2BGR)
    assert uploads.decode_image(png(colour)).shape == (96, 96)


@pytest.mark.parametrize("data, match", [
    (b"", "empty"),
    (b"hello, I am a text file", "neither an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "not an image OpenCV can decode"),  # a PNG header, then junk
])
def test_decode_upload_rejects_non_media(data, match):
    with pytest.raises(uploads.InputError, match=match):
        uploads.decode_upload(data, "photo.png")  # the name lies; the content decides


def test_size_limit_checked_in_code(face_frames):
    data = png(face_frames[0])
    with pytest.raises(uploads.InputError, match="over the .* upload limit"):
        uploads.decode_upload(data, "f.png", max_mb=len(data) / 2**20 / 2)
    with pytest.raises(uploads.InputError, match="in all, are over"):
        uploads.frames_from_uploads([("a.png", data), ("b.png", data)], max_mb=1.5 * len(data) / 2**20)


def test_video_round_trip_and_corrupt_video(face_frames, tmp_path):
    frames = uploads.decode_video(avi(face_frames, tmp_path / "v.avi"), "clip.mp4")
    assert frames.shape == (5, 96, 96) and frames.dtype == np.uint8
    assert np.abs(frames.astype(int) - face_frames.astype(int)).mean() < 8  # MJPG is lossy
    with pytest.raises(uploads.InputError, match="video"):
        uploads.decode_video(b"RIFF\x00\x00\x00\x00AVI " + b"\x00" * 100, "broken.avi")


def test_frames_from_uploads_orders_and_checks_sizes(face_frames, tmp_path):
    files = [("frame_10.png", png(face_frames[4])), ("frame_2.png", png(face_frames[1])),
             ("frame_1.png", png(face_frames[0]))]
    frames, names = uploads.frames_from_uploads(files)
    assert names == ["frame_1.png", "frame_2.png", "frame_10.png"]  # natural order
    assert np.array_equal(frames[2], face_frames[4])
    frames, names = uploads.frames_from_uploads(files, sort=False)  # webcam snapshots: as taken
    assert names[0] == "frame_10.png"
    small = png(cv2.resize(face_frames[0], (50, 50)))
    with pytest.raises(uploads.InputError, match="one size"):
        uploads.frames_from_uploads([("a.png", png(face_frames[0])), ("b.png", small)])
    video = avi(face_frames, tmp_path / "v.avi")
    with pytest.raises(uploads.InputError, match="not a video together"):
        uploads.frames_from_uploads([("a.png", png(face_frames[0])), ("v.avi", video)])
    with pytest.raises(uploads.InputError, match="no file"):
        uploads.frames_from_uploads([])


def test_frames_view_finds_the_face_and_reports_no_face(face_frames):
    view = uploads.frames_view(face_frames, [f"f{k}" for k in range(5)], INPUTS, PreprocessConfig(landmarks="dlib"),
                               "upload")
    assert view.landmarks.shape == (5, 68, 2) and view.sample.peak.shape == (64, 64)
    blank = np.full((3, 96, 96), 128, np.uint8)
    with pytest.raises(uploads.InputError, match=r"no face found in frame 1 of 3 \(a\).*tick 'Frames are already "
                                                 r"cropped to the face' in the sidebar") as err:
        uploads.frames_view(blank, ["a", "b", "c"], INPUTS, PreprocessConfig(landmarks="dlib"), "upload")
    assert isinstance(err.value.__cause__, FaceNotFoundError) and "--whole-frame-face" not in str(err.value)
    whole = uploads.frames_view(blank, ["a", "b", "c"], INPUTS, PreprocessConfig(whole_frame_face=True), "upload")
    assert whole.sample.peak.shape == (64, 64)
