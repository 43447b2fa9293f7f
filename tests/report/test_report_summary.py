"""Labelled lines of a prediction and of its preprocessing QC (shared by the PDF and the page)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rehab_core.report import (
    input_lines,
    patient_lines,
    prediction_lines,
    preprocessing_qc,
    preprocessing_qc_lines,
    probability_text,
)


@pytest.fixture
def prediction():
    return {
        "probability_good": 0.412,
        "interval": [0.35, 0.47],
        "label": "poor",
        "threshold": 0.5,
        "signal_score": None,
        "image_score": 0.412,
        "fusion_weight": 0.15,
        "modality": "image",
        "fma_3m": float("nan"),
        "fma_interval": [float("nan"), float("nan")],
        "window_probabilities": [],
        "slice_probabilities": [0.4, 0.42],
        "notes": ["Image-only prediction: no EEG-EMG recording was given."],
    }


def test_image_only_prediction_lines(prediction):
    lines = dict(prediction_lines(prediction)[:-1])
    assert lines["Call"].startswith("BORDERLINE, not a firm good or poor call: the probability")
    prediction.update(probability_good=0.312, interval=[0.25, 0.37])  # firmly below 0.5
    assert dict(prediction_lines(prediction))["Call"] == (
        "POOR recovery expected (probability < threshold 0.50)"
    )
    prediction.update(probability_good=0.412, interval=[0.35, 0.47])
    assert probability_text(prediction) == "0.41 (model spread 0.35–0.47)"
    assert lines["EEG-EMG score"] == "not used (fMRI-only prediction)"  # not 'no windows'

    assert lines["Fusion weight"] == "not used: fMRI model alone (no usable EEG-EMG)"
    assert lines["FMA-LE at 3 months"] == "not estimated (the baseline FMA-LE is missing)"
    assert lines["Scored"] == "2 fMRI slices"
    assert prediction_lines(prediction)[-1] == (
        "Note",
        "Image-only prediction: no EEG-EMG recording was given.",
    )


def test_patient_and_input_lines():
    assert dict(patient_lines({"pseudonym": "P-1", "age": 70, "sex": None})) == {
        "Pseudonym": "P-1",
        "Age": "70 years",
        "Sex": "not recorded",
        "Affected side": "not recorded",
        "Days since stroke": "not recorded",
        "Baseline FMA-LE": "not recorded",
    }
    upload = {
        "kind": "signals",
        "original_name": "rec.edf",
        "sha256": "ab" * 32,
        "qc": {
            "n_channels": 20,
            "sfreq": 512.0,
            "duration_s": 300.0,
            "n_channels_by_type": {"eeg": 16, "emg": 4},
            "missing_paper_channels": ["EMG_ST", "EMG_RFP"],
            "warnings": ["Channel names were upper-cased."],
        },
    }
    assert input_lines(upload) == [
        "EEG-EMG: rec.edf  (SHA-256 abababababab)",
        "QC: 20 channels (16 EEG, 4 EMG), 512 Hz, 300.0 s; missing paper channels: "
        "semitendinosus, proximal rectus femoris",
        "Reader warning: Channel names were upper-cased.",
    ]


def test_preprocessing_qc_from_the_results():
    signals = SimpleNamespace(
        qc={
            "n_windows_total": 54,
            "n_rejected": 3,
            "bad_channels": {"FC1": "flat: robust std 0.03 µV < 0.5 µV"},
            "bad_channel_actions": {"FC1": "set to zero"},
        }
    )
    fmri = SimpleNamespace(
        qc={
            "n_slices_kept": 29,
            "mean_fd_mm": 0.2,
            "max_fd_mm": 0.61,
            "n_high_motion_frames": 2,
            "median_tsnr": 41.2,
            "flags": ["2 frames above 0.5 mm FD"],
        },
        screened_out={0: "no brain", 34: "no brain"},
    )
    qc = preprocessing_qc(signals, fmri)
    assert qc["signals"] == {
        "n_windows_total": 54,
        "n_rejected": 3,
        "bad_channels": {"FC1": "flat, set to zero"},
    }
    assert qc["fmri"]["n_screened_out"] == 2
    assert preprocessing_qc_lines(qc) == [
        "EEG-EMG: 51 of 54 windows of 10 s kept; bad channels: FC1 (flat, set to zero)",
        "fMRI: 29 slices kept, 2 screened out; head movement 0.20 mm between volumes on average "
        "(max 0.61), 2 volumes with much movement; signal steadiness (median tSNR) 41; flags: "
        "2 frames above 0.5 mm FD",
    ]
    assert preprocessing_qc(None, None) == {} and preprocessing_qc_lines(None) == []


def test_a_bad_emg_channel_is_named_by_its_muscle():
    qc = {"signals": {"n_windows_total": 4, "n_rejected": 0, "bad_channels": {"EMG_RF": "flat"}}}
    assert preprocessing_qc_lines(qc) == [
        "EEG-EMG: 4 of 4 windows of 10 s kept; bad channels: rectus femoris (flat)"
    ]


@pytest.mark.parametrize(
    ("value", "fmt", "shown"),
    [(-0.0004, ".3f", "0.000"), (-0.0, ".2f", "0.00"), (-0.024, ".3f", "-0.024"),
     (-1e-9, ".1e", "-1.0e-09"), (None, ".2f", "n/a"), (float("nan"), ".2f", "n/a")],
)  # fmt: skip
def test_format_number_never_shows_minus_zero(value, fmt, shown):
    from rehab_core.report import format_number

    assert format_number(value, fmt) == shown
