"""Fixtures for the model tests: offline, hermetic weight caches, seeded."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _offline_and_hermetic(hermetic_weights):
    """Every test here runs with the suite's ``hermetic_weights`` (see tests/conftest.py)."""
    yield
