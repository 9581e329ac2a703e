"""Checks for the notebooks' exercises: run the student's function against the library, say what is wrong.

Every ``check_*`` function

- calls the student's function (or builds the student's ``nn.Module``) on several random and edge-case
  inputs (float64, seeded);
- compares with the library (:mod:`staner_lab.functional`, ``torch.nn.LSTM``, :mod:`staner_lab.data`
  ...), and on a mismatch tries the usual mistakes (``F = M * U`` without the "1 +", the gates read
  in the paper's order, tanh on the gates, the LSTM state not carried, no zero_grad, IG without
  (x - x') ...) to name the one that was made;
- prints one line: ``✅ correct ...``, ``❌ not quite ...`` with a precise hint, or
  ``⏳ not done yet ...`` when the function still raises ``NotImplementedError`` (or the answer is
  still ``...``), so a student notebook runs top to bottom before any exercise is done;
- returns True only when correct.

Warm-ups are one-liners (Eq. 2, Eq. 11, Eq. 14 ...); the graded core work builds something that runs:
the attention module loaded with trained weights, the LSTM over T steps against ``nn.LSTM``, Eq. 15
and one optimiser step, C2 against C3, integrated gradients with completeness.

Modules, by topic and notebook:

- :mod:`~staner_lab.teaching.exercises.faces`: flipped landmarks (notebook 01);
- :mod:`~staner_lab.teaching.exercises.sgaer`: Eq. 1-4, attention to cross-entropy, the attention module
  (notebook 02);
- :mod:`~staner_lab.teaching.exercises.tler`: the LSTM step, Eq. 5-10, and the LSTM over T steps
  (notebook 03), Eq. 11 (notebook 04);
- :mod:`~staner_lab.teaching.exercises.fusion`: Eq. 14 and the best alpha (notebook 05), Eq. 16 (notebook 06);
- :mod:`~staner_lab.teaching.exercises.training`: Eq. 15 and one optimiser step (notebook 05), C2 against
  C3 (notebook 06);
- :mod:`~staner_lab.teaching.exercises.interpretability`: the pointing game, integrated gradients
  (notebook 07);
- :mod:`~staner_lab.teaching.exercises.checking`: what they share (verdicts, calls, comparisons).

>>> import torch
>>> check_eq2(lambda U, M: (1 + M) * U)
✅ correct: Eq. 2, F = (1 + M) ⊗ U, matches staner_lab.functional.apply_attention on 6 cases (spatial and channel M, M = 0, M = 1, negative U).
True
"""

from staner_lab.teaching.exercises.checking import NOT_DONE, OK, WRONG, CheckFailed, graded
from staner_lab.teaching.exercises.faces import check_flip_landmarks
from staner_lab.teaching.exercises.fusion import check_accuracy, check_best_alpha, check_eq14
from staner_lab.teaching.exercises.interpretability import check_integrated_gradients, check_pointing_game
from staner_lab.teaching.exercises.sgaer import (
    check_attention_module,
    check_cross_entropy,
    check_eq2,
    check_global_pool,
    check_softmax,
)
from staner_lab.teaching.exercises.tler import check_eq11, check_lstm_sequence, check_lstm_step
from staner_lab.teaching.exercises.training import check_c2_c3, check_eq15, check_train_step

__all__ = [
    "NOT_DONE",
    "OK",
    "WRONG",
    "CheckFailed",
    "check_accuracy",
    "check_attention_module",
    "check_best_alpha",
    "check_c2_c3",
    "check_cross_entropy",
    "check_eq2",
    "check_eq11",
    "check_eq14",
    "check_eq15",
    "check_flip_landmarks",
    "check_global_pool",
    "check_integrated_gradients",
    "check_lstm_sequence",
    "check_lstm_step",
    "check_pointing_game",
    "check_softmax",
    "check_train_step",
    "graded",
]
