"""Input checks shared by the signal steps (arrays, rates, channel types)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rehab_core._validation import check_option, check_positive

__all__ = [
    "CH_TYPES",
    "check_ch_names",
    "check_ch_types",
    "check_data",
    "check_sfreq",
    "check_windows",
]

#: Channel types the signal pipeline knows how to treat.
CH_TYPES = ("eeg", "emg")

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _check_float_array(name: str, value: object, ndim: int, shape_doc: str) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy array of shape {shape_doc}, got {type(value).__name__}."
        )
    if value.dtype not in _FLOAT_DTYPES:
        raise TypeError(
            f"{name} must be a float32 or float64 array in µV, got dtype {value.dtype}; "
            f"convert it explicitly (for example {name}.astype(np.float64) times the "
            "right scale factor)."
        )
    if value.ndim != ndim:
        raise ValueError(
            f"{name} must have shape {shape_doc}, got {value.ndim} dimension(s) {value.shape}."
        )
    # a sum is NaN or infinite as soon as one element is, and needs no temporary array
    if not np.isfinite(np.sum(value, dtype=np.float64)):
        n_bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
        if n_bad:
            raise ValueError(
                f"{name} contains {n_bad} NaN or infinite value(s); repair or crop the recording."
            )
        raise ValueError(f"{name} holds values too large to be µV (about 1e300 or more).")
    return value


def check_data(data: object, name: str = "data") -> np.ndarray:
    """Return ``data`` if it is a finite float32/float64 ``(n_chans, n_times)`` array."""
    data = _check_float_array(name, data, 2, "(n_chans, n_times)")
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {data.shape}.")
    return data


def check_windows(windows: object, name: str = "windows") -> np.ndarray:
    """Return ``windows`` if it is a finite float ``(n_windows, n_chans, n_times)`` array."""
    return _check_float_array(name, windows, 3, "(n_windows, n_chans, n_times)")


def check_sfreq(sfreq: object, name: str = "sfreq") -> float:
    """Return ``sfreq`` as a float after checking that it is a positive number (Hz)."""
    if isinstance(sfreq, np.generic):
        sfreq = sfreq.item()
    return float(check_positive(name, sfreq))


def check_ch_types(ch_types: Sequence[str], n_chans: int) -> tuple[str, ...]:
    """Return ``ch_types`` as a tuple after checking its length and every entry."""
    if isinstance(ch_types, str):
        raise TypeError(
            f"ch_types must be a sequence of channel types, got the string {ch_types!r}."
        )
    ch_types = tuple(ch_types)
    if len(ch_types) != n_chans:
        raise ValueError(f"len(ch_types)={len(ch_types)} but data has n_chans={n_chans} channels.")
    for ch_type in ch_types:
        check_option("ch_types[i]", ch_type, CH_TYPES)
    return ch_types


def check_ch_names(ch_names: Sequence[str] | None, n_chans: int) -> tuple[str, ...]:
    """Return channel names (``CH1``, ``CH2`` ... when ``None``) after checking their count."""
    if ch_names is None:
        return tuple(f"CH{i + 1}" for i in range(n_chans))
    if isinstance(ch_names, str):
        raise TypeError(f"ch_names must be a sequence of names, got the string {ch_names!r}.")
    ch_names = tuple(str(name) for name in ch_names)
    if len(ch_names) != n_chans:
        raise ValueError(f"len(ch_names)={len(ch_names)} but data has n_chans={n_chans} channels.")
    if len(set(ch_names)) != n_chans:
        raise ValueError("ch_names contains duplicates; every channel needs its own name.")
    return ch_names
