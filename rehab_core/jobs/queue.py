"""Training jobs: submitted by the retrain page, run by a background process, kept in the database.

Life of a job::

    queued ──> running ──> finished      (versions registered)
       │          ├──────> failed        (error: one sentence; log kept)
       └──────────┴──────> cancelled     (a cancel request, honoured within one batch)

* :func:`submit_job` writes a ``queued`` row and :func:`ensure_runner` starts
  the runner (:mod:`rehab_core.jobs.runner`) as a detached process when none
  is alive: it survives page reloads, navigation and a closed browser.
* The runner runs one job at a time (one GPU job at a time; others queue),
  each in its own worker process, and exits when the queue is empty.
* Every member is checkpointed each epoch under the job's folder: a worker
  killed with SIGKILL is started again and continues from its last epoch; a
  runner killed as well is replaced by the next :func:`ensure_runner` (any
  page visit), which picks the orphaned job up first.
* The job's folder ``DATA_DIR/jobs/<id>/`` holds ``log.txt`` (the worker's
  output), ``events.jsonl`` (stage and epoch events: the curves), ``work/``
  (checkpoints and finished members) and ``out/`` (the bundles).
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rehab_core.security import record_event
from rehab_core.storage import db

if TYPE_CHECKING:
    from rehab_core.imaging import ImagingSettings
    from rehab_core.signals import SignalSettings
    from rehab_core.storage import Store
    from rehab_core.training import ExperimentSettings

__all__ = [
    "FINAL_STATES",
    "JobRecord",
    "JobError",
    "submit_job",
    "get_job",
    "list_jobs",
    "request_cancel",
    "job_dir",
    "job_events",
    "job_log",
    "ensure_runner",
    "runner_alive",
    "job_settings",
    "retry_job",
    "fold_progress_text",
]

FINAL_STATES = ("finished", "failed", "cancelled")
"""States a job never leaves."""

RUNNER_LOCK = "runner.lock"
RUNNER_RESTART_S = 30.0
"""Least seconds between two runner starts by :func:`ensure_runner` (one that died at once
is not started again on every poll)."""


class JobError(ValueError):
    """A job that cannot be submitted or changed; the message is one plain sentence."""


@dataclass(frozen=True)
class JobRecord:
    """A training job as stored; ``progress`` is the latest event the worker reported."""

    id: int
    state: str
    created_at: _dt.datetime
    created_by: str | None
    cohort: str
    settings: dict[str, Any]
    device: str
    started_at: _dt.datetime | None
    finished_at: _dt.datetime | None
    heartbeat_at: _dt.datetime | None
    pid: int | None
    host: str | None
    attempts: int
    cancel_requested: bool
    progress: dict[str, Any]
    error: str | None
    work_dir: Path

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES


def _record(row: db.TrainingJob, data_dir: Path) -> JobRecord:
    return JobRecord(
        id=row.id,
        state=row.state,
        created_at=row.created_at,
        created_by=row.created_by,
        cohort=row.cohort,
        settings=dict(row.settings or {}),
        device=row.device,
        started_at=row.started_at,
        finished_at=row.finished_at,
        heartbeat_at=row.heartbeat_at,
        pid=row.pid,
        host=row.host,
        attempts=row.attempts,
        cancel_requested=bool(row.cancel_requested),
        progress=dict(row.progress or {}),
        error=row.error,
        work_dir=data_dir / (row.work_dir or f"jobs/{row.id}"),
    )


def job_dir(store: Store, job_id: int) -> Path:
    """The folder of job ``job_id``: log, events, checkpoints and bundles."""
    return store.data_dir / "jobs" / str(int(job_id))


def job_settings(job: JobRecord) -> tuple[ExperimentSettings, SignalSettings, ImagingSettings]:
    """The experiment, EEG-EMG and fMRI settings a job was submitted with."""
    from rehab_core.imaging import ImagingSettings
    from rehab_core.signals import SignalSettings
    from rehab_core.training import ExperimentSettings

    return (
        ExperimentSettings.from_dict(job.settings["experiment"]),
        SignalSettings.from_dict(job.settings["signals"]),
        ImagingSettings.from_dict(job.settings["imaging"]),
    )


def submit_job(
    store: Store,
    cohort: str | Path,
    settings: ExperimentSettings,
    *,
    signal_settings: SignalSettings | None = None,
    imaging_settings: ImagingSettings | None = None,
    created_by: str | None = None,
    description: str | None = None,
) -> JobRecord:
    """Queue a training job on a cohort folder and record who asked, in one transaction.

    The cohort is read first (:func:`rehab_core.io.cohort.read_cohort`): a
    folder without labels or with a patient lacking every recording raises
    its :class:`~rehab_core.io.cohort.CohortError` and nothing is queued.
    """
    from rehab_core.imaging import ImagingSettings
    from rehab_core.io.cohort import read_cohort
    from rehab_core.signals import SignalSettings

    cohort = Path(cohort).resolve()
    read_cohort(cohort)
    signal_settings = signal_settings or SignalSettings()
    imaging_settings = imaging_settings or ImagingSettings()
    payload = {
        "experiment": settings.to_dict(),
        "signals": signal_settings.to_dict(),
        "imaging": imaging_settings.to_dict(),
        "description": description,
    }
    with Session(store.engine) as session, session.begin():
        row = db.TrainingJob(
            state="queued",
            created_by=created_by,
            cohort=str(cohort),
            settings=json.loads(json.dumps(payload)),
            device=settings.device,
            progress={"stage": "queued"},
        )
        session.add(row)
        session.flush()
        row.work_dir = f"jobs/{row.id}"
        record_event(
            store,
            created_by or "system",
            "train_submit",
            target=f"training job {row.id}",
            details={
                "cohort": str(cohort),
                "backbones": list(settings.backbones),
                "device": settings.device,
            },
            session=session,
        )
        job_id = row.id
    job_dir(store, job_id).mkdir(parents=True, exist_ok=True)
    return get_job(store, job_id)


def get_job(store: Store, job_id: int) -> JobRecord:
    """One job; :class:`~rehab_core.storage.RecordNotFound` if there is none with that id."""
    from rehab_core.storage import RecordNotFound

    with Session(store.engine) as session:
        row = session.get(db.TrainingJob, int(job_id))
        if row is None:
            raise RecordNotFound(f"There is no training job {job_id}.")
        return _record(row, store.data_dir)


def list_jobs(store: Store, *, states: tuple[str, ...] | None = None) -> list[JobRecord]:
    """Jobs, newest first (optionally only those in ``states``)."""
    with Session(store.engine) as session:
        query = select(db.TrainingJob).order_by(db.TrainingJob.id.desc())
        if states:
            query = query.where(db.TrainingJob.state.in_(states))
        return [_record(row, store.data_dir) for row in session.scalars(query)]


def request_cancel(store: Store, job_id: int, *, actor: str | None) -> JobRecord:
    """Cancel a job: a queued one at once, a running one at its next batch.

    Raises
    ------
    JobError
        The job has already ended.
    """
    with Session(store.engine) as session, session.begin():
        row = session.get(db.TrainingJob, int(job_id), with_for_update=True)
        if row is None:
            from rehab_core.storage import RecordNotFound

            raise RecordNotFound(f"There is no training job {job_id}.")
        if row.state in FINAL_STATES:
            raise JobError(f"Training job {job_id} has already {row.state}; nothing to cancel.")
        row.cancel_requested = True
        if row.state == "queued":
            row.state = "cancelled"
            row.finished_at = db.utc_now()
        record_event(
            store,
            actor or "system",
            "train_cancel",
            target=f"training job {job_id}",
            details={"state_when_asked": row.state},
            session=session,
        )
    return get_job(store, job_id)


def job_events(store: Store, job_id: int) -> list[dict[str, Any]]:
    """The job's stage and epoch events in order (a line being written is skipped)."""
    path = job_dir(store, job_id) / "events.jsonl"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def job_log(store: Store, job_id: int, *, max_bytes: int = 20_000, actor: str | None = None) -> str:
    """The last ``max_bytes`` of the job's log.

    With ``actor``, the view is recorded (``job_log_view``): a log can hold
    paths and patient ids of the cohort. Pages pass it once per opening, not
    on every poll.
    """
    if actor is not None:
        record_event(store, actor, "job_log_view", target=f"job {int(job_id)}")
    path = job_dir(store, job_id) / "log.txt"
    if not path.is_file():
        return ""
    with open(path, "rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(max(0, size - max_bytes))
        return fh.read().decode("utf-8", errors="replace")


def runner_alive(store: Store) -> bool:
    """Whether a runner process holds this data folder's runner lock."""
    path = store.data_dir / "jobs" / RUNNER_LOCK
    if not path.exists():
        return False
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def _pending(store: Store) -> bool:
    with Session(store.engine) as session:
        return (
            session.scalars(
                select(db.TrainingJob.id)
                .where(db.TrainingJob.state.in_(("queued", "running")))
                .limit(1)
            ).first()
            is not None
        )


def _died_starting(stamp: Path, lock: Path) -> bool:
    """Whether the last runner started less than RUNNER_RESTART_S ago and never took its lock.

    A runner that cannot even open the store (a wrong database URL) dies
    before its lock; starting another on every 2-s poll of the page would only
    repeat that. One that took the lock and was killed later is restarted at once.
    """
    try:
        started = stamp.stat().st_mtime
    except FileNotFoundError:
        return False
    try:
        locked = lock.stat().st_mtime
    except FileNotFoundError:
        locked = 0.0
    return locked < started and time.time() - started < RUNNER_RESTART_S


def ensure_runner(store: Store) -> bool:
    """Start the background runner if jobs wait and none is running; True if one was started.

    The runner is a new session (``start_new_session``), so it outlives the
    Streamlit process that started it; its own output goes to
    ``DATA_DIR/jobs/runner.log``.
    """
    if not _pending(store) or runner_alive(store):
        return False
    folder = store.data_dir / "jobs"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = folder / "runner.started"
    if _died_starting(stamp, folder / RUNNER_LOCK):
        return False
    stamp.touch()
    env = {
        **os.environ,
        "REHAB_DATA_DIR": str(store.data_dir),
        # the real URL, password included (store.url is masked for display: 'rehab:***@');
        # the environment of a child is readable by this user and root only
        "REHAB_DATABASE_URL": store.engine.url.render_as_string(hide_password=False),
    }
    with open(folder / "runner.log", "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "rehab_core.jobs.runner"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    return True


def retry_job(store: Store, job_id: int, *, actor: str | None) -> JobRecord:
    """Queue a failed or cancelled job again; it resumes from any checkpoint it kept.

    Raises
    ------
    JobError
        The job is queued, running or finished.
    """
    with Session(store.engine) as session, session.begin():
        row = session.get(db.TrainingJob, int(job_id), with_for_update=True)
        if row is None:
            from rehab_core.storage import RecordNotFound

            raise RecordNotFound(f"There is no training job {job_id}.")
        if row.state not in ("failed", "cancelled"):
            raise JobError(
                f"Training job {job_id} is {row.state}; only a failed or cancelled job can be "
                "run again."
            )
        row.state = "queued"
        row.cancel_requested = False
        row.error = None
        row.finished_at = None
        row.progress = {"stage": "queued"}
        record_event(
            store,
            actor or "system",
            "train_submit",
            target=f"training job {job_id}",
            details={"retry": True},
            session=session,
        )
    return get_job(store, job_id)


def fold_progress_text(progress: dict[str, Any]) -> str | None:
    """The folds being trained side by side in words, or None for a job that trains them in turn.

    E.g. ``"fold 1 of 3: LSTM epoch 5/15; fold 2 of 3: ShuffleNet epoch 2/15"``
    from ``progress["folds"]`` (written by the job's main process while its
    fold processes train, :func:`rehab_core.jobs.worker.merge_fold_progress`).
    """
    from rehab_core.models import member_label

    folds = progress.get("folds")
    if not folds:
        return None
    parts = []
    for key in sorted(folds, key=int):
        p = folds[key]
        text = f"fold {int(key) + 1} of {p.get('n_folds', '?')}"
        if p.get("epoch") is not None:
            model = f"{member_label(p['model'])} " if p.get("model") else ""
            text += f": {model}epoch {p['epoch']}/{p.get('n_epochs', '?')}"
        elif p.get("model"):
            text += f": {member_label(p['model'])} starting"
        parts.append(text)
    return "; ".join(parts)
