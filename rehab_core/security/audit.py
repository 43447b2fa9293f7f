"""The audit trail: who did what to which patient, and when; append-only.

Every event is one row of ``audit_events`` (:class:`rehab_core.storage.db.AuditEvent`).
The application only ever inserts; the database itself refuses the rest:
:func:`rehab_core.storage.db.install_audit_guards` (run each time a store is
opened) installs triggers that abort any UPDATE or DELETE of the table (and,
on PostgreSQL, TRUNCATE), so neither the app, a bug nor a hand-typed SQL
statement through the app's connection can rewrite history. This module is
the trail's API: every row is written by :func:`record_event`.

Patients appear by their database id only (``patient_id``), never by name;
callers put ids, hashes and settings in ``details``, not file names or
free text a person typed about a patient.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rehab_core._validation import check_option
from rehab_core.storage.db import AuditEvent

if TYPE_CHECKING:
    from rehab_core.storage import Store

__all__ = [
    "ACTIONS",
    "AuditRecord",
    "record_event",
    "audit_events",
    "audit_csv",
]

ACTIONS: tuple[str, ...] = (
    "sign_in",
    "sign_in_failed",
    "sign_out",
    "first_admin",
    "user_create",
    "user_update",
    "view_patient",
    "create_patient",
    "upload",
    "predict",
    "download_report",
    "delete_patient",
    "train_submit",
    "train_cancel",
    "train_finish",
    "promote",
    "audit_export",
)
"""Every action the trail knows; :func:`record_event` refuses any other."""

CSV_COLUMNS: tuple[str, ...] = (
    "id",
    "at_utc",
    "username",
    "action",
    "patient_id",
    "target",
    "details",
)

_NAME_MAX = 64
_TARGET_MAX = 255


@dataclass(frozen=True)
class AuditRecord:
    """One event of the trail, detached from the database."""

    id: int
    at: _dt.datetime
    username: str
    action: str
    patient_id: int | None
    target: str | None
    details: dict[str, Any]


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def record_event(
    store: Store,
    username: str,
    action: str,
    *,
    patient_id: int | None = None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
    session: Session | None = None,
) -> None:
    """Append one event to the trail.

    Without ``session`` the event is its own transaction, committed at once;
    with it, the event joins the caller's transaction and is committed (or
    rolled back) with the change it records.

    Parameters
    ----------
    store : Store
        The store whose database holds the trail.
    username : str
        Who did it (an account's user name; clipped to 64 characters).
    action : str
        One of :data:`ACTIONS`.
    patient_id : int | None
        The patient it concerned, by id.
    target : str | None
        What else it concerned (``"prediction 12"``, ``"user alice"``), clipped to 255 characters.
    details : dict | None
        JSON-serialisable facts (ids, hashes, settings); never names.
    session : sqlalchemy.orm.Session | None
        A session of ``store``'s database inside a transaction the caller commits.

    Raises
    ------
    ValueError
        ``action`` is not in :data:`ACTIONS`, or ``details`` is not JSON-serialisable.
    """
    check_option("action", action, ACTIONS)
    details = dict(details or {})
    try:
        json.dumps(details)
    except (TypeError, ValueError):
        raise ValueError(f"The details of a {action} event must be JSON-serialisable.") from None
    row = AuditEvent(
        username=_clip(str(username), _NAME_MAX),
        action=action,
        patient_id=None if patient_id is None else int(patient_id),
        target=None if target is None else _clip(str(target), _TARGET_MAX),
        details=details,
    )
    if session is not None:
        session.add(row)
        return
    with Session(store.engine) as own, own.begin():
        own.add(row)


def audit_events(
    store: Store,
    *,
    limit: int | None = None,
    action: str | None = None,
    patient_id: int | None = None,
    username: str | None = None,
) -> list[AuditRecord]:
    """Events of the trail, newest first, optionally filtered (all filters combine).

    Parameters
    ----------
    limit : int | None
        At most this many (the newest); all when None.
    action, patient_id, username
        Keep only events with this action, patient id or user name.
    """
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if patient_id is not None:
        query = query.where(AuditEvent.patient_id == int(patient_id))
    if username is not None:
        query = query.where(AuditEvent.username == username)
    if limit is not None:
        query = query.limit(int(limit))
    with Session(store.engine) as session:
        return [
            AuditRecord(
                id=row.id,
                at=row.at,
                username=row.username,
                action=row.action,
                patient_id=row.patient_id,
                target=row.target,
                details=dict(row.details or {}),
            )
            for row in session.scalars(query)
        ]


def _cell(value: str) -> str:
    """A text cell a spreadsheet will not run as a formula (OWASP CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def audit_csv(store: Store, **filters: Any) -> bytes:
    """The trail (filtered as :func:`audit_events`) as UTF-8 CSV, newest first.

    Columns are :data:`CSV_COLUMNS`; ``at_utc`` is ISO 8601 with its ``+00:00``
    offset, ``details`` is JSON. Text that a spreadsheet would take for a
    formula is prefixed with ``'``.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in audit_events(store, **filters):
        writer.writerow(
            [
                e.id,
                e.at.isoformat(timespec="seconds"),
                _cell(e.username),
                e.action,
                "" if e.patient_id is None else e.patient_id,
                "" if e.target is None else _cell(e.target),
                json.dumps(e.details, sort_keys=True) if e.details else "",
            ]
        )
    return out.getvalue().encode("utf-8")
