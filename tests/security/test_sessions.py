"""rehab_core.security.sessions: signed cookies, one-time hand-over, expiry and revocation."""

from __future__ import annotations

import os
import stat

import pytest

from rehab_core.security import (
    audit_events,
    create_user,
    reset_password,
    set_password,
    set_user_active,
    set_user_role,
)
from rehab_core.security.sessions import (
    HANDOFF_SECONDS,
    MAX_SESSION_HOURS,
    SECRET_FILE,
    check_session,
    end_session,
    end_session_by_cookie,
    load_session_secret,
    redeem_handoff,
    resume_session,
    sign_cookie,
    start_session,
)
from rehab_core.storage import open_store

T0 = 1_800_000_000.0  # a fixed "now" (2027), so every expiry below is exact
IDLE_S = 30 * 60.0
SECRET = b"k" * 32
PASSWORD = "a long enough pass"


@pytest.fixture
def store(db_url, tmp_path):
    """A fresh store on SQLite and on PostgreSQL (``db_url`` from tests/conftest.py)."""
    s = open_store(url=db_url, data_dir=tmp_path / "data")
    yield s
    s.close()


@pytest.fixture
def alice(store):
    return create_user(store, "alice", PASSWORD, "clinician", actor="pytest")


def _signed_in(store, user, now=T0) -> tuple[int, str]:
    """A session for ``user`` whose hand-over was redeemed: its id and the cookie."""
    session_id, handoff = start_session(store, user, now=now)
    cookie, _ = redeem_handoff(store, SECRET, handoff, now=now + 1)
    return session_id, cookie


def test_cookie_resumes_the_session_with_the_account_as_it_is_now(store, alice):
    session_id, cookie = _signed_in(store, alice)
    set_user_role(store, "alice", "researcher", actor="pytest")  # a role change applies at once
    check = resume_session(store, SECRET, cookie, max_idle_s=IDLE_S, now=T0 + 60)
    assert check.ok and check.session_id == session_id
    assert check.user.username == "alice" and check.user.role == "researcher"
    resumed = [e for e in audit_events(store, action="sign_in") if e.username == "alice"]
    assert resumed[-1].details == {"method": "session_cookie"}


def test_cookie_value_is_signed_and_expires(store, alice):
    _, cookie = _signed_in(store, alice)
    token, expiry, signature = cookie.split(".")
    assert int(expiry) == int(T0 + MAX_SESSION_HOURS * 3600)
    assert sign_cookie(SECRET, token, float(expiry)) == cookie
    # another key, a changed expiry, a changed token: refused before the database is asked
    assert resume_session(store, b"x" * 32, cookie, max_idle_s=IDLE_S, now=T0 + 2).status == (
        "invalid"
    )
    later = f"{token}.{int(expiry) + 3600}.{signature}"
    assert resume_session(store, SECRET, later, max_idle_s=IDLE_S, now=T0 + 2).status == "invalid"
    other = sign_cookie(b"x" * 32, "A" + token[1:], float(expiry))
    assert resume_session(store, SECRET, other, max_idle_s=IDLE_S, now=T0 + 2).status == "invalid"
    for junk in (None, "", "a.b", "a.b.c", "x" * 300, 42):
        assert resume_session(store, SECRET, junk, max_idle_s=IDLE_S, now=T0 + 2).status == (
            "invalid"
        )


def test_a_validly_signed_but_unknown_token_is_invalid(store, alice):
    _signed_in(store, alice)
    forged = sign_cookie(SECRET, "never-issued", T0 + 3600)
    assert resume_session(store, SECRET, forged, max_idle_s=IDLE_S, now=T0 + 2).status == "invalid"


def test_check_says_whether_the_cookie_was_handed_over(store, alice):
    session_id, handoff = start_session(store, alice, now=T0)
    assert not check_session(store, session_id, max_idle_s=IDLE_S, now=T0 + 1).has_cookie
    redeem_handoff(store, SECRET, handoff, now=T0 + 1)
    assert check_session(store, session_id, max_idle_s=IDLE_S, now=T0 + 2).has_cookie


def test_handoff_is_single_use_and_short_lived(store, alice):
    _, handoff = start_session(store, alice, now=T0)
    assert redeem_handoff(store, SECRET, handoff, now=T0 + HANDOFF_SECONDS + 1) is None
    _, handoff = start_session(store, alice, now=T0)
    assert redeem_handoff(store, SECRET, handoff, now=T0 + 1) is not None
    assert redeem_handoff(store, SECRET, handoff, now=T0 + 2) is None
    for junk in (None, "", "nope", "y" * 500):
        assert redeem_handoff(store, SECRET, junk, now=T0 + 1) is None


def test_idle_session_expires_and_stays_ended(store, alice):
    session_id, cookie = _signed_in(store, alice)
    assert resume_session(store, SECRET, cookie, max_idle_s=IDLE_S, now=T0 + IDLE_S - 5).ok
    # the resume above was a use: the idle clock restarted there
    late = T0 + 2 * IDLE_S
    check = resume_session(store, SECRET, cookie, max_idle_s=IDLE_S, now=late)
    assert (check.status, check.reason) == ("expired", "idle")
    again = resume_session(store, SECRET, cookie, max_idle_s=IDLE_S, now=late + 1)
    assert (again.status, again.reason) == ("ended", "idle")


def test_polls_do_not_keep_a_session_alive(store, alice):
    session_id, _ = _signed_in(store, alice)
    for minute in range(1, 40):
        check = check_session(
            store, session_id, max_idle_s=IDLE_S, touch=False, now=T0 + 60 * minute
        )
        if not check.ok:
            break
    assert check.status == "expired" and minute == 31


def test_any_tab_keeps_the_browser_session_alive(store, alice):
    session_id, cookie = _signed_in(store, alice)
    for minute in range(5, 60, 5):  # one tab clicks every 5 minutes for an hour
        assert check_session(store, session_id, max_idle_s=IDLE_S, now=T0 + 60 * minute).ok
    # a new tab opened then is signed in too
    assert resume_session(store, SECRET, cookie, max_idle_s=IDLE_S, now=T0 + 3600).ok


def test_session_ends_after_max_hours_however_active(store, alice):
    session_id, cookie = _signed_in(store, alice)
    end = T0 + MAX_SESSION_HOURS * 3600
    now = T0
    while now < end - 600:
        now += 600
        assert check_session(store, session_id, max_idle_s=IDLE_S, now=now).ok
    check = check_session(store, session_id, max_idle_s=IDLE_S, now=end)
    assert (check.status, check.reason) == ("expired", "expired")
    # the cookie's own expiry is the same instant: refused by its signature check
    assert resume_session(store, SECRET, cookie, max_idle_s=IDLE_S, now=end).status == "invalid"


def test_sign_out_ends_every_tab(store, alice):
    session_id, cookie = _signed_in(store, alice)
    end_session(store, session_id, "sign_out", now=T0 + 5)
    check = resume_session(store, SECRET, cookie, max_idle_s=IDLE_S, now=T0 + 6)
    assert (check.status, check.reason) == ("ended", "sign_out")
    assert check_session(store, session_id, max_idle_s=IDLE_S, now=T0 + 6).reason == "sign_out"


def test_end_by_cookie(store, alice):
    session_id, cookie = _signed_in(store, alice)
    assert not end_session_by_cookie(store, b"x" * 32, cookie, "sign_out", now=T0 + 5)
    assert end_session_by_cookie(store, SECRET, cookie, "sign_out", now=T0 + 5)
    assert not end_session_by_cookie(store, SECRET, cookie, "sign_out", now=T0 + 6)
    assert check_session(store, session_id, max_idle_s=IDLE_S, now=T0 + 6).status == "ended"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda s: set_user_active(s, "alice", False, actor="admin"), "deactivated"),
        (
            lambda s: reset_password(s, "alice", "another long passphrase", actor="admin"),
            "password",
        ),
        (lambda s: set_password(s, "alice", "another long passphrase", actor="alice"), "password"),
    ],
    ids=["deactivated", "password reset", "password set"],
)
def test_account_changes_end_its_sessions(store, alice, change, reason):
    first, cookie = _signed_in(store, alice)
    second, _ = _signed_in(store, alice)
    _, pending = start_session(store, alice, now=T0)  # signed in, cookie not yet handed over
    change(store)
    for session_id in (first, second):
        check = check_session(store, session_id, max_idle_s=IDLE_S, now=T0 + 5)
        assert (check.status, check.reason) == ("ended", reason)
    assert resume_session(store, SECRET, cookie, max_idle_s=IDLE_S, now=T0 + 5).status == "ended"
    # a hand-over issued before the change cannot be redeemed after it
    assert redeem_handoff(store, SECRET, pending, now=T0 + 1) is None


def test_handoff_of_an_ended_session_is_refused(store, alice):
    session_id, handoff = start_session(store, alice, now=T0)
    end_session(store, session_id, "sign_out", now=T0 + 1)
    assert redeem_handoff(store, SECRET, handoff, now=T0 + 2) is None


def test_secret_is_created_private_and_reused(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    key = load_session_secret(folder)
    path = folder / SECRET_FILE
    assert len(key) == 32 and path.read_bytes() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_session_secret(folder) == key


def test_secret_readable_by_others_or_short_is_refused(tmp_path):
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / SECRET_FILE).write_bytes(os.urandom(32))
    os.chmod(loose / SECRET_FILE, 0o644)
    with pytest.raises(ValueError, match="readable by other users .* chmod 600"):
        load_session_secret(loose)
    short = tmp_path / "short"
    short.mkdir()
    (short / SECRET_FILE).write_bytes(b"123")
    os.chmod(short / SECRET_FILE, 0o600)
    with pytest.raises(ValueError, match="holds 3 bytes, fewer than 32"):
        load_session_secret(short)
