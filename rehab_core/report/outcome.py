"""The call shown to a clinician: good, poor, or borderline (not a firm call).

One rule for the Prediction page, the PDF and ``rehab predict``: a
probability within :data:`BORDERLINE_MARGIN` of the threshold, or a predicted
3-month FMA-LE whose 95 % interval spans the good-outcome cut-off
(:data:`FMA_GOOD_ABOVE`), is "borderline" rather than good or poor. The
model's own ``label`` (good or poor at the threshold) is stored unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["BORDERLINE_MARGIN", "FMA_GOOD_ABOVE", "OutcomeCall", "outcome_call", "prediction_call"]

BORDERLINE_MARGIN = 0.10
"""A probability closer than this to the threshold is borderline (|p − threshold| < margin)."""
FMA_GOOD_ABOVE = 17
"""A good outcome is a 3-month lower-limb FMA-LE above this (of 34)."""


@dataclass(frozen=True)
class OutcomeCall:
    """``call`` is ``"good"``, ``"poor"`` or ``"borderline"``; ``reasons`` say why borderline."""

    call: str
    reasons: tuple[str, ...] = ()

    @property
    def borderline(self) -> bool:
        return self.call == "borderline"

    @property
    def title(self) -> str:
        """``"Good recovery"``, ``"Poor recovery"`` or ``"Borderline"``."""
        return "Borderline" if self.borderline else f"{self.call.capitalize()} recovery"


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def outcome_call(
    probability: float,
    threshold: float,
    fma_interval: Sequence[float | None] | None = None,
    *,
    margin: float = BORDERLINE_MARGIN,
) -> OutcomeCall:
    """Good, poor or borderline, with the reasons for a borderline call.

    Parameters
    ----------
    probability, threshold : float
        The fused probability of a good outcome and the model's threshold.
    fma_interval : (low, high) or None
        The predicted 3-month FMA-LE's 95 % interval; ``None`` or NaN ends
        (no baseline FMA-LE) leave it out of the rule.
    margin : float
        Borderline when ``|probability - threshold| < margin`` (exactly
        ``margin`` away is a firm call).

    Returns
    -------
    OutcomeCall
        Borderline when the probability is within ``margin`` of the
        threshold or the interval holds scores on both sides of the cut-off
        (``low <= 17 < high``); otherwise good at or above the threshold,
        poor below it.
    """
    reasons = []
    # rounded so that 0.6 against 0.5 is exactly 0.10 away, not 0.0999...
    if round(abs(float(probability) - float(threshold)), 9) < margin:
        reasons.append(
            f"the probability {probability:.2f} is within {margin:.2f} of the threshold "
            f"{threshold:.2f}"
        )
    low, high = (list(fma_interval or ()) + [None, None])[:2]
    low, high = _finite(low), _finite(high)
    if low is not None and high is not None and low <= FMA_GOOD_ABOVE < high:
        reasons.append(
            f"the predicted FMA-LE's 95 % interval ({low:.0f}–{high:.0f}) spans the cut-off "
            f"{FMA_GOOD_ABOVE}"
        )
    if reasons:
        return OutcomeCall("borderline", tuple(reasons))
    return OutcomeCall("good" if probability >= threshold else "poor")


def prediction_call(prediction: Mapping[str, Any]) -> OutcomeCall:
    """:func:`outcome_call` of a stored prediction (``Prediction.to_dict()``)."""
    return outcome_call(
        float(prediction["probability_good"]),
        float(prediction["threshold"]),
        prediction.get("fma_interval"),
    )
