"""Suite-wide test settings: no network, no display, small seeded data."""

from __future__ import annotations

import os

# Model weights and data sets are never downloaded in tests (DEVELOPERS.md).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("REHAB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402


def pytest_collection_modifyitems(config, items):
    """Skip GPU tests with a stated reason where no CUDA device exists (never silently)."""
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a core dependency
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU; none on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
