"""Compute devices for training: what this machine has, how a job starts, how long it takes.

::

    from rehab_core.training import list_devices, launch_plan, estimate_training_seconds

    for d in list_devices():
        print(d.label)            # "GPU 0: NVIDIA H100 80GB HBM3, 79.1 GiB (compute 9.0)" ...
    plan = launch_plan()          # all GPUs: torchrun for 2+, plain process for 1, else CPU
    cmd = plan.command("-m", "my.worker", "--job", "7")
    est = estimate_training_seconds(
        ["shufflenet"], n_slices=3000, n_windows=5000, window_shape=(22, 25),
        epochs=50, n_folds=5, device=plan.device,
    )
    est.label                     # "at most about 3 h 20 min on cpu (...)"

Nothing here initialises CUDA more than :func:`torch.cuda.get_device_properties`
does; free GPU memory is read only where that costs nothing (see
:func:`list_devices`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rehab_core.training.throughput import StepTiming

__all__ = [
    "DeviceInfo",
    "LaunchPlan",
    "TimeEstimate",
    "estimate_training_seconds",
    "format_duration",
    "launch_plan",
    "list_devices",
]

_GIB = 1024**3
DEVICE_KINDS = ("cuda", "mps", "cpu")


@dataclasses.dataclass(frozen=True)
class DeviceInfo:
    """One device training can run on.

    Attributes
    ----------
    kind : {"cuda", "mps", "cpu"}
    torch_device : str
        The torch device string: ``"cuda:0"``, ``"mps"``, ``"cpu"``.
    name : str
        Model name (GPU name, CPU model name).
    index : int or None
        CUDA device index; None for the CPU and MPS.
    memory_gib : float or None
        Total memory (GPU memory; RAM for the CPU).
    free_memory_gib : float or None
        Free memory when it could be read cheaply (see :func:`list_devices`);
        for the CPU the available RAM.
    compute_capability : str or None
        CUDA compute capability, e.g. ``"9.0"``.
    n_cores : int or None
        CPU: logical cores this process may use; GPU: streaming multiprocessors.
    n_threads : int or None
        CPU: the intra-op threads torch uses now.
    """

    kind: str
    torch_device: str
    name: str
    index: int | None = None
    memory_gib: float | None = None
    free_memory_gib: float | None = None
    compute_capability: str | None = None
    n_cores: int | None = None
    n_threads: int | None = None

    @property
    def label(self) -> str:
        """One human line, e.g. ``"GPU 0: NVIDIA A100, 80.0 GiB (compute 8.0), 79.2 GiB free"``."""
        if self.kind == "cuda":
            text = f"GPU {self.index}: {self.name}"
            if self.memory_gib is not None:
                text += f", {self.memory_gib:.1f} GiB"
            if self.compute_capability:
                text += f" (compute {self.compute_capability})"
            if self.free_memory_gib is not None:
                text += f", {self.free_memory_gib:.1f} GiB free"
            return text
        if self.kind == "mps":
            return f"Apple GPU (MPS): {self.name}"
        parts = [f"CPU: {self.name}"]
        if self.n_cores is not None:
            parts.append(f"{self.n_cores} logical cores")
        if self.n_threads is not None:
            parts.append(f"torch uses {self.n_threads} threads")
        if self.memory_gib is not None:
            parts.append(f"{self.memory_gib:.1f} GiB RAM")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields plus ``label``."""
        return {**dataclasses.asdict(self), "label": self.label}


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown processor"


def _sysconf_gib(pages: str) -> float | None:
    try:
        n = os.sysconf(pages) * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return n / _GIB if n > 0 else None


def _cpu_device() -> DeviceInfo:
    import torch

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count()
    return DeviceInfo(
        kind="cpu",
        torch_device="cpu",
        name=_cpu_name(),
        memory_gib=_sysconf_gib("SC_PHYS_PAGES"),
        free_memory_gib=_sysconf_gib("SC_AVPHYS_PAGES"),
        n_cores=cores,
        n_threads=torch.get_num_threads(),
    )


def _cuda_free_gib(index: int) -> float | None:
    """Free memory of GPU ``index`` if this process already holds a CUDA context, else None.

    :func:`torch.cuda.mem_get_info` creates a context on the device when
    there is none, which keeps some hundreds of MiB of GPU memory for the life
    of the (dashboard) process; that is not cheap, so it is skipped.
    """
    import torch

    if not torch.cuda.is_initialized():
        return None
    try:
        free, _ = torch.cuda.mem_get_info(index)
    except RuntimeError:
        return None
    return free / _GIB


def list_devices() -> list[DeviceInfo]:
    """Every CUDA GPU, Apple MPS if available, and the CPU (always last).

    Returns
    -------
    list of DeviceInfo
        CUDA GPUs in index order with name, total memory, compute capability
        and, when this process already uses CUDA, free memory; then MPS; then
        the CPU with its model name, usable logical cores, torch threads and
        RAM.  A machine without GPUs returns the CPU alone.
    """
    import torch

    devices = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        devices.append(
            DeviceInfo(
                kind="cuda",
                torch_device=f"cuda:{i}",
                name=str(props.name),
                index=i,
                memory_gib=props.total_memory / _GIB,
                free_memory_gib=_cuda_free_gib(i),
                compute_capability=f"{props.major}.{props.minor}",
                n_cores=getattr(props, "multi_processor_count", None),
            )
        )
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append(DeviceInfo(kind="mps", torch_device="mps", name=platform.machine()))
    devices.append(_cpu_device())
    return devices


@dataclasses.dataclass(frozen=True)
class LaunchPlan:
    """How a training job process should be started.

    Attributes
    ----------
    kind : {"torchrun", "cuda", "mps", "cpu"}
        ``"torchrun"``: one process per GPU with DistributedDataParallel;
        otherwise one plain process on that device.
    device : str
        The ``device`` to give :class:`TrainSettings` in the job: ``"cuda"``
        under torchrun (each rank takes ``cuda:LOCAL_RANK``), else e.g.
        ``"cuda:0"``, ``"mps"``, ``"cpu"``.
    n_processes : int
        Processes that train (GPUs used, or 1).
    devices : tuple of DeviceInfo
        The devices the job uses.
    launcher : tuple of str
        The start of the command: ``(python,)`` or ``(python, "-m",
        "torch.distributed.run", "--standalone", "--nproc_per_node", "N")``.
    env : dict of str to str
        Environment variables to add for the job (``CUDA_VISIBLE_DEVICES``
        when only some GPUs are used, ``OMP_NUM_THREADS`` under torchrun).
    """

    kind: str
    device: str
    n_processes: int
    devices: tuple[DeviceInfo, ...]
    launcher: tuple[str, ...]
    env: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def distributed(self) -> bool:
        return self.kind == "torchrun"

    def command(self, *args: str) -> list[str]:
        """The full command: ``launcher`` then ``args`` (e.g. ``"-m", "pkg.worker", ...``)."""
        return [*self.launcher, *args]

    @property
    def label(self) -> str:
        """One human line, e.g. ``"3 GPUs through torchrun (DistributedDataParallel)"``."""
        if self.kind == "torchrun":
            names = sorted({d.name for d in self.devices})
            return (
                f"{self.n_processes} GPUs through torchrun (DistributedDataParallel): "
                f"{', '.join(names)}"
            )
        if self.kind == "cuda":
            return f"one GPU ({self.devices[0].label})"
        if self.kind == "mps":
            return "the Apple GPU (MPS)"
        return f"the CPU ({self.devices[0].label.removeprefix('CPU: ')})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "device": self.device,
            "n_processes": self.n_processes,
            "devices": [d.to_dict() for d in self.devices],
            "launcher": list(self.launcher),
            "env": dict(self.env),
            "label": self.label,
        }


def launch_plan(
    gpus: int | Sequence[DeviceInfo] | None = None,
    *,
    allow_mps: bool = True,
) -> LaunchPlan:
    """Decide how a training job starts: torchrun over several GPUs, one GPU, or the CPU.

    Parameters
    ----------
    gpus : int, sequence of DeviceInfo or None
        None: every CUDA GPU of :func:`list_devices`.  An int: that many
        GPUs (the first ones; 0 means CPU).  A sequence: exactly those
        devices (e.g. picked on the page); with no CUDA device among them the
        job runs on the CPU (or MPS if listed).
    allow_mps : bool
        Without CUDA GPUs, use Apple MPS when present instead of the CPU.

    Returns
    -------
    LaunchPlan
        Two or more GPUs: ``python -m torch.distributed.run --standalone
        --nproc_per_node N`` (``fit_model`` then trains with DDP over NCCL);
        one GPU: a plain process on that ``cuda:i``; none: a plain process on
        the CPU.
    """
    available = list_devices()
    cuda = [d for d in available if d.kind == "cuda"]
    if gpus is None:
        chosen = cuda
    elif isinstance(gpus, int) and not isinstance(gpus, bool):
        if gpus < 0:
            raise ValueError(f"gpus={gpus!r} must be 0 or more.")
        if gpus > len(cuda):
            raise ValueError(
                f"gpus={gpus} but this machine has {len(cuda)} CUDA GPU(s); "
                f"choose at most {len(cuda)}."
            )
        chosen = cuda[:gpus]
    elif isinstance(gpus, Sequence) and all(isinstance(d, DeviceInfo) for d in gpus):
        known = {d.torch_device for d in cuda}
        missing = [d.torch_device for d in gpus if d.kind == "cuda" and d.torch_device not in known]
        if missing:
            raise ValueError(
                f"{', '.join(missing)} is not on this machine; it has {len(cuda)} CUDA GPU(s)."
            )
        chosen = [d for d in gpus if d.kind == "cuda"]
        allow_mps = allow_mps and any(d.kind == "mps" for d in gpus)
    else:
        raise TypeError(
            f"gpus must be None, a number of GPUs or a list of DeviceInfo, got {gpus!r}."
        )

    python = sys.executable
    if len(chosen) > 1:
        env = {}
        if [d.index for d in chosen] != list(range(len(chosen))):
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(d.index) for d in chosen)
        cpu = available[-1]
        env["OMP_NUM_THREADS"] = str(max(1, (cpu.n_cores or 1) // len(chosen)))
        n = str(len(chosen))
        return LaunchPlan(
            kind="torchrun",
            device="cuda",
            n_processes=len(chosen),
            devices=tuple(chosen),
            launcher=(python, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", n),
            env=env,
        )
    if len(chosen) == 1:
        d = chosen[0]
        return LaunchPlan("cuda", d.torch_device, 1, (d,), (python,))
    mps = [d for d in available if d.kind == "mps"]
    if allow_mps and mps:
        return LaunchPlan("mps", "mps", 1, (mps[0],), (python,))
    return LaunchPlan("cpu", "cpu", 1, (available[-1],), (python,))


def format_duration(seconds: float) -> str:
    """``"45 s"``, ``"12 min"``, ``"3 h 20 min"``, ``"2 d 4 h"`` (rounded)."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"seconds={seconds!r} must be a finite number of at least 0.")
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@dataclasses.dataclass(frozen=True)
class TimeEstimate:
    """An upper bound of a training run's duration, from steps timed on this machine now.

    Attributes
    ----------
    per_model_s : dict of str to float
        Seconds for every fold of each model (``"lstm"`` and each backbone).
    total_s : float
        Their sum (models train one after the other).
    device : str
        The device the steps were timed on.
    n_processes : int
        Training processes assumed (DDP ranks).
    timings : dict of str to StepTiming
        The measurements (seconds per training step, validation step and data batch).
    items_per_s : dict of str to float
        Measured training items per second, data loading included, of one process.
    load_average : float or None
        The 1-minute load average when measured (other work slows training).
    assumptions : tuple of str
        What the figure assumes, in plain sentences.
    """

    per_model_s: dict[str, float]
    total_s: float
    device: str
    n_processes: int
    timings: dict[str, StepTiming]
    items_per_s: dict[str, float]
    load_average: float | None
    assumptions: tuple[str, ...]
    upper_bound: bool = True

    @property
    def label(self) -> str:
        """One human line, e.g. ``"at most about 3 h 20 min on cpu"``."""
        where = self.device if self.n_processes == 1 else f"{self.n_processes} x {self.device}"
        return f"at most about {format_duration(self.total_s)} on {where}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "per_model_s": dict(self.per_model_s),
            "total_s": self.total_s,
            "device": self.device,
            "n_processes": self.n_processes,
            "timings": {k: v.to_dict() for k, v in self.timings.items()},
            "items_per_s": dict(self.items_per_s),
            "load_average": self.load_average,
            "assumptions": list(self.assumptions),
            "upper_bound": self.upper_bound,
            "label": self.label,
        }


_MINIMUM_COUNTS = {
    "n_slices": 0,
    "n_windows": 0,
    "epochs": 1,
    "n_folds": 2,
    "measure_steps": 1,
    "n_processes": 1,
}


def _check_estimate_args(
    backbones: Sequence[str],
    counts: dict[str, Any],
    *,
    signal_epochs: Any,
    fractions: dict[str, float],
) -> None:
    """Refuse an unknown backbone, a count below its minimum or a fraction outside [0, 1)."""
    from rehab_core._validation import check_int
    from rehab_core.models import list_models

    image_models = list_models("image")
    unknown = [b for b in backbones if b not in image_models]
    if unknown:
        raise ValueError(
            f"backbones={list(backbones)!r}: {', '.join(unknown)} is not an image backbone; "
            f"choose from {', '.join(image_models)}."
        )
    for name, value in counts.items():
        check_int(name, value, low=_MINIMUM_COUNTS[name])
    if signal_epochs is not None:
        check_int("signal_epochs", signal_epochs, low=1)
    for name, value in fractions.items():
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name}={value!r} must be at least 0 and below 1.")


def _estimate_assumptions(
    dev: Any,
    threads: int,
    load: float | None,
    *,
    epochs: int,
    lstm_epochs: int,
    n_folds: int,
    measure_steps: int,
    test_fraction: float,
    inner_val_fraction: float,
    n_processes: int,
) -> list[str]:
    """The sentences that say what an estimate counts and what it leaves out."""
    assumptions = [
        f"An upper bound: every one of the {n_folds} folds trains all {epochs} epochs"
        + (f" ({lstm_epochs} for the LSTM)" if lstm_epochs != epochs else "")
        + "; early stopping usually ends training sooner.",
        f"Timed just now on {dev} ({threads} CPU threads"
        + (f", load average {load:.2f}" if load is not None else "")
        + f"): {measure_steps} training step(s) per model after a warm-up step; "
        "other work on the machine during training makes it slower.",
        f"Each of the {n_folds} folds trains on {n_folds - 1}/{n_folds} of the development "
        f"items ({100 * (1 - test_fraction):.0f} % of the cohort; the rest is the hold-out "
        f"test), less {100 * inner_val_fraction:.0f} % of those patients for early stopping.",
        "Data loading and slice augmentation (in the training process) are included; "
        "preprocessing the cohort, loading ImageNet weights, checkpoints and the fusion "
        "and evaluation stage are not.",
    ]
    cores = os.cpu_count() or 1
    if load is not None and load > cores:
        assumptions.append(
            f"The machine was busy when timed (load average {load:.1f} on {cores} cores), "
            "so this figure is likely too high; estimate again when it is idle."
        )
    if n_processes > 1:
        assumptions.append(
            f"With {n_processes} processes each step is assumed as fast as on one device and "
            "the batches evenly split; the gradient exchange is not counted (optimistic)."
        )
    return assumptions


def _model_seconds(
    timing: StepTiming,
    n_items: int,
    *,
    epochs: int,
    n_folds: int,
    test_fraction: float,
    inner_val_fraction: float,
    n_processes: int,
) -> float:
    """Seconds to train ``n_folds`` members for ``epochs`` full epochs, score included.

    Mirrors :func:`~rehab_core.workflows.train.train_experiment`: each
    fold trains on the other folds' development items less the early-stopping
    share, validates on that share every epoch, then scores its held-out fold
    and the test set.
    """
    batch = timing.batch_size
    development = n_items * (1.0 - test_fraction)
    fold_train = development * (n_folds - 1) / n_folds
    fit_items = fold_train * (1.0 - inner_val_fraction)
    stop_items = fold_train * inner_val_fraction
    score_items = development / n_folds + n_items * test_fraction
    step = timing.train_s_per_step + timing.data_s_per_batch
    evaluate = timing.eval_s_per_step + timing.data_s_per_batch
    per_epoch = (
        math.ceil(fit_items / (batch * n_processes)) * step
        + math.ceil(stop_items / (batch * n_processes)) * evaluate
    )
    scoring = math.ceil(score_items / batch) * evaluate
    return n_folds * (epochs * per_epoch + scoring)


def estimate_training_seconds(
    backbones: Sequence[str],
    *,
    n_slices: int,
    n_windows: int,
    window_shape: tuple[int, int],
    epochs: int,
    n_folds: int,
    device: str = "auto",
    signal_epochs: int | None = None,
    measure_steps: int = 2,
    test_fraction: float = 0.15,
    inner_val_fraction: float = 0.15,
    n_processes: int = 1,
) -> TimeEstimate:
    """Estimate how long training the LSTM and ``backbones`` takes, timing real steps now.

    For each model, ``measure_steps`` training steps (forward, BCE,
    backward, Adam; after one untimed warm-up step), as many validation
    passes and DataLoader batches are timed on ``device``
    (:func:`~rehab_core.training.throughput.measure_model_steps`, kept per
    process), then scaled by the batches of every epoch and fold of
    :func:`~rehab_core.workflows.train.train_experiment`.

    Parameters
    ----------
    backbones : sequence of str
        Image backbones (``rehab_core.models.list_models("image")``).
    n_slices, n_windows : int
        Slices and EEG-EMG windows of the whole cohort (the splits are
        applied here).  ``n_windows=0`` leaves the LSTM out.
    window_shape : (n_chans, n_times)
        Shape of one window as the LSTM reads it.
    epochs : int
        Maximum epochs of the image models.
    n_folds : int
        Folds; every model is trained once per fold.
    device : str
        Where training will run (``"auto"``, ``"cpu"``, ``"cuda:0"``...).
    signal_epochs : int, optional
        Maximum epochs of the LSTM (default ``epochs``).
    measure_steps : int
        Timed steps per model; 1 is fastest, more is steadier.
    test_fraction, inner_val_fraction : float
        As in :class:`~rehab_core.training.ExperimentSettings`.
    n_processes : int
        DDP processes (GPUs); each reads a batch per step.

    Returns
    -------
    TimeEstimate
        An upper bound: every epoch runs (no early stopping).  The load of
        other work at the time of measurement is recorded with it.
    """
    from rehab_core.training.settings import select_device
    from rehab_core.training.throughput import measure_model_steps

    counts = {"n_slices": n_slices, "n_windows": n_windows, "epochs": epochs}
    counts |= {"n_folds": n_folds, "measure_steps": measure_steps, "n_processes": n_processes}
    _check_estimate_args(
        backbones,
        counts,
        signal_epochs=signal_epochs,
        fractions={"test_fraction": test_fraction, "inner_val_fraction": inner_val_fraction},
    )
    dev = select_device(device)
    models: list[tuple[str, int, int]] = []
    if n_windows:
        models.append(("lstm", n_windows, signal_epochs or epochs))
    if n_slices:
        models.extend((b, n_slices, epochs) for b in dict.fromkeys(backbones))
    if not models:
        raise ValueError("n_slices and n_windows are both 0; there is nothing to train.")

    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = None
    timings, per_model, items_per_s = {}, {}, {}
    for name, n_items, n_epochs in models:
        timing = measure_model_steps(
            name,
            device=dev,
            window_shape=tuple(window_shape) if name == "lstm" else None,
            steps=measure_steps,
        )
        timings[name] = timing
        items_per_s[name] = timing.batch_size / (timing.train_s_per_step + timing.data_s_per_batch)
        per_model[name] = _model_seconds(
            timing,
            n_items,
            epochs=n_epochs,
            n_folds=n_folds,
            test_fraction=test_fraction,
            inner_val_fraction=inner_val_fraction,
            n_processes=n_processes,
        )
    assumptions = _estimate_assumptions(
        dev,
        next(iter(timings.values())).threads,
        load,
        epochs=epochs,
        lstm_epochs=(signal_epochs or epochs) if n_windows else epochs,
        n_folds=n_folds,
        measure_steps=measure_steps,
        test_fraction=test_fraction,
        inner_val_fraction=inner_val_fraction,
        n_processes=n_processes,
    )
    return TimeEstimate(
        per_model_s=per_model,
        total_s=float(sum(per_model.values())),
        device=str(dev),
        n_processes=n_processes,
        timings=timings,
        items_per_s=items_per_s,
        load_average=load,
        assumptions=tuple(assumptions),
    )
