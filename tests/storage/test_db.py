"""Engine settings, schema and where the store finds its database and files."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from rehab_core.storage import open_store
from rehab_core.storage.db import SQLITE_BUSY_TIMEOUT_MS, create_db_engine


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
    assert set(inspect(engine).get_table_names()) == {"patients", "uploads", "predictions"}
    engine.dispose()


def test_foreign_keys_are_enforced(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(IntegrityError, match="FOREIGN KEY"), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO uploads (patient_id, kind, original_name, path, size, sha256, "
                "format, qc, created_at) VALUES (42, 'fmri', 'a.nii', 'p', 1, 's', 'NIfTI', "
                "'{}', '2025-01-01 00:00:00')"
            )
        )
    engine.dispose()


def test_created_at_must_be_timezone_aware(tmp_path):
    from sqlalchemy.exc import StatementError
    from sqlalchemy.orm import Session

    from rehab_core.storage.db import Patient

    engine = create_db_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with Session(engine) as session, pytest.raises(StatementError, match="has no timezone"):
        session.add(Patient(pseudonym="x", created_at=dt.datetime(2025, 1, 1)))
        session.flush()
    engine.dispose()


def test_data_dir_and_url_precedence(tmp_path, monkeypatch):
    env_dir, arg_dir = tmp_path / "env", tmp_path / "arg"
    monkeypatch.setenv("REHAB_DATA_DIR", str(env_dir))
    store = open_store()
    assert store.data_dir == env_dir.resolve()
    assert store.url == f"sqlite:///{env_dir.resolve() / 'rehab.db'}"
    assert (env_dir / "rehab.db").is_file()
    store.close()

    store = open_store(data_dir=arg_dir)  # the argument wins over the environment
    assert store.data_dir == arg_dir.resolve()
    assert store.url.endswith("arg/rehab.db")
    store.close()

    other_db = tmp_path / "elsewhere.db"
    monkeypatch.setenv("REHAB_DATABASE_URL", f"sqlite:///{other_db}")
    store = open_store()
    assert store.url == f"sqlite:///{other_db}" and store.data_dir == env_dir.resolve()
    store.create_patient("P-1")
    store.close()
    assert open_store(data_dir=env_dir).list_patients()[0].pseudonym == "P-1"

    explicit = tmp_path / "explicit.db"
    store = open_store(url=f"sqlite:///{explicit}")  # the argument wins again
    assert store.url == f"sqlite:///{explicit}" and store.list_patients() == []
    store.close()


def test_default_data_dir_is_under_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    store = open_store()
    assert store.data_dir == (tmp_path / ".local" / "share" / "rehab").resolve()
    store.close()


def test_two_stores_on_one_database_see_each_other(tmp_path):
    a = open_store(data_dir=tmp_path)
    b = open_store(data_dir=tmp_path)
    a.create_patient("P-1")
    assert [p.pseudonym for p in b.list_patients()] == ["P-1"]
    with pytest.raises(ValueError, match="already exists"):
        b.create_patient("P-1")
    a.close()
    b.close()
