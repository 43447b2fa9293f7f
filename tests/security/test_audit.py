"""rehab_core.security.audit: events, filters, CSV export, and the database's append-only guard."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from rehab_core.security import ACTIONS, audit_csv, audit_events, install_audit_guards, record_event
from rehab_core.security.audit import APPEND_ONLY_MESSAGE, CSV_COLUMNS
from rehab_core.storage import open_store
from rehab_core.storage.db import AuditEvent


@pytest.fixture
def store(db_url, tmp_path):
    """A fresh store on SQLite and on PostgreSQL (``db_url`` from tests/conftest.py)."""
    s = open_store(url=db_url, data_dir=tmp_path / "data")
    yield s
    s.close()


def fill(store) -> None:
    record_event(store, "ann", "sign_in", details={"method": "password"})
    record_event(store, "ann", "view_patient", patient_id=3)
    record_event(store, "ann", "predict", patient_id=3, target="prediction 7")
    record_event(store, "bob", "view_patient", patient_id=4)
    record_event(store, "bob", "download_report", patient_id=3, target="=HYPERLINK(1)")


def test_events_are_newest_first_and_filtered(store):
    fill(store)
    events = audit_events(store)
    assert [e.action for e in events] == [
        "download_report",
        "view_patient",
        "predict",
        "view_patient",
        "sign_in",
    ]
    assert [e.id for e in events] == [5, 4, 3, 2, 1]
    assert all(e.at.tzinfo is not None for e in events)
    assert [e.id for e in audit_events(store, patient_id=3)] == [5, 3, 2]
    assert [e.id for e in audit_events(store, username="ann", action="view_patient")] == [2]
    assert [e.id for e in audit_events(store, limit=2)] == [5, 4]
    assert audit_events(store, action="delete_patient") == []
    assert events[2].target == "prediction 7" and events[4].details == {"method": "password"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action": "edit_audit"}, r"action='edit_audit' is not allowed; choose one of"),
        ({"action": "sign-in"}, r"Did you mean 'sign_in'\?"),
        (
            {"action": "predict", "details": {"when": object()}},
            r"^The details of a predict event must be JSON-serialisable\.$",
        ),
    ],
)
def test_unknown_actions_and_bad_details_are_refused(store, kwargs, message):
    with pytest.raises(ValueError, match=message):
        record_event(store, "ann", **kwargs)
    assert audit_events(store) == []


def test_long_names_are_clipped_not_refused(store):
    record_event(store, "u" * 100, "sign_in_failed", target="t" * 300)
    (event,) = audit_events(store)
    assert len(event.username) == 64 and len(event.target) == 255


def test_csv_holds_every_matching_event_and_defuses_formulas(store):
    fill(store)
    rows = list(csv.reader(io.StringIO(audit_csv(store).decode("utf-8"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r[0] for r in rows[1:]] == ["5", "4", "3", "2", "1"]
    by_id = {r[0]: dict(zip(CSV_COLUMNS, r, strict=True)) for r in rows[1:]}
    assert by_id["3"]["username"] == "ann" and by_id["3"]["action"] == "predict"
    assert by_id["3"]["patient_id"] == "3" and by_id["3"]["target"] == "prediction 7"
    assert by_id["5"]["target"] == "'=HYPERLINK(1)"  # a spreadsheet shows it, never runs it
    assert json.loads(by_id["1"]["details"]) == {"method": "password"}
    assert by_id["1"]["at_utc"].endswith("+00:00")
    only_bob = list(csv.reader(io.StringIO(audit_csv(store, username="bob").decode())))
    assert [r[0] for r in only_bob[1:]] == ["5", "4"]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET username = 'mallory' WHERE id = 1",
        "UPDATE audit_events SET action = 'sign_in'",
        "DELETE FROM audit_events WHERE id = 2",
        "DELETE FROM audit_events",
    ],
)
def test_raw_sql_cannot_change_or_delete_events(store, statement):
    fill(store)
    before = audit_events(store)
    with pytest.raises(DBAPIError, match=APPEND_ONLY_MESSAGE), store.engine.begin() as conn:
        conn.execute(text(statement))
    assert audit_events(store) == before


def test_the_orm_cannot_change_or_delete_events_either(store):
    fill(store)
    with pytest.raises(DBAPIError, match="append-only"), Session(store.engine) as session:
        with session.begin():
            session.get(AuditEvent, 1).username = "mallory"
    with pytest.raises(DBAPIError, match="append-only"), Session(store.engine) as session:
        with session.begin():
            session.delete(session.get(AuditEvent, 2))
    assert len(audit_events(store)) == 5 and audit_events(store)[-1].username == "ann"


_TRIGGERS = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name",
    "postgresql": "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_events'::regclass "
    "AND NOT tgisinternal ORDER BY tgname",
}


def test_guards_are_installed_once_and_survive_reopening(store, db_url, tmp_path):
    install_audit_guards(store.engine)  # idempotent
    again = open_store(url=db_url, data_dir=tmp_path / "data")
    try:
        with again.engine.connect() as conn:
            names = list(conn.execute(text(_TRIGGERS[again.engine.dialect.name])).scalars())
        assert names == (
            ["audit_events_no_delete", "audit_events_no_update"]
            if again.engine.dialect.name == "sqlite"
            else ["audit_events_no_truncate", "audit_events_no_update_delete"]
        )
        record_event(again, "ann", "sign_in")
        with pytest.raises(DBAPIError, match="append-only"), again.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_events"))
        if again.engine.dialect.name == "postgresql":
            with pytest.raises(DBAPIError, match="append-only"), again.engine.begin() as conn:
                conn.execute(text("TRUNCATE audit_events"))
        assert len(audit_events(again)) == 1
    finally:
        again.close()


def test_vocabulary_covers_the_issue():
    for action in ("sign_in", "view_patient", "upload", "predict", "download_report"):
        assert action in ACTIONS
    for action in ("delete_patient", "train_submit", "promote", "audit_export"):
        assert action in ACTIONS
