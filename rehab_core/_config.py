"""Frozen settings dataclasses with a JSON round trip (after timm's configs).

Every processing step takes its parameters as one frozen dataclass that
derives from :class:`Settings`.  ``to_dict`` gives plain JSON types, so the
exact settings can be written next to every result and checkpoint and read
back with ``from_dict`` to reproduce it.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, TypeVar

__all__ = ["Settings"]

T = TypeVar("T", bound="Settings")


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value


@dataclasses.dataclass(frozen=True)
class Settings:
    """Base class of every settings dataclass in :mod:`rehab_core`."""

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as JSON-ready builtins, with the class name under ``"kind"``."""
        return {"kind": type(self).__name__, **_plain(self)}

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **{"indent": 2, "sort_keys": True, **kwargs})

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        """Rebuild settings from :meth:`to_dict` output; unknown keys are an error."""
        data = {k: v for k, v in data.items() if k != "kind"}
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"{cls.__name__} has no setting(s) {', '.join(unknown)}.")
        kwargs = {}
        for key, value in data.items():
            has_default = names[key].default is not dataclasses.MISSING
            default = getattr(cls, key, None) if has_default else None
            if isinstance(value, list) and isinstance(default, tuple):
                value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
            kwargs[key] = value
        return cls(**kwargs)

    @classmethod
    def from_json(cls: type[T], text: str) -> T:
        return cls.from_dict(json.loads(text))

    def replace(self: T, **changes: Any) -> T:
        return dataclasses.replace(self, **changes)
