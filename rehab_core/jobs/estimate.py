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

from rehab_core._json import to_jsonable

__all__ = ["estimate_in_subprocess", "main"]


def estimate_in_subprocess(backbones: list[str], *, timeout_s: float = 900, **kwargs: Any) -> dict:
    """``estimate_training_seconds(backbones, **kwargs).to_dict()``, measured in a child process.

    ``device="auto"`` is resolved there, with the number of processes a job
    would use (``torchrun`` over every GPU when there are several).

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
    from rehab_core.training.devices import estimate_training_seconds, launch_plan

    request = json.loads(sys.stdin.read())
    backbones = request.pop("backbones")
    if request.get("device", "auto") == "auto":
        plan = launch_plan(None)
        request["device"] = plan.device
        request.setdefault("n_processes", plan.n_processes)
    if "window_shape" in request:
        request["window_shape"] = tuple(request["window_shape"])
    result = estimate_training_seconds(backbones, **request)
    print(json.dumps(to_jsonable(result.to_dict())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
