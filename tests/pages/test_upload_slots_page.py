"""The Patients page takes an upload slot (rehab_core.io.inflight) around each check.

When the user's slots (or the server's) are taken, the upload is refused at
once with one sentence, nothing is stored, and the same file is checked on a
later rerun once a slot is free.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from rehab_core.io import PAPER_CHANNELS, inflight, write_signals_text
from rehab_core.io.inflight import upload_slot
from rehab_core.storage import open_store

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("REHAB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("REHAB_DATABASE_URL", raising=False)
    monkeypatch.setenv("REHAB_UPLOADS_PER_USER", "1")
    monkeypatch.setattr(inflight, "_slots", None)
    st.cache_resource.clear()
    s = open_store(data_dir=tmp_path / "data")
    yield s
    s.close()
    st.cache_resource.clear()


def test_an_upload_waits_for_a_free_slot(signed_in, store, tmp_path):
    patient = store.create_patient("P-1")
    at = signed_in(AppTest.from_file(APP, default_timeout=120)).run()
    at.session_state["patient_id"] = patient.id
    at.switch_page("pages/patients.py").run()
    rng = np.random.default_rng(0)
    data = rng.normal(0.0, 20.0, size=(len(PAPER_CHANNELS), 1100))
    good = write_signals_text(tmp_path / "s.txt", data, PAPER_CHANNELS, 100.0).read_bytes()
    with upload_slot("test-clinician"):  # the same user's other tab is checking a file
        at.file_uploader[0].upload("rec.txt", good).run()
    assert not at.exception
    assert [w.value for w in at.warning] == [
        "You already have 1 upload(s) being checked; wait for them to finish, "
        "then upload this file again."
    ]
    assert store.uploads(patient.id) == []
    at.run()  # the slot is free again: the same file is checked now
    assert [s.value for s in at.success][0].startswith("Stored rec.txt: 22 channels")
    assert len(store.uploads(patient.id)) == 1
