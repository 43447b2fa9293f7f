"""Screenshots of every page as a clinician, a researcher and an administrator see them.

For a human to look at before calling the dashboard done (issue 15): one
``streamlit run app.py`` with a private data folder and headless Chromium
(``tests/browser/streamlit_browser.py``). The store gets three accounts, a
patient with a real recording (32 EEG + 8 arm EMG from ``../shared/data``)
and a demo fMRI, and a borderline demo patient; a trial training job with
"Start from ImageNet weights" on (offline: the fallback line) is started on
the Retrain page and followed to its end for the job's status and
validation-AUC curve. Full-page PNGs go to ``--out``.

Run (after `make setup` and `make browser`; about 10 minutes on 2 cores):
    .venv/bin/python bench/ui_screens.py --out test-artifacts/screens
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from streamlit_browser import (  # noqa: E402
    chromium_browser,
    go_to_page,
    new_page,
    open_app,
    rerun,
    sign_in,
    streamlit_server,
)

PASSWORD = "screens password"
REAL = ROOT.parent / "shared" / "data" / "real-stroke-eeg-emg" / "subj2_iMC_s01_srg_raw.fif"
SLOW_MS = 600_000
JOB_MS = 1_500_000


def _setup(data_dir: Path, work: Path) -> dict[str, int]:
    from rehab_core.demo import generate_cohort, generate_patient
    from rehab_core.security import create_user
    from rehab_core.storage import open_store

    demo = generate_patient(work / "demo", seed=42, minutes=1.0, volumes=60)
    cohort = generate_cohort(
        data_dir / "cohorts" / "tiny", n_jobs=1, n_patients=20, n_with_signals=18, seed=5,
        minutes=0.2, volumes=50,
    ).root  # fmt: skip
    store = open_store(data_dir=data_dir)
    try:
        for role in ("admin", "clinician", "researcher"):
            create_user(store, f"dr.{role}", PASSWORD, role, actor="screens")
        real = store.create_patient("REAL-002", age=58, sex="M", fma_le_baseline=15)
        store.add_upload(real.id, "signals", REAL.name, REAL)
        store.add_upload(real.id, "fmri", "bold.nii.gz", demo.fmri_path)
        border = store.create_patient("BORDER-042", age=66, sex="F", fma_le_baseline=13)
        store.add_upload(border.id, "signals", "rec.txt", demo.signals_path)
        store.add_upload(border.id, "fmri", "bold.nii.gz", demo.fmri_path)
    finally:
        store.close()
    return {"real": real.id, "border": border.id, "cohort": str(cohort)}


def _shot(page, out: Path, name: str) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stSkeleton")).to_have_count(0, timeout=SLOW_MS)
    page.wait_for_timeout(800)  # plotly draws after the run
    # Streamlit scrolls inside its main section, so a full-page shot is one screen: the
    # viewport is made as tall as the page's content for the shot, then put back
    size = page.viewport_size
    height = page.evaluate(
        "Math.max(...[...document.querySelectorAll('[data-testid=stMain], section')]"
        ".map((e) => e.scrollHeight), window.innerHeight)"
    )
    page.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 8000)})
    page.wait_for_timeout(800)
    page.screenshot(path=str(out / f"{name}.png"), full_page=True)
    page.set_viewport_size(size)
    print(f"  {name}.png", flush=True)


def _fill(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Tab")


def _clinician(browser, url: str, ids: dict, out: Path) -> None:
    from playwright.sync_api import expect

    page = new_page(browser)
    open_app(page, url)
    _shot(page, out, "01_sign_in")
    sign_in(page, "dr.clinician", PASSWORD, timeout_ms=SLOW_MS)
    _shot(page, out, "02_overview_clinician")
    open_app(page, f"{url}/patients?patient={ids['real']}")
    _shot(page, out, "03_patients_real_recording")
    go_to_page(page, "Signals", timeout_ms=SLOW_MS)
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible(timeout=SLOW_MS)
    _shot(page, out, "04_signals_real_recording")
    page.get_by_role("tab", name="fMRI").click()
    # the EEG-EMG tab's charts stay in the page, hidden: wait for one the fMRI tab shows
    shown = page.get_by_test_id("stPlotlyChart").filter(visible=True)
    expect(shown.first).to_be_visible(timeout=SLOW_MS)
    page.wait_for_timeout(1500)
    _shot(page, out, "04b_signals_fmri")
    go_to_page(page, "Prediction", timeout_ms=SLOW_MS)
    _shot(page, out, "05_prediction_fmri_only_offer")
    button = page.get_by_role("button", name="Predict from the fMRI only")
    rerun(page, button.click, timeout_ms=SLOW_MS)
    expect(page.get_by_test_id("stPlotlyChart").filter(has_text="Heatmap")).to_be_visible(
        timeout=SLOW_MS
    )
    _shot(page, out, "06_prediction_fmri_only_gradcam")
    open_app(page, f"{url}/prediction?patient={ids['border']}")
    rerun(page, page.get_by_role("button", name="Predict", exact=True).click, timeout_ms=SLOW_MS)
    expect(page.get_by_test_id("stPlotlyChart").filter(has_text="Heatmap")).to_be_visible(
        timeout=SLOW_MS
    )
    _shot(page, out, "07_prediction_borderline_gradcam")
    page.get_by_role("tab", name="EEG-EMG windows").click()
    page.wait_for_timeout(500)
    expect(page.get_by_test_id("stPlotlyChart").filter(has_text="channel")).not_to_have_count(
        0, timeout=SLOW_MS
    )
    _shot(page, out, "08_prediction_borderline_eeg_emg")
    go_to_page(page, "Signals", timeout_ms=SLOW_MS)
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible(timeout=SLOW_MS)
    _shot(page, out, "09_signals_demo_patient")
    open_app(page, f"{url}/retrain")
    _shot(page, out, "10_retrain_refused_to_clinician")
    page.context.close()


def _researcher(browser, url: str, ids: dict, out: Path) -> None:
    from playwright.sync_api import expect

    page = new_page(browser)
    open_app(page, f"{url}/evaluation")
    sign_in(page, "dr.researcher", PASSWORD, timeout_ms=SLOW_MS)
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible(timeout=SLOW_MS)
    _shot(page, out, "11_evaluation")
    go_to_page(page, "Retrain", timeout_ms=SLOW_MS)
    _fill(page, "Or the cohort folder's path", ids["cohort"])
    rerun(page, page.get_by_role("button", name="Use this folder").click, timeout_ms=SLOW_MS)
    for label, value in (
        ("Epochs (CNNs)", "3"),
        ("Epochs (LSTM)", "2"),
        ("Folds (ensemble size)", "2"),
        ("Held-out test fraction", "0.25"),
    ):
        _fill(page, label, value)
    page.get_by_text("Advanced").click()
    _fill(page, "Slice size fed to the CNNs (pixels)", "64")
    page.get_by_text("Trial run: one batch per epoch").click()
    _shot(page, out, "12_retrain_settings")
    rerun(page, page.get_by_role("button", name="Start training").click, timeout_ms=SLOW_MS)
    _shot(page, out, "13_retrain_confirm")
    rerun(
        page,
        page.get_by_role("button", name="Confirm: start training").click,
        timeout_ms=SLOW_MS,
    )
    page.get_by_role("tab", name="Jobs").click()
    finished = page.get_by_text(re.compile(r"^(Finished|Failed)"))
    expect(finished.first).to_be_visible(timeout=JOB_MS)
    page.wait_for_timeout(3000)
    _shot(page, out, "14_retrain_job_finished")
    page.get_by_role("tab", name="Model versions").click()
    _shot(page, out, "15_retrain_versions")
    page.context.close()


def _admin(browser, url: str, out: Path) -> None:
    page = new_page(browser)
    open_app(page, f"{url}/admin")
    sign_in(page, "dr.admin", PASSWORD, timeout_ms=SLOW_MS)
    _shot(page, out, "16_admin_users")
    page.get_by_role("tab", name="Audit log").click()
    _shot(page, out, "17_admin_audit_log")
    open_app(page, f"{url}/patients")
    _shot(page, out, "18_patients_admin")
    page.context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "test-artifacts" / "screens")
    parser.add_argument("--only", choices=("clinician", "researcher", "admin"), default=None)
    args = parser.parse_args(argv)
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="rehab_screens_") as tmp:
        data_dir = Path(tmp) / "data"
        ids = _setup(data_dir, Path(tmp))
        try:
            with streamlit_server(data_dir, args.out / "streamlit.log") as server:
                with chromium_browser() as browser:
                    if args.only in (None, "clinician"):
                        _clinician(browser, server.url, ids, args.out)
                    if args.only in (None, "admin"):
                        _admin(browser, server.url, args.out)
                    if args.only in (None, "researcher"):
                        _researcher(browser, server.url, ids, args.out)
        finally:
            _stop_runner(data_dir)
    return 0


def _stop_runner(data_dir: Path) -> None:
    """The job runner the Retrain page started outlives the server on purpose; end it here."""
    import os
    import signal

    lock = data_dir / "jobs" / "runner.lock"
    text = lock.read_text().split() if lock.is_file() else []
    if text:
        try:
            os.kill(int(text[0]), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


if __name__ == "__main__":
    sys.exit(main())
