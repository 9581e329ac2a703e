"""Eye, nose and mouth regions from 68 landmarks; crops and horizontal flips (Algorithm 1, step 5).

TLER reads three region sequences I_e, I_n, I_m. Each region gets ONE box per sequence (so the
crop does not jitter with landmark noise), shaped to the configured (h, w) aspect ratio, and every
frame is cropped with that box.

Landmark indices follow the dlib / iBUG 68-point order:

======  =========================================
jaw     0-16
brows   17-21 (subject's right), 22-26 (left)
nose    27-30 bridge, 31-35 nostrils
eyes    36-41 (subject's right = image left), 42-47
mouth   48-59 outer lip, 60-67 inner lip
======  =========================================

>>> import numpy as np
>>> [int(FLIP_PERMUTATION[i]) for i in (36, 48, 30)]
[45, 54, 30]
>>> bool(np.all(FLIP_PERMUTATION[FLIP_PERMUTATION] == np.arange(68)))
True
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np

__all__ = [
    "FLIP_PERMUTATION",
    "REGION_LANDMARKS",
    "Box",
    "crop_regions",
    "flip_images",
    "flip_landmarks",
    "flip_sample_arrays",
    "mirror_landmarks",
    "region_box",
    "sequence_region_boxes",
]

#: A box (x0, y0, x1, y1) in pixels; x1, y1 exclusive when rounded for cropping.
Box = tuple[float, float, float, float]

#: Landmark indices of each region. The eyes region includes the brows.
REGION_LANDMARKS: dict[str, tuple[int, ...]] = {
    "eyes": tuple(range(17, 27)) + tuple(range(36, 48)),
    "nose": tuple(range(27, 36)),
    "mouth": tuple(range(48, 68)),
}


def _flip_permutation() -> np.ndarray:
    perm = np.arange(68)
    pairs = [(i, 16 - i) for i in range(8)]  # jaw 0<->16 ... 7<->9, 8 is the chin
    pairs += [(17 + i, 26 - i) for i in range(5)]  # brows 17<->26 ... 21<->22
    pairs += [(31, 35), (32, 34)]  # nostrils; 27-30 (bridge) and 33 stay
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]  # outer lip; 51, 57 stay
    pairs += [(60, 64), (61, 63), (65, 67)]  # inner lip; 62, 66 stay
    for a, b in pairs:
        perm[a], perm[b] = b, a
    perm.setflags(write=False)
    return perm


#: FLIP_PERMUTATION[i] is the index of the point that mirrors point i (an involution).
FLIP_PERMUTATION: np.ndarray = _flip_permutation()


def _check_landmarks(landmarks: np.ndarray, ndim: int) -> np.ndarray:
    arr = np.asarray(landmarks, dtype=np.float64)
    if arr.ndim != ndim or arr.shape[-2:] != (68, 2):
        want = "(68, 2)" if ndim == 2 else "(T, 68, 2)"
        raise ValueError(f"landmarks must be {want}, got shape {arr.shape}")
    return arr


def _region_points(region: str) -> list[int]:
    if region not in REGION_LANDMARKS:
        raise ValueError(f"unknown region {region!r}; choose one of {list(REGION_LANDMARKS)}")
    return list(REGION_LANDMARKS[region])


def _expand(box: np.ndarray, margin: float) -> np.ndarray:
    w, h = box[2] - box[0], box[3] - box[1]
    return box + np.array([-margin * w, -margin * h, margin * w, margin * h])


def region_box(landmarks: np.ndarray, region: str, margin: float = 0.15) -> Box:
    """Bounding box of one region's landmarks in one frame, grown by ``margin``.

    Args:
        landmarks: (68, 2) landmarks (x, y).
        region: "eyes", "nose" or "mouth".
        margin: added on each side, as a fraction of the box width (left/right) and height
            (top/bottom).

    Returns:
        (x0, y0, x1, y1) floats.
    """
    pts = _check_landmarks(landmarks, 2)[_region_points(region)]
    box = np.array([pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()])
    return tuple(float(v) for v in _expand(box, margin))  # type: ignore[return-value]


def _fit_aspect(box: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Grow the short side of ``box`` (about its centre) to the aspect ratio h:w of ``size_hw``."""
    th, tw = size_hw
    w, h = box[2] - box[0], box[3] - box[1]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    if h * tw < w * th:  # too flat: grow height
        h = w * th / tw
    else:
        w = h * tw / th
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def _shift_inside(box: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """Move ``box`` inside the image along each axis where it fits; else centre it on that axis
    around its own centre (the crop is then padded with edge values)."""
    out = box.copy()
    for lo, hi, limit in ((0, 2, image_hw[1]), (1, 3, image_hw[0])):
        size = out[hi] - out[lo]
        if size <= limit:
            shift = max(0.0, -out[lo]) - max(0.0, out[hi] - limit)
            out[lo] += shift
            out[hi] += shift
    return out


def sequence_region_boxes(
    landmarks: np.ndarray,
    region_sizes: Mapping[str, tuple[int, int]],
    margin: float = 0.15,
    image_shape: tuple[int, int] | None = None,
    outlier_factor: float = 0.5,
) -> dict[str, Box]:
    """One stable box per region for a whole sequence.

    For each region: the per-frame landmark boxes are united over all frames (so an opening
    mouth stays inside the box at the peak), except frames whose box centre lies further than
    ``outlier_factor`` x the median box diagonal from the median centre (landmark glitches). The
    union is grown by ``margin``, then its short side is grown to the (h, w) aspect ratio of
    ``region_sizes[region]``, and finally it is shifted inside the image where it fits (where it
    does not, :func:`crop_regions` pads with edge values).

    Args:
        landmarks: (T, 68, 2) landmarks of every frame of the sequence.
        region_sizes: {region: (h, w)} output crop sizes, e.g. ``InputConfig.region_sizes``.
        margin: fraction of the united box size added on each side.
        image_shape: (H, W) of the frames, to keep boxes inside; None skips that step.
        outlier_factor: frames further than this many median box diagonals from the median
            centre are ignored (never all of them).

    Returns:
        {region: (x0, y0, x1, y1)} float boxes, in the same order as ``region_sizes``.
    """
    lm = _check_landmarks(landmarks, 3)
    out: dict[str, Box] = {}
    for region, size_hw in region_sizes.items():
        pts = lm[:, _region_points(region)]  # (T, k, 2)
        per = np.concatenate([pts.min(axis=1), pts.max(axis=1)], axis=1)  # (T, 4)
        centres = (per[:, :2] + per[:, 2:]) / 2
        diag = np.median(np.hypot(per[:, 2] - per[:, 0], per[:, 3] - per[:, 1]))
        dist = np.hypot(*(centres - np.median(centres, axis=0)).T)
        keep = dist <= outlier_factor * max(diag, 1e-6)
        if not keep.any():
            keep[:] = True
        sel = per[keep]
        box = np.array([sel[:, 0].min(), sel[:, 1].min(), sel[:, 2].max(), sel[:, 3].max()])
        box = _fit_aspect(_expand(box, margin), tuple(size_hw))
        if image_shape is not None:
            box = _shift_inside(box, tuple(image_shape[:2]))
        out[region] = tuple(float(v) for v in box)  # type: ignore[assignment]
    return out


def crop_regions(
    frames: np.ndarray, boxes: Mapping[str, Box], region_sizes: Mapping[str, tuple[int, int]]
) -> dict[str, np.ndarray]:
    """Crop every frame with each region's box and resize to the region's size.

    Args:
        frames: (T, H, W) uint8 (or float in [0, 1]) grayscale frames.
        boxes: {region: (x0, y0, x1, y1)}, e.g. from :func:`sequence_region_boxes`; rounded to
            whole pixels. Parts of a box outside the image are padded with edge values.
        region_sizes: {region: (h, w)}.

    Returns:
        {region: (T, h, w) float32 in [0, 1]} (cv2.resize with INTER_AREA).
    """
    frames = np.asarray(frames)
    if frames.ndim != 3:
        raise ValueError(f"frames must be (T, H, W), got shape {frames.shape}")
    scale = 255.0 if frames.dtype == np.uint8 else 1.0
    _, H, W = frames.shape
    out: dict[str, np.ndarray] = {}
    for region, (h, w) in region_sizes.items():
        if region not in boxes:
            raise ValueError(f"no box for region {region!r}; boxes has {list(boxes)}")
        x0, y0, x1, y1 = (round(float(v)) for v in boxes[region])
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"region {region!r}: empty box {boxes[region]}")
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
        if cx1 <= cx0 or cy1 <= cy0:
            raise ValueError(f"region {region!r}: box {boxes[region]} lies outside the {W}x{H} image")
        patch = frames[:, cy0:cy1, cx0:cx1]
        pad = ((0, 0), (cy0 - y0, y1 - cy1), (cx0 - x0, x1 - cx1))
        if any(p for ax in pad for p in ax):
            patch = np.pad(patch, pad, mode="edge")
        crops = np.empty((len(frames), h, w), np.float32)
        for t, p in enumerate(patch):
            crops[t] = cv2.resize(np.ascontiguousarray(p), (w, h), interpolation=cv2.INTER_AREA)
        out[region] = crops / np.float32(scale) if scale != 1.0 else crops
    return out


def mirror_landmarks(landmarks: np.ndarray, axis_x: float) -> np.ndarray:
    """Mirror landmarks about the vertical line x = ``axis_x`` and permute with FLIP_PERMUTATION,
    so index i keeps its meaning (36-41 is still the subject's right eye, now on the other side
    of the face as seen in the flipped image).

    Args:
        landmarks: (..., 68, 2) landmarks (x, y).
        axis_x: x of the mirror line.

    Returns:
        (..., 68, 2) landmarks, same dtype.
    """
    arr = np.asarray(landmarks)
    if arr.shape[-2:] != (68, 2):
        raise ValueError(f"landmarks must be (..., 68, 2), got shape {arr.shape}")
    out = arr.copy()
    out[..., 0] = 2 * axis_x - arr[..., 0]
    return out[..., FLIP_PERMUTATION, :]


def flip_landmarks(landmarks: np.ndarray, width: int) -> np.ndarray:
    """Landmarks of the horizontally flipped image: x -> width - 1 - x, then FLIP_PERMUTATION.

    Args:
        landmarks: (..., 68, 2) landmarks in pixels of an image ``width`` pixels wide.
        width: image width in pixels.

    Returns:
        (..., 68, 2) landmarks; flipping twice gives the input back.
    """
    return mirror_landmarks(landmarks, (width - 1) / 2)


def flip_images(images: np.ndarray) -> np.ndarray:
    """Horizontal flip along the last axis of (..., H, W) images (a contiguous copy)."""
    return np.ascontiguousarray(np.asarray(images)[..., ::-1])


def flip_sample_arrays(
    peak: np.ndarray,
    regions: Mapping[str, np.ndarray],
    landmarks: np.ndarray,
    axis_x: float | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Horizontal flip of a sample's arrays.

    Each image is flipped about its own centre: the aligned peak face (eye centres are placed
    symmetrically, so this stays aligned) and each region crop (eyes+brows, nose and mouth are
    each symmetric). Landmarks are mirrored with :func:`mirror_landmarks`.

    Args:
        peak: (S, S) peak face.
        regions: {region: (T, h, w)} crops.
        landmarks: (T, 68, 2) landmarks in source-frame pixels.
        axis_x: x of the mirror line for the landmarks; None mirrors about the mean x of all
            landmarks (the face's own midline; used when the source width is unknown). Either
            way flipping twice gives the input back.

    Returns:
        (peak, regions, landmarks) flipped, new arrays.
    """
    lm = np.asarray(landmarks)
    if axis_x is None:
        axis_x = float(lm[..., 0].mean())
    return (
        flip_images(peak),
        {k: flip_images(v) for k, v in regions.items()},
        mirror_landmarks(lm, axis_x).astype(lm.dtype, copy=False),
    )
