"""Crash-safe, private file writes shared by checkpoints, weights bundles and uploads.

Files are written 0600 and folders made 0700 (``make_private_dir``) by passing
the mode explicitly: the process umask is never changed, because it is shared
by every thread and a brief ``umask(0)`` let other threads create
world-writable files (issue 14, finding 11).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic", "fsync_dir", "make_private_dir", "FILE_MODE", "DIR_MODE"]

FILE_MODE = 0o600
"""Mode of files holding data at rest: readable and writable by the service's user only."""
DIR_MODE = 0o700
"""Mode of folders holding data at rest."""


def write_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int = FILE_MODE) -> None:
    """Write ``data`` to ``path`` so a reader sees the old file or the whole new one.

    The bytes go to a temporary file in the same folder, are flushed to disk
    (``fsync``) and renamed over ``path``; on any error the temporary file
    is removed and ``path`` is untouched. The file gets ``mode`` (0600 by
    default) with ``fchmod``, whatever the umask; the umask is not touched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def make_private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and missing parents) as 0700 folders; an existing one is set to 0700.

    The hook for the store's data folder (``files/``, ``tmp/``, ``jobs/``):
    ``mkdir(mode=0o700)`` can only lose bits to the umask, never gain them,
    and ``chmod`` makes an existing folder private too.
    """
    path = Path(path)
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)
    return path


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Flush a folder's entries (a rename) to disk; a no-op where folders cannot be opened."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
