"""Tiny seeded window data for the training tests (a module, not conftest: a test file
importing ``conftest`` gets whichever conftest another directory registered first)."""

from __future__ import annotations

import numpy as np


def make_windows(
    n_patients: int = 20,
    n_windows: int = 4,
    n_chans: int = 3,
    n_times: int = 16,
    *,
    seed: int = 0,
    shift: float = 1.5,
):
    """Windows whose channel 0 is shifted up (good outcome) or down (poor)."""
    rng = np.random.default_rng(seed)
    outcome = np.arange(n_patients) % 2
    ids = np.repeat(np.arange(n_patients), n_windows)
    x = rng.normal(size=(len(ids), n_chans, n_times)).astype(np.float32)
    x[:, 0, :] += np.where(outcome[ids] == 1, shift, -shift)[:, None].astype(np.float32)
    return x, ids, {int(p): int(outcome[p]) for p in range(n_patients)}
