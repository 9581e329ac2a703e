"""How one subject looks and expresses: the "identity" realism factor (off by default).

The plain generator gives every subject a narrow range of face shapes, a perfectly neutral resting
face, and the prototype expression of :data:`EMOTION_AUS` (amplitudes only jittered per sequence).
Real people differ: some are barely expressive, each has their own way (stronger brows, a weaker
mouth), supporting AUs are sometimes absent and co-occurring ones sometimes present, and a resting
face often carries a slight frown or smile. At level ``L`` in [0, 1] (``Realism.identity``):

- :func:`draw_style` draws a subject's :class:`Style` (face-shape offsets, expressiveness, resting
  AU) from a random stream keyed by the subject seed only, so it is the same in all their sequences;
- :func:`reshape` applies the face-shape offsets to the subject's :class:`Identity`;
- :func:`express` draws one sequence's AUs (gain, dropped supporting AUs, co-occurring extras) from a
  stream keyed by the subject and sequence seeds.

Every random value is drawn whatever the level (the level only scales ranges and probabilities), so
a subject's traits at level 0.5 are those at level 1, scaled. Nothing here is called at level 0.
The constants below are the level-1 values, fixed from descriptions of CK+ (our estimate) and not
tuned on any model's score.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from staner_lab.data.synthetic.action_units import AU_NAMES, EMOTION_AUS
from staner_lab.data.synthetic.identity import Identity
from staner_lab.data.synthetic.streams import TAG_STYLE, stream

__all__ = [
    "AU_FACTOR",
    "CO_OCCURRING",
    "DROP_P",
    "EXTRA_AMP",
    "EXTRA_P",
    "GAIN",
    "RESTING_AMP",
    "RESTING_AUS",
    "RESTING_P",
    "SHAPE_SPREAD",
    "Style",
    "draw_style",
    "express",
    "reshape",
]

_SUBJECT, _SEQUENCE = range(2)  # sub-streams: subject traits, sequence traits

#: Face shape: largest per-subject offset of each Identity field at level 1 (face units), on top of
#: the plain ranges of ``random_identity``. As there, the lower face is stacked: the nose offset also
#: moves the mouth and chin, the mouth offset also moves the chin, so the nose -> mouth distance
#: changes by the mouth offset only (plain 0.34-0.42, so >= 0.30) and mouth -> chin by the chin offset
#: only (plain 0.50-0.62, so >= 0.45): the mouth stays below the nose, the chin below the mouth.
SHAPE_SPREAD: dict[str, float] = {
    "eye_x": 0.04,
    "eye_w": 0.02,
    "brow_h": 0.04,
    "nose_len": 0.05,
    "mouth_w": 0.05,
    "mouth_y": 0.04,
    "lip_up": 0.015,
    "lip_lo": 0.015,
    "chin_y": 0.05,
}

#: Expressiveness at level 1: the subject's overall AU gain lies in ``1 + GAIN``, each AU's own
#: factor in ``1 + AU_FACTOR`` (both ranges scale with the level).
GAIN: tuple[float, float] = (-0.45, 0.10)
AU_FACTOR: tuple[float, float] = (-0.35, 0.20)

#: Per sequence at level 1: a supporting AU (prototype weight < 1) is absent with this probability.
DROP_P = 0.2
#: Per sequence at level 1: each co-occurring AU is present with this probability, at an amplitude
#: drawn in ``EXTRA_AMP`` times its scale below times the intensity.
EXTRA_P = 0.3
EXTRA_AMP: tuple[float, float] = (0.2, 0.6)
#: Co-occurring AUs of each emotion and their amplitude scale (only AUs the renderer draws; CK+
#: sadness often shows AU17, which the renderer does not know, so sadness has none).
CO_OCCURRING: dict[str, dict[str, float]] = {
    "anger": {"AU10": 1.0},
    "contempt": {},
    "disgust": {"AU10": 1.0, "AU25": 1.0},
    "fear": {"AU25": 1.0},
    "happy": {"AU25": 1.0, "AU26": 0.5},  # lips part, the jaw drops only a little
    "sadness": {},
    "surprise": {"AU25": 1.0},
}

#: Resting face at level 1: with probability ``RESTING_P`` a subject's face at rest carries one of
#: these AUs (slight frown, lid tightening, downturned corners, slight smile) at an amplitude in
#: ``RESTING_AMP`` (times the level, not the intensity), in every frame.
RESTING_AUS: tuple[str, ...] = ("AU4", "AU7", "AU12", "AU15")
RESTING_P = 0.5
RESTING_AMP: tuple[float, float] = (0.05, 0.25)

_ALL_AUS = tuple(AU_NAMES)  # fixed order for the per-AU factors


@dataclass(frozen=True)
class Style:
    """One subject's traits at a given level (the same in all their sequences).

    Attributes:
        shape: Identity field -> offset in face units (see :data:`SHAPE_SPREAD`).
        gain: overall AU amplitude factor.
        au_factor: AU -> the subject's own amplitude factor for it (every AU of :data:`AU_NAMES`).
        resting: {} or {AU: amplitude} of the resting face.
    """

    shape: dict[str, float]
    gain: float
    au_factor: dict[str, float]
    resting: dict[str, float]


def _check(level: float) -> None:
    if not 0.0 < level <= 1.0:
        raise ValueError(f"identity level must lie in (0, 1] here, got {level}")


def draw_style(level: float, subject_seed: int) -> Style:
    """Draw the subject's traits at ``level`` in (0, 1] from the subject's own stream."""
    _check(level)
    g = stream(TAG_STYLE, _SUBJECT, subject_seed)
    shape = {name: float(level * spread * g.uniform(-1, 1)) for name, spread in SHAPE_SPREAD.items()}
    gain = float(1.0 + level * g.uniform(*GAIN))
    factors = g.uniform(*AU_FACTOR, size=len(_ALL_AUS))
    au_factor = {au: float(1.0 + level * f) for au, f in zip(_ALL_AUS, factors)}
    has_rest, which, amp = g.random(), int(g.integers(len(RESTING_AUS))), g.uniform(*RESTING_AMP)
    resting = {RESTING_AUS[which]: float(level * amp)} if has_rest < RESTING_P * level else {}
    return Style(shape=shape, gain=gain, au_factor=au_factor, resting=resting)


def reshape(idt: Identity, style: Style) -> Identity:
    """The identity with the style's face-shape offsets (the lower face stacked, see :data:`SHAPE_SPREAD`)."""
    off = dict(style.shape)
    off["mouth_y"] += off["nose_len"]  # the mouth hangs below the nose ...
    off["chin_y"] += off["mouth_y"]  # ... and the chin below the mouth
    return dataclasses.replace(idt, **{name: getattr(idt, name) + d for name, d in off.items()})


def express(
    style: Style,
    emotion: str,
    aus: dict[str, float],
    intensity: float,
    level: float,
    subject_seed: int,
    sequence_seed: int,
    proto: dict[str, float] | None = None,
) -> dict[str, float]:
    """One sequence's expression AUs at the peak, from the plain generator's ``aus`` (jittered prototype).

    ``proto``: the combination ``aus`` was drawn from (default the emotion's prototype; the variants
    factor passes its own, :mod:`~staner_lab.data.synthetic.variants`).

    Each AU is scaled by the subject's gain and own factor; a supporting AU (prototype weight < 1)
    is dropped with probability ``DROP_P * level`` (AUs of weight 1 define the label and always
    stay); each co-occurring AU of :data:`CO_OCCURRING` is added with probability
    ``EXTRA_P * level`` at ``intensity * scale * U(EXTRA_AMP)`` (not scaled by the subject's gain).
    """
    _check(level)
    g = stream(TAG_STYLE, _SEQUENCE, subject_seed, sequence_seed)
    proto = EMOTION_AUS[emotion] if proto is None else proto
    drop = g.random(len(proto))  # drawn for every AU, so the stream does not depend on the outcome
    out = {}
    for (au, amp), q in zip(aus.items(), drop):
        if proto[au] < 1.0 and q < DROP_P * level:
            continue
        out[au] = float(amp * style.gain * style.au_factor[au])
    extras = CO_OCCURRING[emotion]
    present, amps = g.random(len(extras)), g.uniform(*EXTRA_AMP, size=len(extras))
    for (au, scale), q, a in zip(extras.items(), present, amps):
        if q < EXTRA_P * level and au not in out:  # a combination's own AU keeps its amplitude
            out[au] = float(intensity * scale * a)
    return out
