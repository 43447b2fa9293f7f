"""The use cases' tests: a fresh store per test, on SQLite and on PostgreSQL, with an
administrator and a clinician; and one torch thread, as in tests/training."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    """Every use-case test on one torch thread (``one_torch_thread``, tests/conftest.py)."""


@pytest.fixture
def store(db_url, tmp_path, monkeypatch):
    from rehab_core.security import create_user
    from rehab_core.storage import open_store

    for var in ("REHAB_DATA_DIR", "REHAB_DATABASE_URL", "REHAB_MAX_UPLOAD_MB"):
        monkeypatch.delenv(var, raising=False)
    s = open_store(url=db_url, data_dir=tmp_path / "data")
    create_user(s, "root", None, "admin", actor="pytest")
    create_user(s, "carol", None, "clinician", actor="pytest")
    yield s
    s.close()


@pytest.fixture
def signals_bytes(tmp_path) -> bytes:
    """A seeded 11-s, 22-channel, 100 Hz rehab-eegemg text recording."""
    import numpy as np

    from rehab_core.io import PAPER_CHANNELS, write_signals_text

    data = np.random.default_rng(0).normal(0.0, 20.0, size=(22, 1100))
    return write_signals_text(tmp_path / "rec.txt", data, PAPER_CHANNELS, 100.0).read_bytes()


@pytest.fixture(scope="session")
def tiny_arrays(tiny_cohort, tmp_path_factory):
    """The tiny cohort preprocessed once with train_experiment's default settings (a kept
    ``arrays/`` folder), for tests about what training does after preprocessing."""
    from pathlib import Path

    from rehab_core.imaging import ImagingSettings
    from rehab_core.io.cohort import read_cohort
    from rehab_core.signals import SignalSettings
    from rehab_core.workflows._train.work_folder import WorkFolder, preprocess_cohort

    work = WorkFolder(tmp_path_factory.mktemp("tiny_arrays_work"))
    cohort = read_cohort(Path(tiny_cohort))
    preprocess_cohort(cohort, work, SignalSettings(), ImagingSettings(), 2, lambda event: None)
    return work.path / "arrays"


@pytest.fixture
def tiny_work_dir(tiny_arrays, tmp_path):
    """A work folder holding a copy of ``tiny_arrays``: train_experiment(..., work_dir=it)
    finds the arrays kept (checked against the files and settings) and skips preprocessing."""
    import shutil

    work = tmp_path / "work"
    shutil.copytree(tiny_arrays, work / "arrays")
    return work
