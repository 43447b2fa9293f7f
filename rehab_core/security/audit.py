"""The audit trail: who did what to which patient, and when; append-only.

Every event is one row of ``audit_events`` (:class:`rehab_core.storage.db.AuditEvent`).
The application only ever inserts; the database itself refuses the rest:
:func:`rehab_core.storage.db.install_audit_guards` (run each time a store is
opened) installs triggers that abort any UPDATE or DELETE of the table (and,
on PostgreSQL, TRUNCATE), so neither the app, a bug nor a hand-typed SQL
statement through the app's connection can rewrite history. This module is
the trail's API: every row is written by :func:`record_event`.

The trail is also hash-chained, for the case the triggers cannot cover (someone
with the database's owner rights drops them, then edits or deletes rows): each
row carries the hash of the row before it (``prev_hash``) and its own
(``row_hash``, SHA-256 of :func:`event_hash`'s canonical JSON of the row and
``prev_hash``). :func:`record_event` first updates the chain's head row
(``audit_chain``), which holds SQLite's write lock or PostgreSQL's row lock
until the caller commits, so two writers never chain onto the same row.
:func:`verify_audit_trail` (``rehab audit verify``) walks the chain and names
the first row deleted, edited or out of order. Someone able to rewrite every
hash after the one they changed (and the head) is not detected: that needs the
last hash kept somewhere else (see the README's Security section).

Patients appear by their database id only (``patient_id``), never by name;
callers put ids, hashes and settings in ``details``, not file names or
free text a person typed about a patient.
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import hmac
import io
import json
import os
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from rehab_core._files import FILE_MODE, fsync_dir
from rehab_core._validation import check_option
from rehab_core.storage.db import AuditChainHead, AuditEvent, json_dumps, utc_now

if TYPE_CHECKING:
    from rehab_core.storage import Store

__all__ = [
    "ACTIONS",
    "AuditRecord",
    "record_event",
    "audit_events",
    "audit_csv",
    "event_hash",
    "AuditVerdict",
    "verify_audit_trail",
    "GENESIS_HASH",
    "AUDIT_KEY_FILE",
    "typed_name_hash",
]

AUDIT_KEY_FILE = "audit.key"
"""The server secret (in the data folder, 0600) that keys :func:`typed_name_hash`."""

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the trail's first row."""

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
    "upload_refused",
    "channel_map",
    "access_refused",
    "predict",
    "download_report",
    "delete_patient",
    "cohort_check",
    "job_log_view",
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
    fields = {
        "at": utc_now(),
        "username": _clip(str(username), _NAME_MAX),
        "action": action,
        "patient_id": None if patient_id is None else int(patient_id),
        "target": None if target is None else _clip(str(target), _TARGET_MAX),
        "details": details,
    }
    if session is not None:
        _append(session, fields)
        return
    with Session(store.engine) as own, own.begin():
        _append(own, fields)


def _append(session: Session, fields: dict[str, Any]) -> None:
    """Chain ``fields`` onto the trail's last row, inside ``session``'s transaction."""
    # updating the head first takes the writers' lock until commit (SQLite: the database's
    # write lock; PostgreSQL: the row's lock, and READ COMMITTED then reads the newest head)
    bumped = session.execute(
        update(AuditChainHead)
        .where(AuditChainHead.id == 1)
        .values(n_events=AuditChainHead.n_events + 1)
    )
    if bumped.rowcount != 1:
        raise RuntimeError("The audit trail's chain head is missing; open the store to restore it.")
    prev = session.scalar(select(AuditChainHead.last_hash).where(AuditChainHead.id == 1))
    prev = prev or GENESIS_HASH
    row_hash = event_hash(prev, **fields)
    session.add(AuditEvent(**fields, prev_hash=prev, row_hash=row_hash))
    session.execute(update(AuditChainHead).where(AuditChainHead.id == 1).values(last_hash=row_hash))


def _audit_key(store: Store) -> bytes:
    """The data folder's 32-byte audit key, created 0600 on first use (race-free)."""
    path = store.data_dir / AUDIT_KEY_FILE
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        tmp = store.data_dir / f".{AUDIT_KEY_FILE}-{secrets.token_hex(8)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)
            os.write(fd, secrets.token_bytes(32))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if another process made it first: theirs wins
            fsync_dir(store.data_dir)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
        key = path.read_bytes()
    if len(key) != 32:
        raise RuntimeError(f"{path} is not a 32-byte audit key; restore it from the backup.")
    return key


def typed_name_hash(store: Store, typed: str) -> str:
    """HMAC-SHA-256 (hex) of a user name typed at sign-in, keyed by the data folder's audit key.

    A sign-in under a name that is no account is audited under this hash
    only: a password typed into the user-name box is never stored, yet an
    administrator can still see repeated attempts with the same name, and can
    check a suspected name by hashing it again.
    """
    return hmac.new(_audit_key(store), typed.encode("utf-8"), hashlib.sha256).hexdigest()


def _canonical(value: Any) -> Any:
    """``value`` as the database gives it back, numbers in one spelling.

    PostgreSQL's JSONB keeps numbers as decimals (``1.0`` may come back as
    ``1``, ``1e20`` as an integer): integral floats become ints, and anything
    beyond a double's exact integers becomes a float, on both sides.
    """
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        if abs(value) >= 2**53:
            return float(value)
        return int(value) if float(value).is_integer() else float(value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def event_hash(
    prev_hash: str,
    *,
    at: _dt.datetime,
    username: str,
    action: str,
    patient_id: int | None,
    target: str | None,
    details: dict[str, Any],
) -> str:
    """SHA-256 (hex) of one event's canonical JSON and the hash of the event before it.

    The JSON has sorted keys, no spaces, ASCII only; ``at`` is ISO 8601 UTC
    with microseconds; ``details`` is taken as stored (:func:`json_dumps`'s
    NaN and NUL rules) with numbers as :func:`_canonical` spells them.
    """
    stored = _canonical(json.loads(json_dumps(details or {})))
    text = json.dumps(
        {
            "prev_hash": prev_hash,
            "at": at.astimezone(_dt.UTC).isoformat(timespec="microseconds"),
            "username": username,
            "action": action,
            "patient_id": patient_id,
            "target": target,
            "details": stored,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    )
    return hashlib.sha256(text.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class AuditVerdict:
    """What :func:`verify_audit_trail` found.

    ``ok`` is True when every row is chained to the one before and matches
    its hash and the chain head; otherwise ``message`` is one sentence naming
    the first problem and ``row_id`` the row it was found at (None when the
    problem is at the end of the trail or in its head).
    """

    ok: bool
    n_events: int
    message: str
    row_id: int | None = None


def verify_audit_trail(store: Store) -> AuditVerdict:
    """Walk the trail in id order and report the first deleted, edited or reordered row."""
    with Session(store.engine) as session:
        head = session.get(AuditChainHead, 1)
        n_rows = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
        expected = GENESIS_HASH
        last_id: int | None = None
        seen = 0
        for row in session.scalars(select(AuditEvent).order_by(AuditEvent.id)).yield_per(1000):
            seen += 1

            def bad(message: str, row_id: int = row.id) -> AuditVerdict:
                return AuditVerdict(False, n_rows, message, row_id)

            if row.row_hash is None or row.prev_hash is None:
                return bad(
                    f"Audit row {row.id} carries no hash: it was written around the "
                    "application or its hash was removed."
                )
            content = event_hash(
                row.prev_hash,
                at=row.at,
                username=row.username,
                action=row.action,
                patient_id=row.patient_id,
                target=row.target,
                details=dict(row.details or {}),
            )
            if content != row.row_hash:
                return bad(
                    f"Audit row {row.id} was edited after it was written: its content no "
                    "longer matches its hash."
                )
            if row.prev_hash != expected:
                if last_id is None:
                    return bad(
                        f"Audit row {row.id} is not the first row written: the rows before "
                        "it were deleted."
                    )
                return bad(
                    f"Audit row {row.id} does not follow row {last_id}: a row between them "
                    "was deleted, or the rows were reordered."
                )
            expected = row.row_hash
            last_id = row.id
    if head is None:
        return AuditVerdict(
            False, n_rows, "The audit trail's chain head is missing: it was deleted."
        )
    if head.n_events != seen or (head.last_hash or GENESIS_HASH) != expected:
        where = "the start" if last_id is None else f"row {last_id}"
        if head.n_events > seen:
            return AuditVerdict(
                False,
                n_rows,
                f"The audit trail ends at {where} but {head.n_events} events were recorded: "
                f"the last {head.n_events - seen} row(s) were deleted.",
            )
        return AuditVerdict(
            False,
            n_rows,
            f"The audit trail's head does not match its last row ({where}): rows were "
            "deleted from the end, or the head was changed.",
        )
    return AuditVerdict(
        True, n_rows, f"The audit trail is intact: {n_rows} events, each chained to the one before."
    )


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
