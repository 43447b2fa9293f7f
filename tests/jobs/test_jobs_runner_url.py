"""The job runner gets the real database URL, password included (issue 14, finding 9).

Before: ensure_runner passed ``store.url``, which is masked for display
(``rehab:***@...``); on a password-protected PostgreSQL the runner could not
connect, died, and every 2-s poll of the Retrain page started another.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rehab_core.jobs import queue
from rehab_core.storage import open_store

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "s3cret pass/with:odd@chars"


@pytest.fixture
def password_url(postgres_server):
    from _postgres import PostgresUnavailable

    try:
        url = postgres_server.create_password_database("rehab_pw", PASSWORD)
    except PostgresUnavailable as err:
        pytest.skip(str(err))
    yield url
    postgres_server.drop_database(url)


def test_the_role_really_needs_its_password(password_url, tmp_path):
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    wrong = make_url(password_url).set(password="wrong").render_as_string(hide_password=False)
    with pytest.raises(OperationalError, match="password authentication failed"):
        open_store(url=wrong, data_dir=tmp_path / "data")


def test_the_runner_connects_with_the_password_it_was_given(password_url, tmp_path, monkeypatch):
    store = open_store(url=password_url, data_dir=tmp_path / "data")
    assert "***" in store.url  # what the app shows
    started = []
    monkeypatch.setattr(queue, "_pending", lambda s: True)
    monkeypatch.setattr(queue.subprocess, "Popen", lambda cmd, **kw: started.append(kw["env"]))
    assert queue.ensure_runner(store) is True
    monkeypatch.undo()  # subprocess.Popen again (queue.subprocess is the module itself)
    (env,) = started
    assert "***" not in env["REHAB_DATABASE_URL"]
    # the runner's own start-up (open_store from the environment) succeeds with it
    done = subprocess.run(
        [sys.executable, "-m", "rehab_core.jobs.runner"],
        env={**os.environ, **{k: env[k] for k in ("REHAB_DATA_DIR", "REHAB_DATABASE_URL")}},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "serving" in done.stdout
    store.close()


def test_a_runner_that_dies_starting_is_not_restarted_on_every_poll(tmp_path, monkeypatch):
    store = open_store(url=f"sqlite:///{tmp_path / 'rehab.db'}", data_dir=tmp_path / "data")
    started = []
    monkeypatch.setattr(queue, "_pending", lambda s: True)
    monkeypatch.setattr(queue.subprocess, "Popen", lambda cmd, **kw: started.append(cmd))
    assert queue.ensure_runner(store) is True  # it dies before taking its lock
    assert queue.ensure_runner(store) is False  # the next poll, 2 s later
    stamp = store.data_dir / "jobs" / "runner.started"
    old = time.time() - queue.RUNNER_RESTART_S - 1
    os.utime(stamp, (old, old))
    assert queue.ensure_runner(store) is True  # tried again after a while
    assert len(started) == 2
    store.close()
