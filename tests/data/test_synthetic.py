"""Tests of the synthetic expression generator (staner_lab/data/synthetic/) and ``staner-lab synth``."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from staner_lab.cli import main
from staner_lab.config import CK_PLUS_CLASSES
from staner_lab.data.cli import add_synth_parser, run_synth
from staner_lab.data.face_motion import MEASURES, sequence_motion
from staner_lab.data.shipped import shipped_data_dir
from staner_lab.data.synthetic import sequence as sequence_module
from staner_lab.data.synthetic import style as S
from staner_lab.data.synthetic.action_units import EMOTION_AUS, au_shift
from staner_lab.data.synthetic.identity import random_identity
from staner_lab.data.synthetic.landmarks import LIPS_IN, neutral_landmarks
from staner_lab.data.synthetic.realism import Realism, draw_factors
from staner_lab.data.synthetic.render import draw_face
from staner_lab.data.synthetic.sequence import SyntheticSequence, generate_dataset, render_sequence
from staner_lab.data.synthetic.streams import TAG_IDENTITY, stream
from staner_lab.data.synthetic.variants import VARIANTS
from staner_lab.data.synthetic.writer import write_ckplus


def sample(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``img`` at (x, y) points."""
    pts = np.asarray(pts, np.float32).reshape(-1, 1, 2)
    return cv2.remap(img.astype(np.float32), pts[..., 0], pts[..., 1], cv2.INTER_LINEAR).ravel()


def darkest_offset(img: np.ndarray, pts: np.ndarray, toward: np.ndarray, span: float = 3.0) -> float:
    """Offset (pixels along ``toward``) of the darkest line through ``pts``, searched in [-span, span]."""
    unit = toward / np.linalg.norm(toward, axis=1, keepdims=True)
    offsets = np.arange(-span, span + 1e-6, 0.25)
    profile = [sample(img, pts + o * unit).mean() for o in offsets]
    return float(offsets[int(np.argmin(profile))])


def residual_motion(seq: SyntheticSequence) -> np.ndarray:
    """(68,) landmark motion neutral -> peak after removing the head motion (fit on eyes and nose)."""
    rigid = list(range(27, 48))  # nose and eyes: AU14 and AU12 do not move them
    M, _ = cv2.estimateAffinePartial2D(seq.landmarks[0][rigid], seq.landmarks[-1][rigid])
    moved = seq.landmarks[0] @ M[:, :2].T + M[:, 2]
    return np.linalg.norm(seq.landmarks[-1] - moved, axis=1)


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------- shapes


def test_sequence_fields_and_shapes():
    seq = render_sequence("fear", subject_seed=3, sequence_seed=4, frames=5, size=64)
    assert seq.frames.shape == (5, 64, 64) and seq.frames.dtype == np.uint8
    assert seq.landmarks.shape == (5, 68, 2) and seq.landmarks.dtype == np.float32
    assert seq.label == CK_PLUS_CLASSES.index("fear") and seq.label_name == "fear"
    assert seq.subject == "S003" and seq.sequence_id == "S003/004"
    assert set(seq.aus) == set(EMOTION_AUS["fear"]) == set(seq.au_masks)
    for mask in seq.au_masks.values():
        assert mask.shape == (64, 64) and mask.dtype == bool
    assert np.all((seq.landmarks >= 0) & (seq.landmarks < 64))


def test_every_ck_plus_class_has_a_prototype():
    assert set(EMOTION_AUS) == set(CK_PLUS_CLASSES)
    assert EMOTION_AUS["happy"].keys() == {"AU6", "AU12"}
    assert EMOTION_AUS["surprise"].keys() == {"AU1", "AU2", "AU5", "AU26"}
    assert EMOTION_AUS["sadness"].keys() == {"AU1", "AU4", "AU15"}
    assert EMOTION_AUS["anger"].keys() == {"AU4", "AU5", "AU7", "AU23"}
    assert EMOTION_AUS["disgust"].keys() == {"AU9", "AU15", "AU16"}
    assert EMOTION_AUS["fear"].keys() == {"AU1", "AU2", "AU4", "AU5", "AU20", "AU26"}
    assert EMOTION_AUS["contempt"].keys() == {"AU14"}


@pytest.mark.parametrize(
    "kwargs",
    [{"emotion": "joy"}, {"intensity": 0.0}, {"intensity": 1.5}, {"frames": 1}, {"size": 16}, {"noise": -1}],
)
def test_bad_arguments_are_refused(kwargs):
    args = {"emotion": "happy", "subject_seed": 0, "sequence_seed": 0, "frames": 3, "size": 64} | kwargs
    with pytest.raises(ValueError):
        render_sequence(**args)


# ------------------------------------------------------------------------------------------ determinism


def test_same_seeds_same_sequence_other_seeds_differ():
    a = render_sequence("sadness", 7, 2, frames=4, size=64)
    b = render_sequence("sadness", 7, 2, frames=4, size=64)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    assert a.aus == b.aus and a.au_masks.keys() == b.au_masks.keys()
    for au in a.au_masks:
        np.testing.assert_array_equal(a.au_masks[au], b.au_masks[au])
    other_subject = render_sequence("sadness", 8, 2, frames=4, size=64)
    other_sequence = render_sequence("sadness", 7, 3, frames=4, size=64)
    assert not np.array_equal(a.frames, other_subject.frames)
    assert not np.array_equal(a.frames, other_sequence.frames)
    # the same subject keeps its face shape across sequences; another subject does not
    same_person = np.abs(a.landmarks[0] - other_sequence.landmarks[0]).mean()
    other_person = np.abs(a.landmarks[0] - other_subject.landmarks[0]).mean()
    assert same_person < other_person


def test_generate_dataset_is_deterministic_and_complete():
    a = generate_dataset(2, seed=5, frames=2, size=48)
    b = generate_dataset(2, seed=5, frames=2, size=48)
    c = generate_dataset(2, seed=6, frames=2, size=48)
    assert len(a) == 2 * len(CK_PLUS_CLASSES)
    for x, y in zip(a, b):
        assert x.sequence_id == y.sequence_id and x.label == y.label
        np.testing.assert_array_equal(x.frames, y.frames)
    assert any(not np.array_equal(x.frames, z.frames) for x, z in zip(a, c))
    for subject in ("S001", "S002"):  # every subject shows every emotion once
        names = sorted(s.label_name for s in a if s.subject == subject)
        assert names == sorted(CK_PLUS_CLASSES)
    assert [s.sequence_id for s in a[:7]] == [f"S001/{k:03d}" for k in range(1, 8)]


# --------------------------------------------------------------------------- landmarks match the drawing


def assert_landmarks_on_features(seq: SyntheticSequence, frames: tuple[int, ...]) -> None:
    """The drawn features lie under the landmarks of ``frames``; the closed mouth under frame 0's."""
    for t in frames:
        img, lm = seq.frames[t], seq.landmarks[t]
        skin = sample(img, [(lm[2] + lm[31]) / 2, (lm[14] + lm[35]) / 2]).mean()  # cheeks
        assert sample(img, lm[17:27]).mean() < skin - 25, "brows are not under the brow landmarks"
        assert sample(img, lm[[37, 38, 43, 44]]).mean() < skin - 40, "no lash line at the upper lids"
        assert sample(img, lm[[50, 52, 56, 58]]).mean() < skin - 15, "no lips at the lip landmarks"
        assert sample(img, lm[[61, 62, 63]]).mean() < skin - 30, "no mouth line at the inner lips"
        # the jaw landmarks lie on the face outline: a strong edge, unlike points further inside
        g = np.hypot(
            cv2.Sobel(img.astype(np.float32), cv2.CV_32F, 1, 0),
            cv2.Sobel(img.astype(np.float32), cv2.CV_32F, 0, 1),
        )
        jaw = lm[4:13]
        inside = jaw + 0.15 * (lm[30] - jaw)
        assert sample(g, jaw).mean() > 1.5 * sample(g, inside).mean()
        # across the brows (towards the eyes), the darkest line is where the brow landmarks are
        brow, eye = lm[17:27], lm[[36, 37, 38, 39, 39, 42, 42, 43, 44, 45]]
        assert abs(darkest_offset(img, brow, eye - brow)) <= 1.0
    # with the mouth closed, the darkest line across the inner lips is the landmarks' line
    img, lm = seq.frames[0], seq.landmarks[0]
    assert abs(darkest_offset(img, lm[[61, 62, 63]], np.repeat([lm[8] - lm[27]], 3, 0))) <= 1.0


@pytest.mark.parametrize("emotion", CK_PLUS_CLASSES)
def test_landmarks_lie_on_the_drawn_features(emotion):
    for subject_seed in (0, 1, 2):
        seq = render_sequence(emotion, subject_seed, 1, frames=3, size=128)
        assert_landmarks_on_features(seq, (0, 2))  # neutral and peak (different pose: the warp too)


# ---------------------------------------------------------------------------------------- the expression


@pytest.mark.parametrize("emotion", CK_PLUS_CLASSES)
def test_expression_grows_from_neutral_to_peak(emotion):
    seq = render_sequence(emotion, 4, 1, frames=8, size=96)
    f = seq.frames.astype(np.float32)
    change = [np.abs(f[t] - f[0]).mean() for t in range(8)]  # includes pixel noise and head drift
    assert change[-1] > 1.5 * change[1]
    quiet = render_sequence(emotion, 4, 1, frames=8, size=96, noise=0).frames.astype(np.float32)
    change = [np.abs(quiet[t] - quiet[0]).mean() for t in range(8)]
    assert change[-1] > 3 * change[1]
    motion = [np.abs(seq.landmarks[t] - seq.landmarks[0]).mean() for t in range(8)]
    assert all(b >= a - 1e-4 for a, b in itertools.pairwise(motion)), motion  # monotone onset
    assert motion[-1] > 3 * motion[1]  # ease-in: slow start


def test_intensity_scales_the_displacement_linearly():
    seqs = {i: render_sequence("surprise", 2, 5, frames=4, size=128, intensity=i) for i in (0.1, 0.3, 1.0)}
    np.testing.assert_allclose(seqs[0.1].landmarks[0], seqs[1.0].landmarks[0], atol=1e-4)  # same neutral
    peak = {i: s.landmarks[-1].astype(np.float64) for i, s in seqs.items()}
    np.testing.assert_allclose(peak[1.0] - peak[0.3], 3.5 * (peak[0.3] - peak[0.1]), atol=2e-3)
    for au, amp in seqs[1.0].aus.items():
        assert seqs[0.3].aus[au] == pytest.approx(0.3 * amp)
    move = {i: np.abs(p - seqs[i].landmarks[0]).max() for i, p in peak.items()}
    assert move[1.0] > 5.0  # pixels: a clear expression at full intensity
    frame_change = {i: np.abs(s.frames[-1].astype(float) - s.frames[0]).mean() for i, s in seqs.items()}
    assert frame_change[0.1] < frame_change[0.3] < frame_change[1.0]


@pytest.mark.parametrize("sequence_seed", [0, 1, 2, 3])
def test_contempt_moves_one_mouth_corner_only(sequence_seed):
    seq = render_sequence("contempt", 9, sequence_seed, frames=3, size=128)
    r = residual_motion(seq)
    moving, still = max(r[48], r[54]), min(r[48], r[54])
    assert moving > 2.5 and moving > 4 * still
    # the mask sits on the moving corner's side of the face
    _, xs = np.nonzero(seq.au_masks["AU14"])
    corner = 54 if r[54] > r[48] else 48
    nose_x = seq.landmarks[-1, 33, 0]
    assert np.sign(xs.mean() - nose_x) == np.sign(seq.landmarks[-1, corner, 0] - nose_x)
    # a symmetric expression moves both corners alike
    happy = residual_motion(render_sequence("happy", 9, sequence_seed, frames=3, size=128))
    assert 0.7 < happy[48] / happy[54] < 1.4


def test_emotions_differ_at_the_peak():
    """Same person, same seeds: the peak faces of any two emotions differ clearly at 64 px."""
    peaks = {
        e: render_sequence(e, 11, 1, frames=2, size=64, noise=0).frames[-1].astype(float)
        for e in CK_PLUS_CLASSES
    }
    for i, a in enumerate(CK_PLUS_CLASSES):
        for b in CK_PLUS_CLASSES[i + 1 :]:
            assert np.abs(peaks[a] - peaks[b]).mean() > 0.5, (a, b)  # gray levels, over the whole frame


# -------------------------------------------------------------------------------------------- AU masks


# landmarks each AU's mask must contain at the peak, and landmarks it must not contain
MASK_CHECKS = {
    "AU1": ([21, 22], [8, 57, 36]),
    "AU2": ([17, 26], [8, 57, 27]),
    "AU4": ([21, 22], [8, 57]),
    "AU5": ([37, 44], [8, 57, 30]),
    "AU6": ([41, 46], [8, 57, 19]),
    "AU7": ([40, 47], [8, 57, 30]),
    "AU9": ([29, 31, 35], [8, 17, 26]),
    "AU12": ([48, 54], [19, 24, 8]),
    "AU15": ([48, 54], [19, 24, 30]),
    "AU16": ([57], [19, 24, 30]),
    "AU20": ([48, 54], [19, 24, 30]),
    "AU23": ([48, 51, 57], [19, 24, 30]),
    "AU26": ([57, 8], [19, 24, 30]),
}


@pytest.mark.parametrize("emotion", CK_PLUS_CLASSES)
def test_au_masks_cover_the_moved_landmarks(emotion):
    seq = render_sequence(emotion, 6, 2, frames=3, size=128)
    lm = np.rint(seq.landmarks[-1]).astype(int)
    for au, mask in seq.au_masks.items():
        assert 0 < mask.mean() < 0.25, (au, mask.mean())
        if au == "AU14":
            inside, outside = (
                ([54] if residual_motion(seq)[54] > residual_motion(seq)[48] else [48]),
                [19, 24, 8],
            )
        else:
            inside, outside = MASK_CHECKS[au]
        for i in inside:
            assert mask[lm[i, 1], lm[i, 0]], f"{au} mask misses landmark {i}"
        for i in outside:
            assert not mask[lm[i, 1], lm[i, 0]], f"{au} mask covers unrelated landmark {i}"
        # the mask covers where the picture changed
        diff = np.abs(seq.frames[-1].astype(float) - seq.frames[0])
        assert diff[mask].mean() > diff[~mask].mean()


# ----------------------------------------------------------------------------- harder data (realism)

FACTORS = {
    "pose": {"pose": 1.0},
    "lighting": {"lighting": 1.0},
    "blur": {"blur": 1.2},
    "jpeg": {"jpeg": 60},
    "onset": {"onset": 1.0},
    "frames_range": {"frames_range": (9, 14)},
}


def test_realism_off_is_the_plain_generator():
    plain = render_sequence("fear", 5, 3, frames=5, size=64)
    for r in (Realism(), Realism.at(0.0, 64), Realism(frames_range=(5, 5)), Realism(identity=0.0),
              Realism(variants=0.0)):
        assert not r.on or r.frames_range == (5, 5)
        seq = render_sequence("fear", 5, 3, frames=5, size=64, realism=r)
        np.testing.assert_array_equal(seq.frames, plain.frames)
        np.testing.assert_array_equal(seq.landmarks, plain.landmarks)
        assert seq.aus == plain.aus and seq.resting == plain.resting == {}
        for au in plain.au_masks:
            np.testing.assert_array_equal(seq.au_masks[au], plain.au_masks[au])


@pytest.mark.parametrize("factor", FACTORS)
def test_each_realism_factor_changes_the_output_deterministically(factor):
    r = Realism(**FACTORS[factor])
    assert r.on
    plain = render_sequence("surprise", 4, 2, frames=8, size=96, noise=0.2)
    a = render_sequence("surprise", 4, 2, frames=8, size=96, noise=0.2, realism=r)
    b = render_sequence("surprise", 4, 2, frames=8, size=96, noise=0.2, realism=r)
    np.testing.assert_array_equal(a.frames, b.frames)  # same seeds, same bytes
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    assert a.aus == plain.aus  # a factor of its own random stream: the expression is the same
    if factor == "frames_range":
        assert 9 <= len(a.frames) <= 14
    else:
        assert a.frames.shape == plain.frames.shape
        assert np.abs(a.frames.astype(float) - plain.frames).mean() > 0.3, factor
    other = render_sequence("surprise", 4, 3, frames=8, size=96, noise=0.2, realism=r)
    assert not np.array_equal(a.frames, other.frames[: len(a.frames)])  # drawn per sequence


@pytest.mark.parametrize("emotion", CK_PLUS_CLASSES)
def test_landmarks_follow_the_head_pose(emotion):
    r = Realism(pose=1.0, onset=1.0)
    for subject_seed in (0, 1, 2):
        seq = render_sequence(emotion, subject_seed, 1, frames=6, size=128, realism=r)
        plain = render_sequence(emotion, subject_seed, 1, frames=6, size=128)
        assert np.abs(seq.landmarks - plain.landmarks).mean() > 1.0  # the pose did move the face
        assert np.all((seq.landmarks >= 0) & (seq.landmarks < 128))
        assert_landmarks_on_features(seq, (0, 3, 5))


@pytest.mark.parametrize("emotion", ["anger", "fear", "happy", "contempt"])
def test_au_masks_follow_the_head_pose(emotion):
    r = Realism(pose=1.0)
    seq = render_sequence(emotion, 6, 2, frames=3, size=128, realism=r)
    plain = render_sequence(emotion, 6, 2, frames=3, size=128)
    # both peaks are affine images of the same face: map the plain masks with that affine
    M, _ = cv2.estimateAffine2D(plain.landmarks[-1], seq.landmarks[-1])
    assert np.abs(plain.landmarks[-1] @ M[:, :2].T + M[:, 2] - seq.landmarks[-1]).max() < 0.01
    assert np.abs(M[:, :2] - np.eye(2)).max() > 0.01 or np.abs(M[:, 2]).max() > 1.0  # it did move
    lm = np.rint(seq.landmarks[-1]).astype(int)
    for au, mask in seq.au_masks.items():
        ys, xs = np.nonzero(plain.au_masks[au])
        centre = np.array([xs.mean(), ys.mean()]) @ M[:, :2].T + M[:, 2]
        ys, xs = np.nonzero(mask)
        assert np.abs(np.array([xs.mean(), ys.mean()]) - centre).max() < 1.0, au  # pixels
        area = plain.au_masks[au].sum() * abs(np.linalg.det(M[:, :2]))
        assert 0.6 < mask.sum() / area < 1.6, (au, mask.sum() / area)  # the dilation radius is rounded
        if au in MASK_CHECKS:
            inside, outside = MASK_CHECKS[au]
            assert all(mask[lm[i, 1], lm[i, 0]] for i in inside), au
            assert not any(mask[lm[i, 1], lm[i, 0]] for i in outside), au


def test_onset_keeps_the_first_frame_neutral_and_ends_at_the_apex():
    r = Realism(onset=1.0)
    holds = set()
    for sequence_seed in range(6):
        plain = render_sequence("surprise", 3, sequence_seed, frames=12, size=96)
        seq = render_sequence("surprise", 3, sequence_seed, frames=12, size=96, realism=r)
        fx = draw_factors(r, 3, sequence_seed, 12)
        holds.add(round(fx.hold, 3))
        assert 0 <= fx.hold and fx.hold + fx.rise <= 1 + 1e-12 and fx.rise >= 0.2
        np.testing.assert_allclose(seq.landmarks[0], plain.landmarks[0], atol=1e-4)  # neutral
        np.testing.assert_allclose(seq.landmarks[-1], plain.landmarks[-1], atol=1e-4)  # apex
        # expression (landmark motion once the head drift is removed) never goes back
        nose = np.hstack([seq.landmarks[0][27:36], np.ones((9, 1))])  # surprise does not move the nose
        ones = np.hstack([seq.landmarks[0], np.ones((68, 1))])
        expr = []
        for t in range(12):
            A = np.linalg.lstsq(nose, seq.landmarks[t][27:36].astype(np.float64), rcond=None)[0]
            expr.append(np.abs(ones @ A - seq.landmarks[t]).mean())
        assert all(b >= a - 0.01 for a, b in itertools.pairwise(expr)), expr
        for t in range(12):  # neutral during the hold, at the apex on the plateau (up to head drift)
            if t / 11 <= fx.hold:
                assert expr[t] < 0.01, (t, fx.hold, expr)
            if t / 11 >= fx.hold + fx.rise:
                assert expr[t] == pytest.approx(expr[-1], rel=0.02)
        assert expr[-1] > 0.5  # pixels: the expression did happen
    assert len(holds) == 6 and max(holds) > 0.2  # onset times differ between sequences


def test_frames_range_and_readme_of_a_harder_data_set(tmp_path):
    r = Realism.at(1.0, 48)
    r = Realism(**{**r.__dict__, "frames_range": (3, 9)})
    seqs = generate_dataset(2, seed=1, frames=4, size=48, realism=r)
    lengths = [len(s.frames) for s in seqs]
    assert min(lengths) >= 3 and max(lengths) <= 9 and len(set(lengths)) >= 3
    assert all(s.landmarks.shape == (len(s.frames), 68, 2) for s in seqs)
    root = write_ckplus(seqs, tmp_path / "ck", command="cmd", realism=r)
    seq = seqs[0]
    subj, num = seq.sequence_id.split("/")
    last = len(seq.frames)
    assert (root / f"Emotion/{subj}/{num}/{subj}_{num}_{last:08d}_emotion.txt").is_file()
    readme = (root / "README.txt").read_text()
    assert f"frames per sequence: {sorted(set(lengths))}" in readme
    assert "pose 1, lighting 1, blur 0.576 px, jpeg 60, onset 1, frames per sequence 3-9" in readme
    plain = (write_ckplus(seqs, tmp_path / "plain", command="cmd") / "README.txt").read_text()
    assert "Harder" not in plain and "Harder" in readme


def test_cli_realism_options_are_recorded_and_rebuild_byte_for_byte(tmp_path, capsys):
    out = tmp_path / "hard"
    argv = ["synth", "--out", str(out), "--subjects", "1", "--seed", "2", "--size", "48", "--noise", "0.2"]
    argv += ["--realism", "1", "--blur", "0.5", "--frames-range", "3", "6"]
    assert main(argv) == 0
    assert "harder: pose 1, lighting 1, blur 0.5 px" in capsys.readouterr().out
    first = tree_hash(out)
    readme = (out / "README.txt").read_text()
    command = "--seed 2 --size 48 --noise 0.2 --realism 1.0 --blur 0.5 --frames-range 3 6"
    assert command in readme
    assert "pose 1, lighting 1, blur 0.5 px, jpeg 60, onset 1, frames per sequence 3-6" in readme
    recorded = readme.split("Regenerate (byte-identical):\n")[1].split()  # the recorded command rebuilds it
    assert main([*recorded[1:], "--overwrite"]) == 0
    assert tree_hash(out) == first
    for bad in (["--realism", "2"], ["--jpeg", "100"], ["--frames-range", "5", "3"], ["--pose", "-1"]):
        with pytest.raises(SystemExit, match="synth"):
            main(["synth", "--out", str(tmp_path / "bad"), "--size", "48", *bad])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pose": -1},
        {"blur": -0.1},
        {"onset": 1.5},
        {"jpeg": 96},
        {"jpeg": -1},
        {"frames_range": (1, 4)},
        {"identity": -0.1},
        {"identity": 1.5},
    ],
)
def test_bad_realism_is_refused(kwargs):
    with pytest.raises(ValueError, match="Realism"):
        Realism(**kwargs)


# ------------------------------------------------------------- harder data: the subjects' own style


def test_identity_is_separate_from_the_realism_knob():
    assert Realism.at(1.0, 96).identity == 0.0  # --realism K leaves it off: earlier sets stay as they were
    assert "identity" not in Realism.at(1.0, 96).describe()
    r = Realism(identity=0.5)
    assert r.on and r.describe().endswith("frames per sequence off, identity 0.5")


def test_identity_is_deterministic_and_changes_face_and_expression():
    r = Realism(identity=1.0)
    plain = render_sequence("disgust", 4, 2, frames=4, size=64, noise=0.2)
    a = render_sequence("disgust", 4, 2, frames=4, size=64, noise=0.2, realism=r)
    b = render_sequence("disgust", 4, 2, frames=4, size=64, noise=0.2, realism=r)
    np.testing.assert_array_equal(a.frames, b.frames)  # same seeds, same bytes
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    assert a.aus == b.aus and a.resting == b.resting and a.au_masks.keys() == b.au_masks.keys()
    for au in a.au_masks:
        np.testing.assert_array_equal(a.au_masks[au], b.au_masks[au])
    assert a.aus != plain.aus
    assert np.abs(a.landmarks[0] - plain.landmarks[0]).mean() > 0.2  # another face shape
    assert np.abs(a.frames.astype(float) - plain.frames).mean() > 0.3


def test_identity_subject_traits_are_kept_across_sequences():
    r = Realism(identity=1.0)
    gains, restings = [], []
    for subject_seed in range(6):
        ratios, rest = set(), []
        for sequence_seed in range(1, 5):
            plain = render_sequence("happy", subject_seed, sequence_seed, frames=2, size=48)
            seq = render_sequence("happy", subject_seed, sequence_seed, frames=2, size=48, realism=r)
            # AU12 defines happy (weight 1): always there, scaled by the subject's gain and own factor
            ratios.add(round(seq.aus["AU12"] / plain.aus["AU12"], 9))
            rest.append(seq.resting)
        assert len(ratios) == 1, ratios  # the same expressiveness in every sequence
        assert all(x == rest[0] for x in rest)  # the same resting face in every sequence
        assert rest[0] == S.draw_style(1.0, subject_seed).resting
        gains.append(ratios.pop())
        restings.append(tuple(rest[0].items()))
    assert len(set(gains)) == 6  # subjects differ
    assert len(set(restings)) >= 3
    # the face shape belongs to the subject too: frame 0 of two sequences of a person is closer than
    # frame 0 of two people
    a, b = (render_sequence("sadness", 7, k, frames=2, size=64, realism=r) for k in (2, 3))
    c = render_sequence("sadness", 8, 2, frames=2, size=64, realism=r)
    assert np.abs(a.landmarks[0] - b.landmarks[0]).mean() < np.abs(a.landmarks[0] - c.landmarks[0]).mean()


@pytest.mark.parametrize("level", [0.5, 1.0])
def test_identity_amplitudes_lie_in_the_stated_bounds(level):
    jitter_rng = np.random.default_rng(0)
    n_rest = n_drop = n_support = n_extra = n_extra_slots = 0
    for subject_seed in range(120):
        st = S.draw_style(level, subject_seed)
        full = S.draw_style(1.0, subject_seed)  # the same draws, scaled by the level
        assert st.gain - 1 == pytest.approx(level * (full.gain - 1))
        assert 1 - 0.45 * level - 1e-12 <= st.gain <= 1 + 0.10 * level + 1e-12
        for au, f in st.au_factor.items():
            assert 1 - 0.35 * level - 1e-12 <= f <= 1 + 0.20 * level + 1e-12, au
        for name, off in st.shape.items():
            assert abs(off) <= S.SHAPE_SPREAD[name] * level + 1e-12, name
        assert len(st.resting) <= 1
        for au, amp in st.resting.items():
            assert au in ("AU4", "AU15", "AU12", "AU7")
            assert 0.05 * level - 1e-12 <= amp <= 0.25 * level + 1e-12  # not scaled by the intensity
        n_rest += bool(st.resting)
        for k, emotion in enumerate(CK_PLUS_CLASSES):
            intensity = 0.3 if k % 2 else 1.0
            proto = EMOTION_AUS[emotion]
            plain = {au: intensity * w * jitter_rng.uniform(0.85, 1.0) for au, w in proto.items()}
            aus = S.express(st, emotion, plain, intensity, level, subject_seed, sequence_seed=k + 1)
            for au, w in proto.items():
                if w == 1.0:
                    assert au in aus, (emotion, au)  # the AUs that define the label are always there
                else:
                    n_support += 1
                    n_drop += au not in aus
                if au in aus:
                    assert aus[au] == pytest.approx(plain[au] * st.gain * st.au_factor[au])
            extras = set(aus) - set(proto)
            assert extras <= set(S.CO_OCCURRING[emotion])
            n_extra_slots += len(S.CO_OCCURRING[emotion])
            n_extra += len(extras)
            for au in extras:
                scale = S.CO_OCCURRING[emotion][au]
                assert 0.2 * scale * intensity - 1e-12 <= aus[au] <= 0.6 * scale * intensity + 1e-12
    # the probabilities (0.5, 0.2, 0.3 times the level), within binomial noise
    assert abs(n_rest / 120 - 0.5 * level) < 0.15
    assert abs(n_drop / n_support - 0.2 * level) < 0.07
    assert abs(n_extra / n_extra_slots - 0.3 * level) < 0.07


def test_identity_aus_and_masks_of_rendered_sequences():
    seqs = generate_dataset(3, seed=4, frames=2, size=48, realism=Realism(identity=1.0))
    for seq in seqs:
        proto = EMOTION_AUS[seq.label_name]
        assert {au for au, w in proto.items() if w == 1.0} <= set(seq.aus)
        assert set(seq.aus) <= set(proto) | set(S.CO_OCCURRING[seq.label_name])
        assert set(seq.au_masks) == set(seq.aus)  # masks cover the expression AUs only
        assert np.all((seq.landmarks >= 0) & (seq.landmarks < 48))
    assert any(set(s.aus) != set(EMOTION_AUS[s.label_name]) for s in seqs)  # dropped or extra AUs occur


def test_identity_resting_face_is_in_the_first_frame(monkeypatch):
    r = Realism(identity=1.0)
    subject_seed = next(s for s in range(50) if S.draw_style(1.0, s).resting)
    (rest_au,) = S.draw_style(1.0, subject_seed).resting
    # frame 0 never shows the label's expression: the same for every emotion (no pixel noise)
    firsts = [
        render_sequence(e, subject_seed, 2, frames=3, size=64, noise=0, realism=r) for e in CK_PLUS_CLASSES
    ]
    for seq in firsts[1:]:
        np.testing.assert_array_equal(seq.frames[0], firsts[0].frames[0])
        np.testing.assert_array_equal(seq.landmarks[0], firsts[0].landmarks[0])
        assert seq.resting == firsts[0].resting == S.draw_style(1.0, subject_seed).resting
    # the same subject without the resting AU: frame 0 differs, where the resting AU acts
    draw = S.draw_style
    monkeypatch.setattr(sequence_module, "draw_style", lambda *a: dataclasses.replace(draw(*a), resting={}))
    calm = render_sequence("happy", subject_seed, 2, frames=3, size=64, noise=0, realism=r)
    rested = firsts[CK_PLUS_CLASSES.index("happy")]
    assert calm.resting == {} and calm.aus == rested.aus
    moved = np.linalg.norm(rested.landmarks[0] - calm.landmarks[0], axis=1)
    watched = {"AU4": [19, 20, 21, 22, 23, 24], "AU7": [40, 41, 46, 47], "AU12": [48, 54], "AU15": [48, 54]}
    assert moved[watched[rest_au]].max() > 0.15, (rest_au, moved.max())  # pixels, at 64 px
    diff = np.abs(rested.frames[0].astype(float) - calm.frames[0])
    assert diff.max() >= 3 and (diff >= 2).sum() >= 10, (rest_au, diff.max())  # gray levels, pixels


def test_identity_widens_the_face_shape_spread():
    def shapes(level: float) -> dict[str, np.ndarray]:
        idts = [random_identity(np.random.default_rng([7, k])) for k in range(200)]
        if level > 0:
            idts = [S.reshape(idt, S.draw_style(level, k)) for k, idt in enumerate(idts)]
        return {f.name: np.array([getattr(i, f.name) for i in idts]) for f in dataclasses.fields(idts[0])}

    plain, half, full = shapes(0.0), shapes(0.5), shapes(1.0)
    for name in S.SHAPE_SPREAD:
        assert plain[name].std() < half[name].std() < full[name].std(), name
        assert full[name].std() > 1.15 * plain[name].std(), name
    for v in (half, full):  # the geometry stays valid: mouth below the nose, chin below the mouth
        assert np.all(v["mouth_y"] - v["nose_len"] >= 0.30 - 1e-12)
        assert np.all(v["chin_y"] - v["mouth_y"] >= 0.45 - 1e-12)
        assert all(np.all(v[name] > 0) for name in S.SHAPE_SPREAD)
    for name in set(plain) - set(S.SHAPE_SPREAD):  # tones, hair, ... are left as they were
        np.testing.assert_array_equal(full[name], plain[name])


@pytest.mark.parametrize("emotion", CK_PLUS_CLASSES)
def test_identity_faces_stay_well_formed(emotion):
    r = Realism(identity=1.0)
    for subject_seed in (0, 1, 2):
        seq = render_sequence(emotion, subject_seed, 1, frames=3, size=96, realism=r)
        assert np.all((seq.landmarks >= 0) & (seq.landmarks < 96))
        assert_landmarks_on_features(seq, (0, 2))


def test_cli_identity_is_recorded_and_rebuilds_byte_for_byte(tmp_path, capsys):
    out = tmp_path / "style"
    argv = ["synth", "--out", str(out), "--subjects", "1", "--seed", "2", "--frames", "2", "--size", "48"]
    assert main([*argv, "--identity", "1"]) == 0
    assert "identity 1" in capsys.readouterr().out
    readme = (out / "README.txt").read_text()
    assert "--frames 2 --size 48 --identity 1.0" in readme
    assert "pose 0, lighting 0, blur 0 px, jpeg off, onset 0, frames per sequence off, identity 1." in readme
    first = tree_hash(out)
    recorded = readme.split("Regenerate (byte-identical):\n")[1].split()
    assert main([*recorded[1:], "--overwrite"]) == 0
    assert tree_hash(out) == first
    # with --realism, identity stays a separate option
    both = tmp_path / "both"
    assert (
        main(
            [
                "synth",
                "--out",
                str(both),
                "--subjects",
                "1",
                "--frames",
                "2",
                "--size",
                "48",
                "--realism",
                "1",
                "--identity",
                "0.5",
            ]
        )
        == 0
    )
    assert "onset 1, frames per sequence off, identity 0.5." in (both / "README.txt").read_text()
    for bad in (["--identity", "1.5"], ["--identity", "-1"]):
        with pytest.raises(SystemExit, match="synth"):
            main(["synth", "--out", str(tmp_path / "bad"), "--size", "48", *bad])


# ------------------------------------------------------------------------------------------ variants


def meets_ckplus_criterion(emotion: str, aus: dict[str, float]) -> bool:
    """CK+'s emotion criteria (Lucey et al. 2010, Table 2), for the AUs the renderer draws."""
    has = set(aus)
    if emotion == "anger":
        return "AU23" in has  # AU23 and AU24; the renderer has no AU24
    if emotion == "disgust":
        return bool(has & {"AU9", "AU10"})
    if emotion == "fear":
        return {"AU1", "AU2", "AU4"} <= has
    if emotion == "happy":
        return "AU12" in has
    if emotion == "sadness":
        return {"AU1", "AU4", "AU15"} <= has or {"AU6", "AU15"} <= has
    if emotion == "surprise":
        return ({"AU1", "AU2"} <= has or "AU5" in has) and aus.get("AU5", 0.0) <= 0.4  # AU5 at most B
    return "AU14" in has  # contempt


@pytest.mark.parametrize("emotion", CK_PLUS_CLASSES)
def test_every_variant_meets_ckplus_criterion_and_its_defining_aus_cannot_be_dropped(emotion):
    prototype, *others = VARIANTS[emotion]
    assert prototype == EMOTION_AUS[emotion]
    assert len({tuple(sorted(v.items())) for v in VARIANTS[emotion]}) == len(VARIANTS[emotion])  # no repeats
    for combo in others:
        assert meets_ckplus_criterion(emotion, combo), combo
        # the identity factor drops only AUs of weight < 1: what is left still meets the criterion
        assert meets_ckplus_criterion(emotion, {au: w for au, w in combo.items() if w == 1.0}), combo


def test_variants_change_the_expression_only_and_are_drawn_per_sequence():
    r = Realism(variants=1.0)
    seen = {emotion: set() for emotion in CK_PLUS_CLASSES}
    for emotion in CK_PLUS_CLASSES:
        for sequence_seed in range(1, 13):
            plain = render_sequence(emotion, 3, sequence_seed, frames=3, size=48)
            a = render_sequence(emotion, 3, sequence_seed, frames=3, size=48, realism=r)
            b = render_sequence(emotion, 3, sequence_seed, frames=3, size=48, realism=r)
            np.testing.assert_array_equal(a.frames, b.frames)  # same seeds, same bytes
            # a stream of its own: the neutral first frame (face, pose, lighting, noise) is the plain one
            np.testing.assert_array_equal(a.frames[0], plain.frames[0])
            np.testing.assert_array_equal(a.landmarks[0], plain.landmarks[0])
            # one of the list, jittered like the prototype: each AU at 0.85-1.0 of its weight (surprise's
            # prototype and its weak-AU5 entry have the same AUs, so the amplitudes tell them apart)
            combo = next(v for v in VARIANTS[emotion] if set(v) == set(a.aus)
                         and all(0.85 * v[au] - 1e-9 <= amp <= v[au] + 1e-9 for au, amp in a.aus.items()))
            assert set(a.au_masks) == set(a.aus)
            if combo is VARIANTS[emotion][0]:
                assert a.aus == plain.aus
                np.testing.assert_array_equal(a.frames, plain.frames)
            seen[emotion].add(next(k for k, v in enumerate(VARIANTS[emotion]) if v is combo))
    for emotion in CK_PLUS_CLASSES:  # 12 sequences reach most of each list (4 or 5 entries at most)
        assert len(seen[emotion]) >= min(len(VARIANTS[emotion]), 3), (emotion, seen[emotion])


def test_variants_level_is_the_probability_of_leaving_the_prototype():
    r = Realism(variants=0.5)
    n = other = 0
    for subject_seed, sequence_seed in itertools.product(range(40), range(1, 6)):
        a = render_sequence("disgust", subject_seed, sequence_seed, frames=2, size=48, realism=r)
        n += 1
        other += set(a.aus) != set(EMOTION_AUS["disgust"])
    assert abs(other / n - 0.5 * 4 / 5) < 0.1  # level x the share of non-prototype entries (4 of 5)


def test_variants_with_identity_keep_the_combination_and_the_subjects_style():
    r = Realism(identity=1.0, variants=1.0)
    for sequence_seed in range(1, 30):
        seq = render_sequence("disgust", 5, sequence_seed, frames=2, size=48, realism=r)
        combos = [v for v in VARIANTS["disgust"] if {au for au, w in v.items() if w == 1.0} <= set(seq.aus)]
        assert combos, seq.aus
        assert set(seq.aus) <= set().union(*combos) | set(S.CO_OCCURRING["disgust"])
        assert meets_ckplus_criterion("disgust", seq.aus)


def test_variants_move_as_real_faces_do_disgust_lowers_the_brows_and_fear_stretches_the_lips():
    """The AUs beside each criterion come from how real CK+ faces move (docs/training.md, "Real faces":
    real disgust lowers the brows as real anger does, real fear stretches the lips); measured with
    data.face_motion on 40 people, as benchmarks/face_motion.py measures a data folder."""
    r = Realism(variants=1.0)

    def motion(emotion):
        return np.stack([sequence_motion(render_sequence(emotion, s, 1, frames=2, size=96, realism=r).landmarks)
                         for s in range(40)])

    disgust, fear = motion("disgust"), motion("fear")
    brows, eyes, width = (MEASURES.index(m) for m in ("inner brow raise", "eye opening", "mouth width"))
    assert (disgust[:, brows] < -0.02).mean() >= 0.6 and disgust[:, eyes].mean() < -0.02
    assert (fear[:, width] > 0.05).all()


def test_au10_raises_the_lip_corners_with_the_upper_lip():
    d = au_shift("AU10", 1)
    assert (d[[48, 54, 60, 64], 1] <= 0.9 * d[[50, 52], 1].mean()).all()  # up (y falls) nearly as far


def _drawn_mouth(aus: dict[str, float]) -> tuple[float, float]:
    """(the inner lips' gap in face units, the mean grey level inside them) of one drawn face."""
    idt = random_identity(stream(TAG_IDENTITY, 5))
    lm = neutral_landmarks(idt) + sum(amp * au_shift(au, 1) for au, amp in aus.items())
    canvas = 256
    unit = idt.face_px * canvas
    origin = np.array([canvas / 2, canvas / 2 - 0.25 * unit])
    img = draw_face(idt, lm, aus, 1, canvas, origin, unit)
    inside = np.zeros(img.shape, np.uint8)
    cv2.fillPoly(inside, [np.rint(origin + unit * lm[LIPS_IN]).astype(np.int32)], 1)
    gap = float((lm[[67, 66, 65], 1] - lm[[61, 62, 63], 1]).max())
    return gap, float(img[inside > 0].mean())


def test_parted_lips_drawn_back_bare_the_teeth():
    """AU25 opens the drawn mouth down to a quarter of its weight (a subject's gain and own factor
    scale it; the renderer opens the mouth above a 0.03 gap); drawn back as well (AU20, fear's lip
    stretcher; AU12, a smile), both rows of teeth show, as on real faces."""
    gap, parted = _drawn_mouth({"AU25": 1.0})
    assert 0.25 * gap > 0.03
    for pull in ("AU20", "AU12"):
        assert _drawn_mouth({"AU25": 1.0, pull: 1.0})[1] > parted + 25, pull  # grey levels
    assert _drawn_mouth({"AU20": 1.0})[0] < 0.03  # stretched but closed: no teeth


def test_cli_variants_is_recorded_and_rebuilds_byte_for_byte(tmp_path, capsys):
    out = tmp_path / "variants"
    argv = ["synth", "--out", str(out), "--subjects", "1", "--seed", "2", "--frames", "2", "--size", "48"]
    assert main([*argv, "--identity", "1", "--variants", "1"]) == 0
    assert "identity 1, variants 1" in capsys.readouterr().out
    readme = (out / "README.txt").read_text()
    assert "--frames 2 --size 48 --identity 1.0 --variants 1.0" in readme
    first = tree_hash(out)
    recorded = readme.split("Regenerate (byte-identical):\n")[1].split()
    assert main([*recorded[1:], "--overwrite"]) == 0
    assert tree_hash(out) == first
    for bad in (["--variants", "1.5"], ["--variants", "-1"]):
        with pytest.raises(SystemExit, match="synth"):
            main(["synth", "--out", str(tmp_path / "bad"), "--size", "48", *bad])


# ------------------------------------------------------------------------------------- the CK+ layout


def test_write_ckplus_layout_and_contents(tmp_path):
    seqs = generate_dataset(2, seed=1, frames=3, size=48)
    root = write_ckplus(seqs, tmp_path / "ck", command="staner-lab synth --out ck --subjects 2 --seed 1")
    expected = {"README.txt"}
    for seq in seqs:
        subj, num = seq.sequence_id.split("/")
        stem = f"{subj}_{num}"
        for t in range(1, 4):
            expected.add(f"cohn-kanade-images/{subj}/{num}/{stem}_{t:08d}.png")
            expected.add(f"Landmarks/{subj}/{num}/{stem}_{t:08d}_landmarks.txt")
        expected.add(f"Emotion/{subj}/{num}/{stem}_00000003_emotion.txt")
        expected.add(f"GroundTruth/{subj}/{num}/au_masks.npz")
    files = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert files == expected  # exact layout, and no temporary files left behind

    seq = seqs[0]
    subj, num = seq.sequence_id.split("/")
    emotion = (root / f"Emotion/{subj}/{num}/{subj}_{num}_00000003_emotion.txt").read_text()
    assert re.fullmatch(r"   \d\.0000000e\+00\n", emotion)
    assert int(float(emotion)) == CK_PLUS_CLASSES.index(seq.label_name) + 1
    codes = {}
    for s in seqs:
        su, nu = s.sequence_id.split("/")
        codes[s.label_name] = int(
            float((root / f"Emotion/{su}/{nu}/{su}_{nu}_00000003_emotion.txt").read_text())
        )
    assert codes == {
        "anger": 1,
        "contempt": 2,
        "disgust": 3,
        "fear": 4,
        "happy": 5,
        "sadness": 6,
        "surprise": 7,
    }

    lines = (root / f"Landmarks/{subj}/{num}/{subj}_{num}_00000002_landmarks.txt").read_text().splitlines()
    assert len(lines) == 68
    number = r" *-?\d\.\d{7}e[+-]\d\d"
    assert all(re.fullmatch(number + number, line) and len(line) == 32 for line in lines)
    np.testing.assert_allclose(np.loadtxt(lines), seq.landmarks[1], atol=1e-4)

    png = cv2.imread(
        str(root / f"cohn-kanade-images/{subj}/{num}/{subj}_{num}_00000003.png"), cv2.IMREAD_UNCHANGED
    )
    np.testing.assert_array_equal(png, seq.frames[2])
    with np.load(root / f"GroundTruth/{subj}/{num}/au_masks.npz") as z:
        assert set(z.files) == set(seq.aus)
        for au in seq.aus:
            assert z[au].dtype == bool
            np.testing.assert_array_equal(z[au], seq.au_masks[au])
    readme = (root / "README.txt").read_text()
    assert "staner-lab synth --out ck --subjects 2 --seed 1" in readme


def test_cli_writes_byte_identical_data_and_refuses_a_non_empty_folder(tmp_path, capsys):
    out = tmp_path / "synth"
    argv = ["synth", "--out", str(out), "--subjects", "1", "--seed", "3", "--frames", "2", "--size", "48"]
    assert main(argv) == 0
    assert "Wrote 7 synthetic sequences" in capsys.readouterr().out
    first = tree_hash(out)
    with pytest.raises(SystemExit, match="not empty"):
        main(argv)
    assert main([*argv, "--overwrite"]) == 0  # an earlier synthetic data set may be replaced
    assert tree_hash(out) == first
    assert f"--out {out} --subjects 1 --seed 3 --frames 2 --size 48" in (out / "README.txt").read_text()

    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    for extra in ([], ["--overwrite"]):  # a folder that is not ours is never written into
        with pytest.raises(SystemExit, match="not empty"):
            main(
                [
                    "synth",
                    "--out",
                    str(other),
                    "--subjects",
                    "1",
                    "--seed",
                    "0",
                    "--size",
                    "48",
                    "--frames",
                    "2",
                    *extra,
                ]
            )
    assert [p.name for p in other.iterdir()] == ["notes.txt"]


def test_add_synth_parser_registers_the_subcommand():
    parser = argparse.ArgumentParser(prog="staner-lab")
    add_synth_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["synth", "--out", "x", "--subjects", "4", "--seed", "2", "--intensity", "0.3"])
    assert args.func is run_synth
    assert (args.subjects, args.seed, args.intensity, args.frames, args.size) == (4, 2, 0.3, 12, 128)


def test_shipped_sample_rebuilds_byte_for_byte(tmp_path, monkeypatch):
    """The command in data_samples/README.md rebuilds data_samples/synthetic_ckplus exactly.

    (Same OpenCV/numpy builds as the shipped files; other builds may round a few pixels otherwise.)
    """
    shipped = shipped_data_dir()
    monkeypatch.chdir(tmp_path)  # README.txt records --out as given: the same relative path
    argv = "synth --out data_samples/synthetic_ckplus --subjects 10 --seed 0 --frames 5 --size 96 --noise 0.2"
    assert main(argv.split()) == 0
    built = tmp_path / "data_samples" / "synthetic_ckplus"
    files = sorted(str(p.relative_to(shipped)) for p in shipped.rglob("*") if p.is_file())
    assert sorted(str(p.relative_to(built)) for p in built.rglob("*") if p.is_file()) == files
    assert [f for f in files if (built / f).read_bytes() != (shipped / f).read_bytes()] == []
