from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rehab_core.training.splits import (
    item_indices,
    patient_kfold,
    patient_labels,
    patient_split,
    repeated_patient_splits,
)


def _cohort(n: int, n_good: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = np.array([f"P{i:03d}" for i in range(n)])
    y = np.zeros(n, dtype=int)
    y[rng.permutation(n)[:n_good]] = 1
    return ids, y


@pytest.mark.parametrize(("n", "expected"), [(102, (71, 15, 16)), (86, (60, 13, 13))])
def test_paper_set_sizes(n, expected):
    ids, y = _cohort(n, n // 2 + 3)
    assert patient_split(ids, y, seed=0).sizes() == expected


@pytest.mark.parametrize("seed", [0, 1, 2, 7, 123])
def test_sets_are_disjoint_complete_and_stratified(seed):
    ids, y = _cohort(102, 41, seed=seed)
    split = patient_split(ids, y, seed=seed)
    sets = [set(split.train), set(split.val), set(split.test)]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert sets[0] | sets[1] | sets[2] == set(ids)
    good = dict(zip(ids, y, strict=True))
    p = y.mean()
    for members in (split.train, split.val, split.test):
        n_good = sum(good[m] for m in members)
        assert abs(n_good - p * len(members)) <= 1.0


def test_same_seed_same_split_other_seed_other_split():
    ids, y = _cohort(40, 18)
    a, b, c = (patient_split(ids, y, seed=s) for s in (3, 3, 4))
    assert all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("train", "val", "test"))
    assert not np.array_equal(a.test, c.test)


def test_item_level_ids_keep_each_patient_in_one_set():
    ids, y = _cohort(30, 12)
    item_ids = np.repeat(ids, 5)
    item_y = np.repeat(y, 5)
    split = patient_split(item_ids, item_y, seed=0)
    assert sum(split.sizes()) == 30
    idx = split.item_indices(item_ids)
    assert sorted(np.concatenate(list(idx.values())).tolist()) == list(range(150))
    owners = {name: set(item_ids[i]) for name, i in idx.items()}
    assert not (owners["train"] & owners["val"]) and not (owners["train"] & owners["test"])
    assert not (owners["val"] & owners["test"])


def test_zero_fraction_gives_an_empty_set():
    ids, y = _cohort(20, 10)
    split = patient_split(ids, y, fractions=(0.8, 0.2, 0.0), seed=0)
    assert split.sizes() == (16, 4, 0)


def test_patient_labels_reduces_items():
    patients, y = patient_labels(["b", "a", "b", "a"], [1, 0, 1, 0])
    assert patients.tolist() == ["a", "b"] and y.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("ids", "labels", "kwargs", "error", "match"),
    [
        (
            [1, 1, 2, 3, 4, 5],
            [0, 1, 0, 1, 0, 1],
            {},
            ValueError,
            r"patients \[1\] carry both outcomes",
        ),
        ([1, 2, 3], [0, 2, 1], {}, ValueError, r"labels must be 0 \(poor\) or 1"),
        ([1, 2, 3], [0, 1], {}, ValueError, "patient_ids has 3 entries but labels has 2"),
        ([], [], {}, ValueError, "patient_ids is empty"),
        (list(range(10)), [1] * 10, {}, ValueError, "labels hold only one outcome"),
        (
            list(range(10)),
            [0, 1] * 5,
            {"fractions": (0.5, 0.2, 0.2)},
            ValueError,
            "must add up to 1",
        ),
        (
            list(range(10)),
            [0, 1] * 5,
            {"fractions": (0.5, 0.5)},
            ValueError,
            "must hold three numbers",
        ),
        (
            list(range(10)),
            [0, 1] * 5,
            {"fractions": (1.2, -0.1, -0.1)},
            ValueError,
            "must lie between 0 and 1",
        ),
        (
            list(range(10)),
            [0, 1] * 5,
            {"fractions": (0.0, 0.5, 0.5)},
            ValueError,
            "leaves no patient for training",
        ),
        (list(range(6)), [0, 1] * 3, {}, ValueError, "cannot stratify the test set"),
        ([[1, 2]], [[0, 1]], {}, ValueError, "must be one-dimensional"),
    ],
)
def test_patient_split_refuses_bad_input(ids, labels, kwargs, error, match):
    with pytest.raises(error, match=match):
        patient_split(ids, labels, seed=0, **kwargs)


def test_kfold_holds_out_every_patient_once_stratified():
    ids, y = _cohort(102, 47)
    folds = patient_kfold(ids, y, n_splits=5, seed=0)
    assert [f.fold for f in folds] == list(range(5))
    held = np.concatenate([f.test for f in folds])
    assert sorted(held.tolist()) == sorted(ids.tolist())
    good = dict(zip(ids, y, strict=True))
    for f in folds:
        assert not set(f.train) & set(f.test)
        assert len(f.train) + len(f.test) == 102
        assert abs(sum(good[m] for m in f.test) - y.mean() * len(f.test)) <= 1.0
    assert patient_kfold(ids, y, n_splits=5, seed=0)[2].test.tolist() == folds[2].test.tolist()


def test_kfold_item_indices():
    ids, y = _cohort(10, 5)
    item_ids = np.repeat(ids, 3)
    fold = patient_kfold(ids, y, n_splits=5, seed=1)[0]
    idx = fold.item_indices(item_ids)
    assert len(idx["test"]) == 3 * len(fold.test)
    assert set(item_ids[idx["test"]]) == set(fold.test)


@pytest.mark.parametrize(
    ("n_splits", "match"),
    [
        (1, "n_splits=1 must be at least 2"),
        (7, "smaller outcome group has only 6 patients"),
    ],
)
def test_kfold_refuses_bad_n_splits(n_splits, match):
    ids, y = _cohort(20, 6)
    with pytest.raises(ValueError, match=match):
        patient_kfold(ids, y, n_splits=n_splits, seed=0)


def test_repeated_splits_are_reproducible_and_distinct():
    ids, y = _cohort(50, 20)
    first = repeated_patient_splits(ids, y, n_repeats=4, seed=9)
    again = repeated_patient_splits(ids, y, n_repeats=4, seed=9)
    assert [s.seed for s in first] == [s.seed for s in again]
    assert len({s.seed for s in first}) == 4
    assert len({tuple(s.test.tolist()) for s in first}) == 4
    assert all(s.sizes() == (35, 8, 7) for s in first)
    with pytest.raises(ValueError, match="n_repeats=0 must be at least 1"):
        repeated_patient_splits(ids, y, n_repeats=0, seed=0)


def test_item_indices_refuses_2d():
    with pytest.raises(ValueError, match="item_patient_ids must be one-dimensional"):
        item_indices(np.zeros((2, 2)), [0])


def test_splits_import_without_torch():
    code = (
        "import sys, rehab_core.training as t; t.patient_split; assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
