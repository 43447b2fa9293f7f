from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from rehab_core.training.datasets import (
    SliceAugmentation,
    SliceDataset,
    WindowDataset,
    augment_slice,
)


def _slices(n: int = 6, size: int = 24, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3, size, size)).astype(np.float32)
    ids = np.repeat(np.arange(n // 2), 2)
    return x, ids, {int(p): int(p % 2) for p in np.unique(ids)}


def test_window_items_are_copies_of_the_array(windows_data):
    x, ids, labels = windows_data
    before = x.copy()
    ds = WindowDataset(x, ids, labels)
    assert ds.data is x and len(ds) == len(x)
    item, y, p = ds[5]
    assert item.dtype == torch.float32 and item.shape == (3, 16)
    assert y.dtype == torch.float32 and y.ndim == 0 and float(y) == labels[int(ids[5])]
    assert p.dtype == torch.int64 and ds.patients[int(p)] == ids[5]
    item += 100.0  # changing the item must not reach the caller's array
    np.testing.assert_array_equal(x, before)


def test_window_subset_by_indices_and_patient_tables(windows_data):
    x, ids, labels = windows_data
    idx = np.flatnonzero(np.isin(ids, [3, 7, 8]))
    ds = WindowDataset(x, ids, labels, indices=idx)
    assert len(ds) == 12
    assert ds.patients.tolist() == [3, 7, 8]
    assert ds.patient_labels.tolist() == [1.0, 1.0, 0.0]
    assert ds.item_patient_ids.tolist() == ids[idx].tolist()
    torch.testing.assert_close(ds[0][0], torch.from_numpy(x[idx[0]]))


def test_labels_per_item_equal_labels_per_patient(windows_data):
    x, ids, labels = windows_data
    per_item = np.array([labels[int(i)] for i in ids])
    a, b = WindowDataset(x, ids, labels), WindowDataset(x, ids, per_item)
    np.testing.assert_array_equal(a.item_labels, b.item_labels)


def test_read_only_memmap_like_array_works_without_warning(windows_data):
    x, ids, labels = windows_data
    x = x.copy()
    x.setflags(write=False)
    ds = WindowDataset(x, ids, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds[0]


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (
            lambda x, i, lab: (x.astype(np.float64), i, lab, None),
            TypeError,
            "windows must be float32, got float64",
        ),
        (
            lambda x, i, lab: (x[0], i, lab, None),
            ValueError,
            r"windows must have shape \(n_windows, n_chans, n_times\)",
        ),
        (
            lambda x, i, lab: (x.tolist(), i, lab, None),
            TypeError,
            "windows must be a numpy array, got list",
        ),
        (
            lambda x, i, lab: (x, i[:-1], lab, None),
            ValueError,
            r"patient_ids must hold one id per item \(80\)",
        ),
        (
            lambda x, i, lab: (x, i, {0: 1}, None),
            ValueError,
            r"labels has no outcome for patient\(s\) \[1, 2",
        ),
        (
            lambda x, i, lab: (x, i, np.arange(len(i)) % 2, None),
            ValueError,
            "labels differ between items",
        ),
        (
            lambda x, i, lab: (x, i, np.full(len(i), 3), None),
            ValueError,
            r"labels must be 0 \(poor\) or 1",
        ),
        (lambda x, i, lab: (x, i, np.ones(3), None), ValueError, "one label per item"),
        (lambda x, i, lab: (x, i, lab, [0, 80]), ValueError, r"indices must lie in \[0, 79\]"),
        (lambda x, i, lab: (x, i, lab, [0.5]), ValueError, "indices must be a 1-D integer array"),
    ],
)
def test_window_dataset_refuses_bad_input(windows_data, change, error, match):
    x, ids, labels, indices = change(*windows_data)
    with pytest.raises(error, match=match):
        WindowDataset(x, ids, labels, indices=indices)


def test_slice_dataset_without_augmentation_returns_the_slice():
    x, ids, labels = _slices()
    ds = SliceDataset(x, ids, labels)
    assert not ds.training
    np.testing.assert_array_equal(ds[2][0].numpy(), x[2])
    with pytest.raises(TypeError, match="slices must be float32, got float16"):
        SliceDataset(x.astype(np.float16), ids, labels)
    with pytest.raises(
        ValueError, match=r"slices must have shape \(n_slices, n_channels, height, width\)"
    ):
        SliceDataset(x[:, 0], ids, labels)


def test_augmentation_shapes_determinism_and_epochs():
    x, ids, labels = _slices()
    aug = SliceAugmentation()
    a = SliceDataset(x, ids, labels, augmentation=aug, seed=1)
    b = SliceDataset(x, ids, labels, augmentation=aug, seed=1)
    assert a.training
    first = a[3][0]
    assert first.shape == (3, 24, 24) and first.dtype == torch.float32
    _ = [b[i] for i in range(3)]  # reading order does not matter
    torch.testing.assert_close(b[3][0], first, rtol=0, atol=0)
    torch.testing.assert_close(a[3][0], first, rtol=0, atol=0)  # same epoch, same draw
    assert not torch.equal(first, torch.from_numpy(x[3]))
    a.set_epoch(1)
    assert not torch.equal(a[3][0], first)
    c = SliceDataset(x, ids, labels, augmentation=aug, seed=2)
    assert not torch.equal(c[3][0], first)


def test_eval_mode_switches_augmentation_off():
    x, ids, labels = _slices()
    ds = SliceDataset(x, ids, labels, augmentation=SliceAugmentation(), seed=0)
    assert ds.eval() is ds and not ds.training
    np.testing.assert_array_equal(ds[1][0].numpy(), x[1])
    ds.train()
    assert not np.array_equal(ds[1][0].numpy(), x[1])


def test_rotation_changes_the_image_and_keeps_the_background():
    image = torch.full((3, 32, 32), -2.0)
    image[:, 8:24, 14:18] = 3.0  # a vertical bar
    only_rotation = SliceAugmentation.only(max_rotation_deg=15.0)
    before = image.clone()
    out = augment_slice(image, only_rotation, torch.Generator().manual_seed(0))
    torch.testing.assert_close(image, before, rtol=0, atol=0)  # input untouched
    assert not torch.allclose(out, image)
    assert out.min() >= -2.0 - 1e-5 and out.max() <= 3.0 + 1e-5  # corners filled with the minimum
    torch.testing.assert_close(out.mean(), image.mean(), atol=0.1, rtol=0)  # same bar, rotated


def test_flip_and_brightness_are_what_they_say():
    image = torch.arange(3 * 4 * 5, dtype=torch.float32).reshape(3, 4, 5)
    flip = SliceAugmentation.only(flip_probability=1.0)
    torch.testing.assert_close(
        augment_slice(image, flip, torch.Generator()), torch.flip(image, dims=(-1,))
    )
    bright = SliceAugmentation.only(brightness=0.5)
    out = augment_slice(image, bright, torch.Generator().manual_seed(3))
    floor = image.amin(dim=(1, 2), keepdim=True)
    ratio = (out - floor)[:, 1:] / (image - floor)[:, 1:]
    assert 0.5 <= float(ratio.mean()) <= 1.5 and float(ratio.std()) < 1e-5
    torch.testing.assert_close(out.amin(dim=(1, 2), keepdim=True), floor)


def test_augmentation_settings_and_input_are_checked():
    with pytest.raises(ValueError, match="max_rotation_deg=200 must lie between 0.0 and 180.0"):
        SliceAugmentation(max_rotation_deg=200)
    with pytest.raises(ValueError, match="flip_probability=1.5 must lie between"):
        SliceAugmentation(flip_probability=1.5)
    with pytest.raises(
        ValueError, match=r"image must be a float tensor of shape \(n_channels, height, width\)"
    ):
        augment_slice(torch.zeros(2, 3, 8, 8), SliceAugmentation(), torch.Generator())
    x, ids, labels = _slices()
    with pytest.raises(
        TypeError, match="augmentation must be a SliceAugmentation or None, got dict"
    ):
        SliceDataset(x, ids, labels, augmentation={"brightness": 0.1})
    with pytest.raises(ValueError, match="seed=-1 must be at least 0"):
        SliceDataset(x, ids, labels, seed=-1)
    assert (
        SliceAugmentation.from_dict(SliceAugmentation(brightness=0.2).to_dict()).brightness == 0.2
    )


def test_read_items_stacks_stored_slices_in_one_copy():
    x, ids, labels = _slices()
    ds = SliceDataset(x, ids, labels, indices=[5, 1, 3, 0], augmentation=SliceAugmentation())
    xb, yb, pb = ds.read_items([2, 0, 3])
    stacked = torch.utils.data.default_collate([ds.read_item(i) for i in (2, 0, 3)])
    for got, expected in zip((xb, yb, pb), stacked, strict=True):
        assert got.dtype == expected.dtype
        torch.testing.assert_close(got, expected, rtol=0, atol=0)
    np.testing.assert_array_equal(xb.numpy(), x[[3, 5, 0]])  # never augmented
    xb[:] = 0  # a copy: the caller's array is untouched
    assert np.abs(x[[3, 5, 0]]).sum() > 0
