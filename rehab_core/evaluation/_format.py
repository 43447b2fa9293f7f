"""Numbers as the evaluation's tables print them: never "-0.00" beside real negatives.

A difference of -0.001 printed with ``:+.2f`` reads "-0.00", which looks like a
(tiny) loss where there is none, and "+0.00" would look like a gain. A value
that rounds to zero is printed unsigned ("0.00"); every other value keeps its
sign, so a column of differences still reads at a glance.
"""

from __future__ import annotations

__all__: list[str] = []


def fixed(value: float, decimals: int = 2) -> str:
    """``value`` with ``decimals`` decimals; one that rounds to zero without a minus."""
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def signed(value: float, decimals: int = 2) -> str:
    """``value`` with its sign ("+0.03", "-0.02"); one that rounds to zero unsigned ("0.00")."""
    text = f"{value:+.{decimals}f}"
    return text[1:] if float(text) == 0 else text
