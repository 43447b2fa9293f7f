"""Tiny seeded synthetic fMRI runs: an ellipsoid "brain" with texture and noise."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

VOXEL_MM = 4.0
TR_S = 2.0


def make_run(
    shape: tuple[int, int, int] = (24, 24, 14),
    n_vols: int = 64,
    seed: int = 0,
    voxel_mm: float = VOXEL_MM,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(data (x, y, z, t) float32, affine (4, 4), brain (x, y, z) bool)``.

    The brain is an ellipsoid filling the middle of the field of view (with
    the default shape the two top and bottom axial slices hold no brain and
    the next ones only a small cap), with smooth spatial texture
    (intensity ~800 +- 150), 1 % multiplicative and 5-unit additive white
    noise over time, and a background of 20.
    """
    rng = np.random.default_rng(seed)
    centre = (np.array(shape) - 1) / 2.0
    grid = np.indices(shape, dtype=np.float64)
    radii = np.array(shape) / 2.0 - np.array([1.5, 1.5, 1.8])
    r = np.sqrt(sum(((grid[i] - centre[i]) / radii[i]) ** 2 for i in range(3)))
    brain = r < 1.0
    texture = ndimage.gaussian_filter(rng.standard_normal(shape), 1.5)
    texture /= texture.std()
    base = np.where(brain, 800.0 + 150.0 * texture, 20.0)
    data = base[..., np.newaxis] * (1.0 + 0.01 * rng.standard_normal((*shape, n_vols)))
    data += 5.0 * rng.standard_normal(data.shape)
    affine = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = -voxel_mm * centre
    return data.astype(np.float32), affine, brain


def make_image(data: np.ndarray, affine: np.ndarray, tr_s: float = TR_S):
    import nibabel

    img = nibabel.Nifti1Image(data, affine)
    if data.ndim == 4:
        img.header.set_zooms((*np.sqrt((affine[:3, :3] ** 2).sum(axis=0)), tr_s))
    img.header.set_xyzt_units("mm", "sec")
    return img


@pytest.fixture
def run_factory():
    """The :func:`make_run` factory (fixtures, not imports: conftest is not a module)."""
    return make_run


@pytest.fixture
def image_factory():
    """The :func:`make_image` factory."""
    return make_image


@pytest.fixture(scope="session")
def demo_bold(tmp_path_factory):
    """A demo patient's BOLD run (64 x 64 x 35 x 50, 3.4 x 3.4 x 4 mm, TR 2 s), loaded.

    ``rehab_core.demo`` draws a brain from the MNI152 template with its own
    head position (up to 3 mm and 3 degrees), lesion, bias field and noise.
    """
    import nibabel

    from rehab_core.demo import generate_patient

    patient = generate_patient(
        tmp_path_factory.mktemp("demo_bold"), seed=7, with_signals=False, volumes=50
    )
    return nibabel.load(patient.fmri_path)
