"""The value of a benchmark's ``--set KEY=VALUE`` option, typed from its text (shared by the
benchmarks that take one: branch_learning, attention_localisation, leave_uniform)."""

from __future__ import annotations


def parse_value(key: str, text: str) -> bool | int | float | str | None:
    """``true``/``false`` -> bool, ``none`` -> None for grad_clip only (elsewhere "none" is a value,
    e.g. ``input_norm=none``), then int, then float (``1e-3``), else the text itself."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "none" and key == "grad_clip":
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text
