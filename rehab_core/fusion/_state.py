"""JSON-ready state of the fusion estimators (weights bundles ship a JSON manifest, never pickle).

Each estimator's ``to_dict`` gives ``{"kind": class name, "params": constructor
parameters}`` plus, once fitted, one key per learned value; ``from_dict`` reads
that back through :func:`read_state`.  Every float written is finite, so
``json.dumps(state, allow_nan=False)`` works.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from rehab_core._validation import check_int

__all__: list[str] = []

_JSON_SCALARS = (type(None), bool, int, float, str)


def plain(name: str, value: Any) -> Any:
    """``value`` as JSON builtins (finite floats only), or ``TypeError`` naming ``name``."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (list, tuple)):
        return [plain(name, v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name}={value!r} is not finite, so it cannot be stored as JSON.")
    if isinstance(value, _JSON_SCALARS):
        return value
    raise TypeError(
        f"{name} (a {type(value).__name__}) cannot be stored as JSON; "
        "use None, a number, a string or a list."
    )


def learned_state(estimator: Any, names: Sequence[str]) -> dict[str, Any]:
    """``{name: estimator.<name>_}`` for each learned value, as JSON builtins (:func:`plain`)."""
    return {name: plain(f"{name}_", getattr(estimator, f"{name}_")) for name in names}


def json_params(estimator: Any, *, described: Sequence[str] = ()) -> dict[str, Any]:
    """Constructor parameters of ``estimator`` as JSON builtins.

    Parameters named in ``described`` that are objects (a scikit-learn
    splitter given as ``cv``) are stored as their ``repr``: enough to say what
    was used, not to rebuild it.
    """
    params = {}
    for name, value in estimator.get_params(deep=False).items():
        try:
            params[name] = plain(name, value)
        except TypeError:
            if name not in described:
                raise
            params[name] = repr(value)
    return params


def float_array(state: dict[str, Any], key: str, ndim: int) -> np.ndarray:
    """``state[key]`` as a new float64 array of ``ndim`` dimensions with finite values."""
    try:
        arr = np.array(state[key], dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"State entry {key!r} must hold numbers, got {state[key]!r}.") from err
    if arr.ndim != ndim or arr.size == 0:
        raise ValueError(
            f"State entry {key!r} must be a non-empty {ndim}-D list of numbers, "
            f"got shape {arr.shape}."
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"State entry {key!r} must hold finite numbers only.")
    return arr


def finite_float(state: dict[str, Any], key: str) -> float:
    """``state[key]`` as a finite ``float``."""
    value = state[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"State entry {key}={value!r} must be a finite number.")
    return float(value)


def count(state: dict[str, Any], key: str) -> int:
    """``state[key]`` as a non-negative ``int``."""
    value = state[key]
    return check_int(f"State entry {key}", value, low=0)


def read_state(
    cls: type, state: object, learned: Sequence[str]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Split a ``to_dict`` state into constructor parameters and learned values.

    Returns
    -------
    params : dict
        Keyword arguments for ``cls``; parameters left out keep their defaults.
    fitted : dict or None
        The ``learned`` entries, or ``None`` for the state of an unfitted
        estimator (no learned entry at all).
    """
    if not isinstance(state, dict):
        raise TypeError(f"{cls.__name__} state must be a dict, got {type(state).__name__}.")
    kind = state.get("kind")
    if kind != cls.__name__:
        raise ValueError(f"This is the state of {kind!r}, not of {cls.__name__!r}.")
    unknown = sorted(set(state) - {"kind", "params", *learned})
    if unknown:
        raise ValueError(f"{cls.__name__} state has unknown entries {', '.join(unknown)}.")
    params = state.get("params", {})
    if not isinstance(params, dict):
        raise TypeError(f"{cls.__name__} state 'params' must be a dict, got {params!r}.")
    allowed = cls().get_params(deep=False)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"{cls.__name__} has no parameter(s) {', '.join(unknown)}.")
    present = [k for k in learned if k in state]
    if not present:
        return dict(params), None
    missing = [k for k in learned if k not in state]
    if missing:
        raise ValueError(
            f"{cls.__name__} state is partly fitted: it lacks {', '.join(missing)}; "
            "save it again with to_dict()."
        )
    return dict(params), {k: state[k] for k in learned}
