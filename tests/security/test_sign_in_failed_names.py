"""Issue 14, finding 6: a password typed into the user-name box was stored for ever in
``sign_in_failed``; names that are no account are now kept only as a keyed hash."""

from __future__ import annotations

import stat
import threading

import pytest

from rehab_core.security import AuthError, audit_csv, audit_events, authenticate, create_user
from rehab_core.security.audit import AUDIT_KEY_FILE, typed_name_hash
from rehab_core.storage import open_store

SECRET = "Tr0ub4dor&3-horse-battery"


@pytest.fixture
def store(db_url, tmp_path):
    s = open_store(url=db_url, data_dir=tmp_path / "data")
    yield s
    s.close()


def test_a_password_typed_as_the_user_name_is_never_stored(store):
    create_user(store, "nurse.a", "correct horse battery staple 9", "clinician", actor="cli")
    with pytest.raises(AuthError, match=r"^Wrong user name or password\.$"):
        authenticate(store, SECRET, "anything")
    with pytest.raises(AuthError):
        authenticate(store, SECRET, "again")
    events = audit_events(store, action="sign_in_failed")
    assert len(events) == 2
    dump = audit_csv(store).decode()
    assert SECRET.lower() not in dump.lower() and "tr0ub4dor" not in dump.lower()
    digest = typed_name_hash(store, SECRET.lower())
    assert {e.username for e in events} == {f"unknown:{digest[:16]}"}  # same name, same label
    assert events[0].details == {"name_hmac": digest}
    # a real account's failures keep its name
    with pytest.raises(AuthError):
        authenticate(store, "Nurse.A", "wrong")
    assert audit_events(store, action="sign_in_failed")[0].username == "nurse.a"


def test_the_key_is_private_secret_and_stable(store, tmp_path):
    first = typed_name_hash(store, "alice")
    key = store.data_dir / AUDIT_KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) == 32
    assert typed_name_hash(store, "alice") == first != typed_name_hash(store, "bob")
    other = open_store(url=f"sqlite:///{tmp_path / 'o.db'}", data_dir=tmp_path / "other")
    try:
        assert typed_name_hash(other, "alice") != first  # keyed: another server, another hash
    finally:
        other.close()


def test_processes_creating_the_key_at_once_agree(store):
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(typed_name_hash(store, "x")))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(results) == 8
    assert sorted(p.name for p in store.data_dir.iterdir() if "audit" in p.name) == [AUDIT_KEY_FILE]
