"""The worker's last step: bundles registered and the train_finish event, in one transaction."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

import rehab_core.jobs.worker as worker
from rehab_core.jobs import get_job, list_versions
from rehab_core.jobs.queue import job_dir
from rehab_core.security import audit_events
from rehab_core.storage import db


@pytest.fixture
def trained_job(tiny_training, any_store):
    """A running job whose worker has written the tiny bundle to its ``out`` folder."""
    with Session(any_store.engine) as session, session.begin():
        row = db.TrainingJob(state="running", created_by="dr.r", cohort="/c", work_dir="jobs/1")
        session.add(row)
        session.flush()
        job_id = row.id
    out = job_dir(any_store, job_id) / "out" / "shufflenet_lstm"
    shutil.copytree(tiny_training["out"] / "shufflenet_lstm", out)
    return get_job(any_store, job_id)


REPORT = {"models": {"shufflenet_lstm": {}}, "seconds": 12.5}


def test_finish_registers_the_versions_and_records_the_event(any_store, trained_job):
    ids = worker._finish(any_store, trained_job, REPORT)
    assert [v.id for v in list_versions(any_store)] == ids and len(ids) == 1
    assert get_job(any_store, trained_job.id).state == "finished"
    (event,) = audit_events(any_store, action="train_finish")
    assert (event.username, event.target) == ("dr.r", f"training job {trained_job.id}")
    assert event.details == {"versions": ids, "seconds": 12.5}


def test_versions_and_event_commit_together_or_not_at_all(any_store, trained_job, monkeypatch):
    real = worker.record_event

    def record_then_fail(*args, **kwargs):
        real(*args, **kwargs)  # added to the job's transaction...
        raise OperationalError("UPDATE training_jobs", {}, OSError("disk full"))  # ...then lost

    monkeypatch.setattr(worker, "record_event", record_then_fail)
    with pytest.raises(OperationalError):
        worker._finish(any_store, trained_job, REPORT)
    assert list_versions(any_store) == [] and audit_events(any_store) == []
    with Session(any_store.engine) as session:
        assert session.scalar(select(db.TrainingJob.state)) == "running"
