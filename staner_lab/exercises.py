"""Checks for the notebooks' exercises: run the student's function against the library, say what is wrong.

Every ``check_*`` function

- calls the student's function on several random and edge-case inputs (float64, seeded);
- compares with the library (:mod:`staner_lab.functional`, ``torch.nn.LSTM``, :mod:`staner_lab.data`
  ...), and on a mismatch tries the usual mistakes (``F = M * U`` without the "1 +", the gates read
  in the paper's order, the binary Eq. 16 averaged over classes ...) to name the one that was made;
- prints one line: ``✅ correct ...``, ``❌ not quite ...`` with a precise hint, or
  ``⏳ not done yet ...`` when the function still raises ``NotImplementedError`` (or the answer is
  still ``...``), so a student notebook runs top to bottom before any exercise is done;
- returns True only when correct.

>>> import torch
>>> check_eq2(lambda U, M: (1 + M) * U)
✅ correct: Eq. 2, F = (1 + M) ⊗ U, matches staner_lab.functional.apply_attention on 6 cases (spatial and channel M, M = 0, M = 1, negative U).
True
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from . import functional as Fn
from .config import REGIONS

__all__ = [
    "NOT_DONE",
    "OK",
    "WRONG",
    "check_accuracy",
    "check_best_alpha",
    "check_cross_entropy",
    "check_eq2",
    "check_eq11",
    "check_eq14",
    "check_flip_landmarks",
    "check_global_pool",
    "check_lstm_step",
    "check_pointing_game",
    "check_softmax",
]

OK, WRONG, NOT_DONE = "✅ correct", "❌ not quite", "⏳ not done yet"
_DTYPE = torch.float64


class _Mismatch(Exception):
    """Raised inside a check with the hint to print."""


class _NotDone(Exception):
    pass


def _report(name: str, body: Callable[[], str]) -> bool:
    """Run a check body; print one line and return whether it passed."""
    try:
        message = body()
    except _NotDone as exc:
        print(f"{NOT_DONE}: {exc}")
        return False
    except _Mismatch as exc:
        print(f"{WRONG} ({name}): {exc}")
        return False
    print(f"{OK}: {message}")
    return True


def _call(fn: Callable, args: tuple, case: str, fname: str, error_hint: str = "") -> Any:
    """Call the student's function; turn NotImplementedError into "not done", other errors into a hint."""
    if fn is None or fn is Ellipsis:
        raise _NotDone(f"{fname} is not defined yet; write it in the exercise cell above")
    try:
        return fn(*args)
    except NotImplementedError:
        raise _NotDone(f"{getattr(fn, '__name__', fname)} still raises NotImplementedError; replace the "
                       "`raise` with your code") from None
    except Exception as exc:  # noqa: BLE001 - any student error becomes a hint
        raise _Mismatch(f"your function raised {type(exc).__name__} on {case}: {exc}"
                        + (f". {error_hint}" if error_hint else "")) from None


def _tensor(value: Any, case: str, what: str) -> Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, Tensor):
        raise _Mismatch(f"on {case} {what} should be a torch.Tensor, got {type(value).__name__}")
    return value.to(_DTYPE)


def _close(a: Tensor, b: Tensor, tol: float = 1e-6) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a.to(_DTYPE), b.to(_DTYPE), rtol=tol, atol=tol))


def _shape(t: Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ==================================================================================================
# Notebook 02: Eq. 1-4
# ==================================================================================================


def check_eq2(student_fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Eq. 2, ``student_fn(U, M) -> F`` with F = (1 + M) ⊗ U.

    Cases: a spatial map M (B, 1, H, W) and a channel gate M (B, C, 1, 1) (both readings of Eq. 1
    must broadcast), M = 0 (F must be U), M = 1 (F must be 2U), negative features.
    """

    def body() -> str:
        g = _gen(2)
        U = torch.randn(2, 4, 5, 6, generator=g, dtype=_DTYPE)
        cases = [
            ("a spatial M (B, 1, H, W)", U, torch.rand(2, 1, 5, 6, generator=g, dtype=_DTYPE)),
            ("a channel gate M (B, C, 1, 1), the literal global-pool reading", U,
             torch.rand(2, 4, 1, 1, generator=g, dtype=_DTYPE)),
            ("M = 0 (no attention)", U, torch.zeros(2, 1, 5, 6, dtype=_DTYPE)),
            ("M = 1 (full attention)", U, torch.ones(2, 1, 5, 6, dtype=_DTYPE)),
            ("negative features U", -U.abs(), torch.rand(2, 1, 5, 6, generator=g, dtype=_DTYPE)),
            ("one image, one channel", torch.randn(1, 1, 3, 3, generator=g, dtype=_DTYPE),
             torch.rand(1, 1, 3, 3, generator=g, dtype=_DTYPE)),
        ]
        for case, U_, M_ in cases:
            U_in, M_in = U_.clone(), M_.clone()
            out = _tensor(_call(student_fn, (U_in, M_in), case, "your Eq. 2 function"), case, "F")
            if not (torch.equal(U_in, U_) and torch.equal(M_in, M_)):
                raise _Mismatch(f"your function changed its inputs in place on {case} (e.g. `U *= ...` or "
                                "`M += 1`); build a new tensor: the network still needs U and M afterwards")
            want = Fn.apply_attention(U_, M_)
            if _close(out, want):
                continue
            if out.shape != want.shape:
                raise _Mismatch(f"on {case} F has shape {_shape(out)}, expected {_shape(want)}, the shape of U. "
                                "Eq. 2 is element-wise: (1 + M) broadcasts over the axes where M has size 1 "
                                "(channels for the spatial map, H and W for the channel gate); do not sum or "
                                "pool.")
            raise _Mismatch(_eq2_hint(out, U_, M_, case))
        return ("Eq. 2, F = (1 + M) ⊗ U, matches staner_lab.functional.apply_attention on 6 cases (spatial "
                "and channel M, M = 0, M = 1, negative U).")

    return _report("Eq. 2", body)


def _eq2_hint(out: Tensor, U: Tensor, M: Tensor, case: str) -> str:
    mistakes = [
        (M * U, ("you computed F = M ⊗ U and dropped the \"1 +\". With M = 0 that erases every feature; "
                 "Eq. 2 keeps U and adds M ⊗ U on top, so attention can only amplify (x1 ... x2).")),
        (U + M, "you added M to U (F = U + M); ⊗ in Eq. 2 is element-wise multiplication: F = (1 + M) ⊗ U."),
        (1 + M + U, "you added instead of multiplying: F = (1 + M) ⊗ U, with ⊗ the element-wise product."),
        ((1 - M) * U, "you used (1 - M); Eq. 2 has (1 + M): attention amplifies, it never suppresses."),
        (1 + M * U, "the parentheses: you computed 1 + M ⊗ U; Eq. 2 is (1 + M) ⊗ U = U + M ⊗ U."),
        (M * U + M, "you computed M ⊗ U + M; Eq. 2 is (1 + M) ⊗ U = U + M ⊗ U."),
        (torch.sigmoid(M) * U + U, "you applied the sigmoid again; M already is sigma(...) from Eq. 1, in [0, 1]."),
        ((1 + torch.sigmoid(M)) * U, "you applied the sigmoid again; M already is sigma(...) from Eq. 1, in [0, 1]."),
    ]
    for value, hint in mistakes:
        if _close(out, value):
            return f"on {case}: {hint}"
    where = (out - Fn.apply_attention(U, M)).abs().argmax().item()
    return (f"on {case} your F differs from (1 + M) ⊗ U (largest error at flat index {where}). "
            "Check: with M = 0, F must equal U; with M = 1, F must equal 2U.")


def check_global_pool(student_fn: Callable[[Tensor], Tensor]) -> bool:
    """Eq. 1's AvgPool read literally: ``student_fn(U) -> (B, C, 1, 1)``, the mean of each channel."""

    def body() -> str:
        g = _gen(3)
        cases = [("U of shape (2, 4, 5, 6)", torch.randn(2, 4, 5, 6, generator=g, dtype=_DTYPE)),
                 ("U of shape (1, 3, 1, 7)", torch.randn(1, 3, 1, 7, generator=g, dtype=_DTYPE)),
                 ("a constant U", torch.full((2, 2, 3, 3), 2.5, dtype=_DTYPE))]
        for case, U in cases:
            out = _tensor(_call(student_fn, (U.clone(),), case, "your pooling function"), case, "AvgPool(U)")
            want = U.mean(dim=(2, 3), keepdim=True)
            if _close(out, want):
                continue
            B, C = U.shape[:2]
            if _close(out, U.mean(dim=1, keepdim=True)):
                raise _Mismatch("you averaged over the channels, giving one value per position (B, 1, H, W): "
                                "that is a spatial summary, what the spatial reading's 1x1 conv does in a learned "
                                "way. Global average pooling averages each channel over H and W: (B, C, 1, 1).")
            if out.shape == (B, C) and _close(out, want.reshape(B, C)):
                raise _Mismatch(f"right values, shape {_shape(out)}: keep the pooled axes (keepdim=True) so that "
                                "the result is (B, C, 1, 1) and broadcasts over H and W in Eq. 2.")
            if _close(out, U.amax(dim=(2, 3), keepdim=True)):
                raise _Mismatch("you took the maximum; Eq. 1 says average pooling (the mean over H and W).")
            if _close(out, U.sum(dim=(2, 3), keepdim=True)):
                raise _Mismatch("you summed over H and W; divide by H x W for the average.")
            if out.numel() == B or out.numel() == 1:
                raise _Mismatch(f"you pooled away the channels too ({_shape(out)}); average over H and W only.")
            raise _Mismatch(f"on {case} expected the per-channel mean over H and W, shape {_shape(want)}; "
                            f"got shape {_shape(out)} with other values.")
        return "global average pooling gives (B, C, 1, 1), one number per channel (Eq. 1 read literally)."

    return _report("Eq. 1 AvgPool", body)


def check_softmax(student_fn: Callable[[Tensor], Tensor]) -> bool:
    """Eq. 3, ``student_fn(x) -> P``: softmax over the last axis of (B, K) scores."""

    def body() -> str:
        g = _gen(4)
        x = torch.randn(3, 7, generator=g, dtype=_DTYPE)
        cases = [("random scores (3, 7)", x), ("scores around 1000 (exp overflows without a shift)", x + 1000.0),
                 ("equal scores", torch.zeros(2, 5, dtype=_DTYPE)), ("one example, two classes",
                                                                   torch.tensor([[2.0, -1.0]], dtype=_DTYPE))]
        for case, s in cases:
            out = _tensor(_call(student_fn, (s.clone(),), case, "your softmax"), case, "P")
            want = Fn.softmax(s)
            if _close(out, want):
                continue
            if out.shape == want.shape and not torch.isfinite(out).all():
                raise _Mismatch(f"on {case} your P has NaN or inf: exp(1000) overflows. Subtract each row's "
                                "maximum first, exp(x_c - max x) / sum_i exp(x_i - max x); the value of Eq. 3 "
                                "does not change.")
            if out.shape == want.shape and _close(out, torch.softmax(s, dim=0)):
                raise _Mismatch("you normalised over the batch axis (columns sum to 1); Eq. 3 normalises over "
                                "the classes: dim=-1.")
            if out.shape == want.shape and _close(out, Fn.log_softmax(s)):
                raise _Mismatch("you returned ln P (log-softmax); Eq. 3 asks for P itself.")
            if out.shape == want.shape and _close(out, s / s.sum(dim=-1, keepdim=True)):
                raise _Mismatch("you forgot the exponential: P_c = e^{x_c} / sum_i e^{x_i}.")
            if out.shape != want.shape:
                raise _Mismatch(f"on {case} P has shape {_shape(out)}, expected {_shape(want)}: one probability "
                                "per class for every example (keepdim=True on the sum).")
            raise _Mismatch(f"on {case} the rows of your P sum to {out.sum(-1).tolist()} and differ from Eq. 3.")
        return "Eq. 3 (softmax) matches staner_lab.functional.softmax, also for scores near 1000."

    return _report("Eq. 3", body)


def check_cross_entropy(student_fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Eq. 4, ``student_fn(P, y) -> loss``: -sum_i y_i ln P_i for class indices y, averaged over the batch."""

    def body() -> str:
        g = _gen(5)
        P = Fn.softmax(torch.randn(4, 7, generator=g, dtype=_DTYPE))
        y = torch.tensor([0, 3, 6, 3])
        cases = [("random P (4, 7) and labels [0, 3, 6, 3]", P, y),
                 ("a confident correct P", Fn.softmax(torch.tensor([[9.0, 0.0, 0.0]], dtype=_DTYPE)),
                  torch.tensor([0])),
                 ("uniform P over 7 classes", torch.full((2, 7), 1 / 7, dtype=_DTYPE), torch.tensor([1, 5]))]
        for case, P_, y_ in cases:
            out = _tensor(_call(student_fn, (P_.clone(), y_.clone()), case, "your cross-entropy"), case, "the loss")
            want = Fn.cross_entropy(P_, y_)
            if out.numel() == 1 and _close(out.reshape(1), want.reshape(1)):
                continue
            per_sample = -P_.gather(1, y_[:, None])[:, 0].log()
            if out.shape == per_sample.shape and _close(out, per_sample) and len(y_) > 1:
                raise _Mismatch(f"your loss is one value per example {_shape(out)}; that is Eq. 4 for each "
                                "example. The library (and training) use its mean over the batch: add .mean().")
            if out.numel() == 1 and _close(out.reshape(1), -want.reshape(1)):
                raise _Mismatch("the sign: Eq. 4 has a minus, Loss = -sum y_i ln P_i, so the loss is >= 0.")
            if out.numel() == 1 and _close(out.reshape(1), (want * len(y_)).reshape(1)) and len(y_) > 1:
                raise _Mismatch("you summed over the batch; average instead (the library's loss is the mean).")
            if out.numel() == 1 and _close(out.reshape(1), (want / math.log(10)).reshape(1)):
                raise _Mismatch("you used log10; Eq. 4 uses the natural logarithm ln.")
            if out.numel() == 1 and _close(out.reshape(1), (-(1 - P_).gather(1, y_[:, None]).log().mean()).reshape(1)):
                raise _Mismatch("you used ln(1 - P) of the true class; Eq. 4 is -ln P of the true class.")
            if out.numel() != 1:
                raise _Mismatch(f"on {case} the loss has shape {_shape(out)}; expected one number. With labels "
                                "as indices, y_i is 1 for the true class and 0 elsewhere, so Eq. 4 is -ln P[true "
                                "class] (P.gather(1, y[:, None]) picks it; P[:, y] would pick a B x B block).")
            raise _Mismatch(f"on {case} your loss is {out.item():.4f}, expected {want.item():.4f}. y_i is one-hot: "
                            "only ln P of the true class counts.")
        return "Eq. 4 (cross-entropy, mean over the batch) matches staner_lab.functional.cross_entropy."

    return _report("Eq. 4", body)


# ==================================================================================================
# Notebook 03: Eq. 5-10
# ==================================================================================================

_GATE_NAMES = ("i", "f", "g", "o")  # torch.nn.LSTM's row order


def _unpack_hc(value: Any, case: str) -> tuple[Tensor, Tensor]:
    if hasattr(value, "h") and hasattr(value, "c"):
        return _tensor(value.h, case, "h"), _tensor(value.c, case, "c")
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return _tensor(value[0], case, "h"), _tensor(value[1], case, "c")
    raise _Mismatch(f"on {case} return the pair (h, c), got {type(value).__name__}"
                    + (f" of length {len(value)}" if isinstance(value, (tuple, list)) else ""))


def _lstm_variant(x, h, c, W, R, b, order=(0, 1, 2, 3), recurrent="R", g_act="tanh", use_i=True, use_f=True,
                  h_tanh=True) -> tuple[Tensor, Tensor]:
    """One LSTM step with one deliberate change (to name a student's mistake)."""
    Wc, Rc, bc = W.chunk(4), R.chunk(4), b.chunk(4)
    Wi, Wf, Wg, Wo = (Wc[k] for k in order)
    Ri, Rf, Rg, Ro = (Rc[k] for k in order)
    bi, bf, bg, bo = (bc[k] for k in order)
    if recurrent == "none":
        Ri = Rf = Rg = Ro = torch.zeros_like(Rc[0])
    elif recurrent == "W":  # the paper's notation read literally: the same W for x_t and h_{t-1}
        Ri, Rf, Rg, Ro = Wi, Wf, Wg, Wo

    def pre(Wk, Rk, bk):
        return x @ Wk.T + h @ Rk.T + bk

    i = torch.sigmoid(pre(Wi, Ri, bi))
    f = torch.sigmoid(pre(Wf, Rf, bf))
    g = torch.tanh(pre(Wg, Rg, bg)) if g_act == "tanh" else torch.sigmoid(pre(Wg, Rg, bg))
    o = torch.sigmoid(pre(Wo, Ro, bo))
    c_new = (f * c if use_f else c) + (i * g if use_i else g)
    h_new = o * torch.tanh(c_new) if h_tanh else o * c_new
    return h_new, c_new


def _lstm_cases() -> list[tuple[str, tuple[Tensor, ...]]]:
    g = _gen(6)

    def case(B, D, N, zero_state=False, scale=1.0):
        x = torch.randn(B, D, generator=g, dtype=_DTYPE) * scale
        h = torch.zeros(B, N, dtype=_DTYPE) if zero_state else torch.randn(B, N, generator=g, dtype=_DTYPE) * 0.5
        c = torch.zeros(B, N, dtype=_DTYPE) if zero_state else torch.randn(B, N, generator=g, dtype=_DTYPE)
        W = torch.randn(4 * N, D, generator=g, dtype=_DTYPE) * 0.5
        R = torch.randn(4 * N, N, generator=g, dtype=_DTYPE) * 0.5
        b = torch.randn(4 * N, generator=g, dtype=_DTYPE) * 0.5
        return (x, h, c, W, R, b)

    return [
        ("a later step with D = N = 4 (input and hidden of equal size)", case(3, 4, 4)),
        ("the first step (h_0 = c_0 = 0), B=2, D=5, N=3", case(2, 5, 3, zero_state=True)),
        ("a later step (h, c not zero), B=2, D=5, N=3", case(2, 5, 3)),
        ("large inputs (saturated gates)", case(2, 6, 3, scale=20.0)),
        ("one example, one unit (B=1, N=1)", case(1, 3, 1)),
    ]


def _torch_lstm_step(x, h, c, W, R, b) -> tuple[Tensor, Tensor]:
    """The same step through torch.nn.LSTM with these weights (bias_hh = 0, bias_ih = b)."""
    D, N = W.shape[1], R.shape[1]
    lstm = torch.nn.LSTM(D, N, batch_first=True).to(_DTYPE)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(W)
        lstm.weight_hh_l0.copy_(R)
        lstm.bias_ih_l0.copy_(b)
        lstm.bias_hh_l0.zero_()
        _, (h1, c1) = lstm(x[:, None], (h[None], c[None]))
    return h1[0], c1[0]


_LSTM_SHAPES = ("Shapes: x (B, D), h_prev and c_prev (B, N); W (4N, D) multiplies x_t, R (4N, N) multiplies "
                "h_{t-1}; gate k uses rows k*N:(k+1)*N, so x @ W_k.T is (B, N).")


def check_lstm_step(student_fn: Callable[..., Any]) -> bool:
    """Eq. 5-10, ``student_fn(x, h_prev, c_prev, W, R, b) -> (h, c)``, weights stacked like ``nn.LSTM``.

    W (4N, D), R (4N, N) and b (4N,) hold the input gate, forget gate, candidate and output gate in
    that row order ([i; f; g; o], torch.nn.LSTM's ``weight_ih_l0`` / ``weight_hh_l0``). The answer is
    compared with :func:`staner_lab.functional.lstm_step` (the library's explicit cell) and with
    ``torch.nn.LSTM`` run for one step with the same weights.
    """

    def body() -> str:
        for case, args in _lstm_cases():
            x, h, c, W, R, b = args
            inputs = tuple(a.clone() for a in args)
            out_h, out_c = _unpack_hc(_call(student_fn, inputs, case, "your LSTM step", _LSTM_SHAPES), case)
            ref = Fn.lstm_step(x, h, c, W, R, b)
            ref_torch = _torch_lstm_step(x, h, c, W, R, b)
            assert _close(ref.h, ref_torch[0]) and _close(ref.c, ref_torch[1])  # the library agrees with torch
            if _close(out_h, ref.h) and _close(out_c, ref.c):
                continue
            if out_h.shape != ref.h.shape or out_c.shape != ref.c.shape:
                raise _Mismatch(f"on {case} h has shape {_shape(out_h)} and c {_shape(out_c)}; both should be "
                                f"(B, N) = {_shape(ref.h)}. Use W[k*N:(k+1)*N] (N rows per gate) and x @ W_k.T.")
            raise _Mismatch(_lstm_hint(out_h, out_c, args, ref, case))
        return ("Eq. 5-10: your step equals staner_lab.functional.lstm_step (the library's explicit cell) and "
                "torch.nn.LSTM with the same weights, on 5 cases (first step, later step, D = N, saturated "
                "gates, B = N = 1).")

    return _report("Eq. 5-10", body)


def _lstm_hint(out_h: Tensor, out_c: Tensor, args, ref, case: str) -> str:
    x, h, c, W, R, b = args
    if _close(out_h, ref.c) and _close(out_c, ref.h):
        return "you returned (c, h); return (h, c): the hidden state first, then the cell state."
    for order in itertools.permutations(range(4)):
        if order == (0, 1, 2, 3):
            continue
        vh, vc = _lstm_variant(x, h, c, W, R, b, order=order)
        if _close(out_h, vh) and _close(out_c, vc):
            rows = ("0:N", "N:2N", "2N:3N", "3N:4N")
            used = ", ".join(f"{name} from rows {rows[k]}" for k, name in zip(order, ("i", "f", "g", "o")))
            paper = " (the paper's equation order f, i, g, o)" if order == (1, 0, 2, 3) else ""
            return (f"the gates come from the wrong rows{paper}: you read {used}. torch.nn.LSTM stacks them as "
                    "[i; f; g; o]: rows 0:N input gate, N:2N forget gate, 2N:3N candidate g, 3N:4N output gate.")
    checks = [
        ({"recurrent": "W"}, ("you used W for h_{t-1} too. Eq. 5-9 write W_f x_t + W_f h_{t-1}, but the two "
                              "matrices differ in every LSTM: the recurrent one is R (weight_hh), (4N, N).")),
        ({"recurrent": "none"}, ("the recurrent term is missing: each gate is sigma(W x_t + R h_{t-1} + b); you "
                                 "left out R h_{t-1} (right on the first step, where h_0 = 0, wrong later).")),
        ({"g_act": "sigmoid"}, ("the candidate g_t (Eq. 7) uses tanh, not the sigmoid: it proposes values in "
                                "[-1, 1], while the gates (Eq. 5, 6, 9) are in [0, 1].")),
        ({"h_tanh": False}, "Eq. 10 is h_t = o_t ⊗ tanh(c_t); you wrote o_t ⊗ c_t (the tanh is missing)."),
        ({"use_i": False}, ("Eq. 8 is c_t = f_t ⊗ c_{t-1} + i_t ⊗ g_t; the input gate i_t is missing from the "
                            "second term.")),
        ({"use_f": False}, ("Eq. 8 is c_t = f_t ⊗ c_{t-1} + i_t ⊗ g_t; the forget gate f_t is missing from the "
                            "first term.")),
    ]
    same_size = W.shape[1] == R.shape[1]  # "W for h_{t-1}" can only run when D == N
    for kwargs, hint in checks:
        if kwargs.get("recurrent") == "W" and not same_size:
            continue
        vh, vc = _lstm_variant(x, h, c, W, R, b, **kwargs)
        if _close(out_h, vh) and _close(out_c, vc):
            return hint
    if same_size and all(_close(v, w) for v, w in zip((out_h, out_c), _lstm_variant(
            x, h, c, W, R, b, order=(1, 0, 2, 3), recurrent="W"))):
        return ("two things: the gates are read in the paper's order (f, i, g, o) instead of nn.LSTM's [i; f; g; o], "
                "and W is used for h_{t-1} where the recurrent matrix is R.")
    if _close(out_c, ref.c):
        return (f"on {case} c_t is right but h_t is not: look at Eq. 9 (o_t uses rows 3N:4N) and Eq. 10, "
                "h_t = o_t ⊗ tanh(c_t) with the new c_t.")
    if not torch.isfinite(out_h).all() or not torch.isfinite(out_c).all():
        return f"on {case} your h or c has NaN or inf: use torch.sigmoid and torch.tanh, which never overflow."
    return (f"on {case} c_t (Eq. 8) is already wrong. Check each gate against Eq. 5-7: "
            "pre-activation = x @ W_k.T + h_prev @ R_k.T + b_k, sigmoid for i, f, o and tanh for g.")


# ==================================================================================================
# Notebook 04: Eq. 11
# ==================================================================================================


def check_eq11(student_fn: Callable[[Tensor, Tensor, Tensor], Tensor]) -> bool:
    """Eq. 11, ``student_fn(F_e, F_n, F_m) -> F'``: concatenate along the feature axis, eyes, nose, mouth.

    Each F_r is (B, T, N) (h_1 ... h_T of that region's LSTM); F' is (B, T, 3N).
    """

    def body() -> str:
        g = _gen(7)
        B, T, N = 2, 5, 3
        feats = [torch.randn(B, T, N, generator=g, dtype=_DTYPE) for _ in REGIONS]
        cases = [("F_e, F_n, F_m of shape (2, 5, 3)", feats),
                 ("one step, one unit (1, 1, 1)", [torch.randn(1, 1, 1, generator=g, dtype=_DTYPE) for _ in REGIONS])]
        for case, fs in cases:
            out = _tensor(_call(student_fn, tuple(f.clone() for f in fs), case, "your Eq. 11 function"), case, "F'")
            want = Fn.concatenate_regions(fs)
            if _close(out, want):
                continue
            b, t, n = fs[0].shape
            if _close(out, torch.cat(fs, dim=1)):
                raise _Mismatch(f"you concatenated along time: {_shape(out)}. F' keeps the T time steps and "
                                f"puts the regions side by side in the features: (B, T, 3N) = ({b}, {t}, {3 * n}).")
            if _close(out, torch.cat(fs, dim=0)):
                raise _Mismatch("you concatenated along the batch axis; concatenate the features (dim=-1).")
            if out.dim() == 4:
                raise _Mismatch(f"you stacked {_shape(out)} (a new axis); Eq. 11 concatenates: torch.cat(..., dim=-1).")
            for perm in itertools.permutations(range(3)):
                if perm != (0, 1, 2) and _close(out, torch.cat([fs[k] for k in perm], dim=-1)):
                    got = " : ".join(("F_e", "F_n", "F_m")[k] for k in perm)
                    raise _Mismatch(f"the order: you built [{got}]; Eq. 11 is [F_e : F_n : F_m] (eyes, nose, mouth). "
                                    "The end convolution's weights expect that order.")
            if out.shape == (b, 3 * n) and _close(out, want[:, -1]):
                raise _Mismatch("you kept only the last step h_T. In this library F_e, F_n, F_m are h_1 ... h_T "
                                "(docs/model.md, decision 4), so F' is (B, T, 3N) and the end convolution runs "
                                "over time.")
            raise _Mismatch(f"on {case} expected F' of shape {_shape(want)} = [F_e : F_n : F_m] along the last "
                            f"axis; got {_shape(out)}.")
        return "Eq. 11: F' = [F_e : F_n : F_m] along the feature axis, (B, T, 3N), as staner_lab.functional."

    return _report("Eq. 11", body)


# ==================================================================================================
# Notebook 05: Eq. 14
# ==================================================================================================


def check_eq14(student_fn: Callable[[Tensor, Tensor, float], Tensor]) -> bool:
    """Eq. 14 inside the argmax, ``student_fn(P_G, P_L, alpha) -> P = alpha P_G + (1 - alpha) P_L``."""

    def body() -> str:
        g = _gen(8)
        P_G = Fn.softmax(torch.randn(4, 7, generator=g, dtype=_DTYPE) * 2)
        P_L = Fn.softmax(torch.randn(4, 7, generator=g, dtype=_DTYPE) * 2)
        cases = [(f"alpha = {a}", a) for a in (0.5, 0.2, 0.9, 0.0, 1.0)]
        for case, a in cases:
            out = _tensor(_call(student_fn, (P_G.clone(), P_L.clone(), a), case, "your fusion"), case, "P")
            want = Fn.fuse_probabilities(P_G, P_L, a)
            if _close(out, want):
                continue
            if out.shape == (4,):
                raise _Mismatch("you returned the decision O = argmax (one class per example); this function "
                                "should return the fused probabilities P (B, K). The argmax comes after.")
            if out.shape != want.shape:
                raise _Mismatch(f"on {case} P has shape {_shape(out)}, expected {_shape(want)}.")
            if _close(out, Fn.fuse_probabilities(P_L, P_G, a)):
                raise _Mismatch("alpha weighs the wrong branch: Eq. 14 is alpha P_G (SGAER) + (1 - alpha) P_L "
                                "(TLER); with alpha = 1 only SGAER counts.")
            if _close(out, a * P_G + P_L):
                raise _Mismatch("the (1 - alpha) in front of P_L is missing; the rows of P must still sum to 1.")
            if _close(out, Fn.fuse_probabilities(P_G, P_L, 0.5)):
                raise _Mismatch("your P ignores alpha (always the plain average); use the alpha argument.")
            raise _Mismatch(f"on {case} your P differs from alpha P_G + (1 - alpha) P_L; rows sum to "
                            f"{[round(v, 3) for v in out.sum(-1).tolist()]}.")
        return "Eq. 14: P = alpha P_G + (1 - alpha) P_L matches staner_lab.functional.fuse_probabilities (alpha 0 ... 1)."

    return _report("Eq. 14", body)


def check_best_alpha(value: Any, P_G: np.ndarray, P_L: np.ndarray, labels: np.ndarray,
                     alphas: Sequence[float] | np.ndarray | None = None) -> bool:
    """Is ``value`` an alpha that maximises the validation accuracy of the fused decision (Eq. 14, 16)?

    The accuracy is computed on the grid ``alphas`` (default 0, 0.01, ..., 1) and at ``value``; any
    alpha that reaches the grid's best accuracy is correct (there is usually a whole interval of them).

    Args:
        value: the student's alpha.
        P_G, P_L: (N, K) validation probabilities of SGAER and TLER.
        labels: (N,) validation labels.
    """
    from .teaching import alpha_sweep, fused_accuracy

    def body() -> str:
        if value is None or value is Ellipsis:
            raise _NotDone("set best_alpha to the alpha you found (a number in [0, 1])")
        try:
            a = float(value)
        except (TypeError, ValueError):
            raise _Mismatch(f"best_alpha should be a number in [0, 1], got {type(value).__name__}") from None
        if not 0.0 <= a <= 1.0:
            hint = " (a percentage? divide by 100)" if 1.0 < a <= 100.0 else ""
            raise _Mismatch(f"alpha must lie in [0, 1]{hint}; Eq. 14 mixes P_G and P_L with weights alpha and 1 - alpha.")
        _, acc = alpha_sweep(P_G, P_L, labels, alphas)
        best = float(acc.max())
        mine = fused_accuracy(P_G, P_L, labels, a)
        at_half = fused_accuracy(P_G, P_L, labels, 0.5)
        if mine + 1e-12 >= best:
            return (f"alpha = {a:g} reaches the best validation accuracy, {best:.3f} "
                    f"(alpha = 0.5 gives {at_half:.3f}).")
        raise _Mismatch(f"alpha = {a:g} gives a validation accuracy of {mine:.3f}, but some alpha reaches {best:.3f}. "
                        "Sweep alpha over np.linspace(0, 1, 101) on the VALIDATION predictions and keep one of the "
                        "alphas with the highest accuracy.")

    return _report("best alpha", body)


# ==================================================================================================
# Notebook 06: Eq. 16
# ==================================================================================================


def check_accuracy(student_fn: Callable[[np.ndarray], float]) -> bool:
    """Eq. 16 for K classes, ``student_fn(cm) -> accuracy`` from a confusion matrix (rows true, columns predicted)."""

    def body() -> str:
        rng = np.random.default_rng(9)
        cm7 = rng.integers(0, 6, size=(7, 7)) + np.diag(rng.integers(5, 15, size=7))
        cases = [("a 7-class confusion matrix", cm7),
                 ("an unbalanced matrix (one class has no test sample)",
                  np.array([[20, 2, 1], [0, 0, 0], [5, 3, 4]])),
                 ("a perfect classifier", np.diag([3, 4, 5])),
                 ("a 2-class matrix", np.array([[8, 2], [3, 7]]))]
        for case, cm in cases:
            got = _call(student_fn, (cm.copy(),), case, "your accuracy function")
            try:
                got = float(got)
            except (TypeError, ValueError):
                raise _Mismatch(f"on {case} return one number, got {type(got).__name__}") from None
            want = float(np.trace(cm) / cm.sum())
            if math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12):
                continue
            if math.isclose(got, 100 * want, rel_tol=1e-9):
                raise _Mismatch("that is a percentage; return a fraction in [0, 1] (print it with :.1%).")
            total = cm.sum()
            tp = np.diag(cm)
            fp = cm.sum(0) - tp
            fn = cm.sum(1) - tp
            tn = total - tp - fp - fn
            binary = (tp + tn) / total
            if math.isclose(got, float(binary.mean()), rel_tol=1e-9):
                raise _Mismatch(f"you applied Eq. 16, (TP + TN) / (TP + TN + FP + FN), to each class against the rest "
                                f"and averaged: {got:.3f}. With K classes TN is large for every class, so this "
                                f"flatters the model; the paper's figure is multi-class accuracy, correct / total = "
                                f"trace / sum = {want:.3f}.")
            rows = cm.sum(1)
            with np.errstate(invalid="ignore", divide="ignore"):
                recall = np.where(rows > 0, tp / np.maximum(rows, 1), np.nan)
                precision = np.where(cm.sum(0) > 0, tp / np.maximum(cm.sum(0), 1), np.nan)
            if math.isclose(got, float(np.nanmean(recall)), rel_tol=1e-9):
                raise _Mismatch("you averaged the per-class recalls (balanced accuracy); Eq. 16 counts every test "
                                "sequence once: trace / total.")
            if math.isclose(got, float(np.nanmean(precision)), rel_tol=1e-9):
                raise _Mismatch("you averaged the per-class precisions; Eq. 16 is correct / total = trace / sum.")
            if math.isclose(got, float(np.trace(cm) / len(cm)), rel_tol=1e-9):
                raise _Mismatch("divide the trace by the number of test sequences (cm.sum()), not by the number "
                                "of classes.")
            raise _Mismatch(f"on {case} expected {want:.4f}, got {got:.4f}: the correct predictions are on the "
                            "diagonal.")
        return "Eq. 16 as multi-class accuracy: trace(cm) / cm.sum(), as staner_lab.metrics.accuracy_from_confusion."

    return _report("Eq. 16", body)


# ==================================================================================================
# Notebook 01: flips; notebook 07: pointing game
# ==================================================================================================


def check_flip_landmarks(student_fn: Callable[[np.ndarray, int], np.ndarray]) -> bool:
    """``student_fn(landmarks (68, 2), width) -> (68, 2)``: the landmarks of the horizontally flipped image.

    Compared with :func:`staner_lab.data.regions.flip_landmarks`: x -> width - 1 - x and the points
    re-indexed with ``FLIP_PERMUTATION`` so that index 36 is still the subject's right eye's outer corner.
    """
    from .data.regions import FLIP_PERMUTATION, flip_landmarks

    def body() -> str:
        rng = np.random.default_rng(10)
        cases = [("random landmarks in a 96-pixel-wide frame", rng.uniform(10, 86, size=(68, 2)), 96),
                 ("random landmarks in a 512-pixel-wide frame", rng.uniform(0, 511, size=(68, 2)), 512)]
        for case, lm, width in cases:
            got = _call(student_fn, (lm.copy(), width), case, "your flip function")
            got = np.asarray(got, dtype=np.float64)
            want = flip_landmarks(lm, width)
            if got.shape == want.shape and np.allclose(got, want, atol=1e-6):
                continue
            if got.shape != (68, 2):
                raise _Mismatch(f"return (68, 2) landmarks, got shape {got.shape}")
            mirrored = lm.copy()
            mirrored[:, 0] = width - 1 - lm[:, 0]
            if np.allclose(got, mirrored, atol=1e-6):
                raise _Mismatch("positions are right but the indices are not: after a flip the point at index 36 "
                                "(outer corner of the subject's right eye) lies where point 45 was mirrored to. "
                                "Re-index with FLIP_PERMUTATION: flipped = mirrored[FLIP_PERMUTATION].")
            off = lm.copy()
            off[:, 0] = width - lm[:, 0]
            if np.allclose(got, off[FLIP_PERMUTATION], atol=1e-6) or np.allclose(got, off, atol=1e-6):
                raise _Mismatch("off by one pixel: pixel centres run from 0 to width - 1, so x -> width - 1 - x.")
            if np.allclose(got[:, 0], lm[:, 0], atol=1e-6):
                raise _Mismatch("the x coordinates did not change; a horizontal flip mirrors x, not y.")
            raise _Mismatch(f"on {case} your landmarks differ from staner_lab.data.regions.flip_landmarks.")
        return "flipped landmarks: x -> W - 1 - x, then FLIP_PERMUTATION, as staner_lab.data.regions.flip_landmarks."

    return _report("flip", body)


def _pointing_variants() -> dict[str, Callable[[np.ndarray, np.ndarray], bool]]:
    """Typical wrong pointing games, to name the mistake from the pattern of answers."""

    def at(a: np.ndarray) -> tuple[int, int]:
        return np.unravel_index(int(np.argmax(a)), a.shape)  # (row, column) = (y, x)

    def swapped(a, m):
        y, x = at(a)
        return bool(m[x, y])

    def absolute(a, m):
        return bool(m[at(np.abs(a))])

    def minimum(a, m):
        return bool(m[np.unravel_index(int(np.argmin(a)), a.shape)])

    def any_large(a, m):
        return bool((a[m] > 0).any())

    return {
        "rows and columns are swapped: np.unravel_index(argmax, shape) gives (row, column) = (y, x); index "
        "the mask as mask[y, x].": swapped,
        "you took the largest |value|; the pointing game uses the largest signed value (the strongest evidence "
        "FOR the class), as staner_lab.explain.pointing_game.": absolute,
        "you used the minimum; a hit is when the map's MAXIMUM pixel lies inside the mask.": minimum,
        "a hit is decided by the single maximum pixel of the whole map, not by whether some pixel inside the "
        "mask is positive.": any_large,
    }


def check_pointing_game(student_fn: Callable[[np.ndarray, np.ndarray], bool]) -> bool:
    """``student_fn(attribution (H, W), mask (H, W) bool) -> bool``: does the map's maximum fall in the mask?

    Compared with :func:`staner_lab.explain.pointing_game` (tolerance 0) on maps built so that the usual
    mistakes (x and y swapped, |value| instead of value, minimum, "any pixel") give different answers.
    """
    from .explain import pointing_game

    def body() -> str:
        S = 10
        mask = np.zeros((S, S), bool)
        mask[1:3, 6:9] = True  # rows 1-2, columns 6-8
        maps = []
        for y, x, extra in [(2, 7, None), (6, 1, None), (7, 2, None), (1, 6, (5, 0, -3.0)), (8, 8, (1, 7, 0.5))]:
            a = np.zeros((S, S))
            a[y, x] = 1.0
            if extra is not None:
                a[extra[0], extra[1]] = extra[2]
            maps.append((f"a map with its maximum at row {y}, column {x}", a))
        answers = []
        for case, amap in maps:
            got = _call(student_fn, (amap.copy(), mask.copy()), case, "your pointing game")
            if not isinstance(got, (bool, np.bool_)):
                raise _Mismatch(f"on {case} return True or False, got {type(got).__name__}")
            answers.append(bool(got))
        want = [pointing_game(a, mask) for _, a in maps]
        if answers == want:
            return "the pointing game agrees with staner_lab.explain.pointing_game on 5 maps."
        for hint, variant in _pointing_variants().items():
            if answers == [variant(a, mask) for _, a in maps]:
                raise _Mismatch(hint)
        k = next(j for j, (g, w) in enumerate(zip(answers, want)) if g != w)
        raise _Mismatch(f"on {maps[k][0]} expected {want[k]}, got {answers[k]}. The mask covers rows 1-2, "
                        "columns 6-8.")

    return _report("pointing game", body)
