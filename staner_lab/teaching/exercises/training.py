"""Checks for the training exercises: Eq. 15 and one optimiser step (notebook 05), C2 against C3 (notebook 06).

The optimiser step is replayed on a small classroom STANER (seeded, plain SGD) with one deliberate
change at a time (no zero_grad, no backward, the fused P as the loss, one branch only) to name the
mistake; the C2/C3 runs are re-scored by the check on the held-out people.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from staner_lab import functional as Fn
from staner_lab.teaching.exercises.checking import (
    DTYPE,
    Mismatch,
    call,
    close,
    gen,
    report,
    shape,
    tensor,
)

__all__ = ["check_c2_c3", "check_eq15", "check_train_step"]


def _ce(logits: Tensor, y: Tensor) -> Tensor:
    return Fn.cross_entropy_from_logits(logits, y)


def check_eq15(student_fn: Callable[[Tensor, Tensor, Tensor], Tensor]) -> bool:
    """Eq. 15, ``student_fn(logits_G, logits_L, y) -> Loss = Loss_G + Loss_T``, from the scores of both branches.

    Each term is Eq. 4 / Eq. 13 (cross-entropy of the softmax, mean over the batch); compared with
    ``STANER.loss`` (``functional.cross_entropy_from_logits`` twice, summed), also on scores near
    ±1000 where softmax-then-log gives ln 0.
    """

    def body() -> str:
        g = gen(13)
        y = torch.tensor([0, 3, 6, 3])
        cases = [("random scores (4, 7)", torch.randn(4, 7, generator=g, dtype=DTYPE),
                  torch.randn(4, 7, generator=g, dtype=DTYPE) * 2, y),
                 ("one example, 3 classes", torch.tensor([[2.0, 0.5, -1.0]], dtype=DTYPE),
                  torch.tensor([[0.0, 1.0, 0.0]], dtype=DTYPE), torch.tensor([1])),
                 ("confident scores near ±1000 (one branch sure of a wrong class)",
                  torch.randn(4, 7, generator=g, dtype=DTYPE) * 500, torch.randn(4, 7, generator=g, dtype=DTYPE), y)]
        for case, zG, zL, y_ in cases:
            out = tensor(call(student_fn, (zG.clone(), zL.clone(), y_.clone()), case, "your Eq. 15"), case, "the loss")
            want = _ce(zG, y_) + _ce(zL, y_)
            if out.numel() == 1 and close(out.reshape(()), want):
                continue
            if out.numel() != 1:
                raise Mismatch(f"on {case} the loss has shape {shape(out)}; return one number: each branch's "
                               "cross-entropy averaged over the batch, then summed.")
            v = out.reshape(())
            if not torch.isfinite(v):
                raise Mismatch(f"on {case} your loss is {v.item()}: softmax then log gives ln 0 when a class's "
                               "probability underflows. Take the log-softmax of the scores (torch.log_softmax or "
                               "F.cross_entropy on the scores), as the library does.")
            P = 0.5 * Fn.softmax(zG) + 0.5 * Fn.softmax(zL)
            mistakes = [
                (-v, "the sign: each cross-entropy is -ln P(true class) >= 0."),
                (-P.gather(1, y_[:, None]).log().mean(),
                 ("that is the cross-entropy of the fused P of Eq. 14. Eq. 15 sums each branch's own loss, "
                  "Loss_G + Loss_T, so each branch is trained to classify on its own.")),
                (want / 2, "you averaged the two losses; Eq. 15 sums them: Loss = Loss_G + Loss_T."),
                (_ce(zG, y_), "only Loss_G (SGAER): add Loss_T of the TLER scores."),
                (_ce(zL, y_), "only Loss_T (TLER): add Loss_G of the SGAER scores."),
                (want * len(y_), "you summed over the batch; each loss is the mean over the batch (as in training)."),
                (_ce(Fn.softmax(zG), y_) + _ce(Fn.softmax(zL), y_),
                 ("you applied the softmax twice: cross_entropy_from_logits (and F.cross_entropy) take the SCORES "
                  "and apply the softmax themselves.")),
                (-(zG.gather(1, y_[:, None]).mean() + zL.gather(1, y_[:, None]).mean()),
                 "you took -score of the true class; Eq. 4 is -ln P, with P the softmax of the scores."),
            ]
            for value, hint in mistakes:
                if close(v, value.reshape(())) and not close(value.reshape(()), want):
                    raise Mismatch(hint)
            raise Mismatch(f"on {case} your loss is {v.item():.4f}, expected {want.item():.4f} = Loss_G "
                           f"{_ce(zG, y_).item():.4f} + Loss_T {_ce(zL, y_).item():.4f}.")
        return "Eq. 15: Loss_G + Loss_T from the scores, stable near ±1000, equals STANER.loss."

    return report("Eq. 15", body)


# --- one optimiser step ----------------------------------------------------------------------------

_LR = 0.05


def _params(model: torch.nn.Module) -> list[Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _same(a: list[Tensor], b: list[Tensor], tol: float = 1e-5) -> bool:
    return all(torch.allclose(x, y, rtol=tol, atol=tol) for x, y in zip(a, b))


def _snapshot(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy with the leftover gradients (deepcopy alone drops .grad)."""
    twin = copy.deepcopy(model)
    for p, q in zip(twin.parameters(), model.parameters()):
        p.grad = None if q.grad is None else q.grad.clone()
    return twin


def _reference_step(start: torch.nn.Module, batch, seed: int, kind: str = "right") -> tuple[list[Tensor], float]:
    """One SGD step from a copy of ``start`` (its leftover .grad included), done right or with one
    deliberate change; returns the parameters after it and the loss before it."""
    model = _snapshot(start)
    opt = torch.optim.SGD(model.parameters(), lr=_LR)
    torch.manual_seed(seed)
    if kind != "no_zero_grad":
        opt.zero_grad()
    out = model(batch[0], batch[1])
    loss = Fn.cross_entropy(out.P, batch[2]) if kind == "fused" else model.loss(out, batch[2])
    loss.backward()
    opt.step()
    return _params(model), loss.item()


def check_train_step(student_fn: Callable[..., Any]) -> bool:
    """One optimiser step, ``student_fn(model, optimizer, peak, regions, y) -> loss`` (the loss before the step).

    Run twice in a row on a small classroom STANER with ``torch.optim.SGD``; after each call the
    parameters are compared with zero_grad -> forward -> Eq. 15 (``model.loss``) -> backward -> step
    taken from the same starting point (so rounding differences do not pile up over steps).
    """
    from staner_lab.config import preset
    from staner_lab.models import STANER

    def body() -> str:
        torch.manual_seed(0)
        model = STANER(preset("classroom")).train()
        peak, regions = model.example_inputs(batch_size=4)
        y = torch.tensor([0, 3, 6, 3])
        batch = (peak, regions, y)
        opt = torch.optim.SGD(model.parameters(), lr=_LR)
        start = _params(model)
        losses = []
        for k in range(2):
            case = "the first step" if k == 0 else "a second step right after the first"
            before_model = _snapshot(model)
            before = _params(model)
            want, want_loss = _reference_step(before_model, batch, 100 + k)
            torch.manual_seed(100 + k)
            got = call(student_fn, (model, opt, peak, regions, y), case, "your training step")
            if not model.training:
                raise Mismatch("your step switched the model to eval mode; training runs in train mode "
                               "(dropout and batch normalisation behave differently in eval mode).")
            now = _params(model)
            if _same(now, before, 0.0):
                grads = [p.grad for p in model.parameters() if p.grad is not None]
                if not grads:
                    raise Mismatch("the parameters did not change and hold no gradient: call loss.backward(), then "
                                   "optimizer.step(); optimizer.zero_grad() goes before the forward pass, not "
                                   "between backward and step (it erases the gradients).")
                if all(float(gr.abs().max()) == 0.0 for gr in grads):
                    raise Mismatch("the parameters did not change and the gradients are zero: zero_grad() comes "
                                   "before the forward pass (or before backward), not between backward and step.")
                raise Mismatch("the parameters did not change: call optimizer.step() after loss.backward().")
            if _same(now, want):
                try:
                    value = float(got)
                except (TypeError, ValueError):
                    raise Mismatch(f"on {case} return the loss as a number (loss.item()), got "
                                   f"{type(got).__name__}") from None
                if not math.isclose(value, want_loss, rel_tol=1e-4):
                    raise Mismatch(f"the step is right but you returned {value:.4f}; return the loss of this step's "
                                   f"forward pass, before the update ({want_loss:.4f}).")
                losses.append(value)
                continue
            if k == 1 and _same(now, _reference_step(before_model, batch, 100 + k, "no_zero_grad")[0]):
                raise Mismatch("the first step is right, the second is not: the gradients of step 1 were added to "
                               "those of step 2. Call optimizer.zero_grad() at the start of every step.")
            if _same(now, _reference_step(before_model, batch, 100 + k, "fused")[0]):
                raise Mismatch("you minimised the cross-entropy of the fused P (Eq. 14); training minimises "
                               "Eq. 15, Loss_G + Loss_T (model.loss(out, y)).")
            for name, missing in (("sgaer", "Loss_G (SGAER)"), ("tler", "Loss_T (TLER)")):
                if _same(_params(getattr(model, name)), _params(getattr(before_model, name)), 0.0):
                    raise Mismatch(f"the {name.upper()} branch did not move: its loss {missing} is missing from "
                                   "the sum. Use Eq. 15, model.loss(out, y).")
            raise Mismatch(f"after {case} your parameters differ from zero_grad -> forward -> model.loss -> backward "
                           "-> step (largest difference "
                           f"{max(float((a - b).abs().max()) for a, b in zip(now, want)):.2e}).")
        moved = max(float((a - b).abs().max()) for a, b in zip(_params(model), start))
        return (f"your step equals zero_grad -> forward -> Eq. 15 -> backward -> step, twice in a row (largest "
                f"parameter change {moved:.1e}); the loss went {losses[0]:.4f} -> {losses[1]:.4f}.")

    return report("training step", body)


# --- C2 against C3 -----------------------------------------------------------------------------------


def _variant_of(model) -> str:
    """Which Table 1 variant a model's branches make: C1 ... C4 or STANER."""
    sg, tl = getattr(model, "sgaer", None), getattr(model, "tler", None)
    attention = sg is not None and sg.attention is not None
    if sg is not None and tl is not None:
        return "STANER" if attention else "C4"
    if tl is not None:
        return "C2"
    return "C3" if attention else "C1" if sg is not None else "none"


_VARIANTS = {"C1": "SGAER without attention alone", "C2": "TLER alone", "C3": "SGAER with attention alone",
             "C4": "SGAER without attention fused with TLER", "STANER": "the full STANER (both branches)",
             "none": "no branch"}


def check_c2_c3(student_fn: Callable[..., Any], train: Sequence, held_out: Sequence, epochs: int = 1) -> bool:
    """``student_fn(variant, train, held_out, epochs) -> (model, accuracy)`` for the Table 1 variants C2 and C3.

    The check calls it with ``epochs`` (1 by default: only the protocol is checked, not what the model
    learns), looks at the returned model's branches (C2: TLER alone; C3: SGAER with attention
    alone) and re-scores the model on ``held_out`` (multi-class accuracy, eval mode).

    The held-out people's sequences of one class are left out of what the student's function gets:
    after one epoch a model often predicts one class for every face, and on class-balanced data it
    then scores the same on the training people as on the held-out ones, which would hide scoring on
    the wrong people.
    """
    from staner_lab.models import STANER
    from staner_lab.teaching.notebook import predictions

    classes = sorted({int(s.label) for s in held_out})
    if len(classes) > 1:
        held_out = [s for s in held_out if int(s.label) != classes[-1]]

    def body() -> str:
        seen = []
        for variant in ("C2", "C3"):
            case = f"variant {variant!r}"
            got = call(student_fn, (variant, list(train), list(held_out), epochs), case, "train_variant")
            if not (isinstance(got, (tuple, list)) and len(got) == 2):
                raise Mismatch(f"for {case} return (model, accuracy), got {type(got).__name__}")
            model, acc = got
            if not isinstance(model, STANER):
                raise Mismatch(f"for {case} the first element should be the trained STANER model, got "
                               f"{type(model).__name__}")
            kind = _variant_of(model)
            if kind != variant:
                swap = " Are C2 and C3 swapped?" if {kind, variant} == {"C2", "C3"} else ""
                raise Mismatch(f"your {variant} model is {_VARIANTS[kind]} ({kind}); {variant} is {_VARIANTS[variant]}."
                               f"{swap} Build it with STANER(ablation_config(cfg, variant)).")
            norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
            if norms and all(int(m.num_batches_tracked) == 0 for m in norms):
                raise Mismatch(f"your {variant} model has never seen a training batch (its batch-norm statistics are "
                               "untouched): train it with fit(model, StanerDataset(train, ...), ...) before scoring.")
            if any(m is model for m in seen):
                raise Mismatch("both variants returned the same model object; build a new model for each.")
            seen.append(model)
            try:
                acc = float(acc)
            except (TypeError, ValueError):
                raise Mismatch(f"for {case} the accuracy should be a number, got {type(acc).__name__}") from None
            right = predictions(model, held_out).accuracy
            if math.isclose(acc, right, abs_tol=1e-6):
                continue
            if math.isclose(acc, 100 * right, abs_tol=1e-4):
                raise Mismatch("that accuracy is a percentage; return a fraction in [0, 1].")
            on_train = predictions(model, train).accuracy
            if math.isclose(acc, on_train, abs_tol=1e-6):
                raise Mismatch(f"for {case} you scored the model on its training people ({acc:.3f}); score it on "
                               f"the held-out people ({right:.3f}): Table 1 measures recognition of new faces.")
            raise Mismatch(f"for {case} you report {acc:.3f}, but the model scores {right:.3f} on the held-out people "
                           "(eval mode, argmax of P). Score the returned model on held_out after training, e.g. "
                           "nb.predictions(model, held_out).accuracy.")
        return (f"C2 is TLER alone, C3 is SGAER with attention alone, each trained and scored on the "
                f"{len(held_out)} held-out sequences ({epochs} epoch(s) in this check).")

    return report("C2 and C3", body)
