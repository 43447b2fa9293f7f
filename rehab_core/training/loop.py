"""The training loop: Adam, ReduceLROnPlateau, early stopping, checkpoints, DDP.

One function, :func:`fit_model`, trains any binary classifier that maps a
batch to logits ``(batch, 1)`` on datasets whose items are
``(x, y, patient_index)`` (:class:`~rehab_core.training.WindowDataset`,
:class:`~rehab_core.training.SliceDataset`).  The same call runs on one
device or, started by ``torchrun``, on several processes with
DistributedDataParallel.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rehab_core.training._utils import as_logits, augmentation_off
from rehab_core.training.batching import EpochSampler, batch_augmented, make_loader
from rehab_core.training.checkpoint import (
    CheckpointError,
    CheckpointWriter,
    flatten_optimizer_state,
    read_latest_checkpoint,
    unflatten_optimizer_state,
)
from rehab_core.training.devices import gpu_out_of_memory
from rehab_core.training.distributed import DistributedContext, setup_distributed
from rehab_core.training.seeding import (
    derive_seed,
    preserve_determinism_flags,
    seed_everything,
    set_determinism,
)
from rehab_core.training.settings import TrainSettings, resolve_amp

if TYPE_CHECKING:
    import torch

__all__ = ["ProgressCallback", "TrainResult", "fit_model"]

ProgressCallback = Callable[[dict[str, Any]], None]

# Settings that may change when a run is resumed; any other difference is refused.
_RESUMABLE_CHANGES = frozenset({"epochs", "num_workers", "device"})


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What :func:`fit_model` returns (identical on every DDP rank).

    Attributes
    ----------
    history : list of dict
        One dict per epoch: ``epoch`` (1-based), ``train_loss`` and
        ``val_loss`` (mean binary cross-entropy per item), ``val_auc`` (AUC of
        the mean probability per patient; NaN when the validation patients
        hold only one outcome), ``lr`` (the learning rate the epoch trained
        with) and ``seconds`` (wall time of the epoch).
    best_epoch : int
        Epoch with the lowest validation loss; its weights are loaded into
        the model when training ends.
    best_val_loss : float
    best_state : dict of str to Tensor
        The best weights (``state_dict``), on the CPU.
    stopped_early : bool
        True if early stopping ended training before ``settings.epochs``.
    settings : TrainSettings
    device : str
        Device of (rank 0 of) the run.
    world_size : int
        Number of DDP processes (1 without torchrun).
    resumed_from_epoch : int or None
        The checkpoint epoch this call continued from, if any.
    """

    history: list[dict[str, float]]
    best_epoch: int
    best_val_loss: float
    best_state: dict[str, torch.Tensor]
    stopped_early: bool
    settings: TrainSettings
    device: str
    world_size: int
    resumed_from_epoch: int | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the weights)."""
        return {
            "history": [dict(h) for h in self.history],
            "best_epoch": self.best_epoch,
            "best_val_loss": self.best_val_loss,
            "stopped_early": self.stopped_early,
            "settings": self.settings.to_dict(),
            "device": self.device,
            "world_size": self.world_size,
            "resumed_from_epoch": self.resumed_from_epoch,
        }


@dataclasses.dataclass
class _State:
    """Mutable loop state that a checkpoint must carry."""

    epoch: int = 0
    history: list[dict[str, float]] = dataclasses.field(default_factory=list)
    best_val_loss: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    stopped_early: bool = False
    best_state: dict[str, Any] | None = None


def _check_dataset(name: str, ds: Any) -> None:
    if not hasattr(ds, "__getitem__") or not hasattr(ds, "__len__"):
        raise TypeError(f"{name} must be a map-style torch Dataset, got {type(ds).__name__}.")
    if len(ds) == 0:
        raise ValueError(f"{name} is empty; it needs at least one item.")
    item = ds[0]
    if not isinstance(item, tuple) or len(item) != 3:
        raise ValueError(
            f"{name} items must be (x, y, patient_index) tuples, as WindowDataset and SliceDataset "
            f"return; got {type(item).__name__}."
        )


def _autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Mixed precision for ``dtype``; no context at all for full precision."""
    if dtype is None:
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device.type, dtype=dtype)


def _make_optimizer(
    params: Any, settings: TrainSettings, device: torch.device
) -> torch.optim.Optimizer:
    """Adam or AdamW; fused on CUDA, where the gradient scaler then steps without a host sync."""
    import torch

    kind = torch.optim.AdamW if settings.optimizer == "adamw" else torch.optim.Adam
    fused = {"fused": True} if device.type == "cuda" else {}
    return kind(params, lr=settings.lr, weight_decay=settings.weight_decay, **fused)


def _fetch(values: torch.Tensor) -> torch.Tensor:
    """Copy a tensor to the CPU: the loop's only waits for the device.

    Called once per progress report, once at the end of each epoch's
    training and once per validation pass; never per batch otherwise
    (tests count the calls).
    """
    return values.to("cpu")


def _accumulator_dtype(device: torch.device) -> torch.dtype:
    import torch

    return torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64


def _cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def _rng_snapshot() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    import torch

    tensors = {"rng/torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = state
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 - the global generator is saved
    tensors["rng/numpy"] = torch.from_numpy(keys.astype(np.int64))
    version, py_state, gauss_next = random.getstate()
    meta = {
        "numpy": {
            "kind": kind,
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {"version": version, "state": list(py_state), "gauss_next": gauss_next},
    }
    return tensors, meta


def _rng_restore(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(tensors["rng/torch"])
    cuda_states = [
        tensors[f"rng/cuda/{i}"] for i in range(len(tensors)) if f"rng/cuda/{i}" in tensors
    ]
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_states[: torch.cuda.device_count()])
    npm = meta["numpy"]
    keys = tensors["rng/numpy"].numpy().astype(np.uint32)
    np.random.set_state(  # noqa: NPY002
        (npm["kind"], keys, npm["pos"], npm["has_gauss"], npm["cached_gaussian"])
    )
    py = meta["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss_next"]))


def _save(
    writer: CheckpointWriter,
    directory: Path,
    state: _State,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any,
    settings: TrainSettings,
    world_size: int,
) -> None:
    import torch

    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    if state.best_state is not None:
        tensors.update({f"best/{k}": v for k, v in state.best_state.items()})
    optim_tensors, optim_index = flatten_optimizer_state(optimizer.state_dict())
    tensors.update(optim_tensors)
    rng_tensors, rng_meta = _rng_snapshot()
    tensors.update(rng_tensors)
    meta = {
        "model_class": type(model).__name__,
        "settings": settings.to_dict(),
        "world_size": world_size,
        "torch_version": torch.__version__,
        "history": state.history,
        "best_val_loss": state.best_val_loss,
        "best_epoch": state.best_epoch,
        "bad_epochs": state.bad_epochs,
        "stopped_early": state.stopped_early,
        "has_best": state.best_state is not None,
        "optimizer": optim_index,
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "rng": rng_meta,
    }
    writer.submit(directory, state.epoch, tensors, meta)  # written while the next epoch trains


def _restore(
    directory: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any,
    settings: TrainSettings,
    world_size: int,
) -> tuple[_State, dict[str, Any]] | None:
    ckpt = read_latest_checkpoint(directory)
    if ckpt is None:
        return None
    meta = ckpt.meta
    if meta["model_class"] != type(model).__name__:
        raise CheckpointError(
            f"the checkpoint in {directory} was written for a {meta['model_class']}, not a "
            f"{type(model).__name__}; use another checkpoint_dir or resume=False."
        )
    saved = meta["settings"]
    current = settings.to_dict()
    changed = sorted(
        k for k in current if k not in _RESUMABLE_CHANGES and saved.get(k) != current[k]
    )
    if changed:
        detail = ", ".join(f"{k}: {saved.get(k)!r} then, {current[k]!r} now" for k in changed)
        raise CheckpointError(
            f"the checkpoint in {directory} was written with other settings ({detail}); "
            f"use the same settings, another checkpoint_dir or resume=False."
        )
    if meta["world_size"] != world_size:
        warnings.warn(
            f"resuming a run of {meta['world_size']} process(es) with {world_size}; the data order "
            f"differs from an uninterrupted run.",
            RuntimeWarning,
            stacklevel=3,
        )
    t = ckpt.tensors
    model_state = {k[len("model/") :]: v for k, v in t.items() if k.startswith("model/")}
    try:
        model.load_state_dict(model_state)
    except RuntimeError as err:
        raise CheckpointError(
            f"the checkpoint in {directory} does not fit this model ({err}); "
            f"use another checkpoint_dir or resume=False."
        ) from err
    optimizer.load_state_dict(
        unflatten_optimizer_state(t, meta["optimizer"], optimizer.state_dict())
    )
    scheduler.load_state_dict(meta["scheduler"])
    if meta["scaler"]:
        scaler.load_state_dict(meta["scaler"])
    best = (
        {k[len("best/") :]: v for k, v in t.items() if k.startswith("best/")}
        if meta["has_best"]
        else None
    )
    state = _State(
        epoch=ckpt.epoch,
        history=[dict(h) for h in meta["history"]],
        best_val_loss=float(meta["best_val_loss"]),
        best_epoch=int(meta["best_epoch"]),
        bad_epochs=int(meta["bad_epochs"]),
        stopped_early=bool(meta["stopped_early"]),
        best_state=best,
    )
    return state, {"tensors": t, "rng": meta["rng"]}


def _evaluate(
    module: torch.nn.Module,
    loader: Any,
    ctx: DistributedContext,
    amp_dtype: torch.dtype | None,
    max_batches: int | None,
) -> tuple[float, float]:
    """Return (mean BCE per item, patient-level AUC) over all ranks' shards."""
    import torch
    import torch.nn.functional as F

    device = ctx.device
    device_sum = torch.zeros((), dtype=_accumulator_dtype(device), device=device)
    count = 0
    probs, labels, patients = [], [], []
    module.eval()
    with torch.inference_mode():
        for b, (x, y, p) in enumerate(loader, 1):
            if max_batches is not None and b > max_batches:
                break
            x = x.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True).float()
            with _autocast(device, amp_dtype):
                logits = as_logits(module(x), len(x)).float()
            device_sum += F.binary_cross_entropy_with_logits(logits, y, reduction="sum").to(
                device_sum.dtype
            )
            count += len(x)
            probs.append(torch.sigmoid(logits))  # stays on the device until the pass ends
            labels.append(y)
            patients.append(p.long())
    # one transfer for the whole pass
    dt = device_sum.dtype
    flat = _fetch(torch.cat([device_sum.reshape(1), *(t.to(dt) for t in probs + labels)]))
    flat = flat.double()
    loss_sum = flat[0]
    probs = [flat[1 : 1 + count]] if count else []
    labels = [flat[1 + count :]] if count else []
    totals = ctx.all_reduce_sum(
        torch.stack([loss_sum, torch.tensor(float(count), dtype=torch.float64)])
    )
    val_loss = float(totals[0] / totals[1]) if totals[1] > 0 else math.nan
    p_idx = torch.cat(patients) if patients else torch.zeros(0, dtype=torch.long)
    n_patients = int(
        ctx.all_reduce_max(torch.tensor([int(p_idx.max()) + 1 if len(p_idx) else 0]))[0]
    )
    sums = torch.zeros(3, n_patients, dtype=torch.float64)
    if len(p_idx):
        sums[0].index_add_(0, p_idx, torch.cat(probs))
        sums[1].index_add_(0, p_idx, torch.cat(labels))
        sums[2].index_add_(0, p_idx, torch.ones(len(p_idx), dtype=torch.float64))
    sums = ctx.all_reduce_sum(sums)
    seen = sums[2] > 0
    mean_prob = (sums[0][seen] / sums[2][seen]).numpy()
    patient_y = (sums[1][seen] / sums[2][seen]).numpy().round()
    from rehab_core.evaluation import roc_auc

    # NaN when the early-stopping patients hold one outcome only (or none)
    return val_loss, roc_auc(patient_y, mean_prob) if patient_y.size else math.nan


def _per_rank_batch(batch_size: int, world_size: int) -> int:
    if batch_size % world_size:
        raise ValueError(
            f"batch_size={batch_size} cannot be split evenly over {world_size} processes; "
            f"choose a multiple of {world_size} or another number of GPUs."
        )
    return batch_size // world_size


def fit_model(
    model: torch.nn.Module,
    train_ds: Any,
    val_ds: Any,
    settings: TrainSettings | None = None,
    *,
    progress: ProgressCallback | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = True,
    progress_interval_s: float | None = None,
) -> TrainResult:
    """Train a binary outcome classifier with early stopping on the validation loss.

    Binary cross-entropy on logits (``BCEWithLogitsLoss``), Adam (or AdamW),
    ``ReduceLROnPlateau`` on the validation loss after every epoch, early
    stopping with the best weights restored, optional mixed precision on
    CUDA.  Under ``torchrun`` the same call trains with
    DistributedDataParallel over the process's one process group, which the
    entry point creates and frees (:func:`~rehab_core.training.distributed.distributed_process`);
    several calls in a row reuse it (see :mod:`rehab_core.training.distributed`).

    Parameters
    ----------
    model : torch.nn.Module
        Maps a batch ``x`` to logits of shape ``(batch, 1)`` ("good outcome").
        Trained in place: it is moved to the training device and ends with
        the best epoch's weights.
    train_ds, val_ds : Dataset
        Map-style datasets whose items are ``(x, y, patient_index)``, e.g.
        :class:`WindowDataset` or :class:`SliceDataset`.  ``train_ds`` is
        shuffled each epoch (seeded); ``val_ds`` is read in order, without
        augmentation.  A dataset with ``set_epoch`` is told the epoch (in
        the DataLoader workers too).  A dataset with ``read_item`` and
        ``augment_batch`` (:class:`SliceDataset`) is read unaugmented and
        each training batch is augmented on the training device, seeded by
        epoch, batch and rank.
    settings : TrainSettings, optional
        Defaults to ``TrainSettings()`` (the paper's values).
    progress : callable, optional
        Called (on rank 0 only) with an event dict during training
        (``event="batch"``) and after every epoch (``event="epoch"``), each
        with ``epoch``, ``n_epochs``, ``batch``, ``n_batches``, ``loss`` and
        ``eta_s`` (seconds left if all ``n_epochs`` run); ``loss`` is the
        mean loss of the batches since the previous batch event (the batch's
        own loss when every batch is reported), or the epoch's training
        loss.  Epoch events add ``train_loss``, ``val_loss``, ``val_auc``,
        ``lr``, ``seconds``, ``best_epoch`` and ``stopped_early``.  A
        ``"resumed"`` event with ``epoch`` is sent when training continues
        from a checkpoint.  With ``checkpoint_dir``, an epoch's event (and
        any event after it) is sent once that epoch's checkpoint is on disk,
        so a reported epoch is never trained again after a crash.  An
        exception raised by the callback stops training (the last checkpoint
        stays usable).
    checkpoint_dir : path, optional
        Folder for a crash-safe checkpoint after every epoch (rank 0
        writes, in a background thread while the next epoch trains; see
        :class:`~rehab_core.training.checkpoint.CheckpointWriter`).  None:
        no checkpoints.
    resume : bool
        If True and ``checkpoint_dir`` holds a checkpoint, continue after its
        epoch: model, optimiser, scheduler, early-stopping state and random
        number generators are restored, so on the CPU the result equals that
        of an uninterrupted run.  Only ``epochs``, ``num_workers`` and
        ``device`` may differ from the checkpoint's settings.  False: start
        over (older checkpoints in the folder are replaced as epochs finish).
    progress_interval_s : float, optional
        Batch events (and the loss read back from the device with them) at
        most this often, plus the first and last batch of every epoch.
        Reading the loss makes the host wait for the device, so on a GPU
        the default is 1 s; on the CPU, where it costs nothing, every batch
        (0).

    Returns
    -------
    TrainResult

    Raises
    ------
    GPUOutOfMemoryError
        ``"out of GPU memory on GPU k: try a smaller batch or one GPU"``.
    FloatingPointError
        The training or validation loss stopped being finite.

    Notes
    -----
    * The global Python, NumPy and torch generators are seeded from
      ``settings.seed`` at the start (and restored from a checkpoint when
      resuming); the determinism flags (:func:`set_determinism`) are set for
      the run and put back afterwards.
    * The learning-rate schedule is ``ReduceLROnPlateau(mode="min",
      factor=lr_factor, patience=lr_patience, min_lr=min_lr)`` with PyTorch's
      default relative threshold (1e-4); early stopping compares with
      ``min_delta`` instead.
    * No step waits for the device: losses are summed on the device and
      read at progress reports and at the end of the epoch; a non-finite
      loss is noticed there (at most ``progress_interval_s`` late) and named
      with its epoch and batch.  On CUDA the optimiser is fused, so the
      fp16 gradient scaler does not wait either.
    * Under DDP ``settings.batch_size`` stays the global batch: each of the
      ``W`` processes reads ``batch_size / W`` items per step.  Training
      batches are sharded by ``DistributedSampler`` (padded to equal
      length), validation items are split without padding and the loss and
      per-patient probability sums are all-reduced, so every rank sees the
      same metrics, schedule and stopping decision.
    """
    import torch

    settings = TrainSettings() if settings is None else settings
    if not isinstance(settings, TrainSettings):
        raise TypeError(f"settings must be a TrainSettings, got {type(settings).__name__}.")
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    if progress_interval_s is not None and not progress_interval_s >= 0:
        raise ValueError(f"progress_interval_s={progress_interval_s!r} must be 0 or more.")
    _check_dataset("train_ds", train_ds)
    _check_dataset("val_ds", val_ds)
    # the process's group: created by the first fit (or the entry point), reused by the next
    ctx = setup_distributed(settings.device)
    with preserve_determinism_flags():
        try:
            return _fit(
                model,
                train_ds,
                val_ds,
                settings,
                ctx,
                progress,
                checkpoint_dir,
                resume,
                progress_interval_s,
            )
        except torch.cuda.OutOfMemoryError as err:
            raise gpu_out_of_memory(ctx.device) from err


def _fit(
    model: torch.nn.Module,
    train_ds: Any,
    val_ds: Any,
    settings: TrainSettings,
    ctx: DistributedContext,
    progress: ProgressCallback | None,
    checkpoint_dir: str | Path | None,
    resume: bool,
    progress_interval_s: float | None,
) -> TrainResult:
    import torch
    from torch.utils.data.distributed import DistributedSampler

    device = ctx.device
    if device.type == "cuda":
        # this GPU is the process's current one: pinned memory and stray allocations land here
        torch.cuda.set_device(device)
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
    seed_everything(settings.seed, deterministic=False)
    set_determinism(settings.deterministic)
    per_rank_batch = _per_rank_batch(settings.batch_size, ctx.world_size)
    model.to(device)
    net: torch.nn.Module = model
    if ctx.is_distributed:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    optimizer = _make_optimizer(model.parameters(), settings, device)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer,
        mode="min",
        factor=settings.lr_factor,
        patience=settings.lr_patience,
        min_lr=settings.min_lr,
    )
    amp_dtype = resolve_amp(settings.amp, device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    augment = train_ds.augment_batch if batch_augmented(train_ds) else None
    interval = (
        progress_interval_s
        if progress_interval_s is not None
        else (0.0 if device.type == "cpu" else 1.0)
    )

    train_sampler = DistributedSampler(
        train_ds,
        num_replicas=ctx.world_size,
        rank=ctx.rank,
        shuffle=True,
        seed=settings.seed,
        drop_last=False,
    )
    train_order = EpochSampler(train_sampler)
    train_loader = make_loader(train_ds, train_order, per_rank_batch, settings, device, train=True)
    # Validation shards are strided and unpadded, so every item counts once.
    val_order = EpochSampler(list(range(ctx.rank, len(val_ds), ctx.world_size)))
    val_loader = make_loader(val_ds, val_order, per_rank_batch, settings, device, train=False)

    state = _State()
    resumed_from = None
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if folder is not None and resume:
        restored = _restore(folder, model, optimizer, scheduler, scaler, settings, ctx.world_size)
        if restored is not None:
            state, saved = restored
            resumed_from = state.epoch
            _rng_restore(saved["tensors"], saved["rng"])
            if ctx.is_main and progress is not None:
                progress({"event": "resumed", "epoch": state.epoch, "n_epochs": settings.epochs})

    writer = CheckpointWriter()
    try:
        _epochs(
            net,
            model,
            train_ds,
            val_ds,
            settings,
            ctx,
            device,
            progress,
            folder,
            writer,
            state,
            optimizer=optimizer,
            scheduler=scheduler,
            scaler=scaler,
            loss_fn=loss_fn,
            amp_dtype=amp_dtype,
            augment=augment,
            interval=interval,
            train_sampler=train_sampler,
            orders=(train_order, val_order),
            loaders=(train_loader, val_loader),
        )
    except BaseException:
        writer.join(raise_error=False)  # leave the last checkpoint whole; the first error wins
        raise
    writer.join()

    if state.best_state is None:  # unreachable: every finished epoch has a finite validation loss
        raise RuntimeError("training ended without any evaluated epoch.")
    model.load_state_dict(state.best_state)
    ctx.barrier()
    return TrainResult(
        history=state.history,
        best_epoch=state.best_epoch,
        best_val_loss=state.best_val_loss,
        best_state=state.best_state,
        stopped_early=state.stopped_early,
        settings=settings,
        device=str(device),
        world_size=ctx.world_size,
        resumed_from_epoch=resumed_from,
    )


class _Outbox:
    """Progress events, delivered in order; none while a checkpoint is being written.

    So an epoch is reported only once its checkpoint is on disk (a worker
    killed right after the report resumes after that epoch, never before
    it), while training goes on meanwhile: the events wait, not the step.
    """

    def __init__(self, progress: ProgressCallback | None, writer: CheckpointWriter) -> None:
        self.progress = progress
        self.writer = writer
        self.events: list[dict[str, Any]] = []

    def send(self, event: dict[str, Any]) -> None:
        if self.progress is not None:
            self.events.append(event)
            self.flush()

    def flush(self, *, wait: bool = False) -> None:
        if wait:
            self.writer.join()
        if self.writer.busy:
            return
        while self.events:
            self.progress(self.events.pop(0))


def _check_finite(bad_batch: float, bad_loss: float, epoch: int, lr: float) -> None:
    if bad_batch:
        raise FloatingPointError(
            f"the training loss became {bad_loss} at epoch {epoch}, batch {int(bad_batch)}; "
            f"lower lr (now {lr:g}) or check the inputs for NaN."
        )


def _epochs(
    net: torch.nn.Module,
    model: torch.nn.Module,
    train_ds: Any,
    val_ds: Any,
    settings: TrainSettings,
    ctx: DistributedContext,
    device: torch.device,
    progress: ProgressCallback | None,
    folder: Path | None,
    writer: CheckpointWriter,
    state: _State,
    *,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any,
    loss_fn: Any,
    amp_dtype: torch.dtype | None,
    augment: Callable[..., torch.Tensor] | None,
    interval: float,
    train_sampler: Any,
    orders: tuple[EpochSampler, EpochSampler],
    loaders: tuple[Any, Any],
) -> None:
    """The epochs still to run, each: train, all-reduce, validate, schedule, checkpoint, report."""
    import torch

    train_loader, val_loader = loaders
    acc = _accumulator_dtype(device)
    n_batches = len(train_loader)
    if settings.max_train_batches is not None:
        n_batches = min(n_batches, settings.max_train_batches)
    epoch_seconds: list[float] = [h["seconds"] for h in state.history]
    last_epoch = state.epoch if state.stopped_early else settings.epochs
    outbox = _Outbox(progress if ctx.is_main else None, writer)
    for epoch in range(state.epoch + 1, last_epoch + 1):
        t0 = time.perf_counter()
        train_sampler.set_epoch(epoch)
        for order in orders:
            order.epoch = epoch
        train_loader.generator.manual_seed(derive_seed(settings.seed, epoch))
        val_loader.generator.manual_seed(derive_seed(settings.seed, epoch, 1))
        if hasattr(train_ds, "set_epoch"):
            train_ds.set_epoch(epoch)
        lr = float(optimizer.param_groups[0]["lr"])
        net.train()
        # running sums on the device: [epoch loss sum, loss sum since the last report,
        # first non-finite batch (0: none), its loss]
        sums = torch.zeros(4, dtype=acc, device=device)
        n_seen = n_since = 0
        last_report = -math.inf
        for b, (x, y, _) in enumerate(train_loader, 1):
            if b > n_batches:
                break
            x = x.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True).float()
            if augment is not None:
                x = augment(x, epoch=epoch, batch=b, rank=ctx.rank)
            optimizer.zero_grad(set_to_none=True)
            with _autocast(device, amp_dtype):
                logits = as_logits(net(x), len(x))
            loss = loss_fn(logits.float(), y)
            scaler.scale(loss).backward()
            if settings.grad_clip_norm is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip_norm)
            scaler.step(optimizer)
            scaler.update()
            sums = _add_batch_loss(sums, loss, len(x), b, acc)
            n_seen += len(x)
            n_since += len(x)
            now = time.perf_counter()
            if b == 1 or b == n_batches or now - last_report >= interval:
                read = _fetch(sums).tolist()
                _check_finite(read[2], read[3], epoch, lr)
                last_report = time.perf_counter()
                if outbox.progress is not None:
                    outbox.send(
                        _batch_event(
                            epoch,
                            settings.epochs,
                            b,
                            n_batches,
                            read[1] / n_since,
                            last_report - t0,
                            epoch_seconds,
                        )
                    )
                sums[1] = 0.0
                n_since = 0
            outbox.flush()  # events held for a checkpoint leave as soon as it is written
        read = _fetch(sums).tolist()
        _check_finite(read[2], read[3], epoch, lr)
        totals = ctx.all_reduce_sum(torch.tensor([read[0], float(n_seen)], dtype=torch.float64))
        train_loss = float(totals[0] / totals[1])
        ctx.broadcast_buffers(model)
        val_loss, val_auc = _validate(model, val_ds, val_loader, ctx, amp_dtype, settings, epoch)
        scheduler.step(val_loss)
        _track_best(state, model, val_loss, epoch, settings)
        seconds = time.perf_counter() - t0
        epoch_seconds.append(seconds)
        record = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "val_auc": val_auc,
            "lr": lr,
            "seconds": seconds,
        }
        state.history.append(record)
        state.epoch = epoch
        if folder is not None and ctx.is_main:
            outbox.flush(wait=True)  # the previous checkpoint is written: its events go first
            _save(
                writer, folder, state, model, optimizer, scheduler, scaler, settings, ctx.world_size
            )
        if outbox.progress is not None:
            remaining = 0 if state.stopped_early else settings.epochs - epoch
            outbox.send(  # after this epoch's checkpoint is written
                {
                    "event": "epoch",
                    "epoch": epoch,
                    "n_epochs": settings.epochs,
                    "batch": n_batches,
                    "n_batches": n_batches,
                    "loss": train_loss,
                    "eta_s": float(np.mean(epoch_seconds)) * remaining,
                    **{k: v for k, v in record.items() if k != "epoch"},
                    "best_epoch": state.best_epoch,
                    "stopped_early": state.stopped_early,
                }
            )
        if state.stopped_early:
            break
    outbox.flush(wait=True)


def _add_batch_loss(
    sums: torch.Tensor, loss: torch.Tensor, n: int, b: int, acc: torch.dtype
) -> torch.Tensor:
    """``sums`` plus one batch: its loss weighted by ``n`` twice, and batch ``b`` with its
    loss in the first-non-finite slots if no earlier batch filled them (no host sync)."""
    import torch

    value = loss.detach().to(acc)
    first_bad = (sums[2] == 0) & ~torch.isfinite(value)
    weighted = value * n
    return sums + torch.stack(
        [
            weighted,
            weighted,
            torch.where(first_bad, float(b), 0.0).to(acc),
            torch.where(first_bad, value, 0.0),
        ]
    )


def _batch_event(
    epoch: int,
    n_epochs: int,
    b: int,
    n_batches: int,
    loss: float,
    elapsed: float,
    epoch_seconds: list[float],
) -> dict[str, Any]:
    """The progress event after batch ``b``, with the time left for the whole fit."""
    per_epoch = float(np.mean(epoch_seconds)) if epoch_seconds else elapsed / b * n_batches
    eta = elapsed / b * (n_batches - b) + per_epoch * (n_epochs - epoch)
    return {
        "event": "batch",
        "epoch": epoch,
        "n_epochs": n_epochs,
        "batch": b,
        "n_batches": n_batches,
        "loss": loss,
        "eta_s": eta,
    }


def _validate(
    model: torch.nn.Module,
    val_ds: Any,
    val_loader: Any,
    ctx: DistributedContext,
    amp_dtype: torch.dtype | None,
    settings: TrainSettings,
    epoch: int,
) -> tuple[float, float]:
    """Validation loss and AUC with augmentation off; a non-finite loss stops the fit."""
    with augmentation_off(val_ds):
        val_loss, val_auc = _evaluate(model, val_loader, ctx, amp_dtype, settings.max_val_batches)
    if not math.isfinite(val_loss):
        raise FloatingPointError(
            f"the validation loss is {val_loss} at epoch {epoch}; "
            f"check the validation inputs for NaN."
        )
    return val_loss, val_auc


def _track_best(
    state: _State, model: torch.nn.Module, val_loss: float, epoch: int, settings: TrainSettings
) -> None:
    """Keep the best weights so far and decide early stopping (patience on ``min_delta``)."""
    if val_loss < state.best_val_loss - settings.min_delta:
        state.best_val_loss, state.best_epoch, state.bad_epochs = val_loss, epoch, 0
        state.best_state = _cpu_state(model)
    else:
        state.bad_epochs += 1
    state.stopped_early = (
        state.bad_epochs >= settings.early_stopping_patience and epoch < settings.epochs
    )
