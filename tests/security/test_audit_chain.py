"""The audit trail's hash chain: rows deleted, edited or reordered by someone who dropped the
triggers are found by verify_audit_trail (and ``rehab audit verify``); writers never fork it."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from rehab_core.cli import main
from rehab_core.security import record_event, verify_audit_trail
from rehab_core.security.audit import GENESIS_HASH
from rehab_core.storage import open_store
from rehab_core.storage.db import AuditEvent


@pytest.fixture
def store(db_url, tmp_path, monkeypatch):
    for var in ("REHAB_DATA_DIR", "REHAB_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    s = open_store(url=db_url, data_dir=tmp_path / "data")
    yield s
    s.close()


def fill(store, n: int = 5) -> None:
    for i in range(n):
        record_event(
            store,
            "ann",
            "view_patient",
            patient_id=i,
            details={"i": i, "ratio": 0.1 * i, "big": 1e20, "one": 1.0, "nan": float("nan")},
        )


def drop_triggers(store) -> None:
    """What an attacker with the database owner's rights does first."""
    with store.engine.begin() as conn:
        if store.engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_update_delete ON audit_events"))


def test_an_untouched_trail_verifies(store):
    assert verify_audit_trail(store).ok  # empty
    fill(store)
    verdict = verify_audit_trail(store)
    assert verdict.ok and verdict.n_events == 5, verdict.message
    assert verdict.message == "The audit trail is intact: 5 events, each chained to the one before."
    with Session(store.engine) as session:
        rows = session.query(AuditEvent).order_by(AuditEvent.id).all()
    assert rows[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.row_hash for a, b in zip(rows, rows[1:], strict=False))


def test_a_deleted_row_is_found(store):
    fill(store)
    drop_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = 3"))
    verdict = verify_audit_trail(store)
    assert not verdict.ok and verdict.row_id == 4
    assert verdict.message == (
        "Audit row 4 does not follow row 2: a row between them was deleted, or the rows were "
        "reordered."
    )


def test_deleted_first_and_last_rows_are_found(store):
    fill(store)
    drop_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = 5"))
    verdict = verify_audit_trail(store)
    assert not verdict.ok
    assert verdict.message == (
        "The audit trail ends at row 4 but 5 events were recorded: the last 1 row(s) were deleted."
    )
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = 1"))
    assert verify_audit_trail(store).message == (
        "Audit row 2 is not the first row written: the rows before it were deleted."
    )


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE audit_events SET username = 'eve' WHERE id = 2",
        "UPDATE audit_events SET patient_id = 99 WHERE id = 2",
        "UPDATE audit_events SET at = at + INTERVAL '1 second' WHERE id = 2",
    ],
)
def test_an_edited_row_is_found(store, edit):
    fill(store)
    drop_triggers(store)
    if store.engine.dialect.name == "sqlite" and "INTERVAL" in edit:
        edit = "UPDATE audit_events SET at = datetime(at, '+1 second') WHERE id = 2"
    with store.engine.begin() as conn:
        assert conn.execute(text(edit)).rowcount == 1
    verdict = verify_audit_trail(store)
    assert not verdict.ok and verdict.row_id == 2
    assert verdict.message == (
        "Audit row 2 was edited after it was written: its content no longer matches its hash."
    )


def test_swapped_rows_are_found(store):
    fill(store)
    drop_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET id = 100 WHERE id = 2"))
        conn.execute(text("UPDATE audit_events SET id = 2 WHERE id = 3"))
        conn.execute(text("UPDATE audit_events SET id = 3 WHERE id = 100"))
    verdict = verify_audit_trail(store)
    assert not verdict.ok and verdict.row_id == 2
    assert "does not follow row 1" in verdict.message


def test_events_in_the_callers_rolled_back_transaction_leave_the_chain_whole(store):
    fill(store, 2)
    with Session(store.engine) as session, session.begin():
        record_event(store, "ann", "sign_in", session=session)
        session.rollback()
    record_event(store, "ann", "sign_out")
    assert verify_audit_trail(store).ok


def test_concurrent_writers_never_fork_the_chain(store):
    """Four threads (own connections, own transactions) write 15 events each."""
    errors: list[BaseException] = []

    def write(name: str) -> None:
        try:
            for i in range(15):
                record_event(store, name, "view_patient", patient_id=i)
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=write, args=(f"u{k}",)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    verdict = verify_audit_trail(store)
    assert verdict.ok and verdict.n_events == 60, verdict.message


def test_rehab_audit_verify_exits_non_zero_with_one_sentence(tmp_path, monkeypatch, capsys):
    for var in ("REHAB_DATA_DIR", "REHAB_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    data = tmp_path / "data"
    store = open_store(data_dir=data)
    fill(store, 3)
    assert main(["audit", "verify", "--data-dir", str(data)]) == 0
    assert "intact: 3 events" in capsys.readouterr().out
    drop_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET action = 'sign_in' WHERE id = 2"))
    store.close()
    assert main(["audit", "verify", "--data-dir", str(data)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "Audit row 2 was edited after it was written: its content no longer matches its hash."
    )
