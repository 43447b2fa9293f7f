"""Training: patient-level splits, datasets, the training loop, scores, DDP.

Splits (numpy and scikit-learn only) import without torch; everything else
loads torch when first used::

    from rehab_core.training import patient_split, WindowDataset, TrainSettings, fit_model

    split = patient_split(patient_ids, labels, seed=0)          # 71/15/16 for 102 patients
    idx = split.item_indices(window_patient_ids)
    train = WindowDataset(windows, window_patient_ids, labels_by_patient, indices=idx["train"])
    val = WindowDataset(windows, window_patient_ids, labels_by_patient, indices=idx["val"])
    result = fit_model(model, train, val, TrainSettings.for_signals(seed=0))
    scores = predict_patient_scores(model, test_windows, test_ids, batch_size=32, device="auto")

Under ``torchrun --nproc_per_node N`` the same ``fit_model`` call trains with
DistributedDataParallel; ``python -m rehab_core.training.ddp_smoke`` is a
small end-to-end check of that path.  :func:`list_devices` (through NVML,
without a CUDA context), :func:`schedule_job` (one pinned GPU per job, DDP
when asked, the global batch kept), :func:`launch_plan` and
:func:`estimate_training_seconds` say which devices exist, how a job should
start and how long it will take, from training steps timed on this machine.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PatientFold": "splits",
    "PatientSplit": "splits",
    "item_indices": "splits",
    "patient_kfold": "splits",
    "patient_labels": "splits",
    "patient_split": "splits",
    "repeated_patient_splits": "splits",
    "SliceAugmentation": "datasets",
    "SliceDataset": "datasets",
    "WindowDataset": "datasets",
    "augment_batch": "augmentation",
    "augment_slice": "datasets",
    "ExperimentSettings": "settings",
    "TrainSettings": "settings",
    "resolve_amp": "settings",
    "select_device": "settings",
    "derive_seed": "seeding",
    "seed_everything": "seeding",
    "seed_worker": "seeding",
    "set_determinism": "seeding",
    "Checkpoint": "checkpoint",
    "CheckpointError": "checkpoint",
    "read_latest_checkpoint": "checkpoint",
    "write_checkpoint": "checkpoint",
    "DistributedContext": "distributed",
    "distributed_process": "distributed",
    "setup_distributed": "distributed",
    "shutdown_distributed": "distributed",
    "ProgressCallback": "loop",
    "TrainResult": "loop",
    "fit_model": "loop",
    "PatientScores": "predict",
    "predict_patient_scores": "predict",
    "DeviceInfo": "devices",
    "GPUOutOfMemoryError": "devices",
    "LaunchPlan": "devices",
    "TimeEstimate": "devices",
    "estimate_training_seconds": "devices",
    "format_duration": "devices",
    "launch_plan": "devices",
    "list_devices": "devices",
    "JobSchedule": "scheduling",
    "schedule_job": "scheduling",
    "StepTiming": "throughput",
    "measure_model_steps": "throughput",
    "time_training_steps": "throughput",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rehab_core.training' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"rehab_core.training.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
