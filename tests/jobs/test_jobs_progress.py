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


# --- fold processes of a device="folds" job: one progress per fold ------------------------
def _running(store, job) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE training_jobs SET state='running' WHERE id=:i"), {"i": job.id})


def test_fold_processes_keep_their_own_progress_merged_by_fold(store, job):
    from rehab_core.jobs import fold_progress_text
    from rehab_core.jobs.worker import fold_progress_path, merge_fold_progress

    _running(store, job)
    clock = Clock()
    first = ProgressReporter(store, job, n_members=4, clock=clock, folds=[0, 2])
    second = ProgressReporter(store, job, n_members=2, clock=clock, folds=[1])
    first({"stage": "train", "model": "lstm", "fold": 0, "n_folds": 3})
    second({"stage": "train", "model": "shufflenet", "fold": 1, "n_folds": 3})
    clock.now = 1.5
    first({**_batch(5, 2, 40.0), "member": "lstm/fold0", "n_epochs": 15})
    second({**_batch(2, 1, 90.0), "member": "shufflenet/fold1", "n_epochs": 15})
    # neither wrote the row (two writers of one JSON column would lose each other's updates)
    assert get_job(store, job.id).progress == {"stage": "queued"}
    assert fold_progress_path(store, job.id, [0, 2]).name == "folds-0-2.json"

    merged = merge_fold_progress(store, job.id, n_members=6)
    stored = get_job(store, job.id)
    assert stored.progress == merged and stored.heartbeat_at is not None
    assert sorted(merged["folds"]) == ["0", "1"]
    assert merged["folds"]["0"]["epoch"] == 5 and merged["folds"]["1"]["model"] == "shufflenet"
    assert (merged["stage"], merged["n_members"], merged["members_done"]) == ("train", 6, 0)
    assert merged["job_eta_s"] == max(p["job_eta_s"] for p in merged["folds"].values())
    assert fold_progress_text(stored.progress) == (
        "fold 1 of 3: LSTM epoch 5/15; fold 2 of 3: ShuffleNet epoch 2/15"
    )

    # the first process moves on to fold 3: keyed by the fold it trains now, none left stale
    first({"stage": "train", "model": "lstm", "fold": 2, "n_folds": 3})
    merged = merge_fold_progress(store, job.id, n_members=6)
    assert sorted(merged["folds"]) == ["1", "2"]
    assert fold_progress_text(merged).startswith("fold 2 of 3: ShuffleNet epoch 2/15; fold 3 of 3")


def test_a_fold_process_still_sees_a_cancel(store, job):
    _running(store, job)
    clock = Clock()
    report = ProgressReporter(store, job, n_members=2, clock=clock, folds=[1])
    report(_batch(1, 1, 10.0))
    request_cancel(store, job.id, actor="dr.r")
    clock.now = 1.2
    with pytest.raises(JobCancelled, match=f"training job {job.id} was cancelled"):
        report(_batch(1, 2, 8.0))


def test_the_merge_leaves_an_ended_job_and_an_empty_folder_alone(store, job):
    from rehab_core.jobs.worker import merge_fold_progress

    _running(store, job)
    assert merge_fold_progress(store, job.id, n_members=4) is None  # nothing written yet
    ProgressReporter(store, job, n_members=2, folds=[0])({"stage": "train", "model": "lstm",
                                                          "fold": 0, "n_folds": 2})  # fmt: skip
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE training_jobs SET state='failed', progress=:p WHERE id=:i"),
            {"i": job.id, "p": '{"stage": "failed"}'},
        )
    assert merge_fold_progress(store, job.id, n_members=4) is None
    assert get_job(store, job.id).progress == {"stage": "failed"}  # the failing fold's word


def test_the_progress_of_a_job_without_fold_processes_has_no_fold_text():
    from rehab_core.jobs import fold_progress_text

    assert fold_progress_text({"stage": "train", "member": "lstm/fold0", "epoch": 1}) is None
    starting = {"folds": {"0": {"fold": 0, "n_folds": 2, "model": "lstm", "stage": "train"}}}
    assert fold_progress_text(starting) == "fold 1 of 2: LSTM starting"


def test_the_processes_are_polled_while_they_run():
    import sys

    from rehab_core.jobs.worker import run_processes

    polls = []
    sleeper = [sys.executable, "-c", "import time; time.sleep(1.0)"]
    assert run_processes([(sleeper, {})], poll_s=0.1, on_poll=lambda: polls.append(1)) == [0]
    assert len(polls) >= 3
