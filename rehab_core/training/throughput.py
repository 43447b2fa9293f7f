"""Timing of training steps: the measurement behind time estimates and benchmarks.

One *training step* is what :func:`~rehab_core.training.fit_model` does per
batch: forward (under the same mixed-precision rule: fp16 autocast on CUDA,
full precision elsewhere), BCE-with-logits loss, backward, Adam step (fused
on CUDA, as in the loop); the loop does not read the loss back per batch, so
neither does the step (the device is synchronised only around the timing).
An *evaluation step* is the validation forward pass under
``torch.inference_mode``.  Both run on random tensors already on the device,
so they are the model's ceiling without data cost; :func:`time_data_batches`
measures that cost separately, through the training loop's own DataLoader and
per-batch augmentation on the device (:func:`time_data_path` splits it into
its parts).

    from rehab_core.training.throughput import measure_model_steps

    timing = measure_model_steps("shufflenet", device="cpu", steps=2)
    timing.train_s_per_step, timing.items_per_s
"""

from __future__ import annotations

import dataclasses
import statistics
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from rehab_core._validation import check_int

if TYPE_CHECKING:
    import torch

__all__ = [
    "IMAGE_BATCH_SIZE",
    "IMAGE_SHAPE",
    "SIGNAL_BATCH_SIZE",
    "StepTiming",
    "build_timing_model",
    "clear_timing_cache",
    "input_shape",
    "measure_model_steps",
    "synthetic_dataset",
    "time_data_batches",
    "time_data_path",
    "time_eval_steps",
    "time_training_steps",
]

SIGNAL_BATCH_SIZE = 32
"""Windows per batch for the LSTM (the paper's)."""
IMAGE_BATCH_SIZE = 16
"""Slices per batch for the image backbones (the paper's)."""
IMAGE_SHAPE = (3, 224, 224)
"""One slice as the image models read it: three maps, 224 x 224."""


def _synchronize(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def time_training_steps(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int,
    warmup: int = 1,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
) -> list[float]:
    """Seconds of each of ``steps`` timed training steps, after ``warmup`` untimed ones.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``x`` to logits ``(batch, 1)``; moved to ``device``, put in
        training mode and updated (use a throw-away model).
    x : Tensor, shape (batch, ...)
        Input batch, already on ``device``.
    y : Tensor of float, shape (batch,)
        Targets (0 or 1), on ``device``.
    steps, warmup : int
        Timed and untimed steps.  The first step on a device pays one-off
        costs (allocation, cuDNN autotuning), hence the warm-up.
    device : torch.device
    amp_dtype : torch.dtype or None
        Autocast dtype (:func:`~rehab_core.training.resolve_amp`); fp16 uses a
        ``GradScaler`` as the training loop does.  None: full precision.

    Returns
    -------
    list of float
        Wall seconds per timed step (the device is synchronised around each).
    """
    import torch

    if steps < 1 or warmup < 0:
        raise ValueError(f"steps={steps!r} must be at least 1 and warmup={warmup!r} at least 0.")
    model.to(device).train()
    fused = {"fused": True} if device.type == "cuda" else {}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, **fused)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    times = []
    for i in range(warmup + steps):
        _synchronize(device)
        t0 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(
            device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None
        ):
            logits = model(x)[:, 0]
        loss = loss_fn(logits.float(), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        _synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def time_eval_steps(
    model: torch.nn.Module,
    x: torch.Tensor,
    *,
    steps: int,
    warmup: int = 1,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
) -> list[float]:
    """Seconds of each of ``steps`` validation forward passes (inference mode).

    Parameters are those of :func:`time_training_steps`, without targets.
    """
    import torch

    if steps < 1 or warmup < 0:
        raise ValueError(f"steps={steps!r} must be at least 1 and warmup={warmup!r} at least 0.")
    model.to(device).eval()
    times = []
    with torch.inference_mode():
        for i in range(warmup + steps):
            _synchronize(device)
            t0 = time.perf_counter()
            with torch.autocast(
                device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None
            ):
                logits = model(x)[:, 0]
            torch.sigmoid(logits.float()).cpu()
            _synchronize(device)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    return times


def input_shape(
    name: str, window_shape: tuple[int, int] | None = None, image_size: int = IMAGE_SHAPE[-1]
) -> tuple[int, ...]:
    """The shape of one item of model ``name``: ``window_shape`` for the LSTM, else a slice.

    Parameters
    ----------
    name : str
        A registered model (``rehab_core.models.list_models()``).
    window_shape : (n_chans, n_times), optional
        Needed for the signal model.
    image_size : int
        Side of an image model's slices (``ImagingSettings.image_size``; the paper's 224).
    """
    from rehab_core.models import get_model_info

    if get_model_info(name).kind == "signal":
        if window_shape is None or len(window_shape) != 2 or min(window_shape) < 1:
            raise ValueError(
                f"window_shape={window_shape!r} must be (n_chans, n_times) for the {name} model."
            )
        return (int(window_shape[0]), int(window_shape[1]))
    check_int("image_size", image_size, low=8)
    return (IMAGE_SHAPE[0], int(image_size), int(image_size))


def build_timing_model(name: str, window_shape: tuple[int, int] | None = None) -> torch.nn.Module:
    """A freshly initialised model ``name`` for timing (no pretrained weights: same speed)."""
    from rehab_core.models import create_model, get_model_info

    if get_model_info(name).kind == "signal":
        n_chans, n_times = input_shape(name, window_shape)
        return create_model(name, n_chans=n_chans, n_times=n_times)
    return create_model(name, pretrained=False)


def synthetic_dataset(
    name: str,
    n_items: int,
    *,
    window_shape: tuple[int, int] | None = None,
    n_patients: int = 8,
    augment: bool = True,
    seed: int = 0,
    image_size: int = IMAGE_SHAPE[-1],
) -> Any:
    """A seeded random dataset of ``n_items`` items as the training loop reads for ``name``.

    A :class:`~rehab_core.training.WindowDataset` for the signal model, a
    :class:`~rehab_core.training.SliceDataset` (with the paper's
    augmentation when ``augment``) for an image model; outcomes alternate
    between patients.
    """
    from rehab_core.models import get_model_info
    from rehab_core.training.datasets import SliceAugmentation, SliceDataset, WindowDataset

    shape = input_shape(name, window_shape, image_size)
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((n_items, *shape), dtype=np.float32)
    ids = np.arange(n_items) % n_patients
    labels = {p: p % 2 for p in range(n_patients)}
    if get_model_info(name).kind == "signal":
        return WindowDataset(data, ids, labels)
    return SliceDataset(
        data, ids, labels, augmentation=SliceAugmentation() if augment else None, seed=seed
    )


def _training_loader(dataset: Any, batch_size: int, num_workers: int, device: torch.device):
    """The DataLoader ``fit_model`` builds for training data, shuffled, epoch 1."""
    import torch

    from rehab_core.training.batching import EpochSampler, make_loader
    from rehab_core.training.settings import TrainSettings

    order = EpochSampler(
        torch.utils.data.RandomSampler(dataset, generator=torch.Generator().manual_seed(0))
    )
    order.epoch = 1
    settings = TrainSettings(batch_size=batch_size, num_workers=num_workers)
    return make_loader(dataset, order, batch_size, settings, device, train=True)


def time_data_batches(
    dataset: Any,
    *,
    batch_size: int,
    batches: int = 2,
    device: str | torch.device = "cpu",
) -> list[float]:
    """Seconds per batch of the training loop's data path, for ``batches`` batches.

    What ``fit_model`` does before a step: read a batch through its
    DataLoader (in-process, ``num_workers=0``, the default), copy it to
    ``device`` and, for a :class:`~rehab_core.training.SliceDataset`, augment
    it there.  One untimed batch is read first; ``dataset`` needs
    ``batches + 1`` batches of items.
    """
    return [
        sum(parts)
        for parts in time_data_path(dataset, batch_size=batch_size, batches=batches, device=device)
    ]


def time_data_path(
    dataset: Any,
    *,
    batch_size: int,
    batches: int = 2,
    device: str | torch.device = "cpu",
    num_workers: int = 0,
) -> list[tuple[float, float, float]]:
    """Seconds of each part of the data path per batch: (read, copy to device, augment).

    Parameters
    ----------
    dataset : Dataset
        As ``fit_model``'s ``train_ds``; needs ``batches + 1`` batches of
        items (the first, untimed, starts the workers).
    batch_size : int
    batches : int
        Timed batches.
    device : str or torch.device
        The training device; the copy and the augmentation are timed there
        (synchronised).
    num_workers : int
        DataLoader worker processes, persistent as in the loop; with workers,
        "read" is the wait for the next prepared batch.

    Returns
    -------
    list of (read_s, copy_s, augment_s)
    """
    import torch

    from rehab_core.training.settings import select_device

    dev = device if isinstance(device, torch.device) else select_device(device)
    augment = getattr(dataset, "augment_batch", None) if hasattr(dataset, "read_item") else None
    loader = _training_loader(dataset, batch_size, num_workers, dev)
    times = []
    it = iter(loader)
    next(it)  # untimed: the first batch pays one-off costs (workers, lazy imports, allocation)
    for b in range(1, batches + 1):
        t0 = time.perf_counter()
        try:
            x, _, _ = next(it)
        except StopIteration:
            break
        t1 = time.perf_counter()
        x = x.to(dev, non_blocking=True)
        _synchronize(dev)
        t2 = time.perf_counter()
        if augment is not None:
            x = augment(x, epoch=1, batch=b)
            _synchronize(dev)
        times.append((t1 - t0, t2 - t1, time.perf_counter() - t2))
    del it, loader  # ends persistent workers
    return times


@dataclasses.dataclass(frozen=True)
class StepTiming:
    """Measured seconds per batch of one model on one device.

    Attributes
    ----------
    model : str
    device : str
    input_shape : tuple of int
        One item's shape.
    batch_size : int
    train_s_per_step : float
        Median seconds of a training step (forward, loss, backward, Adam).
    eval_s_per_step : float
        Median seconds of a validation forward pass of a batch.
    data_s_per_batch : float
        Median seconds of the loop's data path per batch: the DataLoader
        read, the copy to the device and, for slices, the augmentation on
        the device.
    steps : int
        Timed steps behind each median.
    amp : str
        ``"off"``, ``"float16"`` or ``"bfloat16"``.
    threads : int
        ``torch.get_num_threads()`` during the measurement.
    """

    model: str
    device: str
    input_shape: tuple[int, ...]
    batch_size: int
    train_s_per_step: float
    eval_s_per_step: float
    data_s_per_batch: float
    steps: int
    amp: str
    threads: int

    @property
    def items_per_s(self) -> float:
        """Training items per second of the bare model (no data loading)."""
        return self.batch_size / self.train_s_per_step

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["input_shape"] = list(self.input_shape)
        out["items_per_s"] = self.items_per_s
        return out


_CACHE: dict[tuple[Any, ...], StepTiming] = {}
_CACHE_LOCK = threading.Lock()


def clear_timing_cache() -> None:
    """Forget the timings :func:`measure_model_steps` kept (e.g. after the load changed)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def measure_model_steps(
    name: str,
    *,
    device: str | torch.device = "auto",
    window_shape: tuple[int, int] | None = None,
    batch_size: int | None = None,
    steps: int = 2,
    warmup: int = 1,
    seed: int = 0,
    image_size: int = IMAGE_SHAPE[-1],
) -> StepTiming:
    """Time training and validation steps and data loading of model ``name`` on ``device``.

    Results are kept for the life of the process, keyed by model, device,
    item shape, batch size, step count and torch thread count, so a page
    asking again gets the same figure at once.

    Parameters
    ----------
    name : str
        A registered model (``rehab_core.models.list_models()``).
    device : str or torch.device
        As :attr:`TrainSettings.device`; never silently replaced.
    window_shape : (n_chans, n_times), optional
        The LSTM's window shape (needed for the signal model only).
    batch_size : int, optional
        Default: 32 windows for the LSTM, 16 slices for image models.
    steps, warmup : int
        Timed and untimed steps of each kind.
    seed : int
        Seed of the random weights and inputs.
    image_size : int
        Side of an image model's slices (a job's ``ImagingSettings.image_size``).

    Returns
    -------
    StepTiming
    """
    import torch

    from rehab_core.models import get_model_info
    from rehab_core.training.settings import resolve_amp, select_device

    dev = device if isinstance(device, torch.device) else select_device(device)
    shape = input_shape(name, window_shape, image_size)
    signal = get_model_info(name).kind == "signal"
    batch = batch_size or (SIGNAL_BATCH_SIZE if signal else IMAGE_BATCH_SIZE)
    key = (name, str(dev), shape, batch, steps, torch.get_num_threads())
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    amp_dtype = resolve_amp("auto", dev)
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_timing_model(name, window_shape)
    x = torch.randn((batch, *shape), generator=gen).to(dev)
    y = (torch.rand(batch, generator=gen) > 0.5).float().to(dev)
    train = time_training_steps(
        model, x, y, steps=steps, warmup=warmup, device=dev, amp_dtype=amp_dtype
    )
    evaluation = time_eval_steps(
        model, x, steps=steps, warmup=min(warmup, 1), device=dev, amp_dtype=amp_dtype
    )
    del model, x, y
    if dev.type == "cuda":  # give the timing's memory back (the caller may be the dashboard)
        torch.cuda.empty_cache()
    data = time_data_batches(
        synthetic_dataset(
            name,
            batch * (steps + 1),
            window_shape=window_shape,
            seed=seed,
            image_size=image_size,
        ),
        batch_size=batch,
        batches=steps,
        device=dev,
    )
    timing = StepTiming(
        model=name,
        device=str(dev),
        input_shape=shape,
        batch_size=batch,
        train_s_per_step=statistics.median(train),
        eval_s_per_step=statistics.median(evaluation),
        data_s_per_batch=statistics.median(data),
        steps=steps,
        amp=str(amp_dtype).replace("torch.", "") if amp_dtype else "off",
        threads=torch.get_num_threads(),
    )
    with _CACHE_LOCK:
        _CACHE[key] = timing
    return timing
