"""Spatial normalisation: affine registration of a mean EPI to the MNI152 template.

The template is the MNI152 2009a symmetric T1 brain that ships inside the
nilearn wheel (the file behind ``nilearn.datasets.load_mni152_template``; its
brain mask is ``load_mni152_brain_mask``'s: the template above 0.2 of its
maximum). It is read with nibabel from the installed package, never
downloaded, and nilearn itself is not imported (seconds per process).

The registration (SimpleITK, chosen by ``bench/bench_registration.py``) maps
the template onto the subject's mean EPI in three stages: rigid, then affine
at 8 mm, then affine at 4 mm, each maximising Mattes mutual information (the
EPI is T2*-weighted: fluid bright, white matter dark; the template is T1: the
opposite, which mutual information allows) over a few thousand fixed random
points of the template's brain and an 8-mm rim of background. It starts from
the header (world coordinates) plus the shift between the two brains'
centres of mass.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rehab_core.imaging.grid import _check_affine
from rehab_core.io.errors import InputError

__all__ = [
    "GRID_BOX_MM",
    "TEMPLATE_SPACE",
    "RegistrationError",
    "RegistrationResult",
    "claims_template_space",
    "register_to_template",
    "template_grid",
    "template_on_grid",
    "template_path",
]

#: Name of the template space (TemplateFlow's name for nilearn's bundled template).
TEMPLATE_SPACE = "MNI152NLin2009aSym"
_TEMPLATE_FILE = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
_MASK_THRESHOLD = 0.2  # nilearn.datasets.load_mni152_brain_mask's default
#: World box (MNI mm, RAS) that every template-space grid spans: the template's
#: brain mask (x -72..72, y -107..73, z -72..82) plus 4 mm; the template ends at z = -72.
GRID_BOX_MM = ((-76.0, 76.0), (-111.0, 77.0), (-72.0, 86.0))
_FIXED_MM = 4  # resolution of the template the registration compares with
_RIM_VOXELS = 2  # background rim (in _FIXED_MM voxels) kept around the brain for the metric
_HISTOGRAM_BINS = 32
_SEED = 1
#: The registration's stages: transform, shrink factor of the 4-mm template,
#: sampled points (``None``: every voxel of the region, about 4,400 at 8 mm),
#: largest step (mm) and most iterations (each stage stops when
#: the metric has settled over 8 iterations: most scans need 10-50); one
#: thread, seeded, so the same file gives the same transform. Chosen with
#: bench/bench_registration.py for accuracy within the time budget.
STAGES = (
    {"transform": "rigid", "shrink": 2, "points": None, "max_step_mm": 4.0, "iterations": 50},
    {"transform": "affine", "shrink": 2, "points": None, "max_step_mm": 2.0, "iterations": 100},
    {"transform": "affine", "shrink": 1, "points": 5000, "max_step_mm": 0.5, "iterations": 60},
)
#: Standard template-space grids (shape, voxel mm, origin of voxel 0) of files
#: that carry no MNI code: FSL's MNI152 (2 and 3 mm) and fMRIPrep's MNI152NLin2009cAsym.
_KNOWN_TEMPLATE_GRIDS = (
    ((91, 109, 91), 2.0),
    ((61, 73, 61), 3.0),
    ((97, 115, 97), 2.0),
    ((65, 77, 65), 3.0),
    ((182, 218, 182), 1.0),
    ((193, 229, 193), 1.0),
)


#: Default failure limits (``ImagingSettings`` uses the same), measured with
#: bench/bench_registration.py and the perturbation study in its docstring:
#: normalised mutual information 1.2-1.3 when aligned on clean synthetic EPI,
#: 1.09-1.15 on the noisier cohort v2 scans; 1.02-1.08 (mean 1.04) when off by
#: about 2 cm and 1.01-1.05 at 4 cm. Dice 0.94-0.98 aligned, 0.79-0.92 at 2 cm.
#: So they catch gross failures (a centimetre or two and more) without
#: refusing a good scan; finer errors are for a person to see in the QC figure.
DEFAULT_MIN_SIMILARITY = 1.05
DEFAULT_MIN_BRAIN_OVERLAP = 0.85
DEFAULT_SCALE_RANGE = (0.7, 1.4)
DEFAULT_MAX_ANISOTROPY = 1.4


class RegistrationError(InputError):
    """The fMRI could not be aligned with the template well enough to be used."""


def template_path() -> Path:
    """Path of the MNI152 T1 template inside the installed nilearn package."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "Spatial normalisation needs the MNI152 template bundled with nilearn: "
            "pip install nilearn."
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    path = folder / _TEMPLATE_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"nilearn's bundled template {_TEMPLATE_FILE} was not found in {folder}; "
            "reinstall nilearn (pip install --force-reinstall nilearn)."
        )
    return path


@functools.lru_cache(maxsize=1)
def _template_1mm() -> tuple[np.ndarray, np.ndarray]:
    """The 1-mm T1 template scaled to a maximum of 1 (as nilearn does) and its affine."""
    import nibabel

    img = nibabel.load(template_path())
    volume = np.asarray(img.dataobj, dtype=np.float32)
    volume /= volume.max()
    volume.setflags(write=False)
    return volume, np.asarray(img.affine, dtype=np.float64)


def _block_mean(volume: np.ndarray, affine: np.ndarray, factor: int):
    """Average ``factor``^3 blocks: (volume, affine) at ``factor`` times the voxel size."""
    n = [s // factor for s in volume.shape]
    cut = volume[: n[0] * factor, : n[1] * factor, : n[2] * factor]
    out = cut.reshape(n[0], factor, n[1], factor, n[2], factor).mean(axis=(1, 3, 5))
    new_affine = affine @ np.diag([factor, factor, factor, 1.0])
    new_affine[:3, 3] = affine[:3, :3] @ np.full(3, (factor - 1) / 2.0) + affine[:3, 3]
    return out.astype(np.float32), new_affine


def template_grid(voxel_size_mm: float) -> tuple[tuple[int, int, int], np.ndarray]:
    """Shape and affine of the template-space grid of ``voxel_size_mm`` (RAS+, isotropic).

    The grid spans :data:`GRID_BOX_MM`; its voxel centres lie on multiples of
    ``voxel_size_mm`` (MNI 0, 0, 0 is a voxel centre), so it is the same grid
    for every patient: axial slice ``k`` is one height in the template.
    """
    from rehab_core._validation import check_positive

    check_positive("voxel_size_mm", voxel_size_mm)
    low = np.array([np.floor(lo / voxel_size_mm + 1e-6) for lo, _ in GRID_BOX_MM])
    high = np.array([np.ceil(hi / voxel_size_mm - 1e-6) for _, hi in GRID_BOX_MM])
    shape = tuple(int(h - lo) + 1 for lo, h in zip(low, high, strict=True))
    affine = np.diag([voxel_size_mm, voxel_size_mm, voxel_size_mm, 1.0])
    affine[:3, 3] = low * voxel_size_mm
    return shape, affine


@functools.lru_cache(maxsize=4)
def template_on_grid(voxel_size_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """The T1 template and its brain mask on :func:`template_grid` (read-only, cached).

    The 1-mm template is smoothed to the grid's resolution (Gaussian, FWHM of
    one output voxel) and interpolated at the voxel centres; the mask is the
    result above 0.2, nilearn's brain-mask threshold.

    Returns
    -------
    t1 : ndarray, shape (x, y, z), float32
        Template intensities in [0, 1].
    mask : ndarray, shape (x, y, z), bool
        Brain mask.
    """
    from scipy import ndimage

    shape, affine = template_grid(voxel_size_mm)
    volume, t_affine = _template_1mm()
    sigma = max(voxel_size_mm - 1.0, 0.0) / 2.3548
    smooth = ndimage.gaussian_filter(volume, sigma) if sigma > 0 else volume
    to_voxel = np.linalg.inv(t_affine) @ affine
    ijk = np.indices(shape, dtype=np.float64).reshape(3, -1)
    coords = to_voxel[:3, :3] @ ijk + to_voxel[:3, 3:4]
    t1 = ndimage.map_coordinates(smooth, coords, order=1, mode="constant", cval=0.0)
    t1 = t1.reshape(shape).astype(np.float32)
    mask = t1 > _MASK_THRESHOLD
    t1.setflags(write=False)
    mask.setflags(write=False)
    return t1, mask


@dataclass(frozen=True)
class _Fixed:
    volume: np.ndarray  # 4-mm template
    affine: np.ndarray
    brain: np.ndarray  # brain mask on it
    region: np.ndarray  # brain plus the background rim: where the metric samples
    centre_mm: np.ndarray  # the brain's centre of mass
    region_world: np.ndarray  # (4, n) homogeneous world points of the region
    image: Any  # SimpleITK images
    region_image: Any


@functools.lru_cache(maxsize=1)
def _fixed() -> _Fixed:
    import SimpleITK as sitk
    from scipy import ndimage

    volume, affine = _block_mean(*_template_1mm(), _FIXED_MM)
    brain = volume > _MASK_THRESHOLD
    region = ndimage.binary_dilation(brain, iterations=_RIM_VOXELS)
    world = affine[:3, :3] @ np.argwhere(region).T + affine[:3, 3:4]
    brain_world = affine[:3, :3] @ np.argwhere(brain).T + affine[:3, 3:4]
    return _Fixed(
        volume=volume,
        affine=affine,
        brain=brain,
        region=region,
        centre_mm=brain_world.mean(axis=1),
        region_world=np.vstack([world, np.ones((1, world.shape[1]))]),
        image=_sitk_image(volume, affine),
        region_image=sitk.Cast(_sitk_image(region.astype(np.float32), affine), sitk.sitkUInt8),
    )


def _sitk_image(volume: np.ndarray, affine: np.ndarray):
    """A SimpleITK image whose physical space is the NIfTI world (RAS mm) itself.

    ITK's own convention is LPS; giving both images RAS coordinates instead is
    a consistent relabelling, so the transform found maps world to world.
    """
    import SimpleITK as sitk

    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    image = sitk.GetImageFromArray(np.ascontiguousarray(volume.T, dtype=np.float32))
    image.SetSpacing([float(s) for s in spacing])
    image.SetOrigin([float(v) for v in affine[:3, 3]])
    image.SetDirection([float(v) for v in (affine[:3, :3] / spacing).ravel()])
    return image


def _itk_matrix(transform) -> np.ndarray:
    """4x4 world matrix of an ITK matrix-offset transform (fixed point -> moving point)."""
    matrix = np.array(transform.GetMatrix()).reshape(3, 3)
    centre = np.array(transform.GetCenter())
    out = np.eye(4)
    out[:3, :3] = matrix
    out[:3, 3] = np.array(transform.GetTranslation()) + centre - matrix @ centre
    return out


@contextlib.contextmanager
def _one_thread():
    """Run SimpleITK on one thread, then restore its default.

    The metric's threads ignore ``ImageRegistrationMethod.SetNumberOfThreads``
    and split the sampled points differently from run to run: with two
    threads the same file gave transforms 0.4 mm apart. One thread makes the
    result reproducible and costs nothing on a shared two-core machine.
    """
    import SimpleITK as sitk

    before = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(before)


def _run_stage(stage: dict[str, Any], initial, moving, fixed: _Fixed):
    import SimpleITK as sitk

    n_region = int(fixed.region.sum())
    points = stage["points"]
    fraction = 1.0 if points is None else min(1.0, points * stage["shrink"] ** 3 / n_region)
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=_HISTOGRAM_BINS)
    # image gradients at the sampled points only: a whole-image gradient filter
    # costs ~35 ms per stage for nothing
    reg.SetMetricUseFixedImageGradientFilter(False)
    reg.SetMetricUseMovingImageGradientFilter(False)
    reg.SetMetricFixedMask(fixed.region_image)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(fraction, _SEED)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsGradientDescent(
        learningRate=stage["max_step_mm"],
        numberOfIterations=stage["iterations"],
        convergenceMinimumValue=1e-5,
        convergenceWindowSize=8,
        estimateLearningRate=reg.EachIteration,
        maximumStepSizeInPhysicalUnits=stage["max_step_mm"],
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([stage["shrink"]])
    reg.SetSmoothingSigmasPerLevel([stage["shrink"] / 2.0])
    reg.SetInitialTransform(initial, inPlace=False)
    out = reg.Execute(fixed.image, moving)
    if out.GetName() == "CompositeTransform":
        out = sitk.CompositeTransform(out).GetNthTransform(0)
    kind = sitk.Euler3DTransform if stage["transform"] == "rigid" else sitk.AffineTransform
    return kind(out), int(reg.GetOptimizerIteration())


def _to_affine_transform(euler):
    import SimpleITK as sitk

    out = sitk.AffineTransform(3)
    out.SetCenter(euler.GetCenter())
    out.SetMatrix(euler.GetMatrix())
    out.SetTranslation(euler.GetTranslation())
    return out


def _sample(volume: np.ndarray, affine: np.ndarray, world_h: np.ndarray, order: int = 1):
    """Values of ``volume`` at homogeneous world points (4, n) and whether each is inside."""
    from scipy import ndimage

    coords = (np.linalg.inv(affine) @ world_h)[:3]
    shape = np.array(volume.shape)[:, np.newaxis]
    inside = np.all((coords >= -0.5) & (coords <= shape - 0.5), axis=0)
    values = ndimage.map_coordinates(volume, coords, order=order, mode="nearest")
    return values, inside


def _normalised_mutual_information(a: np.ndarray, b: np.ndarray, bins: int) -> float:
    """Studholme's NMI ``(H(a) + H(b)) / H(a, b)``: 1 for independent, 2 for identical."""
    joint, _, _ = np.histogram2d(a, b, bins=bins)
    p = joint / max(joint.sum(), 1.0)

    def entropy(q: np.ndarray) -> float:
        q = q[q > 0]
        return float(-(q * np.log(q)).sum())

    h_joint = entropy(p.ravel())
    return (entropy(p.sum(axis=0)) + entropy(p.sum(axis=1))) / h_joint if h_joint > 0 else 1.0


def _quality(
    matrix: np.ndarray, mean: np.ndarray, affine: np.ndarray, subject_brain: np.ndarray
) -> tuple[float, float, float]:
    """Similarity (NMI), brain overlap (Dice) and field-of-view coverage of one alignment.

    All three on the 4-mm template's brain-plus-rim points that the scan covers.
    """
    fixed = _fixed()
    world = matrix @ fixed.region_world
    values, inside = _sample(mean, affine, world)
    coverage_pts = fixed.brain[fixed.region]
    coverage = float(inside[coverage_pts].mean()) if coverage_pts.any() else 0.0
    if inside.sum() < 100:
        return 1.0, 0.0, coverage
    template_values = fixed.volume[fixed.region]
    similarity = _normalised_mutual_information(
        template_values[inside], values[inside], _HISTOGRAM_BINS
    )
    brain_values, _ = _sample(subject_brain.astype(np.float32), affine, world)
    moved = brain_values[inside] > 0.5
    template_brain = coverage_pts[inside]
    overlap = (
        2.0
        * np.count_nonzero(moved & template_brain)
        / max(np.count_nonzero(moved) + np.count_nonzero(template_brain), 1)
    )
    return similarity, float(overlap), coverage


@dataclass(frozen=True)
class RegistrationResult:
    """What :func:`register_to_template` found.

    Attributes
    ----------
    matrix : ndarray, shape (4, 4)
        World transform from template (MNI mm) to the subject's scan world
        (mm, as in its header): the anatomy at template point ``x`` lies at
        ``matrix @ [x, 1]`` in the scan. Read-only.
    similarity : float
        Normalised mutual information (Studholme) between template and mean
        EPI at the final alignment, over the template's brain and an 8-mm
        rim: 1 for unrelated images, 1.09-1.3 for a good EPI-to-T1 alignment
        in the benchmarks (it depends on the scan's noise and contrast).
    similarity_start : float
        The same at the starting point (header plus centres of mass).
    brain_overlap : float
        Dice overlap of the scan's own brain mask, carried into the
        template, with the template's brain mask (within the field of view).
    coverage : float
        Fraction of the template's brain inside the scan's field of view.
    scales : tuple of float
        Size of the subject's brain relative to the template along the
        transform's three principal axes (singular values of its linear part).
    rotation_deg : float
        Angle of the transform's rotation (head tilt relative to the header's
        axes), in degrees.
    already_in_template_space : bool
        The file was recognised as already normalised; ``matrix`` is the identity.
    failures : tuple of str
        One plain sentence per failed check; empty when the registration passed.
    iterations : tuple of int
        Optimiser iterations per stage.
    """

    matrix: np.ndarray
    similarity: float
    similarity_start: float
    brain_overlap: float
    coverage: float
    scales: tuple[float, float, float]
    rotation_deg: float
    already_in_template_space: bool
    failures: tuple[str, ...] = ()
    iterations: tuple[int, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record for ``ImagingResult.qc["registration"]``."""
        return {
            "template": TEMPLATE_SPACE,
            "passed": self.passed,
            "already_in_template_space": self.already_in_template_space,
            "similarity_nmi": round(self.similarity, 4),
            "similarity_nmi_start": round(self.similarity_start, 4),
            "brain_overlap_dice": round(self.brain_overlap, 4),
            "template_brain_in_field_of_view": round(self.coverage, 4),
            "scales": [round(s, 4) for s in self.scales],
            "rotation_deg": round(self.rotation_deg, 2),
            "template_to_scan_mm": [[float(v) for v in row] for row in self.matrix],
            "failures": list(self.failures),
            "iterations": list(self.iterations),
            "parameters": self.parameters,
        }


def _decompose(matrix: np.ndarray) -> tuple[tuple[float, float, float], float]:
    """Principal scales (singular values) and rotation angle (degrees) of a 4x4 affine."""
    u, s, vt = np.linalg.svd(matrix[:3, :3])
    rotation = u @ vt
    cos = np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0)
    return (float(s[0]), float(s[1]), float(s[2])), float(np.degrees(np.arccos(cos)))


def claims_template_space(header: Any, shape: tuple[int, ...], affine: np.ndarray) -> bool:
    """Whether a file says it is already in MNI space.

    True when the NIfTI sform or qform code is 4 (``NIFTI_XFORM_MNI_152``,
    as fMRIPrep and FSL write), or when the grid is one of the standard
    template grids (FSL's MNI152 at 1, 2 or 3 mm, fMRIPrep's
    MNI152NLin2009cAsym at 1, 2 or 3 mm) with its usual origin. The claim is
    then checked by :func:`register_to_template`, never taken on trust.
    """
    for key in ("sform_code", "qform_code"):
        try:
            if int(header[key]) == 4:
                return True
        except (KeyError, TypeError, ValueError):
            continue
    affine = np.asarray(affine, dtype=np.float64)
    zooms = np.linalg.norm(affine[:3, :3], axis=0)
    axis_aligned = np.allclose(np.abs(affine[:3, :3]), np.diag(zooms), atol=1e-3)
    for grid_shape, size in _KNOWN_TEMPLATE_GRIDS:
        if tuple(shape[:3]) == grid_shape and axis_aligned and np.allclose(zooms, size, atol=1e-3):
            centre = affine[:3, :3] @ ((np.array(grid_shape) - 1) / 2.0) + affine[:3, 3]
            # these grids are centred a few mm below and behind MNI 0, 0, 0
            if np.all(np.abs(centre - np.array([0.0, -18.0, 0.0])) < 25.0):
                return True
    return False


def register_to_template(
    mean: np.ndarray,
    affine: np.ndarray,
    *,
    subject_brain: np.ndarray | None = None,
    claims_template: bool = False,
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
    min_brain_overlap: float = DEFAULT_MIN_BRAIN_OVERLAP,
    scale_range: tuple[float, float] = DEFAULT_SCALE_RANGE,
    max_anisotropy: float = DEFAULT_MAX_ANISOTROPY,
) -> RegistrationResult:
    """Register a mean EPI volume to the MNI152 template (rigid, then affine).

    Parameters
    ----------
    mean : ndarray, shape (x, y, z), float
        The run's mean volume on its own grid.
    affine : ndarray, shape (4, 4)
        Its voxel-to-world (mm) affine, from the header (any orientation).
    subject_brain : ndarray, shape (x, y, z), bool, or None
        The scan's brain mask (``None``: :func:`rehab_core.imaging.brain_mask`
        of ``mean``); its centre of mass starts the search, and its overlap
        with the template's brain is checked.
    claims_template : bool
        The header says the file is already in MNI space
        (:func:`claims_template_space`): when the identity passes the checks
        below, the file is not registered again.
    min_similarity, min_brain_overlap : float
        Failure limits for the final normalised mutual information and Dice.
    scale_range : tuple of float
        Plausible range of the subject's brain size relative to the template
        along each principal axis.
    max_anisotropy : float
        Largest plausible ratio of the largest to the smallest principal
        scale (a larger one is a shear or a stretch no head has).

    Returns
    -------
    RegistrationResult
        With ``failures`` listing every failed check as one plain sentence;
        the caller decides to refuse or flag (it never raises for a poor fit).
    """
    import SimpleITK as sitk

    from rehab_core.imaging.maps import brain_mask

    if not isinstance(mean, np.ndarray) or mean.ndim != 3:
        got = mean.shape if isinstance(mean, np.ndarray) else type(mean).__name__
        raise ValueError(f"mean must be a 3D (x, y, z) array, got {got}.")
    affine = _check_affine(affine)
    if subject_brain is None:
        subject_brain = brain_mask(mean)
    elif subject_brain.shape != mean.shape:
        raise ValueError(
            f"subject_brain has shape {subject_brain.shape} but mean has {mean.shape}."
        )
    fixed = _fixed()
    parameters = {
        "library": f"SimpleITK {sitk.Version.VersionString()}",
        "metric": f"Mattes mutual information, {_HISTOGRAM_BINS} bins",
        "template_resolution_mm": _FIXED_MM,
        "sampling": f"random points in the template brain plus a {_RIM_VOXELS * _FIXED_MM}-mm "
        f"rim, seed {_SEED}",
        "optimizer": "gradient descent, learning rate estimated every iteration",
        "start": "header plus the shift between the brains' centres of mass",
        "stages": [dict(s) for s in STAGES],
    }
    limits = {
        "min_similarity": min_similarity,
        "min_brain_overlap": min_brain_overlap,
        "scale_range": scale_range,
        "max_anisotropy": max_anisotropy,
    }

    if claims_template:
        as_is = _assess(
            np.eye(4),
            mean,
            affine,
            subject_brain,
            limits,
            already_in_template_space=True,
            parameters={**parameters, "stages": []},
        )
        if as_is.passed:
            return as_is

    brain_vox = np.argwhere(subject_brain).T
    subject_centre = (
        affine[:3, :3] @ brain_vox.mean(axis=1) + affine[:3, 3]
        if brain_vox.size
        else affine[:3, :3] @ ((np.array(mean.shape) - 1) / 2.0) + affine[:3, 3]
    )
    start = sitk.Euler3DTransform()
    start.SetCenter([float(v) for v in fixed.centre_mm])
    start.SetTranslation([float(v) for v in subject_centre - fixed.centre_mm])
    similarity_start, _, _ = _quality(_itk_matrix(start), mean, affine, subject_brain)

    moving = _sitk_image(np.asarray(mean, dtype=np.float32), affine)
    transform, iterations = start, []
    with _one_thread():
        for stage in STAGES:
            if stage["transform"] == "affine" and transform.GetName() != "AffineTransform":
                transform = _to_affine_transform(transform)
            transform, n_iter = _run_stage(stage, transform, moving, fixed)
            iterations.append(n_iter)
    return _assess(
        _itk_matrix(transform),
        mean,
        affine,
        subject_brain,
        limits,
        similarity_start=similarity_start,
        already_in_template_space=False,
        iterations=tuple(iterations),
        parameters=parameters,
    )


def _assess(
    matrix: np.ndarray,
    mean: np.ndarray,
    affine: np.ndarray,
    subject_brain: np.ndarray,
    limits: dict[str, Any],
    *,
    similarity_start: float | None = None,
    **fields: Any,
) -> RegistrationResult:
    """Measure one alignment and check it against ``limits``."""
    similarity, overlap, coverage = _quality(matrix, mean, affine, subject_brain)
    scales, angle = _decompose(matrix)
    return RegistrationResult(
        matrix=_readonly(matrix),
        similarity=similarity,
        similarity_start=similarity if similarity_start is None else similarity_start,
        brain_overlap=overlap,
        coverage=coverage,
        scales=scales,
        rotation_deg=angle,
        failures=tuple(_failures(matrix, similarity, overlap, **limits)),
        **fields,
    )


def _failures(
    matrix: np.ndarray,
    similarity: float,
    overlap: float,
    *,
    min_similarity: float,
    min_brain_overlap: float,
    scale_range: tuple[float, float],
    max_anisotropy: float,
) -> list[str]:
    """One plain sentence per failed check of an alignment."""
    out = []
    if similarity < min_similarity:
        out.append(
            f"the scan does not match the MNI152 template after alignment (similarity "
            f"{similarity:.3f} < {min_similarity:g})"
        )
    if overlap < min_brain_overlap:
        out.append(
            f"the scan's brain overlaps the template's brain by only {overlap:.0%} after "
            f"alignment (at least {min_brain_overlap:.0%} expected)"
        )
    if np.linalg.det(matrix[:3, :3]) <= 0:
        out.append("the alignment mirrors the brain, which no head movement can do")
    scales, _ = _decompose(matrix)
    low, high = scale_range
    if min(scales) < low or max(scales) > high:
        out.append(
            f"the alignment scales the brain by {min(scales):.2f}-{max(scales):.2f} x the "
            f"template, outside the plausible {low:g}-{high:g}"
        )
    if max(scales) / min(scales) > max_anisotropy:
        out.append(
            f"the alignment stretches the brain {max(scales) / min(scales):.2f} times more along "
            f"one axis than another (at most {max_anisotropy:g} is plausible)"
        )
    return out


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=np.float64)
    array.setflags(write=False)
    return array
