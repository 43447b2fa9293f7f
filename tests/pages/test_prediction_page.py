"""The Prediction page through the real app (AppTest) with the shipped model.

One demo patient is predicted end to end (preprocessing, the three-member
ensemble, Grad-CAM of every slice, the stored provenance); the same files are
reused for the image-only patient, whose preprocessing is then cached.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import streamlit as st
from _page_text import clinician_text
from streamlit.testing.v1 import AppTest

from rehab_core.report import prediction_call
from rehab_core.security import audit_events
from rehab_core.storage import open_store

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PREDICTION = "pages/prediction.py"
MANIFEST = json.loads((ROOT / "weights" / "shufflenet_lstm" / "manifest.json").read_text())


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory):
    from rehab_core.demo import generate_patient

    # short recordings (1 min, 60 volumes; the shipped bundle was trained on 9 min and
    # 100-240 volumes) keep this page test quick; the pipeline takes any length
    return generate_patient(tmp_path_factory.mktemp("demo"), seed=42, minutes=1.0, volumes=60)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("REHAB_DATA_DIR", str(tmp_path / "data"))
    for var in ("REHAB_DATABASE_URL", "REHAB_MAX_UPLOAD_MB", "REHAB_WEIGHTS_DIR"):
        monkeypatch.delenv(var, raising=False)
    st.cache_resource.clear()  # the store is keyed by the environment; models load again
    s = open_store(data_dir=tmp_path / "data")
    yield s
    s.close()
    st.cache_resource.clear()


def open_prediction(signed_in, patient_id: int | None = None) -> AppTest:
    at = signed_in(AppTest.from_file(APP, default_timeout=600)).run()
    if patient_id is not None:
        at.session_state["patient_id"] = patient_id
    at.switch_page(PREDICTION).run()
    assert not at.exception, at.exception
    return at


def predict(at: AppTest) -> AppTest:
    (button,) = [b for b in at.button if b.label == "Predict"]
    button.click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def chart_types(at: AppTest) -> list[list[str]]:
    return [
        [trace.get("type", "scatter") for trace in json.loads(c.proto.spec)["data"]]
        for c in at.get("plotly_chart")
    ]


def test_without_a_patient_the_page_points_to_the_patients_page(signed_in, store):
    at = open_prediction(signed_in)
    assert [i.value for i in at.info] == ["Pick or create a patient on the Patients page first."]
    assert not at.button


# the whole prediction of a demo patient with Grad-CAM, attributions and the PDF
@pytest.mark.slow
def test_demo_patient_prediction_is_shown_stored_explained_and_reported(
    signed_in, store, demo_files, deferred_downloads
):
    patient = store.create_patient("DEMO-P", fma_le_baseline=13)
    signals = store.add_upload(patient.id, "signals", "rec.txt", demo_files.signals_path)
    fmri = store.add_upload(patient.id, "fmri", "bold.nii.gz", demo_files.fmri_path)
    at = open_prediction(signed_in, patient.id)
    assert at.selectbox[0].value == "shufflenet_lstm"
    from rehab_core.storage import find_bundles

    installed = {b.name for b in find_bundles(ROOT / "weights")}
    assert installed == {"shufflenet_lstm", "ghostnet_lstm", "fbnet_lstm", "regnet_lstm"}
    # ResNet50 + LSTM is evaluated, not shipped (141 MB even in float16)
    assert any("1 of the paper's fusion models is not installed" in c.value for c in at.caption)
    assert metrics(at) == {}  # nothing predicted yet
    predict(at)

    (record,) = store.predictions(patient.id)
    out = record.outputs
    assert record.model_id == "shufflenet_lstm"
    assert record.weights_sha256 == MANIFEST["sha256"]
    assert sorted(record.upload_ids) == sorted([signals.id, fmri.id])
    assert set(record.inputs.values()) == {signals.sha256, fmri.sha256}
    assert record.preprocessing["signals"] == MANIFEST["preprocessing"]["signals"]
    assert out["modality"] == "fusion" and out["fma_3m"] is not None
    assert out["timing_s"]["total"] > 0
    assert out["qc"]["fmri"]["n_slices_kept"] == len(out["slice_index"])
    assert out["qc"]["signals"]["n_windows_total"] >= len(out["window_starts_s"])

    shown = metrics(at)
    assert shown["Probability of a good outcome"] == f"{out['probability_good']:.2f}"
    assert shown["Call at the threshold"] == prediction_call(out).title  # or "Borderline"
    # the shipped bundle was trained on synthetic data, and says so on the result itself
    assert any(w.value.startswith("This model was trained on synthetic") for w in at.warning)
    assert shown["Predicted 3-month FMA-LE"] == f"{out['fma_3m']:.1f} / 34"
    assert any(c.value.startswith("Predicted in ") for c in at.caption)
    assert any(c.value.startswith("Preprocessing QC, fMRI: ") for c in at.caption)
    types = chart_types(at)
    assert ["image"] in types  # the Grad-CAM overlay
    assert ["bar"] in types  # window and slice scores
    (download,) = at.get("download_button")
    assert download.proto.label == "Download the PDF report"
    assert [e.action for e in audit_events(store, patient_id=patient.id)] == [
        "predict",
        "view_patient",
    ]
    pdf = deferred_downloads[download.proto.deferred_file_id]()  # the click
    (event,) = audit_events(store, action="download_report")
    assert (event.username, event.patient_id, event.target) == (
        "test-clinician",
        patient.id,
        f"prediction {record.id}",
    )
    assert pdf.startswith(b"%PDF-") and len(re.findall(rb"/Type\s*/Page(?!s)\b", pdf)) == 1
    assert len(re.findall(rb"/Subtype\s*/Image", pdf)) == 1  # the Grad-CAM overlay
    (details,) = [e for e in at.expander if e.label == "Technical details"]
    assert any(m.value == "**Model card: ShuffleNet_LSTM**" for m in details.markdown)
    assert at.dataframe[-2].value["Model"].tolist() == ["ShuffleNet + LSTM"]
    assert at.dataframe[-1].value["Model id"].tolist() == ["shufflenet_lstm"]  # technical
    # plain language: no hash, model id, formula, method name, path or command outside it
    shown_text = clinician_text(at.main)
    for hidden in (
        record.weights_sha256[:12],
        "SHA-256",
        "sha256",
        "shufflenet_lstm",
        "Integrated Gradients",
        "Grad-CAM",
        "w ·",
        "weights/",
        "rehab ",
    ):
        assert hidden not in shown_text, hidden
    assert "Probability of a good outcome" in shown_text  # the walk does see the page

    # the result survives a rerun, and the sliders move the overlay without predicting again
    at.slider[0].set_value(0.8).run()
    assert not at.exception
    assert metrics(at)["Probability of a good outcome"] == shown["Probability of a good outcome"]
    assert len(store.predictions(patient.id)) == 1

    # the EEG-EMG attribution, on as many windows as fit 1000 time samples (the page's budget)
    assert ["heatmap", "bar"] in chart_types(at)
    n_times = MANIFEST["parts"]["signal"]["kwargs"]["n_times"]
    n_explained = min(len(out["window_starts_s"]), max(1, 1000 // n_times))
    assert any(
        f"Integrated Gradients, mean of the ensemble's LSTMs, on {n_explained} " in m.value
        for m in details.markdown
    )


# a demo patient's fMRI through the whole image branch of the shipped model
@pytest.mark.slow
def test_image_only_patient_gets_the_image_only_note(signed_in, store, demo_files):
    patient = store.create_patient("FMRI-ONLY")
    store.add_upload(patient.id, "fmri", "bold.nii.gz", demo_files.fmri_path)
    at = open_prediction(signed_in, patient.id)
    (inputs,) = [m.value for m in at.markdown if m.value.startswith("**EEG-EMG:**")]
    assert inputs == (
        "**EEG-EMG:** none (image-only prediction)  \n**fMRI:** Resting-state fMRI (.nii.gz)"
    )
    at.session_state["prediction_slice"] = 999  # left by another patient's scan
    predict(at)
    (record,) = store.predictions(patient.id)
    assert record.outputs["modality"] == "image" and record.outputs["signal_score"] is None
    index = record.outputs["slice_index"]
    assert at.select_slider[0].value == index[len(index) // 2]  # back to the middle slice
    notes = [i.value for i in at.info]
    assert (
        "Image-only prediction: no EEG-EMG recording was given, so the fMRI model alone "
        "decides." in notes
    )
    assert "The 3-month FMA-LE estimate needs the baseline FMA-LE; none given." in notes
    assert metrics(at)["Predicted 3-month FMA-LE"] == "n/a / 34"


def test_patient_without_fmri_is_told_to_upload_one(signed_in, store, demo_files):
    patient = store.create_patient("EEG-ONLY")
    store.add_upload(patient.id, "signals", "rec.txt", demo_files.signals_path)
    at = open_prediction(signed_in, patient.id)
    assert [w.value for w in at.warning] == [
        "EEG-ONLY has no resting-state fMRI yet; the models need one."
    ]
    (button,) = [b for b in at.button if b.label == "Predict"]
    assert button.disabled  # shown, with the reason as its help
    assert button.help == (
        "Nothing can be predicted yet: every model needs the patient's resting-state fMRI."
    )


REAL = ROOT.parent / "shared" / "data" / "real-stroke-eeg-emg" / "subj2_iMC_s01_srg_raw.fif"
needs_real = pytest.mark.skipif(not REAL.exists(), reason="the shared real recordings are not here")


@needs_real
def test_an_arm_recording_without_fmri_disables_predict_with_the_reason(signed_in, store):
    patient = store.create_patient("REAL-ONLY")
    store.add_upload(patient.id, "signals", REAL.name, REAL)
    at = open_prediction(signed_in, patient.id)
    (warning,) = [w.value for w in at.warning]
    assert warning.startswith(
        "Nothing can be predicted yet: every model needs the patient's resting-state fMRI, "
        "and the model cannot use this EEG-EMG recording: it lacks"
    )
    assert "rectus femoris" in warning and "EMG_" not in warning
    (button,) = [b for b in at.button if b.label == "Predict"]
    assert button.disabled and button.help == warning


@needs_real
@pytest.mark.slow
def test_an_arm_recording_with_fmri_gets_a_labelled_fmri_only_prediction(
    signed_in, store, demo_files
):
    patient = store.create_patient("REAL-FMRI")
    store.add_upload(patient.id, "signals", REAL.name, REAL)
    store.add_upload(patient.id, "fmri", "bold.nii.gz", demo_files.fmri_path)
    at = open_prediction(signed_in, patient.id)
    assert not [b for b in at.button if b.label == "Predict"]
    (offer,) = [i.value for i in at.info if "fMRI-only prediction can be made" in i.value]
    assert offer.startswith("The model cannot use this EEG-EMG recording: it lacks")
    assert "rectus femoris" in offer and "EMG_" not in offer
    (button,) = [b for b in at.button if b.label == "Predict from the fMRI only"]
    assert not button.disabled
    button.click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    (record,) = store.predictions(patient.id)
    out = record.outputs
    assert out["modality"] == "image" and out["signal_score"] is None
    assert out["signals_not_used"]["reason"] == offer.split(" An fMRI-only")[0]
    assert out["notes"][0].startswith("fMRI-only prediction: the EEG-EMG recording")
    assert any(s.value.startswith("Result from the fMRI only") for s in at.subheader)
    assert out["notes"][0] in [i.value for i in at.info]
    # the history makes the same call as the result (it showed the raw 'poor' of a borderline)
    (history,) = [d.value for d in at.dataframe if "Call" in d.value.columns]
    assert history["Call"].tolist() == [prediction_call(out).title]
    # the EEG-EMG tab says the recording was not used, rather than drawing an empty timeline
    assert "No EEG-EMG recording was used for this prediction: the fMRI model alone decided." in [
        i.value for i in at.tabs[1].info
    ]
    lines = " ".join(m.value for m in at.markdown)
    assert "**EEG-EMG score:** not used (fMRI-only prediction)" in lines


def test_the_page_names_the_model_version_it_uses(signed_in, store, demo_files):
    """Shipped bundle by default; once a researcher promotes a version, that one and by whom."""
    from sqlalchemy.orm import Session

    from rehab_core.jobs import promote_version
    from rehab_core.jobs.versions import register_bundle
    from rehab_core.security import create_user

    patient = store.create_patient("EEG-ONLY")
    store.add_upload(patient.id, "signals", "rec.txt", demo_files.signals_path)
    at = open_prediction(signed_in, patient.id)
    assert "Version: the model shipped with this software." in [c.value for c in at.caption]
    with Session(store.engine) as session, session.begin():
        version_id = register_bundle(
            session, ROOT / "weights" / "shufflenet_lstm", data_dir=store.data_dir
        ).id
    # promotion needs an active administrator (or a second researcher): issue 14
    create_user(store, "dr.r", None, "admin", actor="pytest")
    promote_version(store, version_id, actor="dr.r")
    at = open_prediction(signed_in, patient.id)
    (line,) = [c.value for c in at.caption if c.value.startswith("Version:")]
    assert line.startswith(
        f"Version: v{version_id}, trained on this site's cohort and promoted by dr.r"
    )


@pytest.fixture
def two_models(tiny_training, tiny_second_training, tmp_path, monkeypatch):
    """A weights folder with two installed models (the tiny ShuffleNet and GhostNet bundles)."""
    import shutil

    folder = tmp_path / "weights"
    shutil.copytree(tiny_training["out"] / "shufflenet_lstm", folder / "shufflenet_lstm")
    shutil.copytree(tiny_second_training["out"] / "ghostnet_lstm", folder / "ghostnet_lstm")
    monkeypatch.setenv("REHAB_WEIGHTS_DIR", str(folder))
    return ["shufflenet_lstm", "ghostnet_lstm"]


def comparison_tables(at: AppTest) -> list:
    """The comparison tables shown (the only tables with a cross-validated AUC column)."""
    return [d.value for d in at.dataframe if "Cross-validated AUC" in d.value.columns]


def test_all_installed_models_are_compared_only_when_asked(
    signed_in, store, two_models, tiny_training, monkeypatch
):
    import rehab_core.workflows.predict as workflow
    from rehab_core.io.cohort import read_cohort

    calls = []
    real = workflow.compare_models

    def spy(*args, **kwargs):
        calls.append(real(*args, **kwargs))
        return calls[-1]

    monkeypatch.setattr(workflow, "compare_models", spy)  # the page imports it on each run
    cohort = read_cohort(tiny_training["cohort"])
    files = next(p for p in cohort.patients if p.signals_path)
    patient = store.create_patient("P-CMP", fma_le_baseline=int(files.baseline_fma))
    store.add_upload(patient.id, "signals", "rec.txt", files.signals_path)
    store.add_upload(patient.id, "fmri", "bold.nii.gz", files.fmri_path)

    at = open_prediction(signed_in, patient.id)
    (toggle,) = [t for t in at.toggle if t.label == "Compare all installed models"]
    assert toggle.value is False
    predict(at)  # the normal one-model flow computes no comparison
    assert calls == [] and comparison_tables(at) == []
    assert len(store.predictions(patient.id)) == 1
    events = audit_events(store, patient_id=patient.id)

    at.toggle(key="prediction_compare").set_value(True).run()
    assert not at.exception, at.exception
    (comparison,) = calls
    (table,) = comparison_tables(at)
    assert list(table["Model"]) == ["GhostNet + LSTM", "ShuffleNet + LSTM"]  # sorted by id
    assert [m.model_id for m in comparison.models] == sorted(two_models)
    assert all(m.refusal == "" for m in comparison.models)
    assert list(table["P(good)"]) == [f"{m.probability_good:.2f}" for m in comparison.models]
    disagreement = comparison.disagreement()
    shown = [w.value for w in at.warning if "disagree" in w.value]
    assert shown == ([disagreement] if disagreement else [])
    text = clinician_text(at.main)
    assert "ghostnet_lstm" not in text and "shufflenet_lstm" not in text
    # a view: nothing more stored or audited, and a rerun reads the cache
    assert len(store.predictions(patient.id)) == 1
    assert audit_events(store, patient_id=patient.id) == events
    at.run()
    assert len(calls) == 1
    assert len(comparison_tables(at)) == 1


def test_with_one_installed_model_there_is_nothing_to_compare(
    signed_in, store, demo_files, tmp_path, monkeypatch
):
    import shutil

    folder = tmp_path / "weights"  # only the default of the shipped bundles
    shutil.copytree(ROOT / "weights" / "shufflenet_lstm", folder / "shufflenet_lstm")
    monkeypatch.setenv("REHAB_WEIGHTS_DIR", str(folder))
    patient = store.create_patient("P-ONE")
    store.add_upload(patient.id, "fmri", "bold.nii.gz", demo_files.fmri_path)
    at = open_prediction(signed_in, patient.id)
    assert not [t for t in at.toggle if t.label == "Compare all installed models"]


# --- a recording whose channels were mapped (issue 15) -------------------------------------------
WARD_NAMES = {"EMG_RF": "RF", "EMG_RFP": "Rectus_femoris_prox_L"}
WARD_MAP = {"RF": "EMG_RF", "Rectus_femoris_prox_L": "EMG_RFP"}


def ward_copy(demo_files, path: Path, *, nudge: float = 0.0) -> Path:
    """The demo EEG-EMG with two muscles under a ward's own names (``nudge`` µV: other bytes)."""
    lines = demo_files.signals_path.read_text().splitlines(keepends=True)
    header = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    lines[header] = " ".join(WARD_NAMES.get(n, n) for n in lines[header].split()) + "\n"
    if nudge:
        first = lines[header + 1].split()
        first[0] = f"{float(first[0]) + nudge:.2f}"
        lines[header + 1] = " ".join(first) + "\n"
    path.write_text("".join(lines))
    return path


def predict_button(at: AppTest) -> str:
    (button,) = [b for b in at.button if b.label.startswith("Predict")]
    return button.label


@pytest.mark.slow
def test_a_mapped_upload_is_predicted_with_its_map_and_a_later_upload_is_offered_it(
    signed_in, store, demo_files, tmp_path
):
    """The map is applied to the upload the model reads; a newer upload gets its own, offered."""
    from rehab_core.workflows.patients import map_channels

    patient = store.create_patient("WARD-MAP", fma_le_baseline=13)
    store.add_upload(patient.id, "fmri", "bold.nii.gz", demo_files.fmri_path)
    first = store.add_upload(
        patient.id, "signals", "ward.txt", ward_copy(demo_files, tmp_path / "a.txt")
    )
    at = open_prediction(signed_in, patient.id)
    assert predict_button(at) == "Predict from the fMRI only"  # RF is no leg muscle yet

    map_channels(store, "test-clinician", first, WARD_MAP)
    at = open_prediction(signed_in, patient.id)
    (inputs,) = [m.value for m in at.markdown if m.value.startswith("**EEG-EMG:**")]
    assert "cannot use" not in inputs
    predict(at)  # the button says "Predict": the mapped recording is used
    (record,) = store.predictions(patient.id)
    out = record.outputs
    assert out["modality"] == "fusion" and out["signal_score"] is not None
    assert first.id in record.upload_ids and out["channel_map"] == WARD_MAP
    # the EEG-EMG explanation was worked out with the map: the ward's muscles under their names
    (attribution,) = [
        json.loads(c.proto.spec) for c in at.get("plotly_chart") if "attribution" in c.proto.id
    ]
    drawn = json.dumps(attribution)
    assert "rectus femoris" in drawn and "Rectus_femoris_prox_L" not in drawn

    # a second recording with the same names: latest now, so the one predictions read; its own
    # map is empty (another file may name channels otherwise), and the Prediction page says so
    second = store.add_upload(
        patient.id, "signals", "ward2.txt", ward_copy(demo_files, tmp_path / "b.txt", nudge=0.5)
    )
    assert store.latest_upload(patient.id, "signals").id == second.id != first.id
    at = open_prediction(signed_in, patient.id)
    assert predict_button(at) == "Predict from the fMRI only"

    # the Patients page offers the earlier map for the new recording; saving it makes it usable
    at.switch_page("pages/patients.py").run()
    (section,) = [e for e in at.expander if e.label.startswith("Match this recording's channels")]
    assert [i.value for i in section.info] == [
        "Filled in from the map saved with this patient's earlier recording. It is not used "
        "for this recording until you save it."
    ]
    assert {s.label: s.value for s in section.selectbox} == {
        "rectus femoris": "RF",
        "proximal rectus femoris": "Rectus_femoris_prox_L",
    }
    assert store.latest_upload(patient.id, "signals").channel_map == {}  # not applied unasked
    (save,) = [b for b in section.button if b.label == "Save the channel map"]
    save.click().run()
    assert not at.exception, at.exception
    assert store.latest_upload(patient.id, "signals").channel_map == WARD_MAP
    at = open_prediction(signed_in, patient.id)
    assert predict_button(at) == "Predict"
