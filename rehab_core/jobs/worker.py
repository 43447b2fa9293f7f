"""One training job, run to its end: ``python -m rehab_core.jobs.worker JOB_ID``.

The runner starts it with the store in ``REHAB_DATA_DIR`` /
``REHAB_DATABASE_URL`` and its output going to the job's ``log.txt``. It
calls :func:`rehab_core.workflows.train.train_experiment` with the job's
folder as ``work_dir``, so a second start after a crash continues from the
last checkpoint. Only rank 0 (the only process without ``torchrun``) writes
to the database and the event file.

What the worker reports:

* ``training_jobs.progress``: the latest event (stage, member, epoch, batch,
  loss, time left), written at most once a second for batches and at every
  epoch and stage; ``heartbeat_at`` with it.
* ``events.jsonl``: every stage and epoch event, for the page's curves.
* ``log.txt``: one human line per stage and epoch.

The fold processes of a ``device="folds"`` job do not write the row: each
writes its latest progress to ``fold_progress/folds-0-2.json`` in the job's
folder, and the job's main process, while it waits for them, merges these
into the row once a second (``progress["folds"]``: the latest event of each
fold being trained, keyed by fold; :func:`~rehab_core.jobs.queue.fold_progress_text`
says it in words). One writer per row: concurrent read-modify-writes of one
JSON column would lose updates (and SQLite refuses them).

Between two writes it reads ``cancel_requested``; when set, it stops at the
next batch (raising :class:`JobCancelled` out of the training loop) and the
job ends ``cancelled``.

Ending every process of a job at once (issue 16):

* Under ``torchrun`` (DDP) any rank that fails writes the job's one-sentence
  error itself (the first sentence wins: the errors the other ranks then see
  from their lost peer do not replace it) and leaves with exit status
  :data:`STOPPED_EXIT` at once, without waiting for its peers in a
  collective; torchrun then stops the other ranks (SIGTERM within its 0.1-s
  monitor interval), so a failing or cancelled rank ends the job in seconds,
  not after the process group's time-out.
* A ``device="folds"`` job (:func:`~rehab_core.training.scheduling.schedule_job`)
  preprocesses once, then trains its folds side by side in one child process
  per GPU (``python -m rehab_core.jobs.worker JOB_ID --folds 0,2``, each
  pinned to its GPU) and evaluates the ensemble from the members they left
  in the work folder. The first child that fails or is cancelled ends the
  others (:func:`run_processes`). A child killed by SIGKILL (the kernel's
  out-of-memory killer) writes no sentence: the worker then exits with
  :data:`KILLED_EXIT`, for the runner to start the job once more at most
  (:mod:`rehab_core.jobs.runner`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from rehab_core._json import to_jsonable
from rehab_core.jobs.queue import JobRecord, get_job, job_dir, job_settings
from rehab_core.jobs.versions import register_bundle
from rehab_core.security import record_event
from rehab_core.storage import db, open_store

__all__ = [
    "KILLED_EXIT",
    "STOPPED_EXIT",
    "JobCancelled",
    "ProcessKilled",
    "ProgressReporter",
    "run_job",
    "run_processes",
    "main",
]

_WRITE_EVERY_S = 1.0

STOPPED_EXIT = 3
"""Exit status of a job process (a DDP rank, a fold process) that ended the job failed or
cancelled: non-zero, so that torchrun or the fold supervisor stops the job's other processes."""

KILLED_EXIT = 128 + signal.SIGKILL
"""Exit status of a worker whose fold process was killed by signal 9 (as a shell reports a
process killed so): the runner reads it as a kill (``runner.stopped_by_sigkill``)."""

FOLD_SLOTS_ENV = "REHAB_FOLD_SLOTS"
"""The runner's fold plan for a ``device="folds"`` job: JSON, a list of ``{"folds": [...],
"env": {...}, "device": "cuda:0"}`` (one child process each)."""


class JobCancelled(Exception):
    """Raised inside the training loop when the job's cancel was requested."""


class ProcessKilled(RuntimeError):
    """A process of the job (a fold process) was killed by signal 9; no sentence was written."""


def _main_rank() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


class ProgressReporter:
    """The progress callback of a job: database row, event file, log line, cancel check.

    Parameters
    ----------
    store : Store
    job : JobRecord
    n_members : int
        Ensemble members the job trains (folds x (1 + backbones)), for the
        overall progress and time left.
    clock : callable
        Seconds (monotonic); tests pass a fake one.
    folds : sequence of int, optional
        A fold process's folds: its progress goes to its own file
        (:func:`fold_progress_path`), not to the row, which it only reads for
        a cancel.
    """

    def __init__(
        self,
        store: Any,
        job: JobRecord,
        n_members: int,
        clock=time.monotonic,
        folds: Sequence[int] | None = None,
    ) -> None:
        self.store = store
        self.folds = None if folds is None else tuple(folds)
        self.job_id = job.id
        self.n_members = n_members
        self.clock = clock
        self.events_path = job_dir(store, job.id) / "events.jsonl"
        self._last_write = -float("inf")
        self._member: str | None = None
        self._member_started = 0.0
        self._done: dict[str, float] = {}  # finished member -> seconds
        self._kept = 0
        self._latest: dict[str, Any] = {}

    # -- time left -------------------------------------------------------------------------
    def _overall_eta(self, member_eta: float | None) -> float | None:
        """Seconds left for the whole job: this member's, then the others' at the pace seen."""
        if member_eta is None:
            return None
        remaining = self.n_members - len(self._done) - self._kept - 1
        if remaining <= 0:
            return member_eta
        elapsed = self.clock() - self._member_started
        kind = (self._member or "").split("/")[0]
        same = [s for m, s in self._done.items() if m.split("/")[0] == kind]
        per_member = sum(same) / len(same) if same else elapsed + member_eta
        return member_eta + remaining * per_member

    # -- writing ---------------------------------------------------------------------------
    def _append_event(self, event: dict[str, Any]) -> None:
        with open(self.events_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(to_jsonable({"t": time.time(), **event})) + "\n")

    def _write(self, progress: dict[str, Any]) -> bool:
        """Store the progress and heartbeat; return whether a cancel was requested."""
        if self.folds is not None:
            return self._write_fold_file(progress)
        with Session(self.store.engine) as session, session.begin():
            row = session.get(db.TrainingJob, self.job_id)
            row.progress = to_jsonable(progress)
            row.heartbeat_at = db.utc_now()
            cancel = bool(row.cancel_requested)
        self._last_write = self.clock()
        return cancel

    def _write_fold_file(self, progress: dict[str, Any]) -> bool:
        """A fold process: replace its progress file; return whether a cancel was requested."""
        path = fold_progress_path(self.store, self.job_id, self.folds)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_text(json.dumps(to_jsonable(progress)), encoding="utf-8")
        os.replace(partial, path)  # the main process never reads half a file
        with Session(self.store.engine) as session:
            cancel = bool(session.get(db.TrainingJob, self.job_id).cancel_requested)
        self._last_write = self.clock()
        return cancel

    def __call__(self, event: dict[str, Any]) -> None:
        if not _main_rank():
            return
        now = self.clock()
        kind = event.get("event") or event.get("stage")
        if event.get("stage") == "train":
            self._member = f"{event['model']}/fold{event['fold']}"
            self._member_started = now
        if kind == "member_kept":
            self._kept += 1
        important = "stage" in event or kind in ("epoch", "resumed")
        if important:
            self._append_event(event)
            print(f"{time.strftime('%H:%M:%S')} {_describe(event)}", flush=True)
        last_epoch = event.get("stopped_early") or event.get("epoch") == event.get("n_epochs")
        if kind == "epoch" and last_epoch and self._member is not None:
            self._done[self._member] = now - self._member_started
        progress = {**self._latest, **event}
        if "stage" in event and event["stage"] != "train":
            progress.pop("member", None)
        progress["members_done"] = len(self._done) + self._kept
        progress["n_members"] = self.n_members
        progress["job_eta_s"] = self._overall_eta(event.get("eta_s"))
        self._latest = progress
        if important or now - self._last_write >= _WRITE_EVERY_S:
            if self._write(progress):
                raise JobCancelled(f"training job {self.job_id} was cancelled")


FOLD_PROGRESS_DIR = "fold_progress"

_FOLD_FIELDS = ("fold", "n_folds", "model", "member", "stage", "epoch", "n_epochs", "batch",
                "n_batches", "loss", "eta_s", "job_eta_s", "members_done", "n_members")  # fmt: skip


def fold_progress_path(store: Any, job_id: int, folds: Sequence[int]) -> Any:
    """The progress file of the fold process that trains ``folds`` (``folds-0-2.json``)."""
    name = "folds-" + "-".join(str(int(f)) for f in folds) + ".json"
    return job_dir(store, job_id) / FOLD_PROGRESS_DIR / name


def merge_fold_progress(store: Any, job_id: int, n_members: int) -> dict[str, Any] | None:
    """Write the fold processes' latest progress into the job's row, keyed by fold.

    Returns the progress written (None while no fold process has written):
    ``{"stage": "train", "folds": {"0": {...}, "1": {...}}, "members_done",
    "n_members", "job_eta_s"}``; ``job_eta_s`` is the slowest process's.
    """
    folder = job_dir(store, job_id) / FOLD_PROGRESS_DIR
    per_fold: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("folds-*.json")):
        try:
            latest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # replaced meanwhile: the next poll reads it
        if "fold" in latest:
            per_fold[str(latest["fold"])] = {k: latest[k] for k in _FOLD_FIELDS if k in latest}
    if not per_fold:
        return None
    etas = [p.get("job_eta_s") for p in per_fold.values()]  # each process's time left
    progress = {
        "stage": "train",
        "folds": dict(sorted(per_fold.items(), key=lambda kv: int(kv[0]))),
        "members_done": sum(p.get("members_done", 0) for p in per_fold.values()),
        "n_members": n_members,
        "job_eta_s": None if None in etas else max(etas, default=None),
    }
    from rehab_core.jobs.queue import FINAL_STATES

    with Session(store.engine) as session, session.begin():
        row = session.get(db.TrainingJob, job_id)
        if row.state in FINAL_STATES:  # a fold process ended it: its last word stays
            return None
        row.progress = to_jsonable(progress)
        row.heartbeat_at = db.utc_now()
    return progress


def _describe(event: dict[str, Any]) -> str:
    """One log line per stage or epoch event (no patient data: ids are pseudonyms)."""
    kind = event.get("event") or event.get("stage")
    if kind == "epoch":
        return (
            f"{event.get('member')} epoch {event['epoch']}/{event['n_epochs']}: "
            f"train loss {event['train_loss']:.4f}, val loss {event['val_loss']:.4f}, "
            f"val AUC {event['val_auc']:.3f}, {event['seconds']:.1f} s"
            + (" (stopped early)" if event.get("stopped_early") else "")
        )
    if kind == "resumed":
        return f"{event.get('member')} resumed after epoch {event['epoch']}"
    if kind == "preprocess":
        if "total" in event:
            return f"preprocessing {event['done']}/{event['total']}"
        return f"preprocessing {event.get('n_patients')} patients"
    if kind == "train":
        return f"training {event['model']} fold {event['fold'] + 1}/{event['n_folds']}"
    if kind == "member_kept":
        return f"{event['member']} already trained: kept"
    if kind == "preprocess_kept":
        return f"preprocessed arrays of {event['n_patients']} patients kept from the last start"
    if kind == "evaluate":
        return "every member trained: fusion, FMA-LE regressor and evaluation tables"
    if kind == "done":
        return f"training and evaluation done in {event['seconds']:.0f} s"
    if kind == "work_dir":
        return "checkpoints and finished members go to the job's work folder"
    return json.dumps(to_jsonable(event))


def _finish(store: Any, job: JobRecord, report: dict[str, Any]) -> list[int]:
    """Register the bundles and mark the job finished, in one transaction."""
    out = job_dir(store, job.id) / "out"
    with Session(store.engine) as session, session.begin():
        ids = [
            register_bundle(
                session,
                out / model_id,
                data_dir=store.data_dir,
                job_id=job.id,
                created_by=job.created_by,
            ).id
            for model_id in sorted(report["models"])
        ]
        row = session.get(db.TrainingJob, job.id)
        row.state = "finished"
        row.finished_at = db.utc_now()
        row.progress = {"stage": "done", "seconds": report.get("seconds"), "versions": ids}
        record_event(  # in this transaction: the versions and the event commit together
            store,
            job.created_by or "system",
            "train_finish",
            target=f"training job {job.id}",
            details={"versions": ids, "seconds": report.get("seconds")},
            session=session,
        )
    return ids


def _end(store: Any, job_id: int, state: str, error: str | None = None) -> None:
    """Mark the job ended, unless another of its processes already did: its sentence stays."""
    from rehab_core.jobs.queue import FINAL_STATES

    with Session(store.engine) as session, session.begin():
        row = session.get(db.TrainingJob, job_id)
        if row.state in FINAL_STATES:
            return
        row.state = state
        row.finished_at = db.utc_now()
        row.error = error
        row.progress = {**(row.progress or {}), "stage": state}


def _distributed() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def run_processes(
    commands: Sequence[tuple[list[str], dict[str, str]]],
    *,
    poll_s: float = 0.2,
    grace_s: float = 3.0,
    on_poll: Callable[[], Any] | None = None,
) -> list[int]:
    """Run processes side by side; the first that fails ends the others.

    Parameters
    ----------
    commands : sequence of (command, extra environment)
        Each started with this process's output and environment plus its own.
    poll_s : float
        How often the processes (and ``stopped``) are checked.
    grace_s : float
        Seconds between SIGTERM and SIGKILL for the processes being ended.
    on_poll : callable, optional
        Called at every poll while they run (e.g. to report their progress).

    Returns
    -------
    list of int
        Each process's exit status (negative: the signal that ended it); all
        are zero only if every process finished its work.
    """
    procs = [
        subprocess.Popen(cmd, stdin=subprocess.DEVNULL, env={**os.environ, **env})
        for cmd, env in commands
    ]
    try:
        while True:
            codes = [p.poll() for p in procs]  # every one: any() would stop at the first alive
            if all(c is not None for c in codes) or any(codes):
                break
            if on_poll is not None:
                on_poll()
            time.sleep(poll_s)
    finally:
        _terminate(procs, grace_s)
    return [p.returncode for p in procs]


def _terminate(procs: Sequence[subprocess.Popen], grace_s: float) -> None:
    """SIGTERM the processes still running, SIGKILL those alive ``grace_s`` later; reap all."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = [p for p in procs if p.poll() is None]
        for p in alive:
            p.send_signal(sig)
        end = time.monotonic() + grace_s
        while alive and time.monotonic() < end:
            alive = [p for p in alive if p.poll() is None]
            time.sleep(0.05)
    for p in procs:
        p.wait()


_WORKER = (sys.executable, "-m", "rehab_core.jobs.worker")


def _fold_slots() -> list[dict[str, Any]]:
    return json.loads(os.environ.get(FOLD_SLOTS_ENV) or "[]")


def _train_folds_side_by_side(
    store: Any, job: JobRecord, slots: list[dict[str, Any]], n_members: int
) -> str:
    """Run one child per fold slot; return "trained", or the job's state if they ended it.

    Their progress files are merged into the job's row once a second
    (:func:`merge_fold_progress`) while they run.
    """
    progress_dir = job_dir(store, job.id) / FOLD_PROGRESS_DIR
    shutil.rmtree(progress_dir, ignore_errors=True)  # an earlier start's files
    last = [-float("inf")]

    def report() -> None:
        if time.monotonic() - last[0] >= _WRITE_EVERY_S:
            last[0] = time.monotonic()
            merge_fold_progress(store, job.id, n_members)

    commands = [
        (
            [*_WORKER, str(job.id), "--folds", ",".join(str(f) for f in slot["folds"])],
            {**slot["env"], "REHAB_TRAIN_DEVICE": slot["device"], FOLD_SLOTS_ENV: ""},
        )
        for slot in slots
    ]
    codes = run_processes(commands, on_poll=report)
    shutil.rmtree(progress_dir, ignore_errors=True)
    if not any(codes):
        return "trained"
    state = get_job(store, job.id).state
    if state in ("failed", "cancelled"):
        return state
    # killed from outside (no sentence written): the runner starts the job again
    if -signal.SIGKILL in codes:
        fold = slots[codes.index(-signal.SIGKILL)]["folds"]
        raise ProcessKilled(
            f"the process of fold(s) {', '.join(str(f + 1) for f in fold)} was killed by "
            "signal 9 (SIGKILL)"
        )
    bad = [f"{c}" for c in codes if c]
    raise RuntimeError(f"a fold process stopped without a result (exit status {bad[0]})")


def run_job(
    store: Any,
    job_id: int,
    *,
    n_jobs: int | None = None,
    folds: Sequence[int] | None = None,
) -> str:
    """Run job ``job_id`` (resuming from its checkpoints); return its final state.

    With ``folds`` (a fold process of a ``device="folds"`` job), train only
    those folds' members into the work folder and return ``"trained"``.
    """
    from torch.cuda import OutOfMemoryError

    from rehab_core.io.cohort import read_cohort
    from rehab_core.io.errors import InputError
    from rehab_core.storage import WeightsError
    from rehab_core.training.devices import GPUOutOfMemoryError, gpu_out_of_memory
    from rehab_core.workflows.train import train_experiment

    job = get_job(store, job_id)
    if job.is_final:
        return job.state
    settings, signal_settings, imaging_settings = job_settings(job)
    if os.environ.get("REHAB_TRAIN_DEVICE"):  # the runner pinned this process to its GPU(s)
        settings = settings.replace(device=os.environ["REHAB_TRAIN_DEVICE"])
    folder = job_dir(store, job.id)
    n_folds = settings.n_folds if folds is None else len(folds)
    n_members = n_folds * (1 + len(settings.backbones))
    reporter = ProgressReporter(store, job, n_members, folds=folds)
    if _main_rank() and folds is None:
        reporter._write({"stage": "starting", "attempt": job.attempts})

    def train(only: Sequence[int] | None):
        return train_experiment(
            job.cohort,
            folder / "out",
            settings,
            signal_settings=signal_settings,
            imaging_settings=imaging_settings,
            n_jobs=n_jobs,
            progress=reporter,
            data_description=job.settings.get("description"),
            work_dir=folder / "work",
            folds=only,
        )

    try:
        if n_jobs is None:
            # worker processes cost seconds to start: worth it only for a real cohort
            n_patients = len(read_cohort(job.cohort, require_labels=False))
            n_jobs = 1 if n_patients < 40 else min(4, os.cpu_count() or 1)
        slots = _fold_slots() if folds is None else []
        if slots:
            train(())  # preprocess once, check the cohort, open the work folder
            state = _train_folds_side_by_side(store, job, slots, n_members)
            if state != "trained":
                return state
        report = train(folds)  # a folds job's parent: every member is kept, then evaluated
        if folds is not None:
            print(f"folds {', '.join(str(f + 1) for f in folds)} trained", flush=True)
            return "trained"
    except JobCancelled:
        if _main_rank():
            _end(store, job.id, "cancelled")
            shutil.rmtree(folder / "work", ignore_errors=True)
        print("cancelled", flush=True)
        return "cancelled"
    except ProcessKilled:
        raise  # no sentence: the runner decides whether to start the job again
    except (
        InputError,
        ValueError,
        WeightsError,
        GPUOutOfMemoryError,
        OutOfMemoryError,
        FloatingPointError,
    ) as err:
        # the cohort or the settings cannot train: one sentence, kept for the page; any rank
        # writes it (the first sentence wins), since the others only see their peer vanish
        if isinstance(err, OutOfMemoryError):  # outside fit_model, which says it already
            err = gpu_out_of_memory()
        _end(store, job.id, "failed", str(err))
        print(f"failed: {err}", flush=True)
        return "failed"
    except Exception as err:
        traceback.print_exc()
        if _main_rank() or _distributed():
            _end(
                store,
                job.id,
                "failed",
                f"Training stopped with an unexpected error ({type(err).__name__}: {err}); "
                "the job's log has the details.",
            )
        return "failed"
    if _main_rank():
        ids = _finish(store, job, report)
        shutil.rmtree(folder / "work", ignore_errors=True)  # the bundles in out/ replace it
        print(f"finished in {report['seconds']:.0f} s: model versions {ids}", flush=True)
    return "finished"


def main(argv: list[str] | None = None) -> int:
    """Run one job (or, with ``--folds 0,2``, those folds of it); return the exit status.

    0 when the job (or the folds) ended as planned, :data:`STOPPED_EXIT` when a
    DDP rank or a fold process ended it failed or cancelled (a plain worker
    returns 0 then: the runner reads the job's state).
    """
    argv = sys.argv[1:] if argv is None else argv
    folds = None
    if len(argv) == 3 and argv[1] == "--folds" and all(f.isdigit() for f in argv[2].split(",")):
        folds = [int(f) for f in argv[2].split(",")]
        argv = argv[:1]
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m rehab_core.jobs.worker JOB_ID [--folds 0,2]", file=sys.stderr)
        return 2
    from rehab_core.training.distributed import distributed_process

    job_id = int(argv[0])
    store = open_store()
    try:
        # the device as this process numbers it (the runner pinned it); the job's own choice
        # ("ddp", "folds") is no torch device
        device = os.environ.get("REHAB_TRAIN_DEVICE") or get_job(store, job_id).device
        # under torchrun: one process group for every fit of the job, freed before exit
        with distributed_process(device):
            try:
                state = run_job(store, job_id, folds=folds)
            except ProcessKilled as err:
                print(f"stopped: {err}", flush=True)
                return KILLED_EXIT
            if state in ("failed", "cancelled") and _distributed():
                # the others may wait for this rank inside a collective: leave now, without
                # the group's orderly teardown, so that torchrun stops them at once
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(STOPPED_EXIT)
    finally:
        store.close()
    if state in ("failed", "cancelled") and folds is not None:
        return STOPPED_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main())
