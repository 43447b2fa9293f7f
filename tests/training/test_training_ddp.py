"""DistributedDataParallel on the CPU: two processes under torchrun, Gloo backend."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from rehab_core.training.ddp_smoke import run_smoke

REPO = Path(__file__).resolve().parents[2]


def _without_seconds(history):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


def _torchrun_smoke(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """Run ``ddp_smoke`` in two CPU processes under torchrun (Gloo), output in files."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
    }
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--standalone",
        "-m",
        "rehab_core.training.ddp_smoke",
        "--out",
        str(tmp_path),
        *args,
    ]
    env["REHAB_DDP_TIMEOUT_S"] = "120"  # a hung collective fails with a message, not silence
    # Output goes to files, not pipes: a worker left behind would hold a pipe open and
    # keep the test waiting. On a time-out torchrun gets SIGTERM (it stops its workers),
    # then SIGKILL.
    with open(tmp_path / "stdout.txt", "w") as out, open(tmp_path / "stderr.txt", "w") as err:
        proc = subprocess.Popen(
            cmd, env=env, cwd=tmp_path, stdout=out, stderr=err, start_new_session=True
        )
        try:
            proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    stdout = (tmp_path / "stdout.txt").read_text()
    stderr = (tmp_path / "stderr.txt").read_text()
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


@pytest.mark.slow
@pytest.mark.distributed
def test_two_cpu_processes_train_to_identical_weights(tmp_path):
    done = _torchrun_smoke(tmp_path, "--epochs", "3")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("(ranks agree)") == 2
    # the group was destroyed before exit, not left to the interpreter's teardown (SIGABRT)
    assert done.stdout.count("process group freed") == 2
    summaries = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [s["world_size"] for s in summaries] == [2, 2]
    assert summaries[0]["sha256"] == summaries[1]["sha256"]
    assert _without_seconds(summaries[0]["history"]) == _without_seconds(summaries[1]["history"])
    assert len(summaries[0]["history"]) == 3
    w0, w1 = (load_file(str(tmp_path / f"rank{r}.safetensors")) for r in (0, 1))
    assert w0.keys() == w1.keys() and all((w0[k] == w1[k]).all() for k in w0)
    # rank 0 alone wrote the checkpoint of the last epoch
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "epoch-0003.json",
        "epoch-0003.safetensors",
    ]


@pytest.mark.slow
@pytest.mark.distributed
def test_one_two_process_job_trains_several_fits_over_one_process_group(tmp_path):
    """A job's ensemble: several fit_model calls in a row in one torchrun job (issue 16)."""
    done = _torchrun_smoke(tmp_path, "--epochs", "2", "--fits", "3")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("3 fit(s)") == 2
    assert done.stdout.count("(ranks agree)") == 2
    assert done.stdout.count("process group freed") == 2
    fits = [json.loads((tmp_path / f"rank{r}.json").read_text())["fits"] for r in (0, 1)]
    assert [len(f) for f in fits] == [3, 3]
    for fit0, fit1 in zip(*fits, strict=True):
        assert fit0["sha256"] == fit1["sha256"]
        assert _without_seconds(fit0["history"]) == _without_seconds(fit1["history"])
        assert [h["epoch"] for h in fit0["history"]] == [1, 2]
    # three different models (seeds 0, 1, 2), not one model trained three times
    assert len({f["sha256"] for f in fits[0]}) == 3
    for folder in ("checkpoints", "checkpoints-2", "checkpoints-3"):
        assert sorted(p.name for p in (tmp_path / folder).iterdir()) == [
            "epoch-0002.json",
            "epoch-0002.safetensors",
        ]


def test_smoke_runs_as_a_single_process(tmp_path, monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    summary = run_smoke(tmp_path, epochs=2)
    assert summary["world_size"] == 1 and summary["rank"] == 0
    assert len(summary["history"]) == 2
    assert (tmp_path / "rank0.safetensors").is_file()


def test_half_set_torchrun_environment_is_refused(monkeypatch):
    from rehab_core.training.distributed import distributed_env

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.raises(
        RuntimeError,
        match="WORLD_SIZE=2 is set but RANK is not; start distributed training with torchrun",
    ):
        distributed_env()


def test_a_single_process_creates_no_process_group(monkeypatch):
    import torch.distributed as dist

    from rehab_core.training.distributed import (
        distributed_process,
        setup_distributed,
        shutdown_distributed,
    )

    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    with distributed_process("cpu") as ctx:
        assert ctx is None
    ctx = setup_distributed("cpu")
    assert (ctx.world_size, ctx.rank, ctx.is_distributed) == (1, 0, False)
    assert not dist.is_initialized()
    assert shutdown_distributed() is True  # nothing of ours to free


def test_a_process_group_the_caller_made_is_used_and_left_to_the_caller(monkeypatch):
    import torch.distributed as dist
    import torch.distributed.nn  # noqa: F401  (before the group: see training/distributed.py)

    from rehab_core.training.distributed import setup_distributed, shutdown_distributed

    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        ctx = setup_distributed("cpu")
        assert (ctx.world_size, ctx.backend) == (1, "gloo")
        assert shutdown_distributed() is True
        assert dist.is_initialized()  # not ours to destroy
    finally:
        dist.destroy_process_group()
