"""The training-time estimate, measured in a child process.

:func:`rehab_core.training.devices.estimate_training_seconds` times real
training steps. Run inside the dashboard it would block a page for as long
as the timing takes and, on a GPU, leave a CUDA context (hundreds of MiB of
GPU memory) in the web server for good, beside a job that may be training.
:func:`estimate_in_subprocess` runs it in a fresh ``python -m
rehab_core.jobs.estimate`` instead and returns its JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from rehab_core._json import to_jsonable

if TYPE_CHECKING:
    from rehab_core.imaging import ImagingSettings
    from rehab_core.jobs.cohorts import CohortCheck
    from rehab_core.signals import SignalSettings
    from rehab_core.training import ExperimentSettings

__all__ = [
    "estimate_in_subprocess",
    "estimate_request",
    "lstm_window_shape",
    "slices_per_cohort",
    "main",
    "resolve_job_device",
]

RECORDING_SFREQ_HZ = 1000.0
"""The recordings' own rate, which the windows keep when the settings do not resample."""


def lstm_window_shape(signal_settings: SignalSettings) -> tuple[int, int]:
    """``(n_chans, n_times)`` of the LSTM's input windows under ``signal_settings``.

    The paper's 22 channels; ``window_s`` at the resampled rate (the
    recordings' own 1000 Hz when not resampled), or that many samples cut
    into envelope frames for ``representation="envelope"``.
    """
    from rehab_core.io.channels import PAPER_CHANNELS
    from rehab_core.signals import envelope_n_frames

    rate = signal_settings.resample_sfreq or RECORDING_SFREQ_HZ
    n_times = int(round(signal_settings.window_s * rate))
    if signal_settings.representation == "envelope":
        n_times = envelope_n_frames(n_times, rate, signal_settings.envelope_frame_s)[1]
    return len(PAPER_CHANNELS), n_times


def estimate_request(
    check: CohortCheck,
    settings: ExperimentSettings,
    signal_settings: SignalSettings,
    device: str,
    imaging_settings: ImagingSettings | None = None,
) -> dict[str, Any]:
    """What :func:`estimate_in_subprocess` needs (besides the backbones) for a checked cohort.

    Items per epoch come from the cohort's check (its fMRI slices and
    seconds of EEG-EMG; :func:`slices_per_cohort` with ``imaging_settings``'
    slice band and step), the input shape from :func:`lstm_window_shape` and
    the slice size, the budget from ``settings``.
    """
    from rehab_core.imaging import ImagingSettings

    imaging = imaging_settings or ImagingSettings()
    summary = check.summary
    return {
        "n_slices": max(1, slices_per_cohort(summary, imaging)),
        "image_size": imaging.image_size,
        "n_windows": max(1, int(summary["signal_seconds"] // signal_settings.window_s)),
        "window_shape": lstm_window_shape(signal_settings),
        "epochs": settings.epochs,
        "signal_epochs": settings.signal_epochs,
        "n_folds": settings.n_folds,
        "test_fraction": settings.test_fraction,
        "device": device,
    }


def slices_per_cohort(summary: dict[str, Any], imaging: ImagingSettings) -> int:
    """An upper bound of the fMRI slices a job trains on, from a cohort check's summary.

    Every slice of every readable run (``fmri_slices``) without a band; with
    ``slice_range_mm``, the template grid's heights in the band (every
    ``slice_step``-th) times the readable runs, never more than every slice;
    with a step alone, every ``slice_step``-th slice.
    """
    import math

    every = int(summary.get("fmri_slices", 0))
    if imaging.slice_range_mm is not None:
        low, high = imaging.slice_range_mm
        heights = math.floor((high - low) / imaging.voxel_size_mm + 1e-6) + 1
        per_run = math.ceil(max(heights, 0) / imaging.slice_step)
        return min(every, per_run * int(summary.get("n_readable_fmri", 0)))
    return math.ceil(every / imaging.slice_step)


def estimate_in_subprocess(backbones: list[str], *, timeout_s: float = 900, **kwargs: Any) -> dict:
    """``estimate_training_seconds(backbones, **kwargs).to_dict()``, measured in a child process.

    ``device="auto"``, ``"cuda"``, ``"ddp"`` and ``"folds"`` are resolved
    there as :func:`~rehab_core.training.scheduling.schedule_job` would start
    the job (:func:`resolve_job_device`: the GPU it would get, the DDP
    processes, or the GPUs training its folds side by side).

    Raises
    ------
    RuntimeError
        The child failed or took longer than ``timeout_s``; one sentence.
    """
    request = json.dumps({"backbones": list(backbones), **kwargs})
    try:
        done = subprocess.run(
            [sys.executable, "-m", "rehab_core.jobs.estimate"],
            input=request,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired as err:
        raise RuntimeError(
            f"Timing the training steps took more than {timeout_s:.0f} s; the machine is busy, "
            "try again later."
        ) from err
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"The time estimate failed ({last}).")
    return json.loads(done.stdout)


def resolve_job_device(request: dict[str, Any], devices: Any = None) -> dict[str, Any]:
    """``request`` with a job's device choice replaced by what the job would run on.

    ``"auto"``, ``"cuda"``, ``"ddp"`` and ``"folds"`` go through
    :func:`~rehab_core.training.scheduling.schedule_job` (over ``devices``,
    default :func:`~rehab_core.training.devices.list_devices`) with the
    request's ``n_folds``: ``device`` becomes the job's first GPU as this
    unpinned process numbers it, ``n_processes`` the DDP processes and
    ``fold_gpus`` the GPUs that train the folds side by side.  Other
    devices are left as they are.
    """
    from rehab_core.training.scheduling import schedule_job

    request = dict(request)
    if request.get("device", "auto") not in ("auto", "cuda", "ddp", "folds"):
        return request
    schedule = schedule_job(
        request.get("device", "auto"), n_folds=request.get("n_folds", 5), devices=devices
    )
    plan = schedule.launch
    gpus = [d for d in plan.devices if d.kind == "cuda"]
    request["device"] = gpus[0].torch_device if gpus else plan.device
    request.setdefault("n_processes", schedule.world_size)
    request.setdefault("fold_gpus", max(1, len(schedule.fold_slots)))
    return request


def main() -> int:
    from rehab_core.training.devices import estimate_training_seconds

    request = json.loads(sys.stdin.read())
    backbones = request.pop("backbones")
    request = resolve_job_device(request)
    if "window_shape" in request:
        request["window_shape"] = tuple(request["window_shape"])
    result = estimate_training_seconds(backbones, **request)
    print(json.dumps(to_jsonable(result.to_dict())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
