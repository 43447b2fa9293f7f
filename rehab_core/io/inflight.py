"""At most a few uploads checked at once: per user and on the whole server.

Each upload check runs in a sandboxed child (:mod:`rehab_core.io.sandbox`)
that may use up to its memory budget; without a bound, a handful of
sessions uploading at once would run the machine out of memory or CPU for
everyone. The pages take a slot around each check::

    with upload_slot(user.username):
        store.add_upload(...)

A slot is never waited for: when none is free the upload is refused at once
with one sentence (:class:`UploadsBusyError`) and the user tries again.

``REHAB_UPLOADS_PER_USER`` (default 2) and ``REHAB_UPLOADS_TOTAL`` (default 4)
set the bounds, read when the first slot is taken. The count is per server
process (Streamlit serves every session from one).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

__all__ = [
    "DEFAULT_PER_USER",
    "DEFAULT_TOTAL",
    "UploadSlots",
    "UploadsBusyError",
    "upload_slot",
]

DEFAULT_PER_USER = 2
DEFAULT_TOTAL = 4


class UploadsBusyError(RuntimeError):
    """No upload slot is free; the message is one sentence for the user."""


class UploadSlots:
    """Counting slots, at most ``per_user`` per user name and ``total`` overall.

    Parameters
    ----------
    per_user : int
        Uploads one user may have checked at the same time.
    total : int
        Uploads the server checks at the same time.
    """

    def __init__(self, per_user: int = DEFAULT_PER_USER, total: int = DEFAULT_TOTAL) -> None:
        if per_user < 1 or total < 1:
            raise ValueError(f"{per_user=} and {total=} must both be at least 1.")
        self.per_user = int(per_user)
        self.total = int(total)
        self._lock = threading.Lock()
        self._by_user: dict[str, int] = {}
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Uploads being checked now."""
        return self._in_flight

    @contextmanager
    def hold(self, user: str) -> Iterator[None]:
        """Take a slot for ``user`` for the duration of the ``with`` block.

        Raises
        ------
        UploadsBusyError
            ``user`` already holds ``per_user`` slots, or all ``total`` are taken.
        """
        with self._lock:
            if self._by_user.get(user, 0) >= self.per_user:
                raise UploadsBusyError(
                    f"You already have {self.per_user} upload(s) being checked; "
                    "wait for them to finish, then upload this file again."
                )
            if self._in_flight >= self.total:
                raise UploadsBusyError(
                    f"The server is checking {self.total} uploads at the moment; "
                    "upload this file again in a minute."
                )
            self._by_user[user] = self._by_user.get(user, 0) + 1
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                left = self._by_user[user] - 1
                if left:
                    self._by_user[user] = left
                else:
                    del self._by_user[user]


_slots: UploadSlots | None = None
_slots_lock = threading.Lock()


def _env_int(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value >= 1 else default


def upload_slot(user: str) -> AbstractContextManager[None]:
    """The server's slot for one upload check by ``user`` (see :meth:`UploadSlots.hold`)."""
    global _slots
    with _slots_lock:
        if _slots is None:
            _slots = UploadSlots(
                _env_int("REHAB_UPLOADS_PER_USER", DEFAULT_PER_USER),
                _env_int("REHAB_UPLOADS_TOTAL", DEFAULT_TOTAL),
            )
    return _slots.hold(user)
