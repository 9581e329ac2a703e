"""CK+'s other ways of showing each emotion: alternative AU combinations (the "variants" factor).

The plain generator draws every sequence of an emotion from one prototype (:data:`EMOTION_AUS`).
CK+ gave its sequences an emotion label by criteria that admit several combinations (Lucey et al.,
CVPR Workshops 2010, Table 2, after the EMFACS predictions of Ekman and Friesen): disgust needs AU9
*or* AU10; surprise AU1+2 or AU5, and AU5 no stronger than intensity B; fear AU1+2+4 (AU4 may be
absent when AU5 is at its strongest); sadness AU1+4+15, or the exception AU6+15; happy AU12; anger
AU23 (with AU24, which the renderer does not draw). The combinations in :data:`VARIANTS` are such
combinations, made only of AUs the renderer draws; an AU the criterion names has weight 1, so the
identity factor never drops it. Which AUs go with the criterion's comes from how real faces move
(``benchmarks/face_motion.py`` on the development half of CK+, docs/training.md "Real faces"): real
disgust lowers the brows and narrows the eyes (AU4, AU7 beside AU9 or AU10), and real fear always
stretches the lips (AU20 in every fear combination) and, when the lips part, bares the teeth (AU25 at
full weight with AU20: the renderer then draws both rows of teeth).

At level ``K`` (``Realism.variants``) a sequence takes, with probability ``K``, one combination drawn
uniformly from its emotion's list (the prototype is one of them), from a stream of its own keyed by
the subject and sequence seeds, so every other draw of the generator stays as it was. Amplitudes are
jittered per AU as the plain generator jitters the prototype (``action_units.amplitudes``). With
``identity`` on, the subject's style then acts on the chosen combination as on the prototype: AUs
of weight 1 define it and always stay, the others may be dropped.
"""

from __future__ import annotations

from staner_lab.data.synthetic.action_units import AU_JITTER, EMOTION_AUS, amplitudes
from staner_lab.data.synthetic.streams import TAG_VARIANT, stream

__all__ = ["VARIANTS", "draw_variant"]

#: emotion -> admissible AU combinations with their peak amplitudes at intensity 1; the first is the
#: prototype of :data:`EMOTION_AUS`.
VARIANTS: dict[str, tuple[dict[str, float], ...]] = {
    "anger": (
        EMOTION_AUS["anger"],
        {"AU4": 1.0, "AU7": 1.0, "AU23": 1.0},  # the lids narrowed, no upper-lid raise
        {"AU4": 1.0, "AU5": 0.7, "AU7": 1.0, "AU10": 0.6, "AU23": 1.0, "AU25": 0.5},  # 4+5+7+10+23+25
    ),
    "contempt": (EMOTION_AUS["contempt"],),  # AU14 is the criterion; the renderer draws it one-sided
    "disgust": (
        EMOTION_AUS["disgust"],  # 9+15+16
        {"AU4": 0.7, "AU7": 0.8, "AU9": 1.0},  # 4+7+9: brows down, eyes narrowed, nose wrinkled
        {"AU4": 0.7, "AU7": 0.8, "AU9": 1.0, "AU10": 0.8},  # 4+7+9+10
        {"AU4": 0.6, "AU7": 0.6, "AU10": 1.0},  # 4+7+10
        {"AU10": 1.0, "AU16": 0.7, "AU25": 0.6},  # 10+16+25
    ),
    "fear": (
        EMOTION_AUS["fear"],  # 1+2+4+5+20+26
        {"AU1": 1.0, "AU2": 1.0, "AU4": 1.0, "AU20": 1.0, "AU25": 1.0},  # 1+2+4+20+25
        {"AU1": 1.0, "AU2": 1.0, "AU4": 1.0, "AU5": 1.0, "AU20": 1.0, "AU25": 1.0},  # 1+2+4+5+20+25
        {"AU1": 1.0, "AU2": 1.0, "AU4": 1.0, "AU5": 0.6, "AU20": 1.0, "AU26": 0.6},  # 1+2+4+5+20+26
    ),
    "happy": (
        EMOTION_AUS["happy"],  # 6+12
        {"AU12": 1.0},
        {"AU6": 1.0, "AU12": 1.0, "AU25": 0.6},
    ),
    "sadness": (
        EMOTION_AUS["sadness"],  # 1+4+15
        {"AU6": 1.0, "AU15": 1.0},  # CK+'s exception, 6+15
    ),
    "surprise": (
        EMOTION_AUS["surprise"],  # 1+2+5+26
        {"AU1": 1.0, "AU2": 1.0, "AU5": 0.4, "AU26": 1.0},  # 1+2+5B+26: AU5 no stronger than B
        {"AU1": 1.0, "AU2": 1.0, "AU26": 1.0},  # 1+2+26 (EMFACS's 5B+26 is left out: a weak AU5 would
        # need weight < 1, and the identity factor could drop it, leaving a jaw drop alone)
    ),
}


def draw_variant(
    emotion: str, level: float, intensity: float, subject_seed: int, sequence_seed: int
) -> tuple[dict[str, float], dict[str, float]] | None:
    """One sequence's combination at ``level`` in (0, 1]: ``(combination, jittered amplitudes)``,
    or None when the sequence keeps the plain generator's prototype."""
    if not 0.0 < level <= 1.0:
        raise ValueError(f"variants level must lie in (0, 1] here, got {level}")
    options = VARIANTS[emotion]
    g = stream(TAG_VARIANT, subject_seed, sequence_seed)
    use, which = g.random(), int(g.integers(len(options)))
    jitter = g.uniform(*AU_JITTER, size=max(len(o) for o in options))  # drawn whatever is chosen
    if use >= level or which == 0:
        return None
    return options[which], amplitudes(options[which], intensity, jitter)
