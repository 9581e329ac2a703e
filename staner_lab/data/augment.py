"""Geometric and photometric augmentation of a :class:`Sample`, the same on every image of it.

A Sample holds the aligned peak face (S, S), three region sequences (T, h, w) and the landmarks
(T, 68, 2) of the sampled frames in source-frame pixels. A real recording has one head pose error
and one lighting, so each augmentation is drawn ONCE per sample and applied consistently:

- geometric (:class:`Geometry`): a small similarity transform, shift (dx, dy) as fractions of the
  image width / height, a scale factor and a rotation, all about the image centre. The same
  (dx, dy, scale, angle) is applied to the peak face and to every frame of every region crop, each
  relative to its own size (the same jitter in each crop's units). All T frames of a region get
  the SAME matrix, so the motion between frames (what TLER reads) is kept, only moved with the
  image. ``cv2.warpAffine``, bilinear, border replicate (like ``align.align_face``).
- landmarks: moved with the peak face. With M = ``align.alignment_matrix(landmarks[-1], S)`` (the
  source -> peak-face map of preprocessing) and A the peak face's matrix, every landmark of every
  frame is mapped by B = M^-1 A M, the same jitter expressed in source-frame pixels (shift in units
  of the face size, rotation about the point that became the peak face's centre). So projecting the
  new landmarks with the ORIGINAL alignment M lands on the moved features of the augmented peak
  face. They stay (T, 68, 2) in the same point order, so a later ``preprocess.flip_sample`` works
  as before. (Re-aligning with the new landmarks would undo the jitter, by construction; the only
  consumer that aligns with ``Sample.landmarks``, ``explain.agreement.align_mask``, is given
  unaugmented samples.) Degenerate landmarks (eye centres on one point) are moved about their own
  centroid with the face size taken as their extent.
- photometric (:class:`Photometric`): x -> clip(contrast * (x - 0.5) + 0.5 + brightness) ** gamma,
  then a Gaussian blur (sigma in pixels of each image), then Gaussian noise (one std, new noise
  per pixel and frame as a camera gives it), clipped to [0, 1]. The tone curve is a fixed
  pointwise function, so equal pixels of the peak face and of any frame get equal values.

Every draw comes from ``np.random.SeedSequence([seed, epoch, index])`` (:func:`augment_seed`), so
an item is augmented the same way for the same (seed, epoch, index) whatever the batch order or the
number of workers; geometric and photometric draws come from separate child streams, so turning
one family on or off does not change the other.

>>> from staner_lab.config import AugmentConfig
>>> g = draw_geometry(AugmentConfig(geometric=True), np.random.default_rng(0))
>>> A = g.matrix((64, 64))
>>> A.shape
(2, 3)
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from staner_lab.config import AugmentConfig
from staner_lab.data.align import alignment_matrix
from staner_lab.data.records import Sample

__all__ = [
    "Geometry",
    "Photometric",
    "apply_geometry",
    "apply_photometric",
    "augment_sample",
    "augment_seed",
    "draw_geometry",
    "draw_photometric",
    "landmark_matrix",
]

# Keeps augmentation draws apart from every other stream seeded from (seed, epoch, ...).
_AUGMENT_TAG = 0x61756774  # "augt"


def augment_seed(seed: int, epoch: int, index: int) -> np.random.SeedSequence:
    """The seed of item ``index``'s augmentation in ``epoch``: a pure function of the three."""
    return np.random.SeedSequence([int(seed), int(epoch), int(index)], spawn_key=(_AUGMENT_TAG,))


@dataclasses.dataclass(frozen=True)
class Geometry:
    """One similarity transform about an image's centre.

    Attributes:
        dx, dy: shift, fractions of the image width and height (positive: right, down).
        scale: scale factor (> 1 enlarges about the centre).
        angle: rotation in degrees, positive counter-clockwise as the image is displayed.
    """

    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0
    angle: float = 0.0

    def matrix(self, size_hw: tuple[int, int]) -> np.ndarray:
        """(2, 3) float64 matrix A, [u, v] = A @ [x, y, 1], for an image of ``size_hw`` = (h, w).

        A pixel at (x, y) (pixel centres at integers, as in cv2) moves to (u, v); the centre
        ((w - 1) / 2, (h - 1) / 2) goes to the centre plus (dx * w, dy * h).
        """
        h, w = size_hw
        centre = ((w - 1) / 2.0, (h - 1) / 2.0)
        m = cv2.getRotationMatrix2D(centre, float(self.angle), float(self.scale)).astype(np.float64)
        m[0, 2] += self.dx * w
        m[1, 2] += self.dy * h
        return m


@dataclasses.dataclass(frozen=True)
class Photometric:
    """One lighting for a whole sample (see the module docstring for the order of operations)."""

    brightness: float = 0.0
    contrast: float = 1.0
    gamma: float = 1.0
    noise: float = 0.0  # std of the Gaussian noise
    blur: float = 0.0  # sigma of the Gaussian blur, pixels

    def tone(self, x: np.ndarray) -> np.ndarray:
        """The pointwise part (contrast about mid grey, brightness, gamma), float32 in [0, 1]."""
        y = np.clip((np.asarray(x, dtype=np.float32) - 0.5) * np.float32(self.contrast)
                    + np.float32(0.5 + self.brightness), 0.0, 1.0)
        return np.power(y, np.float32(self.gamma), dtype=np.float32) if self.gamma != 1.0 else y


def draw_geometry(cfg: AugmentConfig, rng: np.random.Generator) -> Geometry:
    """Shift, scale and angle drawn uniformly in the ranges of ``cfg`` (always four draws)."""
    dx, dy = rng.uniform(-cfg.shift, cfg.shift, size=2)
    scale = rng.uniform(1.0 - cfg.scale, 1.0 + cfg.scale)
    angle = rng.uniform(-cfg.rotation, cfg.rotation)
    return Geometry(float(dx), float(dy), float(scale), float(angle))


def draw_photometric(cfg: AugmentConfig, rng: np.random.Generator) -> Photometric:
    """Brightness, contrast, gamma, noise std and blur sigma drawn uniformly in ``cfg``'s ranges."""
    return Photometric(
        brightness=float(rng.uniform(-cfg.brightness, cfg.brightness)),
        contrast=float(rng.uniform(1.0 - cfg.contrast, 1.0 + cfg.contrast)),
        gamma=float(rng.uniform(1.0 - cfg.gamma, 1.0 + cfg.gamma)),
        noise=float(rng.uniform(0.0, cfg.noise)),
        blur=float(rng.uniform(0.0, cfg.blur)),
    )


def _warp(img: np.ndarray, m: np.ndarray) -> np.ndarray:
    h, w = img.shape
    out = cv2.warpAffine(np.ascontiguousarray(img, dtype=np.float32), m, (w, h), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    return np.clip(out, 0.0, 1.0, out=out)


def _as3(m: np.ndarray) -> np.ndarray:
    return np.vstack([m, [0.0, 0.0, 1.0]])


def landmark_matrix(landmarks: np.ndarray, face_size: int, geometry: Geometry) -> np.ndarray:
    """(2, 3) source-frame matrix B = M^-1 A M that moves the landmarks with the peak face.

    Args:
        landmarks: (T, 68, 2) source-frame landmarks; the last frame is the peak.
        face_size: S, the side of the peak face.
        geometry: the transform of the peak face (A = ``geometry.matrix((S, S))``).

    Returns:
        (2, 3) float64; the identity where the landmarks give no face size.
    """
    peak = np.asarray(landmarks, dtype=np.float64)[-1]
    try:
        m = alignment_matrix(peak, face_size)
    except ValueError:  # eye centres coincide: use the centroid and the extent instead
        extent = float(np.ptp(peak, axis=0).max()) if peak.size else 0.0
        if not np.isfinite(extent) or extent < 1e-6:
            return np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        k = face_size / extent
        cx, cy = peak.mean(axis=0)
        c = (face_size - 1) / 2.0
        m = np.array([[k, 0.0, c - k * cx], [0.0, k, c - k * cy]])
    b = np.linalg.inv(_as3(m)) @ _as3(geometry.matrix((face_size, face_size))) @ _as3(m)
    return b[:2]


def apply_geometry(sample: Sample, geometry: Geometry) -> Sample:
    """``geometry`` applied to the peak face, every frame of every region (one matrix per region for
    all T frames) and the landmarks (see :func:`landmark_matrix`). Shapes and dtypes are kept."""
    peak = np.asarray(sample.peak)
    out_peak = _warp(peak, geometry.matrix(peak.shape)).astype(peak.dtype, copy=False)
    regions = {}
    for name, seq in sample.regions.items():
        seq = np.asarray(seq)
        m = geometry.matrix(seq.shape[1:])
        regions[name] = np.stack([_warp(frame, m) for frame in seq]).astype(seq.dtype, copy=False)
    lm = np.asarray(sample.landmarks)
    landmarks = lm
    if lm.ndim == 3 and lm.shape[1:] == (68, 2) and len(lm):
        b = landmark_matrix(lm, peak.shape[0], geometry)
        landmarks = (lm.astype(np.float64) @ b[:, :2].T + b[:, 2]).astype(lm.dtype)
    return dataclasses.replace(sample, peak=out_peak, regions=regions, landmarks=landmarks)


def _photo(img: np.ndarray, p: Photometric, rng: np.random.Generator) -> np.ndarray:
    y = p.tone(img)
    if p.blur >= 0.1:  # below that the kernel is a single tap
        y = cv2.GaussianBlur(np.ascontiguousarray(y), (0, 0), sigmaX=p.blur, borderType=cv2.BORDER_REPLICATE)
    if p.noise > 0:
        y = y + rng.normal(0.0, p.noise, size=y.shape).astype(np.float32)
    return np.clip(y, 0.0, 1.0).astype(np.float32, copy=False)


def apply_photometric(sample: Sample, photometric: Photometric, rng: np.random.Generator) -> Sample:
    """``photometric`` applied to the peak face and every frame; ``rng`` draws the noise only.
    Landmarks are untouched; shapes are kept, images come back float32 in [0, 1]."""
    peak = _photo(np.asarray(sample.peak), photometric, rng)
    regions = {name: np.stack([_photo(frame, photometric, rng) for frame in np.asarray(seq)])
               for name, seq in sample.regions.items()}
    return dataclasses.replace(sample, peak=peak, regions=regions)


def augment_sample(sample: Sample, cfg: AugmentConfig, seed: int, epoch: int, index: int) -> Sample:
    """The augmented Sample of item ``index`` in ``epoch`` (geometric first, then photometric).

    Deterministic in (seed, epoch, index); returns ``sample`` itself when ``cfg`` turns nothing on.
    """
    if not (cfg.geometric or cfg.photometric):
        return sample
    geo_seed, photo_seed, noise_seed = augment_seed(seed, epoch, index).spawn(3)
    if cfg.geometric:
        sample = apply_geometry(sample, draw_geometry(cfg, np.random.default_rng(geo_seed)))
    if cfg.photometric:
        photometric = draw_photometric(cfg, np.random.default_rng(photo_seed))
        sample = apply_photometric(sample, photometric, np.random.default_rng(noise_seed))
    return sample
