"""Submitting, listing, cancelling and retrying jobs (no training runs here)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from rehab_core.io.cohort import CohortError
from rehab_core.jobs import (
    JobError,
    get_job,
    job_settings,
    list_jobs,
    request_cancel,
    retry_job,
    submit_job,
)
from rehab_core.signals import SignalSettings
from rehab_core.storage import RecordNotFound, db


def _audit(any_store):
    with Session(any_store.engine) as session:
        return [(e.username, e.action, e.target) for e in session.scalars(select(db.AuditEvent))]


def test_submit_queues_with_settings_and_audit(any_store, tiny_cohort, fast_job):
    settings, imaging = fast_job(seed=3)
    job = submit_job(any_store, tiny_cohort, settings, imaging_settings=imaging, created_by="dr.r")
    assert job.state == "queued" and job.created_by == "dr.r"
    assert job.work_dir == any_store.data_dir / "jobs" / str(job.id)
    assert job.work_dir.is_dir()
    exp, sig, img = job_settings(job)
    assert exp == settings and img.image_size == 64 and sig == SignalSettings()
    assert [j.id for j in list_jobs(any_store)] == [job.id]
    assert _audit(any_store) == [("dr.r", "train_submit", f"training job {job.id}")]


def test_submit_refuses_cohort_without_labels(any_store, tmp_path, fast_job):
    cohort = tmp_path / "cohort"
    (cohort / "sub-01" / "func").mkdir(parents=True)
    (cohort / "sub-01" / "func" / "x_bold.nii.gz").write_bytes(b"")
    (cohort / "participants.tsv").write_text("participant_id\tage\nsub-01\t60\n")
    with pytest.raises(CohortError, match="has no fma_le_3m column; training needs each"):
        submit_job(any_store, cohort, fast_job()[0])
    assert list_jobs(any_store) == [] and _audit(any_store) == []


def test_cancel_queued_job_ends_it_at_once(any_store, tiny_cohort, fast_job):
    job = submit_job(any_store, tiny_cohort, fast_job()[0], created_by="a")
    cancelled = request_cancel(any_store, job.id, actor="b")
    assert cancelled.state == "cancelled" and cancelled.cancel_requested
    assert cancelled.finished_at is not None
    assert ("b", "train_cancel", f"training job {job.id}") in _audit(any_store)
    with pytest.raises(JobError, match=f"Training job {job.id} has already cancelled"):
        request_cancel(any_store, job.id, actor="b")


def test_retry_requeues_only_ended_jobs(any_store, tiny_cohort, fast_job):
    job = submit_job(any_store, tiny_cohort, fast_job()[0])
    with pytest.raises(JobError, match="is queued; only a failed or cancelled job can be run"):
        retry_job(any_store, job.id, actor="x")
    request_cancel(any_store, job.id, actor="x")
    again = retry_job(any_store, job.id, actor="x")
    assert again.state == "queued" and not again.cancel_requested and again.error is None


def test_unknown_job_is_a_plain_sentence(any_store):
    with pytest.raises(RecordNotFound, match="^There is no training job 42.$"):
        get_job(any_store, 42)
    with pytest.raises(RecordNotFound, match="^There is no training job 42.$"):
        request_cancel(any_store, 42, actor=None)


def test_running_job_cancel_is_a_request(any_store, tiny_cohort, fast_job):
    job = submit_job(any_store, tiny_cohort, fast_job()[0])
    with any_store.engine.begin() as conn:
        conn.execute(text("UPDATE training_jobs SET state='running' WHERE id=:i"), {"i": job.id})
    asked = request_cancel(any_store, job.id, actor="x")
    assert asked.state == "running" and asked.cancel_requested


def test_find_cohorts_one_level_down_or_inside_an_unpacked_top_folder(tmp_path):
    from rehab_core.jobs import find_cohorts

    uploads, shared = tmp_path / "uploads", tmp_path / "shared"
    (uploads / "a").mkdir(parents=True)
    (uploads / "a" / "participants.tsv").write_text("participant_id\n")
    (uploads / "zip" / "top").mkdir(parents=True)  # an unpacked zip's top folder
    (uploads / "zip" / "top" / "participants.tsv").write_text("participant_id\n")
    (uploads / "empty").mkdir()
    (uploads / "notes.txt").write_text("not a cohort")  # a stray file is skipped
    (shared / "b").mkdir(parents=True)
    (shared / "b" / "participants.tsv").write_text("participant_id\n")
    found = find_cohorts(uploads, None, tmp_path / "missing", shared)
    assert found == [uploads / "a", uploads / "zip" / "top", shared / "b"]
