"""Retraining in the background: jobs, the runner process, model versions.

::

    from rehab_core.jobs import submit_job, ensure_runner, get_job, promote_version

    job = submit_job(store, "/data/cohort", ExperimentSettings(backbones=("shufflenet",)),
                     created_by="dr.r")
    ensure_runner(store)              # starts the background runner if none is alive
    get_job(store, job.id).progress   # latest event: stage, member, epoch, batch, time left

See :mod:`rehab_core.jobs.queue` for a job's life and files,
:mod:`rehab_core.jobs.runner` for crash recovery and
:mod:`rehab_core.jobs.versions` for versions and promotion.
"""

from rehab_core.jobs.cohorts import (
    CohortCheck,
    check_cohort,
    cohort_roots,
    find_cohorts,
    unpack_cohort_zip,
    use_cohort,
)
from rehab_core.jobs.estimate import estimate_in_subprocess, estimate_request
from rehab_core.jobs.presets import (
    TrainingPreset,
    evaluated_not_installed,
    imagenet_start_note,
    training_presets,
)
from rehab_core.jobs.queue import (
    FINAL_STATES,
    JobError,
    JobRecord,
    ensure_runner,
    fold_progress_text,
    get_job,
    job_dir,
    job_events,
    job_log,
    job_settings,
    list_jobs,
    request_cancel,
    retry_job,
    runner_alive,
    submit_job,
)
from rehab_core.jobs.versions import (
    TRIAL_LABEL,
    PromotionRefused,
    VersionRecord,
    default_version,
    get_version,
    imagenet_fallback,
    is_trial_settings,
    is_trial_version,
    list_versions,
    model_path,
    promote_version,
    promotion_refusal,
    revert_to_shipped,
    shipped_versions,
)

__all__ = [
    "TRIAL_LABEL",
    "is_trial_settings",
    "is_trial_version",
    "CohortCheck",
    "check_cohort",
    "find_cohorts",
    "unpack_cohort_zip",
    "use_cohort",
    "cohort_roots",
    "estimate_in_subprocess",
    "estimate_request",
    "TrainingPreset",
    "evaluated_not_installed",
    "imagenet_start_note",
    "training_presets",
    "FINAL_STATES",
    "JobError",
    "JobRecord",
    "ensure_runner",
    "fold_progress_text",
    "get_job",
    "job_dir",
    "job_events",
    "job_log",
    "job_settings",
    "list_jobs",
    "request_cancel",
    "retry_job",
    "runner_alive",
    "submit_job",
    "VersionRecord",
    "default_version",
    "get_version",
    "imagenet_fallback",
    "list_versions",
    "model_path",
    "promote_version",
    "promotion_refusal",
    "PromotionRefused",
    "revert_to_shipped",
    "shipped_versions",
]
