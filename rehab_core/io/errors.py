"""Errors raised for refused input files, and the one warning the readers give.

Every file the readers refuse raises a subclass of :class:`InputError`, itself
a :class:`ValueError`, so a caller (the dashboard, the CLI) can catch the whole
family with one ``except InputError`` and show ``str(err)`` to the user as is.
Every message is one plain sentence that names the file (its basename), says
what is wrong and what was expected, e.g.::

    rec.txt line 15 has 21 values but the channel-name line names 22 channels.

Programming errors (a wrong argument to a function) are *not* ``InputError``;
they raise plain ``ValueError`` / ``TypeError`` through
:mod:`rehab_core._validation`.
"""

from __future__ import annotations

__all__ = [
    "shown",
    "InputError",
    "UnknownFormatError",
    "EmptyFileError",
    "CorruptFileError",
    "RaggedColumnsError",
    "NonNumericError",
    "NonFiniteError",
    "TooShortError",
    "UnknownSamplingRateError",
    "UnknownUnitError",
    "HeaderMismatchError",
    "ChannelNamesError",
    "MissingChannelsError",
    "NotFourDimensionalError",
    "TooLargeError",
    "ExternalFileError",
    "ResourceLimitError",
    "DefaultSamplingRateWarning",
]


_SHOWN_MAX = 16


def shown(token: str) -> str:
    """A value read from a file, as a message may quote it: short ones as they are, in quotes.

    Messages name positions (line, column, channel), not content: a long
    token (a line of some other file a header pointed at, a password in a
    CSV) is described by its length instead, so that refusal tables never
    echo file content.
    """
    text = str(token)
    if len(text) <= _SHOWN_MAX and text.isprintable():
        return repr(text)
    return f"a {len(text)}-character value"


class InputError(ValueError):
    """Base class: an input file was refused; the message is for the end user."""


class UnknownFormatError(InputError):
    """The file extension (or a format version) is not one the readers support."""


class EmptyFileError(InputError):
    """The file is empty, or holds a header but no samples."""


class CorruptFileError(InputError):
    """The file cannot be decoded: truncated, not the format its name says, bad JSON/UTF-8."""


class RaggedColumnsError(InputError):
    """A text row holds a different number of values than there are channels."""


class NonNumericError(InputError):
    """A text cell is not a number."""


class NonFiniteError(InputError):
    """The data hold NaN or infinite values."""


class TooShortError(InputError):
    """The recording is shorter than the analysis needs (one 10-s window; 100 s of fMRI)."""


class UnknownSamplingRateError(InputError):
    """The sampling rate (or fMRI repetition time) is missing, non-numeric or not positive."""


class UnknownUnitError(InputError):
    """The declared signal or time unit is not one the reader can convert."""


class HeaderMismatchError(InputError):
    """A header or sidecar contradicts the data or the other one."""


class ChannelNamesError(InputError):
    """Channel names or their declared types are unusable (duplicates, numbers, unknown type)."""


class MissingChannelsError(InputError):
    """A recording lacks channels the model needs."""


class NotFourDimensionalError(InputError):
    """An fMRI image is not a 4D (x, y, z, time) series."""


class TooLargeError(InputError):
    """The file declares (or unpacks to) more data than any accepted recording holds."""


class ExternalFileError(InputError):
    """The file refers to another file: outside its own folder, or one that must come with it."""


class ResourceLimitError(InputError):
    """Reading the file took too long or too much memory, or crashed the reader (sandbox)."""


class DefaultSamplingRateWarning(UserWarning):
    """A text recording gave no sampling rate and the paper's 1000 Hz was assumed."""
