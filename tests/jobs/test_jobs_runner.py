"""A job's whole life in real background processes on the CPU: run, crash, resume, cancel.

These start ``python -m rehab_core.jobs.runner`` exactly as the retrain page
does, on the tiny cohort with 64 x 64 slices.
"""

from __future__ import annotations

import os
import signal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from rehab_core.jobs import (
    ensure_runner,
    get_job,
    job_events,
    job_log,
    list_versions,
    request_cancel,
    runner_alive,
    submit_job,
)
from rehab_core.storage import db, load_bundle

pytestmark = [pytest.mark.slow, pytest.mark.processes]  # the real runner and its workers


def _epochs(store, job_id, member):
    return [
        e["epoch"]
        for e in job_events(store, job_id)
        if e.get("event") == "epoch" and e.get("member") == member
    ]


def _runner_pid(store) -> int:
    return int((store.data_dir / "jobs" / "runner.lock").read_text().split()[0])


def test_job_survives_sigkill_of_worker_then_of_runner(store, tiny_cohort, fast_job, wait_for):
    """Start, progress, SIGKILL of the worker (runner restarts it), SIGKILL of both, finish."""
    settings, imaging = fast_job(epochs=3, patience=3)
    job = submit_job(store, tiny_cohort, settings, imaging_settings=imaging, created_by="dr.r")
    assert ensure_runner(store) is True
    log = lambda: job_log(store, job.id)  # noqa: E731

    # progress reaches the database while the LSTM of fold 0 trains
    wait_for(lambda: _epochs(store, job.id, "lstm/fold0"), timeout=240, what="epoch 1", log=log)
    running = get_job(store, job.id)
    assert running.state == "running" and running.pid and running.heartbeat_at
    assert running.progress["n_members"] == 4
    assert runner_alive(store) and ensure_runner(store) is False  # one runner at a time

    # 1. the worker dies: the runner starts it again, it resumes from its checkpoint
    os.kill(running.pid, signal.SIGKILL)
    wait_for(
        lambda: (
            any(e.get("event") == "resumed" for e in job_events(store, job.id))
            or get_job(store, job.id).attempts >= 2
            and "kept" in job_log(store, job.id)
        ),
        timeout=240,
        what="the restarted worker to resume",
        log=log,
    )
    assert "worker stopped with signal 9" in job_log(store, job.id)
    assert "preprocessed arrays of 20 patients kept from the last start" in job_log(store, job.id)

    # 2. runner and worker die (a reboot): the next page visit's ensure_runner resumes it
    wait_for(
        lambda: _epochs(store, job.id, "shufflenet/fold0"),
        timeout=300,
        what="a ShuffleNet epoch",
        log=log,
    )
    worker = get_job(store, job.id).pid
    os.kill(_runner_pid(store), signal.SIGKILL)
    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: not runner_alive(store), timeout=10, what="the runner lock to drop")
    assert get_job(store, job.id).state == "running"  # an orphan until a runner comes
    assert ensure_runner(store) is True

    done = wait_for(
        lambda: (j := get_job(store, job.id)).is_final and j, timeout=400, what="the end", log=log
    )
    assert done.state == "finished", done.error
    assert done.attempts == 3
    for member in ("lstm/fold0", "lstm/fold1", "shufflenet/fold0", "shufflenet/fold1"):
        epochs = _epochs(store, job.id, member)
        assert len(epochs) == len(set(epochs)), f"{member} trained an epoch twice: {epochs}"
        assert max(epochs, default=3) <= 3
    # checkpoints go once the bundles are registered
    wait_for(lambda: not (done.work_dir / "work").exists(), timeout=30, what="the clean-up")

    # the finished job registered its bundle as a version, with its figures and provenance
    (version,) = list_versions(store)
    assert version.job_id == job.id and version.model_id == "shufflenet_lstm"
    assert version.created_by == "dr.r" and not version.is_default
    assert version.path == done.work_dir / "out" / "shufflenet_lstm"
    assert load_bundle(version.path).manifest.sha256 == version.weights_sha256
    assert {r["group"] for r in version.metrics["rows"]} == {"signal", "image", "fusion"}
    assert done.progress["versions"] == [version.id]
    with Session(store.engine) as session:
        actions = [e.action for e in session.scalars(select(db.AuditEvent))]
    assert actions == ["train_submit", "train_finish"]


def test_cancel_stops_a_running_job(store, tiny_cohort, fast_job, wait_for, keep_arrays):
    settings, imaging = fast_job(epochs=50, patience=50)
    job = submit_job(store, tiny_cohort, settings, imaging_settings=imaging)
    keep_arrays(job)
    ensure_runner(store)
    log = lambda: job_log(store, job.id)  # noqa: E731
    wait_for(lambda: _epochs(store, job.id, "lstm/fold0"), timeout=240, what="epoch 1", log=log)
    request_cancel(store, job.id, actor="dr.r")
    done = wait_for(
        lambda: (j := get_job(store, job.id)).is_final and j,
        timeout=60,
        what="the cancel to be honoured",
        log=log,
    )
    assert done.state == "cancelled"
    assert max(_epochs(store, job.id, "lstm/fold0")) < 50
    assert list_versions(store) == []
    wait_for(lambda: not (done.work_dir / "work").exists(), timeout=30, what="the clean-up")
    wait_for(lambda: not runner_alive(store), timeout=30, what="the idle runner to exit")


def test_failed_job_keeps_one_sentence(store, tiny_cohort, fast_job, wait_for, tmp_path):
    """A cohort that became unusable after submission fails with the reader's sentence."""
    import shutil

    cohort = tmp_path / "cohort"
    shutil.copytree(tiny_cohort, cohort)
    job = submit_job(store, cohort, fast_job()[0])
    (cohort / "participants.tsv").unlink()
    ensure_runner(store)
    done = wait_for(
        lambda: (j := get_job(store, job.id)).is_final and j,
        timeout=120,
        what="the failure",
        log=lambda: job_log(store, job.id),
    )
    assert done.state == "failed"
    assert done.error == (
        "cohort has no participants.tsv; a cohort needs one row per patient "
        "with participant_id and fma_le_3m."
    )
