"""Session expiry, deactivation and role checks reach fragments and deferred downloads.

Issue 14, finding 4: idle expiry, deactivation and role changes applied only on
a full rerun through ``app.py``; fragments (``st.fragment``, ``run_every``)
and deferred downloads (``st.download_button(data=callable)``) run without it,
and an idle-expired session downloaded the audit CSV.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rehab_core.security import audit_events, set_user_active, set_user_role

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")


def _audit_download(signed_in, deferred_downloads):
    at = signed_in(AppTest.from_file(APP, default_timeout=60), "admin").run()
    at.switch_page("pages/admin.py").run()
    (download,) = at.get("download_button")
    return at, deferred_downloads[download.proto.deferred_file_id]


def test_an_idle_expired_session_cannot_download_the_audit_log(
    app_store, signed_in, deferred_downloads
):
    at, click = _audit_download(signed_in, deferred_downloads)
    at.session_state["session_clock"].last_activity = time.time() - 31 * 60  # went idle
    from pages._shared import SessionEndedError

    with pytest.raises(SessionEndedError, match="^The session ended or lost the role"):
        click()
    assert audit_events(app_store, action="audit_export") == []


@pytest.mark.parametrize("change", ["deactivated", "demoted"])
def test_a_deferred_download_checks_the_account_when_clicked(
    app_store, signed_in, deferred_downloads, change
):
    at, click = _audit_download(signed_in, deferred_downloads)
    if change == "deactivated":
        set_user_role(app_store, "test-admin", "admin", actor="pytest")
        from rehab_core.security import create_user

        create_user(app_store, "other.admin", None, "admin", actor="pytest")
        set_user_active(app_store, "test-admin", False, actor="other.admin")
    elif change == "demoted":
        from rehab_core.security import create_user

        create_user(app_store, "other.admin", None, "admin", actor="pytest")
        set_user_role(app_store, "test-admin", "researcher", actor="other.admin")
    from pages._shared import SessionEndedError

    with pytest.raises(SessionEndedError):
        click()
    assert audit_events(app_store, action="audit_export") == []


def test_sign_out_ends_the_clock_that_deferred_downloads_hold(app_store, signed_in):
    at = signed_in(AppTest.from_file(APP, default_timeout=60), "admin").run()
    clock = at.session_state["session_clock"]
    assert clock.username == "test-admin" and not clock.ended
    at.sidebar.button[0].click().run()  # Sign out
    assert clock.ended and "session_clock" not in at.session_state


def test_a_fresh_session_still_downloads(app_store, signed_in, deferred_downloads):
    _, click = _audit_download(signed_in, deferred_downloads)
    assert click().startswith(b"id,at_utc,username,action")
    assert len(audit_events(app_store, action="audit_export")) == 1


def _fragment_script():
    import streamlit as st

    from pages._shared import fragment_session

    user = fragment_session("researcher", activity=False)
    st.write(f"fragment ran for {user.username}")


def _run_fragment_check(signed_in, *, idle_s: float, role: str = "researcher") -> AppTest:
    at = signed_in(AppTest.from_function(_fragment_script, default_timeout=60), role)
    at.session_state["last_activity"] = time.time() - idle_s
    return at.run()


def test_a_fragment_runs_for_a_live_session_without_counting_as_activity(app_store, signed_in):
    at = _run_fragment_check(signed_in, idle_s=60)
    assert [m.value for m in at.markdown] == ["fragment ran for test-researcher"]
    assert time.time() - at.session_state["last_activity"] >= 59  # a poll is not activity


@pytest.mark.parametrize(("idle_s", "role"), [(31 * 60, "researcher"), (10, "clinician")])
def test_a_fragment_of_an_expired_or_unentitled_session_does_not_run(
    app_store, signed_in, idle_s, role
):
    at = _run_fragment_check(signed_in, idle_s=idle_s, role=role)
    assert not at.exception
    assert not [m.value for m in at.markdown if m.value.startswith("fragment ran")]
    if idle_s > 60:
        assert "user" not in at.session_state  # signed out, with the notice for the sign-in page
        assert at.session_state["auth_notice"].startswith("You were signed out after 30 minutes")
    else:
        assert [e.value for e in at.error] == [
            "This part is for the researcher role and above; you are signed in as clinician."
        ]
