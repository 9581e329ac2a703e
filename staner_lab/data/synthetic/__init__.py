"""Procedurally rendered facial-expression sequences with exact ground truth (landmarks, AU masks).

Every sequence is a grayscale face moving from neutral (first frame) to an expression peak (last
frame), driven by FACS action units with the usual emotion prototypes (:data:`EMOTION_AUS`). The
returned 68 landmarks lie exactly where the features are drawn, and each active AU comes with a
region mask of the peak frame. :func:`write_ckplus` writes the original CK+ folder layout, so the CK+
reader of this package reads a synthetic tree unchanged. The command line is ``staner-lab synth``
(:mod:`staner_lab.data.cli`).

>>> seq = render_sequence("happy", subject_seed=1, sequence_seed=2, frames=6, size=96)
>>> seq.frames.shape, seq.landmarks.shape, seq.label_name, sorted(seq.au_masks)
((6, 96, 96), (6, 68, 2), 'happy', ['AU12', 'AU6'])

Modules (lowest first):

- ``streams``: the keyed random streams every draw comes from, and their tags.
- ``identity``: a subject's face shape and tones; head pose and lighting parameters.
- ``landmarks``: the 68-point groups (dlib/iBUG order), their left-right mirror, the neutral face.
- ``action_units``: emotion -> AU tables, AU names, per-AU landmark shifts, the onset (ease) curve.
- ``canvas``: drawing primitives (soft anti-aliased polygons, lines, ellipses; curves).
- ``render``: the 2-D face renderer (one frontal face from landmarks and AU amplitudes).
- ``masks``: per-AU region masks of the peak frame.
- ``realism``: optional harder conditions (head pose drift, side light, blur, JPEG, onset timing,
  sequence length), all off by default; :class:`Realism`, ``Realism.at(level, size)``.
- ``style``: the optional ``Realism.identity`` factor: subjects' own face shapes and ways of
  expressing (gain, own AU factors, dropped and co-occurring AUs, a resting expression).
- ``variants``: the optional ``Realism.variants`` factor: each emotion's other AU combinations that
  CK+'s coding criteria admit (:data:`~staner_lab.data.synthetic.variants.VARIANTS`).
- ``sequence``: :class:`SyntheticSequence`, :func:`render_sequence`, :func:`generate_dataset`.
- ``writer``: :func:`write_ckplus` (CK+ layout, byte-stable PNG / npz / text files).
"""

from __future__ import annotations

from staner_lab.data.synthetic.action_units import AU_NAMES, EMOTION_AUS
from staner_lab.data.synthetic.realism import Realism
from staner_lab.data.synthetic.sequence import SyntheticSequence, generate_dataset, render_sequence
from staner_lab.data.synthetic.writer import write_ckplus

__all__ = [
    "AU_NAMES",
    "EMOTION_AUS",
    "Realism",
    "SyntheticSequence",
    "generate_dataset",
    "render_sequence",
    "write_ckplus",
]
