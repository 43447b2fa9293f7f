"""Tiny seeded recordings (bytes) and a fresh store per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

import numpy as np
import pytest

from rehab_core.io import PAPER_CHANNELS


def _signals_text_bytes(tmp_path, *, seed: int = 0, seconds: float = 11.0, n_chans: int = 22):
    """The rehab-eegemg text of a seeded 100 Hz recording (the paper's channels, or fewer)."""
    from rehab_core.io import write_signals_text

    rng = np.random.default_rng(seed)
    data = rng.normal(0.0, 20.0, size=(n_chans, int(seconds * 100)))
    path = write_signals_text(
        tmp_path / f"make-{seed}-{n_chans}.txt", data, PAPER_CHANNELS[:n_chans], 100.0
    )
    return path.read_bytes()


def _nifti_gz_bytes(*, seed: int = 0, volumes: int = 50, tr: float = 2.0, four_d: bool = True):
    """A 6 x 6 x 4 (x volumes) float32 NIfTI-1, gzipped; 50 volumes at TR 2 s = 100 s."""
    import gzip

    import nibabel as nib

    rng = np.random.default_rng(seed)
    shape = (6, 6, 4, volumes) if four_d else (6, 6, 4)
    img = nib.Nifti1Image(rng.normal(100.0, 5.0, size=shape).astype(np.float32), np.eye(4) * 3)
    img.header.set_zooms((3.0, 3.0, 3.0, tr)[: len(shape)])
    img.header.set_xyzt_units("mm", "sec")
    return gzip.compress(img.to_bytes(), mtime=0)


@pytest.fixture
def store(db_url, tmp_path, monkeypatch):
    """A fresh store on each backend of ``db_url`` (SQLite, PostgreSQL)."""
    from rehab_core.storage import open_store

    for var in ("REHAB_DATA_DIR", "REHAB_DATABASE_URL", "REHAB_MAX_UPLOAD_MB"):
        monkeypatch.delenv(var, raising=False)
    s = open_store(url=db_url, data_dir=tmp_path / "data")
    yield s
    s.close()


@pytest.fixture
def make_signals(tmp_path):
    """``make_signals(seed=0, seconds=11.0, n_chans=22) -> bytes`` of a text recording."""
    return lambda **kw: _signals_text_bytes(tmp_path, **kw)


@pytest.fixture
def make_nifti():
    """``make_nifti(seed=0, volumes=50, tr=2.0, four_d=True) -> bytes`` of a .nii.gz."""
    return _nifti_gz_bytes


@pytest.fixture
def signals_bytes(make_signals):
    return make_signals()


@pytest.fixture
def fmri_bytes(make_nifti):
    return make_nifti()


@pytest.fixture
def patient(store):
    return store.create_patient("P-001", age=64, sex="F", affected_side="left", fma_le_baseline=12)
