"""One lock per model object for the explainers.

Grad-CAM hooks a layer and both explainers switch the model to eval mode and
back; two explanations of one cached model (two dashboard sessions) must not
interleave.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

__all__ = ["model_lock"]

_LOCKS: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def model_lock(model: Any) -> threading.Lock:
    """The lock of ``model`` (created on first use, dropped with the model)."""
    with _GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = threading.Lock()
        return lock
