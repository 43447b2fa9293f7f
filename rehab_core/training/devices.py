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

Nothing here initialises CUDA in the calling process: GPUs are listed
through NVML (see :func:`list_devices`), so the web server holds no CUDA
context.
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
    "GPUOutOfMemoryError",
    "LaunchPlan",
    "TimeEstimate",
    "estimate_training_seconds",
    "format_duration",
    "launch_plan",
    "gpu_out_of_memory",
    "list_devices",
    "pin_gpus",
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
    uuid : str or None
        GPU: the UUID (``"GPU-..."``), which pins a job to this very GPU
        through ``CUDA_VISIBLE_DEVICES`` whatever the numbering.
    physical_index : int or None
        GPU: NVML's (``nvidia-smi``'s) index, which differs from ``index``
        when this process sees only some GPUs.
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
    uuid: str | None = None
    physical_index: int | None = None

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


def _visible_selection() -> list[str] | None:
    """The entries of ``CUDA_VISIBLE_DEVICES`` (None when it is unset)."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    entries = []
    for entry in value.split(","):
        entry = entry.strip()
        if not entry or entry.startswith("-"):
            break  # CUDA stops at the first invalid entry ("-1" hides every GPU)
        entries.append(entry)
    return entries


def _apply_visibility(gpus: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Keep the GPUs ``CUDA_VISIBLE_DEVICES`` shows, in its order; None if it cannot be read.

    ``gpus`` are the physical GPUs in NVML's (PCI bus) order, each with
    ``index`` and ``uuid``.  Entries may be indices or (prefixes of) UUIDs;
    MIG instances and anything else give None (the caller asks CUDA itself).
    """
    selection = _visible_selection()
    if selection is None:
        return gpus
    chosen = []
    for entry in selection:
        if entry.isdigit():
            match = [g for g in gpus if g["index"] == int(entry)]
        elif entry.startswith("GPU-"):
            match = [g for g in gpus if g["uuid"] and g["uuid"].startswith(entry)]
        else:
            return None
        if len(match) != 1:
            break  # CUDA ignores the rest of the list after an unknown entry
        if match[0] not in chosen:
            chosen.append(match[0])
    return chosen


def _gpus_from_nvml() -> list[dict[str, Any]] | None:
    """Physical GPUs read through NVML (``nvidia-ml-py``); None if NVML is not usable."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return None
    try:
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            try:
                major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
                capability = f"{major}.{minor}"
            except pynvml.NVMLError:
                capability = None
            name = pynvml.nvmlDeviceGetName(handle)
            uuid = pynvml.nvmlDeviceGetUUID(handle)
            gpus.append(
                {
                    "index": i,
                    "uuid": uuid.decode() if isinstance(uuid, bytes) else str(uuid),
                    "name": name.decode() if isinstance(name, bytes) else str(name),
                    "total": memory.total / _GIB,
                    "free": memory.free / _GIB,
                    "capability": capability,
                }
            )
        return gpus
    except pynvml.NVMLError:
        return None
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass


_SMI_FIELDS = "index,uuid,name,memory.total,memory.free,compute_cap"


def _gpus_from_smi() -> list[dict[str, Any]] | None:
    """Physical GPUs read from ``nvidia-smi --query-gpu``; None if it is missing or fails."""
    import subprocess

    try:
        done = subprocess.run(
            ["nvidia-smi", f"--query-gpu={_SMI_FIELDS}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    gpus = []
    for line in done.stdout.strip().splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 6:
            return None

        def number(text: str) -> float | None:
            try:
                return float(text)
            except ValueError:  # "[N/A]", "[Not Supported]"
                return None

        index, total, free = number(fields[0]), number(fields[3]), number(fields[4])
        if index is None:
            return None
        gpus.append(
            {
                "index": int(index),
                "uuid": fields[1] or None,
                "name": fields[2],
                "total": None if total is None else total / 1024,  # MiB
                "free": None if free is None else free / 1024,
                "capability": fields[5] if number(fields[5]) is not None else None,
            }
        )
    return gpus


_CHILD_PROBE = """
import json, torch
out = []
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    free, _ = torch.cuda.mem_get_info(i)
    uuid = getattr(p, "uuid", None)
    out.append({"index": i, "uuid": f"GPU-{uuid}" if uuid else None, "name": p.name,
                "total": p.total_memory / 2**30, "free": free / 2**30,
                "capability": f"{p.major}.{p.minor}",
                "sms": getattr(p, "multi_processor_count", None)})
print(json.dumps(out))
"""


def _gpus_from_child() -> list[dict[str, Any]]:
    """Ask CUDA in a child process, whose context ends with it (the last resort)."""
    import json
    import subprocess

    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD_PROBE],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        gpus = json.loads(done.stdout) if done.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired, ValueError):
        gpus = []
    for g in gpus:  # the child already applied CUDA_VISIBLE_DEVICES: keep its numbering
        g["visible_index"] = g["index"]
    return gpus


def _cuda_devices() -> list[DeviceInfo]:
    """The CUDA GPUs this process may use, read without a CUDA context in this process."""
    gpus = _gpus_from_nvml()
    if gpus is None:
        gpus = _gpus_from_smi()
    visible = None if gpus is None else _apply_visibility(gpus)
    if visible is None:
        import torch

        # neither NVML nor nvidia-smi could answer: a child process asks CUDA, if any
        visible = _gpus_from_child() if torch.cuda.is_available() else []
    return [
        DeviceInfo(
            kind="cuda",
            torch_device=f"cuda:{i}",
            name=g["name"],
            index=i,
            memory_gib=g["total"],
            free_memory_gib=g["free"],
            compute_capability=g["capability"],
            n_cores=g.get("sms"),
            uuid=g["uuid"],
            physical_index=None if "visible_index" in g else g["index"],
        )
        for i, g in enumerate(visible)
    ]


def list_devices() -> list[DeviceInfo]:
    """Every CUDA GPU, Apple MPS if available, and the CPU (always last).

    The GPUs are read through NVML (``nvidia-ml-py``), else from
    ``nvidia-smi``, else by a short child process: never through CUDA in
    this process, which would keep a CUDA context (hundreds of MiB on
    every GPU) in the web server for its whole life.  After a call,
    ``torch.cuda.is_initialized()`` is as it was.

    Returns
    -------
    list of DeviceInfo
        CUDA GPUs as this process numbers them (``cuda:0`` is the first GPU
        that ``CUDA_VISIBLE_DEVICES`` shows, in NVML's PCI-bus order; set
        ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` where GPUs of different models
        share a machine, so that torch numbers them alike), with name,
        total and free memory, compute capability and UUID; then MPS; then
        the CPU with its model name, usable logical cores, torch threads and
        RAM.  A machine without GPUs returns the CPU alone.
    """
    import torch

    devices = _cuda_devices()
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append(DeviceInfo(kind="mps", torch_device="mps", name=platform.machine()))
    devices.append(_cpu_device())
    return devices


class GPUOutOfMemoryError(RuntimeError):
    """A job ran out of GPU memory; the message is the one sentence a researcher sees."""


def _physical_gpu(index: int) -> int:
    """The NVML (``nvidia-smi``) number of this process's ``cuda:index``, where it can be read."""
    selection = _visible_selection()
    if selection is None or index >= len(selection):
        return index
    entry = selection[index]
    if entry.isdigit():
        return int(entry)
    gpus = _gpus_from_nvml() or _gpus_from_smi() or []
    match = [g["index"] for g in gpus if g["uuid"] and g["uuid"].startswith(entry)]
    return match[0] if len(match) == 1 else index


def gpu_out_of_memory(device: Any = None) -> GPUOutOfMemoryError:
    """The error that ends a job which ran out of memory on ``device`` (a CUDA device).

    Its message: ``"out of GPU memory on GPU k: try a smaller batch or one
    GPU"``, with ``k`` as :func:`list_devices` and ``nvidia-smi`` number the
    GPU (not as the pinned job process does).
    """
    import torch

    if device is None or getattr(device, "index", None) is None:
        index = torch.cuda.current_device() if torch.cuda.is_initialized() else 0
    else:
        index = device.index
    return GPUOutOfMemoryError(
        f"out of GPU memory on GPU {_physical_gpu(index)}: try a smaller batch or one GPU"
    )


@dataclasses.dataclass(frozen=True)
class LaunchPlan:
    """How a training job process should be started.

    Attributes
    ----------
    kind : {"torchrun", "cuda", "mps", "cpu"}
        ``"torchrun"``: one process per GPU with DistributedDataParallel;
        otherwise one plain process on that device.
    device : str
        The ``device`` to give :class:`TrainSettings` in the job, as the job's
        process numbers its GPUs: ``"cuda"`` under torchrun (each rank takes
        ``cuda:LOCAL_RANK``), ``"cuda:0"`` for one GPU (the job sees only
        its own), else ``"mps"`` or ``"cpu"``.
    n_processes : int
        Processes that train (GPUs used, or 1).
    devices : tuple of DeviceInfo
        The devices the job uses.
    launcher : tuple of str
        The start of the command: ``(python,)`` or ``(python, "-m",
        "torch.distributed.run", "--standalone", "--nproc_per_node", "N")``.
    env : dict of str to str
        Environment variables to add for the job: ``CUDA_VISIBLE_DEVICES``
        naming the job's GPUs (by UUID where known) for every GPU plan, so
        that the job opens no CUDA context on any other GPU (pinned memory
        included); ``OMP_NUM_THREADS`` under torchrun.
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
    available: Sequence[DeviceInfo] | None = None,
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
    available : sequence of DeviceInfo, optional
        This machine's devices, as :func:`list_devices` returns them (read
        again when not given).

    Returns
    -------
    LaunchPlan
        Two or more GPUs: ``python -m torch.distributed.run --standalone
        --nproc_per_node N`` (``fit_model`` then trains with DDP over NCCL);
        one GPU: a plain process that sees only that GPU, as ``cuda:0``;
        none: a plain process on the CPU.  Every GPU plan pins its process
        to its GPUs through ``CUDA_VISIBLE_DEVICES`` (:func:`pin_gpus`).
        Which GPUs a job should use is
        :func:`~rehab_core.training.scheduling.schedule_job`'s decision.
    """
    available = list(list_devices() if available is None else available)
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
        cpu = available[-1]
        env = {
            "CUDA_VISIBLE_DEVICES": pin_gpus(chosen),
            "OMP_NUM_THREADS": str(max(1, (cpu.n_cores or 1) // len(chosen))),
        }
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
        return LaunchPlan(
            "cuda", "cuda:0", 1, (d,), (python,), {"CUDA_VISIBLE_DEVICES": pin_gpus([d])}
        )
    mps = [d for d in available if d.kind == "mps"]
    if allow_mps and mps:
        return LaunchPlan("mps", "mps", 1, (mps[0],), (python,))
    return LaunchPlan("cpu", "cpu", 1, (available[-1],), (python,))


def pin_gpus(gpus: Sequence[DeviceInfo]) -> str:
    """The ``CUDA_VISIBLE_DEVICES`` value that shows a process exactly ``gpus``, in that order.

    UUIDs where known (exact whatever the numbering), else NVML's physical
    index, else the index this process uses.
    """
    names = []
    for d in gpus:
        if d.kind != "cuda":
            raise ValueError(f"{d.torch_device} is not a CUDA GPU; only GPUs can be pinned.")
        if d.uuid:
            names.append(d.uuid)
        else:
            names.append(str(d.physical_index if d.physical_index is not None else d.index))
    return ",".join(names)


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
        Seconds for every fold of each model (``"lstm"`` and each backbone):
        with ``fold_gpus`` > 1, the ``ceil(n_folds / fold_gpus)`` rounds of
        members the busiest GPU trains.
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
    upper_bound : bool
        True: every epoch is counted (no early stopping).
    fold_gpus : int
        GPUs that train the folds side by side, one process each
        (``device="folds"``); 1 when the folds train one after another.
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
    fold_gpus: int = 1

    @property
    def label(self) -> str:
        """One human line, e.g. ``"at most about 3 h 20 min on cpu"``."""
        where = self.device if self.n_processes == 1 else f"{self.n_processes} x {self.device}"
        if self.fold_gpus > 1:
            where = f"{self.fold_gpus} GPUs, folds side by side"
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
            "fold_gpus": self.fold_gpus,
            "label": self.label,
        }


_MINIMUM_COUNTS = {
    "n_slices": 0,
    "n_windows": 0,
    "epochs": 1,
    "n_folds": 2,
    "measure_steps": 1,
    "n_processes": 1,
    "fold_gpus": 1,
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
    fold_gpus: int,
    slices: tuple[int, int] | None = None,
) -> list[str]:
    """The sentences that say what an estimate counts and what it leaves out.

    ``slices``: (slices over the cohort, their side in pixels) when image models are timed.
    """
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
        "Data loading (in the training process), the copy to the device and the slice "
        "augmentation (on the device) are included; "
        "preprocessing the cohort, loading ImageNet weights, checkpoints and the fusion "
        "and evaluation stage are not.",
    ]
    if slices is not None:
        assumptions.append(
            f"The image models read {slices[0]} fMRI slices of {slices[1]} x {slices[1]} "
            "pixels over the cohort, timed at that size."
        )
    cores = os.cpu_count() or 1
    if load is not None and load > cores:
        assumptions.append(
            f"The machine was busy when timed (load average {load:.1f} on {cores} cores), "
            "so this figure is likely too high; estimate again when it is idle."
        )
    if n_processes > 1:
        assumptions.append(
            f"With {n_processes} processes each reads 1/{n_processes} of the global batch per "
            "step, timed at that size on one device; the gradient exchange is not counted "
            "(optimistic)."
        )
    if fold_gpus > 1:
        rounds = math.ceil(n_folds / fold_gpus)
        assumptions.append(
            f"The {n_folds} folds train side by side on {fold_gpus} GPUs, one process each, so "
            f"the busiest GPU trains {rounds} round(s) of members: timed on one GPU, the others "
            "assumed as fast; preprocessing before and the evaluation after run once, in one "
            "process, and are not divided."
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
    global_batch: int,
    n_rounds: int,
) -> float:
    """Seconds to train ``n_rounds`` members (of ``n_folds``) for ``epochs`` epochs, scored.

    Mirrors :func:`~rehab_core.workflows.train.train_experiment`: each
    fold trains on the other folds' development items less the early-stopping
    share, validates on that share every epoch, then scores its held-out fold
    and the test set.  ``timing`` is of one process's share of a step
    (``global_batch / n_processes`` items); a step consumes ``global_batch``.
    ``n_rounds`` is ``n_folds`` when the folds train one after another, fewer
    when several GPUs train them side by side.
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
        math.ceil(fit_items / global_batch) * step + math.ceil(stop_items / global_batch) * evaluate
    )
    scoring = math.ceil(score_items / batch) * evaluate
    return n_rounds * (epochs * per_epoch + scoring)


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
    fold_gpus: int = 1,
    image_size: int = 224,
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
        DDP processes (GPUs).  The global batch (32 windows, 16 slices) is
        kept: each process reads its share per step, and is timed at that size.
    fold_gpus : int
        GPUs training the folds side by side, one process each
        (``device="folds"``): each model's time is ``ceil(n_folds /
        fold_gpus)`` members', timed on ``device`` (one of those GPUs).
        Not with ``n_processes`` > 1.
    image_size : int
        Side of the slices the image models read (``ImagingSettings.image_size``);
        their steps are timed at that size.

    Returns
    -------
    TimeEstimate
        An upper bound: every epoch runs (no early stopping).  The load of
        other work at the time of measurement is recorded with it.
    """
    from rehab_core.training.settings import select_device
    from rehab_core.training.throughput import (
        IMAGE_BATCH_SIZE,
        SIGNAL_BATCH_SIZE,
        measure_model_steps,
    )

    counts = {"n_slices": n_slices, "n_windows": n_windows, "epochs": epochs}
    counts |= {"n_folds": n_folds, "measure_steps": measure_steps, "n_processes": n_processes}
    counts["fold_gpus"] = fold_gpus
    _check_estimate_args(
        backbones,
        counts,
        signal_epochs=signal_epochs,
        fractions={"test_fraction": test_fraction, "inner_val_fraction": inner_val_fraction},
    )
    if n_processes > 1 and fold_gpus > 1:
        raise ValueError(
            f"n_processes={n_processes} and fold_gpus={fold_gpus}: a job trains its folds side "
            "by side or each model over several GPUs (DDP), not both."
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
        global_batch = SIGNAL_BATCH_SIZE if name == "lstm" else IMAGE_BATCH_SIZE
        timing = measure_model_steps(
            name,
            device=dev,
            window_shape=tuple(window_shape) if name == "lstm" else None,
            batch_size=max(1, global_batch // n_processes),
            steps=measure_steps,
            image_size=image_size,
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
            global_batch=global_batch,
            n_rounds=math.ceil(n_folds / fold_gpus),
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
        fold_gpus=fold_gpus,
        slices=(n_slices, image_size) if n_slices else None,
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
        fold_gpus=fold_gpus,
    )
