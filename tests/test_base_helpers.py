"""The package's one JSON sanitiser and one integer check."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from rehab_core._json import to_jsonable
from rehab_core._validation import check_int


def test_to_jsonable_turns_numpy_nan_paths_and_tuples_into_json():
    value = {
        1: (np.float32(0.5), np.int64(3), float("nan")),
        "a": np.array([[1.0, math.inf], [2.0, -math.inf]]),
        "p": Path("/x/y"),
        "b": True,
    }
    out = to_jsonable(value)
    assert out == {"1": [0.5, 3, None], "a": [[1.0, None], [2.0, None]], "p": "/x/y", "b": True}
    json.dumps(out, allow_nan=False)  # would raise on NaN


def test_to_jsonable_refuses_unknown_types():
    with pytest.raises(TypeError, match="object is not JSON serialisable"):
        to_jsonable(object())


@pytest.mark.parametrize("value", [3, np.int32(3)])
def test_check_int_accepts_integers(value):
    assert check_int("n", value, low=1, high=5) == 3
    assert type(check_int("n", value)) is int


@pytest.mark.parametrize(
    ("value", "kwargs", "error", "match"),
    [
        (True, {}, TypeError, "n must be a whole number, got True"),
        (2.0, {}, TypeError, "whole number"),
        ("2", {}, TypeError, "whole number"),
        (0, {"low": 1}, ValueError, r"n=0 must be at least 1\."),
        (9, {"high": 5}, ValueError, r"n=9 must be at most 5\."),
        (9, {"low": 1, "high": 5}, ValueError, r"n=9 must be between 1 and 5\."),
    ],
)
def test_check_int_refuses_with_the_parameter_name(value, kwargs, error, match):
    with pytest.raises(error, match=match):
        check_int("n", value, **kwargs)
