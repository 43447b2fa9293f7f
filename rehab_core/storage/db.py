"""Database tables of the dashboard (SQLAlchemy 2.0 ORM).

Patient records:

``patients``
    A pseudonym (unique) and the clinical fields the model and the report use.
``uploads``
    One row per recording stored for a patient: kind (``signals`` or
    ``fmri``), the name it was uploaded under (metadata only, never a path),
    where the content-addressed file lies relative to the data folder, size,
    SHA-256, format and a QC summary (JSON).
``predictions``
    One row per prediction: the model and weights it came from, the
    preprocessing settings and input hashes it used, the uploads it read, and
    the full output (``Prediction.to_dict()``, JSON).

Retraining (:mod:`rehab_core.jobs`):

``training_jobs``
    One row per training job and its life: ``queued``, ``running``,
    ``finished``, ``failed`` or ``cancelled``; who asked, the cohort, the
    settings, the process running it and its heartbeat, the latest progress
    event, a cancel request, the error sentence if it failed.
``model_versions``
    One row per weights bundle a finished job produced (or the shipped one):
    the fusion model id, where the bundle lies, its weights hash, its
    evaluation figures, and whether (and by whom) it was promoted to be the
    default the prediction page uses.

People (:mod:`rehab_core.security`):

``users``
    Local accounts: user name, role (clinician, researcher, admin), an
    Argon2id password hash (none for accounts signed in through the
    hospital's identity provider), whether the account is active.
``user_identities``
    The identity provider's issuer and subject bound to a local account
    (OpenID Connect sign-in matches on them, not on the e-mail address).
``password_resets``
    Accounts whose password an administrator reset: they must choose a new
    one at their next sign-in.
``audit_events``
    Append-only: who did what to which patient and when. The database itself
    refuses to change it: :func:`install_audit_guards` puts triggers on it
    that abort any UPDATE or DELETE (and, on PostgreSQL, TRUNCATE). The
    trail's API (recording, filtering, export) is :mod:`rehab_core.security.audit`.

The schema (tables and the audit trail's triggers) is created by
:func:`create_db_engine` when a store is opened; there is no migrations
framework (Alembic) yet, so a change to these tables needs one, or a fresh
database.

:func:`create_db_engine` works for any SQLAlchemy URL. For SQLite it turns on,
per connection, write-ahead logging (readers never block the writer),
foreign-key enforcement (off by default in SQLite), a busy timeout, so two
Streamlit sessions writing at once wait for each other instead of failing,
and ``secure_delete``, so an erased patient's rows are overwritten rather than
left in free pages. On every backend JSON values are written by
:func:`json_dumps`, which stores NaN and infinities as ``null`` and the NUL
character as U+FFFD: PostgreSQL refuses both in JSONB, and SQLite and
PostgreSQL must store the same thing.

Tested on SQLite and PostgreSQL 15 (``tests/storage``). On PostgreSQL,
``String(n)`` lengths are enforced (SQLite ignores them), ``Integer`` is 32-bit
(``uploads.size`` holds files below 2.1 GB; the store's upload limit stays
under it) and JSONB does not keep the order of an object's keys.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import warnings
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Base",
    "Patient",
    "Upload",
    "Prediction",
    "TrainingJob",
    "ModelVersion",
    "User",
    "UserIdentity",
    "PasswordReset",
    "AuditEvent",
    "JOB_STATES",
    "ROLES",
    "create_db_engine",
    "install_audit_guards",
    "APPEND_ONLY_MESSAGE",
    "json_dumps",
    "utc_now",
    "SQLITE_BUSY_TIMEOUT_MS",
]

SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long an SQLite connection waits for another writer's lock before failing."""

# JSON everywhere; JSONB on PostgreSQL (indexable, compact).
_JSON = JSON().with_variant(JSONB(), "postgresql")


def utc_now() -> _dt.datetime:
    """The current time, timezone-aware UTC."""
    return _dt.datetime.now(_dt.UTC)


class UTCDateTime(TypeDecorator):
    """Timestamps stored as naive UTC, returned timezone-aware (UTC) on every backend.

    SQLite has no timezone type and would hand back naive datetimes; storing
    UTC and re-attaching the zone on load keeps every ``created_at`` comparable.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: _dt.datetime | None, dialect: Any) -> _dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"created_at={value!r} has no timezone; expected an aware datetime.")
        return value.astimezone(_dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: _dt.datetime | None, dialect: Any) -> _dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=_dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of the dashboard's tables."""


class Patient(Base):
    """A patient, known by a pseudonym only."""

    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    age: Mapped[int | None] = mapped_column(Integer)
    sex: Mapped[str | None] = mapped_column(String(8))
    affected_side: Mapped[str | None] = mapped_column(String(8))
    days_since_stroke: Mapped[int | None] = mapped_column(Integer)
    fma_le_baseline: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utc_now)


class Upload(Base):
    """A stored recording; the file lies at ``data_dir / path`` (content-addressed)."""

    __tablename__ = "uploads"
    __table_args__ = (UniqueConstraint("patient_id", "kind", "sha256", name="uq_upload_content"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    original_name: Mapped[str] = mapped_column(String(255), nullable=False)
    path: Mapped[str] = mapped_column(String(255), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    format: Mapped[str] = mapped_column(String(32), nullable=False)
    qc: Mapped[dict[str, Any]] = mapped_column(_JSON, nullable=False, default=dict)
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utc_now)


class Prediction(Base):
    """A stored prediction with its provenance."""

    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), nullable=False, index=True
    )
    model_id: Mapped[str] = mapped_column(String(128), nullable=False)
    weights_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    preprocessing: Mapped[dict[str, Any]] = mapped_column(_JSON, nullable=False, default=dict)
    inputs: Mapped[dict[str, Any]] = mapped_column(_JSON, nullable=False, default=dict)
    upload_ids: Mapped[list[int]] = mapped_column(_JSON, nullable=False, default=list)
    outputs: Mapped[dict[str, Any]] = mapped_column(_JSON, nullable=False)
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utc_now)


JOB_STATES: tuple[str, ...] = ("queued", "running", "finished", "failed", "cancelled")
"""A training job's states; the last three are final."""

ROLES: tuple[str, ...] = ("clinician", "researcher", "admin")
"""Roles, each allowed what the one before it is, and more."""


class TrainingJob(Base):
    """A retraining job; its files lie under ``data_dir / work_dir``."""

    __tablename__ = "training_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False, index=True, default="queued")
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utc_now)
    created_by: Mapped[str | None] = mapped_column(String(64))
    cohort: Mapped[str] = mapped_column(String(1024), nullable=False)
    settings: Mapped[dict[str, Any]] = mapped_column(_JSON, nullable=False, default=dict)
    device: Mapped[str] = mapped_column(String(32), nullable=False, default="auto")
    work_dir: Mapped[str | None] = mapped_column(String(1024))
    started_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)
    pid: Mapped[int | None] = mapped_column(Integer)
    host: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    progress: Mapped[dict[str, Any]] = mapped_column(_JSON, nullable=False, default=dict)
    error: Mapped[str | None] = mapped_column(Text)


class ModelVersion(Base):
    """A weights bundle registered for use; ``is_default`` marks the promoted one per model."""

    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    path: Mapped[str] = mapped_column(String(1024), nullable=False)
    weights_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("training_jobs.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utc_now)
    created_by: Mapped[str | None] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(_JSON, nullable=False, default=dict)
    is_default: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    promoted_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)
    promoted_by: Mapped[str | None] = mapped_column(String(64))


class User(Base):
    """A person who may sign in, with one role."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utc_now)
    last_sign_in_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)


class UserIdentity(Base):
    """The identity provider's account bound to a local account (OpenID Connect ``iss`` + ``sub``).

    The provider's subject is stable where the e-mail address is not (it can
    be renamed or reassigned): the first sign-in through the provider binds
    the local account named by the verified e-mail to this pair, and later
    sign-ins are matched on the pair alone.
    """

    __tablename__ = "user_identities"
    __table_args__ = (
        UniqueConstraint("issuer", "subject", name="uq_identity_subject"),
        UniqueConstraint("user_id", name="uq_identity_user"),  # one identity per account
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    issuer: Mapped[str] = mapped_column(String(255), nullable=False)
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    bound_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utc_now)


class PasswordReset(Base):
    """A temporary password an administrator set: its user must choose a new one at sign-in."""

    __tablename__ = "password_resets"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    set_by: Mapped[str] = mapped_column(String(64), nullable=False)
    set_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utc_now)


class AuditEvent(Base):
    """One line of the audit trail; never updated or deleted.

    ``patient_id`` is a plain integer, not a foreign key: the trail outlives
    the records it speaks of.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utc_now)
    username: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    patient_id: Mapped[int | None] = mapped_column(Integer, index=True)
    target: Mapped[str | None] = mapped_column(String(255))
    details: Mapped[dict[str, Any]] = mapped_column(_JSON, nullable=False, default=dict)


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """Per-connection SQLite settings; pysqlite's legacy mode runs PRAGMAs outside transactions."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # WAL makes NORMAL durable across application crashes; only a power cut may
        # lose the last commits, never corrupt the database.
        cursor.execute("PRAGMA synchronous=NORMAL")
        # deleted rows (an erased patient) are overwritten with zeros, not left in free pages
        cursor.execute("PRAGMA secure_delete=ON")
    finally:
        cursor.close()


def _storable(value: Any) -> Any:
    """``value`` with NaN/infinities as None and NUL characters as U+FFFD (containers copied)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_storable(k) if isinstance(k, str) else k: _storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_storable(v) for v in value]
    return value


def json_dumps(value: Any) -> str:
    """The JSON text stored for ``value`` on every backend.

    NaN and infinities become ``null`` and NUL characters U+FFFD, which
    PostgreSQL's JSONB cannot hold; anything else that :func:`json.dumps`
    cannot write raises its ``TypeError``.
    """
    return json.dumps(_storable(value), allow_nan=False)


def create_db_engine(url: str, *, create_tables: bool = True, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` and (by default) the tables that are missing.

    Parameters
    ----------
    url : str
        Any SQLAlchemy URL, e.g. ``sqlite:////data/rehab.db`` or
        ``postgresql+psycopg://user@host/rehab``.
    create_tables : bool
        Run ``Base.metadata.create_all`` (creates missing tables, never alters)
        and :func:`install_audit_guards`.
    **kwargs
        Passed to :func:`sqlalchemy.create_engine`.

    Returns
    -------
    sqlalchemy.Engine
        With ``create_tables``, the audit trail is append-only in the database
        (:func:`install_audit_guards`). JSON is written by :func:`json_dumps`
        (unless ``json_serializer`` is given). For SQLite, every new
        connection is in WAL mode with foreign keys enforced, ``secure_delete``
        on and a busy timeout of :data:`SQLITE_BUSY_TIMEOUT_MS`.
    """
    kwargs.setdefault("json_serializer", json_dumps)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if create_tables:
        Base.metadata.create_all(engine)
        install_audit_guards(engine)
    return engine


# --- the audit trail's append-only guard -----------------------------------------------------
APPEND_ONLY_MESSAGE = "audit_events is append-only: rows cannot be changed or deleted"
"""The error text the audit trail's triggers raise."""

_SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER IF NOT EXISTS audit_events_no_{verb.lower()}
        BEFORE {verb} ON audit_events
        BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"""
    for verb in ("UPDATE", "DELETE")
]

_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION rehab_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}' USING ERRCODE = 'insufficient_privilege';
END
$$"""
_PG_TRIGGERS = {
    "audit_events_no_update_delete": "BEFORE UPDATE OR DELETE ON audit_events FOR EACH ROW",
    "audit_events_no_truncate": "BEFORE TRUNCATE ON audit_events FOR EACH STATEMENT",
}
# any constant: serialises two processes installing the guards at once
_PG_LOCK_KEY = 72_616_275_646_974


def install_audit_guards(engine: Engine) -> None:
    """Make ``audit_events`` append-only in the database itself (idempotent).

    SQLite: ``BEFORE UPDATE`` and ``BEFORE DELETE`` triggers that
    ``RAISE(ABORT, ...)``. PostgreSQL: a PL/pgSQL trigger function that raises,
    fired before UPDATE or DELETE of any row and before TRUNCATE. Other
    databases get a warning (the application still never updates the trail).
    The table must exist; :func:`create_db_engine` creates it and then calls this.
    """
    dialect = engine.dialect.name
    if dialect == "sqlite":
        with engine.begin() as conn:
            for ddl in _SQLITE_TRIGGERS:
                conn.execute(text(ddl))
    elif dialect == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            conn.execute(text(_PG_FUNCTION))
            for name, when in _PG_TRIGGERS.items():
                exists = conn.execute(
                    text(
                        "SELECT 1 FROM pg_trigger WHERE tgname = :name "
                        "AND tgrelid = 'audit_events'::regclass"
                    ),
                    {"name": name},
                ).first()
                if exists is None:
                    conn.execute(
                        text(
                            f"CREATE TRIGGER {name} {when} "
                            "EXECUTE FUNCTION rehab_audit_append_only()"
                        )
                    )
    else:  # pragma: no cover - the store supports SQLite and PostgreSQL
        warnings.warn(
            f"No append-only guard for {dialect} databases: the audit trail relies on the "
            "application alone there.",
            stacklevel=2,
        )
