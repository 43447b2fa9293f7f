"""How the runner starts a job's worker: pinned GPUs, folds spread by default, torchrun for DDP."""

from __future__ import annotations

import json
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
    ("device", "n_gpus", "expected", "pinned", "in_process"),
    [
        # one GPU per job unless DDP is asked for (issue 16), pinned to it
        ("cuda", 3, "plain", "0", "cuda:0"),
        ("cuda", 2, "plain", "0", "cuda:0"),
        ("auto", 2, "folds", "0", "cuda:0"),  # 2 folds over 2 free GPUs, one process each
        ("auto", 4, "folds", "0", "cuda:0"),  # 2 folds: 2 of the 4 GPUs
        ("ddp", 3, "torchrun", "0,1", "cuda"),  # 2 of 3: the batches (16, 32) split in two
        ("ddp", 4, "torchrun", "0,1,2,3", "cuda"),
        ("auto", 1, "plain", "0", "cuda:0"),
        ("auto", 0, "plain", None, "cpu"),
        ("cpu", 3, "plain", None, "cpu"),
        ("cuda:1", 3, "plain", "1", "cuda:0"),
    ],
)
def test_worker_command(
    store, tiny_cohort, fast_job, monkeypatch, device, n_gpus, expected, pinned, in_process
):
    monkeypatch.setattr(devices, "list_devices", lambda: _gpus(n_gpus))
    job = submit_job(store, tiny_cohort, fast_job(device=device)[0])
    command, env = _launch(job)
    module = ["-m", "rehab_core.jobs.worker", str(job.id)]
    assert command[-3:] == module and command == worker_command(job)
    if expected == "torchrun":
        assert command[:5] == [sys.executable, "-m", "torch.distributed.run", "--standalone",
                               "--nproc_per_node"]  # fmt: skip
        assert command[5] == str(len(pinned.split(",")))
        assert env["OMP_NUM_THREADS"] == str(32 // len(pinned.split(",")))
    else:
        assert command == [sys.executable, *module]
    from rehab_core.jobs.worker import FOLD_SLOTS_ENV

    slots = json.loads(env.get(FOLD_SLOTS_ENV, "[]"))
    if expected == "folds":
        assert [(s["folds"], s["env"]["CUDA_VISIBLE_DEVICES"], s["device"]) for s in slots] == [
            ([0], "0", "cuda:0"),
            ([1], "1", "cuda:0"),
        ]
    else:
        assert slots == []
    assert env.get("CUDA_VISIBLE_DEVICES") == pinned
    assert env["REHAB_TRAIN_DEVICE"] == in_process


def test_a_job_on_a_missing_gpu_fails_with_a_sentence(store, tiny_cohort, fast_job, monkeypatch):
    from rehab_core.jobs import get_job
    from rehab_core.jobs.runner import run_pending

    monkeypatch.setattr(devices, "list_devices", lambda: _gpus(1))
    job = submit_job(store, tiny_cohort, fast_job(device="cuda:3")[0])
    assert run_pending(store) == 1
    done = get_job(store, job.id)
    assert done.state == "failed"
    assert done.error == "device='cuda:3' is not on this machine; it has 1 CUDA GPU(s)."
