"""Dataset readers on small trees built here with cv2.imwrite / cv2.VideoWriter."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from staner_lab.config import CK_PLUS_CLASSES, OULU_CASIA_CLASSES
from staner_lab.data.readers import (
    DataError,
    detect_layout,
    oulu_subsets,
    read_ckplus,
    read_dataset,
    read_folders,
    read_oulu,
)


def write_image(path: Path, value: int = 128, size: tuple[int, int] = (24, 32)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full(size, value, np.uint8))
    return path


def write_video(path: Path, frames: int = 5) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (32, 24))
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((24, 32, 3), 40 * i, np.uint8))
    writer.release()
    return path


def write_label(root: Path, subject: str, seq: str, frame: int, content: str) -> Path:
    path = root / "Emotion" / subject / seq / f"{subject}_{seq}_{frame:08d}_emotion.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    return path


def write_landmarks(root: Path, subject: str, seq: str, frame: int) -> Path:
    path = root / "Landmarks" / subject / seq / f"{subject}_{seq}_{frame:08d}_landmarks.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(f"   {10 + i:.7e}   {20 + i:.7e}" for i in range(68)))
    return path


def make_ckplus(root: Path) -> Path:
    """S005/001 happy (frames 1, 2, 10 with landmarks), S005/002 unlabelled, S010/001 anger
    (one frame), S010/003 surprise (landmarks for one of two frames)."""
    images = root / "cohn-kanade-images"
    for n in (10, 1, 2):  # unpadded numbers: lexical order would be 1, 10, 2
        write_image(images / "S005/001" / f"S005_001_{n}.png", n)
        write_landmarks(root, "S005", "001", n)
    write_label(root, "S005", "001", 10, "   5.0000000e+00\n")
    for n in (1, 2):
        write_image(images / "S005/002" / f"S005_002_{n:08d}.png")
    write_image(images / "S010/001/S010_001_00000001.png")
    write_label(root, "S010", "001", 1, "   1.0000000e+00")
    for n in (1, 2):
        write_image(images / "S010/003" / f"S010_003_{n:08d}.png")
    write_landmarks(root, "S010", "003", 1)
    write_label(root, "S010", "003", 2, "7.0000000e+00")
    (images / "S005" / ".DS_Store").write_bytes(b"\0")  # as shipped in some CK+ copies
    return root


def make_oulu(root: Path) -> Path:
    for subset in ("VL/Strong", "NI/Weak"):
        for person, expressions in (("P001", ("Anger", "Happiness")), ("P002", ("Surprise",))):
            for expr in expressions:
                frames = 1 if expr == "Surprise" else 3
                for i in range(frames):
                    write_image(root / subset / person / expr / f"{i:03d}.jpeg", 30 * i)
    return root


def make_folders(root: Path) -> Path:
    for i in (1, 2, 10):
        write_image(root / "happy/S010_002" / f"frame{i}.png", i)  # a sequence in its own folder
    for i in (14, 2):
        write_image(root / "happy" / f"S011_001_{i:08d}.png", i)  # loose frames, shared prefix
    write_image(root / "sad/S010_005_00000001.png")  # a one-frame loose sequence
    write_video(root / "sad/P07_take1.mp4")
    write_image(root / "surprise/face.png")  # no frame number: a sequence of its own
    (root / "happy/notes.txt").write_text("not a frame")
    return root


# ------------------------------------------------------------------------------------------ CK+


def test_ckplus_reads_labelled_sequences(tmp_path):
    records, report = read_ckplus(make_ckplus(tmp_path))
    by_id = {r.sequence_id: r for r in records}
    assert sorted(by_id) == ["S005/001", "S010/001", "S010/003"]
    assert report.unlabelled == ["S005/002"]
    assert report.skipped == []
    assert report.class_names == CK_PLUS_CLASSES

    happy = by_id["S005/001"]
    assert (happy.label, happy.label_name, happy.subject) == (4, "happy", "S005")
    assert [p.name for p in happy.frame_paths] == ["S005_001_1.png", "S005_001_2.png", "S005_001_10.png"]
    assert [p.name for p in happy.landmark_paths] == [f"S005_001_{n:08d}_landmarks.txt" for n in (1, 2, 10)]

    one = by_id["S010/001"]
    assert (one.label_name, len(one.frame_paths), one.landmark_paths) == ("anger", 1, ())
    partial = by_id["S010/003"]
    assert partial.label_name == "surprise" and partial.landmark_paths == ()
    assert any("S010/003" in note and "landmark" in note for note in report.notes)


@pytest.mark.parametrize(
    "content, words",
    [
        ("three", "malformed"),
        ("", "malformed"),
        ("   0.0000000e+00", "unknown CK+ emotion code 0"),
        ("8", "unknown CK+ emotion code 8"),
        ("2.5", "unknown CK+ emotion code 2.5"),
    ],
)
def test_ckplus_bad_label_names_the_file(tmp_path, content, words):
    root = make_ckplus(tmp_path)
    bad = write_label(root, "S005", "002", 2, content)  # the unlabelled sequence gets a bad label

    with pytest.raises(DataError) as info:
        read_ckplus(root, on_error="fail")
    assert str(bad) in str(info.value) and words in str(info.value)

    records, report = read_ckplus(root, on_error="skip")
    assert "S005/002" not in {r.sequence_id for r in records}
    assert len(records) == 3
    [item] = report.skipped
    assert item.path == "Emotion/S005/002/S005_002_00000002_emotion.txt" and words in item.reason


def test_ckplus_two_label_files_is_an_error(tmp_path):
    root = make_ckplus(tmp_path)
    write_label(root, "S005", "001", 9, "3")
    with pytest.raises(DataError, match=r"Emotion/S005/001.*2 label files"):
        read_ckplus(root, on_error="fail")
    records, report = read_ckplus(root)
    assert "S005/001" not in {r.sequence_id for r in records}
    assert "2 label files" in report.skipped[0].reason


def test_ckplus_misnamed_frame_and_orphan_label(tmp_path):
    root = make_ckplus(tmp_path)
    write_image(root / "cohn-kanade-images/S010/001/snapshot.png")
    write_label(root, "S099", "001", 3, "3")
    records, report = read_ckplus(root)
    assert "S010/001" not in {r.sequence_id for r in records}
    reasons = {item.path: item.reason for item in report.skipped}
    assert "<subject>_<sequence>_<frame>" in reasons["cohn-kanade-images/S010/001/snapshot.png"]
    assert "no images" in reasons["Emotion/S099/001"]


def test_ckplus_missing_emotion_folder_explains_the_fix(tmp_path):
    write_image(tmp_path / "cohn-kanade-images/S005/001/S005_001_00000001.png")
    with pytest.raises(DataError, match=r"Emotion_labels\.zip"):
        read_ckplus(tmp_path)


# ------------------------------------------------------------------------------------ Oulu-CASIA


def test_oulu_reads_the_default_subset(tmp_path):
    records, report = read_oulu(make_oulu(tmp_path))
    assert [r.sequence_id for r in records] == [
        "VL/Strong/P001/Anger",
        "VL/Strong/P001/Happiness",
        "VL/Strong/P002/Surprise",
    ]
    happy = records[1]
    assert (happy.subject, happy.label_name) == ("P001", "happy")
    assert happy.label == OULU_CASIA_CLASSES.index("happy")
    assert [p.name for p in happy.frame_paths] == ["000.jpeg", "001.jpeg", "002.jpeg"]
    assert len(records[2].frame_paths) == 1
    assert report.class_names == OULU_CASIA_CLASSES and report.skipped == []


def test_oulu_subsets_are_selectable_and_missing_ones_listed(tmp_path):
    root = make_oulu(tmp_path)
    assert oulu_subsets(root) == ["VL/Strong", "NI/Weak"]
    records, _ = read_oulu(root, subsets=("VL/Strong", "ni/weak"))
    assert len(records) == 6
    assert {r.subject for r in records} == {"P001", "P002"}  # the same people under both lights
    with pytest.raises(DataError, match=r"VL/Dark not found.*available: VL/Strong, NI/Weak"):
        read_oulu(root, subsets=("VL/Dark",))


def test_oulu_unknown_expression_folder(tmp_path):
    root = make_oulu(tmp_path)
    write_image(root / "VL/Strong/P002/Contempt/000.jpeg")
    with pytest.raises(DataError, match=r"P002/Contempt.*unknown expression folder"):
        read_oulu(root, on_error="fail")
    records, report = read_oulu(root)
    assert len(records) == 3 and report.skipped[0].path == "VL/Strong/P002/Contempt"


# ---------------------------------------------------------------------------------- class folders


def test_folders_reads_subfolders_loose_frames_and_videos(tmp_path):
    records, report = read_folders(make_folders(tmp_path))
    assert report.class_names == ("happy", "sad", "surprise")
    by_id = {r.sequence_id: r for r in records}
    assert sorted(by_id) == [
        "happy/S010_002",
        "happy/S011_001",
        "sad/P07_take1",
        "sad/S010_005",
        "surprise/face",
    ]

    folder = by_id["happy/S010_002"]
    assert (folder.subject, folder.label, folder.label_name) == ("S010", 0, "happy")
    assert [p.name for p in folder.frame_paths] == ["frame1.png", "frame2.png", "frame10.png"]

    loose = by_id["happy/S011_001"]
    assert loose.subject == "S011"
    assert [p.name for p in loose.frame_paths] == ["S011_001_00000002.png", "S011_001_00000014.png"]

    video = by_id["sad/P07_take1"]
    assert (video.subject, video.label, video.frame_paths) == ("P07", 1, ())
    assert video.video_path is not None and cv2.VideoCapture(str(video.video_path)).read()[0]

    assert len(by_id["sad/S010_005"].frame_paths) == 1
    assert by_id["surprise/face"].subject == "face"
    assert any("notes.txt" in note for note in report.notes)


def test_folders_duplicate_frame_number_skips_the_sequence(tmp_path):
    root = make_folders(tmp_path)
    write_image(root / "happy/S011_001_14.png")  # 14 again, written differently
    with pytest.raises(DataError, match="frame number 14"):
        read_folders(root, on_error="fail")
    records, report = read_folders(root)
    assert "happy/S011_001" not in {r.sequence_id for r in records}
    assert report.skipped


def test_folders_empty_class_keeps_label_indices(tmp_path):
    root = make_folders(tmp_path)
    (root / "angry").mkdir()
    records, report = read_folders(root)
    assert report.class_names == ("angry", "happy", "sad", "surprise")
    assert {r.label_name: r.label for r in records}["happy"] == 1
    assert report.skipped[0].path == "angry" and "no images or videos" in report.skipped[0].reason
    with pytest.raises(DataError, match="angry"):
        read_folders(root, on_error="fail")


# --------------------------------------------------------------------------- detection and errors


def test_detect_layout(tmp_path):
    assert detect_layout(make_ckplus(tmp_path / "ck")) == "ckplus"
    assert detect_layout(make_oulu(tmp_path / "oulu")) == "oulu"
    assert detect_layout(make_folders(tmp_path / "folders")) == "folders"
    records, class_names, report = read_dataset(tmp_path / "oulu")
    assert report.layout == "oulu" and class_names == OULU_CASIA_CLASSES and len(records) == 3
    records, class_names, _ = read_dataset(tmp_path / "folders", layout="folders")
    assert class_names == ("happy", "sad", "surprise")
    records, _, _ = read_dataset(tmp_path / "oulu", subsets=("NI/Weak",))
    assert records[0].sequence_id.startswith("NI/Weak/")


def test_detect_layout_explains_what_it_found(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    (tmp_path / "misc").mkdir()
    with pytest.raises(DataError) as info:
        detect_layout(tmp_path)
    message = str(info.value)
    assert "readme.txt" in message and "misc/" in message
    assert (
        "expected cohn-kanade-images/ and Emotion/ (CK+), VL/ or NI/ (Oulu-CASIA), or class folders"
        in message
    )


def test_detect_layout_suggests_a_nested_dataset(tmp_path):
    make_ckplus(tmp_path / "CK+")
    with pytest.raises(DataError, match=r"try --data .*CK\+"):
        detect_layout(tmp_path)


def test_empty_missing_and_one_class_folders(tmp_path):
    with pytest.raises(DataError, match="is empty"):
        read_dataset(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        read_dataset(tmp_path / "nope")
    write_image(tmp_path / "happy/S001_001_00000001.png")
    with pytest.raises(DataError, match=r"one class folder only \(happy/\).*at least 2 classes"):
        read_dataset(tmp_path)


def test_one_class_left_after_skipping_is_an_error(tmp_path):
    root = make_oulu(tmp_path)
    for expr in ("Anger", "Happiness"):
        (root / "VL/Strong/P001" / expr / "000.jpeg").rename(root / "VL/Strong/P001" / expr / "x.jpeg")
    with pytest.raises(DataError, match="need at least 2 classes"):
        read_oulu(root)


def test_option_of_another_layout_is_refused(tmp_path):
    with pytest.raises(DataError, match="subsets do not apply to the folders layout"):
        read_dataset(make_folders(tmp_path), subsets=("VL/Strong",))


def test_symlink_out_of_the_root_is_refused(tmp_path):
    root = make_folders(tmp_path / "data")
    outside = write_image(tmp_path / "secret.png")
    os.symlink(outside, root / "happy/S099_001_00000001.png")
    os.symlink(root / "sad/S010_005_00000001.png", root / "happy/S098_001_00000001.png")  # inside: fine
    records, report = read_folders(root)
    ids = {r.sequence_id for r in records}
    assert "happy/S099_001" not in ids and "happy/S098_001" in ids
    [item] = report.skipped
    assert item.path == "happy/S099_001_00000001.png" and "outside the dataset root" in item.reason
    with pytest.raises(DataError, match="outside the dataset root"):
        read_folders(root, on_error="fail")


def test_symlinked_sequence_folder_out_of_the_root_is_refused(tmp_path):
    root = make_ckplus(tmp_path / "ck")
    elsewhere = tmp_path / "elsewhere"
    write_image(elsewhere / "S005_003_00000001.png")
    write_label(root, "S005", "003", 1, "3")
    os.symlink(elsewhere, root / "cohn-kanade-images/S005/003")
    records, report = read_ckplus(root)
    assert "S005/003" not in {r.sequence_id for r in records}
    assert any("outside the dataset root" in item.reason for item in report.skipped)
