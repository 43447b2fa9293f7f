"""The worker's progress callback: what reaches the database, the event file, and cancel."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from rehab_core.jobs import get_job, job_events, request_cancel, submit_job
from rehab_core.jobs.worker import JobCancelled, ProgressReporter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _batch(epoch: int, batch: int, eta: float) -> dict:
    return {"event": "batch", "member": "lstm/fold0", "epoch": epoch, "n_epochs": 2,
            "batch": batch, "n_batches": 4, "loss": 0.7, "eta_s": eta}  # fmt: skip


@pytest.fixture
def job(store, tiny_cohort, fast_job):
    return submit_job(store, tiny_cohort, fast_job()[0])


def test_batches_are_written_at_most_once_a_second(store, job, capsys):
    clock = Clock()
    report = ProgressReporter(store, job, n_members=4, clock=clock)
    report({"stage": "train", "model": "lstm", "fold": 0, "n_folds": 2})
    assert get_job(store, job.id).progress["stage"] == "train"
    report(_batch(1, 1, 30.0))  # 0 s after the stage event: not written
    assert "batch" not in get_job(store, job.id).progress
    clock.now = 1.5
    report(_batch(1, 2, 20.0))
    stored = get_job(store, job.id)
    assert stored.progress["batch"] == 2 and stored.progress["member"] == "lstm/fold0"
    assert stored.heartbeat_at is not None
    # this member: 20 s left; three more members at this one's pace (1.5 s so far + 20 s)
    assert stored.progress["job_eta_s"] == pytest.approx(20.0 + 3 * 21.5)
    assert [e.get("stage") for e in job_events(store, job.id)] == ["train"]  # batches: no
    assert capsys.readouterr().out.endswith("training lstm fold 1/2\n")


def test_epochs_go_to_the_event_file_and_the_log(store, job, capsys):
    clock = Clock()
    report = ProgressReporter(store, job, n_members=4, clock=clock)
    report({"stage": "train", "model": "lstm", "fold": 0, "n_folds": 2})
    clock.now = 10.0
    report({"event": "epoch", "member": "lstm/fold0", "epoch": 2, "n_epochs": 2, "batch": 4,
            "n_batches": 4, "loss": 0.6, "eta_s": 0.0, "train_loss": 0.6, "val_loss": 0.65,
            "val_auc": float("nan"), "seconds": 5.0, "stopped_early": False})  # fmt: skip
    (_, epoch) = job_events(store, job.id)
    assert epoch["epoch"] == 2 and epoch["member"] == "lstm/fold0"
    stored = get_job(store, job.id).progress
    assert stored["members_done"] == 1 and stored["val_auc"] is None  # NaN is stored as null
    assert "lstm/fold0 epoch 2/2: train loss 0.6000, val loss 0.6500, val AUC nan, 5.0 s" in (
        capsys.readouterr().out
    )
    # the next LSTM member is expected to take as long as the finished one
    report({"stage": "train", "model": "lstm", "fold": 1, "n_folds": 2})
    clock.now = 12.0
    report(_batch(1, 1, 8.0))
    assert get_job(store, job.id).progress["job_eta_s"] == pytest.approx(8.0 + 2 * 10.0)


def test_a_cancel_request_stops_training_at_the_next_write(store, job):
    clock = Clock()
    report = ProgressReporter(store, job, n_members=4, clock=clock)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE training_jobs SET state='running' WHERE id=:i"), {"i": job.id})
    report(_batch(1, 1, 10.0))
    request_cancel(store, job.id, actor="dr.r")
    clock.now = 0.5
    report(_batch(1, 2, 9.0))  # within the second: no database round trip, no cancel yet
    clock.now = 1.2
    with pytest.raises(JobCancelled, match=f"training job {job.id} was cancelled"):
        report(_batch(1, 3, 8.0))
