"""The generator's random streams: every draw comes from a numpy Generator keyed by integers
(a tag for what is drawn, then the subject and/or sequence seed), never from global state, so a
factor switched on draws from a stream of its own and leaves every other draw as it was. The tags
live here, in one place, so that no two parts of the generator share a stream.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TAG_IDENTITY", "TAG_REALISM", "TAG_SEQUENCE", "TAG_STYLE", "TAG_SUBJECT_SCENE", "TAG_VARIANT", "stream"]

TAG_IDENTITY = 11  # the subject's face shape and tones (sequence.py)
TAG_SUBJECT_SCENE = 12  # the subject's usual pose and lighting (sequence.py)
TAG_SEQUENCE = 13  # per-sequence pose, lighting, AU jitter, side, pixel noise (sequence.py)
TAG_REALISM = 14  # the imaging realism factors, one sub-stream each (realism.py)
TAG_STYLE = 15  # the identity factor: subject and sequence traits (style.py)
TAG_VARIANT = 16  # the variants factor: which AU combination a sequence shows (variants.py)


def stream(*key: int) -> np.random.Generator:
    """A Generator seeded by ``key`` (e.g. ``stream(TAG_SEQUENCE, subject_seed, sequence_seed)``)."""
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in key]))
