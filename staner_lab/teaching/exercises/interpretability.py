"""Checks for notebook 07 (interpretability): the pointing game against a ground-truth mask, and
integrated gradients as a Riemann sum (completeness)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from staner_lab.teaching.exercises.checking import DTYPE, Mismatch, call, gen, report, shape, tensor

__all__ = ["check_integrated_gradients", "check_pointing_game"]


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
    from staner_lab.explain import pointing_game

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
            got = call(student_fn, (amap.copy(), mask.copy()), case, "your pointing game")
            if not isinstance(got, (bool, np.bool_)):
                raise Mismatch(f"on {case} return True or False, got {type(got).__name__}")
            answers.append(bool(got))
        want = [pointing_game(a, mask) for _, a in maps]
        if answers == want:
            return "the pointing game agrees with staner_lab.explain.pointing_game on 5 maps."
        for hint, variant in _pointing_variants().items():
            if answers == [variant(a, mask) for _, a in maps]:
                raise Mismatch(hint)
        k = next(j for j, (g, w) in enumerate(zip(answers, want)) if g != w)
        raise Mismatch(f"on {maps[k][0]} expected {want[k]}, got {answers[k]}. The mask covers rows 1-2, "
                       "columns 6-8.")

    return report("pointing game", body)


def _path_grads(f: Callable, x: Tensor, baseline: Tensor, alphas: Tensor, start: Tensor | None = None) -> Tensor:
    """Gradients of f at start + alpha (x - start) (default start: the baseline), one row per alpha."""
    start = baseline if start is None else start
    shape = (-1,) + (1,) * (x.dim() - 1)
    path = (start + alphas.reshape(shape) * (x - start)).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(path).sum(), path)
    return grad


def _ig_cases() -> list[tuple[str, Callable, Tensor, Tensor]]:
    g = gen(14)
    w = torch.rand(1, 6, generator=g, dtype=DTYPE) + 0.5
    conv = torch.randn(2, 3, 3, generator=g, dtype=DTYPE)
    A = torch.randn(3, 5, generator=g, dtype=DTYPE)
    B = torch.randn(5, 8, generator=g, dtype=DTYPE)
    x1 = torch.randn(1, 6, generator=g, dtype=DTYPE)
    x2 = torch.rand(1, 2, 3, 3, generator=g, dtype=DTYPE)
    x3 = torch.randn(1, 8, generator=g, dtype=DTYPE)
    return [
        ("f(x) = sum w x^2 on x of shape (1, 6), a random baseline", lambda z: (w * z ** 2).sum(-1), x1,
         torch.randn(1, 6, generator=g, dtype=DTYPE)),
        ("a sigmoid of a weighted image (1, 2, 3, 3), a blurred-like baseline",
         lambda z: torch.sigmoid((z * conv).sum((1, 2, 3)) * 2), x2, x2.mean() + 0.1 * (x2 - x2.mean())),
        ("class 0 of a small softmax network on x of shape (1, 8), baseline x / 2",
         lambda z: torch.softmax(torch.tanh(z @ B.T) @ A.T, dim=-1)[:, 0], x3, x3 / 2),
    ]


def check_integrated_gradients(student_fn: Callable[..., Tensor], steps: int = 64) -> bool:
    """Integrated gradients as a Riemann sum, ``student_fn(f, x, baseline, steps) -> attribution`` (shape of x).

    ``f`` maps a batch of inputs (n, ...) to one number per input (n,); ``x`` and ``baseline`` have a
    batch axis of 1. IG_i = (x_i - x'_i) times the mean over the path x' + α (x - x') of ∂f/∂x_i. Any
    Riemann rule with ``steps`` points passes (left, right, midpoint, trapezoid, linspace(0, 1)): the
    answer must lie within the left/right sums' own error of the exact integral; the attributions
    then sum to f(x) - f(x') (completeness) up to that error.
    """

    def body() -> str:
        worst = 0.0
        for case, f, x, base in _ig_cases():
            got = tensor(call(student_fn, (f, x.clone(), base.clone(), steps), case, "your integrated gradients",
                              "f takes a batch of inputs (n, ...) and returns (n,)"), case, "the attribution")
            exact = (x - base) * _path_grads(f, x, base, (torch.arange(4096, dtype=DTYPE) + 0.5) / 4096).mean(0, keepdim=True)
            rules = (torch.arange(steps, dtype=DTYPE) / steps, torch.arange(1, steps + 1, dtype=DTYPE) / steps,
                     torch.linspace(0, 1, steps, dtype=DTYPE))  # left, right, both ends
            tol = 1.5 * max(float(((x - base) * _path_grads(f, x, base, a).mean(0, keepdim=True) - exact).abs().max())
                            for a in rules) + 1e-9
            if got.shape == exact.shape and float((got - exact).abs().max()) <= tol:
                gap = float(f(x) - f(base))
                worst = max(worst, abs(float(got.sum()) - gap) / max(abs(gap), 1e-12))
                continue
            if got.numel() == exact.numel() and got.shape != exact.shape:
                raise Mismatch(f"on {case} the attribution has shape {shape(got)}; return the shape of x, "
                               f"{shape(exact)} (one value per input element, batch axis kept).")
            if got.shape != exact.shape:
                raise Mismatch(f"on {case} the attribution has shape {shape(got)}, expected the shape of x "
                               f"{shape(exact)}. Average the path gradients over the steps (dim 0), keepdim=True.")
            raise Mismatch(_ig_hint(got, f, x, base, steps, exact, tol))
        return (f"integrated gradients with {steps} steps match the exact integral on 3 functions; completeness: "
                f"the attributions sum to f(x) - f(x') within {worst:.1%}.")

    return report("integrated gradients", body)


def _ig_hint(got: Tensor, f: Callable, x: Tensor, base: Tensor, steps: int, exact: Tensor, tol: float) -> str:
    mid = (torch.arange(steps, dtype=DTYPE) + 0.5) / steps
    mean_grad = _path_grads(f, x, base, mid).mean(0, keepdim=True)
    from_zero = (x - base) * _path_grads(f, x, base, mid, start=torch.zeros_like(x)).mean(0, keepdim=True)
    at_x = (x - base) * _path_grads(f, x, base, torch.ones(1, dtype=DTYPE))
    at_base = (x - base) * _path_grads(f, x, base, torch.zeros(1, dtype=DTYPE))
    mistakes = [
        (mean_grad, "you returned the mean gradient along the path; multiply it by (x - x'), element by element."),
        (x * mean_grad, ("you multiplied by x; IG multiplies by (x - x'), the step from the baseline (the two agree "
                         "only for a black baseline x' = 0).")),
        (steps * exact, f"you summed the {steps} gradients; average them (divide by the number of steps)."),
        (-exact, "the sign: multiply by (x - x'), not (x' - x); the attributions sum to f(x) - f(x')."),
        (at_x, ("you used the gradient at x only (gradient x input); IG averages the gradient along the whole path "
                "from x' to x.")),
        (at_base, "you used the gradient at the baseline only; IG averages it along the whole path from x' to x."),
        (from_zero, ("your path starts at 0 (α x); it starts at the baseline: x' + α (x - x'), α from 0 to 1.")),
    ]
    for value, hint in mistakes:
        if float((got - value).abs().max()) <= max(tol, 1e-6):
            return hint
    total, gap = float(got.sum()), float(f(x) - f(base))
    return (f"your attributions differ from the path integral by up to {float((got - exact).abs().max()):.3g}; "
            f"they sum to {total:.4f} where completeness asks for f(x) - f(x') = {gap:.4f}. Check the path "
            "x' + α (x - x'), the mean of the gradients over the `steps` values of α, and the factor (x - x').")
