"""How the runner starts a job's worker: torchrun over several GPUs, one process otherwise."""

from __future__ import annotations

import sys

import pytest

import rehab_core.training.devices as devices
from rehab_core.jobs import submit_job
from rehab_core.jobs.runner import _launch, worker_command


def _gpus(n: int) -> list[devices.DeviceInfo]:
    cpu = devices.DeviceInfo(kind="cpu", torch_device="cpu", name="test CPU", n_cores=32)
    return [
        *(
            devices.DeviceInfo(kind="cuda", torch_device=f"cuda:{i}", name="H100", index=i)
            for i in range(n)
        ),
        cpu,
    ]


@pytest.mark.parametrize(
    ("device", "n_gpus", "expected"),
    [
        ("auto", 3, "torchrun"),
        ("cuda", 2, "torchrun"),
        ("auto", 1, "plain"),
        ("auto", 0, "plain"),
        ("cpu", 3, "plain"),
        ("cuda:1", 3, "plain"),
    ],
)
def test_worker_command(store, tiny_cohort, fast_job, monkeypatch, device, n_gpus, expected):
    monkeypatch.setattr(devices, "list_devices", lambda: _gpus(n_gpus))
    job = submit_job(store, tiny_cohort, fast_job(device=device)[0])
    command, env = _launch(job)
    module = ["-m", "rehab_core.jobs.worker", str(job.id)]
    assert command[-3:] == module and command == worker_command(job)
    if expected == "torchrun":
        assert command[:5] == [sys.executable, "-m", "torch.distributed.run", "--standalone",
                               "--nproc_per_node"]  # fmt: skip
        assert command[5] == str(n_gpus)
        assert env["OMP_NUM_THREADS"] == str(32 // n_gpus)
    else:
        assert command == [sys.executable, *module] and env.get("CUDA_VISIBLE_DEVICES") is None
