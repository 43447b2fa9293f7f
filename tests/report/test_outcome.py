"""The good / poor / borderline rule shared by the page, the PDF and ``rehab predict``."""

from __future__ import annotations

import math

import pytest

from rehab_core.report import (
    BORDERLINE_MARGIN,
    FMA_GOOD_ABOVE,
    call_text,
    outcome_call,
    prediction_call,
)


def test_the_stated_margin_and_cut_off():
    assert BORDERLINE_MARGIN == 0.10
    assert FMA_GOOD_ABOVE == 17


@pytest.mark.parametrize(
    ("probability", "expected"),
    [
        (0.39, "poor"),
        (0.40, "poor"),  # exactly the margin away: a firm call
        (0.41, "borderline"),
        (0.50, "borderline"),
        (0.53, "borderline"),
        (0.59, "borderline"),
        (0.60, "good"),  # 0.6 - 0.5 is 0.0999... in floating point; still exactly the margin
        (0.61, "good"),
    ],
)
def test_probability_near_the_threshold_is_borderline(probability, expected):
    assert outcome_call(probability, 0.5).call == expected


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        ((5.0, 30.0), "borderline"),  # the example: 5-30 spans 17
        ((17.0, 30.0), "borderline"),  # 17 is poor, 18 good: both sides
        ((16.9, 17.1), "borderline"),
        ((17.5, 30.0), "good"),  # all above the cut-off
        ((5.0, 17.0), "good"),  # all at or below 17: no score on the good side
        ((None, None), "good"),  # no baseline FMA-LE: no interval to judge
        ((math.nan, math.nan), "good"),
        (None, "good"),
    ],
)
def test_fma_interval_spanning_the_cut_off_is_borderline(interval, expected):
    assert outcome_call(0.8, 0.5, interval).call == expected


def test_reasons_name_both_causes_and_the_title():
    call = outcome_call(0.53, 0.5, (5, 30))
    assert call.borderline and call.title == "Borderline"
    assert call.reasons == (
        "the probability 0.53 is within 0.10 of the threshold 0.50",
        "the predicted FMA-LE's 95 % interval (5–30) spans the cut-off 17",
    )
    assert outcome_call(0.2, 0.5).title == "Poor recovery"
    assert outcome_call(0.2, 0.5).reasons == ()


def test_margin_and_threshold_are_parameters():
    assert outcome_call(0.35, 0.3, margin=0.01).call == "good"
    assert outcome_call(0.35, 0.3).call == "borderline"
    assert outcome_call(0.25, 0.3, margin=0.01).call == "poor"


def test_stored_prediction_and_its_text():
    stored = {"probability_good": 0.53, "threshold": 0.5, "label": "good", "fma_interval": None}
    assert prediction_call(stored).call == "borderline"
    assert call_text(stored) == (
        "BORDERLINE, not a firm good or poor call: the probability 0.53 is within 0.10 of "
        "the threshold 0.50"
    )
    stored.update(probability_good=0.9, fma_interval=[18, 30])
    assert call_text(stored) == "GOOD recovery expected (probability ≥ threshold 0.50)"
