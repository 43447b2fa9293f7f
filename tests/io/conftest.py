"""Tiny seeded fixtures for the reader tests (no file outside the repository)."""

from __future__ import annotations

import numpy as np
import pytest

from rehab_core.io import PAPER_CHANNELS


@pytest.fixture
def paper_data_uV() -> np.ndarray:
    """(22, 1100) float64 µV samples (11 s at 100 Hz, just over one 10-s window), seeded."""
    rng = np.random.default_rng(20250101)
    data = rng.normal(0.0, 25.0, size=(len(PAPER_CHANNELS), 1100))
    data[0, :4] = [-0.004, 0.004, 1234.5678, -99.999]
    return data
