"""A writer killed with SIGKILL at any point leaves a consistent store, on SQLite and PostgreSQL.

The writer is a separate process (``_upload_writer.py``) so that the kill is
real: no ``finally``, no rollback by Python, no flush. After every kill the
store is reopened and checked: every upload row's file exists with its
SHA-256 and size, the only files no row references are garbage that
:meth:`Store.collect_garbage` removes, the SQLite file passes
``PRAGMA integrity_check`` and is in WAL mode.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from rehab_core.storage import db, open_store

pytestmark = [
    pytest.mark.slow,
    pytest.mark.processes,  # writers in child processes, killed mid-write
    pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc"),
]

WRITER = Path(__file__).with_name("_upload_writer.py")
sys.path.insert(0, str(WRITER.parent))
from _upload_writer import CRASH_POINTS, recording  # noqa: E402


def start_writer(url: str, data_dir: Path, seed: int, point: str | None = None):
    args = [sys.executable, str(WRITER), url, str(data_dir), str(seed)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("REHAB_")} | {
        "HF_HUB_OFFLINE": "1"
    }
    return subprocess.Popen(
        args + ([point] if point else []),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def check_store(url: str, data_dir: Path) -> list[Path]:
    """Assert the invariants; collect the garbage; the garbage removed."""
    store = open_store(url, data_dir)
    try:
        with store._sessions() as session:
            rows = list(session.scalars(select(db.Upload)))
            patient_ids = set(session.scalars(select(db.Patient.id)))
        for row in rows:
            path = data_dir / row.path
            assert path.is_file(), f"upload {row.id} has no file {row.path}"
            content = path.read_bytes()
            assert hashlib.sha256(content).hexdigest() == row.sha256, row.path
            assert len(content) == row.size
            assert row.patient_id in patient_ids
        referenced = {data_dir / row.path for row in rows}
        files = {p for p in (data_dir / "files").rglob("*") if p.is_file()}
        tmp = set((data_dir / "tmp").iterdir()) if (data_dir / "tmp").is_dir() else set()
        garbage = sorted((files - referenced) | tmp)
        assert store.collect_garbage(tmp_older_than_s=0) == garbage
        assert {p for p in (data_dir / "files").rglob("*") if p.is_file()} == referenced
        assert store.collect_garbage(tmp_older_than_s=0) == []
        if store.engine.dialect.name == "sqlite":
            conn = sqlite3.connect(data_dir.parent / "rehab.db")
            try:
                assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
                assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
                assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            finally:
                conn.close()
        return garbage
    finally:
        store.close()


def upload_shas(url: str, data_dir: Path) -> set[str]:
    store = open_store(url, data_dir)
    try:
        with store._sessions() as session:
            return set(session.scalars(select(db.Upload.sha256)))
    finally:
        store.close()


@pytest.fixture
def data_dir(db_url, tmp_path):
    """The data folder beside ``db_url``'s SQLite file (``tmp_path/rehab.db``)."""
    return tmp_path / "data"


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_killed_at_each_step_of_an_upload_or_deletion(db_url, data_dir, tmp_path, point):
    writer = start_writer(db_url, data_dir, seed=100, point=point)
    out, err = writer.communicate(timeout=120)
    assert writer.returncode == -signal.SIGKILL, f"the writer was not killed:\n{out}\n{err}"
    assert "survived" not in out
    announced = out.split()
    if point == "delete_after_rows":
        patient_id = int(announced[announced.index("delete") + 1])
    else:
        sha = announced[announced.index("attempt") + 1]
    garbage = check_store(db_url, data_dir)

    store = open_store(db_url, data_dir)
    try:
        if point == "delete_after_rows":
            with pytest.raises(LookupError):
                store.get_patient(patient_id)  # the rows went in one transaction...
            assert len(garbage) == 1 and garbage[0].suffix == ".txt"  # ...its own file after
            other = store.find_patient("W-B")
            assert len(store.uploads(other.id)) == 1  # the shared file is kept for W-B
        else:
            stored = sha in upload_shas(db_url, data_dir)
            assert stored == (point == "after_commit")
            left = [p.name for p in garbage]
            if point in ("after_temp_write", "after_fsync"):
                assert len(left) == 1 and left[0].startswith(".tmp-")
            elif point in ("after_rename", "before_commit"):
                assert [p.name for p in garbage] == [f"{sha}.txt"]
            else:
                assert garbage == []
        # the store works on: the interrupted upload (or the patient's) succeeds now
        owner = store.find_patient("W-A") or store.create_patient("W-A")
        data = recording(101, tmp_path)  # the writer's seed + 1
        rec = store.add_upload(owner.id, "signals", "again.txt", data)
        assert rec.duplicate == (point == "after_commit")
        assert rec.path.read_bytes() == data
    finally:
        store.close()
    assert check_store(db_url, data_dir) == []


def test_killed_at_random_moments(db_url, data_dir):
    rng = random.Random(20251125)
    n_uploads = []
    for round_ in range(5):
        writer = start_writer(db_url, data_dir, seed=1000 * (round_ + 1))
        line = writer.stdout.readline().strip()
        assert line == "ready", writer.stderr.read()
        time.sleep(rng.uniform(0.0, 1.5))
        writer.send_signal(signal.SIGKILL)
        writer.communicate(timeout=60)
        assert writer.returncode == -signal.SIGKILL
        check_store(db_url, data_dir)
        n_uploads.append(len(upload_shas(db_url, data_dir)))
    assert n_uploads[-1] > 0
