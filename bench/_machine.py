"""What the training benchmarks print about the machine: one header line and the load average."""

from __future__ import annotations

import os
import platform
from typing import Any


def load_average() -> float | None:
    """The 1-minute load average (other work on a shared machine slows every figure)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def print_machine(device: Any, extra: str = "") -> None:
    """Print torch, the device, threads, CPUs and the load average (and the GPU's name)."""
    import torch

    load = load_average()
    print(
        f"torch {torch.__version__}, {platform.machine()}, device {device}, "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} logical CPUs, "
        f"load average {load if load is not None else float('nan'):.2f} at start{extra}",
        flush=True,
    )
    if device.type == "cuda":
        print(f"GPU: {torch.cuda.get_device_name(device)}", flush=True)
