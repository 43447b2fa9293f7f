"""DistributedDataParallel plumbing, detected from the ``torchrun`` environment.

``fit_model`` calls :func:`setup_distributed` itself: started by ``torchrun``
(which sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``) it joins the process
group (NCCL on CUDA, Gloo on CPU) and trains with DDP; started as a plain
process it trains on one device.  Users have no separate code path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from rehab_core.training.settings import select_device

if TYPE_CHECKING:
    import torch

__all__ = ["DistributedContext", "distributed_env", "setup_distributed"]


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
    owns_group: bool = False

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

    def close(self) -> None:
        """Leave the process group if :func:`setup_distributed` created it."""
        if self.owns_group:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
            self.owns_group = False

    def _comm_device(self) -> torch.device:
        import torch

        return self.device if self.backend == "nccl" else torch.device("cpu")


def setup_distributed(device: str = "auto") -> DistributedContext:
    """Join the torchrun process group if there is one and pick this rank's device.

    Parameters
    ----------
    device : str
        As :attr:`TrainSettings.device`.  Under DDP, a CUDA choice becomes
        ``cuda:LOCAL_RANK``.

    Returns
    -------
    DistributedContext
        Call :meth:`DistributedContext.close` when done; it destroys the
        process group only if this call created it (a group the caller
        initialised is left alone).
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
    owns = False
    if not already:
        backend = "nccl" if chosen.type == "cuda" else "gloo"
        # a lost peer must end the run with an error, not leave the others waiting forever
        timeout_s = float(os.environ.get("REHAB_DDP_TIMEOUT_S", "900"))
        dist.init_process_group(
            backend=backend, init_method="env://", timeout=timedelta(seconds=timeout_s)
        )
        owns = True
    backend = dist.get_backend()
    world_size = dist.get_world_size()
    return DistributedContext(
        rank=dist.get_rank() if world_size > 1 else 0,
        local_rank=local_rank,
        world_size=world_size,
        device=chosen,
        backend=backend,
        owns_group=owns,
    )
