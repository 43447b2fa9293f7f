"""The Signals page through the real app (AppTest): no patient, a demo patient, raw/filtered.

``st.plotly_chart`` has no typed AppTest accessor in Streamlit 1.67; ``at.get("plotly_chart")``
returns its elements, whose ``proto.spec`` is the figure's JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from _page_text import clinician_text
from streamlit.testing.v1 import AppTest

from rehab_core.demo import generate_patient
from rehab_core.io import PAPER_CHANNELS, read_signals, write_signals_text
from rehab_core.storage import open_store
from rehab_core.workflows.patients import create_demo_patient

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
SIGNALS = "pages/signals.py"


@pytest.fixture(scope="module")
def demo_patient(tmp_path_factory):
    """One data folder holding the demo patient for the module; caches cleared around it.

    Module-scoped so the model and the preprocessing load once (they are cached per
    process, as in the running app); each test opens its own AppTest session.
    """
    data_dir = tmp_path_factory.mktemp("signals_page") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REHAB_DATA_DIR", str(data_dir))
        for var in ("REHAB_DATABASE_URL", "REHAB_MAX_UPLOAD_MB"):
            mp.delenv(var, raising=False)
        st.cache_resource.clear()
        st.cache_data.clear()
        store = open_store(data_dir=data_dir)
        try:
            patient = create_demo_patient(store, "pytest", seed=42)
        finally:
            store.close()
        yield patient
        st.cache_resource.clear()
        st.cache_data.clear()


def open_signals(signed_in, **state) -> AppTest:
    at = signed_in(AppTest.from_file(APP, default_timeout=180)).run()
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page(SIGNALS).run()
    return at


def figures(at: AppTest) -> list[dict]:
    return [json.loads(e.proto.spec) for e in at.get("plotly_chart")]


def test_without_a_patient_the_page_says_where_to_pick_one(signed_in, demo_patient):
    at = open_signals(signed_in)
    assert not at.exception
    assert at.info[0].value == "Pick or create a patient on the Patients page first."
    assert not at.get("plotly_chart")
    assert not at.tabs


def test_demo_patient_shows_traces_spectra_coherence_and_fmri(signed_in, demo_patient, tmp_path):
    at = open_signals(signed_in, patient_id=demo_patient.id)
    assert not at.exception, at.exception
    assert at.title[0].value == f"Signals: {demo_patient.pseudonym}"
    assert [t.label for t in at.tabs] == ["EEG-EMG", "fMRI"]
    assert any("what you see is what the model saw" in c.value for c in at.caption)
    # the model by its plain name; its id is for Technical details only (issue 15)
    assert any("the settings of the model **ShuffleNet + LSTM**" in c.value for c in at.caption)
    assert not [c.value for c in at.caption if "shufflenet_lstm" in c.value]
    store = open_store()
    try:
        uploads = [store.latest_upload(demo_patient.id, k) for k in ("signals", "fmri")]
    finally:
        store.close()
    shown_text = clinician_text(at.main)
    hidden = ["SHA-256", "sha256", "shufflenet_lstm", "weights/", "rehab "]
    hidden += ["Welch", "Hann", "Magnitude-squared", "robust std"]  # method names (issue 15)
    hidden += [u.sha256[:12] for u in uploads] + [str(u.path.parent) for u in uploads]
    for text in hidden:
        assert text not in shown_text, text

    figs = figures(at)
    # EEG-EMG: traces, PSD, coherence; fMRI: orthogonal views, motion, tSNR, registration
    assert len(figs) == 7
    traces = figs[0]
    assert traces["layout"]["title"]["text"] == "Filtered EEG-EMG, 0-10 s"
    assert len(traces["data"]) == 22 and {d["type"] for d in traces["data"]} == {"scatter"}
    assert traces["layout"]["xaxis"]["range"] == [0, 10]
    assert [d["type"] for d in figs[2]["data"]][0] == "heatmap"  # coherence map
    assert [d["type"] for d in figs[3]["data"]] == ["heatmap"] * 3  # axial/coronal/sagittal
    assert len(figs[4]["data"]) == 7  # motion: 3 translations, 3 rotations, FD
    alignment = figs[6]
    assert [d["type"] for d in alignment["data"]] == ["heatmap"] * 3 + ["contour"] * 3
    assert alignment["layout"]["title"]["text"].startswith("Alignment with MNI152: similarity")

    # the channels flagged are the ones the generator made bad (cohort v2 draws a flat
    # EEG channel with probability 0.05 and a noisy one with 0.08; seed 42 drew none,
    # v1 made FC1 flat): the flagging itself is checked on a flat channel below
    truth = generate_patient(tmp_path, seed=42, minutes=1.0, volumes=8).ground_truth
    drawn_bad = sorted(c.split(":")[0] for c in truth["bad_channels"].split(";") if c)
    flagged = sorted(d["name"].split(" (bad:")[0] for d in traces["data"] if "(bad:" in d["name"])
    assert flagged == drawn_bad
    assert any("Screened-out axial slices" in m.value for m in at.markdown)
    # a plain line beside the map shown and each fMRI QC figure, and one for every other map
    captions = [str(c.value) for c in at.caption]
    for start in ("Mean BOLD: the average", "How much the head moved", "How clean each axial"):
        assert any(c.startswith(start) for c in captions), start
    assert any(c.startswith("Summary checks of the scan") for c in captions)
    (maps,) = [s for s in at.selectbox if s.label == "Map"]
    maps.set_value("reho").run()
    assert any(str(c.value).startswith("ReHo: how much each point") for c in at.caption)


def test_a_flat_channel_is_flagged_in_the_traces_and_the_qc_table(
    signed_in, demo_patient, tmp_path
):
    """The demo recording with FC1 flattened (an unplugged electrode), as another patient."""
    store = open_store()
    try:
        upload = store.latest_upload(demo_patient.id, "signals")
        raw = read_signals(upload.path)
        data = raw.get_data() * 1e6  # µV
        data[raw.ch_names.index("FC1")] = 0.0
        path = write_signals_text(tmp_path / "flat.txt", data, raw.ch_names, raw.info["sfreq"])
        patient = store.create_patient("SIG-FLAT")
        store.add_upload(patient.id, "signals", path.name, path)
    finally:
        store.close()
    at = open_signals(signed_in, patient_id=patient.id)
    assert not at.exception, at.exception
    traces = figures(at)[0]
    fc1 = [d for d in traces["data"] if d["name"].startswith("FC1")]
    assert fc1 and fc1[0]["name"].startswith("FC1 (bad: flat")
    bad_table = [df.value for df in at.dataframe if "channel" in df.value.columns]
    assert list(bad_table[0]["channel"]) == ["FC1"]


def test_switching_to_raw_and_back_to_filtered(signed_in, demo_patient):
    at = open_signals(signed_in, patient_id=demo_patient.id)
    (mode,) = [r for r in at.radio if r.label == "Data"]
    assert mode.value == "filtered"
    filtered_y = figures(at)[0]["data"][0]["y"]

    mode.set_value("raw").run()
    assert not at.exception
    raw = figures(at)[0]
    assert raw["layout"]["title"]["text"] == "Raw EEG-EMG, 0-10 s"
    assert raw["data"][0]["y"] != filtered_y

    (mode,) = [r for r in at.radio if r.label == "Data"]
    mode.set_value("filtered").run()
    assert not at.exception
    assert figures(at)[0]["data"][0]["y"] == filtered_y


def test_span_start_and_channel_choice_change_the_view(signed_in, demo_patient):
    at = open_signals(signed_in, patient_id=demo_patient.id)
    (span,) = [s for s in at.selectbox if s.label == "Span"]
    span.set_value("30 s").run()
    (start,) = [s for s in at.slider if s.label == "Start (s)"]
    assert start.max == 30.0  # the 1-min demo recording minus the span
    start.set_value(20.0).run()
    (channels,) = [m for m in at.multiselect if m.label == "Channels"]
    drawn = [d["name"].split(" (bad:")[0] for d in figures(at)[0]["data"]]
    assert list(channels.options) == drawn  # the picker in the montage order of the traces
    channels.set_value(["C3", "EMG_RF"]).run()
    assert not at.exception
    traces = figures(at)[0]
    assert traces["layout"]["title"]["text"] == "Filtered EEG-EMG, 20-50 s"
    assert [d["name"] for d in traces["data"]] == ["C3", "EMG_RF"]

    (span,) = [s for s in at.selectbox if s.label == "Span"]
    span.set_value("whole").run()
    assert not at.exception
    assert not [s for s in at.slider if s.label == "Start (s)"]
    assert figures(at)[0]["layout"]["xaxis"]["range"] == [0, 60]


def _patient_with_signals(pseudonym: str, path: Path) -> int:
    """A new patient whose only upload is the EEG-EMG file at ``path``; their id."""
    store = open_store()
    try:
        patient = store.create_patient(pseudonym)
        store.add_upload(patient.id, "signals", path.name, path)
    finally:
        store.close()
    return patient.id


def test_a_recording_the_model_cannot_use_is_shown_with_a_plain_note(
    signed_in, demo_patient, tmp_path
):
    """21 of the 22 channels: stored, viewable, and the note names the missing muscle."""
    rng = np.random.default_rng(0)
    path = write_signals_text(
        tmp_path / "short.txt", rng.normal(0, 20, (21, 1200)), PAPER_CHANNELS[:21], 100.0
    )
    at = open_signals(signed_in, patient_id=_patient_with_signals("SIG-MISSING", path))
    assert not at.exception
    assert not at.error
    note = at.info[0].value
    assert note.startswith("This recording can be viewed")
    assert "the leg EMG of the proximal rectus femoris" in note and "EMG_RFP" not in note
    assert at.info[1].value.startswith("No fMRI recording is stored for this patient yet")
    traces = figures(at)[0]
    assert len(traces["data"]) == 21


REAL = ROOT.parent / "shared" / "data" / "real-stroke-eeg-emg" / "subj2_iMC_s01_srg_raw.fif"


@pytest.mark.skipif(not REAL.exists(), reason="the shared real recordings are not here")
def test_a_real_arm_recording_shows_traces_spectra_and_qc_in_montage_order(signed_in, demo_patient):
    """32 EEG + 8 arm EMG at 500 Hz: every channel drawn, EEG front to back, then EMG."""
    at = open_signals(signed_in, patient_id=_patient_with_signals("SIG-REAL", REAL))
    assert not at.exception, at.exception
    assert not at.error
    note = at.info[0].value
    assert "can be viewed" in note and "cannot use" in note
    assert "all six leg muscles" in note and "rectus femoris" in note and "EMG_" not in note
    assert "emg1" in note  # the file's own EMG channels, named as in the file
    figs = figures(at)
    names = [d["name"].split(" (bad:")[0] for d in figs[0]["data"]]
    assert len(names) == 40
    assert names[:3] == ["Fp1", "Fp2", "AF3"] and names[-8:] == [f"emg{k}" for k in range(1, 9)]
    (channels,) = [m for m in at.multiselect if m.label == "Channels"]
    assert list(channels.options) == names  # the picker in the order the traces are drawn
    assert len(figs) >= 2  # traces and spectra
    assert any(s.value == "Power spectra" for s in at.subheader)
    assert any(s.value == "Quality control" for s in at.subheader)
    assert at.dataframe  # the QC summary

    (group,) = [r for r in at.radio if r.label == "Channel group"]
    group.set_value("EMG").run()
    assert not at.exception
    emg = [d["name"].split(" (bad:")[0] for d in figures(at)[0]["data"]]
    assert emg == [f"emg{k}" for k in range(1, 9)]
