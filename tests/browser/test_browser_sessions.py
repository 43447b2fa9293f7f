"""Sessions in a real browser: a reload and a new tab stay signed in, deep links return (issue 15).

One ``streamlit run app.py`` (conftest.py) and headless Chromium: the
session cookie is set by the server's endpoint after sign-in (HttpOnly,
SameSite=Strict), a reload and a second tab of the same browser are signed in
without the form, a sign-out in one tab deletes the cookie and signs the
other out, a deep link ``/patients?patient=ID`` shows the sign-in page and then
its own page with that patient, and a clinician typing ``/admin`` is told the
page is not theirs. Screenshots go to ``test-artifacts/browser/sessions-*.png``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from streamlit_browser import chromium_browser, new_page, open_app, rerun, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CLINICIAN = "dr.sessions"
PASSWORD = "browser session password"
UI_MS = 60_000


@pytest.fixture(scope="module")
def accounts(app_url: str, app_data_dir: Path) -> dict[str, int]:
    """An administrator (no first-run form), a clinician and one patient in the server's store."""
    from rehab_core.security import create_user
    from rehab_core.storage import open_store

    store = open_store(data_dir=app_data_dir)
    try:
        create_user(store, "admin.sessions", PASSWORD, "admin", actor="pytest")
        create_user(store, CLINICIAN, PASSWORD, "clinician", actor="pytest")
        patient = store.create_patient("LINK-001", age=63, sex="F")
    finally:
        store.close()
    return {"patient": patient.id}


@pytest.fixture(autouse=True)
def _patient_expectations():
    # a 2-core machine running other tests can take longer than Playwright's default 5 s
    expect.set_options(timeout=UI_MS)


def _session_cookie(page: Page, *, timeout_s: float = 30.0) -> dict | None:
    """The browser's session cookie, waited for (the page fetches it after the sign-in run)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = [c for c in page.context.cookies() if c["name"] == "rehab_session"]
        if found or time.monotonic() > deadline:
            return found[0] if found else None
        page.wait_for_timeout(200)


def _signed_in_as(page: Page, username: str) -> None:
    expect(page.get_by_test_id("stSidebar")).to_contain_text(f"Signed in as {username}")


def _shot(page: Page, artifacts: Path, name: str) -> None:
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0)
    page.screenshot(path=str(artifacts / f"sessions-{name}.png"))


def test_deep_link_returns_to_its_page_after_sign_in(app_url: str, accounts, artifacts: Path):
    # the first request this server gets: Streamlit runs pages/patients.py without app.py for a
    # process's first run unless told that pages/ is no legacy page folder (app.py)
    with chromium_browser() as browser:
        page = new_page(browser)  # a browser with no cookie
        open_app(page, f"{app_url}/patients?patient={accounts['patient']}", timeout_ms=UI_MS)
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        _shot(page, artifacts, "7-deep-link-sign-in")
        sign_in(page, CLINICIAN, PASSWORD, timeout_ms=UI_MS)
        expect(page.get_by_role("heading", name="Patients")).to_be_visible()
        expect(page.get_by_role("combobox", name="Patient")).to_have_value("LINK-001 (F, 63)")
        assert page.url.endswith(f"/patients?patient={accounts['patient']}"), page.url
        _shot(page, artifacts, "8-deep-link-landed")


def test_reload_new_tab_sign_out(app_url: str, accounts, artifacts: Path):
    with chromium_browser() as browser:
        page = new_page(browser)
        open_app(page, app_url, timeout_ms=UI_MS)
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        expect(page.get_by_text("Stroke lower-limb recovery").first).to_be_visible()
        field = page.get_by_label("User name").bounding_box()
        assert field is not None and field["width"] < 600  # not the screen's 1,400 pixels
        _shot(page, artifacts, "1-sign-in")

        sign_in(page, CLINICIAN, PASSWORD, timeout_ms=UI_MS)
        _signed_in_as(page, CLINICIAN)
        cookie = _session_cookie(page)
        assert cookie is not None, "the page did not get its session cookie"
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
        assert page.evaluate("document.cookie").find("rehab_session") == -1  # not for scripts

        page.reload(wait_until="domcontentloaded")
        open_app(page, page.url, timeout_ms=UI_MS)
        _signed_in_as(page, CLINICIAN)
        _shot(page, artifacts, "2-after-reload")

        tab = page.context.new_page()  # a second tab of the same browser
        open_app(tab, app_url, timeout_ms=UI_MS)
        _signed_in_as(tab, CLINICIAN)
        _shot(tab, artifacts, "3-new-tab")

        # a typed address of a page the role does not reach says so
        open_app(tab, f"{app_url}/admin", timeout_ms=UI_MS)
        expect(tab.get_by_text("The Admin page is open to administrators only")).to_be_visible()
        _shot(tab, artifacts, "4-not-open-to-role")

        # the chosen patient in the URL: a link opens that patient
        open_app(tab, f"{app_url}/patients?patient={accounts['patient']}", timeout_ms=UI_MS)
        expect(tab.get_by_role("combobox", name="Patient")).to_have_value("LINK-001 (F, 63)")
        _shot(tab, artifacts, "5-patient-in-url")

        rerun(page, page.get_by_role("button", name="Sign out").click, timeout_ms=UI_MS)
        expect(page.get_by_text("You have been signed out.")).to_be_visible()
        deadline = time.monotonic() + 30
        while _session_cookie(page, timeout_s=0) is not None and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        assert _session_cookie(page, timeout_s=0) is None, "sign-out left the cookie behind"
        _shot(page, artifacts, "6-signed-out")

        tab.reload(wait_until="domcontentloaded")
        open_app(tab, tab.url, timeout_ms=UI_MS)
        expect(tab.get_by_role("heading", name="Sign in")).to_be_visible()
