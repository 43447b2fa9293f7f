"""One validation helper for the whole package (after MNE's ``_check_option``).

Every public function that takes a choice or a bounded number checks it here,
so that a wrong value is always reported the same way: the parameter's name,
what was allowed and what was given.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

__all__ = ["check_int", "check_option", "check_positive", "check_range"]


def check_option(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise ``ValueError``.

    The message names the parameter, lists the allowed values and, for
    strings, suggests the closest allowed one ("did you mean ...?").
    """
    allowed = list(allowed)
    if value in allowed:
        return value
    hint = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(value, [str(a) for a in allowed], n=1)
        if close:
            hint = f" Did you mean {close[0]!r}?"
    listed = ", ".join(repr(a) for a in allowed)
    raise ValueError(f"{name}={value!r} is not allowed; choose one of {listed}.{hint}")


def check_positive(name: str, value: float, *, strict: bool = True) -> float:
    """Return ``value`` if it is a positive (or, with ``strict=False``, non-negative) number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}.")
    if value != value or (value <= 0 if strict else value < 0):
        kind = "positive" if strict else "non-negative"
        raise ValueError(f"{name}={value!r} must be {kind}.")
    return value


def check_range(name: str, value: float, low: float, high: float) -> float:
    """Return ``value`` if ``low <= value <= high``, else raise ``ValueError``."""
    if not (low <= value <= high):
        raise ValueError(f"{name}={value!r} must lie between {low} and {high}.")
    return value


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as ``int`` if it is a whole number within ``[low, high]``.

    ``bool`` is refused (``True`` is an ``int`` to Python, never a count to a
    user); numpy integers are accepted. ``TypeError`` for a non-integer,
    ``ValueError`` naming the parameter and its bounds for one out of range.
    """
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a whole number, got {value!r}.")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            bound = f"at least {low}"
        elif low is None:
            bound = f"at most {high}"
        else:
            bound = f"between {low} and {high}"
        raise ValueError(f"{name}={value!r} must be {bound}.")
    return value
