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

A worker that dies without writing a final state is started again, up to
:data:`MAX_ATTEMPTS` times; it resumes from the last epoch checkpoint. A
training process stopped by SIGKILL (the kernel's out-of-memory killer: the
worker itself, a DDP rank as torchrun reports it, or a fold process) is
started again once only, and the job then fails with :data:`KILLED_SENTENCE`
rather than a count of attempts: a second start would most likely meet the
same lack of memory.

The worker runs in a session of its own (its torchrun ranks or fold
processes with it). A cancel is honoured by the worker within a batch; one
that is still running :data:`CANCEL_GRACE_S` seconds after the runner saw
the request (stuck in preprocessing or in a collective) is ended with its
whole process group and the job marked cancelled.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
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

__all__ = [
    "CANCEL_GRACE_S",
    "KILLED_SENTENCE",
    "MAX_ATTEMPTS",
    "main",
    "worker_command",
    "run_pending",
]

MAX_ATTEMPTS = 3
"""Starts of one job's worker (the first and two resumptions after a crash)."""

KILLED_SENTENCE = (
    "A training process was stopped by the system, most likely for lack of memory: "
    "try a smaller batch or fewer GPUs."
)
"""The job's error when a training process was killed by signal 9 (SIGKILL) twice."""

_SIGKILL_IN_LOG = re.compile(r"Signal 9 \(SIGKILL\)|exitcode\s*:\s*-9\b")
"""torchrun's report of a rank ended by SIGKILL (``exitcode  : -9``, ``Signal 9 (SIGKILL)``)."""

CANCEL_GRACE_S = 5.0
"""Seconds a worker has to end by itself after a cancel before the runner ends it."""

_POLL_S = 0.5
_FINISHING_S = 30.0


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
    over several GPUs only for ``device="ddp"``, one process per GPU for
    ``device="folds"`` (their folds and pins in ``REHAB_FOLD_SLOTS``);
    ``REHAB_TRAIN_DEVICE`` tells the worker the device as its process
    numbers it (``cuda:0``, ``cuda``). Raises ``ValueError`` (one sentence)
    when the job's device is unusable.
    """
    from rehab_core.jobs.queue import job_settings
    from rehab_core.jobs.worker import FOLD_SLOTS_ENV
    from rehab_core.training.scheduling import schedule_job

    settings = job_settings(job)[0]
    schedule = schedule_job(
        job.device,
        batch_sizes={"signal": settings.signal_batch_size, "image": settings.image_batch_size},
        lr=settings.lr,
        n_folds=settings.n_folds,
    )
    plan = schedule.launch
    module = ("-m", "rehab_core.jobs.worker", str(job.id))
    env = {**plan.env, "REHAB_TRAIN_DEVICE": plan.device}
    if schedule.fold_slots:
        env[FOLD_SLOTS_ENV] = json.dumps(
            [
                {"folds": list(s.folds), "env": s.launch.env, "device": s.launch.device}
                for s in schedule.fold_slots
            ]
        )
    return plan.command(*module), env


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


def _cancel_state(store, job_id: int) -> tuple[bool, bool]:
    """(a cancel was requested, the job has reached a final state)."""
    with Session(store.engine) as session:
        row = session.get(db.TrainingJob, job_id)
        return bool(row.cancel_requested), row.state in FINAL_STATES


def _kill_group(proc: subprocess.Popen, grace_s: float = 3.0) -> None:
    """SIGTERM the worker's process group (torchrun and its ranks, fold processes), then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_worker(store, job_id: int, proc: subprocess.Popen, log) -> int:
    """Wait for the worker; end it (and mark the job cancelled) if it ignores a cancel.

    A worker that has honoured the cancel (the job is final) is left
    :data:`_FINISHING_S` more to clean up and exit.
    """
    cancel_seen = None
    while True:
        try:
            return proc.wait(timeout=_POLL_S)
        except subprocess.TimeoutExpired:
            pass
        cancelled, final = _cancel_state(store, job_id)
        if cancel_seen is None:
            if cancelled and not final:
                cancel_seen = time.monotonic()
            continue
        waited = time.monotonic() - cancel_seen
        if waited <= CANCEL_GRACE_S or (final and waited <= CANCEL_GRACE_S + _FINISHING_S):
            continue
        _kill_group(proc)
        log.write(
            f"--- cancel: the worker did not stop within {waited:.0f} s; "
            "its processes were stopped ---\n".encode()
        )
        log.flush()
        with Session(store.engine) as session, session.begin():
            row = session.get(db.TrainingJob, job_id)
            if row.state not in FINAL_STATES:
                row.state = "cancelled"
                row.finished_at = db.utc_now()
                row.progress = {**(row.progress or {}), "stage": "cancelled"}
        shutil.rmtree(job_dir(store, job_id) / "work", ignore_errors=True)  # as the worker would
        return proc.wait()


def stopped_by_sigkill(returncode: int, output: str) -> bool:
    """Whether a job's worker ended because a process of it was killed by signal 9.

    ``returncode`` is the worker's: ``-9`` (the worker itself), ``137`` (the
    worker reporting a fold process killed, :data:`worker.KILLED_EXIT`);
    ``output`` is what the worker wrote during this start, where torchrun
    reports a rank ended by SIGKILL (and exits 1 itself).
    """
    if returncode == 0:
        return False
    if returncode in (-signal.SIGKILL, 128 + signal.SIGKILL):
        return True
    return bool(_SIGKILL_IN_LOG.search(output))


def _read_from(path: Path, offset: int) -> str:
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read().decode("utf-8", errors="replace")


def _after_sigkill(store, job_id: int) -> bool:
    """Note a start ended by SIGKILL; True if the job is final (its error now the kill's).

    A DDP rank's peers may have ended the job first with the error their lost
    peer caused ("unexpected error"): the kill is the cause, so its sentence
    replaces that one.
    """
    with Session(store.engine) as session, session.begin():
        row = session.get(db.TrainingJob, job_id)
        if row.state not in FINAL_STATES:
            return False
        if row.state == "failed" and (row.error or "").startswith(_UNEXPECTED):
            row.error = KILLED_SENTENCE
        return True


_UNEXPECTED = "Training stopped with an unexpected error"


def _give_up(store, job: JobRecord, killed: bool) -> None:
    error = (
        KILLED_SENTENCE
        if killed
        else f"The training process stopped unexpectedly {job.attempts} times; see the job's log."
    )
    _set(store, job.id, state="failed", finished_at=db.utc_now(), error=error)


def _run(store, job: JobRecord, orphan: bool) -> None:
    """Run ``job``'s worker until the job reaches a final state or runs out of attempts.

    After a start ended by SIGKILL, one more start at most.
    """
    folder = job_dir(store, job.id)
    folder.mkdir(parents=True, exist_ok=True)
    if orphan and _process_alive(job.pid, job.host):
        _wait_for(job.pid, job.host)
    last_start = MAX_ATTEMPTS
    killed = False
    while True:
        job = get_job(store, job.id)
        if job.state in FINAL_STATES:
            return
        if job.attempts >= last_start:
            _give_up(store, job, killed)
            return
        _set(store, job.id, attempts=job.attempts + 1)
        with open(folder / "log.txt", "ab") as log:
            offset = log.tell()
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
                start_new_session=True,  # its ranks or fold processes can be ended together
            )
            _set(store, job.id, pid=proc.pid, host=socket.gethostname())
            rc = _wait_worker(store, job.id, proc, log)
        if rc != 0:
            killed = stopped_by_sigkill(rc, _read_from(folder / "log.txt", offset))
            with open(folder / "log.txt", "ab") as log:
                why = f"signal {-rc}" if rc < 0 else f"exit status {rc}"
                log.write(f"--- worker stopped with {why} ---\n".encode())
                if killed:
                    log.write(
                        b"--- a training process was killed by signal 9 (SIGKILL), most "
                        b"likely for lack of memory: one more start at most ---\n"
                    )
            if killed and _after_sigkill(store, job.id):
                return
            if killed:
                last_start = min(last_start, job.attempts + 2)


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
