"""Fixtures for the training tests: tiny seeded data, one torch thread."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
from _windows import make_windows

GIB = 1024**3


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "distributed: starts several processes with torchrun (CPU, Gloo; still runs in CI)",
    )


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    """Every training test on one torch thread (``one_torch_thread``, tests/conftest.py)."""


@pytest.fixture
def windows_data():
    return make_windows()


class FakeNVML:
    """A stand-in for the ``pynvml`` module (nvidia-ml-py) reporting ``n`` GPUs of 80 GiB."""

    class NVMLError(Exception):
        pass

    def __init__(self, n: int, *, free_gib: float = 79.0) -> None:
        self.n = n
        self.free_gib = free_gib
        self.initialised = 0
        self.shutdowns = 0

    def nvmlInit(self):
        self.initialised += 1

    def nvmlShutdown(self):
        self.shutdowns += 1

    def nvmlDeviceGetCount(self):
        return self.n

    def nvmlDeviceGetHandleByIndex(self, i):
        if not 0 <= i < self.n:
            raise self.NVMLError(f"no GPU {i} of {self.n}")
        return i

    def nvmlDeviceGetName(self, handle):
        return f"Fake GPU {handle}"

    def nvmlDeviceGetUUID(self, handle):
        return f"GPU-fake-{handle}"

    def nvmlDeviceGetMemoryInfo(self, handle):
        return SimpleNamespace(
            total=80 * GIB, free=int(self.free_gib * GIB), used=int((80 - self.free_gib) * GIB)
        )

    def nvmlDeviceGetCudaComputeCapability(self, handle):
        return (9, 0)


@pytest.fixture
def fake_gpus(monkeypatch):
    """``fake_gpus(n)``: make NVML report ``n`` CUDA GPUs (and no MPS); returns the fake.

    CUDA itself is made to fail loudly if anything initialises it: listing
    devices must not open a CUDA context in the calling process.
    """
    import torch

    def install(n: int, **kwargs) -> FakeNVML:
        nvml = FakeNVML(n, **kwargs)
        monkeypatch.setitem(sys.modules, "pynvml", nvml)
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)

        def no_cuda(*args, **kw):
            raise AssertionError("CUDA was initialised while listing devices")

        monkeypatch.setattr(torch.cuda, "_lazy_init", no_cuda)
        monkeypatch.setattr(torch.cuda, "init", no_cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
        return nvml

    return install
