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


@pytest.fixture(scope="session")
def write_bdf():
    """``write_bdf(path, samples, names, *, sfreq=100, patient="X", recording="X")`` -> path.

    ``samples``: int (n_records, n_chans, sfreq) 24-bit values, one-second records,
    physical range ±8388 µV (1 nV per step).
    """

    def write(path, samples, names, *, sfreq=100, patient="X", recording="X", date="01.01.25"):
        n_records, n_chans, _ = samples.shape

        def text(value, width):
            return str(value).ljust(width).encode("ascii")

        header = b"\xffBIOSEMI" + text(patient, 80) + text(recording, 80) + text(date, 8)
        header += text("00.00.00", 8) + text(256 * (n_chans + 1), 8) + text("24BIT", 44)
        header += text(n_records, 8) + text(1, 8) + text(n_chans, 4)
        fields = [names, [""], ["uV"], ["-8388"], ["8388"], ["-8388608"], ["8388607"], [""]]
        fields += [[sfreq], [""]]
        for width, values in zip((16, 80, 8, 8, 8, 8, 8, 80, 8, 32), fields, strict=True):
            header += b"".join(text(v, width) for v in (values * n_chans)[:n_chans])
        body = (samples.reshape(-1) & 0xFFFFFF).astype("<u4").view(np.uint8).reshape(-1, 4)
        path.write_bytes(header + body[:, :3].tobytes())
        return path

    return write
