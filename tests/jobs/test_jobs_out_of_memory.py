"""A job that runs out of GPU memory fails with one sentence, wherever the memory ran out."""

from __future__ import annotations

import pytest
import torch

import rehab_core.workflows.train as experiment
from rehab_core.jobs import get_job, submit_job
from rehab_core.jobs.worker import run_job
from rehab_core.training.devices import gpu_out_of_memory


@pytest.mark.parametrize(
    "raised",
    [
        lambda: gpu_out_of_memory(torch.device("cuda", 0)),  # inside fit_model
        lambda: torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    ],
)
def test_out_of_memory_fails_the_job_with_a_sentence(
    store, tiny_cohort, fast_job, monkeypatch, capsys, raised
):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")  # the runner pinned the job to GPU 1

    def train_experiment(*args, **kwargs):
        raise raised()

    monkeypatch.setattr(experiment, "train_experiment", train_experiment)
    job = submit_job(store, tiny_cohort, fast_job()[0])
    assert run_job(store, job.id, n_jobs=1) == "failed"
    sentence = "out of GPU memory on GPU 1: try a smaller batch or one GPU"
    assert get_job(store, job.id).error == sentence
    out = capsys.readouterr()
    assert f"failed: {sentence}" in out.out and "Traceback" not in out.out + out.err
