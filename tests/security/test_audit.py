"""rehab_core.security.audit: events, filters, CSV export, events in the caller's transaction."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy.orm import Session

from rehab_core.security import ACTIONS, audit_csv, audit_events, record_event
from rehab_core.security.audit import CSV_COLUMNS
from rehab_core.storage import open_store


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


def test_an_event_joins_the_callers_transaction(store):
    """With ``session``, the event commits with the change it records, or not at all."""
    with pytest.raises(RuntimeError, match="the change failed"), Session(store.engine) as session:
        with session.begin():
            record_event(store, "ann", "promote", target="model version 1", session=session)
            raise RuntimeError("the change failed")
    assert audit_events(store) == []
    with Session(store.engine) as session, session.begin():
        record_event(store, "ann", "promote", target="model version 1", session=session)
        session.flush()
        assert audit_events(store) == []  # not before the caller commits
    (event,) = audit_events(store)
    assert (event.username, event.action, event.target) == ("ann", "promote", "model version 1")


def test_vocabulary_covers_the_issue():
    for action in ("sign_in", "view_patient", "upload", "predict", "download_report"):
        assert action in ACTIONS
    for action in ("delete_patient", "train_submit", "promote", "audit_export"):
        assert action in ACTIONS
