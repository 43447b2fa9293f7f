"""Suite-wide test settings: no network, no display, small seeded data."""

from __future__ import annotations

import os

# Model weights and data sets are never downloaded in tests (DEVELOPERS.md).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("REHAB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

from types import SimpleNamespace  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# ``--hypothesis-profile=fast`` (make check): property tests run a handful of examples each;
# the default profile (make test, CI) runs the numbers each test states.
settings.register_profile("fast", max_examples=5)


# Fixtures that make a test slow or PostgreSQL-bound wherever it is written: the marker
# follows the fixture, so that ``make check`` (-m "not slow and not postgres ...") leaves out
# every test that pays for them, including the next one somebody writes.
_MARK_BY_FIXTURE = {
    "tiny_training": pytest.mark.slow,  # trains the default fusion model: minutes on 2 cores
    "tiny_second_training": pytest.mark.slow,  # a second model on the tiny cohort
    "tiny_cohort": pytest.mark.slow,  # generates a small cohort: about a minute on 2 cores
    "postgres_server": pytest.mark.postgres,
    "postgres_url": pytest.mark.postgres,
}


@pytest.hookimpl(tryfirst=True)  # before -m deselects, so that it sees these markers
def pytest_collection_modifyitems(config, items):
    """Mark tests by the fixtures they use; skip GPU tests with a stated reason where no CUDA."""
    for item in items:
        for name in set(getattr(item, "fixturenames", ())) & _MARK_BY_FIXTURE.keys():
            item.add_marker(_MARK_BY_FIXTURE[name])
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a core dependency
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU; none on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


# --- shared end-to-end fixtures -------------------------------------------------------------
# A 20-patient synthetic cohort (seed 5 gives 10 good and 10 poor outcomes), 12 s of EEG-EMG
# (one 10-s window) and 50 fMRI volumes (the shortest series the reader accepts): the smallest
# cohort on which the whole train -> bundle -> predict -> evaluate path runs.
TINY_COHORT = dict(n_patients=20, n_with_signals=18, seed=5, minutes=0.2, volumes=50)


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory):
    from rehab_core.demo import generate_cohort

    return generate_cohort(tmp_path_factory.mktemp("tiny_cohort"), n_jobs=1, **TINY_COHORT).root


def _tiny_experiment_settings(**overrides):
    """The settings of ``tiny_training``: 2 folds, one batch of one epoch, CPU, no ImageNet."""
    from rehab_core.training import ExperimentSettings

    kwargs = dict(
        n_folds=2,
        epochs=1,
        patience=1,
        test_fraction=0.25,
        max_train_batches=1,
        pretrained=False,
        device="cpu",
    )
    return ExperimentSettings(**{**kwargs, **overrides})


@pytest.fixture
def tiny_experiment_settings():
    """``tiny_experiment_settings(**overrides)``: the settings of ``tiny_training``."""
    return _tiny_experiment_settings


@pytest.fixture(scope="session")
def tiny_evaluation_cache(tmp_path_factory):
    """A ``cache_dir`` / ``--work-dir`` shared by the evaluations of ``tiny_training``.

    The tiny cohort is then preprocessed for evaluation once per session, not
    once per test (about 35 s each on two cores).
    """
    return tmp_path_factory.mktemp("tiny_evaluation_cache")


@pytest.fixture(scope="session")
def tiny_training(tiny_cohort, tmp_path_factory):
    """Train the default fusion model for one epoch of one batch on the tiny cohort."""
    import warnings

    from rehab_core.signals import SignalSettings
    from rehab_core.workflows.train import train_experiment

    out = tmp_path_factory.mktemp("tiny_weights")
    settings = _tiny_experiment_settings()
    import rehab_core.training as training

    # record which patients every fit_model call trains and early-stops on (leakage test)
    seen = []
    real_fit = training.fit_model

    def spy(model, train_ds, val_ds, *args, **kwargs):
        seen.append(
            (set(map(str, train_ds.item_patient_ids)), set(map(str, val_ds.item_patient_ids)))
        )
        return real_fit(model, train_ds, val_ds, *args, **kwargs)

    events = []
    mp = pytest.MonkeyPatch()
    mp.setattr(training, "fit_model", spy)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore"
            )  # metrics on 5 test patients warn about ill-defined ratios
            report = train_experiment(
                tiny_cohort,
                out,
                settings,
                signal_settings=SignalSettings(representation="envelope"),
                progress=events.append,
                data_description="tiny synthetic cohort for tests",
            )
    finally:
        mp.undo()
    return {
        "out": out,
        "report": report,
        "events": events,
        "cohort": tiny_cohort,
        "fit_calls": seen,
    }


@pytest.fixture(scope="session")
def tiny_second_training(tiny_cohort, tmp_path_factory):
    """A second installed model for comparisons: ``ghostnet_lstm``, trained like ``tiny_training``.

    Another backbone under its own id (a copy of the ShuffleNet bundle under
    another id would be a mislabelled bundle: its manifest and weights name
    ShuffleNet), and other preprocessing (64 x 64 slices, raw EEG-EMG windows
    instead of envelopes), so a comparison that prepared every model with one
    model's settings would be caught.
    """
    import warnings

    from rehab_core.imaging import ImagingSettings
    from rehab_core.signals import SignalSettings
    from rehab_core.workflows.train import train_experiment

    out = tmp_path_factory.mktemp("tiny_second_weights")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # metrics on 5 test patients warn about ill-defined ratios
        train_experiment(
            tiny_cohort,
            out,
            _tiny_experiment_settings(backbones=("ghostnet",)),
            signal_settings=SignalSettings(representation="raw"),
            imaging_settings=ImagingSettings(image_size=64),
            data_description="tiny synthetic cohort for tests",
        )
    return {"out": out, "cohort": tiny_cohort}


# --- small EEG-EMG recordings and their preprocessing (tests/signals, tests/viz) -------------
SIGNAL_SFREQ = 250.0
NAMES = ("C3", "C1", "CP1", "FC2", "EMG_RF", "EMG_VM", "EMG_ST")
TYPES = ("eeg", "eeg", "eeg", "eeg", "emg", "emg", "emg")


def make_recording(seconds: float = 35.0, seed: int = 0) -> np.ndarray:
    """(7, n_times) µV at 250 Hz: EEG ~10 µV noise + alpha, EMG ~100 µV bursts of noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SIGNAL_SFREQ)
    t = np.arange(n) / SIGNAL_SFREQ
    eeg = 10.0 * rng.standard_normal((4, n)) + 15.0 * np.sin(2 * np.pi * 10.0 * t)
    bursts = 1.0 + (np.sin(2 * np.pi * 0.5 * t) > 0)
    emg = 100.0 * bursts * rng.standard_normal((3, n))
    return np.vstack([eeg, emg])


@pytest.fixture(scope="session")
def chans():
    """Channel names, types and rate of the recordings here (conftest is not importable)."""
    return SimpleNamespace(
        names=NAMES, types=TYPES, sfreq=SIGNAL_SFREQ, make_recording=make_recording
    )


@pytest.fixture(scope="module")
def recording():
    """A recording with a 600 µV spike on C3 in window 1 (10-20 s) and FC2 flat."""
    data = make_recording()
    data[0, int(15.0 * SIGNAL_SFREQ)] += 600.0
    data[3] = 0.0
    return data


@pytest.fixture(scope="module")
def signal_result(recording):
    from rehab_core.signals import SignalSettings, preprocess_signals

    settings = SignalSettings(resample_sfreq=None, h_freq=100.0)
    return preprocess_signals(recording, SIGNAL_SFREQ, TYPES, settings, ch_names=NAMES)


@pytest.fixture(scope="module")
def clean_result():
    """30 s, nothing rejected, no bad channel, no tail."""
    from rehab_core.signals import SignalSettings, preprocess_signals

    settings = SignalSettings(resample_sfreq=None, h_freq=100.0)
    return preprocess_signals(make_recording(30.0, seed=1), SIGNAL_SFREQ, TYPES, settings, NAMES)


@pytest.fixture
def one_torch_thread():
    """Tiny models run faster (and repeat exactly) on one thread of a shared machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- model-weight hermeticity (used by tests/models and tests/explain) ------------------------
@pytest.fixture
def hermetic_weights(monkeypatch, tmp_path):
    """No network, no user weights: empty HF and torch hub caches, no REHAB_PRETRAINED_DIR.

    Also one torch thread: on a shared machine with 2 cores, two OpenMP threads
    per test process made these tests several times slower.
    """
    import huggingface_hub.constants
    import torch

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("REHAB_OFFLINE", raising=False)
    monkeypatch.delenv("REHAB_PRETRAINED_DIR", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    torch.manual_seed(0)
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)


@pytest.fixture(autouse=True)
def _fresh_sign_in_throttle():
    """The server-wide sign-in throttle starts empty in every test (failures do not leak)."""
    from rehab_core.security.throttle import SIGN_IN_THROTTLE

    SIGN_IN_THROTTLE.reset()
    yield
    SIGN_IN_THROTTLE.reset()


# --- databases: SQLite and a throwaway PostgreSQL server (tests/_postgres.py) -------------------
@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for the whole session, stopped at the end.

    Started from Debian's binaries (``make test`` installs them as root), or the
    server named by ``REHAB_TEST_POSTGRES_URL``; skipped with the reason otherwise.
    ``create_database()`` / ``drop_database(url)`` give tests their own databases.
    """
    from _postgres import PostgresUnavailable, server_from_url, start_server

    external = os.environ.get("REHAB_TEST_POSTGRES_URL")
    if external:
        server = server_from_url(external)
    else:
        try:
            server = start_server()
        except PostgresUnavailable as err:
            pytest.skip(str(err))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server):
    """``postgresql+psycopg://...`` URL of an empty database shared by the whole session."""
    url = postgres_server.create_database("rehab_session")
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """A fresh, empty database per test, once on SQLite (in ``tmp_path``) and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'rehab.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    url = server.create_database()
    yield url
    server.drop_database(url)
