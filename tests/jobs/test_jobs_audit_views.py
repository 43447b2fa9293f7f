"""Issue 14, finding 6: cohort checks and job-log views were not audited."""

from __future__ import annotations

from rehab_core.jobs import job_log, use_cohort
from rehab_core.jobs.queue import job_dir
from rehab_core.security import audit_events


def test_choosing_a_cohort_is_audited_with_its_resolved_folder(any_store, tmp_path, monkeypatch):
    monkeypatch.setenv("REHAB_COHORTS_DIR", str(tmp_path / "cohorts"))
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


def test_a_cohort_outside_the_roots_is_refused_and_audited(any_store, tmp_path, monkeypatch):
    import pytest

    from rehab_core.io.cohort import CohortError

    monkeypatch.setenv("REHAB_COHORTS_DIR", str(tmp_path / "cohorts"))
    (tmp_path / "cohorts").mkdir()
    (tmp_path / "cohorts" / "out").symlink_to(tmp_path)
    roots = f"{(any_store.data_dir / 'cohorts').resolve()} or {(tmp_path / 'cohorts').resolve()}"
    for folder in (tmp_path / "elsewhere", tmp_path / "cohorts" / "out", tmp_path / "cohorts"):
        with pytest.raises(CohortError) as caught:
            use_cohort(any_store, "rita", folder)
        assert str(caught.value) == (
            f"{folder.resolve()} is not inside the server's cohorts folder ({roots}); ask the "
            "administrator to put it there."
        )
    events = audit_events(any_store, action="cohort_check")
    assert len(events) == 3 and all(e.details == {"via": "folder", "refused": True} for e in events)


def test_a_recording_linked_from_outside_the_cohort_is_refused(tiny_cohort, tmp_path):
    import shutil

    from rehab_core.jobs import check_cohort

    cohort = tmp_path / "c"
    shutil.copytree(tiny_cohort, cohort)
    secret = sorted(cohort.glob("sub-*/eeg/*"))[0]
    outside = tmp_path / "private.txt"
    shutil.move(secret, outside)
    secret.symlink_to(outside)
    check = check_cohort(cohort)
    (failure,) = check.failures
    assert failure["participant_id"] == secret.parent.parent.name and failure["error"] == (
        f"{secret.name} is a link to a file outside the cohort folder; copy the file into the "
        "cohort instead."
    )
