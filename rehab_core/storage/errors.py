"""The store's refusals: each message is one plain sentence for the user."""

from __future__ import annotations

from rehab_core.io.errors import InputError

__all__ = ["RecordNotFound", "UploadTooLargeError"]


class RecordNotFound(LookupError):
    """No row with the asked-for id; the message is one plain sentence."""


class UploadTooLargeError(InputError):
    """The upload is larger than the store's limit (``REHAB_MAX_UPLOAD_MB``)."""
