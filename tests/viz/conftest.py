"""Tiny seeded fMRI series and their preprocessing results for the figure tests.

The EEG-EMG recordings (``recording``, ``signal_result``, ``clean_result``,
``chans``) are in ``tests/conftest.py``: ``tests/signals`` uses them too.
"""

from __future__ import annotations

import numpy as np
import pytest


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _drawn_strings(fig) -> list[str]:
    data = fig.to_plotly_json()
    # the template is the environment's, not the builder's (importing streamlit makes its
    # theme, with the placeholder colours it swaps in the browser, the default)
    data.get("layout", {}).pop("template", None)
    return list(_strings(data))


@pytest.fixture(scope="session")
def figure_strings():
    """Every string a builder put in a figure (titles, tick text, names, colours, hover text)."""
    return _drawn_strings


@pytest.fixture(scope="session")
def leg_muscles():
    """The paper's six leg muscles as the figures name and order them (front, then back)."""
    return [
        "proximal rectus femoris",
        "rectus femoris",
        "vastus medialis",
        "gluteus maximus",
        "biceps femoris (long head)",
        "semitendinosus",
    ]


def make_bold(shape=(16, 16, 10), n_vols=60, seed=0):
    """A ball of 'brain' (~1000 a.u., 1 % noise) in a 20 a.u. background, 3-mm voxels, TR 2 s."""
    import nibabel

    rng = np.random.default_rng(seed)
    centre = (np.array(shape) - 1) / 2.0
    grid = np.indices(shape, dtype=np.float64)
    r = np.sqrt(sum(((grid[i] - centre[i]) / (shape[i] / 2.0 - 1.0)) ** 2 for i in range(3)))
    base = np.where(r < 1.0, 1000.0, 20.0)
    data = base[..., None] * (1.0 + 0.01 * rng.standard_normal((*shape, n_vols)))
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    img = nibabel.Nifti1Image(data.astype(np.float32), affine)
    img.header.set_zooms((3.0, 3.0, 3.0, 2.0))
    img.header.set_xyzt_units("mm", "sec")
    return img


@pytest.fixture(scope="module")
def imaging_result():
    """A sphere, not a brain: preprocessed in scanner space."""
    from rehab_core.imaging import ImagingSettings, preprocess_fmri

    settings = ImagingSettings(voxel_size_mm=3.0, image_size=32, normalization="none")
    return preprocess_fmri(make_bold(), settings)


@pytest.fixture(scope="session")
def registered_result(tmp_path_factory):
    """A demo brain preprocessed in template space (the default)."""
    import nibabel

    from rehab_core.demo import generate_patient
    from rehab_core.imaging import ImagingSettings, preprocess_fmri

    patient = generate_patient(
        tmp_path_factory.mktemp("bold"), seed=5, with_signals=False, volumes=50
    )
    return preprocess_fmri(nibabel.load(patient.fmri_path), ImagingSettings(image_size=32))
