"""Checks for notebooks 03 and 04 (TLER): one LSTM step (Eq. 5-10), the step rolled over T steps,
and the region concatenation (Eq. 11).

A wrong LSTM is replayed with one deliberate change at a time (gate rows permuted, W for the
recurrent matrix, tanh on the gates, a missing gate, the state not carried ...) to name the mistake.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from staner_lab import functional as Fn
from staner_lab.config import REGIONS
from staner_lab.teaching.exercises.checking import DTYPE, Mismatch, call, close, gen, report, shape, tensor

__all__ = ["check_eq11", "check_lstm_sequence", "check_lstm_step"]


def _unpack_hc(value: Any, case: str) -> tuple[Tensor, Tensor]:
    if hasattr(value, "h") and hasattr(value, "c"):
        return tensor(value.h, case, "h"), tensor(value.c, case, "c")
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return tensor(value[0], case, "h"), tensor(value[1], case, "c")
    raise Mismatch(f"on {case} return the pair (h, c), got {type(value).__name__}"
                   + (f" of length {len(value)}" if isinstance(value, (tuple, list)) else ""))


def _lstm_variant(x, h, c, W, R, b, order=(0, 1, 2, 3), recurrent="R", g_act="tanh", use_i=True, use_f=True,
                  h_tanh=True, gate_act="sigmoid") -> tuple[Tensor, Tensor]:
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

    gate = torch.tanh if gate_act == "tanh" else torch.sigmoid
    i = gate(pre(Wi, Ri, bi))
    f = gate(pre(Wf, Rf, bf))
    g = torch.tanh(pre(Wg, Rg, bg)) if g_act == "tanh" else torch.sigmoid(pre(Wg, Rg, bg))
    o = gate(pre(Wo, Ro, bo))
    c_new = (f * c if use_f else c) + (i * g if use_i else g)
    h_new = o * torch.tanh(c_new) if h_tanh else o * c_new
    return h_new, c_new


def _lstm_cases() -> list[tuple[str, tuple[Tensor, ...]]]:
    g = gen(6)

    def case(B, D, N, zero_state=False, scale=1.0):
        x = torch.randn(B, D, generator=g, dtype=DTYPE) * scale
        h = torch.zeros(B, N, dtype=DTYPE) if zero_state else torch.randn(B, N, generator=g, dtype=DTYPE) * 0.5
        c = torch.zeros(B, N, dtype=DTYPE) if zero_state else torch.randn(B, N, generator=g, dtype=DTYPE)
        W = torch.randn(4 * N, D, generator=g, dtype=DTYPE) * 0.5
        R = torch.randn(4 * N, N, generator=g, dtype=DTYPE) * 0.5
        b = torch.randn(4 * N, generator=g, dtype=DTYPE) * 0.5
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
    lstm = torch.nn.LSTM(D, N, batch_first=True).to(DTYPE)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(W)
        lstm.weight_hh_l0.copy_(R)
        lstm.bias_ih_l0.copy_(b)
        lstm.bias_hh_l0.zero_()
        _, (h1, c1) = lstm(x[:, None], (h[None], c[None]))
    return h1[0], c1[0]


_TANH_GATES = ("you applied tanh to the gates i_t, f_t, o_t. Gates use the sigmoid (Eq. 5, 6, 9): a value in [0, 1] "
               "says how much to forget, write or show; tanh (in [-1, 1]) is only for the candidate g_t (Eq. 7) "
               "and inside Eq. 10.")

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
            out_h, out_c = _unpack_hc(call(student_fn, inputs, case, "your LSTM step", _LSTM_SHAPES), case)
            ref = Fn.lstm_step(x, h, c, W, R, b)
            ref_torch = _torch_lstm_step(x, h, c, W, R, b)
            assert close(ref.h, ref_torch[0]) and close(ref.c, ref_torch[1])  # the library agrees with torch
            if close(out_h, ref.h) and close(out_c, ref.c):
                continue
            if out_h.shape != ref.h.shape or out_c.shape != ref.c.shape:
                raise Mismatch(f"on {case} h has shape {shape(out_h)} and c {shape(out_c)}; both should be "
                               f"(B, N) = {shape(ref.h)}. Use W[k*N:(k+1)*N] (N rows per gate) and x @ W_k.T.")
            raise Mismatch(_lstm_hint(out_h, out_c, args, ref, case))
        return ("Eq. 5-10: your step equals staner_lab.functional.lstm_step (the library's explicit cell) and "
                "torch.nn.LSTM with the same weights, on 5 cases (first step, later step, D = N, saturated "
                "gates, B = N = 1).")

    return report("Eq. 5-10", body)


def _lstm_hint(out_h: Tensor, out_c: Tensor, args, ref, case: str) -> str:
    x, h, c, W, R, b = args
    if close(out_h, ref.c) and close(out_c, ref.h):
        return "you returned (c, h); return (h, c): the hidden state first, then the cell state."
    for order in itertools.permutations(range(4)):
        if order == (0, 1, 2, 3):
            continue
        vh, vc = _lstm_variant(x, h, c, W, R, b, order=order)
        if close(out_h, vh) and close(out_c, vc):
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
        ({"gate_act": "tanh"}, _TANH_GATES),
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
        if close(out_h, vh) and close(out_c, vc):
            return hint
    if same_size and all(close(v, w) for v, w in zip((out_h, out_c), _lstm_variant(
            x, h, c, W, R, b, order=(1, 0, 2, 3), recurrent="W"))):
        return ("two things: the gates are read in the paper's order (f, i, g, o) instead of nn.LSTM's [i; f; g; o], "
                "and W is used for h_{t-1} where the recurrent matrix is R.")
    if close(out_c, ref.c):
        return (f"on {case} c_t is right but h_t is not: look at Eq. 9 (o_t uses rows 3N:4N) and Eq. 10, "
                "h_t = o_t ⊗ tanh(c_t) with the new c_t.")
    if not torch.isfinite(out_h).all() or not torch.isfinite(out_c).all():
        return f"on {case} your h or c has NaN or inf: use torch.sigmoid and torch.tanh, which never overflow."
    return (f"on {case} c_t (Eq. 8) is already wrong. Check each gate against Eq. 5-7: "
            "pre-activation = x @ W_k.T + h_prev @ R_k.T + b_k, sigmoid for i, f, o and tanh for g.")


def _roll(x, W, R, b, h0, c0, mode: str = "right", **step_kwargs) -> tuple[Tensor, Tensor, Tensor]:
    """Run an LSTM over x (B, T, D) with one deliberate change ``mode``; returns (H (B, T, N), h_T, c_T)."""
    h, c = (torch.zeros_like(h0), torch.zeros_like(c0)) if mode == "zero_start" else (h0, c0)
    steps = range(x.shape[1] - 1, -1, -1) if mode == "backwards" else range(x.shape[1])
    hs, cs, before = [], [], []
    for t in steps:
        before.append(h)
        h_in = h0 if mode in ("reset", "reset_h") else h
        c_in = c0 if mode in ("reset", "reset_c") else c
        h, c = _lstm_variant(x[:, t], h_in, c_in, W, R, b, **step_kwargs)
        hs.append(h)
        cs.append(c)
    H = torch.stack(cs if mode == "c_out" else before if mode == "shifted" else hs, dim=1)
    return H, h, c


def _sequence_cases() -> list[tuple[str, tuple[Tensor, ...]]]:
    g = gen(11)

    def case(B, T, D, N, zero_state=True):
        x = torch.randn(B, T, D, generator=g, dtype=DTYPE)
        h0 = torch.zeros(B, N, dtype=DTYPE) if zero_state else torch.randn(B, N, generator=g, dtype=DTYPE) * 0.5
        c0 = torch.zeros(B, N, dtype=DTYPE) if zero_state else torch.randn(B, N, generator=g, dtype=DTYPE)
        W = torch.randn(4 * N, D, generator=g, dtype=DTYPE) * 0.5
        R = torch.randn(4 * N, N, generator=g, dtype=DTYPE) * 0.5
        b = torch.randn(4 * N, generator=g, dtype=DTYPE) * 0.5
        return (x, W, R, b, h0, c0)

    return [
        ("B=2, T=5, D=3, N=4, from h_0 = c_0 = 0", case(2, 5, 3, 4)),
        ("B=3, T=6, D=4, N=4, from a given (h_0, c_0) (a stream that continues)", case(3, 6, 4, 4, zero_state=False)),
        ("one step, T=1", case(2, 1, 3, 2, zero_state=False)),
        ("a long sequence, T=12", case(1, 12, 2, 3)),
    ]


def _torch_lstm(x, W, R, b, h0, c0) -> tuple[Tensor, Tensor, Tensor]:
    lstm = torch.nn.LSTM(W.shape[1], R.shape[1], batch_first=True).to(DTYPE)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(W)
        lstm.weight_hh_l0.copy_(R)
        lstm.bias_ih_l0.copy_(b)
        lstm.bias_hh_l0.zero_()
        H, (h, c) = lstm(x, (h0[None], c0[None]))
    return H, h[0], c[0]


_SEQUENCE_MISTAKES = [
    ({"mode": "reset"}, ("you started every step from (h_0, c_0) again: carry the new (h, c) into the next step. "
                         "That carrying is what makes the network recurrent (Eq. 5-9 use h_{t-1}, Eq. 8 c_{t-1}).")),
    ({"mode": "reset_c"}, ("h_t is carried but c_t is not: every step restarts from c_0. The cell state is the "
                           "LSTM's memory; Eq. 8 needs c_{t-1} from the step before.")),
    ({"mode": "reset_h"}, ("c_t is carried but h_t is not: every step restarts from h_0. The gates read h_{t-1}, "
                           "the previous step's hidden state.")),
    ({"mode": "zero_start"}, ("you ignored h0 and c0 and started from zeros; a stream that continues (the live "
                              "recogniser) passes the state it carried so far: start from (h0, c0).")),
    ({"mode": "c_out"}, "your H stacks the cell states c_t; like nn.LSTM's output it holds the hidden states h_t."),
    ({"mode": "shifted"}, ("your H is shifted by one step: you stored h before updating it (h_0 ... h_{T-1}). "
                           "Store the new h_t after each step (h_1 ... h_T).")),
    ({"mode": "backwards"}, "you ran the sequence backwards (t = T ... 1); run t = 1 ... T, from neutral to peak."),
    ({"gate_act": "tanh"}, _TANH_GATES),
    ({"order": (1, 0, 2, 3)}, ("the gates come from the wrong rows (the paper's equation order f, i, g, o): "
                               "torch.nn.LSTM stacks them as [i; f; g; o].")),
    ({"recurrent": "none"}, "the recurrent term R h_{t-1} is missing from the gates."),
]


def check_lstm_sequence(student_fn: Callable[..., Any]) -> bool:
    """The LSTM rolled over T steps, ``student_fn(x, W, R, b, h0, c0) -> (H, (h_T, c_T))`` like nn.LSTM.

    x (B, T, D) batch-first, weights stacked [i; f; g; o] as in :func:`check_lstm_step`, h0 and c0
    (B, N); H (B, T, N) holds h_1 ... h_T. Compared with ``torch.nn.LSTM(batch_first=True)`` loaded
    with the same weights, from zero and from a given initial state.
    """

    def body() -> str:
        for case, args in _sequence_cases():
            x, W, R, b, h0, c0 = args
            got = call(student_fn, tuple(a.clone() for a in args), case, "your LSTM over time", _LSTM_SHAPES)
            if not (isinstance(got, (tuple, list)) and len(got) == 2):
                raise Mismatch(f"on {case} return (H, (h_T, c_T)) like nn.LSTM, got {type(got).__name__}")
            H = tensor(got[0], case, "H")
            h_T, c_T = _unpack_hc(got[1], case)
            want_H, want_h, want_c = _torch_lstm(x, W, R, b, h0, c0)
            if close(H, want_H) and close(h_T, want_h) and close(c_T, want_c):
                continue
            B, T, N = want_H.shape
            if H.shape == (T, B, N) and close(H.transpose(0, 1), want_H):
                raise Mismatch(f"H is time-major {shape(H)}; return it batch-first (B, T, N) = {shape(want_H)} "
                               "like nn.LSTM(batch_first=True): torch.stack(hs, dim=1).")
            if H.shape != want_H.shape:
                raise Mismatch(f"on {case} H has shape {shape(H)}, expected (B, T, N) = {shape(want_H)}: one h_t "
                               "per example and step. Loop over the time axis, x[:, t], not over x[t] (the batch).")
            if close(H, want_H):
                if close(h_T, want_c) and close(c_T, want_h):
                    raise Mismatch("H is right; the final state comes as (c_T, h_T): return (h_T, c_T), as nn.LSTM.")
                raise Mismatch("H is right but the final state is not: return (h_T, c_T), the state after the last "
                               "step (h_T equals H[:, -1]).")
            for kwargs, hint in _SEQUENCE_MISTAKES:
                vH, _, _ = _roll(x, W, R, b, h0, c0, **kwargs)
                if close(H, vH):
                    raise Mismatch(hint)
            first = next(t for t in range(T) if not close(H[:, t], want_H[:, t]))
            raise Mismatch(f"on {case} your H differs from nn.LSTM from step t = {first + 1} on. If your one-step "
                           "function passed check_lstm_step, look at what you carry from one step to the next.")
        return ("your LSTM over time equals torch.nn.LSTM(batch_first=True) with the same weights on 4 cases (from "
                "zero and from a given state, T = 1 and T = 12): outputs h_1 ... h_T and the final (h_T, c_T).")

    return report("LSTM over T steps", body)



def check_eq11(student_fn: Callable[[Tensor, Tensor, Tensor], Tensor]) -> bool:
    """Eq. 11, ``student_fn(F_e, F_n, F_m) -> F'``: concatenate along the feature axis, eyes, nose, mouth.

    Each F_r is (B, T, N) (h_1 ... h_T of that region's LSTM); F' is (B, T, 3N).
    """

    def body() -> str:
        g = gen(7)
        B, T, N = 2, 5, 3
        feats = [torch.randn(B, T, N, generator=g, dtype=DTYPE) for _ in REGIONS]
        cases = [("F_e, F_n, F_m of shape (2, 5, 3)", feats),
                 ("one step, one unit (1, 1, 1)", [torch.randn(1, 1, 1, generator=g, dtype=DTYPE) for _ in REGIONS])]
        for case, fs in cases:
            out = tensor(call(student_fn, tuple(f.clone() for f in fs), case, "your Eq. 11 function"), case, "F'")
            want = Fn.concatenate_regions(fs)
            if close(out, want):
                continue
            b, t, n = fs[0].shape
            if close(out, torch.cat(fs, dim=1)):
                raise Mismatch(f"you concatenated along time: {shape(out)}. F' keeps the T time steps and "
                               f"puts the regions side by side in the features: (B, T, 3N) = ({b}, {t}, {3 * n}).")
            if close(out, torch.cat(fs, dim=0)):
                raise Mismatch("you concatenated along the batch axis; concatenate the features (dim=-1).")
            if out.dim() == 4:
                raise Mismatch(f"you stacked {shape(out)} (a new axis); Eq. 11 concatenates: torch.cat(..., dim=-1).")
            for perm in itertools.permutations(range(3)):
                if perm != (0, 1, 2) and close(out, torch.cat([fs[k] for k in perm], dim=-1)):
                    got = " : ".join(("F_e", "F_n", "F_m")[k] for k in perm)
                    raise Mismatch(f"the order: you built [{got}]; Eq. 11 is [F_e : F_n : F_m] (eyes, nose, mouth). "
                                   "The end convolution's weights expect that order.")
            if out.shape == (b, 3 * n) and close(out, want[:, -1]):
                raise Mismatch("you kept only the last step h_T. In this library F_e, F_n, F_m are h_1 ... h_T "
                               "(docs/model.md, decision 4), so F' is (B, T, 3N) and the end convolution runs "
                               "over time.")
            raise Mismatch(f"on {case} expected F' of shape {shape(want)} = [F_e : F_n : F_m] along the last "
                           f"axis; got {shape(out)}.")
        return "Eq. 11: F' = [F_e : F_n : F_m] along the feature axis, (B, T, 3N), as staner_lab.functional."

    return report("Eq. 11", body)
