"""Checks for notebook 02 (SGAER, Eq. 1-4): attention (Eq. 2), global pooling (Eq. 1), softmax, the loss."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from staner_lab import functional as Fn
from staner_lab.teaching.exercises.checking import DTYPE, Mismatch, call, close, gen, report, shape, tensor

__all__ = ["check_cross_entropy", "check_eq2", "check_global_pool", "check_softmax"]


def check_eq2(student_fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Eq. 2, ``student_fn(U, M) -> F`` with F = (1 + M) ⊗ U.

    Cases: a spatial map M (B, 1, H, W) and a channel gate M (B, C, 1, 1) (both readings of Eq. 1
    must broadcast), M = 0 (F must be U), M = 1 (F must be 2U), negative features.
    """

    def body() -> str:
        g = gen(2)
        U = torch.randn(2, 4, 5, 6, generator=g, dtype=DTYPE)
        cases = [
            ("a spatial M (B, 1, H, W)", U, torch.rand(2, 1, 5, 6, generator=g, dtype=DTYPE)),
            ("a channel gate M (B, C, 1, 1), the literal global-pool reading", U,
             torch.rand(2, 4, 1, 1, generator=g, dtype=DTYPE)),
            ("M = 0 (no attention)", U, torch.zeros(2, 1, 5, 6, dtype=DTYPE)),
            ("M = 1 (full attention)", U, torch.ones(2, 1, 5, 6, dtype=DTYPE)),
            ("negative features U", -U.abs(), torch.rand(2, 1, 5, 6, generator=g, dtype=DTYPE)),
            ("one image, one channel", torch.randn(1, 1, 3, 3, generator=g, dtype=DTYPE),
             torch.rand(1, 1, 3, 3, generator=g, dtype=DTYPE)),
        ]
        for case, U_, M_ in cases:
            U_in, M_in = U_.clone(), M_.clone()
            out = tensor(call(student_fn, (U_in, M_in), case, "your Eq. 2 function"), case, "F")
            if not (torch.equal(U_in, U_) and torch.equal(M_in, M_)):
                raise Mismatch(f"your function changed its inputs in place on {case} (e.g. `U *= ...` or "
                               "`M += 1`); build a new tensor: the network still needs U and M afterwards")
            want = Fn.apply_attention(U_, M_)
            if close(out, want):
                continue
            if out.shape != want.shape:
                raise Mismatch(f"on {case} F has shape {shape(out)}, expected {shape(want)}, the shape of U. "
                               "Eq. 2 is element-wise: (1 + M) broadcasts over the axes where M has size 1 "
                               "(channels for the spatial map, H and W for the channel gate); do not sum or "
                               "pool.")
            raise Mismatch(_eq2_hint(out, U_, M_, case))
        return ("Eq. 2, F = (1 + M) ⊗ U, matches staner_lab.functional.apply_attention on 6 cases (spatial "
                "and channel M, M = 0, M = 1, negative U).")

    return report("Eq. 2", body)


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
        if close(out, value):
            return f"on {case}: {hint}"
    where = (out - Fn.apply_attention(U, M)).abs().argmax().item()
    return (f"on {case} your F differs from (1 + M) ⊗ U (largest error at flat index {where}). "
            "Check: with M = 0, F must equal U; with M = 1, F must equal 2U.")


def check_global_pool(student_fn: Callable[[Tensor], Tensor]) -> bool:
    """Eq. 1's AvgPool read literally: ``student_fn(U) -> (B, C, 1, 1)``, the mean of each channel."""

    def body() -> str:
        g = gen(3)
        cases = [("U of shape (2, 4, 5, 6)", torch.randn(2, 4, 5, 6, generator=g, dtype=DTYPE)),
                 ("U of shape (1, 3, 1, 7)", torch.randn(1, 3, 1, 7, generator=g, dtype=DTYPE)),
                 ("a constant U", torch.full((2, 2, 3, 3), 2.5, dtype=DTYPE))]
        for case, U in cases:
            out = tensor(call(student_fn, (U.clone(),), case, "your pooling function"), case, "AvgPool(U)")
            want = U.mean(dim=(2, 3), keepdim=True)
            if close(out, want):
                continue
            B, C = U.shape[:2]
            if close(out, U.mean(dim=1, keepdim=True)):
                raise Mismatch("you averaged over the channels, giving one value per position (B, 1, H, W): "
                               "that is a spatial summary, what the spatial reading's 1x1 conv does in a learned "
                               "way. Global average pooling averages each channel over H and W: (B, C, 1, 1).")
            if out.shape == (B, C) and close(out, want.reshape(B, C)):
                raise Mismatch(f"right values, shape {shape(out)}: keep the pooled axes (keepdim=True) so that "
                               "the result is (B, C, 1, 1) and broadcasts over H and W in Eq. 2.")
            if close(out, U.amax(dim=(2, 3), keepdim=True)):
                raise Mismatch("you took the maximum; Eq. 1 says average pooling (the mean over H and W).")
            if close(out, U.sum(dim=(2, 3), keepdim=True)):
                raise Mismatch("you summed over H and W; divide by H x W for the average.")
            if out.numel() == B or out.numel() == 1:
                raise Mismatch(f"you pooled away the channels too ({shape(out)}); average over H and W only.")
            raise Mismatch(f"on {case} expected the per-channel mean over H and W, shape {shape(want)}; "
                           f"got shape {shape(out)} with other values.")
        return "global average pooling gives (B, C, 1, 1), one number per channel (Eq. 1 read literally)."

    return report("Eq. 1 AvgPool", body)


def check_softmax(student_fn: Callable[[Tensor], Tensor]) -> bool:
    """Eq. 3, ``student_fn(x) -> P``: softmax over the last axis of (B, K) scores."""

    def body() -> str:
        g = gen(4)
        x = torch.randn(3, 7, generator=g, dtype=DTYPE)
        cases = [("random scores (3, 7)", x), ("scores around 1000 (exp overflows without a shift)", x + 1000.0),
                 ("equal scores", torch.zeros(2, 5, dtype=DTYPE)), ("one example, two classes",
                                                                   torch.tensor([[2.0, -1.0]], dtype=DTYPE))]
        for case, s in cases:
            out = tensor(call(student_fn, (s.clone(),), case, "your softmax"), case, "P")
            want = Fn.softmax(s)
            if close(out, want):
                continue
            if out.shape == want.shape and not torch.isfinite(out).all():
                raise Mismatch(f"on {case} your P has NaN or inf: exp(1000) overflows. Subtract each row's "
                               "maximum first, exp(x_c - max x) / sum_i exp(x_i - max x); the value of Eq. 3 "
                               "does not change.")
            if out.shape == want.shape and close(out, torch.softmax(s, dim=0)):
                raise Mismatch("you normalised over the batch axis (columns sum to 1); Eq. 3 normalises over "
                               "the classes: dim=-1.")
            if out.shape == want.shape and close(out, Fn.log_softmax(s)):
                raise Mismatch("you returned ln P (log-softmax); Eq. 3 asks for P itself.")
            if out.shape == want.shape and close(out, s / s.sum(dim=-1, keepdim=True)):
                raise Mismatch("you forgot the exponential: P_c = e^{x_c} / sum_i e^{x_i}.")
            if out.shape != want.shape:
                raise Mismatch(f"on {case} P has shape {shape(out)}, expected {shape(want)}: one probability "
                               "per class for every example (keepdim=True on the sum).")
            raise Mismatch(f"on {case} the rows of your P sum to {out.sum(-1).tolist()} and differ from Eq. 3.")
        return "Eq. 3 (softmax) matches staner_lab.functional.softmax, also for scores near 1000."

    return report("Eq. 3", body)


def check_cross_entropy(student_fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Eq. 4, ``student_fn(P, y) -> loss``: -sum_i y_i ln P_i for class indices y, averaged over the batch."""

    def body() -> str:
        g = gen(5)
        P = Fn.softmax(torch.randn(4, 7, generator=g, dtype=DTYPE))
        y = torch.tensor([0, 3, 6, 3])
        cases = [("random P (4, 7) and labels [0, 3, 6, 3]", P, y),
                 ("a confident correct P", Fn.softmax(torch.tensor([[9.0, 0.0, 0.0]], dtype=DTYPE)),
                  torch.tensor([0])),
                 ("uniform P over 7 classes", torch.full((2, 7), 1 / 7, dtype=DTYPE), torch.tensor([1, 5]))]
        for case, P_, y_ in cases:
            out = tensor(call(student_fn, (P_.clone(), y_.clone()), case, "your cross-entropy"), case, "the loss")
            want = Fn.cross_entropy(P_, y_)
            if out.numel() == 1 and close(out.reshape(1), want.reshape(1)):
                continue
            per_sample = -P_.gather(1, y_[:, None])[:, 0].log()
            if out.shape == per_sample.shape and close(out, per_sample) and len(y_) > 1:
                raise Mismatch(f"your loss is one value per example {shape(out)}; that is Eq. 4 for each "
                               "example. The library (and training) use its mean over the batch: add .mean().")
            if out.numel() == 1 and close(out.reshape(1), -want.reshape(1)):
                raise Mismatch("the sign: Eq. 4 has a minus, Loss = -sum y_i ln P_i, so the loss is >= 0.")
            if out.numel() == 1 and close(out.reshape(1), (want * len(y_)).reshape(1)) and len(y_) > 1:
                raise Mismatch("you summed over the batch; average instead (the library's loss is the mean).")
            if out.numel() == 1 and close(out.reshape(1), (want / math.log(10)).reshape(1)):
                raise Mismatch("you used log10; Eq. 4 uses the natural logarithm ln.")
            if out.numel() == 1 and close(out.reshape(1), (-(1 - P_).gather(1, y_[:, None]).log().mean()).reshape(1)):
                raise Mismatch("you used ln(1 - P) of the true class; Eq. 4 is -ln P of the true class.")
            if out.numel() != 1:
                raise Mismatch(f"on {case} the loss has shape {shape(out)}; expected one number. With labels "
                               "as indices, y_i is 1 for the true class and 0 elsewhere, so Eq. 4 is -ln P[true "
                               "class] (P.gather(1, y[:, None]) picks it; P[:, y] would pick a B x B block).")
            raise Mismatch(f"on {case} your loss is {out.item():.4f}, expected {want.item():.4f}. y_i is one-hot: "
                           "only ln P of the true class counts.")
        return "Eq. 4 (cross-entropy, mean over the batch) matches staner_lab.functional.cross_entropy."

    return report("Eq. 4", body)
