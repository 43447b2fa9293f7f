"""Why a third-party reader failed, in words fit for a message (no imports of the readers).

The readers (:mod:`~rehab_core.io.signals`, :mod:`~rehab_core.io.fmri`), the
de-identification and the header guards (:mod:`~rehab_core.io._guards`) all
turn a library's exception into one sentence; these two helpers are shared
by them from here, below all of them, so no reader and guard import each other.
"""

from __future__ import annotations

import configparser
import os
import re
import struct
import zlib
from pathlib import Path

__all__ = ["is_read_error", "short_reason"]

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def short_reason(err: BaseException, path: Path) -> str:
    """First line of a library's exception message, without directory names, for a message."""
    message = str(err).strip()
    text = message.splitlines()[0] if message else type(err).__name__
    for folder in {str(path.parent), str(path.resolve().parent)}:
        text = text.replace(folder + os.sep, "")
    # a library may quote what it failed to parse (a header line, a value): never echoed
    text = _QUOTED.sub(lambda m: m.group(0) if len(m.group(0)) <= 24 else "'…'", text)
    return text[:200].rstrip(" .")


# What MNE's readers (and the parsers under them: configparser, scipy.io, struct)
# raise on a damaged or foreign file, checked for each format in
# tests/io/test_io_signals.py and by tests/io/test_io_fuzz.py, which found the
# TypeError, AttributeError, AssertionError, LookupError (unknown codec) and
# configparser.Error that mangled headers cause; InputError is never raised inside them.
_READ_ERRORS = (
    OSError,
    ValueError,
    RuntimeError,
    EOFError,
    LookupError,
    TypeError,
    AttributeError,
    AssertionError,
    ArithmeticError,
    struct.error,
    configparser.Error,
    zlib.error,
)


def is_read_error(err: BaseException) -> bool:
    """Whether ``err``, raised inside a third-party reader, means the file is unreadable.

    Besides :data:`_READ_ERRORS`: MNE's FIF tag reader raises a bare
    ``Exception`` for an unknown tag type, and scipy's MATLAB reader (EEGLAB)
    ``MatReadError`` or, on some mangled headers, ``UnboundLocalError``.
    """
    return (
        isinstance(err, (*_READ_ERRORS, UnboundLocalError))
        or type(err) is Exception
        or type(err).__module__.startswith("scipy.io.matlab")
    )
