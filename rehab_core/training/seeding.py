"""Reproducibility: one seed for Python, NumPy and PyTorch."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np

__all__ = ["derive_seed", "preserve_determinism_flags", "seed_everything", "seed_worker"]


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed Python's ``random``, NumPy's global generator and PyTorch (CPU and every GPU).

    Parameters
    ----------
    seed : int
        A non-negative integer below 2**32.
    deterministic : bool
        Also ask PyTorch for deterministic algorithms: cuDNN autotuning off,
        deterministic cuDNN kernels, and
        ``torch.use_deterministic_algorithms(True, warn_only=True)`` (an
        operation with no deterministic version warns instead of failing).
        These flags are process-wide.  On CPU this makes a run repeat bit for
        bit with the same thread count; on CUDA some kernels may still vary.

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
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)


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

    :func:`seed_everything` sets process-wide flags; ``fit_model`` wraps
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
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic = saved[2]
        torch.backends.cudnn.benchmark = saved[3]
