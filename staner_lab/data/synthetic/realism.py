"""Optional realism factors that make the synthetic faces as hard as real ones (all off by default).

:class:`Realism` holds the levels (head pose drift, uneven lighting, blur, JPEG artefacts, onset
timing, variable sequence length, the subjects' own face shapes and ways of expressing);
:meth:`Realism.at` sets the imaging factors from one knob (1 = comparable to CK+ / Oulu-CASIA, see
its docstring). :func:`draw_factors` draws one sequence's imaging factors from random streams of
their own (keyed by the subject and sequence seeds and the factor), so switching a factor on changes
nothing else: the face, the AU amplitudes and the pixel noise stay the same, and with every factor
off the output is bit-identical to the generator without this module. ``identity`` (which does
change the face and the AUs, and nothing else) is drawn the same way in
:mod:`~staner_lab.data.synthetic.style`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import cv2
import numpy as np

from staner_lab.data.synthetic.streams import TAG_REALISM, stream

__all__ = ["Factors", "Realism", "blur", "compress", "draw_factors", "light", "onset_progress"]

_FRAMES, _POSE, _LIGHT, _BLUR, _JPEG, _ONSET = range(6)  # one sub-stream per factor


@dataclass(frozen=True)
class Realism:
    """Levels of the realism factors; every default is "off" (the plain generator).

    Attributes:
        pose: scale of the extra head pose and its drift over the sequence (0 = off, 1 = CK+-like):
            at 1, yaw-like horizontal squash down to cos 20 deg, in-plane rotation +-8 deg plus a
            drift of +-5 deg, translation +-3 % of the image plus a drift of +-4 %, a scale drift
            of +-6 %, and a per-frame tremor (std 0.25 deg, 0.3 % of the image).
        lighting: scale of a multiplicative side light and a global gain (0 = off): at 1, one side of
            the image up to 35 % darker than the other, and a gain in [0.75, 1.15] per sequence.
        blur: largest defocus blur sigma in pixels (0 = off); each sequence draws a Gaussian sigma in
            [0, blur] and each frame a motion blur of up to 2 * blur pixels along a per-sequence
            direction.
        jpeg: lowest JPEG quality (0 = off); each sequence is compressed at a quality drawn in
            [jpeg, 95].
        onset: scale of the onset timing (0 = the expression rises over the whole sequence): at 1,
            a neutral hold of up to half the sequence, then a rise, then an apex plateau of up to
            30 %; the first frame is always neutral and the last at the apex.
        frames_range: (min, max) frames per sequence, drawn per sequence (None = the ``frames``
            argument for every sequence).
        identity: scale of how subjects differ in face and expression (0 = off, 1 = CK+-like, our
            estimate; drawn in :mod:`~staner_lab.data.synthetic.style`). At 1, per subject:
            face-shape offsets of up to eye_x +-0.04, eye_w +-0.02, brow_h +-0.04, nose_len +-0.05,
            mouth_w +-0.05, nose -> mouth +-0.04, lip heights +-0.015, mouth -> chin +-0.05 face
            units (the mouth moves with the nose and the chin with the mouth, so the geometry stays
            valid); an overall AU gain in [0.55, 1.1] and an own factor per AU in [0.65, 1.2]; with
            probability 0.5 a resting AU (AU4, AU7, AU12 or AU15) at 0.05-0.25, not scaled by the
            intensity, in every frame, the first included. Per sequence: each supporting AU
            (prototype weight < 1) absent with probability 0.2; co-occurring AUs, each with
            probability 0.3 at 0.2-0.6 times the intensity (happy AU25 and AU26 at half that,
            surprise AU25, fear AU25, disgust AU10 and AU25, anger AU10). Ranges and probabilities
            scale with the level. Not part of :meth:`at`, so sets made with ``at`` stay as they were.
        variants: probability that a sequence shows another of the AU combinations CK+'s criteria
            admit for its emotion instead of the prototype (0 = off, 1 = uniformly over all of them;
            :mod:`~staner_lab.data.synthetic.variants`): e.g. disgust as AU4+7+9 or AU4+7+10 as well as
            AU9+15+16, surprise with AU5 weak or absent. Not part of :meth:`at`, like ``identity``.
    """

    pose: float = 0.0
    lighting: float = 0.0
    blur: float = 0.0
    jpeg: int = 0
    onset: float = 0.0
    frames_range: tuple[int, int] | None = None
    identity: float = 0.0
    variants: float = 0.0

    def __post_init__(self) -> None:
        for name in ("pose", "lighting", "blur", "onset", "identity", "variants"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"Realism.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("onset", "identity", "variants"):
            if getattr(self, name) > 1:
                raise ValueError(f"Realism.{name} must lie in [0, 1], got {getattr(self, name)}")
        if not (self.jpeg == 0 or 1 <= self.jpeg <= 95):
            raise ValueError(f"Realism.jpeg must be 0 (off) or a JPEG quality in [1, 95], got {self.jpeg}")
        if self.frames_range is not None:
            lo, hi = self.frames_range
            if not 2 <= lo <= hi:
                raise ValueError(
                    f"Realism.frames_range must be (min, max) with 2 <= min <= max, got {lo, hi}"
                )

    @classmethod
    def at(cls, level: float, size: int) -> Realism:
        """Every factor at ``level`` in [0, 1]; 1 is comparable to CK+ / Oulu-CASIA (our estimate).

        Level 1: ``pose=1, lighting=1, blur=0.012 * size`` (1.2 px at 96 px), ``jpeg=60`` (quality
        60-95), ``onset=1``. Sequence length is left to ``frames_range`` (CK+: 10-60 frames); pixel
        noise to the ``noise`` argument of the renderer; the subjects' variety to ``identity`` (kept
        out of this knob so that sets made with it before ``identity`` existed stay byte-identical).
        Intermediate levels scale each factor (JPEG: quality ``95 - 35 * level``).
        """
        if not 0.0 <= level <= 1.0:
            raise ValueError(f"realism level must lie in [0, 1], got {level}")
        jpeg = 0 if level == 0 else round(95 - 35 * level)
        return cls(pose=level, lighting=level, blur=round(0.012 * size * level, 3), jpeg=jpeg, onset=level)

    @property
    def on(self) -> bool:
        return any(getattr(self, f.name) not in (0, 0.0, None) for f in fields(self))

    def describe(self) -> str:
        """One line for the data set README: every factor and its level.

        ``identity`` and ``variants`` are named only when on, so the README of a set made without
        them reads as before.
        """
        lo_hi = "off" if self.frames_range is None else f"{self.frames_range[0]}-{self.frames_range[1]}"
        identity = f", identity {self.identity:g}" if self.identity > 0 else ""
        variants = f", variants {self.variants:g}" if self.variants > 0 else ""
        return (
            f"pose {self.pose:g}, lighting {self.lighting:g}, blur {self.blur:g} px, "
            f"jpeg {self.jpeg or 'off'}, onset {self.onset:g}, frames per sequence {lo_hi}{identity}{variants}"
        )


@dataclass(frozen=True, eq=False)  # eq=False: fields are arrays
class Factors:
    """One sequence's drawn factors (all neutral when the corresponding level is 0)."""

    frames: int
    d_pose: np.ndarray  # (T, 4): extra angle (deg), tx, ty (image fractions), scale factor, per frame
    yaw: float  # extra horizontal squash factor
    gain: float
    side: float  # side-light depth: one edge darker by this fraction
    side_angle: float  # radians
    sigma: float  # Gaussian blur sigma, pixels
    motion: np.ndarray  # (T,) motion blur length, pixels
    motion_angle: float  # degrees
    jpeg: int  # 0 = none
    hold: float  # neutral hold, fraction of the sequence
    rise: float  # rise, fraction of the sequence


def _stream(factor: int, subject_seed: int, sequence_seed: int) -> np.random.Generator:
    return stream(TAG_REALISM, factor, subject_seed, sequence_seed)


def draw_factors(r: Realism, subject_seed: int, sequence_seed: int, frames: int) -> Factors:
    """Draw one sequence's factors; ``frames`` is used unless ``r.frames_range`` is set."""
    if r.frames_range is not None:
        frames = int(
            _stream(_FRAMES, subject_seed, sequence_seed).integers(r.frames_range[0], r.frames_range[1] + 1)
        )
    p = np.linspace(0.0, 1.0, frames)[:, None]
    d_pose = np.zeros((frames, 4))
    d_pose[:, 3] = 1.0
    yaw = 1.0
    if r.pose > 0:
        g, k = _stream(_POSE, subject_seed, sequence_seed), r.pose
        base = g.uniform(-1, 1, 3) * k * np.array([8.0, 0.03, 0.03])
        drift = g.uniform(-1, 1, 4) * k * np.array([5.0, 0.04, 0.04, 0.06])
        tremor = g.normal(0, 1, (frames, 3)) * k * np.array([0.25, 0.003, 0.003])
        tremor[0] = 0.0  # the tremor moves the head away from where the drift starts
        d_pose[:, :3] = base + p * drift[:3] + tremor
        d_pose[:, 3] = 1.0 + p[:, 0] * drift[3]
        yaw = float(g.uniform(math.cos(math.radians(20.0 * k)), 1.0))
    gain, side, side_angle = 1.0, 0.0, 0.0
    if r.lighting > 0:
        g, k = _stream(_LIGHT, subject_seed, sequence_seed), r.lighting
        gain = float(1.0 + k * g.uniform(-0.25, 0.15))
        side = float(min(k * g.uniform(0.1, 0.35), 0.9))
        side_angle = float(g.uniform(0, 2 * math.pi))
    sigma, motion, motion_angle = 0.0, np.zeros(frames), 0.0
    if r.blur > 0:
        g = _stream(_BLUR, subject_seed, sequence_seed)
        sigma = float(g.uniform(0.0, r.blur))
        motion = g.uniform(0.0, 2.0 * r.blur, frames)
        motion_angle = float(g.uniform(0, 180))
    jpeg = 0
    if r.jpeg > 0:
        jpeg = int(_stream(_JPEG, subject_seed, sequence_seed).integers(r.jpeg, 96))
    hold, rise = 0.0, 1.0
    if r.onset > 0:
        g, k = _stream(_ONSET, subject_seed, sequence_seed), r.onset
        hold = float(g.uniform(0.0, 0.5 * k))
        apex = float(g.uniform(0.0, 0.3 * k))
        rise = 1.0 - hold - apex
    return Factors(frames, d_pose, yaw, gain, side, side_angle, sigma, motion, motion_angle, jpeg, hold, rise)


def onset_progress(f: Factors, p: float) -> float:
    """Expression progress in [0, 1] at time ``p``: 0 during the neutral hold, 1 on the apex plateau."""
    return min(max((p - f.hold) / f.rise, 0.0), 1.0)


def light(f: Factors, img: np.ndarray, size: int) -> np.ndarray:
    """Multiplicative side light and global gain (a no-op when both are off)."""
    if f.side == 0.0 and f.gain == 1.0:
        return img
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    ramp = ((xx - size / 2) * math.cos(f.side_angle) + (yy - size / 2) * math.sin(f.side_angle)) / size
    field = f.gain * (1.0 - f.side * (0.5 + np.clip(ramp, -0.5, 0.5)))
    return img * field.astype(np.float32)


def blur(f: Factors, img: np.ndarray, t: int) -> np.ndarray:
    """Defocus (Gaussian) then motion blur along the sequence's direction (a no-op when off)."""
    if f.sigma > 0.05:
        img = cv2.GaussianBlur(img, (0, 0), f.sigma)
    length = float(f.motion[t])
    if length > 0.5:
        n = math.ceil(length) | 1
        kernel = np.zeros((n, n), np.float32)
        kernel[n // 2, :] = 1.0
        rot = cv2.getRotationMatrix2D(((n - 1) / 2, (n - 1) / 2), f.motion_angle, 1.0)
        kernel = cv2.warpAffine(kernel, rot, (n, n), flags=cv2.INTER_LINEAR)
        img = cv2.filter2D(img, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REPLICATE)
    return img


def compress(f: Factors, frame: np.ndarray) -> np.ndarray:
    """JPEG round trip at the sequence's quality (a no-op when off)."""
    if f.jpeg == 0:
        return frame
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, f.jpeg])
    if not ok:
        raise RuntimeError("cv2.imencode failed to encode a JPEG")
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
