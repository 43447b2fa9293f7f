"""Two results a clinician must not misread, in a real browser (issue 15).

* A patient with a real recording (32 EEG + 8 arm EMG, ``../shared/data``) and an
  fMRI: the model cannot use arm muscles, so the Prediction page offers a clearly
  labelled fMRI-only prediction, which works and is labelled on the result.
* A borderline result (the shipped model's P(good) of this demo patient is 0.52
  against 0.50) is shown as "Borderline" with its reasons, never as a firm call.

Patients and files are put in the server's store directly (uploading through the
browser is the walk-through's job), and each test opens its patient by a deep
link, so each test is one sign-in, one page and one prediction.
Screenshots: ``test-artifacts/browser/calls-*.png``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from streamlit_browser import ROOT, go_to_page, open_app, rerun, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CLINICIAN = "dr.calls"
PASSWORD = "browser calls password"
REAL = ROOT.parent / "shared" / "data" / "real-stroke-eeg-emg" / "subj2_iMC_s01_srg_raw.fif"
SLOW_MS = 300_000  # first preprocessing and model load on a busy 2-core machine
UI_MS = 60_000


@pytest.fixture(scope="module")
def patients(app_url: str, app_data_dir: Path, tmp_path_factory) -> dict[str, int]:
    """A clinician, the real-recording patient and the borderline demo patient."""
    from rehab_core.demo import generate_patient
    from rehab_core.security import create_user
    from rehab_core.storage import open_store

    if not REAL.is_file():
        pytest.skip(f"{REAL} is not here (the shared real recordings)")
    # seed 42, 1 min, 60 volumes: P(good) 0.52 with the shipped model (rehab predict --json)
    demo = generate_patient(tmp_path_factory.mktemp("calls"), seed=42, minutes=1.0, volumes=60)
    store = open_store(data_dir=app_data_dir)
    try:
        create_user(store, "admin.calls", PASSWORD, "admin", actor="pytest")  # no first-run form
        create_user(store, CLINICIAN, PASSWORD, "clinician", actor="pytest")
        real = store.create_patient("REAL-002", age=58, sex="M")
        store.add_upload(real.id, "signals", REAL.name, REAL)
        store.add_upload(real.id, "fmri", "bold.nii.gz", demo.fmri_path)
        borderline = store.create_patient("BORDER-042", fma_le_baseline=13)
        store.add_upload(borderline.id, "signals", "rec.txt", demo.signals_path)
        store.add_upload(borderline.id, "fmri", "bold.nii.gz", demo.fmri_path)
    finally:
        store.close()
    return {"real": real.id, "borderline": borderline.id}


def _open_prediction(page: Page, app_url: str, patient_id: int) -> None:
    """The Prediction page of a patient by its deep link, signing in on the way."""
    expect.set_options(timeout=UI_MS)
    open_app(page, f"{app_url}/prediction?patient={patient_id}", timeout_ms=UI_MS)
    sign_in(page, CLINICIAN, PASSWORD, timeout_ms=SLOW_MS)
    expect(page.get_by_role("heading", name="Prediction", exact=True)).to_be_visible()


def _shot(page: Page, artifacts: Path, name: str) -> None:
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0)
    page.screenshot(path=str(artifacts / f"calls-{name}.png"), full_page=True)


def _call(page: Page):
    return page.get_by_test_id("stMetric").filter(has_text="Call at the threshold")


def test_real_arm_recording_gets_a_labelled_fmri_only_prediction(
    page: Page, app_url: str, patients, artifacts: Path
):
    _open_prediction(page, app_url, patients["real"])
    offer = page.get_by_test_id("stAlert").filter(has_text="An fMRI-only prediction can be made")
    expect(offer).to_contain_text("The model cannot use this EEG-EMG recording: it lacks")
    expect(offer).to_contain_text("rectus femoris")  # muscles in words, never EMG_RF
    expect(offer).not_to_contain_text("EMG_")
    expect(page.get_by_role("button", name="Predict", exact=True)).to_have_count(0)
    button = page.get_by_role("button", name="Predict from the fMRI only")
    rerun(page, button.click, timeout_ms=SLOW_MS)
    expect(
        page.get_by_role("heading", name=re.compile(r"^Result from the fMRI only"))
    ).to_be_visible()
    value = _call(page).get_by_test_id("stMetricValue")
    expect(value).to_have_text(re.compile("Good recovery|Poor recovery|Borderline"))
    expect(
        page.get_by_text(re.compile(r"^fMRI-only prediction: the EEG-EMG recording"))
    ).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)
    _shot(page, artifacts, "1-real-recording-fmri-only")
    # its traces are viewable although the model cannot use them
    go_to_page(page, "Signals", timeout_ms=SLOW_MS)
    chart = page.get_by_test_id("stPlotlyChart").filter(has_text="Filtered EEG-EMG, 0-10 s")
    expect(chart).to_be_visible(timeout=SLOW_MS)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_a_borderline_result_is_no_firm_call(page: Page, app_url: str, patients, artifacts: Path):
    _open_prediction(page, app_url, patients["borderline"])
    rerun(page, page.get_by_role("button", name="Predict", exact=True).click, timeout_ms=SLOW_MS)
    expect(_call(page).get_by_test_id("stMetricValue")).to_have_text("Borderline")
    banner = page.get_by_test_id("stAlert").filter(has_text="Borderline: not a firm good or poor")
    expect(banner).to_contain_text(re.compile(r"probability 0\.5\d is within"))
    expect(page.get_by_text(re.compile(r"^(Good|Poor) recovery$"))).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    _shot(page, artifacts, "2-borderline")
