"""Choosing the same template slices for every patient: a height range and a stride."""

from __future__ import annotations

import numpy as np
import pytest

from rehab_core.imaging import ImagingSettings, select_slices


def test_range_and_stride_pick_the_same_heights_whatever_the_screening():
    z_mm = -72.0 + 4.0 * np.arange(41)  # a 4-mm template grid
    all_kept = np.arange(5, 36)
    kept, out = select_slices(all_kept, {}, z_mm, z_range_mm=(-40.0, 40.0), step=2)
    np.testing.assert_array_equal(z_mm[kept], np.arange(-40.0, 41.0, 8.0))
    assert out[5].startswith("outside the model's slice range (-40 to 40 mm")
    assert out[int(kept[0]) + 1] == "not used by the model (it takes one slice in 2 of its range)"
    # a patient whose scan missed the lowest slices keeps the same heights (no shift of stride)
    partial, _ = select_slices(
        np.arange(12, 36), {3: "too little brain"}, z_mm, z_range_mm=(-40.0, 40.0), step=2
    )
    assert set(z_mm[partial]) <= set(z_mm[kept])
    np.testing.assert_array_equal(partial, kept[kept >= 12])


def test_without_range_or_stride_nothing_changes():
    kept, out = select_slices(np.array([3, 4, 9]), {1: "x"}, np.arange(12.0))
    np.testing.assert_array_equal(kept, [3, 4, 9])
    assert out == {1: "x"}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"slice_range_mm": (10.0, -10.0)}, ValueError, "slice_range_mm must be a pair"),
        (
            {"slice_range_mm": (-10.0, 10.0), "normalization": "none"},
            ValueError,
            "needs normalization='mni152'",
        ),
        ({"slice_step": 0}, ValueError, "slice_step=0 must be at least 1"),
        ({"slice_step": True}, TypeError, "slice_step must be a whole number"),
    ],
)
def test_settings_refuse_a_meaningless_selection(kwargs, error, match):
    with pytest.raises(error, match=match):
        ImagingSettings(**kwargs)


def test_settings_round_trip_keeps_the_selection():
    settings = ImagingSettings(slice_range_mm=(-40, 40), slice_step=2, image_size=112)
    again = ImagingSettings.from_dict(settings.to_dict())
    assert again == settings and again.slice_range_mm == (-40.0, 40.0)


def test_the_pipeline_keeps_the_chosen_template_heights(demo_bold):
    """preprocess_fmri with a range and a stride: a subset of the same slices, same pixels."""
    from rehab_core.imaging import preprocess_fmri

    full = preprocess_fmri(demo_bold, ImagingSettings(image_size=64))
    chosen = preprocess_fmri(
        demo_bold, ImagingSettings(image_size=64, slice_range_mm=(-40, 40), slice_step=2)
    )
    z_mm = chosen.affine[2, 2] * chosen.slice_index + chosen.affine[2, 3]
    assert z_mm.min() >= -40 and z_mm.max() <= 40 and np.all(np.diff(z_mm) == 8.0)
    assert set(chosen.slice_index) < set(full.slice_index)
    rows = np.searchsorted(full.slice_index, chosen.slice_index)
    np.testing.assert_array_equal(chosen.slices, full.slices[rows])
    assert all(k in chosen.screened_out for k in set(full.slice_index) - set(chosen.slice_index))
