"""The background runner: takes queued training jobs one at a time and runs each in a worker.

Started by :func:`rehab_core.jobs.ensure_runner` (``python -m
rehab_core.jobs.runner``) with ``REHAB_DATA_DIR`` and ``REHAB_DATABASE_URL``
naming the store. At most one runner per data folder: it holds an exclusive
``flock`` on ``DATA_DIR/jobs/runner.lock``, which the kernel releases when the
process dies however it dies, so a second runner exits at once and a dead
one never blocks the next.

Because the lock proves no other runner lives, a job found ``running`` is an
orphan (its runner was killed): it is taken first and resumed from its
checkpoints, unless its worker process is still alive, in which case the
runner waits for that worker instead of starting a second one.

A worker that dies without writing a final state (SIGKILL, out of memory)
is started again, up to :data:`MAX_ATTEMPTS` times; it resumes from the last
epoch checkpoint.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from rehab_core.jobs.queue import FINAL_STATES, RUNNER_LOCK, JobRecord, get_job, job_dir
from rehab_core.storage import db, open_store

__all__ = ["MAX_ATTEMPTS", "main", "worker_command", "run_pending"]

MAX_ATTEMPTS = 3
"""Starts of one job's worker (the first and two resumptions after a crash)."""


def _process_alive(pid: int | None, host: str | None) -> bool:
    """Whether ``pid`` on this host is a live job worker (not a recycled pid)."""
    if pid is None or host != socket.gethostname():
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"rehab_core.jobs.worker" in cmdline


def worker_command(job: JobRecord) -> list[str]:
    """How to start a job's worker, as the scheduling policy (``schedule_job``) decides."""
    return _launch(job)[0]


def _launch(job: JobRecord) -> tuple[list[str], dict[str, str]]:
    """The worker's command and extra environment, following the scheduling policy.

    One GPU per job by default (the process sees only that GPU), torchrun
    over several GPUs only for ``device="ddp"``; ``REHAB_TRAIN_DEVICE`` tells
    the worker the device as its process numbers it (``cuda:0``, ``cuda``).
    Raises ``ValueError`` (one sentence) when the job's device is unusable.
    """
    from rehab_core.jobs.queue import job_settings
    from rehab_core.training.scheduling import schedule_job

    settings = job_settings(job)[0]
    schedule = schedule_job(
        job.device,
        batch_sizes={"signal": settings.signal_batch_size, "image": settings.image_batch_size},
        lr=settings.lr,
    )
    plan = schedule.launch
    module = ("-m", "rehab_core.jobs.worker", str(job.id))
    return plan.command(*module), {**plan.env, "REHAB_TRAIN_DEVICE": plan.device}


def _oldest(session: Session, state: str) -> db.TrainingJob | None:
    return session.scalars(
        select(db.TrainingJob)
        .where(db.TrainingJob.state == state)
        .order_by(db.TrainingJob.id)
        .limit(1)
    ).first()


def _claim(store) -> tuple[JobRecord | None, bool]:
    """The next job to run and whether it is an orphan being resumed; marks it running."""
    with Session(store.engine) as session, session.begin():
        orphan = _oldest(session, "running")
        row = orphan if orphan is not None else _oldest(session, "queued")
        if row is None:
            return None, False
        if orphan is None:
            row.state = "running"
            row.started_at = db.utc_now()
            row.attempts = 0
        job_id = row.id
    return get_job(store, job_id), orphan is not None


def _set(store, job_id: int, **values) -> None:
    with Session(store.engine) as session, session.begin():
        row = session.get(db.TrainingJob, job_id)
        for key, value in values.items():
            setattr(row, key, value)


def _wait_for(pid: int, host: str | None) -> None:
    while _process_alive(pid, host):
        time.sleep(1.0)


def _run(store, job: JobRecord, orphan: bool) -> None:
    """Run ``job``'s worker until the job reaches a final state or runs out of attempts."""
    folder = job_dir(store, job.id)
    folder.mkdir(parents=True, exist_ok=True)
    if orphan and _process_alive(job.pid, job.host):
        _wait_for(job.pid, job.host)
    while True:
        job = get_job(store, job.id)
        if job.state in FINAL_STATES:
            return
        if job.attempts >= MAX_ATTEMPTS:
            _set(
                store,
                job.id,
                state="failed",
                finished_at=db.utc_now(),
                error=(
                    f"The training process stopped unexpectedly {job.attempts} times; "
                    "see the job's log."
                ),
            )
            return
        _set(store, job.id, attempts=job.attempts + 1)
        with open(folder / "log.txt", "ab") as log:
            log.write(
                f"--- runner {os.getpid()}: start {job.attempts + 1} of job {job.id} ---\n".encode()
            )
            log.flush()
            try:
                command, env = _launch(job)
            except ValueError as err:  # the job's device is missing or taken: say so, stop
                _set(store, job.id, state="failed", finished_at=db.utc_now(), error=str(err))
                return
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            )
            _set(store, job.id, pid=proc.pid, host=socket.gethostname())
            rc = proc.wait()
        if rc != 0:
            with open(folder / "log.txt", "ab") as log:
                why = f"signal {-rc}" if rc < 0 else f"exit status {rc}"
                log.write(f"--- worker stopped with {why} ---\n".encode())


def run_pending(store) -> int:
    """Run queued (and orphaned) jobs until none is left; return how many were run."""
    n = 0
    while True:
        job, orphan = _claim(store)
        if job is None:
            return n
        _run(store, job, orphan)
        n += 1


def _acquire(lock, *, tries: int = 20, pause_s: float = 0.05) -> bool:
    """Take the runner lock; a second runner gives up after about a second.

    Retrying matters: :func:`~rehab_core.jobs.queue.runner_alive` takes the
    lock for an instant to test it, and a runner starting in that instant
    must not conclude that another runner exists.
    """
    for _ in range(tries):
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            time.sleep(pause_s)
    return False


def main() -> int:
    store = open_store()
    folder = store.data_dir / "jobs"
    folder.mkdir(parents=True, exist_ok=True)
    lock = open(folder / RUNNER_LOCK, "a+")
    if not _acquire(lock):
        return 0  # another runner serves this data folder
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    # a terminal hang-up or the parent's end must not stop training
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    print(f"runner {os.getpid()} serving {store.data_dir}", flush=True)
    try:
        return 0 if run_pending(store) >= 0 else 1
    finally:
        store.close()
        lock.close()


if __name__ == "__main__":
    sys.exit(main())
