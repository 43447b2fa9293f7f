"""pages/_shared.py: the store per environment, the selected patient, models."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from rehab_core.storage import open_store

ROOT = Path(__file__).resolve().parents[2]

# A page that needs a patient, routed next to the real Patients page (the repository's
# pages/ folder is linked beside it so st.page_link finds "pages/patients.py").
NEEDS_PATIENT_APP = """
import streamlit as st
from pages._shared import require_patient

def needs():
    patient = require_patient()
    st.write(f"patient {patient.pseudonym}")

st.navigation([
    st.Page(needs, title="Needs", default=True),
    st.Page("pages/patients.py", title="Patients"),
]).run()
"""


@pytest.fixture
def shared(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.setenv("REHAB_DATA_DIR", str(tmp_path / "data"))
    for var in ("REHAB_DATABASE_URL", "REHAB_MAX_UPLOAD_MB", "REHAB_WEIGHTS_DIR"):
        monkeypatch.delenv(var, raising=False)
    # a fresh import for this test, and the module every other test holds put back after it
    # (a popped module left other tests monkeypatching a copy that app.py no longer imports)
    if "pages._shared" in sys.modules:
        import pages

        monkeypatch.delitem(sys.modules, "pages._shared")
        monkeypatch.setattr(pages, "_shared", pages._shared)  # restored as well after the test
    st.cache_resource.clear()
    import pages._shared as shared

    yield shared
    st.cache_resource.clear()


def test_require_patient_points_to_the_patients_page_then_passes(shared, signed_in, tmp_path):
    (tmp_path / "pages").symlink_to(ROOT / "pages")
    (tmp_path / "app.py").write_text(NEEDS_PATIENT_APP)
    at = signed_in(AppTest.from_file(str(tmp_path / "app.py"), default_timeout=60)).run()
    assert not at.exception
    assert [i.value for i in at.info] == ["Pick or create a patient on the Patients page first."]
    assert at.get("page_link")
    assert [m.value for m in at.markdown] == []  # the page stopped
    store = open_store(data_dir=tmp_path / "data")
    patient = store.create_patient("X-1")
    at.session_state["patient_id"] = patient.id
    at.run()
    assert not at.exception and [m.value for m in at.markdown] == ["patient X-1"]
    store.close()


def test_get_store_is_keyed_by_the_environment(shared, tmp_path, monkeypatch):
    a = shared.get_store()
    assert shared.get_store() is a
    assert a.data_dir == (tmp_path / "data").resolve()
    monkeypatch.setenv("REHAB_DATA_DIR", str(tmp_path / "b"))
    b = shared.get_store()
    assert b is not a and b.data_dir == (tmp_path / "b").resolve()


def test_available_models_lists_the_weights_folder(shared, tmp_path, monkeypatch):
    assert "shufflenet_lstm" in shared.available_models()
    monkeypatch.setenv("REHAB_WEIGHTS_DIR", str(tmp_path))
    assert shared.available_models() == []


@pytest.mark.slow
def test_load_predictor_loads_once(shared):
    first = shared.load_predictor("shufflenet_lstm")
    assert first.manifest.model_id == "shufflenet_lstm"
    assert shared.load_predictor() is first


def test_upload_summary_says_an_arm_recording_is_viewable_and_what_the_model_lacks(shared):
    from types import SimpleNamespace

    from rehab_core.io import PAPER_EMG_CHANNELS

    upload = SimpleNamespace(
        kind="signals",
        qc={
            "n_channels": 40,
            "sfreq": 500.0,
            "duration_s": 20.0,
            "n_channels_by_type": {"eeg": 32, "emg": 8},
            "missing_paper_channels": ["C2", "C1", *PAPER_EMG_CHANNELS],
        },
    )
    assert shared.upload_summary(upload) == (
        "40 channels (32 EEG, 8 EMG), 500 Hz, 20.0 s; viewable on the Signals page, but the "
        "model cannot use this EEG-EMG recording: it lacks the paper's EEG channels C2 and C1 "
        "and all six leg muscles the model reads (proximal rectus femoris, rectus femoris, "
        "vastus medialis, gluteus maximus, biceps femoris (long head) and semitendinosus)"
    )
