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
from typing import Any

__all__ = ["estimate_in_subprocess", "main"]


def estimate_in_subprocess(backbones: list[str], *, timeout_s: float = 900, **kwargs: Any) -> dict:
    """``estimate_training_seconds(backbones, **kwargs).to_dict()``, measured in a child process.

    ``device="auto"``, ``"cuda"`` and ``"ddp"`` are resolved there as
    :func:`~rehab_core.training.scheduling.schedule_job` would start the job
    (the GPU it would get, or the DDP processes).

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


def main() -> int:
    from rehab_core.training.devices import estimate_training_seconds
    from rehab_core.training.scheduling import schedule_job

    request = json.loads(sys.stdin.read())
    backbones = request.pop("backbones")
    if request.get("device", "auto") in ("auto", "cuda", "ddp", "folds"):
        schedule = schedule_job(request.get("device", "auto"))
        plan = schedule.launch
        # this child is not pinned: time on the job's (first) GPU as this process numbers it
        gpus = [d for d in plan.devices if d.kind == "cuda"]
        request["device"] = gpus[0].torch_device if gpus else plan.device
        request.setdefault("n_processes", schedule.world_size)
    if "window_shape" in request:
        request["window_shape"] = tuple(request["window_shape"])
    result = estimate_training_seconds(backbones, **request)
    print(json.dumps(result.to_dict(), default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
