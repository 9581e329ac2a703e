"""What every exercise check shares: the verdict lines, calling the student's function, comparing tensors.

A check's body raises :class:`Mismatch` (with the hint to print) or :class:`NotDone`; :func:`report`
turns that into one printed line and a bool. Under :func:`graded` (the autograded cells of the
nbgrader course, docs/teaching.md) a check that does not pass also raises, after printing the same
line, so the cell loses its points and the feedback shows the hint.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["DTYPE", "NOT_DONE", "OK", "WRONG", "CheckFailed", "Mismatch", "NotDone", "call", "close", "gen",
           "graded", "report", "shape", "tensor"]

OK, WRONG, NOT_DONE = "✅ correct", "❌ not quite", "⏳ not done yet"
DTYPE = torch.float64


class Mismatch(Exception):
    """Raised inside a check with the hint to print."""


class NotDone(Exception):
    pass


class CheckFailed(AssertionError):
    """A check that did not pass, under :func:`graded`: its message is the line the student saw."""


_grading = False


@contextlib.contextmanager
def graded() -> Iterator[None]:
    """Inside: a check that does not pass raises :class:`CheckFailed` (after printing its hint)."""
    global _grading
    before, _grading = _grading, True
    try:
        yield
    finally:
        _grading = before


def report(name: str, body: Callable[[], str]) -> bool:
    """Run a check body; print one line and return whether it passed (under :func:`graded`: raise)."""
    try:
        message = body()
    except NotDone as exc:
        line = f"{NOT_DONE}: {exc}"
    except Mismatch as exc:
        line = f"{WRONG} ({name}): {exc}"
    else:
        print(f"{OK}: {message}")
        return True
    print(line)
    if _grading:
        raise CheckFailed(line)
    return False


def call(fn: Callable, args: tuple, case: str, fname: str, error_hint: str = "") -> Any:
    """Call the student's function; turn NotImplementedError into "not done", other errors into a hint."""
    if fn is None or fn is Ellipsis:
        raise NotDone(f"{fname} is not defined yet; write it in the exercise cell above")
    try:
        return fn(*args)
    except NotImplementedError:
        raise NotDone(f"{getattr(fn, '__name__', fname)} still raises NotImplementedError; replace the "
                      "`raise` with your code") from None
    except Exception as exc:  # noqa: BLE001 - any student error becomes a hint
        raise Mismatch(f"your function raised {type(exc).__name__} on {case}: {exc}"
                       + (f". {error_hint}" if error_hint else "")) from None


def tensor(value: Any, case: str, what: str) -> Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, Tensor):
        raise Mismatch(f"on {case} {what} should be a torch.Tensor, got {type(value).__name__}")
    return value.to(DTYPE)


def close(a: Tensor, b: Tensor, tol: float = 1e-6) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a.to(DTYPE), b.to(DTYPE), rtol=tol, atol=tol))


def shape(t: Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
