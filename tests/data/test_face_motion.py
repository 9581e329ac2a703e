"""What moves in each class (staner_lab.data.face_motion), its figure, and benchmarks/face_motion.py."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from staner_lab import viz
from staner_lab.config import InputConfig
from staner_lab.data.face_motion import MEASURES, face_motion, sequence_motion
from staner_lab.data.shipped import load_shipped_samples, shipped_data_dir

REPO = Path(__file__).resolve().parents[2]

#: What each class's action units must move on the shipped drawn faces, every sequence (the renderer's
#: landmark shifts, staner_lab/data/synthetic/action_units.py): measure -> (sign, at least).
EXPECTED = {
    "anger": {"inner brow raise": (-1, 0.02), "brow gap": (-1, 0.05), "mouth width": (-1, 0.03)},  # AU4, AU23
    "contempt": {"mouth width": (+1, 0.02), "lip corner raise": (+1, 0.01)},  # AU14
    "disgust": {"nostril raise": (+1, 0.02), "upper lip raise": (+1, 0.02)},  # AU9
    "fear": {"inner brow raise": (+1, 0.02), "eye opening": (+1, 0.02), "mouth width": (+1, 0.05)},  # AU1, AU5, AU20
    "happy": {"lip corner raise": (+1, 0.05), "mouth width": (+1, 0.05), "eye opening": (-1, 0.01)},  # AU12, AU6
    "sadness": {"inner brow raise": (+1, 0.02), "lip corner raise": (-1, 0.03)},  # AU1, AU15
    "surprise": {"outer brow raise": (+1, 0.05), "mouth opening": (+1, 0.1), "chin drop": (+1, 0.1)},  # AU2, AU26
}
#: ... and what no action unit of the class moves stays still.
STILL = {"contempt": ["inner brow raise", "eye opening", "chin drop"], "happy": ["brow gap", "chin drop"],
         "sadness": ["nostril raise", "mouth opening"], "anger": ["mouth opening"]}


@pytest.fixture(scope="module")
def shipped():
    samples, names = load_shipped_samples(InputConfig())
    return samples, face_motion(samples, names)


@pytest.mark.parametrize("emotion", sorted(EXPECTED))
def test_each_drawn_class_moves_as_its_action_units_say(shipped, emotion):
    _, motion = shipped
    rows = motion.values[motion.labels == motion.class_names.index(emotion)]
    assert len(rows) == 10
    for measure, (sign, least) in EXPECTED[emotion].items():
        assert (sign * rows[:, MEASURES.index(measure)] >= least).all(), (measure, rows[:, MEASURES.index(measure)])
    for measure in STILL.get(emotion, []):
        assert np.abs(rows[:, MEASURES.index(measure)]).max() < 0.005, measure


def test_head_motion_drops_out(shipped):
    samples, _ = shipped
    lm = samples[0].landmarks.astype(np.float64)
    angle, scale, shift = np.deg2rad(12.0), 1.15, np.array([7.0, -4.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    turned = lm.copy()
    turned[-1] = (lm[-1] - lm[-1].mean(0)) @ rot.T + lm[-1].mean(0) + shift  # the head turns and nears
    np.testing.assert_allclose(sequence_motion(turned), sequence_motion(lm), atol=1e-6)
    both = (lm - 48.0) @ rot.T + 48.0  # the whole sequence larger and rolled: inter-ocular units keep it
    np.testing.assert_allclose(sequence_motion(both), sequence_motion(lm), atol=1e-6)


def test_bad_landmarks_are_refused_with_the_sequence_named(shipped):
    samples, _ = shipped
    with pytest.raises(ValueError, match=r"\(T >= 2, 68, 2\)"):
        sequence_motion(samples[0].landmarks[:1])
    flat = samples[0].landmarks.copy()
    flat[0] = 10.0
    with pytest.raises(ValueError, match=f"sequence {samples[0].sequence_id}: .*coincide"):
        face_motion([replace(samples[0], landmarks=flat)], ["anger"])


def test_the_means_add_up_and_the_figure_shows_the_difference(shipped):
    _, motion = shipped
    k = motion.class_names.index("happy")
    np.testing.assert_allclose(motion.mean()[k], motion.values[motion.labels == k].mean(axis=0))
    assert motion.counts().tolist() == [10] * 7
    fig = viz.face_motion_figure(motion)
    np.testing.assert_allclose(np.asarray(fig.data[0].z, float), 100 * motion.mean())
    assert list(fig.data[0].x) == list(MEASURES) and list(fig.data[0].y) == list(motion.class_names)
    fig = viz.face_motion_figure(motion, motion, name="real", against_name="drawn")
    np.testing.assert_allclose(np.asarray(fig.data[0].z, float), 0.0)
    assert "drawn: " in fig.data[0].hovertext[0][0] and "real minus drawn" in fig.layout.title.text


def test_the_benchmark_prints_each_folder_and_refuses_other_classes(shipped, tmp_path, capsys, monkeypatch):
    _, motion = shipped
    other = tmp_path / "two"  # two class folders of the shipped faces (dlib finds their landmarks)
    for emotion, code in (("anger", 1), ("happy", 5)):
        for label in sorted((shipped_data_dir() / "Emotion").glob("S00[12]/*/*_emotion.txt")):
            if int(float(label.read_text())) == code:
                frames = shipped_data_dir() / "cohn-kanade-images" / label.parent.relative_to(label.parents[2])
                for frame in frames.glob("*.png"):
                    (other / emotion).mkdir(parents=True, exist_ok=True)
                    shutil.copy(frame, other / emotion / frame.name)
    spec = importlib.util.spec_from_file_location("face_motion", REPO / "benchmarks" / "face_motion.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    cache = tmp_path / "cache"
    monkeypatch.setattr(sys, "argv", ["face_motion.py", "--data", str(shipped_data_dir()), "--data",
                                      str(shipped_data_dir()), "--cache", str(cache)])
    bench.main()
    out = capsys.readouterr().out.splitlines()
    at = out.index("happy (synthetic_ckplus: 10, synthetic_ckplus: 10)")
    row = out[at + 2 + MEASURES.index("mouth width")].split()
    k = motion.class_names.index("happy")
    expected = f"{100 * motion.mean()[k, MEASURES.index('mouth width')]:+.1f}"
    assert row[-6] == row[-3] == expected  # "+14.8 ± 0.8" per folder
    monkeypatch.setattr(sys, "argv", ["face_motion.py", "--data", str(shipped_data_dir()), "--data", str(other),
                                      "--cache", str(cache)])
    with pytest.raises(SystemExit, match="two have other classes"):
        bench.main()
