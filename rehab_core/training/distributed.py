"""DistributedDataParallel plumbing, detected from the ``torchrun`` environment.

One process group per process. A process that ``torchrun`` starts (the job
worker, ``rehab train``, the DDP smoke check) wraps its work in
:func:`distributed_process`: the group is created once at the start, every
:func:`~rehab_core.training.fit_model` call in between trains over it, and the
end of the block frees it, before the interpreter shuts down. ``fit_model``
called under torchrun outside such a block joins the group itself, keeps it for
the rest of the process and frees it at exit. Started as a plain process,
everything trains on one device and nothing here imports torch.distributed.

Why once per process: a job trains ten or more models; a new group per fit
would meet the previous group's keys on the same torchrun store (a race).

Why the teardown is explicit and checked: ``destroy_process_group`` only drops
the references that ``torch.distributed`` keeps. Anything else that still holds
the group keeps it, and Gloo's worker threads, alive until the interpreter
exits, where their teardown aborted a rank at random ("terminate called without
an active exception"). The holder was ``torch.distributed.nn.functional``, which
DDP imports on first use: its functions take ``group=group.WORLD`` as a default
argument, evaluated at import, so imported while a group exists they keep that
group for good. :func:`setup_distributed` therefore imports it *before* it
creates the group, and :func:`shutdown_distributed` collects garbage (a DDP
wrapper held by a reference cycle, e.g. through a traceback) before destroying
the group and then checks that the group is really gone.
"""

from __future__ import annotations

import atexit
import os
import warnings
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from rehab_core.training.settings import select_device

if TYPE_CHECKING:
    import torch

__all__ = [
    "DistributedContext",
    "distributed_env",
    "distributed_process",
    "setup_distributed",
    "shutdown_distributed",
]


@dataclass
class _OwnedGroup:
    """The process group :func:`setup_distributed` created for this process."""

    backend: str
    device_type: str
    ref: Any  # weakref.ref to the ProcessGroup, to check that destroying it freed it


_OWNED: _OwnedGroup | None = None
_ATEXIT_REGISTERED = False


def distributed_env() -> tuple[int, int, int] | None:
    """Return ``(rank, local_rank, world_size)`` from the torchrun variables, or None.

    None means a single process: ``WORLD_SIZE`` unset or 1.
    """
    world = os.environ.get("WORLD_SIZE")
    if world is None or int(world) <= 1:
        return None
    missing = [name for name in ("RANK", "LOCAL_RANK") if name not in os.environ]
    if missing:
        raise RuntimeError(
            f"WORLD_SIZE={world} is set but {', '.join(missing)} is not; start distributed "
            f"training with torchrun (python -m torch.distributed.run)."
        )
    return int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"]), int(world)


@dataclass
class DistributedContext:
    """Where this process stands: rank, world size and its compute device.

    ``world_size == 1`` is the ordinary single-process case; every
    collective below is then a no-op.
    """

    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    backend: str | None = None

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only rank that writes checkpoints and reports progress."""
        return self.rank == 0

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Return the element-wise sum of ``tensor`` over all ranks (a new tensor)."""
        return self._all_reduce(tensor, "sum")

    def all_reduce_max(self, tensor: torch.Tensor) -> torch.Tensor:
        """Return the element-wise maximum of ``tensor`` over all ranks (a new tensor)."""
        return self._all_reduce(tensor, "max")

    def _all_reduce(self, tensor: torch.Tensor, op: str) -> torch.Tensor:
        out = tensor.clone()
        if not self.is_distributed:
            return out
        import torch.distributed as dist

        reduce_op = dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX
        work = out.to(self._comm_device())
        dist.all_reduce(work, op=reduce_op)
        return work.to(tensor.device)

    def broadcast_buffers(self, module: torch.nn.Module) -> None:
        """Copy rank 0's buffers (e.g. BatchNorm running statistics) to every rank."""
        if not self.is_distributed:
            return
        import torch.distributed as dist

        for buffer in module.buffers():
            dist.broadcast(buffer.data, src=0)

    def barrier(self) -> None:
        if self.is_distributed:
            import torch.distributed as dist

            dist.barrier()

    def _comm_device(self) -> torch.device:
        import torch

        return self.device if self.backend == "nccl" else torch.device("cpu")


def setup_distributed(device: str = "auto") -> DistributedContext:
    """This process's place in the torchrun process group, and its device for ``device``.

    The first call under torchrun creates the group (NCCL on CUDA, Gloo
    otherwise); every later call, i.e. every further fit, reuses it. A group
    the caller created with ``torch.distributed.init_process_group`` is used
    and left to the caller. Without torchrun and without a group: one process.

    Parameters
    ----------
    device : str
        As :attr:`TrainSettings.device`. Under DDP, a CUDA choice becomes
        ``cuda:LOCAL_RANK``.

    Returns
    -------
    DistributedContext
        Nothing to close: :func:`shutdown_distributed` (or the end of
        :func:`distributed_process`, or interpreter exit) frees the group.
    """
    import torch
    import torch.distributed as dist

    already = dist.is_available() and dist.is_initialized()
    env = distributed_env()
    if env is None and not already:
        return DistributedContext(rank=0, local_rank=0, world_size=1, device=select_device(device))
    if not dist.is_available():
        raise RuntimeError(
            "torch.distributed is not available in this PyTorch build; run without torchrun."
        )
    local_rank = env[1] if env is not None else int(os.environ.get("LOCAL_RANK", "0"))
    chosen = select_device(device)
    if chosen.type == "cuda":
        if chosen.index is None:
            chosen = torch.device("cuda", local_rank)
        torch.cuda.set_device(chosen)
    elif chosen.type == "mps":
        raise ValueError("distributed training on MPS is not supported; use device='cpu' or CUDA.")
    if not already:
        _create_group("nccl" if chosen.type == "cuda" else "gloo", chosen.type)
    elif _OWNED is not None and _OWNED.backend == "nccl" and chosen.type != "cuda":
        raise ValueError(
            f"this process trains over an NCCL process group (created for {_OWNED.device_type}), "
            f"which cannot reduce tensors on {chosen.type}; train every model of the job on the "
            f"same kind of device."
        )
    backend = dist.get_backend()
    world_size = dist.get_world_size()
    return DistributedContext(
        rank=dist.get_rank() if world_size > 1 else 0,
        local_rank=local_rank,
        world_size=world_size,
        device=chosen,
        backend=backend,
    )


def _create_group(backend: str, device_type: str) -> None:
    """Create the default process group for the rest of this process (freed at exit at latest)."""
    global _OWNED, _ATEXIT_REGISTERED
    import torch.distributed as dist

    # Imported before the group exists, so that its ``group=group.WORLD`` defaults are None
    # rather than this group, which they would otherwise keep alive past its destruction.
    import torch.distributed.nn  # noqa: F401

    # a lost peer must end the run with an error, not leave the others waiting forever
    timeout_s = float(os.environ.get("REHAB_DDP_TIMEOUT_S", "900"))
    dist.init_process_group(
        backend=backend, init_method="env://", timeout=timedelta(seconds=timeout_s)
    )
    _OWNED = _OwnedGroup(
        backend=backend,
        device_type=device_type,
        ref=weakref.ref(dist.group.WORLD),
    )
    if not _ATEXIT_REGISTERED:
        # the safety net for a fit_model call outside distributed_process: atexit runs
        # while the interpreter is whole, unlike the destructors of its last objects
        atexit.register(shutdown_distributed)
        _ATEXIT_REGISTERED = True


def shutdown_distributed() -> bool:
    """Free the process group that :func:`setup_distributed` created; a no-op otherwise.

    Garbage is collected first, so that a DDP wrapper held only by a reference
    cycle lets go of the group while it still exists; then the group is
    destroyed, which joins its communication threads here rather than at
    interpreter exit. A group the caller created is left alone.

    Returns
    -------
    bool
        True if no group of ours is left; False (with a RuntimeWarning) if
        something still references the destroyed group, whose threads then
        live on until the interpreter exits.
    """
    global _OWNED
    if _OWNED is None:
        return True
    import gc

    import torch.distributed as dist

    owned, _OWNED = _OWNED, None
    gc.collect()
    if dist.is_initialized():
        dist.destroy_process_group()
    gc.collect()
    if owned.ref() is None:
        return True
    warnings.warn(
        "the process group is still referenced after destroy_process_group, so its "
        "communication threads live on until the interpreter exits (where their teardown can "
        "abort the process); a module that binds torch.distributed.group.WORLD at import was "
        "probably imported after the group was created.",
        RuntimeWarning,
        stacklevel=2,
    )
    return False


@contextmanager
def distributed_process(device: str = "auto") -> Iterator[DistributedContext | None]:
    """The process group of a process entry point: created at the start, freed at the end.

    Under torchrun, creates the group for ``device`` (as :func:`setup_distributed`)
    and yields its context; every ``fit_model`` inside reuses it; leaving the
    block frees it (:func:`shutdown_distributed`), also after an exception.
    Without torchrun it yields None and imports nothing.

    Examples
    --------
    >>> with distributed_process(settings.device):  # doctest: +SKIP
    ...     train_experiment(cohort, out, settings)
    """
    if distributed_env() is None:
        yield None
        return
    try:
        yield setup_distributed(device)
    finally:
        shutdown_distributed()
