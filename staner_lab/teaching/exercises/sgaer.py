"""Checks for notebook 02 (SGAER, Eq. 1-4): attention (Eq. 2), global pooling (Eq. 1), softmax, the loss."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from staner_lab import functional as Fn
from staner_lab.teaching.exercises.checking import (
    DTYPE,
    Mismatch,
    NotDone,
    call,
    close,
    gen,
    report,
    shape,
    tensor,
)

__all__ = ["check_attention_module", "check_cross_entropy", "check_eq2", "check_global_pool", "check_softmax"]


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
    err = (out - Fn.apply_attention(U, M)).abs().max().item()
    return (f"on {case} your F differs from (1 + M) ⊗ U by up to {err:.3g}, and it is none of the usual slips "
            "(M ⊗ U, U + M, (1 - M) ⊗ U, 1 + M ⊗ U, a second sigmoid). Check by hand: with M = 0, F must equal U; "
            "with M = 1, F must equal 2U.")


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


def _load_trained(module: torch.nn.Module, trained: torch.nn.Module) -> None:
    """Load the trained attention weights, with or without the library's ``scores.`` prefix."""
    try:
        module.load_state_dict(trained.state_dict())
        return
    except RuntimeError:
        pass
    try:
        module.load_state_dict(trained.scores.state_dict())
    except RuntimeError:
        keys = {k: tuple(v.shape) for k, v in trained.scores.state_dict().items()}
        yours = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        if set(yours) == set(keys):
            raise Mismatch(f"the trained weights do not fit your layers' sizes: they are {keys}, yours {yours}. "
                           "conv3x3 is nn.Conv2d(channels, hidden, kernel_size=3, padding=1), norm "
                           "nn.BatchNorm2d(hidden) and conv1x1 nn.Conv2d(hidden, 1, kernel_size=1).") from None
        raise Mismatch(f"the trained weights do not load into your module: they are stored as {keys}, your module "
                       f"has {yours or 'no parameters'}. Name the layers as they are stored (self.conv3x3, "
                       "self.norm when the trained module has a batch norm, self.conv1x1; an nn.ReLU has no "
                       "weights) so that load_state_dict finds them.") from None


def check_attention_module(student_cls: type, trained: torch.nn.Module) -> bool:
    """Fig. 3 and Eq. 1-2 as a module: ``student_cls(channels, hidden)`` with layers ``conv3x3``, ``norm`` (a
    batch norm, when ``trained`` has one) and ``conv1x1``,
    ``forward(U) -> (M, F)``, loaded with the weights of ``trained`` (the library's spatial
    :class:`~staner_lab.models.AttentionModule`, e.g. ``model.sgaer.attention`` of the shipped checkpoint).

    The student's module, with the trained weights, must give the library's M and F on random U of
    two sizes (one not square).
    """
    import copy

    def body() -> str:
        if student_cls is None or student_cls is Ellipsis:
            raise NotDone("MyAttention is not defined yet; write it in the exercise cell above")
        conv = trained.scores.conv3x3
        C, hidden = conv.in_channels, conv.out_channels
        module = call(student_cls, (C, hidden), f"MyAttention({C}, {hidden})", "your attention module")
        if not isinstance(module, torch.nn.Module):
            raise Mismatch("MyAttention must subclass torch.nn.Module (class MyAttention(nn.Module), and call "
                           "super().__init__() first) so that it holds parameters and loads a state_dict.")
        _load_trained(module, trained)
        module, ref = module.to(DTYPE).eval(), copy.deepcopy(trained).to(DTYPE).eval()
        g = gen(12)
        cases = [("U of shape (2, C, 8, 8)", torch.randn(2, C, 8, 8, generator=g, dtype=DTYPE).relu() * 2),
                 ("U of shape (1, C, 5, 7), not square", torch.randn(1, C, 5, 7, generator=g, dtype=DTYPE).relu())]
        for case, U in cases:
            U_in = U.clone()
            with torch.no_grad():
                got = call(module, (U_in,), case, "your module's forward",
                           "M must keep U's H x W to broadcast in Eq. 2: the 3x3 convolution needs padding=1")
                M_want, F_want = ref(U)
            if not torch.equal(U_in, U):
                raise Mismatch(f"your forward changed U in place on {case} (an in-place ReLU on U, or `U *= ...`); "
                               "F = (1 + M) ⊗ U needs the unchanged U.")
            if isinstance(got, Tensor):
                which = "F" if close(got, F_want) else "M" if close(got, M_want) else "one tensor"
                raise Mismatch(f"your forward returns {which}; return the pair (M, F), as the library's module does.")
            if not (isinstance(got, (tuple, list)) and len(got) == 2):
                raise Mismatch(f"forward should return the pair (M, F), got {type(got).__name__}")
            M, F = tensor(got[0], case, "M"), tensor(got[1], case, "F")
            if close(M, M_want) and close(F, F_want):
                continue
            if close(M, F_want) and close(F, M_want):
                raise Mismatch("you return (F, M); return (M, F): the map first, then the weighted features.")
            if M.shape != M_want.shape:
                hint = (" The 3x3 convolution needs padding=1 to keep H x W." if M.shape[-2:] == (
                    U.shape[-2] - 2, U.shape[-1] - 2) else "")
                raise Mismatch(f"on {case} M has shape {shape(M)}, expected one weight per position "
                               f"{shape(M_want)}.{hint}")
            if not close(M, M_want):
                raise Mismatch(_attention_map_hint(M, U, ref, case))
            raise Mismatch("M is right; F is not. " + _eq2_hint(F, U, M_want, case))
        return (f"your module, loaded with the trained weights ({C} -> {hidden} -> 1 channels), gives the library's "
                "M and F: M = σ(conv1x1(ReLU(norm(conv3x3(U))))) (Eq. 1, Fig. 3), F = (1 + M) ⊗ U (Eq. 2).")

    return report("attention module", body)


def _attention_map_hint(M: Tensor, U: Tensor, ref: torch.nn.Module, case: str) -> str:
    s = ref.scores
    with torch.no_grad():
        raw = s.conv3x3(U)
        mid = s.norm(raw)
        scores = s.conv1x1(mid.relu())
        mistakes = [
            (scores, "M is the raw score: apply the sigmoid of Eq. 1, M = σ(score), so that M lies in [0, 1]."),
            (torch.sigmoid(s.conv1x1(mid)), ("the ReLU between the two convolutions is missing: "
                                             "M = σ(conv1x1(ReLU(conv3x3(U)))).")),
            (torch.sigmoid(scores.relu()), ("the ReLU belongs between the convolutions, not after the 1x1 one "
                                            "(there it cuts every negative score to σ(0) = 0.5).")),
            (torch.softmax(scores.flatten(1), dim=1).reshape(scores.shape),
             "you normalised M over the positions (softmax); Eq. 1 is an element-wise sigmoid, each position on its own."),
            (torch.tanh(scores), "you used tanh; Eq. 1 uses the sigmoid σ, M in [0, 1]."),
            (torch.sigmoid(s.conv1x1(torch.sigmoid(mid))), "the inner non-linearity is a ReLU, not a second sigmoid."),
        ]
        if not isinstance(s.norm, torch.nn.Identity):
            mistakes += [
                (torch.sigmoid(s.conv1x1(raw.relu())), ("the batch norm after the 3x3 convolution is missing: "
                                                       "M = σ(conv1x1(ReLU(norm(conv3x3(U))))).")),
                (torch.sigmoid(s.conv1x1(s.norm(raw.relu()))), "the batch norm comes before the ReLU, not after it."),
            ]
    for value, hint in mistakes:
        if close(M, value):
            return hint
    return (f"on {case} your M differs from σ(conv1x1(ReLU(norm(conv3x3(U))))) by up to {(M - ref(U)[0]).abs().max():.3g}. "
            "Run the layers in that order, each on the previous one's output.")
