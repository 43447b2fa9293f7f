"""A researcher retrains in a real browser: cohort summary, a trial job to completion, no promotion.

Headless Chromium drives ``streamlit run app.py`` (see conftest.py). The job
runs in the background runner process the page starts, exactly as in use; it
is a trial run (one batch per epoch, 64 x 64 slices, no ImageNet download) on
the 20-patient tiny cohort, so it ends in a minute or two. A trial run is
never promotable (issue 14): the page says why beside a disabled button.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from streamlit_browser import go_to_page, open_app, rerun, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RESEARCHER = "e2e.researcher"
PASSWORD = "browser test password"
JOB_MS = 900_000  # a trial job: 1-2 min on an idle 2-core machine, 10 min seen at load 25
UI_MS = 120_000


@pytest.fixture
def researcher(app_data_dir: Path):
    from rehab_core.security import create_user
    from rehab_core.storage import open_store

    store = open_store(data_dir=app_data_dir)
    try:
        # an administrator exists already: the sign-in page shows its form, not the first run's
        create_user(store, "e2e.admin", PASSWORD, "admin", actor="pytest")
        create_user(store, RESEARCHER, PASSWORD, "researcher", actor="pytest")
    finally:
        store.close()
    yield RESEARCHER
    # the runner is detached from the server on purpose; a failed test must not leave it training
    lock = app_data_dir / "jobs" / "runner.lock"
    if lock.is_file() and lock.read_text().strip():
        try:
            os.kill(int(lock.read_text().split()[0]), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def _fill(page: Page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Tab")


def test_trial_training_runs_to_completion_and_is_never_promoted(
    page: Page,
    app_url: str,
    app_data_dir: Path,
    researcher: str,
    tiny_cohort: Path,
    artifacts: Path,
):
    open_app(page, app_url)
    sign_in(page, researcher, PASSWORD)
    go_to_page(page, "Retrain")
    expect(page.get_by_text("Retrain the models on your cohort")).to_be_visible()

    # 1. the cohort: every recording is read before anything is queued; cohorts are accepted
    # only under the server's cohorts folders (issue 14), so it is copied under the data folder
    cohort = app_data_dir / "cohorts" / "tiny"
    shutil.copytree(tiny_cohort, cohort)
    _fill(page, "Or the cohort folder's path", str(cohort))
    rerun(page, page.get_by_role("button", name="Use this folder").click, timeout_ms=UI_MS)
    patients = page.get_by_test_id("stMetric").filter(has_text="Patients").first
    expect(patients).to_contain_text("20", timeout=UI_MS)
    expect(page.get_by_test_id("stMetric").filter(has_text="Files that fail")).to_contain_text("0")
    page.screenshot(path=str(artifacts / "retrain_1_cohort.png"))

    # 2. a trial run: one epoch of one batch, small slices, no ImageNet weights (offline)
    for label, value in (
        ("Epochs (CNNs)", "1"),
        ("Epochs (LSTM)", "1"),
        ("Folds (ensemble size)", "2"),
        ("Held-out test fraction", "0.25"),
    ):
        _fill(page, label, value)
    page.get_by_text("Start from ImageNet weights", exact=True).click()
    page.get_by_text("Advanced").click()
    _fill(page, "Slice size fed to the CNNs (pixels)", "64")
    page.get_by_text("Trial run: one batch per epoch").click()
    rerun(page, page.get_by_role("button", name="Start training").click, timeout_ms=UI_MS)
    # Start training asks once more, with the estimate (issue 15)
    rerun(
        page,
        page.get_by_role("button", name="Confirm: start training").click,
        timeout_ms=UI_MS,
    )
    expect(page.get_by_text("Training job 1 is queued; follow it on the Jobs tab.")).to_be_visible()

    # 3. the Jobs tab follows it live until it ends
    page.get_by_role("tab", name="Jobs").click()
    finished = page.get_by_text(re.compile(r"^Finished in .*; new model version v1 "))
    expect(finished).to_be_visible(timeout=JOB_MS)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    page.get_by_text("Show the log", exact=True).click()
    # written before the job is marked finished (the last line comes after: not awaited)
    expect(page.get_by_text("training and evaluation done in")).to_be_visible()
    page.screenshot(path=str(artifacts / "retrain_2_finished.png"), full_page=True)

    # 4. the new version is listed beside the shipped one, and a trial cannot be promoted
    page.get_by_role("tab", name="Model versions").click()
    expect(
        page.get_by_text("The prediction page uses the model shipped with this software")
    ).to_be_visible()
    expect(
        page.get_by_text(re.compile(r"^v1 \(job 1\) is a trial run \(one batch per epoch\)"))
    ).to_be_visible()
    expect(page.get_by_role("button", name="Promote to default")).to_be_disabled()
    page.screenshot(path=str(artifacts / "retrain_3_trial_not_promotable.png"), full_page=True)

    from rehab_core.jobs import default_version, get_job
    from rehab_core.security import audit_events
    from rehab_core.storage import open_store

    store = open_store(data_dir=app_data_dir)
    try:
        assert get_job(store, 1).state == "finished"
        assert default_version(store, "shufflenet_lstm") is None  # still the shipped bundle
        actions = [e.action for e in audit_events(store, username=RESEARCHER)]
        assert {"train_submit", "train_finish"} <= set(actions) and "promote" not in actions
    finally:
        store.close()
