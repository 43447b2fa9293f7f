"""rehab_core.security.accounts: rules, sign-in, roles, the first and the last administrator."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from rehab_core.security import (
    SETUP_TOKEN_MINUTES,
    AuthError,
    audit_events,
    authenticate,
    authenticate_external,
    create_first_admin,
    create_user,
    get_user,
    issue_setup_token,
    list_users,
    needs_first_admin,
    role_allows,
    set_password,
    set_user_active,
    set_user_role,
    verify_password,
)
from rehab_core.security.setup_token import reset_setup_token
from rehab_core.storage import open_store
from rehab_core.storage.db import User

PASSWORD = "a long enough pass"


@pytest.fixture
def store(db_url, tmp_path):
    """A fresh store on SQLite and on PostgreSQL (``db_url`` from tests/conftest.py)."""
    s = open_store(url=db_url, data_dir=tmp_path / "data")
    yield s
    s.close()


def actions(store) -> list[str]:
    return [e.action for e in reversed(audit_events(store))]


@pytest.mark.parametrize(
    ("role", "needed", "allowed"),
    [
        ("clinician", "clinician", True),
        ("clinician", "researcher", False),
        ("clinician", "admin", False),
        ("researcher", "clinician", True),
        ("researcher", "researcher", True),
        ("researcher", "admin", False),
        ("admin", "researcher", True),
        ("admin", "admin", True),
        ("nobody", "clinician", False),
    ],
)
def test_roles_are_ordered(role, needed, allowed):
    assert role_allows(role, needed) is allowed


def test_role_allows_refuses_an_unknown_needed_role():
    with pytest.raises(ValueError, match=r"needed_role='root' is not allowed"):
        role_allows("admin", "root")


@pytest.fixture
def setup_token():
    """The one-time token a fresh server prints in its log (none left over from another test)."""
    reset_setup_token()
    token = issue_setup_token()
    yield token
    reset_setup_token()


def test_first_admin_then_sign_in(store, setup_token):
    assert needs_first_admin(store)
    admin = create_first_admin(
        store, "  Chief.Admin ", PASSWORD, setup_token=setup_token, display_name="Dr A"
    )
    assert (admin.username, admin.role, admin.active, admin.has_password) == (
        "chief.admin",
        "admin",
        True,
        True,
    )
    assert not needs_first_admin(store)
    with pytest.raises(ValueError, match="^The setup token is wrong or has expired"):
        create_first_admin(store, "second", PASSWORD, setup_token=setup_token)  # spent
    with pytest.raises(ValueError, match="^An administrator account already exists; sign in"):
        create_first_admin(store, "second", PASSWORD, setup_token=issue_setup_token())
    user = authenticate(store, "CHIEF.ADMIN", PASSWORD)
    assert user.last_sign_in_at is not None and user.display_name == "Dr A"
    assert actions(store) == ["first_admin", "sign_in"]
    with Session(store.engine) as session:
        stored = session.scalar(select(User.password_hash))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("ab", PASSWORD, r"^The user name 'ab' is not allowed; use 3 to 64 letters"),
        ("bad name", PASSWORD, r"^The user name 'bad name' is not allowed"),
        ("-dash", PASSWORD, r"^The user name '-dash' is not allowed"),
        ("x" * 65, PASSWORD, r"is not allowed"),
        ("carol", "short pass", r"^The password must be at least 12 characters long\.$"),
        ("carol", "", r"^The password must be at least 12 characters long\.$"),
        ("carol.jones.1", "Carol.Jones.1", r"^The password must not be the user name\.$"),
        ("carol", "x" * 1025, r"^The password must be at most 1024 characters long\.$"),
        # guessable (issue 14, finding 13): common passwords and the patterns people use
        ("carol", "Password1234", r"^The password is too easy to guess \(a common password"),
        ("carol", "passwordpassword", r"^The password is too easy to guess"),
        ("carol", "qwertyuiopasdf", r"^The password is too easy to guess"),
        ("carol", "123456789012", r"^The password is too easy to guess"),
        ("carol", "aaaaaaaaaaaa", r"^The password is too easy to guess"),
        ("carol.jones", "carol.jones2024", r"^The password is too easy to guess"),
    ],
)
def test_refusals_are_one_sentence_and_store_nothing(store, username, password, message):
    with pytest.raises(ValueError, match=message):
        create_user(store, username, password, "clinician", actor="admin")
    assert list_users(store) == [] and audit_events(store) == []


def test_unknown_role_and_duplicate_names_are_refused(store):
    with pytest.raises(ValueError, match=r"role='doctor' is not allowed; choose one of"):
        create_user(store, "dana", PASSWORD, "doctor", actor="admin")
    create_user(store, "dana", PASSWORD, "clinician", actor="admin")
    with pytest.raises(ValueError, match=r"^A user named 'dana' already exists\.$"):
        create_user(store, "DANA", PASSWORD, "researcher", actor="admin")
    assert [u.username for u in list_users(store)] == ["dana"]


@pytest.mark.parametrize(
    ("username", "password"),
    [("erin", "the wrong password"), ("nobody", PASSWORD), ("", ""), ("erin", "")],
)
def test_wrong_credentials_get_the_same_sentence_and_are_recorded(store, username, password):
    create_user(store, "erin", PASSWORD, "clinician", actor="admin")
    with pytest.raises(AuthError, match=r"^Wrong user name or password\.$"):
        authenticate(store, username, password)
    (event,) = audit_events(store, action="sign_in_failed")
    assert event.username == (username or "(empty)")


def test_inactive_and_password_less_accounts_cannot_sign_in_with_a_password(store):
    create_user(store, "admin", PASSWORD, "admin", actor="cli")
    create_user(store, "frank", PASSWORD, "clinician", actor="admin")
    create_user(store, "gina@hospital.org", None, "researcher", actor="admin")
    set_user_active(store, "frank", False, actor="admin")
    for name, password in (("frank", PASSWORD), ("gina@hospital.org", "")):
        with pytest.raises(AuthError, match="Wrong user name or password"):
            authenticate(store, name, password)
    set_user_active(store, "frank", True, actor="admin")
    assert authenticate(store, "frank", PASSWORD).username == "frank"


IDP = "https://login.hospital.org/tenant-1/v2.0"


def claims(email: str, sub: str = "subject-gina", *, verified=True, iss: str = IDP) -> dict:
    """What st.user holds after an OpenID Connect sign-in (the fields the app reads)."""
    return {"iss": iss, "sub": sub, "email": email, "email_verified": verified}


def test_identity_provider_sign_in_maps_the_email_to_a_local_account(store):
    create_user(store, "Gina@Hospital.org", None, "researcher", actor="admin")
    user = authenticate_external(store, claims("gina@hospital.org"))
    assert (user.role, user.has_password) == ("researcher", False)
    with pytest.raises(AuthError, match=r"^hal@hospital\.org has no active account on this"):
        authenticate_external(store, claims("hal@hospital.org", "subject-hal"))
    assert [(e.action, e.details) for e in reversed(audit_events(store))][1:] == [
        ("sign_in", {"method": "oidc"}),
        ("sign_in_failed", {"method": "oidc"}),
    ]


def test_identity_provider_accounts_are_matched_on_issuer_and_subject(store):
    """Issue 14, finding 7: st.user.email alone mapped accounts, verified or not."""
    create_user(store, "gina@hospital.org", None, "researcher", actor="admin")
    # an unverified address binds nothing (anyone can type an address at some providers)
    with pytest.raises(AuthError, match=r"^The identity provider has not verified gina@hosp"):
        authenticate_external(store, claims("gina@hospital.org", verified=False))
    # the first verified sign-in binds the account to this issuer + subject
    assert authenticate_external(store, claims("gina@hospital.org")).username == "gina@hospital.org"
    # later sign-ins match the subject, whatever the address became
    renamed = claims("g.new@hospital.org", verified=False)
    assert authenticate_external(store, renamed).username == "gina@hospital.org"
    # another person given the old address at the provider cannot take the account over
    with pytest.raises(AuthError, match=r"is linked to another account of the identity provider"):
        authenticate_external(store, claims("gina@hospital.org", sub="someone-else"))
    # nor can a verified address from another issuer (another tenant) take it over
    other_tenant = claims("gina@hospital.org", iss="https://login.other.org/")
    with pytest.raises(AuthError, match=r"is linked to another account of the identity provider"):
        authenticate_external(store, other_tenant)
    with pytest.raises(AuthError, match=r"^This identity provider \(or tenant\) is not the hosp"):
        authenticate_external(store, other_tenant, issuers={IDP})
    with pytest.raises(AuthError, match="no usable account identifier"):
        authenticate_external(store, {"email": "gina@hospital.org", "email_verified": True})
    set_user_active(store, "gina@hospital.org", False, actor="admin")
    with pytest.raises(AuthError, match="has no active account"):
        authenticate_external(store, claims("gina@hospital.org"))


def test_a_weaker_stored_hash_is_replaced_at_sign_in(store):
    create_user(store, "ivan", PASSWORD, "clinician", actor="admin")
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    with Session(store.engine) as session, session.begin():
        session.execute(update(User).values(password_hash=weak))
    authenticate(store, "ivan", PASSWORD)
    with Session(store.engine) as session:
        stored = session.scalar(select(User.password_hash))
    assert stored != weak and stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert verify_password(stored, PASSWORD)


def test_roles_change_and_the_last_admin_is_kept(store):
    create_user(store, "admin", PASSWORD, "admin", actor="cli:root")
    create_user(store, "joe", PASSWORD, "clinician", actor="admin")
    with pytest.raises(ValueError, match=r"^admin is the last active administrator; make another"):
        set_user_role(store, "admin", "researcher", actor="admin")
    with pytest.raises(ValueError, match=r"^admin is the last active administrator"):
        set_user_active(store, "admin", False, actor="admin")
    assert set_user_role(store, "joe", "admin", actor="admin").role == "admin"
    assert set_user_active(store, "admin", False, actor="joe").active is False
    assert not needs_first_admin(store)  # joe is an active admin
    with pytest.raises(ValueError, match=r"^There is no user named 'kim'\.$"):
        set_user_role(store, "kim", "admin", actor="joe")
    updates = [(e.username, e.target, e.details) for e in audit_events(store, action="user_update")]
    assert updates == [
        ("joe", "user admin", {"active": False}),
        ("admin", "user joe", {"role": "admin", "previous_role": "clinician"}),
    ]
    assert [e.username for e in audit_events(store, action="user_create")] == ["admin", "cli:root"]


def test_set_password_checks_the_policy_and_replaces_the_hash(store):
    create_user(store, "lena", PASSWORD, "clinician", actor="admin")
    with pytest.raises(ValueError, match="at least 12 characters"):
        set_password(store, "lena", "tiny", actor="admin")
    set_password(store, "lena", "another long password", actor="admin")
    with pytest.raises(AuthError):
        authenticate(store, "lena", PASSWORD)
    assert authenticate(store, "lena", "another long password").username == "lena"
    assert get_user(store, "LENA").username == "lena" and get_user(store, "a b") is None


def test_no_account_exists_until_someone_creates_one(store):
    """No default password: a fresh store has no account to sign in to."""
    assert list_users(store) == [] and needs_first_admin(store)
    for name, password in (("admin", "admin"), ("admin", "password"), ("root", "changeme")):
        with pytest.raises(AuthError):
            authenticate(store, name, password)


def test_two_first_run_forms_at_once_make_one_administrator(store, setup_token):
    from concurrent.futures import ThreadPoolExecutor

    def attempt(name: str) -> str:
        try:
            create_first_admin(store, name, PASSWORD, setup_token=setup_token)
        except ValueError as err:
            return str(err)
        except DBAPIError:  # SQLite: the loser's write lock times out or its snapshot is stale
            return "refused by the database"
        return "created"

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(attempt, ["first.a", "first.b"]))
    assert outcomes.count("created") == 1, outcomes
    assert [u.role for u in list_users(store)] == ["admin"]


@pytest.mark.parametrize("change", ["deactivate", "demote"])
def test_two_admins_removing_each_other_at_once_leave_one(store, monkeypatch, change):
    """Issue 14: the guard counted, then wrote; two such changes at once left no administrator.

    Both threads are held after their first count of active administrators
    until the other has counted too (or for a second, when the fix makes the
    second wait for the first): without a lock both saw two and both wrote.
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from rehab_core.security import accounts

    create_user(store, "ann.admin", PASSWORD, "admin", actor="pytest")
    create_user(store, "bob.admin", PASSWORD, "admin", actor="pytest")
    barrier = threading.Barrier(2)
    real_count = accounts._n_active_admins

    def count_then_wait(session):
        n = real_count(session)
        try:
            barrier.wait(timeout=1.0)
        except threading.BrokenBarrierError:
            pass
        return n

    monkeypatch.setattr(accounts, "_n_active_admins", count_then_wait)

    def remove(pair: tuple[str, str]) -> str:
        actor, target = pair
        try:
            if change == "deactivate":
                set_user_active(store, target, False, actor=actor)
            else:
                set_user_role(store, target, "researcher", actor=actor)
        except ValueError as err:
            return str(err)
        except DBAPIError:  # SQLite: a lock wait ran out
            return "refused by the database"
        return "done"

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(remove, [("ann.admin", "bob.admin"), ("bob.admin", "ann.admin")]))
    assert outcomes.count("done") == 1, outcomes
    refused = next(o for o in outcomes if o != "done")
    assert refused.endswith("is the last active administrator; make another one first.")
    assert not needs_first_admin(store)
    admins = [u for u in list_users(store) if u.role == "admin" and u.active]
    assert len(admins) == 1


@pytest.mark.parametrize("token", [None, "", "guess", "x" * 43])
def test_no_first_administrator_without_the_setup_token(store, setup_token, token):
    """Issue 14: any visitor of a fresh install could become administrator."""
    with pytest.raises(ValueError, match=r"^The setup token is wrong or has expired; copy the one"):
        create_first_admin(store, "intruder", PASSWORD, setup_token=token)
    assert list_users(store) == [] and needs_first_admin(store)


def test_setup_token_is_issued_once_expires_and_is_spent_by_use(store):
    import time

    reset_setup_token()
    now = time.time()
    token = issue_setup_token(now=now)
    assert token and len(token) >= 40
    assert issue_setup_token(now=now + 60) is None  # a reload cannot replace the logged one
    later = now + SETUP_TOKEN_MINUTES * 60 + 1
    from rehab_core.security import setup_token_matches

    assert setup_token_matches(f"  {token} ", now=now + 60)  # pasted with spaces
    assert not setup_token_matches(token, now=later)
    fresh = issue_setup_token(now=later)  # expired: a new one for the log
    assert fresh and fresh != token and not setup_token_matches(token, now=later)
    create_first_admin(store, "chief", PASSWORD, setup_token=fresh)
    assert not setup_token_matches(fresh)
    reset_setup_token()


def test_admin_reset_makes_the_user_choose_a_new_password(store):
    from rehab_core.security import change_own_password, reset_password

    create_user(store, "lena", PASSWORD, "clinician", actor="admin")
    assert get_user(store, "lena").must_change_password is False
    reset = reset_password(store, "lena", "temporary tulip window", actor="admin")
    assert reset.must_change_password is True
    user = authenticate(store, "lena", "temporary tulip window")
    assert user.must_change_password is True
    with pytest.raises(AuthError, match=r"^The current password is wrong\.$"):
        change_own_password(store, "lena", "not it", "my own quiet harbour")
    with pytest.raises(ValueError, match=r"^The new password must differ from the current one"):
        change_own_password(store, "lena", "temporary tulip window", "temporary tulip window")
    with pytest.raises(ValueError, match=r"^The password is too easy to guess"):
        change_own_password(store, "lena", "temporary tulip window", "Password1234")
    changed = change_own_password(store, "lena", "temporary tulip window", "my own quiet harbour")
    assert changed.must_change_password is False
    assert authenticate(store, "lena", "my own quiet harbour").must_change_password is False
    updates = [(e.username, e.details) for e in reversed(audit_events(store, action="user_update"))]
    assert updates == [("admin", {"password_reset": True}), ("lena", {"password": True})]
