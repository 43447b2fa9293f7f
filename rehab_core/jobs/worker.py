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

Between two writes it reads ``cancel_requested``; when set, it stops at the
next batch (raising :class:`JobCancelled` out of the training loop) and the
job ends ``cancelled``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import traceback
from typing import Any

from sqlalchemy.orm import Session

from rehab_core._json import to_jsonable
from rehab_core.jobs.queue import JobRecord, get_job, job_dir, job_settings
from rehab_core.jobs.versions import register_bundle
from rehab_core.security import record_event
from rehab_core.storage import db, open_store

__all__ = ["JobCancelled", "ProgressReporter", "run_job", "main"]

_WRITE_EVERY_S = 1.0


class JobCancelled(Exception):
    """Raised inside the training loop when the job's cancel was requested."""


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
    """

    def __init__(self, store: Any, job: JobRecord, n_members: int, clock=time.monotonic) -> None:
        self.store = store
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
        with Session(self.store.engine) as session, session.begin():
            row = session.get(db.TrainingJob, self.job_id)
            row.progress = to_jsonable(progress)
            row.heartbeat_at = db.utc_now()
            cancel = bool(row.cancel_requested)
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
    with Session(store.engine) as session, session.begin():
        row = session.get(db.TrainingJob, job_id)
        row.state = state
        row.finished_at = db.utc_now()
        row.error = error
        row.progress = {**(row.progress or {}), "stage": state}


def run_job(store: Any, job_id: int, *, n_jobs: int | None = None) -> str:
    """Run job ``job_id`` (resuming from its checkpoints); return its final state."""
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
    n_members = settings.n_folds * (1 + len(settings.backbones))
    reporter = ProgressReporter(store, job, n_members)
    if _main_rank():
        reporter._write({"stage": "starting", "attempt": job.attempts})
    try:
        if n_jobs is None:
            # worker processes cost seconds to start: worth it only for a real cohort
            n_patients = len(read_cohort(job.cohort, require_labels=False))
            n_jobs = 1 if n_patients < 40 else min(4, os.cpu_count() or 1)
        report = train_experiment(
            job.cohort,
            folder / "out",
            settings,
            signal_settings=signal_settings,
            imaging_settings=imaging_settings,
            n_jobs=n_jobs,
            progress=reporter,
            data_description=job.settings.get("description"),
            work_dir=folder / "work",
        )
    except JobCancelled:
        if _main_rank():
            _end(store, job.id, "cancelled")
            shutil.rmtree(folder / "work", ignore_errors=True)
        print("cancelled", flush=True)
        return "cancelled"
    except (InputError, ValueError, WeightsError, GPUOutOfMemoryError, OutOfMemoryError) as err:
        # the cohort or the settings cannot train: one sentence, kept for the page
        if isinstance(err, OutOfMemoryError):  # outside fit_model, which says it already
            err = gpu_out_of_memory()
        if _main_rank():
            _end(store, job.id, "failed", str(err))
        print(f"failed: {err}", flush=True)
        return "failed"
    except Exception as err:
        traceback.print_exc()
        if _main_rank():
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
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m rehab_core.jobs.worker JOB_ID", file=sys.stderr)
        return 2
    from rehab_core.training.distributed import distributed_process

    store = open_store()
    try:
        # under torchrun: one process group for every fit of the job, freed before exit
        with distributed_process(get_job(store, int(argv[0])).device):
            run_job(store, int(argv[0]))
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
