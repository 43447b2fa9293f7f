"""The whole clinical path in a real browser: first administrator, patient, uploads, signals,
prediction, PDF, audit trail, sign-out and sign-in.

Headless Debian Chromium drives ``streamlit run app.py`` (see conftest.py) the
way a clinician would: the sidebar to change page, the form to create a
patient, the file chooser to upload two recordings written by
``rehab_core.demo.generate_patient``, the Predict button, the Grad-CAM
sliders and the report's download button. Every wait is on something the
page shows (a text, a chart, the app going idle), bounded by a timeout; the
first visit to Signals and the first prediction preprocess and load models,
so those get minutes. A screenshot of each step is kept under
``test-artifacts/browser/``.
"""

from __future__ import annotations

import io
import re
import shutil
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from playwright.sync_api import Locator, Page, expect
from streamlit_browser import go_to_page, open_app, rerun, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PSEUDONYM = "E2E-001"
ADMIN = "e2e.admin"
PASSWORD = "browser test password"
SLOW_MS = 300_000  # first preprocessing / model load / prediction on a busy 2-core machine
UI_MS = 60_000


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> dict[str, Path]:
    """One synthetic patient's two files, renamed as a hospital export might name them."""
    from rehab_core.demo import generate_patient

    out = tmp_path_factory.mktemp("upload")
    files = generate_patient(out / "generated", seed=7, minutes=1.0, volumes=60)
    signals = shutil.copy(files.signals_path, out / "e2e_eegemg.txt")
    fmri = shutil.copy(files.fmri_path, out / "e2e_bold.nii.gz")
    return {"signals": Path(signals), "fmri": Path(fmri)}


def _shot(page: Page, artifacts: Path, name: str, target: Locator | None = None) -> None:
    """Screenshot of the viewport (scrolled to ``target`` first), kept as ``name``.png."""
    if target is not None:
        target.scroll_into_view_if_needed()
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0)
    page.screenshot(path=str(artifacts / f"{name}.png"))


def _no_exception(page: Page) -> None:
    """No page has shown a Python traceback."""
    expect(page.get_by_test_id("stException")).to_have_count(0)


def _chart(page: Page, title: str) -> Locator:
    """The plotly chart whose rendered SVG contains ``title``."""
    return page.get_by_test_id("stPlotlyChart").filter(has_text=title)


def _colourfulness(chart: Locator) -> float:
    """Mean of max-min over R, G, B of the chart's pixels (0 for a grey image)."""
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(chart.screenshot())).convert("RGB"), dtype=float)
    return float((rgb.max(axis=2) - rgb.min(axis=2)).mean())


def _wait_colourfulness(chart: Locator, *, above: float | None = None, below: float | None = None):
    """Poll the rendered chart until its colourfulness passes the bound (plotly draws async)."""
    deadline = time.monotonic() + UI_MS / 1000
    while True:
        value = _colourfulness(chart)
        if (above is None or value > above) and (below is None or value < below):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"colourfulness {value:.2f} never passed {above=} {below=}")
        chart.page.wait_for_timeout(250)


def _logged_setup_token(log: Path) -> str:
    """The first-run setup token the server printed in its log (waits for it)."""
    import re

    deadline = time.monotonic() + UI_MS / 1000
    while time.monotonic() < deadline:
        found = re.findall(r"First-run setup token \(valid .*?\): (\S+)", log.read_text())
        if found:
            return found[-1]
        time.sleep(0.25)
    raise AssertionError(f"no setup token in {log}")


def _slider(page: Page, label: str) -> Locator:
    return page.get_by_test_id("stSlider").filter(has_text=label).get_by_role("slider")


def test_patient_to_pdf_report(page: Page, app_url: str, app_data_dir: Path, artifacts, recordings):
    # --- first run: no account exists; the sign-in page creates the administrator -------------
    open_app(page, app_url, timeout_ms=UI_MS)
    expect(page.get_by_text("Create the administrator account")).to_be_visible()
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)  # nothing else is routed
    # the one-time setup token is in the server's log, for whoever started the server
    page.get_by_role("textbox", name="Setup token").fill(
        _logged_setup_token(artifacts / "streamlit.log")
    )
    page.get_by_label("User name").fill(ADMIN)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    _shot(page, artifacts, "00_first_run")
    page.get_by_role("button", name="Create administrator").click()

    # --- signed in, the app opens on its overview ---------------------------------------------
    expect(
        page.get_by_role("heading", name="Lower-limb recovery after ischaemic stroke")
    ).to_be_visible()
    expect(page.get_by_test_id("stSidebar")).to_contain_text(f"Signed in as {ADMIN} (admin)")
    _shot(page, artifacts, "01_overview")

    # --- Patients: one-click demo patient, then a patient of our own through the form --------
    go_to_page(page, "Patients", timeout_ms=UI_MS)
    expect(page.get_by_text("No patient yet.")).to_be_visible()
    page.get_by_role("button", name="Create a demo patient").click()
    expect(page.get_by_text("Created the synthetic patient DEMO-42")).to_be_visible(timeout=SLOW_MS)

    page.get_by_test_id("stExpander").filter(has_text="Create a patient").get_by_text(
        "Create a patient"
    ).click()
    page.get_by_role("textbox", name="Pseudonym").fill(PSEUDONYM)
    page.get_by_role("spinbutton", name="Age (years)").fill("61")
    page.get_by_role("spinbutton", name="Baseline FMA-LE (0-34)").fill("12")
    page.get_by_role("button", name="Create patient").click()
    expect(
        page.get_by_text(f"Created patient {PSEUDONYM}; upload their recordings below.")
    ).to_be_visible()
    expect(page.get_by_role("combobox", name="Patient")).to_have_value(f"{PSEUDONYM} (61)")
    _no_exception(page)
    _shot(page, artifacts, "02_patient_created")

    # --- uploads through the real file chooser (the hidden <input type=file>) ----------------
    uploaders = page.get_by_test_id("stFileUploader")
    uploaders.filter(has_text="EEG-EMG recording").locator("input[type=file]").set_input_files(
        recordings["signals"]
    )
    expect(
        page.get_by_text(
            "Stored e2e_eegemg.txt: 22 channels (16 EEG, 6 EMG), 1000 Hz, 60.0 s; "
            "all 22 model channels present."
        )
    ).to_be_visible(timeout=SLOW_MS)
    uploaders.filter(has_text="Resting-state fMRI").locator("input[type=file]").set_input_files(
        recordings["fmri"]
    )
    x, y, z = nib.load(recordings["fmri"]).shape[:3]  # the drawn site's grid (cohort v2)
    expect(
        page.get_by_text(re.compile(rf"^Stored e2e_bold\.nii\.gz: {x} x {y} x {z} voxels"))
    ).to_be_visible(timeout=SLOW_MS)
    table = page.get_by_test_id("stTable")  # the recordings table wraps its summary
    expect(table).to_be_visible()
    _no_exception(page)
    _shot(page, artifacts, "03_uploaded", table)

    # what the browser uploaded is what the store kept
    from rehab_core.storage import open_store

    store = open_store(data_dir=app_data_dir)
    try:
        patient = next(p for p in store.list_patients() if p.pseudonym == PSEUDONYM)
        stored = {u.kind: u for u in store.uploads(patient.id)}
        assert stored["signals"].original_name == "EEG-EMG recording (.txt)"
        assert stored["fmri"].original_name == "Resting-state fMRI (.nii.gz)"
        assert stored["signals"].path.read_bytes() == recordings["signals"].read_bytes()
        # the fMRI is stored de-identified (header text fields cleared, re-written): same image
        kept, sent = (nib.load(p) for p in (stored["fmri"].path, recordings["fmri"]))
        np.testing.assert_array_equal(kept.get_fdata(), sent.get_fdata())
        np.testing.assert_array_equal(kept.affine, sent.affine)
    finally:
        store.close()

    # --- Signals: the filtered traces as a plotly chart, and its start slider -----------------
    go_to_page(page, "Signals", timeout_ms=SLOW_MS)
    expect(page.get_by_role("heading", name=f"Signals: {PSEUDONYM}")).to_be_visible()
    traces = _chart(page, "Filtered EEG-EMG, 0-10 s")
    expect(traces).to_be_visible(timeout=SLOW_MS)
    expect(traces.locator(".main-svg").first).to_be_visible()
    _shot(page, artifacts, "04_signals", traces)
    start = _slider(page, "Start (s)")
    rerun(page, lambda: (start.focus(), start.press("ArrowRight")), timeout_ms=UI_MS)
    expect(_chart(page, "Filtered EEG-EMG, 1-11 s")).to_be_visible()
    _no_exception(page)

    # --- Prediction: Predict, the probability, the Grad-CAM overlay ---------------------------
    go_to_page(page, "Prediction", timeout_ms=SLOW_MS)
    expect(
        page.get_by_text("Press Predict to run the model on the latest recordings.")
    ).to_be_visible()
    page.get_by_role("button", name="Predict", exact=True).click()
    value = (
        page.get_by_test_id("stMetric")
        .filter(has_text="Probability of a good outcome")
        .get_by_test_id("stMetricValue")
    )
    expect(value).to_have_text(re.compile(r"^[01]\.\d\d$"), timeout=SLOW_MS)
    expect(
        page.get_by_test_id("stMetric").filter(has_text="Call at the threshold")
    ).to_contain_text(re.compile("Good recovery|Poor recovery|Borderline"))
    _no_exception(page)
    _shot(page, artifacts, "05_prediction")

    store = open_store(data_dir=app_data_dir)
    try:
        (record,) = store.predictions(patient.id)
    finally:
        store.close()
    assert value.inner_text() == f"{record.outputs['probability_good']:.2f}"
    assert record.outputs["model_id"] == "shufflenet_lstm"

    gradcam = _chart(page, "Heatmap, axial slice")
    expect(gradcam).to_be_visible(timeout=SLOW_MS)
    expect(gradcam.locator("g.imagelayer image")).to_have_count(1)
    gradcam.scroll_into_view_if_needed()
    coloured = _wait_colourfulness(gradcam, above=8.0)  # the heatmap tints the grey slice
    _shot(page, artifacts, "06_gradcam", gradcam)

    title = gradcam.locator(".gtitle").text_content()
    slice_slider = _slider(page, "Axial slice")
    rerun(page, lambda: (slice_slider.focus(), slice_slider.press("ArrowRight")), timeout_ms=UI_MS)
    expect(gradcam.locator(".gtitle")).not_to_have_text(title)
    expect(gradcam.locator(".gtitle")).to_have_text(re.compile(r"^Heatmap, axial slice \d+"))

    # --- the PDF report (with the overlay as shown) through the browser's download --------
    button = page.get_by_test_id("stDownloadButton").filter(has_text="Download the PDF report")
    button.scroll_into_view_if_needed()
    with page.expect_download(timeout=SLOW_MS) as download_info:
        button.get_by_role("button").click()
    download = download_info.value
    assert download.suggested_filename == f"{PSEUDONYM}_prediction_{record.id}.pdf"
    pdf = Path(download.path()).read_bytes()
    (artifacts / download.suggested_filename).write_bytes(pdf)
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) == 1  # the report is one page
    assert b"/Subtype /Image" in pdf  # with the Grad-CAM overlay shown on the page
    _no_exception(page)
    _shot(page, artifacts, "07_report_downloaded", button)

    opacity = _slider(page, "Heatmap opacity")
    rerun(page, lambda: (opacity.focus(), opacity.press("Home")), timeout_ms=UI_MS)
    expect(opacity).to_have_attribute("aria-valuetext", "0.00")
    grey = _wait_colourfulness(gradcam, below=coloured / 2)  # opacity 0: the slice alone
    assert grey < coloured
    _no_exception(page)
    _shot(page, artifacts, "08_gradcam_opacity_0", gradcam)

    # --- Evaluation: the shipped model's out-of-fold figures and curves ----------------------
    go_to_page(page, "Evaluation", timeout_ms=SLOW_MS)
    expect(page.get_by_role("heading", name="Evaluation", exact=True)).to_be_visible()
    expect(
        page.get_by_test_id("stMetric").filter(has_text="Patients scored out of fold")
    ).to_contain_text(re.compile(r"\d+"))
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible(timeout=SLOW_MS)
    _no_exception(page)
    _shot(page, artifacts, "09_evaluation")

    # --- the audit trail holds who did what to the patient, by id, with no names -------------
    from rehab_core.security import audit_events

    store = open_store(data_dir=app_data_dir)
    try:
        trail = [(e.username, e.action, e.patient_id) for e in reversed(audit_events(store))]
    finally:
        store.close()
    for step in ("view_patient", "upload", "predict", "download_report"):
        assert (ADMIN, step, patient.id) in trail, step
    assert trail[:2] == [(ADMIN, "first_admin", None), (ADMIN, "sign_in", None)]

    go_to_page(page, "Admin", timeout_ms=UI_MS)
    page.get_by_role("tab", name="Audit log").click()
    expect(page.get_by_test_id("stDataFrame").last).to_be_visible()
    _no_exception(page)
    _shot(page, artifacts, "10_audit_log")

    # --- sign out, then back in through the real form (a wrong password first) ---------------
    rerun(page, page.get_by_role("button", name="Sign out").click, timeout_ms=UI_MS)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    sign_in(page, ADMIN, "not the password", timeout_ms=UI_MS)
    expect(page.get_by_text("Wrong user name or password.")).to_be_visible()
    sign_in(page, ADMIN, PASSWORD, timeout_ms=UI_MS)
    # signed out on the Admin page, the sign-in form stood at its address: signing in returns
    # there, as any deep link does (issue 15)
    expect(page.get_by_role("heading", name="Admin", exact=True)).to_be_visible()
    _no_exception(page)
    _shot(page, artifacts, "11_signed_in_again")
