"""Sessions that survive a reload and a new tab, deep links, the patient in the URL (issue 15).

AppTest cannot send a cookie (``st.context.cookies`` is always empty there),
so the browser's cookie is put in place of ``pages._shared._browser_cookie``;
the cookie itself is made by the real code (``start_session`` +
``redeem_handoff``, as the endpoint in ``pages/_session_cookie.py`` does).
A fresh ``AppTest`` is a new Streamlit session: what a reload or a new tab
starts. An address such as ``/patients`` is opened by asking for the page
hash Streamlit gives that URL path (``st.Page`` hashes its ``url_path``).

AppTest treats ``pages/`` as a legacy page folder on every run, and a run
asking for ``patients`` would then execute ``pages/patients.py`` without
``app.py``; a real server does that only until ``app.py`` first called
``st.navigation`` in that process. The ``server_routing`` fixture makes every
run execute ``app.py``, as the server does, so ``app.py``'s routing is what
these tests see.
"""

from __future__ import annotations

import datetime as dt
import importlib
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

import pages._session_cookie as session_cookie
from rehab_core.security import audit_events, create_user, set_user_active
from rehab_core.security.sessions import (
    load_session_secret,
    redeem_handoff,
    start_session,
)
from rehab_core.storage.db import WebSession

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PASSWORD = "a long enough pass"
HOME_TITLE = "Lower-limb recovery after ischaemic stroke"


@pytest.fixture(autouse=True)
def server_routing(monkeypatch):
    """Every run executes ``app.py`` (its ``st.navigation`` picks the page), as on the server."""
    from streamlit.runtime.scriptrunner import script_runner

    def run_main_script(main_script_path: str) -> None:
        code = compile(Path(main_script_path).read_text(encoding="utf-8"), main_script_path, "exec")
        exec(code, {"__name__": "__main__", "__file__": main_script_path})  # noqa: S102

    monkeypatch.setattr(script_runner, "_mpa_v1", run_main_script)


@pytest.fixture
def browser_cookie(monkeypatch):
    """``browser_cookie(value)``: the cookie the next new session's browser sends."""
    sent: dict[str, str | None] = {"value": None}
    # patched on the module app.py will import (sys.modules), whichever copy this file imported
    importlib.import_module("pages._shared")
    monkeypatch.setattr(sys.modules["pages._shared"], "_browser_cookie", lambda: sent["value"])

    def set_cookie(value: str | None) -> None:
        sent["value"] = value

    return set_cookie


@pytest.fixture
def routes_served(monkeypatch):
    """The process serves the cookie endpoints (as ``streamlit run app.py`` does)."""
    monkeypatch.setattr(session_cookie, "_served", True)


def new_session(url_path: str | None = None, query: dict[str, str] | None = None) -> AppTest:
    """A new browser tab (or a reload) at ``/<url_path>?<query>``, not yet run."""
    at = AppTest.from_file(APP, default_timeout=60)
    if url_path is not None:
        at._page_hash = calc_hash(url_path)  # what the browser asks for at that address
    at.query_params.update(query or {})
    return at


def cookie_for(store, username: str, role: str = "clinician") -> tuple[int, str]:
    """A browser session for ``username`` whose cookie was handed over: its id and cookie."""
    user = create_user(store, username, PASSWORD, role, actor="pytest")
    session_id, handoff = start_session(store, user)
    cookie, _ = redeem_handoff(store, load_session_secret(store.data_dir), handoff)
    return session_id, cookie


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def sign_in_form(at: AppTest, username: str, password: str) -> AppTest:
    (name,) = [t for t in at.text_input if t.label == "User name"]
    (word,) = [t for t in at.text_input if t.label == "Password"]
    name.input(username)
    word.input(password)
    (button,) = [b for b in at.button if b.label == "Sign in"]
    return button.click().run()


def test_signing_in_opens_a_browser_session_and_hands_its_cookie_over(app_store, routes_served):
    create_user(app_store, "admin", PASSWORD, "admin", actor="cli")
    create_user(app_store, "dr.a", PASSWORD, "clinician", actor="admin")
    at = sign_in_form(new_session().run(), "dr.a", PASSWORD)
    assert titles(at) == [HOME_TITLE]
    session_id = at.session_state["web_session_id"]
    row = (
        app_store.engine.connect()
        .execute(WebSession.__table__.select().where(WebSession.id == session_id))
        .one()
    )
    assert row.handoff_hash is not None and row.ended_at is None
    # the page posts the one-time token to the endpoint (and nothing else: no cookie value)
    handoff, _ = at.session_state["web_session_handoff"]
    (script,) = [h.proto.body for h in at.get("html") if "fetch(" in h.proto.body]
    assert "/_rehab/session" in script and handoff in script and "X-Rehab-Handoff" in script


def test_no_script_when_the_endpoints_are_not_served(app_store):
    create_user(app_store, "admin", PASSWORD, "admin", actor="cli")
    create_user(app_store, "dr.a", PASSWORD, "clinician", actor="admin")
    at = sign_in_form(new_session().run(), "dr.a", PASSWORD)
    assert titles(at) == [HOME_TITLE]
    assert not [h for h in at.get("html") if "fetch(" in h.proto.body]


def test_a_reload_or_new_tab_is_still_signed_in(app_store, browser_cookie):
    _, cookie = cookie_for(app_store, "dr.b")
    browser_cookie(cookie)
    for _tab in range(2):  # a reload, then another tab
        at = new_session().run()
        assert titles(at) == [HOME_TITLE]
        assert at.session_state["user"].username == "dr.b"
    resumed = [e for e in audit_events(app_store, action="sign_in") if e.username == "dr.b"]
    assert [e.details for e in resumed] == [{"method": "session_cookie"}] * 2


def test_a_forged_cookie_signs_nobody_in(app_store, browser_cookie):
    _, cookie = cookie_for(app_store, "dr.b")
    token, expiry, signature = cookie.split(".")
    browser_cookie(f"{token}.{int(expiry) + 86400}.{signature}")
    at = new_session().run()
    assert titles(at) == ["Sign in"] and "user" not in at.session_state
    # nothing is said about a cookie this server did not sign
    assert not at.info or "signed out" not in at.info[0].value


def test_reload_after_sign_out_stays_signed_out(app_store, browser_cookie):
    create_user(app_store, "admin", PASSWORD, "admin", actor="cli")
    _, cookie = cookie_for(app_store, "dr.c")
    browser_cookie(cookie)
    at = new_session().run()
    assert titles(at) == [HOME_TITLE]
    at.sidebar.button[0].click().run()  # Sign out
    assert "user" not in at.session_state
    # another tab of that browser, and a reload (the cookie could not be deleted)
    at = new_session().run()
    assert titles(at) == ["Sign in"]
    assert at.info[0].value == "You have been signed out."


def test_sign_out_in_one_tab_signs_the_other_out(app_store, browser_cookie):
    create_user(app_store, "admin", PASSWORD, "admin", actor="cli")
    _, cookie = cookie_for(app_store, "dr.d")
    browser_cookie(cookie)
    first, second = new_session().run(), new_session().run()
    assert titles(second) == [HOME_TITLE]
    first.sidebar.button[0].click().run()
    second.switch_page("pages/patients.py").run()
    assert "user" not in second.session_state
    assert titles(second) == ["Sign in"]
    assert second.info[0].value == "You have been signed out."


def test_an_idle_browser_session_expires_with_a_message(app_store, browser_cookie):
    create_user(app_store, "admin", PASSWORD, "admin", actor="cli")
    session_id, cookie = cookie_for(app_store, "dr.e")
    with app_store.engine.begin() as conn:  # last used 31 minutes ago
        conn.execute(
            WebSession.__table__.update()
            .where(WebSession.id == session_id)
            .values(last_seen_at=dt.datetime.fromtimestamp(time.time() - 31 * 60, dt.UTC))
        )
    browser_cookie(cookie)
    at = new_session().run()
    assert titles(at) == ["Sign in"]
    assert at.info[0].value == (
        "Your session expired after 30 minutes without activity; sign in again."
    )


def test_deactivation_ends_the_browser_session(app_store, browser_cookie):
    create_user(app_store, "admin", PASSWORD, "admin", actor="cli")
    _, cookie = cookie_for(app_store, "dr.f")
    browser_cookie(cookie)
    at = new_session().run()
    assert titles(at) == [HOME_TITLE]
    set_user_active(app_store, "dr.f", False, actor="admin")
    at.switch_page("pages/patients.py").run()
    assert "user" not in at.session_state
    assert titles(at) == ["Sign in"]
    assert at.info[0].value == "Your account is no longer active; ask an administrator."
    assert titles(new_session().run()) == ["Sign in"]  # and a reload does not bring it back


def test_deep_link_returns_to_its_page_and_patient_after_sign_in(app_store):
    create_user(app_store, "admin", PASSWORD, "admin", actor="cli")
    create_user(app_store, "dr.g", PASSWORD, "clinician", actor="admin")
    patient = app_store.create_patient("LINK-001", age=61)
    at = new_session("patients", {"patient": str(patient.id)}).run()
    assert titles(at) == ["Sign in"]  # the address of a page, the sign-in form in it
    at = sign_in_form(at, "dr.g", PASSWORD)
    assert titles(at) == ["Patients"]
    assert at.session_state["patient_id"] == patient.id
    assert at.query_params["patient"] == str(patient.id)


def test_patient_in_the_url_is_selected_and_written_back(app_store, signed_in):
    first = app_store.create_patient("URL-001")
    second = app_store.create_patient("URL-002")
    at = signed_in(new_session("patients", {"patient": str(second.id)})).run()
    assert at.session_state["patient_id"] == second.id
    assert at.selectbox[0].value == second.id
    at.selectbox[0].set_value(first.id).run()
    assert at.query_params["patient"] == str(first.id)  # the picker writes the URL
    # a page without the query (a menu click drops it) gets it back from the selection
    at.query_params.clear()
    at.switch_page("pages/home.py").run()
    assert at.query_params["patient"] == str(first.id)


@pytest.mark.parametrize("bad", ["999", "abc", "-1"])
def test_unknown_patient_in_the_url_is_dropped(app_store, signed_in, bad):
    at = signed_in(new_session("patients", {"patient": bad})).run()
    assert "patient_id" not in at.session_state
    assert "patient" not in at.query_params
    assert not at.exception


@pytest.mark.parametrize(
    ("url_path", "title", "who"),
    [
        ("retrain", "Retrain", "researchers and administrators"),
        ("evaluation", "Evaluation", "researchers and administrators"),
        ("admin", "Admin", "administrators"),
    ],
)
def test_a_page_not_open_to_the_role_says_so(app_store, signed_in, url_path, title, who):
    at = signed_in(new_session(url_path), role="clinician").run()
    assert titles(at) == [title]
    assert at.warning[0].value == (
        f"The {title} page is open to {who} only, and you are signed in as a clinician. "
        "Ask an administrator if you need it."
    )
    assert not at.exception
    # and the menu still does not list it
    assert title not in [link.label for link in at.get("page_link")]


def test_researcher_is_refused_the_admin_page(app_store, signed_in):
    at = signed_in(new_session("admin"), role="researcher").run()
    assert titles(at) == ["Admin"]
    assert "open to administrators only" in at.warning[0].value


def test_demo_button_is_always_offered_to_administrators(app_store, signed_in):
    app_store.create_patient("REAL-001")
    at = signed_in(new_session("patients"), role="admin").run()
    assert "Create or open the demo patient" in [b.label for b in at.button]
    at = signed_in(new_session("patients"), role="clinician").run()
    assert not [b for b in at.button if "demo" in b.label]


def test_demo_button_on_an_empty_database_for_everyone(app_store, signed_in):
    at = signed_in(new_session("patients"), role="clinician").run()
    assert "Create a demo patient" in [b.label for b in at.button]


def test_sign_in_page_names_the_product_in_a_narrow_column(app_store):
    create_user(app_store, "admin", PASSWORD, "admin", actor="cli")
    at = new_session().run()
    assert titles(at) == ["Sign in"]
    assert "Stroke lower-limb recovery" in at.markdown[0].value
    (middle,) = [c for c in at.columns if c.children]  # the form sits in the middle column only
    assert middle.proto.weight == pytest.approx(1.3 / 3.3)
    assert [t.label for t in middle.text_input] == ["User name", "Password"]
