"""The training-time estimate measured in a child process (never in the web server)."""

from __future__ import annotations

import math

import pytest

from rehab_core.jobs import estimate_in_subprocess


# a child process that times real training steps of two models
@pytest.mark.slow
@pytest.mark.processes
def test_estimate_runs_in_a_child_and_returns_the_measured_figures():
    result = estimate_in_subprocess(
        ["shufflenet"],
        n_slices=40,
        n_windows=40,
        window_shape=(22, 25),
        epochs=2,
        n_folds=2,
        measure_steps=1,
        device="cpu",
    )
    assert set(result["per_model_s"]) == {"lstm", "shufflenet"}
    assert all(math.isfinite(s) and s > 0 for s in result["per_model_s"].values())
    assert result["total_s"] == pytest.approx(sum(result["per_model_s"].values()))
    assert result["label"].startswith("at most about ") and result["label"].endswith(" on cpu")
    assert result["upper_bound"] is True and result["assumptions"]


def test_a_failed_estimate_is_one_sentence():
    with pytest.raises(RuntimeError, match=r"^The time estimate failed \(.*backbones.*\)\.$"):
        estimate_in_subprocess(
            ["not-a-backbone"],
            n_slices=4,
            n_windows=4,
            window_shape=(22, 25),
            epochs=1,
            n_folds=2,
            device="cpu",
        )
