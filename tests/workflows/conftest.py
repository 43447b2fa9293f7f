"""The use cases' tests: one torch thread, as in tests/training."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    """Every use-case test on one torch thread (``one_torch_thread``, tests/conftest.py)."""
