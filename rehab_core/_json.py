"""One JSON sanitiser for the whole package.

JSON has no NaN, no infinity, no numpy types and no tuples; every record the
package writes (manifests, evaluation reports, job progress, CLI output,
database JSON columns) goes through :func:`to_jsonable` first, so each of
them treats those values the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

__all__ = ["to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """Return ``value`` as builtins that ``json.dumps(..., allow_nan=False)`` accepts.

    * mappings become ``dict`` with ``str`` keys, tuples and lists become ``list``;
    * numpy scalars and arrays become Python numbers and (nested) lists;
    * NaN and infinities become ``None`` (JSON ``null``);
    * paths become strings; ``str``, ``int``, ``bool`` and ``None`` are kept.

    Anything else raises ``TypeError`` naming its type, rather than being
    written as an unreadable ``repr``.
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    tolist = getattr(value, "tolist", None)  # numpy scalars and arrays, torch tensors
    if callable(tolist):
        return to_jsonable(tolist())
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
