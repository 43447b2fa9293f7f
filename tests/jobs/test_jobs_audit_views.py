"""Issue 14, finding 6: cohort checks and job-log views were not audited."""

from __future__ import annotations

from rehab_core.jobs import job_log, use_cohort
from rehab_core.jobs.queue import job_dir
from rehab_core.security import audit_events


def test_choosing_a_cohort_is_audited_with_its_resolved_folder(any_store, tmp_path):
    real = tmp_path / "cohorts" / "c1"
    real.mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real)
    assert use_cohort(any_store, "rita", link) == real.resolve()
    use_cohort(any_store, "rita", real, via="zip")
    assert [(e.username, e.target, e.details) for e in audit_events(any_store)] == [
        ("rita", str(real.resolve()), {"via": "zip"}),
        ("rita", str(real.resolve()), {"via": "folder"}),
    ]


def test_a_job_log_view_is_audited_when_an_actor_is_given(any_store):
    folder = job_dir(any_store, 5)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "log.txt").write_text("epoch 1\n")
    assert job_log(any_store, 5) == "epoch 1\n"  # a poll: not recorded
    assert audit_events(any_store) == []
    assert job_log(any_store, 5, actor="rita") == "epoch 1\n"
    assert [(e.username, e.action, e.target) for e in audit_events(any_store)] == [
        ("rita", "job_log_view", "job 5")
    ]
