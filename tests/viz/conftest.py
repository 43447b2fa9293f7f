"""Tiny seeded recordings and their preprocessing results for the figure tests."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

SFREQ = 250.0
NAMES = ("C3", "C1", "CP1", "FC2", "EMG_RF", "EMG_VM", "EMG_ST")
TYPES = ("eeg", "eeg", "eeg", "eeg", "emg", "emg", "emg")


def make_recording(seconds: float = 35.0, seed: int = 0) -> np.ndarray:
    """(7, n_times) µV at 250 Hz: EEG ~10 µV noise + alpha, EMG ~100 µV bursts of noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SFREQ)
    t = np.arange(n) / SFREQ
    eeg = 10.0 * rng.standard_normal((4, n)) + 15.0 * np.sin(2 * np.pi * 10.0 * t)
    bursts = 1.0 + (np.sin(2 * np.pi * 0.5 * t) > 0)
    emg = 100.0 * bursts * rng.standard_normal((3, n))
    return np.vstack([eeg, emg])


@pytest.fixture(scope="session")
def chans():
    """Channel names, types and rate of the recordings here (conftest is not importable)."""
    return SimpleNamespace(names=NAMES, types=TYPES, sfreq=SFREQ, make_recording=make_recording)


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _drawn_strings(fig) -> list[str]:
    data = fig.to_plotly_json()
    # the template is the environment's, not the builder's (importing streamlit makes its
    # theme, with the placeholder colours it swaps in the browser, the default)
    data.get("layout", {}).pop("template", None)
    return list(_strings(data))


@pytest.fixture(scope="session")
def figure_strings():
    """Every string a builder put in a figure (titles, tick text, names, colours, hover text)."""
    return _drawn_strings


@pytest.fixture(scope="session")
def leg_muscles():
    """The paper's six leg muscles as the figures name and order them (front, then back)."""
    return [
        "proximal rectus femoris",
        "rectus femoris",
        "vastus medialis",
        "gluteus maximus",
        "biceps femoris (long head)",
        "semitendinosus",
    ]


@pytest.fixture(scope="module")
def recording():
    """A recording with a 600 µV spike on C3 in window 1 (10-20 s) and FC2 flat."""
    data = make_recording()
    data[0, int(15.0 * SFREQ)] += 600.0
    data[3] = 0.0
    return data


@pytest.fixture(scope="module")
def signal_result(recording):
    from rehab_core.signals import SignalSettings, preprocess_signals

    settings = SignalSettings(resample_sfreq=None, h_freq=100.0)
    return preprocess_signals(recording, SFREQ, TYPES, settings, ch_names=NAMES)


@pytest.fixture(scope="module")
def clean_result():
    """30 s, nothing rejected, no bad channel, no tail."""
    from rehab_core.signals import SignalSettings, preprocess_signals

    settings = SignalSettings(resample_sfreq=None, h_freq=100.0)
    return preprocess_signals(make_recording(30.0, seed=1), SFREQ, TYPES, settings, NAMES)


def make_bold(shape=(16, 16, 10), n_vols=60, seed=0):
    """A ball of 'brain' (~1000 a.u., 1 % noise) in a 20 a.u. background, 3-mm voxels, TR 2 s."""
    import nibabel

    rng = np.random.default_rng(seed)
    centre = (np.array(shape) - 1) / 2.0
    grid = np.indices(shape, dtype=np.float64)
    r = np.sqrt(sum(((grid[i] - centre[i]) / (shape[i] / 2.0 - 1.0)) ** 2 for i in range(3)))
    base = np.where(r < 1.0, 1000.0, 20.0)
    data = base[..., None] * (1.0 + 0.01 * rng.standard_normal((*shape, n_vols)))
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    img = nibabel.Nifti1Image(data.astype(np.float32), affine)
    img.header.set_zooms((3.0, 3.0, 3.0, 2.0))
    img.header.set_xyzt_units("mm", "sec")
    return img


@pytest.fixture(scope="module")
def imaging_result():
    """A sphere, not a brain: preprocessed in scanner space."""
    from rehab_core.imaging import ImagingSettings, preprocess_fmri

    settings = ImagingSettings(voxel_size_mm=3.0, image_size=32, normalization="none")
    return preprocess_fmri(make_bold(), settings)


@pytest.fixture(scope="session")
def registered_result(tmp_path_factory):
    """A demo brain preprocessed in template space (the default)."""
    import nibabel

    from rehab_core.demo import generate_patient
    from rehab_core.imaging import ImagingSettings, preprocess_fmri

    patient = generate_patient(
        tmp_path_factory.mktemp("bold"), seed=5, with_signals=False, volumes=50
    )
    return preprocess_fmri(nibabel.load(patient.fmri_path), ImagingSettings(image_size=32))
