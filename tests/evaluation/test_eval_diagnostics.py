"""row_diagnostics: each row's calibration and decision curve, as the functions compute them."""

import json

import numpy as np
import pytest

from rehab_core.evaluation import (
    EvaluationSettings,
    ModelResult,
    calibration_slope_intercept,
    decision_curve,
    diagnostics_markdown,
    row_diagnostics,
)


def _rows():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 30)
    p = np.clip(0.5 + 0.3 * (2 * y - 1) + rng.normal(0, 0.25, 30), 0.01, 0.99)
    return [
        ModelResult("ShuffleNet", "image", y, p),
        ModelResult("LSTM", "signal", y[:10], p[:10]),
        ModelResult("Clinical", "fusion", np.ones(4, int), [0.6, 0.7, 0.8, 0.9]),
    ]


def test_each_row_gets_the_calibration_and_decision_curve_of_its_own_scores():
    settings = EvaluationSettings(n_boot=200, seed=4)
    rows = _rows()
    out = row_diagnostics(rows, settings)
    assert [(d["group"], d["name"]) for d in out] == [(r.group, r.name) for r in rows]
    for d, r in zip(out[:2], rows[:2], strict=True):
        assert d["decision_curve"] == decision_curve(r.y_true, r.p_good)
        direct = calibration_slope_intercept(
            r.y_true, r.p_good, n_boot=200, seed=4, ci=0.95, stratify=True
        )
        assert json.dumps(d["calibration"], sort_keys=True) == json.dumps(direct, sort_keys=True)
        assert d["n"] == len(r.y_true)
    assert out[0]["decision_curve"]["treat_all"][0] == pytest.approx(
        rows[0].y_true.mean() - (1 - rows[0].y_true.mean()) * 0.05 / 0.95
    )


def test_a_row_with_one_outcome_has_no_curves_and_says_why():
    out = row_diagnostics(_rows()[2:], EvaluationSettings(n_boot=50))
    assert out[0]["calibration"] is None and out[0]["decision_curve"] is None
    assert "one outcome only" in out[0]["reason"]


def test_markdown_lists_calibration_net_benefit_and_treat_all():
    md = diagnostics_markdown(row_diagnostics(_rows(), EvaluationSettings(n_boot=50)))
    assert "| Table 1 | ShuffleNet | 30 |" in md
    assert "NB at 0.5" in md and "Treat all" in md and "Treat none" in md
    assert diagnostics_markdown([]) == ""
