"""Sign-in through the real app (AppTest): first-run administrator, sign-in, sign-out, expiry.

Nobody signed in: ``app.py`` routes the sign-in page only. The first run (no
active administrator) shows the "Create the administrator account" form; no
account and no default password exist before it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rehab_core.security import audit_events, create_user, list_users, set_user_active
from rehab_core.security.setup_token import reset_setup_token

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PASSWORD = "a long enough pass"
HOME_TITLE = "Lower-limb recovery after ischaemic stroke"


def text_input(at: AppTest, label: str):
    (found,) = [t for t in at.text_input if t.label == label]
    return found


def button(at: AppTest, label: str):
    (found,) = [b for b in at.button if b.label == label]
    return found


def fill(at: AppTest, **values: str) -> None:
    labels = {
        "token": "Setup token",
        "username": "User name",
        "password": "Password",
        "repeat": "Repeat password",
    }
    for key, value in values.items():
        text_input(at, labels[key]).input(value)


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def next_run(at: AppTest) -> AppTest:
    """The session's next run through ``app.py``.

    AppTest runs ``app.py`` on the first run only and the page's own file on
    later ones (it treats ``pages/`` as a legacy page folder on each run; a
    real server runs ``app.py`` every time), so the gate in ``app.py`` is
    exercised by a new AppTest with the same session state.
    """
    new = AppTest.from_file(APP, default_timeout=60)
    for key in ("user", "last_activity", "patient_id", "auth_notice"):
        if key in at.session_state:
            new.session_state[key] = at.session_state[key]
    return new.run()


def sign_in(at: AppTest, username: str, password: str) -> AppTest:
    fill(at, username=username, password=password)
    return button(at, "Sign in").click().run()


@pytest.fixture
def logged_token(capsys):
    """``logged_token()``: the setup token the server printed in its log (stderr) so far."""
    reset_setup_token()

    def read() -> str:
        found = re.findall(
            r"First-run setup token \(valid 60 minutes, single use\): (\S+)",
            capsys.readouterr().err,
        )
        assert found, "no setup token in the server's log"
        return found[-1]

    yield read
    reset_setup_token()


def test_first_run_creates_the_administrator_and_signs_them_in(app_store, logged_token):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert titles(at) == ["Sign in"]
    assert "**Create the administrator account**" in [m.value for m in at.markdown]
    assert [t.label for t in at.text_input] == [
        "Setup token",
        "User name",
        "Password",
        "Repeat password",
    ]
    token = logged_token()
    text_input(at, "Setup token").input(token)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/patients.py")  # only the sign-in page is routed

    fill(at, username="chief", password=PASSWORD, repeat=PASSWORD + "x")
    button(at, "Create administrator").click().run()
    assert [e.value for e in at.error] == [
        "The two passwords differ; type the same password twice."
    ]
    fill(at, username="chief", password="too short", repeat="too short")
    button(at, "Create administrator").click().run()
    assert [e.value for e in at.error] == ["The password must be at least 12 characters long."]
    assert list_users(app_store) == []

    fill(at, username="Chief", password=PASSWORD, repeat=PASSWORD)
    button(at, "Create administrator").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Signed in as chief (admin)."]
    at = next_run(at)
    assert titles(at) == [HOME_TITLE]
    assert at.session_state["user"].username == "chief"
    assert at.session_state["user"].role == "admin"
    assert any(c.value == "Signed in as **chief** (admin)" for c in at.sidebar.caption)
    at.switch_page("pages/admin.py").run()  # the administrator sees the Admin page
    assert titles(at) == ["Admin"]
    assert [e.action for e in reversed(audit_events(app_store))] == ["first_admin", "sign_in"]


@pytest.mark.parametrize("token", ["", "a guessed token"])
def test_a_visitor_without_the_setup_token_cannot_become_administrator(
    app_store, logged_token, token
):
    """Issue 14, finding 1: a fresh install's page made any visitor its administrator."""
    at = AppTest.from_file(APP, default_timeout=60).run()
    real = logged_token()
    fill(at, token=token, username="intruder", password=PASSWORD, repeat=PASSWORD)
    button(at, "Create administrator").click().run()
    assert [e.value for e in at.error] == [
        "The setup token is wrong or has expired; copy the one the server printed in its log "
        "(a new one is printed there when it expires)."
    ]
    assert list_users(app_store) == [] and "user" not in at.session_state
    at = AppTest.from_file(APP, default_timeout=60).run()  # another visitor, a reload
    with pytest.raises(AssertionError, match="no setup token"):
        logged_token()  # the reload did not replace the token in the log
    fill(at, token=real, username="chief", password=PASSWORD, repeat=PASSWORD)
    button(at, "Create administrator").click().run()  # the logged token still works
    assert [u.username for u in list_users(app_store)] == ["chief"]


def test_wrong_password_is_one_sentence_then_the_right_one_signs_in(app_store):
    create_user(app_store, "admin", PASSWORD, "admin", actor="cli")
    create_user(app_store, "nurse.a", PASSWORD, "clinician", actor="admin")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert titles(at) == ["Sign in"]
    assert "**Create the administrator account**" not in [m.value for m in at.markdown]
    sign_in(at, "nurse.a", "not the password")
    assert [e.value for e in at.error] == ["Wrong user name or password."]
    assert "user" not in at.session_state
    sign_in(at, "NURSE.A", PASSWORD)
    at = next_run(at)
    assert not at.exception and titles(at) == [HOME_TITLE]
    assert at.session_state["user"].role == "clinician"
    events = [(e.username, e.action) for e in reversed(audit_events(app_store))]
    assert events[-2:] == [("nurse.a", "sign_in_failed"), ("nurse.a", "sign_in")]


def test_repeated_failures_are_throttled_without_checking_the_password(app_store):
    """Issue 14, finding 3: 25 wrong passwords in 6 s, then the right one was accepted."""
    create_user(app_store, "admin", PASSWORD, "admin", actor="cli")
    create_user(app_store, "nurse.a", PASSWORD, "clinician", actor="admin")
    at = AppTest.from_file(APP, default_timeout=60).run()
    errors = []
    for _ in range(6):
        sign_in(at, "nurse.a", "not the password")
        errors.append(at.error[0].value)
    assert errors[:4] == ["Wrong user name or password."] * 4
    assert errors[4].startswith("Too many failed sign-ins; wait ")
    sign_in(at, "nurse.a", PASSWORD)  # right, but not even checked while throttled
    assert (
        at.error[0].value.startswith("Too many failed sign-ins") and "user" not in at.session_state
    )
    assert len(audit_events(app_store, action="sign_in_failed")) == 4


def test_sign_out_returns_to_the_sign_in_page(app_store, signed_in):
    at = signed_in(AppTest.from_file(APP, default_timeout=60), username="dr.b").run()
    at.session_state["patient_id"] = 1
    at.session_state["prediction_cache_key"] = "left behind by a page"  # any page's key
    assert titles(at) == [HOME_TITLE]
    at.sidebar.button[0].click().run()
    assert "prediction_cache_key" not in at.session_state  # every key goes (issue 14, 13)
    assert [w.value for w in at.warning] == ["Sign in first."]  # the page refuses at once
    at = next_run(at)
    assert titles(at) == ["Sign in"]
    for key in ("user", "patient_id"):
        assert key not in at.session_state
    (event,) = audit_events(app_store, action="sign_out")
    assert event.username == "dr.b"


@pytest.mark.parametrize(("minutes", "limit_s"), [(None, 30 * 60), ("1", 60)])
def test_an_idle_session_expires(app_store, signed_in, monkeypatch, minutes, limit_s):
    if minutes is not None:
        monkeypatch.setenv("REHAB_SESSION_MINUTES", minutes)
    at = signed_in(AppTest.from_file(APP, default_timeout=60)).run()
    assert titles(at) == [HOME_TITLE]
    at.session_state["last_activity"] = time.time() - limit_s + 20  # not yet
    at = next_run(at)
    assert titles(at) == [HOME_TITLE]
    at.session_state["last_activity"] = time.time() - limit_s - 1
    at = next_run(at)
    assert titles(at) == ["Sign in"]
    shown = minutes or "30"
    assert at.info[0].value == (
        f"You were signed out after {shown} minutes without activity; sign in again."
    )
    (event,) = audit_events(app_store, action="sign_out")
    assert event.details == {"reason": "expired"}


def test_a_deactivated_account_is_signed_out_at_its_next_run(app_store, signed_in):
    at = signed_in(AppTest.from_file(APP, default_timeout=60), username="temp.c").run()
    assert titles(at) == [HOME_TITLE]
    set_user_active(app_store, "temp.c", False, actor="admin")
    at = next_run(at)
    assert titles(at) == ["Sign in"]
    assert at.info[0].value == "Your account is no longer active; ask an administrator."


AUTH_SECRETS = {
    "auth": {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "test-only-cookie-secret",
        "client_id": "rehab",
        "client_secret": "test-only",
        "server_metadata_url": "https://idp.invalid/.well-known/openid-configuration",
    }
}


def test_identity_provider_is_offered_when_configured(app_store):
    create_user(app_store, "admin", PASSWORD, "admin", actor="cli")
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets = AUTH_SECRETS
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception
    labels = [b.label for b in at.button]
    assert labels == ["Sign in with the hospital account", "Sign in"]


def test_identity_provider_user_gets_the_local_accounts_role(app_store):
    create_user(app_store, "admin", PASSWORD, "admin", actor="cli")
    create_user(app_store, "gina@hospital.org", None, "researcher", actor="admin")
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets = AUTH_SECRETS
    at.user = {
        "is_logged_in": True,
        "iss": "https://login.hospital.org/",
        "sub": "subject-gina",
        "email": "Gina@Hospital.org",
        "email_verified": True,
    }
    at.run()
    assert not at.exception
    assert at.session_state["user"].username == "gina@hospital.org"
    assert at.session_state["user"].role == "researcher"
    (event,) = audit_events(app_store, action="sign_in")
    assert (event.username, event.details) == ("gina@hospital.org", {"method": "oidc"})


def test_identity_provider_user_without_a_local_account_is_refused_once(app_store):
    create_user(app_store, "admin", PASSWORD, "admin", actor="cli")
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets = AUTH_SECRETS
    at.user = {
        "is_logged_in": True,
        "iss": "https://login.hospital.org/",
        "sub": "subject-hal",
        "email": "hal@hospital.org",
        "email_verified": True,
    }
    at.run()
    at.run()
    assert [e.value for e in at.error] == [  # drawn escaped: an address is not made a link
        r"hal\@hospital.org has no active account on this dashboard; ask an administrator to "
        "add one."
    ]
    assert "Sign out of the hospital account" in [b.label for b in at.button]
    assert "user" not in at.session_state
    assert len(audit_events(app_store, action="sign_in_failed")) == 1


def test_identity_provider_user_with_an_unverified_email_is_refused(app_store):
    """Issue 14, finding 7, through a fake st.user: the e-mail must be verified to bind."""
    create_user(app_store, "admin", PASSWORD, "admin", actor="cli")
    create_user(app_store, "gina@hospital.org", None, "researcher", actor="admin")
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets = AUTH_SECRETS
    at.user = {
        "is_logged_in": True,
        "iss": "https://login.hospital.org/",
        "sub": "attacker",
        "email": "gina@hospital.org",
        "email_verified": False,
    }
    at.run()
    assert [e.value for e in at.error] == [
        r"The identity provider has not verified gina\@hospital.org; ask IT to verify it, "
        "then sign in again."
    ]
    assert "user" not in at.session_state
