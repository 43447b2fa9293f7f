"""Fixtures for the model tests: offline, hermetic weight caches, seeded."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def offline_and_hermetic(monkeypatch, tmp_path):
    """No network, no user weights: empty HF and torch hub caches, no REHAB_PRETRAINED_DIR.

    Also one torch thread: on a shared machine with 2 cores, two OpenMP threads
    per test process made these tests several times slower.
    """
    import huggingface_hub.constants
    import torch

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("REHAB_OFFLINE", raising=False)
    monkeypatch.delenv("REHAB_PRETRAINED_DIR", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    torch.manual_seed(0)
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)
