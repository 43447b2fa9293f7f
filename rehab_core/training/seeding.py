"""Reproducibility: one seed for Python, NumPy and PyTorch."""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np

__all__ = [
    "CUBLAS_WORKSPACE",
    "derive_seed",
    "preserve_determinism_flags",
    "seed_everything",
    "seed_worker",
    "set_determinism",
]

CUBLAS_WORKSPACE = ":4096:8"
"""``CUBLAS_WORKSPACE_CONFIG`` for deterministic cuBLAS (NVIDIA: about 24 MiB more GPU memory)."""


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed Python's ``random``, NumPy's global generator and PyTorch (CPU and every GPU).

    Parameters
    ----------
    seed : int
        A non-negative integer below 2**32.
    deterministic : bool
        Also switch deterministic algorithms on (:func:`set_determinism`);
        False leaves the process's flags as they are.

    Notes
    -----
    ``PYTHONHASHSEED`` cannot be changed from inside a running interpreter and
    is left alone; nothing here depends on string hashing.
    """
    import torch

    from rehab_core._validation import check_int

    seed = check_int("seed", seed, low=0, high=2**32 - 1)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - seeding the legacy global generator is the point
    torch.manual_seed(seed)  # seeds every CUDA device as well
    if deterministic:
        set_determinism(True)


def set_determinism(deterministic: bool) -> None:
    """Switch PyTorch's deterministic algorithms on, or its fastest ones (the default) on.

    On: ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (unless already set; cuBLAS
    reads it when it first runs in the process, so set it before any GPU
    work: ``fit_model`` does at its start), cuDNN autotuning off and
    deterministic cuDNN kernels, and
    ``torch.use_deterministic_algorithms(True, warn_only=True)`` (an
    operation with no deterministic kernel warns instead of failing).  What
    it costs: no cuDNN autotuning and only deterministic kernels, which on a
    GPU makes convolutions slower (``bench/gpu_check.sh`` measures the
    ShuffleNet step both ways), and about 24 MiB of cuBLAS workspace.  On
    the CPU a run repeats bit for bit with the same thread count either way.

    Off: cuDNN autotuning on (``benchmark=True``: the first batch of each
    shape tries the kernels and keeps the fastest), non-deterministic
    kernels allowed.  The flags are process-wide; ``fit_model`` restores
    them when it returns (:func:`preserve_determinism_flags`).
    """
    import torch

    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.deterministic = False
        torch.use_deterministic_algorithms(False)


def derive_seed(*parts: int) -> int:
    """Combine integers (seed, epoch, item index, ...) into one 63-bit seed.

    Uses ``numpy.random.SeedSequence`` so that nearby inputs give unrelated
    seeds; the result is the same on every platform and process.
    """
    state = np.random.SeedSequence([int(p) for p in parts]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed ``random`` and NumPy in each worker from torch's seed."""
    import torch

    worker_seed = torch.initial_seed() % 2**32
    random.seed(worker_seed)
    np.random.seed(worker_seed)  # noqa: NPY002


@contextlib.contextmanager
def preserve_determinism_flags() -> Iterator[None]:
    """Restore PyTorch's deterministic-algorithm and cuDNN flags on leaving the block.

    :func:`set_determinism` sets process-wide flags (and
    ``CUBLAS_WORKSPACE_CONFIG``); ``fit_model`` wraps
    training in this so that code running after it (a dashboard, other
    tests) gets the flags it had before.
    """
    import torch

    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    cublas = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic = saved[2]
        torch.backends.cudnn.benchmark = saved[3]
        if cublas is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = cublas
