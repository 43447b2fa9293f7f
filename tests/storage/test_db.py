"""Engine settings; every table and the audit trail's triggers on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from rehab_core.storage import db, open_store
from rehab_core.storage.db import (
    APPEND_ONLY_MESSAGE,
    SQLITE_BUSY_TIMEOUT_MS,
    create_db_engine,
    install_audit_guards,
    json_dumps,
)

ALL_TABLES = {
    "patients",
    "uploads",
    "predictions",
    "training_jobs",
    "model_versions",
    "users",
    "user_identities",
    "password_resets",
    "audit_events",
}


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for var in ("REHAB_DATA_DIR", "REHAB_DATABASE_URL", "REHAB_MAX_UPLOAD_MB"):
        monkeypatch.delenv(var, raising=False)


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == SQLITE_BUSY_TIMEOUT_MS
        assert conn.execute(text("PRAGMA secure_delete")).scalar() == 1
    engine.dispose()


@pytest.fixture
def engine(db_url):
    engine = create_db_engine(db_url)
    yield engine
    engine.dispose()


def test_every_table_is_created(engine):
    assert set(inspect(engine).get_table_names()) == ALL_TABLES
    columns = {c["name"]: c["type"] for c in inspect(engine).get_columns("uploads")}
    if engine.dialect.name == "postgresql":
        assert type(columns["qc"]).__name__ == "JSONB"
        assert type(columns["size"]).__name__ == "INTEGER"  # 32-bit: see the upload limit
    create_db_engine(str(engine.url.render_as_string(hide_password=False))).dispose()  # idempotent


def test_foreign_keys_are_enforced(engine):
    with pytest.raises(IntegrityError, match="(?i)foreign key"), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO uploads (patient_id, kind, original_name, path, size, sha256, "
                "format, qc, created_at) VALUES (42, 'fmri', 'a.nii', 'p', 1, 's', 'NIfTI', "
                "'{}', '2025-01-01 00:00:00')"
            )
        )


def test_created_at_must_be_timezone_aware(engine):
    from sqlalchemy.exc import StatementError

    with Session(engine) as session, pytest.raises(StatementError, match="has no timezone"):
        session.add(db.Patient(pseudonym="x", created_at=dt.datetime(2025, 1, 1)))
        session.flush()


AT = dt.datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=dt.timezone(dt.timedelta(hours=2)))


def test_retraining_tables_round_trip(engine):
    settings = {"n_folds": 3, "backbones": ["shufflenet"], "lr": 1e-3, "pretrained": False}
    with Session(engine) as session, session.begin():
        job = db.TrainingJob(
            created_by="rita",
            cohort="/data/cohorts/" + "c" * 1000,
            settings=settings,
            started_at=AT,
            heartbeat_at=AT,
            pid=2**31 - 1,
            host="h" * 255,
            progress={"epoch": 3, "val_loss": float("nan"), "message": "fold 1\x00"},
        )
        session.add(job)
        session.flush()
        session.add(
            db.ModelVersion(
                model_id="shufflenet_lstm",
                path="weights/v2",
                weights_sha256="ab" * 32,
                job_id=job.id,
                metrics={"auc": 0.82, "interval": [0.74, 0.9]},
                is_default=True,
                promoted_at=AT,
                promoted_by="admin",
            )
        )
    with Session(engine) as session:
        job = session.scalars(select(db.TrainingJob)).one()
        assert (job.state, job.device, job.attempts, job.cancel_requested) == (
            "queued",
            "auto",
            0,
            False,
        )
        assert job.settings == settings and len(job.cohort) == 1014
        assert job.progress == {"epoch": 3, "val_loss": None, "message": "fold 1\ufffd"}
        assert job.started_at == AT and job.started_at.tzinfo == dt.UTC
        assert job.created_at.tzinfo == dt.UTC and job.finished_at is None
        version = session.scalars(select(db.ModelVersion)).one()
        assert (version.job_id, version.is_default, version.promoted_at) == (job.id, True, AT)
        assert version.metrics == {"auc": 0.82, "interval": [0.74, 0.9]}
    with engine.begin() as conn:  # a version outlives the job that trained it
        conn.execute(text("DELETE FROM training_jobs"))
    with Session(engine) as session:
        assert session.scalars(select(db.ModelVersion.job_id)).one() is None


def test_people_tables_round_trip(engine):
    with Session(engine) as session, session.begin():
        session.add(
            db.User(username="rita", role="researcher", password_hash="$argon2id$" + "x" * 90)
        )
        session.add(
            db.AuditEvent(
                username="rita",
                action="delete_patient",
                patient_id=7,  # no foreign key: the trail outlives the patient
                target="P-007",
                details={"uploads": 2, "reason": "erasure request"},
            )
        )
    with Session(engine) as session:
        user = session.scalars(select(db.User)).one()
        assert (user.role, user.active, user.display_name, user.last_sign_in_at) == (
            "researcher",
            True,
            None,
            None,
        )
        event = session.scalars(select(db.AuditEvent)).one()
        assert (event.action, event.patient_id, event.target) == ("delete_patient", 7, "P-007")
        assert event.details == {"uploads": 2, "reason": "erasure request"}
        assert abs(event.at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    with pytest.raises(IntegrityError), Session(engine) as session, session.begin():
        session.add(db.User(username="rita", role="admin"))


def test_string_lengths_are_enforced_on_postgresql_only(engine):
    """Callers must check lengths themselves: SQLite stores what PostgreSQL refuses."""
    row = db.User(username="u" * 65, role="clinician")
    if engine.dialect.name == "sqlite":
        with Session(engine) as session, session.begin():
            session.add(row)
        return
    with pytest.raises(DataError, match="too long"), Session(engine) as session, session.begin():
        session.add(row)


def test_json_is_stored_alike_on_every_backend(engine):
    value = {"nan": float("nan"), "inf": [float("-inf"), 1.5], "nul\x00key": "a\x00b", "n": 2**40}
    assert json.loads(json_dumps(value)) == {
        "nan": None,
        "inf": [None, 1.5],
        "nul\ufffdkey": "a\ufffdb",
        "n": 2**40,
    }
    with Session(engine) as session, session.begin():
        session.add(db.AuditEvent(username="x", action="upload", details=value))
    with Session(engine) as session:
        assert session.scalars(select(db.AuditEvent.details)).one() == json.loads(json_dumps(value))


def test_two_stores_on_one_database_see_each_other(db_url, tmp_path):
    a = open_store(db_url, tmp_path)
    b = open_store(db_url, tmp_path)
    a.create_patient("P-1")
    assert [p.pseudonym for p in b.list_patients()] == ["P-1"]
    with pytest.raises(ValueError, match="already exists"):
        b.create_patient("P-1")
    a.close()
    b.close()


# --- the audit trail is append-only in the database itself ------------------------------------


def fill_audit(engine) -> None:
    """Five events, as the audit API writes them (ids 1 to 5)."""
    with Session(engine) as session, session.begin():
        for username, action, patient_id in [
            ("ann", "sign_in", None),
            ("ann", "view_patient", 3),
            ("ann", "predict", 3),
            ("bob", "view_patient", 4),
            ("bob", "download_report", 3),
        ]:
            session.add(db.AuditEvent(username=username, action=action, patient_id=patient_id))


def audit_rows(engine) -> list[tuple]:
    """Every event as a tuple of its columns, oldest first."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(db.AuditEvent.__table__).order_by("id"))]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET username = 'mallory' WHERE id = 1",
        "UPDATE audit_events SET action = 'sign_in'",
        "DELETE FROM audit_events WHERE id = 2",
        "DELETE FROM audit_events",
    ],
)
def test_raw_sql_cannot_change_or_delete_audit_events(engine, statement):
    fill_audit(engine)
    before = audit_rows(engine)
    with pytest.raises(DBAPIError, match=APPEND_ONLY_MESSAGE), engine.begin() as conn:
        conn.execute(text(statement))
    assert audit_rows(engine) == before


def test_the_orm_cannot_change_or_delete_audit_events_either(engine):
    fill_audit(engine)
    with pytest.raises(DBAPIError, match="append-only"), Session(engine) as session:
        with session.begin():
            session.get(db.AuditEvent, 1).username = "mallory"
    with pytest.raises(DBAPIError, match="append-only"), Session(engine) as session:
        with session.begin():
            session.delete(session.get(db.AuditEvent, 2))
    rows = audit_rows(engine)
    assert len(rows) == 5 and rows[0][2] == "ann"  # the oldest event is unchanged


_TRIGGERS = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name",
    "postgresql": "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_events'::regclass "
    "AND NOT tgisinternal ORDER BY tgname",
}


def test_audit_guards_are_installed_once_and_survive_reopening(engine, db_url):
    install_audit_guards(engine)  # idempotent
    again = create_db_engine(db_url)  # a store opened again installs them again
    try:
        with again.connect() as conn:
            names = list(conn.execute(text(_TRIGGERS[again.dialect.name])).scalars())
        assert names == (
            ["audit_events_no_delete", "audit_events_no_update"]
            if again.dialect.name == "sqlite"
            else ["audit_events_no_truncate", "audit_events_no_update_delete"]
        )
        with Session(again) as session, session.begin():
            session.add(db.AuditEvent(username="ann", action="sign_in"))
        with pytest.raises(DBAPIError, match="append-only"), again.begin() as conn:
            conn.execute(text("DELETE FROM audit_events"))
        if again.dialect.name == "postgresql":
            with pytest.raises(DBAPIError, match="append-only"), again.begin() as conn:
                conn.execute(text("TRUNCATE audit_events"))
        assert len(audit_rows(again)) == 1
    finally:
        again.dispose()


def test_no_guards_without_creating_the_schema(tmp_path):
    """``create_tables=False`` touches nothing: neither tables nor triggers."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'bare.db'}", create_tables=False)
    with engine.connect() as conn:
        assert list(conn.execute(text(_TRIGGERS["sqlite"])).scalars()) == []
    engine.dispose()
