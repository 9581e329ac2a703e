"""Check for notebook 01 (faces and regions): the landmarks of a horizontally flipped image."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from staner_lab.teaching.exercises.checking import Mismatch, call, report

__all__ = ["check_flip_landmarks"]


def check_flip_landmarks(student_fn: Callable[[np.ndarray, int], np.ndarray]) -> bool:
    """``student_fn(landmarks (68, 2), width) -> (68, 2)``: the landmarks of the horizontally flipped image.

    Compared with :func:`staner_lab.data.regions.flip_landmarks`: x -> width - 1 - x and the points
    re-indexed with ``FLIP_PERMUTATION`` so that index 36 is still the subject's right eye's outer corner.
    """
    from staner_lab.data.regions import FLIP_PERMUTATION, flip_landmarks

    def body() -> str:
        rng = np.random.default_rng(10)
        cases = [("random landmarks in a 96-pixel-wide frame", rng.uniform(10, 86, size=(68, 2)), 96),
                 ("random landmarks in a 512-pixel-wide frame", rng.uniform(0, 511, size=(68, 2)), 512)]
        for case, lm, width in cases:
            got = call(student_fn, (lm.copy(), width), case, "your flip function")
            got = np.asarray(got, dtype=np.float64)
            want = flip_landmarks(lm, width)
            if got.shape == want.shape and np.allclose(got, want, atol=1e-6):
                continue
            if got.shape != (68, 2):
                raise Mismatch(f"return (68, 2) landmarks, got shape {got.shape}")
            mirrored = lm.copy()
            mirrored[:, 0] = width - 1 - lm[:, 0]
            if np.allclose(got, mirrored, atol=1e-6):
                raise Mismatch("positions are right but the indices are not: after a flip the point at index 36 "
                               "(outer corner of the subject's right eye) lies where point 45 was mirrored to. "
                               "Re-index with FLIP_PERMUTATION: flipped = mirrored[FLIP_PERMUTATION].")
            off = lm.copy()
            off[:, 0] = width - lm[:, 0]
            if np.allclose(got, off[FLIP_PERMUTATION], atol=1e-6) or np.allclose(got, off, atol=1e-6):
                raise Mismatch("off by one pixel: pixel centres run from 0 to width - 1, so x -> width - 1 - x.")
            if np.allclose(got[:, 0], lm[:, 0], atol=1e-6):
                raise Mismatch("the x coordinates did not change; a horizontal flip mirrors x, not y.")
            raise Mismatch(f"on {case} your landmarks differ from staner_lab.data.regions.flip_landmarks.")
        return "flipped landmarks: x -> W - 1 - x, then FLIP_PERMUTATION, as staner_lab.data.regions.flip_landmarks."

    return report("flip", body)
