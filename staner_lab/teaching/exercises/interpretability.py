"""Check for notebook 07 (interpretability): the pointing game against a ground-truth mask."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from staner_lab.teaching.exercises.checking import Mismatch, call, report

__all__ = ["check_pointing_game"]


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
