"""The Patients page through the real app (AppTest): demo patient, creation form, uploads.

AppTest (Streamlit 1.67) drives ``st.file_uploader`` (``upload(name, bytes)``), so
the upload path is tested through the page itself. It does not clear widget state
on a page change as a browser does; the selected patient is kept in the plain
``st.session_state["patient_id"]`` key for that reason, and asserted here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from _page_text import clinician_text
from streamlit.testing.v1 import AppTest

from rehab_core.io import PAPER_CHANNELS, write_signals_text
from rehab_core.security import audit_events
from rehab_core.storage import open_store

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PATIENTS = "pages/patients.py"


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A fresh data folder per test, and no store cached from another test."""
    monkeypatch.setenv("REHAB_DATA_DIR", str(tmp_path / "data"))
    for var in ("REHAB_DATABASE_URL", "REHAB_MAX_UPLOAD_MB"):
        monkeypatch.delenv(var, raising=False)
    st.cache_resource.clear()
    yield tmp_path / "data"
    st.cache_resource.clear()


@pytest.fixture
def store(data_dir):
    s = open_store(data_dir=data_dir)
    yield s
    s.close()


def open_patients(signed_in, **state) -> AppTest:
    at = signed_in(AppTest.from_file(APP, default_timeout=120)).run()
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page(PATIENTS).run()
    assert not at.exception
    return at


def button(at: AppTest, label: str):
    (found,) = [b for b in at.button if b.label == label]
    return found


def number_input(at: AppTest, label: str):
    (found,) = [n for n in at.number_input if n.label == label]
    return found


def signals_bytes(tmp_path, n_chans: int = 22) -> bytes:
    rng = np.random.default_rng(0)
    data = rng.normal(0.0, 20.0, size=(n_chans, 1100))
    path = write_signals_text(tmp_path / "s.txt", data, PAPER_CHANNELS[:n_chans], 100.0)
    return path.read_bytes()


def test_app_routes_only_existing_pages_and_home_points_to_patients(signed_in, data_dir):
    at = signed_in(AppTest.from_file(APP, default_timeout=60)).run()
    assert not at.exception
    assert "Patients" in at.info[0].value
    at.switch_page(PATIENTS).run()
    assert not at.exception and at.title[0].value == "Patients"


def _demo_fmri_summary(folder: Path, seed: int, n_volumes: int) -> str:
    """The Patients page's line for a demo patient's fMRI, from its scanner site's protocol.

    Cohort v2 draws the site per seed, and grid, voxel size and TR differ between sites.
    """
    from rehab_core.demo import SITES, generate_patient

    drawn = generate_patient(folder, seed=seed, with_signals=False, volumes=n_volumes)
    site = SITES[drawn.ground_truth["site"]]
    x, y, z = site.shape
    voxel = " x ".join(f"{v:g}" for v in site.zooms)
    return (
        f"{x} x {y} x {z} voxels of {voxel} mm, {n_volumes} volumes, "
        f"TR {site.tr_s:g} s ({n_volumes * site.tr_s:.0f} s)"
    )


def test_empty_database_offers_a_demo_patient_in_one_click(signed_in, data_dir, store, tmp_path):
    at = open_patients(signed_in)
    assert [i.value for i in at.info] == [
        "No patient yet. Create one below, or start with a synthetic demo patient."
    ]
    button(at, "Create a demo patient").click().run()
    assert not at.exception
    (demo,) = store.list_patients()
    assert demo.pseudonym == "DEMO-42"
    assert sorted(u.kind for u in store.uploads(demo.id)) == ["fmri", "signals"]
    assert at.session_state["patient_id"] == demo.id
    assert at.selectbox[0].value == demo.id
    assert at.success[0].value.startswith("Created the synthetic patient DEMO-42")
    table = at.table[0].value  # a static table: its cells wrap, nothing is cut off
    assert sorted(table["File"]) == [  # de-identified labels, not the file names
        "EEG-EMG recording (.txt)",
        "Resting-state fMRI (.nii.gz)",
    ]
    summary = dict(zip(table["File"], table["Summary"], strict=True))
    assert summary["EEG-EMG recording (.txt)"] == (
        "22 channels (16 EEG, 6 EMG), 1000 Hz, 60.0 s; all 22 model channels present"
    )
    assert summary["Resting-state fMRI (.nii.gz)"] == _demo_fmri_summary(tmp_path, 42, 60)
    # hashes are for traceability, in Technical details, not in the clinician's table
    assert "SHA-256" not in table.columns
    shown_text = clinician_text(at.main)
    for upload in store.uploads(demo.id):
        for text in (upload.sha256[:12], str(upload.path.parent), "SHA-256"):
            assert text not in shown_text, text
    (details,) = [e for e in at.expander if e.label == "Technical details"]
    hashes = details.markdown[0].value
    for upload in store.uploads(demo.id):
        assert f"{upload.original_name}: `{upload.sha256}`" in hashes
    assert not [b for b in at.button if b.label == "Create a demo patient"]
    # the selection survives a trip to another page
    at.switch_page("pages/home.py").run()
    at.switch_page(PATIENTS).run()
    assert at.session_state["patient_id"] == demo.id and at.selectbox[0].value == demo.id


@pytest.mark.parametrize(
    ("fma", "pseudonym", "message"),
    [
        (40, "P-1", "Baseline FMA-LE must be a whole number from 0 to 34; got 40."),
        (-2, "P-1", "Baseline FMA-LE must be a whole number from 0 to 34; got -2."),
        (10, "", "The pseudonym must not be empty."),
    ],
)
def test_invalid_patient_shows_one_sentence_and_stores_nothing(
    signed_in, data_dir, store, fma, pseudonym, message
):
    at = open_patients(signed_in)
    at.text_input[0].set_value(pseudonym)
    number_input(at, "Baseline FMA-LE (0-34)").set_value(fma)
    button(at, "Create patient").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [message]
    assert store.list_patients() == []
    assert "patient_id" not in at.session_state


def test_creating_a_patient_selects_it(signed_in, data_dir, store):
    store.create_patient("A-0")
    at = open_patients(signed_in)
    at.text_input[0].set_value("B-7")
    number_input(at, "Age (years)").set_value(66)
    number_input(at, "Baseline FMA-LE (0-34)").set_value(9)
    [s for s in at.selectbox if s.label == "Sex"][0].set_value("F")
    button(at, "Create patient").click().run()
    assert not at.exception
    new = store.find_patient("B-7")
    assert (new.age, new.sex, new.fma_le_baseline, new.affected_side) == (66, "F", 9, None)
    assert at.session_state["patient_id"] == new.id
    assert at.selectbox[0].value == new.id
    assert at.success[0].value == "Created patient B-7; upload their recordings below."
    events = [(e.username, e.action) for e in reversed(audit_events(store, patient_id=new.id))]
    assert events == [("test-clinician", "create_patient"), ("test-clinician", "view_patient")]
    # the duplicate is refused with one sentence
    at.text_input[0].set_value("B-7")
    button(at, "Create patient").click().run()
    assert at.error[0].value.startswith("A patient with the pseudonym B-7 already exists;")


def test_picking_a_patient_sets_the_plain_session_key(signed_in, data_dir, store):
    a = store.create_patient("A-1")
    b = store.create_patient("B-2", age=70, sex="M")
    at = open_patients(signed_in)
    assert at.selectbox[0].value is None  # nothing picked yet
    assert at.selectbox[0].format_func(b.id) == "B-2 (M, 70)"
    at.selectbox[0].set_value(b.id).run()
    assert at.session_state["patient_id"] == b.id
    assert [m.value for m in at.metric][:2] == ["70", "M"]
    at.selectbox[0].set_value(a.id).run()
    assert at.session_state["patient_id"] == a.id


def test_uploads_through_the_page(signed_in, data_dir, store, tmp_path):
    patient = store.create_patient("P-1")
    at = open_patients(signed_in, patient_id=patient.id)
    good = signals_bytes(tmp_path)
    at.file_uploader[0].upload("rec.txt", good).run()
    assert not at.exception
    assert [s.value for s in at.success] == [
        "Stored rec.txt: 22 channels (16 EEG, 6 EMG), 100 Hz, 11.0 s; "
        "all 22 model channels present."
    ]
    assert list(at.table[0].value["File"]) == ["EEG-EMG recording (.txt)"]  # not the name
    # the same file again: recognised, nothing new kept, that recording used again
    at.file_uploader[0].upload("copy.txt", good).run()
    assert at.info[0].value.startswith(
        "copy.txt holds the same bytes as the EEG-EMG recording (.txt) already stored for"
    )
    assert at.info[0].value.endswith("nothing new kept, and that recording is the one used again.")
    # a refused file: the reader's sentence, nothing stored
    at.file_uploader[0].upload("bad.txt", b"not a recording").run()
    assert at.error[0].value.startswith("bad.txt ")
    at.file_uploader[0].upload("rec.vhdr", b"Brain Vision Data Exchange Header File").run()
    assert at.error[0].value.startswith("rec.vhdr is a BrainVision header")
    at.file_uploader[1].upload("scan.gz", b"\x1f\x8b").run()
    assert at.error[-1].value.startswith("scan.gz is not a supported resting-state fMRI")
    assert [u.original_name for u in store.uploads(patient.id)] == ["EEG-EMG recording (.txt)"]
    files = [p for p in (data_dir / "files").rglob("*") if p.is_file()]
    assert len(files) == 1
    # audited: one view however many reruns, the two stored uploads, by id and hash, no names
    events = list(reversed(audit_events(store, patient_id=patient.id)))
    refused = [e for e in events if e.action == "upload_refused"]  # issue 14, finding 6
    assert [e.details["kind"] for e in refused] == ["signals", "signals", "fmri"]
    assert "bad.txt" not in repr(refused) and "rec.vhdr" not in repr(refused)
    events = [e for e in events if e.action != "upload_refused"]
    assert [e.action for e in events] == ["view_patient", "upload", "upload"]
    (stored,) = store.uploads(patient.id)
    assert [e.details for e in events[1:]] == [
        {"kind": "signals", "sha256": stored.sha256, "duplicate": dup} for dup in (False, True)
    ]
    assert {e.target for e in events[1:]} == {f"upload {stored.id}"}
    assert "rec.txt" not in repr(events) and "copy.txt" not in repr(events)


def test_a_stale_patient_id_is_dropped_quietly(signed_in, data_dir, store):
    at = open_patients(signed_in, patient_id=999)
    assert not at.exception
    assert "patient_id" not in at.session_state
    assert button(at, "Create a demo patient")


def test_a_recording_with_other_channel_names_can_be_mapped_to_the_models(
    signed_in, store, tmp_path
):
    """Issue 15: a file calling the rectus femoris "RF" could not be used; now it is mapped."""
    own = {"EMG_RF": "RF", "EMG_RFP": "Rectus_femoris_prox_L"}
    names = [own.get(c, c) for c in PAPER_CHANNELS]
    data = np.random.default_rng(1).normal(0.0, 20.0, size=(len(names), 1100))
    path = write_signals_text(tmp_path / "ward.txt", data, names, 100.0)
    patient = store.create_patient("P-MAP")
    upload = store.add_upload(patient.id, "signals", "ward.txt", path)
    at = open_patients(signed_in, patient_id=patient.id)
    (section,) = [e for e in at.expander if e.label.startswith("Match this recording's channels")]
    boxes = {s.label: s for s in section.selectbox}
    assert list(boxes) == ["rectus femoris", "proximal rectus femoris"]  # muscles by name
    assert boxes["rectus femoris"].value == "(not in this file)"
    assert boxes["rectus femoris"].options == ["(not in this file)", "RF", "Rectus_femoris_prox_L"]
    assert store.latest_upload(patient.id, "signals").channel_map == {}  # nothing until saved
    boxes["rectus femoris"].set_value("RF")
    boxes["proximal rectus femoris"].set_value("Rectus_femoris_prox_L")
    (save,) = [b for b in section.button if b.label == "Save the channel map"]
    save.click().run()
    assert not at.exception, at.exception
    stored = store.latest_upload(patient.id, "signals")
    assert stored.channel_map == {"RF": "EMG_RF", "Rectus_femoris_prox_L": "EMG_RFP"}
    assert stored.qc["missing_paper_channels"] == []
    assert [s.value for s in at.success] == ["Channel map saved."]
    (event,) = audit_events(store, action="channel_map")
    assert (event.username, event.patient_id, event.target) == (
        "test-clinician",
        patient.id,
        f"upload {upload.id}",
    )
    table = at.table[0].value  # the summary follows the map
    assert table["Summary"].tolist()[0].endswith("all 22 model channels present")
    (section,) = [e for e in at.expander if e.label.startswith("Match this recording's channels")]
    assert {s.label: s.value for s in section.selectbox} == {
        "rectus femoris": "RF",
        "proximal rectus femoris": "Rectus_femoris_prox_L",
    }
