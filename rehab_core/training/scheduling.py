"""Which GPUs a training job uses, with what batch and learning rate: the policy, in one place.

:func:`schedule_job` is a pure decision over the devices this machine has
(:func:`~rehab_core.training.devices.list_devices`) and those other jobs
hold; the Retrain page shows its :attr:`JobSchedule.lines` and the runner
starts the job with its :attr:`JobSchedule.launch`.

The policy
----------
* **One GPU per job** (``device="cuda"``, and ``"auto"`` when only one GPU
  is free): the free GPU with the most free memory, the job's process
  pinned to it through ``CUDA_VISIBLE_DEVICES``.  These cohorts are small:
  one GPU trains a member in minutes, and DistributedDataParallel would
  mostly add start-up and gradient exchange.  The ensemble's members
  (folds x models) train one after another on that GPU, so other GPUs
  stay free for other work.
* **By default the folds spread over the free GPUs** (``device="auto"``
  with two or more free GPUs and two or more folds, as ``"folds"``):
  rather than one GPU training every member while the others idle.
  Without a free GPU ``"auto"`` is Apple MPS, else the CPU, as before.
* **Folds side by side** (``device="folds"``, or ``"auto"`` as above): the
  job gets the free GPUs, as many as it has folds; fold ``f`` trains on GPU ``f mod N``
  (one fold per GPU at a time, round-robin when there are more folds than
  GPUs), each GPU in its own process pinned to it, so ``N`` members train
  at once.  Each member is a whole model on one GPU: its batch is the
  global batch, as set.
* **DistributedDataParallel only when asked** (``device="ddp"``): torchrun
  over the free GPUs, as many as divide every global batch size evenly.
* **The global batch is kept as set**: under DDP each of the ``W`` processes
  reads ``batch / W`` items per step (``fit_model`` splits it), so a job
  trains with the same batch (the paper's 16 slices and 32 windows) on one
  GPU, eight GPUs or the CPU.
* **The learning rate is used as set**: since the global batch does not
  change with the number of GPUs, neither does the learning rate.  Who
  changes the batch size changes the recipe; the linear rule
  (``lr * new_batch / old_batch``) is the usual first guess and is not
  applied for you.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from rehab_core.training import devices as _devices
from rehab_core.training.devices import DeviceInfo, LaunchPlan, launch_plan

__all__ = ["JOB_DEVICES", "FoldSlot", "JobSchedule", "assign_folds", "schedule_job"]

JOB_DEVICES = ("auto", "cuda", "ddp", "folds", "cpu", "mps")
"""Device choices of a job besides a named GPU (``"cuda:1"``)."""


@dataclasses.dataclass(frozen=True)
class FoldSlot:
    """One process of a ``"folds"`` job: the folds it trains, one after another, and where.

    Attributes
    ----------
    folds : tuple of int
        Fold numbers (from 0), in the order they train.
    launch : LaunchPlan
        A one-GPU plan: ``launch.env`` pins the process to its GPU, which it
        then sees as ``launch.device`` (``"cuda:0"``).
    """

    folds: tuple[int, ...]
    launch: LaunchPlan

    def to_dict(self) -> dict[str, Any]:
        return {"folds": list(self.folds), "launch": self.launch.to_dict()}


def assign_folds(n_folds: int, n_devices: int) -> list[tuple[int, ...]]:
    """Fold ``f`` on device ``f % n_devices``: one fold per device, round-robin beyond that.

    Returns one tuple of folds per device that gets any (``min(n_folds,
    n_devices)`` of them), e.g. 5 folds on 2 devices: ``[(0, 2, 4), (1, 3)]``.
    """
    for name, n in (("n_folds", n_folds), ("n_devices", n_devices)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"{name}={n!r} must be a whole number of at least 1.")
    used = min(n_folds, n_devices)
    return [tuple(range(d, n_folds, used)) for d in range(used)]


@dataclasses.dataclass(frozen=True)
class JobSchedule:
    """How one training job uses this machine.

    Attributes
    ----------
    mode : {"gpu", "ddp", "mps", "cpu"}
        One pinned GPU, DistributedDataParallel over several, Apple MPS or
        the CPU.
    launch : LaunchPlan
        How the runner starts the job's process(es).
    world_size : int
        Training processes (GPUs under DDP, else 1).
    global_batch : dict of str to int
        Items per optimiser step over all processes, per kind of model
        (``"signal"`` windows, ``"image"`` slices): as set.
    per_process_batch : dict of str to int
        Items each process reads per step: ``global_batch / world_size``.
    lr : float
        The learning rate, as set.
    lines : tuple of str
        The decision in plain sentences, for the page.
    fold_slots : tuple of FoldSlot
        ``mode="folds"`` only: the processes that train the folds side by
        side, one per GPU (``launch`` is then the job's main process, pinned
        to the first of them, which preprocesses once and evaluates the
        ensemble at the end).
    """

    mode: str
    launch: LaunchPlan
    world_size: int
    global_batch: dict[str, int]
    per_process_batch: dict[str, int]
    lr: float
    lines: tuple[str, ...]
    fold_slots: tuple[FoldSlot, ...] = ()

    @property
    def label(self) -> str:
        return self.lines[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "launch": self.launch.to_dict(),
            "world_size": self.world_size,
            "global_batch": dict(self.global_batch),
            "per_process_batch": dict(self.per_process_batch),
            "lr": self.lr,
            "lines": list(self.lines),
            "fold_slots": [slot.to_dict() for slot in self.fold_slots],
        }


def _free_gpus(devices: Sequence[DeviceInfo], busy: Collection[str]) -> list[DeviceInfo]:
    """CUDA GPUs not held by another job, the most free memory first (then by index)."""
    gpus = [d for d in devices if d.kind == "cuda" and d.torch_device not in busy]
    return sorted(
        gpus,
        key=lambda d: (-(d.free_memory_gib if d.free_memory_gib is not None else -1.0), d.index),
    )


def _batches_text(batches: Mapping[str, int]) -> str:
    unit = {"signal": "windows", "image": "slices"}
    return " and ".join(f"{n} {unit.get(kind, kind + ' items')}" for kind, n in batches.items())


def schedule_job(
    device: str = "auto",
    *,
    batch_sizes: Mapping[str, int] | None = None,
    lr: float = 1e-3,
    n_members: int | None = None,
    n_folds: int = 5,
    devices: Sequence[DeviceInfo] | None = None,
    busy: Collection[str] = (),
) -> JobSchedule:
    """Decide the GPUs, processes, batch per process and learning rate of a training job.

    Parameters
    ----------
    device : str
        The job's choice: ``"auto"`` (the folds side by side over the free
        GPUs when two or more are free, else a free GPU, else MPS, else the CPU),
        ``"cuda"`` (a free GPU; refused without one), ``"cuda:K"`` (GPU K as
        :func:`list_devices` numbers it), ``"ddp"`` (DistributedDataParallel
        over the free GPUs), ``"folds"`` (the folds side by side, one per
        free GPU), ``"mps"`` or ``"cpu"``.
    batch_sizes : mapping of str to int, optional
        Global batch per kind of model; default the paper's
        ``{"signal": 32, "image": 16}``.
    lr : float
        The learning rate the job was given.
    n_members : int, optional
        Ensemble members (folds x models) the job trains, for the text.
    n_folds : int
        Cross-validation folds of the job (``"folds"`` spreads them; the
        default is :class:`ExperimentSettings`'s).
    devices : sequence of DeviceInfo, optional
        Default :func:`list_devices` (read through NVML: no CUDA context).
    busy : collection of str
        ``torch_device`` names of GPUs that other jobs hold.

    Returns
    -------
    JobSchedule

    Raises
    ------
    ValueError
        One sentence: an unknown choice, a GPU that is missing or busy, DDP
        with fewer than two free GPUs or a batch no two of them can share,
        ``"folds"`` without a free GPU.
    """
    batches = dict(batch_sizes or {"signal": 32, "image": 16})
    for kind, n in batches.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"batch_sizes[{kind!r}]={n!r} must be a whole number of at least 1.")
    devices = list(_devices.list_devices() if devices is None else devices)
    free = _free_gpus(devices, busy)
    n_gpus = sum(d.kind == "cuda" for d in devices)
    members = f"its {n_members} members" if n_members else "its members"

    if device == "ddp":
        return _ddp_schedule(free, devices, batches, lr, members, n_gpus)

    if device == "folds":
        return _folds_schedule(free, devices, batches, lr, members, n_gpus, n_folds)

    if device == "auto" and len(free) > 1 and n_folds > 1:
        note = (
            f"Chosen by 'auto' because {len(free)} GPUs are free; choose 'cuda' to train on one "
            "GPU and leave the others free for other work."
        )
        return _folds_schedule(free, devices, batches, lr, members, n_gpus, n_folds, note)

    if device in ("auto", "cuda"):
        if free:
            return _one_gpu(free[0], devices, batches, lr, members, n_gpus)
        if device == "cuda" or n_gpus:
            if n_gpus:
                raise ValueError(
                    f"every one of this machine's {n_gpus} GPU(s) is held by another job; "
                    "wait for it to finish or choose 'cpu'."
                )
            raise ValueError("device='cuda' but this machine has no CUDA GPU; choose 'auto'.")
        plan = launch_plan(0, available=devices)
        mode = "mps" if plan.kind == "mps" else "cpu"
        return _schedule(
            mode,
            plan,
            1,
            batches,
            batches,
            lr,
            [f"One process on {plan.label}: no CUDA GPU.", f"Batch: {_batches_text(batches)}."],
            members,
        )

    if device in ("cpu", "mps"):
        plan = launch_plan(0, allow_mps=device == "mps", available=devices)
        if plan.kind != device:
            raise ValueError("device='mps' but Apple MPS is not available; choose 'cpu'.")
        return _schedule(
            device,
            plan,
            1,
            batches,
            batches,
            lr,
            [f"One process on {plan.label}.", f"Batch: {_batches_text(batches)}."],
            members,
        )

    if isinstance(device, str) and device.startswith("cuda:") and device[5:].isdigit():
        wanted = [d for d in devices if d.torch_device == device]
        if not wanted:
            raise ValueError(
                f"device={device!r} is not on this machine; it has {n_gpus} CUDA GPU(s)."
            )
        if device in busy:
            raise ValueError(
                f"{device} is held by another job; choose another GPU or wait for it to finish."
            )
        return _one_gpu(wanted[0], devices, batches, lr, members, n_gpus)

    raise ValueError(
        f"device={device!r} is not a job device; choose 'auto', 'cuda', 'cuda:0'..., 'ddp', "
        f"'folds', 'mps' or 'cpu'."
    )


def _ddp_schedule(
    free: list[DeviceInfo],
    devices: Sequence[DeviceInfo],
    batches: dict[str, int],
    lr: float,
    members: str,
    n_gpus: int,
) -> JobSchedule:
    """``device="ddp"``: the most free GPUs that divide every batch, as one DDP job."""
    if len(free) < 2:
        raise ValueError(
            f"device='ddp' needs at least two free GPUs, but {len(free)} of this machine's "
            f"{n_gpus} are free; choose 'auto' for one GPU."
        )
    usable = [k for k in range(len(free), 1, -1) if all(n % k == 0 for n in batches.values())]
    if not usable:
        raise ValueError(
            f"the batch sizes ({_batches_text(batches)}) cannot be split evenly over two or "
            f"more GPUs; choose even batch sizes or 'auto' for one GPU."
        )
    world = usable[0]
    chosen = sorted(free[:world], key=lambda d: d.index)
    plan = launch_plan(chosen, allow_mps=False, available=devices)
    per = {k: n // world for k, n in batches.items()}
    lines = [
        f"{world} GPUs as one (DistributedDataParallel through torchrun): "
        + ", ".join(f"GPU {d.index}" for d in chosen)
        + ".",
        f"Global batch as set: {_batches_text(batches)}; each GPU reads "
        f"{_batches_text(per)} per step.",
    ]
    if world < len(free):
        lines.append(
            f"{len(free) - world} free GPU(s) left out: {world} is the most that divides "
            f"every batch size evenly."
        )
    return _schedule("ddp", plan, world, batches, per, lr, lines, members)


def _folds_schedule(
    free: list[DeviceInfo],
    devices: Sequence[DeviceInfo],
    batches: dict[str, int],
    lr: float,
    members: str,
    n_gpus: int,
    n_folds: int,
    note: str | None = None,
) -> JobSchedule:
    """``device="folds"``: the folds side by side, one process pinned to each free GPU.

    ``note`` (a sentence) follows the plan in the lines: why ``"auto"`` chose it.
    """
    if not free:
        raise ValueError(
            f"device='folds' needs a free GPU, but none of this machine's {n_gpus} is free; "
            "choose 'cpu'."
        )
    groups = assign_folds(n_folds, len(free))
    chosen = sorted(free[: len(groups)], key=lambda d: d.index)
    slots = tuple(
        FoldSlot(folds=folds, launch=launch_plan([gpu], allow_mps=False, available=devices))
        for folds, gpu in zip(groups, chosen, strict=True)
    )
    lines = [
        f"The {n_folds} folds side by side on {len(chosen)} GPU(s), one process pinned to "
        "each: "
        + "; ".join(
            f"GPU {gpu.index} trains fold{'s' if len(f) > 1 else ''} "
            + ", ".join(str(k + 1) for k in f)
            for f, gpu in zip(groups, chosen, strict=True)
        )
        + ".",
        f"Batch on each GPU: {_batches_text(batches)} (each fold's models are whole on "
        "their GPU, so the batch is the one set).",
    ]
    if len(free) > len(chosen):
        lines.append(
            f"{len(free) - len(chosen)} free GPU(s) stay free: there is no fold left for them."
        )
    if note:
        lines.append(note)
    schedule = _schedule("folds", slots[0].launch, 1, batches, batches, lr, lines, members)
    return dataclasses.replace(schedule, fold_slots=slots)


def _one_gpu(
    gpu: DeviceInfo,
    devices: Sequence[DeviceInfo],
    batches: dict[str, int],
    lr: float,
    members: str,
    n_gpus: int,
) -> JobSchedule:
    plan = launch_plan([gpu], allow_mps=False, available=devices)
    lines = [
        f"One GPU: {gpu.label}; the job's process sees only this GPU.",
        f"Batch: {_batches_text(batches)}; {members} train one after another on it.",
    ]
    if n_gpus > 1:
        lines.append(
            f"The machine's other {n_gpus - 1} GPU(s) stay free for other jobs; choose 'folds' "
            "to train the folds side by side on them, or 'ddp' to train each model over several "
            "GPUs at once."
        )
    return _schedule("gpu", plan, 1, batches, batches, lr, lines, members)


def _schedule(
    mode: str,
    plan: LaunchPlan,
    world: int,
    batches: dict[str, int],
    per: dict[str, int],
    lr: float,
    lines: list[str],
    members: str,
) -> JobSchedule:
    lines.append(
        f"Learning rate {lr:g} as set: the global batch does not change with the number of "
        "GPUs, so neither does the learning rate (if you change the batch size, scaling lr by "
        "the same factor is the usual first guess; it is not done for you)."
    )
    return JobSchedule(
        mode=mode,
        launch=plan,
        world_size=world,
        global_batch=dict(batches),
        per_process_batch=dict(per),
        lr=float(lr),
        lines=tuple(lines),
    )
