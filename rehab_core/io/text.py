"""The rehab-eegemg text format: writer and reader.

Format (version 1)
------------------
UTF-8 text (a byte-order mark is tolerated), ``\\n`` or ``\\r\\n`` line ends::

    # rehab-eegemg 1
    # sfreq: 1000
    # units: uV
    # n_samples: 540000
    P4 CP2 FC5 C3 ... EMG_RF EMG_VM ...
    12.31 -4.5 ...
    ...

1. **Header**: any number of lines starting with ``#``. A line
   ``# rehab-eegemg N`` names the format version (optional; only 1 is
   understood). Lines ``# key: value`` set keys (case-insensitive); the reader
   uses ``sfreq`` (Hz, a positive number, ``Hz`` suffix allowed), ``units``
   (``uV``/``µV``, ``mV`` or ``V``; default ``uV``) and ``n_samples`` (optional;
   if present it must equal the number of data rows). Other keys and free
   comments are ignored. Blank lines in the header are skipped.
2. **Channel-name line**: exactly one line of channel names separated by
   whitespace; names are unique and are not numbers.
3. **Data**: one row per sample, one column per channel, in the declared
   units, separated by whitespace. Blank lines are skipped; every other row
   must hold exactly one finite number per channel.

Sidecar: ``<stem>.json`` beside the file (``rec.txt`` -> ``rec.json``) may give
``{"sfreq": 1000, "units": "uV", "channel_types": {"name": "eeg" | "emg" | ...}}``.

Sampling-rate rule: the header's ``sfreq`` or the sidecar's (they must agree
if both are given). If neither gives one, the paper's 1000 Hz is assumed, a
:class:`~rehab_core.io.errors.DefaultSamplingRateWarning` is issued and the
assumption is written into ``raw.info["description"]``. A rate that *is* given
but is not a positive finite number raises
:class:`~rehab_core.io.errors.UnknownSamplingRateError`.

Channel types: from the sidecar's ``channel_types`` where given, otherwise
from the name (:func:`rehab_core.io.channels.guess_channel_type`).

Speed and exactness: the data are parsed by pandas' C parser in one pass
with a single-space separator (what :func:`write_signals_text` writes; a
9-min, 22-channel, 1000-Hz file in about half a second of CPU). Files whose
first 64 kB show other whitespace (tabs, runs of spaces, leading/trailing
blanks) are parsed with ``sep=r"\\s+"`` instead; irregular whitespace further
down makes the single-space pass fail (never succeed wrongly) and the
``\\s+`` pass follows. If both refuse it (ragged rows, a non-number, NaN/Inf, bad UTF-8),
it is parsed again in blocks of 32768 lines and the first block pandas
refuses goes through a slow line-by-line parser whose job is to name the
first bad line and column. Valid files never pay for validation with an
extra pass.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import re
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from rehab_core._validation import check_positive, check_range
from rehab_core.io._common import check_duration, check_not_empty, finish_raw
from rehab_core.io.channels import guess_channel_type
from rehab_core.io.errors import (
    ChannelNamesError,
    CorruptFileError,
    DefaultSamplingRateWarning,
    EmptyFileError,
    HeaderMismatchError,
    InputError,
    NonFiniteError,
    NonNumericError,
    RaggedColumnsError,
    UnknownFormatError,
    UnknownSamplingRateError,
    UnknownUnitError,
    shown,
)
from rehab_core.io.limits import check_n_channels, check_sfreq, check_signal_values

if TYPE_CHECKING:
    import mne

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "DEFAULT_SFREQ",
    "UNIT_SCALES",
    "write_signals_text",
    "read_signals_text",
]

FORMAT_NAME = "rehab-eegemg"
FORMAT_VERSION = 1
DEFAULT_SFREQ = 1000.0
"""Rate assumed when neither header nor sidecar gives one (the paper's 1000 Hz)."""

UNIT_SCALES: dict[str, float] = {"uV": 1e-6, "µV": 1e-6, "μV": 1e-6, "mV": 1e-3, "V": 1.0}
"""Accepted ``units`` spellings and their factor to volts (µ: micro sign or Greek mu)."""

_CHANNEL_TYPES = ("eeg", "emg", "eog", "ecg", "misc", "stim", "resp", "bio")
_ROWS_PER_BLOCK = 32768
_HZ_SUFFIX = re.compile(r"\s*hz\s*$", re.IGNORECASE)


# --------------------------------------------------------------------------- writer


def _format_sfreq(sfreq: float) -> str:
    return str(int(sfreq)) if float(sfreq).is_integer() else repr(float(sfreq))


def _format_block(scaled: np.ndarray, decimals: int) -> bytes:
    """Format integers ``scaled`` (n_rows, n_cols) as fixed-point text, ``decimals`` places.

    Each value becomes ``[-]digits[.decimals]`` (``scaled / 10**decimals``),
    values are separated by one space and rows end with ``\\n``. Every value
    gets a fixed-width byte field in a numpy matrix whose unused leading bytes
    are NUL; one ``bytes.translate`` then deletes the NULs. No Python loop runs
    per value.
    """
    n_rows, n_cols = scaled.shape
    negative = scaled < 0
    magnitude = np.abs(scaled)
    top = int(magnitude.max(initial=0))
    magnitude = magnitude.astype(np.uint32 if top < 2**32 else np.uint64)
    n_int = max(1, len(str(top // 10**decimals)))
    width = 1 + n_int + (decimals + 1 if decimals else 0) + 1
    out = np.empty((n_rows, n_cols, width), dtype=np.uint8)
    np.multiply(negative, ord("-"), out=out[..., 0], casting="unsafe")
    pos = width - 2
    rest = magnitude
    for i in range(decimals + n_int):
        if decimals and i == decimals:
            out[..., pos] = ord(".")
            pos -= 1
        quotient = rest // 10
        digit = rest - quotient * 10 + ord("0")
        if i > decimals:  # leading zeros of the integer part become NUL
            digit *= rest > 0
        out[..., pos] = digit
        rest = quotient
        pos -= 1
    out[:, :, -1] = ord(" ")
    out[:, -1, -1] = ord("\n")
    return out.tobytes().translate(None, b"\x00")


def write_signals_text(
    path: str | os.PathLike[str],
    data_uV: np.ndarray,
    ch_names: Sequence[str],
    sfreq: float,
    *,
    decimals: int = 2,
) -> Path:
    """Write a recording in the rehab-eegemg text format (version 1).

    The output is deterministic (the same array gives the same bytes) and is
    written to a temporary file that replaces ``path`` only when complete.

    Parameters
    ----------
    path : str | os.PathLike
        Destination, normally ending in ``.txt``.
    data_uV : ndarray, shape (n_chans, n_times)
        Real-valued samples in µV (integer or float dtype); finite, and
        ``abs(data_uV) * 10**decimals`` below 2**62.
    ch_names : sequence of str, length n_chans
        Unique, non-empty names without whitespace, not starting with ``#``.
    sfreq : float
        Sampling rate in Hz, written to the ``# sfreq:`` line.
    decimals : int
        Digits after the decimal point, 0 to 6. Values are rounded half to
        even on ``data_uV * 10**decimals``.

    Returns
    -------
    Path
        The written file.
    """
    data = np.asarray(data_uV)
    if data.ndim != 2:
        raise ValueError(f"data_uV must be 2D (n_chans, n_times), got shape {data.shape}.")
    if data.dtype == bool or not (
        np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.floating)
    ):
        raise TypeError(f"data_uV must hold real numbers, got dtype {data.dtype}.")
    names = list(ch_names)
    n_chans, n_times = data.shape
    if len(names) != n_chans:
        raise ValueError(f"{n_chans=} rows in data_uV but {len(names)} ch_names were given.")
    if n_chans == 0 or n_times == 0:
        raise ValueError(
            f"data_uV must hold at least one channel and one sample, got shape {data.shape}."
        )
    for name in names:
        if not isinstance(name, str) or not name or name.startswith("#") or len(name.split()) != 1:
            raise ValueError(
                f"channel name {name!r} must be a non-empty string without whitespace "
                "that does not start with '#'."
            )
    duplicates = sorted(n for n, count in Counter(names).items() if count > 1)
    if duplicates:
        raise ValueError(f"ch_names must be unique; repeated: {', '.join(duplicates)}.")
    check_positive("sfreq", sfreq)
    if not math.isfinite(sfreq):
        raise ValueError(f"sfreq={sfreq!r} must be finite.")
    if isinstance(decimals, bool) or not isinstance(decimals, int):
        raise TypeError(f"decimals must be an int, got {type(decimals).__name__}.")
    check_range("decimals", decimals, 0, 6)
    if not np.all(np.isfinite(data)):
        raise ValueError(
            "data_uV holds NaN or infinite values; the format stores finite numbers only."
        )
    factor = 10**decimals
    if data.size and float(np.max(np.abs(data))) * factor >= 2.0**62:
        raise ValueError(f"data_uV values are too large to write with {decimals=}.")

    path = Path(path)
    header = (
        f"# {FORMAT_NAME} {FORMAT_VERSION}\n"
        f"# sfreq: {_format_sfreq(sfreq)}\n"
        "# units: uV\n"
        f"# n_samples: {n_times}\n"
        f"{' '.join(names)}\n"
    )
    tmp = path.with_name(f".{path.name}.part")
    try:
        with open(tmp, "wb") as fh:
            fh.write(header.encode("utf-8"))
            for start in range(0, n_times, _ROWS_PER_BLOCK):
                block = data[:, start : start + _ROWS_PER_BLOCK].T
                scaled = np.rint(np.multiply(block, factor, dtype=np.float64)).astype(np.int64)
                fh.write(_format_block(scaled, decimals))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# --------------------------------------------------------------------------- reader


def _parse_sfreq(value: Any, name: str, where: str) -> float:
    """Return a positive finite rate from a header string or sidecar number."""
    number: float | None = None
    if isinstance(value, str):
        try:
            number = float(_HZ_SUFFIX.sub("", value))
        except ValueError:
            number = None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    if number is None or not math.isfinite(number) or number <= 0:
        raise UnknownSamplingRateError(
            f"{name} {where} gives sfreq {value!r}, which is not a positive number; "
            "expected a sampling rate in Hz such as 1000."
        )
    return number


def _parse_units(value: Any, name: str, where: str) -> str:
    if not isinstance(value, str) or value.strip() not in UNIT_SCALES:
        raise UnknownUnitError(
            f"{name} {where} gives units {value!r}; expected one of uV, µV, mV or V."
        )
    return value.strip()


def _read_sidecar(path: Path) -> dict[str, Any]:
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return {}
    try:
        content = json.loads(sidecar.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptFileError(
            f"{sidecar.name} (the sidecar of {path.name}) is not valid UTF-8 JSON ({err}); "
            'expected an object such as {"sfreq": 1000}.'
        ) from err
    if not isinstance(content, dict):
        raise CorruptFileError(
            f"{sidecar.name} (the sidecar of {path.name}) holds a JSON {type(content).__name__}; "
            'expected an object such as {"sfreq": 1000}.'
        )
    return content


def _read_header(fh: IO[bytes], name: str) -> tuple[dict[str, str], list[str], int]:
    """Read header lines and the channel-name line; return (keys, names, lines read)."""
    keys: dict[str, str] = {}
    n_lines = 0
    while True:
        raw_line = fh.readline()
        if not raw_line:
            raise EmptyFileError(
                f"{name} holds only header lines; "
                "expected a channel-name line and samples after them."
            )
        n_lines += 1
        try:
            line = raw_line.decode("utf-8-sig" if n_lines == 1 else "utf-8").strip()
        except UnicodeDecodeError as err:
            raise CorruptFileError(
                f"{name} line {n_lines} is not UTF-8 text; expected a rehab-eegemg text recording."
            ) from err
        if not line:
            continue
        if not line.startswith("#"):
            return keys, line.split(), n_lines
        body = line[1:].strip()
        if ":" in body:
            key, _, value = body.partition(":")
            keys[key.strip().lower()] = value.strip()
            continue
        words = body.split()
        if len(words) == 2 and words[0].lower() == FORMAT_NAME:
            if words[1] != str(FORMAT_VERSION):
                raise UnknownFormatError(
                    f"{name} is {FORMAT_NAME} text version {words[1]}; "
                    f"this reader understands version {FORMAT_VERSION}."
                )


def _check_names(names: list[str], name: str, line_no: int) -> None:
    check_n_channels(name, len(names))  # before anything else looks at them
    for ch in names:
        try:
            float(ch)
        except ValueError:
            continue
        number = ch if len(ch) <= 16 else shown(ch)
        raise ChannelNamesError(
            f"{name} line {line_no} should name the channels but holds the number {number}; "
            "expected a line of names such as 'C3 C4 EMG_RF' before the samples."
        )
    duplicates = sorted(n for n, count in Counter(names).items() if count > 1)  # linear
    if duplicates:
        raise ChannelNamesError(
            f"{name} names channel(s) {', '.join(duplicates)} more than once; "
            "expected one column per unique channel."
        )


def _parse_with_pyarrow(data: bytes, n_chans: int) -> np.ndarray | None:
    """Parse single-space-separated rows with Arrow's multithreaded CSV reader.

    The fastest path (about 0.5 s for a 9-min, 22-channel file on 2 cores,
    against 0.7 s for pandas' C parser), taken for what
    :func:`write_signals_text` writes. Returns ``None`` for anything
    irregular (ragged rows, non-numbers, empty fields, NaN/Inf), leaving the
    diagnosis to the slower parsers.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if any(letter in data for letter in (b"r", b"R", b"a", b"A")):
        return None  # as for pandas: no spelled-out booleans or NaN through the fast path
    columns = [f"c{i}" for i in range(n_chans)]
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=columns, block_size=1 << 22),
            parse_options=pacsv.ParseOptions(delimiter=" ", ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.float64() for c in columns}, strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_columns != n_chans or any(col.null_count for col in table.columns):
        return None
    values = np.empty((n_chans, table.num_rows), dtype=np.float64)
    for i, col in enumerate(table.columns):
        values[i] = col.to_numpy()
    if not np.isfinite(values).all():
        return None
    return values


def _parse_with_pandas(data: bytes, n_chans: int, sep: str) -> np.ndarray | None:
    """Parse the data rows with pandas' C parser into (n_chans, n_times).

    ``sep`` is ``" "``, ``"\\t"`` or ``r"\\s+"`` (runs of any whitespace).
    Returns ``None`` if anything is irregular for this separator (ragged rows,
    non-numbers, NaN/Inf, empty fields), leaving the diagnosis to
    :func:`_parse_exact`. The column count is taken from the first row, so a
    first row with extra values is caught, not silently cut.
    """
    import pandas as pd

    # pandas reads True/TRUE/true and False/... as 1.0/0.0 even with a float
    # dtype; no number has an 'r' or an 'a', so such files take the exact path.
    if any(letter in data for letter in (b"r", b"R", b"a", b"A")):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.BytesIO(data),
                sep=sep,
                header=None,
                index_col=False,
                dtype=np.float64,
                engine="c",
                skip_blank_lines=True,
                encoding="utf-8",
            )
    except (ValueError, pd.errors.EmptyDataError, pd.errors.ParserWarning):
        # ParserError, float conversion errors and UnicodeDecodeError are all
        # ValueErrors: the exact parser finds and names the first bad line.
        return None
    if frame.shape[1] != n_chans:
        return None
    values = np.empty((n_chans, len(frame)), dtype=np.float64)
    for i, column in enumerate(frame.columns):
        values[i] = frame[column].to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        return None
    return values


def _bad_cell(name: str, names: list[str], line_no: int, parts: list[str]) -> InputError:
    """The error for the first non-numeric or non-finite token of a row."""
    for col, token in enumerate(parts):
        try:
            value = float(token)
        except ValueError:
            value = None
        where = f"{name} line {line_no} column {col + 1} ({names[col]}) holds {shown(token)}"
        if value is None or "_" in token:
            return NonNumericError(
                f"{where}, which is not a number; expected a sample value such as -4.5."
            )
        if not math.isfinite(value):
            return NonFiniteError(f"{where}; expected a finite number (no NaN or Inf).")
    raise AssertionError(f"no bad cell on line {line_no}")  # callers found one first


def _parse_exact(data: bytes, names: list[str], name: str, first_line: int) -> np.ndarray:
    """Parse the data rows line by line into (n_chans, n_times), naming the first bad cell.

    Slow (a few seconds for a 9-min file); used only when pandas refused the
    file, i.e. to produce the error message, or for a file pandas cannot
    split but that is valid.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line_no = first_line + err.object[: err.start].count(b"\n")
        raise CorruptFileError(
            f"{name} line {line_no} is not UTF-8 text; expected numbers in plain text."
        ) from err
    n_chans = len(names)
    blocks: list[np.ndarray] = []
    rows: list[list[float]] = []
    row_lines: list[int] = []
    for line_no, line in enumerate(text.split("\n"), start=first_line):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != n_chans:
            raise RaggedColumnsError(
                f"{name} line {line_no} has {len(parts)} values but the channel-name line "
                f"names {n_chans} channels."
            )
        try:
            if "_" in line:  # float() accepts '1_000'; the format does not
                raise ValueError(line)
            rows.append(list(map(float, parts)))
        except ValueError:
            raise _bad_cell(name, names, line_no, parts) from None
        row_lines.append(line_no)
        if len(rows) == _ROWS_PER_BLOCK:
            blocks.append(np.array(rows, dtype=np.float64))
            rows = []
    blocks.append(np.array(rows, dtype=np.float64).reshape(len(rows), n_chans))
    values = np.concatenate(blocks)
    finite = np.isfinite(values)
    if not finite.all():
        row = int(np.argmin(finite.all(axis=1)))
        line_no = row_lines[row]
        raise _bad_cell(name, names, line_no, text.split("\n")[line_no - first_line].split())
    return np.ascontiguousarray(values.T)


def _parse_blocks(data: bytes, names: list[str], name: str, first_line: int) -> np.ndarray:
    """Parse in blocks of lines; a block pandas refuses goes to :func:`_parse_exact`.

    Used when the whole-file pandas pass failed: the error is then found (and
    named) by the slow parser within one block instead of the whole file.
    Blocks end at newline bytes, which never split a UTF-8 character.
    """
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
    cuts = [
        0,
        *(int(newlines[i]) + 1 for i in range(_ROWS_PER_BLOCK - 1, len(newlines), _ROWS_PER_BLOCK)),
    ]
    if cuts[-1] < len(data):
        cuts.append(len(data))
    parts = []
    for block, (start, stop) in enumerate(itertools.pairwise(cuts)):
        chunk = data[start:stop]
        values = _parse_with_pandas(chunk, len(names), r"\s+")
        if values is None:
            values = _parse_exact(chunk, names, name, first_line + block * _ROWS_PER_BLOCK)
        parts.append(values)
    if not parts:
        return np.empty((len(names), 0), dtype=np.float64)
    return np.concatenate(parts, axis=1)


def _resolve_metadata(
    path: Path, keys: dict[str, str], sidecar: dict[str, Any], names: list[str]
) -> tuple[float, str, str, list[str]]:
    """Return (sfreq, where it came from, units, channel types) from header and sidecar."""
    name = path.name
    sfreq_header = _parse_sfreq(keys["sfreq"], name, "header") if "sfreq" in keys else None
    sfreq_sidecar = _parse_sfreq(sidecar["sfreq"], name, "sidecar") if "sfreq" in sidecar else None
    if sfreq_header is not None and sfreq_sidecar is not None and sfreq_header != sfreq_sidecar:
        raise HeaderMismatchError(
            f"{name} header gives sfreq {sfreq_header:g} Hz but its sidecar gives "
            f"{sfreq_sidecar:g} Hz; expected them to agree."
        )
    if sfreq_header is not None:
        sfreq, sfreq_from = sfreq_header, "header"
    elif sfreq_sidecar is not None:
        sfreq, sfreq_from = sfreq_sidecar, "sidecar"
    else:
        sfreq, sfreq_from = DEFAULT_SFREQ, "assumed (none given)"
        warnings.warn(
            f"{name} gives no sampling rate (no '# sfreq:' header line or sidecar "
            f"{path.with_suffix('.json').name}); assuming the paper's {DEFAULT_SFREQ:g} Hz.",
            DefaultSamplingRateWarning,
            stacklevel=4,
        )

    units_header = _parse_units(keys["units"], name, "header") if "units" in keys else None
    units_sidecar = _parse_units(sidecar["units"], name, "sidecar") if "units" in sidecar else None
    if (
        units_header is not None
        and units_sidecar is not None
        and UNIT_SCALES[units_header] != UNIT_SCALES[units_sidecar]
    ):
        raise HeaderMismatchError(
            f"{name} header gives units {units_header} but its sidecar gives {units_sidecar}; "
            "expected them to agree."
        )
    units = units_header or units_sidecar or "uV"

    ch_types = [guess_channel_type(ch) for ch in names]
    declared_types = sidecar.get("channel_types", {})
    if not isinstance(declared_types, dict):
        raise ChannelNamesError(
            f"{name} sidecar gives channel_types as a JSON {type(declared_types).__name__}; "
            'expected an object such as {"C3": "eeg"}.'
        )
    for ch, kind in declared_types.items():
        if ch not in names:
            raise ChannelNamesError(
                f"{name} sidecar gives a type for channel {ch!r}, which the file does not have; "
                "expected only channels named on its channel-name line."
            )
        if kind not in _CHANNEL_TYPES:
            raise ChannelNamesError(
                f"{name} sidecar gives channel {ch} the type {kind!r}; "
                f"expected one of {', '.join(_CHANNEL_TYPES)}."
            )
        ch_types[names.index(ch)] = kind

    return sfreq, sfreq_from, units, ch_types


def read_signals_text(path: str | os.PathLike[str]) -> mne.io.RawArray:
    """Read a rehab-eegemg text recording (see the module docstring for the format).

    Parameters
    ----------
    path : str | os.PathLike
        A ``.txt`` file; an optional sidecar ``<stem>.json`` beside it.

    Returns
    -------
    mne.io.RawArray
        Preloaded, data in volts, shape (n_chans, n_times); channel types
        ``eeg``/``emg``/``misc`` (or the sidecar's); ``standard_1005``
        positions on EEG channels; ``info["description"]`` records the source
        format, where the sampling rate came from and the units.

    Raises
    ------
    InputError
        A subclass naming the file and the first problem found.

    Warns
    -----
    DefaultSamplingRateWarning
        If neither the header nor a sidecar gives the sampling rate.
    """
    import mne

    path = Path(path)
    name = path.name
    check_not_empty(path)
    sidecar = _read_sidecar(path)
    with open(path, "rb") as fh:
        keys, names, n_header_lines = _read_header(fh, name)
        _check_names(names, name, n_header_lines)
        sfreq, sfreq_from, units, ch_types = _resolve_metadata(path, keys, sidecar, names)
        check_sfreq(name, sfreq)
        data = fh.read()
    # at most one sample per line: refuse a file too long before parsing a byte of it
    check_signal_values(name, len(names), data.count(b"\n") + 1)
    # Single spaces first (what write_signals_text writes) unless the first
    # 64 kB show other whitespace; a single-space pass over such a file fails
    # (empty fields, wrong column count), never succeeds wrongly.
    head = data[:65536]
    irregular = head.startswith(b" ") or any(p in head for p in (b"  ", b"\n ", b" \n", b"\t"))
    values = None if irregular else _parse_with_pyarrow(data, len(names))
    if values is None:
        values = _parse_with_pandas(data, len(names), r"\s+")
    if values is None:
        values = _parse_blocks(data, names, name, n_header_lines + 1)
    n_times = values.shape[1]
    if n_times == 0:
        raise EmptyFileError(
            f"{name} names {len(names)} channels but holds no samples; expected one row per sample."
        )
    if "n_samples" in keys:
        try:
            declared = int(keys["n_samples"])
        except ValueError as err:
            raise CorruptFileError(
                f"{name} header gives n_samples {keys['n_samples']!r}; expected a whole number."
            ) from err
        if declared != n_times:
            raise HeaderMismatchError(
                f"{name} header says {declared} samples but the file has {n_times}."
            )

    check_duration(name, n_times, sfreq)
    values *= UNIT_SCALES[units]  # values is this function's own array
    info = mne.create_info(names, sfreq, ch_types, verbose="error")
    raw = mne.io.RawArray(values, info, verbose="error")
    description = (
        f"rehab_core.io: {FORMAT_NAME} text v{FORMAT_VERSION} from {name}; "
        f"sfreq {sfreq:g} Hz {sfreq_from}; units {units}"
    )
    return finish_raw(raw, path, description)
