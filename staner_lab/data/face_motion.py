"""What moves in each class: landmark motion from the first frame to the last, for a whole data set.

For every sequence, the last frame's 68 landmarks are put onto the first frame's by the similarity
transform of their rigid points (eye corners and nose bridge, as stabilisation does), so head motion
drops out; both are read in the face's own axes (the first frame's eye line level), and each measure of :data:`MEASURES` is read in inter-ocular distances (outer eye corners
of the first frame). :func:`face_motion` collects them per sequence; :class:`FaceMotion` gives each
class's mean. Comparing two data sets shows where one's faces move as the other's do not: the drawn
lab's disgust against real CK+ disgust, say (``benchmarks/face_motion.py``).

The measures are signed so that a positive value reads as the name says (a raise is up, an opening
is wider). The landmarks are whatever the data set gives: dlib's on real frames (noisy on small,
upscaled faces), the drawn ones on the lab's faces.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> face = rng.uniform(20, 80, (68, 2))
>>> face[36], face[45] = (30.0, 40.0), (70.0, 40.0)  # outer eye corners 40 px apart
>>> smile = face.copy()
>>> smile[[48, 54], 1] -= 4.0  # both lip corners 4 px up
>>> round(float(sequence_motion(np.stack([face, smile]))[MEASURES.index("lip corner raise")]), 3)
0.1
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from staner_lab.data.records import Sample
from staner_lab.data.stabilise import apply_to_points, stabilising_transforms

__all__ = ["MEASURES", "FaceMotion", "face_motion", "sequence_motion"]

#: The measures, in the order of :func:`sequence_motion`'s output (dlib/iBUG 68-point indices).
MEASURES: tuple[str, ...] = (
    "inner brow raise",   # 21, 22 up (AU1; AU4 lowers them)
    "outer brow raise",   # 17, 26 up (AU2)
    "brow gap",           # 21 <-> 22 apart (AU4 draws the brows together)
    "eye opening",        # upper lids 37, 38, 43, 44 from lower lids 40, 41, 46, 47 (AU5 opens; AU6, AU7 close)
    "nostril raise",      # 31, 35 up (AU9)
    "upper lip raise",    # 50, 51, 52 up (AU10, AU9)
    "lip corner raise",   # 48, 54 up (AU12; AU15 lowers them)
    "mouth width",        # 48 <-> 54 apart (AU12, AU20; AU23 narrows)
    "mouth opening",      # inner lips 62 <-> 66 apart (AU25, AU26)
    "chin drop",          # 8 down (AU26; AU17 raises it)
)

_UPPER_LIDS, _LOWER_LIDS = [37, 38, 43, 44], [41, 40, 47, 46]


def sequence_motion(landmarks: np.ndarray) -> np.ndarray:
    """(M,) the measures of :data:`MEASURES` for one (T, 68, 2) landmark sequence, last frame
    against first, in inter-ocular distances of the first frame."""
    landmarks = np.asarray(landmarks, np.float64)
    if landmarks.ndim != 3 or landmarks.shape[1:] != (68, 2) or len(landmarks) < 2:
        raise ValueError(f"landmarks must be (T >= 2, 68, 2), got {landmarks.shape}")
    first = landmarks[0]
    last = apply_to_points(stabilising_transforms(landmarks[[0, -1]], reference=0)[1], landmarks[-1])
    eye_line = first[45] - first[36]
    iod = float(np.linalg.norm(eye_line))
    if iod <= 0:
        raise ValueError("the first frame's outer eye corners (36, 45) coincide; its landmarks are broken")
    # Read "up" and "apart" in the face's own axes: turn both frames so the first's eye line is level.
    c, s = eye_line / iod
    upright = np.array([[c, s], [-s, c]])
    first, last = first @ upright.T, last @ upright.T

    def up(points: list[int]) -> float:
        return float(first[points, 1].mean() - last[points, 1].mean())

    def apart(a: int, b: int, axis: int) -> float:
        return float(abs(last[b, axis] - last[a, axis]) - abs(first[b, axis] - first[a, axis]))

    def lids(x: np.ndarray) -> float:
        return float((x[_LOWER_LIDS, 1] - x[_UPPER_LIDS, 1]).mean())

    values = [
        up([21, 22]), up([17, 26]), apart(21, 22, 0), lids(last) - lids(first), up([31, 35]),
        up([50, 51, 52]), up([48, 54]), apart(48, 54, 0), apart(62, 66, 1), -up([8]),
    ]
    return np.array(values) / iod


@dataclass(frozen=True)
class FaceMotion:
    """Result of :func:`face_motion`.

    Attributes:
        values: (N, M) every sequence's measures (:data:`MEASURES` order).
        labels: (N,) int classes.
        class_names: the data set's classes.
    """

    values: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]

    def counts(self) -> np.ndarray:
        """(K,) sequences per class."""
        return np.bincount(self.labels, minlength=len(self.class_names))

    def mean(self) -> np.ndarray:
        """(K, M) each class's mean measures; NaN for a class with no sequence."""
        return self._per_class(np.mean)

    def std(self) -> np.ndarray:
        """(K, M) each class's standard deviation; NaN for a class with no sequence."""
        return self._per_class(np.std)

    def _per_class(self, stat) -> np.ndarray:
        rows = [stat(self.values[self.labels == k], axis=0) if (self.labels == k).any()
                else np.full(len(MEASURES), np.nan) for k in range(len(self.class_names))]
        return np.stack(rows)


def face_motion(samples: Sequence[Sample], class_names: Sequence[str]) -> FaceMotion:
    """The measures of :data:`MEASURES` for every sequence of ``samples`` (their ``landmarks``)."""
    if not samples:
        raise ValueError("face_motion needs at least one sequence")
    values = []
    for s in samples:
        try:
            values.append(sequence_motion(s.landmarks))
        except ValueError as e:
            raise ValueError(f"sequence {s.sequence_id}: {e}") from None
    return FaceMotion(values=np.stack(values), labels=np.array([s.label for s in samples], np.int64),
                      class_names=tuple(class_names))
