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
