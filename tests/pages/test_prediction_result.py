"""The Prediction page's result block drawn alone: the borderline call and the synthetic banner.

``pages/_result.py`` draws them for the page; the rules are rehab_core's
(``tests/report/test_outcome.py``, ``tests/report/test_labels.py``).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rehab_core.report import model_card
from rehab_core.storage import BundleManifest

MANIFEST = Path(__file__).resolve().parents[2] / "weights" / "shufflenet_lstm" / "manifest.json"


def _script(out, card, pseudonym):
    from pages._result import show_summary, show_synthetic_banner

    show_synthetic_banner(card, pseudonym)
    show_summary(out)


@pytest.fixture(scope="module")
def synthetic_card():
    return model_card(BundleManifest.from_dict(json.loads(MANIFEST.read_text())))


@pytest.fixture(scope="module")
def real_card():
    raw = BundleManifest.from_dict(json.loads(MANIFEST.read_text())).to_dict()
    raw = copy.deepcopy(raw)
    raw["data"].update(trained_on="real", description="the stroke unit's 2025 cohort")
    return model_card(raw)


def outputs(probability, fma_interval):
    return {
        "probability_good": probability,
        "interval": [probability - 0.01, probability + 0.01],
        "label": "good" if probability >= 0.5 else "poor",
        "threshold": 0.5,
        "signal_score": 0.5,
        "image_score": probability,
        "fusion_weight": 0.15,
        "modality": "fusion",
        "fma_3m": None if fma_interval is None else sum(fma_interval) / 2,
        "fma_interval": fma_interval,
        "window_probabilities": [0.5],
        "slice_probabilities": [probability],
        "notes": [],
    }


def draw(out, card, pseudonym="P-1") -> AppTest:
    at = AppTest.from_function(_script, args=(out, card, pseudonym), default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def call(at):
    return {m.label: m.value for m in at.metric}["Call at the threshold"]


@pytest.mark.parametrize(
    ("probability", "fma_interval", "expected"),
    [
        (0.53, [18, 30], "Borderline"),  # the P = 0.53 against 0.50
        (0.80, [5, 30], "Borderline"),  # the interval 5-30 spans 17
        (0.80, [18, 30], "Good recovery"),
        (0.20, [2, 15], "Poor recovery"),
        (0.20, None, "Poor recovery"),
    ],
)
def test_borderline_is_shown_instead_of_a_firm_call(real_card, probability, fma_interval, expected):
    at = draw(outputs(probability, fma_interval), real_card)
    assert call(at) == expected
    warnings = [w.value for w in at.warning]
    borderline = [w for w in warnings if w.startswith("**Borderline")]
    assert bool(borderline) is (expected == "Borderline")
    if probability == 0.53:
        assert borderline == [
            "**Borderline: not a firm good or poor call.** The probability 0.53 is within "
            "0.10 of the threshold 0.50."
        ]


def test_synthetic_bundle_banner_on_the_result(synthetic_card, real_card):
    out = outputs(0.8, [18, 30])
    banner = "This model was trained on synthetic (simulated) data"
    assert any(w.value.startswith(banner) for w in draw(out, synthetic_card).warning)
    assert not any("synthetic" in w.value for w in draw(out, real_card).warning)
    demo = [w.value for w in draw(out, real_card, "DEMO-0").warning]
    assert demo == ["This is a synthetic demo patient: the recordings are simulated."]
