"""Numbers as tables and pages print them: never "-0.00" beside real negatives.

A difference of -0.001 printed with ``:+.2f`` reads "-0.00", which looks like a
(tiny) loss where there is none, and "+0.00" would look like a gain. A value
that rounds to zero is printed unsigned ("0.00"); every other value keeps its
sign, so a column of differences still reads at a glance. The evaluation's
tables (:mod:`rehab_core.evaluation`) and the pages' numbers
(:func:`rehab_core.report.format_number`) share these.
"""

from __future__ import annotations

__all__: list[str] = []


def _rounds_to_zero(text: str) -> bool:
    """Whether a formatted number shows no digit but zeros (its exponent aside)."""
    return not any(c in "123456789" for c in text.split("e")[0])


def unsigned_zero(text: str) -> str:
    """A formatted number without the minus of a value that rounds to zero ("-0.000")."""
    return text[1:] if text.startswith("-") and _rounds_to_zero(text) else text


def fixed(value: float, decimals: int = 2) -> str:
    """``value`` with ``decimals`` decimals; one that rounds to zero without a minus."""
    return unsigned_zero(f"{value:.{decimals}f}")


def signed(value: float, decimals: int = 2) -> str:
    """``value`` with its sign ("+0.03", "-0.02"); one that rounds to zero unsigned ("0.00")."""
    text = f"{value:+.{decimals}f}"
    return text[1:] if _rounds_to_zero(text) else text
