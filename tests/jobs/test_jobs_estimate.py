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


@pytest.mark.parametrize(
    ("changes", "shape"),
    [
        ({"representation": "envelope"}, (22, 25)),  # 10 s of 0.4-s frames
        ({"representation": "envelope", "envelope_frame_s": 0.5}, (22, 20)),
        ({"representation": "raw", "resample_sfreq": 250.0}, (22, 2500)),
        ({"representation": "raw", "resample_sfreq": None}, (22, 10_000)),  # the 1000 Hz files
    ],
)
def test_the_lstm_input_shape_follows_the_signal_settings(changes, shape):
    from rehab_core.jobs.estimate import lstm_window_shape
    from rehab_core.signals import SignalSettings

    assert lstm_window_shape(SignalSettings(**changes)) == shape


def test_the_estimate_request_of_a_checked_cohort():
    from pathlib import Path

    from rehab_core.jobs import CohortCheck, estimate_request
    from rehab_core.signals import SignalSettings
    from rehab_core.training import ExperimentSettings

    check = CohortCheck(Path("c"), {"fmri_slices": 700, "signal_seconds": 185.0})
    settings = ExperimentSettings(epochs=7, signal_epochs=20, n_folds=3, test_fraction=0.2)
    request = estimate_request(check, settings, SignalSettings(representation="envelope"), "cpu")
    assert request == {
        "n_slices": 700,
        "image_size": 224,  # the paper's, unless the imaging settings say otherwise
        "n_windows": 18,  # whole 10-s windows
        "window_shape": (22, 25),
        "epochs": 7,
        "signal_epochs": 20,
        "n_folds": 3,
        "test_fraction": 0.2,
        "device": "cpu",
    }
    empty = CohortCheck(Path("c"), {"fmri_slices": 0, "signal_seconds": 0.0})
    assert estimate_request(empty, settings, SignalSettings(), "cpu")["n_windows"] == 1


def _devices(n_gpus: int):
    from rehab_core.training.devices import DeviceInfo

    gpus = [
        DeviceInfo(kind="cuda", torch_device=f"cuda:{i}", name="H200", index=i, uuid=f"GPU-{i}")
        for i in range(n_gpus)
    ]
    return [*gpus, DeviceInfo(kind="cpu", torch_device="cpu", name="test CPU", n_cores=16)]


@pytest.mark.parametrize(
    ("device", "n_gpus", "n_folds", "expected"),
    [
        ("folds", 2, 5, ("cuda:0", 1, 2)),  # 3 rounds of members on the busiest GPU
        ("folds", 4, 3, ("cuda:0", 1, 3)),  # one GPU is left without a fold
        ("folds", 1, 5, ("cuda:0", 1, 1)),
        ("ddp", 2, 5, ("cuda:0", 2, 1)),
        ("ddp", 4, 5, ("cuda:0", 4, 1)),
        ("cuda", 2, 5, ("cuda:0", 1, 1)),
        ("auto", 2, 5, ("cuda:0", 1, 2)),  # 'auto' spreads the folds over the free GPUs
        ("auto", 1, 5, ("cuda:0", 1, 1)),
        ("auto", 0, 5, ("cpu", 1, 1)),
        ("cpu", 4, 5, ("cpu", None, None)),  # a device of its own is left as it is
    ],
)
def test_the_estimate_times_the_job_as_it_will_be_scheduled(device, n_gpus, n_folds, expected):
    from rehab_core.jobs.estimate import resolve_job_device

    request = {"device": device, "n_folds": n_folds, "epochs": 3}
    got = resolve_job_device(request, devices=_devices(n_gpus))
    assert (got["device"], got.get("n_processes"), got.get("fold_gpus")) == expected
    assert got["n_folds"] == n_folds and got["epochs"] == 3
    assert request["device"] == device  # the caller's request is not changed


def test_the_estimate_counts_the_slices_and_size_the_job_will_train_on():
    """The shipped budget (112 px, z -40..+40 mm every second slice) trains on far fewer,
    smaller slices than every slice at 224 px: the estimate follows the imaging settings."""
    from pathlib import Path

    from rehab_core.imaging import ImagingSettings
    from rehab_core.jobs import CohortCheck, estimate_request
    from rehab_core.jobs.estimate import slices_per_cohort
    from rehab_core.signals import SignalSettings
    from rehab_core.training import ExperimentSettings

    summary = {"fmri_slices": 3500, "n_readable_fmri": 100, "signal_seconds": 600.0}
    band = ImagingSettings(image_size=112, slice_range_mm=(-40.0, 40.0), slice_step=2)
    # 21 heights of the 4-mm template grid from -40 to +40 mm, every second one: 11 per run
    assert slices_per_cohort(summary, band) == 1100
    assert slices_per_cohort(summary, ImagingSettings()) == 3500
    assert slices_per_cohort(summary, ImagingSettings(slice_step=3)) == 1167
    wide = ImagingSettings(slice_range_mm=(-200.0, 200.0))  # wider than any run: every slice
    assert slices_per_cohort(summary, wide) == 3500
    check = CohortCheck(Path("c"), summary)
    request = estimate_request(check, ExperimentSettings(), SignalSettings(), "cpu", band)
    assert (request["n_slices"], request["image_size"]) == (1100, 112)
