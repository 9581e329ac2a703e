"""Rendered sequences and data sets: :func:`render_sequence`, :func:`generate_dataset`.

A sequence moves from neutral (first frame) to the expression peak (last frame):

1. the subject's identity gives the neutral 68 landmarks in a canonical, frontal face frame;
2. each active AU displaces the landmarks it moves (scaled by its amplitude and by an ease-in curve
   over time) and darkens the wrinkles/folds it creates;
3. the face is drawn from those landmarks on a supersampled canvas;
4. the head pose is one affine map applied to both the drawing (``cv2.warpAffine``) and the
   landmarks, so the returned landmarks lie exactly where the features are drawn;
5. lighting (a linear gradient, brightness, contrast) and pixel noise finish the frame.

Each active AU also gets a region mask for the peak frame. Everything is deterministic: numpy
``Generator`` objects seeded from the subject and sequence seeds, no global random state.

With ``Realism.identity`` on (:mod:`~staner_lab.data.synthetic.style`), subjects differ in face shape
and in how they express (gain, own AU factors, dropped and co-occurring AUs), and a subject's resting
AU may sit in every frame, the first included; the expression rises on top of it. With
``Realism.variants`` on (:mod:`~staner_lab.data.synthetic.variants`), a sequence may show another AU
combination that CK+'s criteria admit for its emotion instead of the prototype.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from staner_lab.config import CK_PLUS_CLASSES
from staner_lab.data.synthetic.action_units import AU_JITTER, EMOTION_AUS, amplitudes, au_shift, ease
from staner_lab.data.synthetic.identity import Pose, random_identity, random_lighting, random_pose
from staner_lab.data.synthetic.landmarks import neutral_landmarks
from staner_lab.data.synthetic.masks import au_mask
from staner_lab.data.synthetic.realism import Realism, blur, compress, draw_factors, light, onset_progress
from staner_lab.data.synthetic.render import draw_face
from staner_lab.data.synthetic.streams import TAG_IDENTITY, TAG_SEQUENCE, TAG_SUBJECT_SCENE, stream
from staner_lab.data.synthetic.style import draw_style, express, reshape
from staner_lab.data.synthetic.variants import draw_variant

__all__ = ["SyntheticSequence", "generate_dataset", "render_sequence"]


_SS = 2  # supersampling: faces are drawn at 2x and shrunk by the pose warp
_NO_EXTRA = np.array([0.0, 0.0, 0.0, 1.0])


@dataclass(frozen=True, eq=False)  # eq=False: fields are arrays; compare them explicitly
class SyntheticSequence:
    """One rendered sequence and its ground truth.

    Attributes:
        frames: (T, H, W) uint8 grayscale frames, neutral first, peak last.
        landmarks: (T, 68, 2) float32 (x, y) pixel coordinates, dlib/iBUG 68-point order.
        au_masks: {"AU12": (H, W) bool, ...} where each expression AU (those of ``aus``) changes the
            face between the first and the peak frame.
        label: index into :data:`~staner_lab.config.CK_PLUS_CLASSES`.
        label_name: the emotion, e.g. "happy".
        subject: subject id, e.g. "S001".
        sequence_id: "S001/003" (subject / sequence number).
        aus: expression AU amplitudes at the peak, e.g. {"AU6": 0.93, "AU12": 0.97} (with
            ``Realism.identity``: after the subject's gain, dropped and co-occurring AUs).
        resting: the subject's resting AU, e.g. {"AU15": 0.12}, present in every frame on top of
            which ``aus`` rise (empty unless ``Realism.identity`` is on).
    """

    frames: np.ndarray
    landmarks: np.ndarray
    au_masks: dict[str, np.ndarray]
    label: int
    label_name: str
    subject: str
    sequence_id: str
    aus: dict[str, float]
    resting: dict[str, float] = field(default_factory=dict)


def _displacement(aus: dict[str, float], side: int) -> np.ndarray:
    """(68, 2) landmark move of all ``aus`` at their amplitudes (moves add up)."""
    return sum(amp * au_shift(au, side) for au, amp in aus.items())


def _pose_matrix(
    pose: Pose,
    p: float,
    size: int,
    canvas_px: int,
    canvas_origin: np.ndarray,
    out_origin: np.ndarray,
    extra: np.ndarray = _NO_EXTRA,
    yaw: float = 1.0,
) -> np.ndarray:
    """2x3 affine map from canvas pixels to output pixels at time ``p`` in [0, 1].

    ``extra`` (angle deg, tx, ty, scale factor) and ``yaw`` are the realism factors' additions; their
    neutral values (0, 0, 0, 1) and 1 leave every float of the plain matrix unchanged.
    """
    ang = math.radians(pose.angle + p * pose.d_angle + extra[0])
    s = pose.scale * extra[3] * size / canvas_px
    c, n = math.cos(ang), math.sin(ang)
    A = np.array([[c, -n], [n, c]]) @ np.diag([s * (pose.yaw * yaw), s])
    shift = [pose.tx + p * pose.d_tx + extra[1], pose.ty + p * pose.d_ty + extra[2]]
    t = out_origin + size * np.array(shift) - A @ canvas_origin
    return np.hstack([A, t[:, None]])


def render_sequence(
    emotion: str,
    subject_seed: int,
    sequence_seed: int,
    frames: int = 12,
    size: int = 128,
    intensity: float = 1.0,
    *,
    noise: float = 1.0,
    subject: str | None = None,
    sequence_id: str | None = None,
    realism: Realism | None = None,
) -> SyntheticSequence:
    """Render one sequence: neutral in the first frame, ``emotion`` at its peak in the last.

    Args:
        emotion: one of :data:`EMOTION_AUS` (the CK+ class names).
        subject_seed: fixes the identity (face shape, tones, hair) and the subject's usual pose and
            lighting; the same seed gives the same person in every sequence.
        sequence_seed: fixes the small per-sequence changes of pose and lighting, the AU amplitude
            jitter, the side of contempt's AU14 and the pixel noise.
        frames: T >= 2 frames.
        size: frame height and width in pixels (>= 48).
        intensity: in (0, 1]; scales all AU amplitudes (0.3 = subtle, 1 = the full prototype).
        noise: scales the pixel noise (std 0.6-1.4 gray levels per subject at 1; 0 = none).
            Noise costs PNG compression: ``noise=0.2`` keeps a 96x96 frame under 4 KB.
        subject: subject id to record (default ``f"S{subject_seed:03d}"``).
        sequence_id: sequence id to record (default ``f"{subject}/{sequence_seed:03d}"``).
        realism: optional harder conditions (:class:`~staner_lab.data.synthetic.realism.Realism`:
            head pose drift, side light, blur, JPEG, onset timing, frames per sequence drawn from
            ``frames_range`` instead of ``frames``, the subject's own face and way of expressing);
            None or all off = the plain generator, bit for bit.

    Returns:
        A :class:`SyntheticSequence` with frames (T, size, size) uint8, landmarks (T, 68, 2) and
        the peak frame's AU masks.
    """
    if emotion not in EMOTION_AUS:
        raise ValueError(f"unknown emotion {emotion!r}; choose one of {sorted(EMOTION_AUS)}")
    if not 0.0 < intensity <= 1.0:
        raise ValueError(f"intensity must lie in (0, 1], got {intensity}")
    if frames < 2:
        raise ValueError(f"need at least 2 frames (neutral and peak), got {frames}")
    if size < 48:
        raise ValueError(f"size must be at least 48 pixels, got {size}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    subject = subject if subject is not None else f"S{subject_seed:03d}"
    sequence_id = sequence_id if sequence_id is not None else f"{subject}/{sequence_seed:03d}"

    realism = realism or Realism()
    fx = draw_factors(realism, subject_seed, sequence_seed, frames)
    frames = fx.frames
    idt = random_identity(stream(TAG_IDENTITY, subject_seed))
    scene_rng, seq_rng = (
        stream(TAG_SUBJECT_SCENE, subject_seed),
        stream(TAG_SEQUENCE, subject_seed, sequence_seed),
    )
    pose, lit = random_pose(scene_rng, seq_rng), random_lighting(scene_rng, seq_rng, noise)
    proto = EMOTION_AUS[emotion]
    jitter = seq_rng.uniform(*AU_JITTER, size=len(proto))
    side = 1 if seq_rng.random() < 0.5 else -1
    aus = amplitudes(proto, intensity, jitter)
    noise_rng = np.random.default_rng(seq_rng.integers(2**63))
    if realism.variants > 0:  # from a stream of its own, like identity: the draws above stay as they were
        proto, aus = draw_variant(emotion, realism.variants, intensity, subject_seed, sequence_seed) or (proto, aus)
    resting: dict[str, float] = {}
    if realism.identity > 0:  # from streams of its own: the draws above stay as they were
        style = draw_style(realism.identity, subject_seed)
        idt = reshape(idt, style)
        aus = express(style, emotion, aus, intensity, realism.identity, subject_seed, sequence_seed, proto)
        resting = style.resting

    # "neutral" is the first frame's face: the subject's resting AU (if any) is already in it
    neutral = neutral_landmarks(idt)
    if resting:
        neutral = neutral + _displacement(resting, side)
    shift = _displacement(aus, side)

    canvas_px = _SS * size
    unit = idt.face_px * canvas_px  # face unit in canvas pixels
    canvas_origin = np.array([canvas_px / 2, canvas_px / 2 - 0.25 * unit])
    out_origin = np.array([size / 2, size / 2 - 0.25 * idt.face_px * size])
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    ramp = ((xx - size / 2) * math.cos(lit.angle) + (yy - size / 2) * math.sin(lit.angle)) / size

    out = np.empty((frames, size, size), np.uint8)
    lms = np.empty((frames, 68, 2), np.float32)
    for t in range(frames):
        p = t / (frames - 1)
        e = ease(onset_progress(fx, p))
        lm = neutral + e * shift
        amps = {au: e * amp for au, amp in aus.items()}
        for au, amp in resting.items():  # the resting AU is drawn in every frame, the first included
            amps[au] = amps.get(au, 0.0) + amp
        img = draw_face(idt, lm, amps, side, canvas_px, canvas_origin, unit)
        img = cv2.GaussianBlur(img, (0, 0), 0.45 * _SS)
        M = _pose_matrix(pose, p, size, canvas_px, canvas_origin, out_origin, fx.d_pose[t], fx.yaw)
        img = cv2.warpAffine(img, M, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        img = (img - 128.0) * lit.contrast + 128.0 + lit.brightness + lit.strength * ramp
        img = blur(fx, light(fx, img, size), t)
        img += noise_rng.normal(0.0, lit.noise, img.shape).astype(np.float32)
        out[t] = compress(fx, np.clip(np.rint(img), 0, 255).astype(np.uint8))
        canvas_pts = canvas_origin + unit * lm
        lms[t] = canvas_pts @ M[:, :2].T + M[:, 2]

    M_peak = _pose_matrix(pose, 1.0, size, canvas_px, canvas_origin, out_origin, fx.d_pose[-1], fx.yaw)

    def to_image(q: np.ndarray) -> np.ndarray:
        return (canvas_origin + unit * q) @ M_peak[:, :2].T + M_peak[:, 2]

    unit_out = unit * (pose.scale * fx.d_pose[-1, 3]) * size / canvas_px
    peak = neutral + shift
    masks = {au: au_mask(au, side, neutral, peak, to_image, size, unit_out) for au in aus}
    return SyntheticSequence(
        frames=out,
        landmarks=lms,
        au_masks=masks,
        label=CK_PLUS_CLASSES.index(emotion),
        label_name=emotion,
        subject=subject,
        sequence_id=sequence_id,
        aus=aus,
        resting=resting,
    )


def generate_dataset(
    subjects: int,
    seed: int,
    frames: int = 12,
    size: int = 128,
    intensity: float = 1.0,
    emotions: Sequence[str] = CK_PLUS_CLASSES,
    noise: float = 1.0,
    realism: Realism | None = None,
) -> list[SyntheticSequence]:
    """Render ``subjects`` people, each showing every emotion once; deterministic per ``seed``.

    Subjects are "S001", "S002", ...; each subject's sequence numbers 001, 002, ... are assigned to
    the emotions in a seeded random order (as in CK+, the number says nothing about the label).
    ``frames``, ``size``, ``intensity``, ``noise`` and ``realism`` are passed to :func:`render_sequence`.

    Returns:
        The sequences, ordered by subject and sequence number.
    """
    if subjects < 1:
        raise ValueError(f"need at least one subject, got {subjects}")
    unknown = [e for e in emotions if e not in EMOTION_AUS]
    if unknown:
        raise ValueError(f"unknown emotion(s) {unknown}; choose from {sorted(EMOTION_AUS)}")
    out = []
    for s in range(subjects):
        key = np.random.SeedSequence([int(seed), s])
        subject_seed = int(key.generate_state(1)[0])
        order = np.random.default_rng(key).permutation(len(emotions))
        name = f"S{s + 1:03d}"
        for number, k in enumerate(order, start=1):
            out.append(
                render_sequence(
                    emotions[k],
                    subject_seed,
                    sequence_seed=number,
                    frames=frames,
                    size=size,
                    intensity=intensity,
                    noise=noise,
                    realism=realism,
                    subject=name,
                    sequence_id=f"{name}/{number:03d}",
                )
            )
    return out
