"""The resting-state fMRI preprocessing of Shi et al. 2025 (Methods 2.5) as one call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rehab_core.imaging.grid import resample_isotropic, resample_to_grid
from rehab_core.imaging.maps import alff, brain_mask, mean_image, reho, temporal_snr
from rehab_core.imaging.motion import estimate_motion, framewise_displacement
from rehab_core.imaging.registration import (
    TEMPLATE_SPACE,
    RegistrationError,
    claims_template_space,
    register_to_template,
    template_grid,
    template_on_grid,
)
from rehab_core.imaging.settings import ImagingSettings
from rehab_core.imaging.slices import (
    axial_slice_images,
    imagenet_normalize,
    scale_robust,
    screen_slices,
    select_slices,
)

if TYPE_CHECKING:
    import nibabel

__all__ = ["CHANNELS", "ImagingResult", "preprocess_fmri", "repetition_time"]

#: The three maps stacked as the image channels, in order (R, G, B).
CHANNELS = ("mean", "alff", "reho")

PIPELINE_STEPS = (
    "drop dummy volumes",
    "rigid head-motion estimate on the native grid (Gauss-Newton, middle volume reference)",
    "registration of the mean volume to the MNI152 template (SimpleITK, mutual information, "
    "rigid then affine), refused or flagged when it fails its checks",
    "one trilinear resampling onto the fixed 4-mm MNI152 grid, the registration and "
    "(if settings.realign) the head motion composed",
    "brain mask: the template's, within the scan's field of view",
    "maps: mean BOLD, tSNR, ALFF, ReHo; mean and ALFF scaled so that the brain's median "
    "mean intensity is 1000",
    "axial slice screening (template brain area, field-of-view coverage, tSNR)",
    "each map scaled to [0, 1] by within-mask percentiles",
    "slices padded to square, bilinear resize, ImageNet standardisation",
)
PIPELINE_STEPS_SCANNER_SPACE = (
    "drop dummy volumes",
    "rigid head-motion estimate on the native grid (Gauss-Newton, middle volume reference)",
    "trilinear resampling to an isotropic RAS+ grid (realigned if settings.realign)",
    "brain mask of the mean image (Otsu, largest component, holes filled)",
    "maps: mean BOLD, tSNR, ALFF, ReHo; mean and ALFF scaled so that the brain's median "
    "mean intensity is 1000",
    "axial slice screening (brain area, tSNR)",
    "each map scaled to [0, 1] by within-mask percentiles",
    "slices padded to square, bilinear resize, ImageNet standardisation",
)
#: Grand-median intensity scaling target: the brain's median mean intensity.
INTENSITY_TARGET = 1000.0

_TIME_UNIT_SCALE = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6}


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class ImagingResult:
    """What :func:`preprocess_fmri` returns (arrays are read-only).

    Attributes
    ----------
    slices : ndarray, shape (n_slices, 3, size, size), float32
        Screened axial slices; channels mean BOLD, ALFF, ReHo, each scaled to
        [0, 1] within the brain and then standardised with the ImageNet mean
        and std (undo with :func:`rehab_core.imaging.imagenet_denormalize`).
    slice_index : ndarray, shape (n_slices,), int
        Axial index (axis 2 of the resampled grid) of each slice; in template
        space (the default) index ``k`` is the same height in the MNI152
        brain for every patient.
    screened_out : dict of int to str
        Axial index and reason of every dropped slice.
    maps : dict of str to ndarray
        ``"mean"``, ``"alff"``, ``"reho"``, ``"tsnr"``: float32 volumes on the
        resampled grid, in their own units (0 outside the mask except
        ``"mean"``); ``"mean"`` and ``"alff"`` are scaled so that the median
        mean intensity within the mask is 1000 (grand-median scaling, the
        factor in ``qc["intensity_scale"]``).
    mask : ndarray, shape (x, y, z), bool
        Brain mask on the resampled grid: in template space the template's
        brain mask within the scan's field of view, else the scan's own.
    affine : ndarray, shape (4, 4)
        Voxel-to-world (mm) affine of the resampled grid (RAS+, isotropic);
        in template space the world is MNI152 mm
        (:func:`rehab_core.imaging.template_grid`).
    qc : dict
        JSON-ready quality record: ``tr_s``, ``n_volumes``, ``n_dummy_dropped``,
        ``input_shape``, ``input_zooms_mm``, ``grid_shape``, ``voxel_size_mm``,
        ``fd_mm`` (per volume), ``mean_fd_mm``, ``max_fd_mm``,
        ``n_high_motion_frames``, ``motion_params`` (per volume: mm, mm, mm,
        rad, rad, rad), ``motion_centre_mm``, ``realigned``, ``median_tsnr``,
        ``n_mask_voxels``, ``n_slices_kept``, ``normalization``,
        ``space`` (``"MNI152NLin2009aSym"`` or ``"scanner"``),
        ``registration`` (:meth:`RegistrationResult.to_dict`: template,
        similarity, brain overlap, coverage, scales, rotation, the
        template-to-scan matrix, checks and parameters; ``None`` in scanner
        space), ``intensity_scale``, ``flags`` (human-readable warnings) and
        ``steps``.
    settings : ImagingSettings
        The settings that produced this result.
    """

    slices: np.ndarray
    slice_index: np.ndarray
    screened_out: dict[int, str]
    maps: dict[str, np.ndarray]
    mask: np.ndarray
    affine: np.ndarray
    qc: dict[str, Any]
    settings: ImagingSettings

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary (no image data) to store beside a prediction."""
        return {
            "n_slices": int(self.slices.shape[0]),
            "slice_shape": [int(s) for s in self.slices.shape[1:]],
            "channels": list(CHANNELS),
            "slice_index": [int(k) for k in self.slice_index],
            "screened_out": {str(k): v for k, v in self.screened_out.items()},
            "grid_shape": [int(s) for s in self.mask.shape],
            "affine": [[float(v) for v in row] for row in self.affine],
            "qc": self.qc,
            "settings": self.settings.to_dict(),
        }


def repetition_time(img: nibabel.spatialimages.SpatialImage) -> float:
    """Repetition time of a 4D image in seconds, from ``header.get_zooms()[3]``.

    The header's time unit (``sec``, ``msec`` or ``usec``; ``unknown`` is
    taken as seconds) is honoured.
    """
    zooms = img.header.get_zooms()
    if len(zooms) < 4:
        raise ValueError("the image header has no time step (TR); set ImagingSettings(tr_s=...).")
    unit = "sec"
    if hasattr(img.header, "get_xyzt_units"):
        unit = img.header.get_xyzt_units()[1]
    tr = float(zooms[3]) * _TIME_UNIT_SCALE.get(unit, 1.0)
    if not tr > 0:
        raise ValueError(
            f"the image header gives TR = {zooms[3]} {unit}; set ImagingSettings(tr_s=...) "
            "to the true repetition time in seconds."
        )
    return tr


def preprocess_fmri(
    img: nibabel.spatialimages.SpatialImage, settings: ImagingSettings | None = None
) -> ImagingResult:
    """Turn one resting-state fMRI run into screened 3-channel 224x224 axial slices.

    Steps: drop ``settings.n_dummy_volumes``; estimate rigid head motion
    (:func:`estimate_motion`) and its framewise displacement; register the
    run's mean volume to the MNI152 template (:func:`register_to_template`;
    a file already in MNI space is recognised and not registered twice) and
    refuse (:class:`RegistrationError`) or flag a registration that fails its
    checks; resample the series once onto the fixed template grid of
    ``settings.voxel_size_mm`` (:func:`template_grid`; the registration and,
    when ``settings.realign``, each volume's motion composed into one
    interpolation); the template's brain mask within the field of view;
    maps of mean BOLD, tSNR, ALFF and ReHo, with mean and ALFF scaled to a
    brain median of 1000; screening of axial slices with too little template
    brain, too little of it in the field of view, or low tSNR; each channel
    map scaled to [0, 1] by its within-mask percentiles, slices padded to
    square, resized and standardised with the ImageNet mean and std. With
    ``settings.normalization="none"`` the grid is the scanner's (isotropic,
    RAS+, spanning the field of view) and the mask the scan's own.

    Why template space: the model sees axial slices; without spatial
    normalisation a head that is larger, lower, tilted or stored in another
    orientation puts different anatomy in slice ``k``, and the model learns
    the position rather than the brain.

    Why these channels: ImageNet backbones expect three channels of natural
    image statistics. The mean EPI is the anatomy-like image of the run;
    ALFF (0.01-0.08 Hz amplitude) and ReHo (local synchrony) are the
    standard voxel-wise resting-state markers, and both change in and
    around ischaemic lesions. Per-subject robust scaling to [0, 1] removes
    the arbitrary scanner intensity unit, keeps a few extreme voxels from
    setting the contrast, and together with the ImageNet standardisation
    gives inputs in the range the pretrained first layers were trained on;
    background (outside the brain) is 0 in [0, 1], i.e. black.

    Parameters
    ----------
    img : nibabel SpatialImage, shape (x, y, z, t)
        The run, with a valid affine and the TR in ``header.get_zooms()[3]``
        (or ``settings.tr_s``).
    settings : ImagingSettings or None
        ``None`` means ``ImagingSettings()``.

    Returns
    -------
    ImagingResult

    Raises
    ------
    RegistrationError
        The registration failed its checks (and
        ``settings.on_registration_failure == "raise"``), or the scan holds
        none of the template's brain; an :class:`rehab_core.io.InputError`
        with one plain sentence.
    """
    settings = _checked_inputs(img, settings)
    n_vols_in = img.shape[3]
    tr_s = float(settings.tr_s) if settings.tr_s is not None else repetition_time(img)
    data = np.asarray(img.get_fdata(dtype=np.float32, caching="unchanged"))
    data = data[..., settings.n_dummy_volumes :]
    if not np.all(np.isfinite(data)):
        raise ValueError(
            "the fMRI image contains NaN or infinite values; give the unprocessed run."
        )
    affine = np.asarray(img.affine, dtype=np.float64)

    params, centre = estimate_motion(data, affine)
    fd = framewise_displacement(params, settings.head_radius_mm)
    motion = params if settings.realign else None
    resampled, grid_affine, registration, covered, screening_mask, mask = _onto_grid(
        img, data, affine, settings, motion, centre
    )
    del data
    mean = mean_image(resampled)
    if registration is None:
        mask = brain_mask(mean)
        screening_mask = mask
    tsnr = temporal_snr(resampled, mask)
    maps = {
        "mean": mean,
        "alff": alff(resampled, tr_s, mask, settings.alff_band_hz),
        "reho": reho(resampled, mask),
        "tsnr": tsnr,
    }
    del resampled
    # per-subject intensity normalisation: the scanner's arbitrary unit out of
    # mean and ALFF (tSNR and ReHo are already unitless)
    brain_median = float(np.median(mean[mask]))
    intensity_scale = INTENSITY_TARGET / brain_median if brain_median > 0 else 1.0
    for name in ("mean", "alff"):
        maps[name] = (maps[name] * np.float32(intensity_scale)).astype(np.float32)
    kept, screened_out = _select_slices(screening_mask, tsnr, covered, grid_affine, settings)
    scaled = [scale_robust(maps[name], mask, settings.robust_percentiles) for name in CHANNELS]
    slices = imagenet_normalize(axial_slice_images(scaled, kept, settings.image_size))

    median_tsnr = float(np.median(tsnr[mask]))
    mean_fd = float(fd[1:].mean()) if fd.size > 1 else 0.0
    n_high = int(np.count_nonzero(fd > settings.fd_threshold_mm))
    flags = _qc_flags(mean_fd, median_tsnr, kept, registration, settings)
    qc: dict[str, Any] = {
        "tr_s": tr_s,
        "n_volumes": int(n_vols_in - settings.n_dummy_volumes),
        "n_dummy_dropped": int(settings.n_dummy_volumes),
        "input_shape": [int(s) for s in img.shape],
        "input_zooms_mm": [float(z) for z in img.header.get_zooms()[:3]],
        "grid_shape": [int(s) for s in mask.shape],
        "voxel_size_mm": float(settings.voxel_size_mm),
        "fd_mm": [float(v) for v in fd],
        "mean_fd_mm": mean_fd,
        "max_fd_mm": float(fd.max()),
        "n_high_motion_frames": n_high,
        "motion_params": [[float(v) for v in row] for row in params],
        "motion_centre_mm": [float(v) for v in centre],
        "realigned": bool(settings.realign),
        "normalization": settings.normalization,
        "space": TEMPLATE_SPACE if registration is not None else "scanner",
        "registration": registration.to_dict() if registration is not None else None,
        "intensity_scale": float(intensity_scale),
        "median_tsnr": median_tsnr,
        "n_mask_voxels": int(mask.sum()),
        "n_slices_kept": int(kept.size),
        "flags": flags,
        "steps": list(PIPELINE_STEPS if registration is not None else PIPELINE_STEPS_SCANNER_SPACE),
    }
    return ImagingResult(
        slices=_readonly(slices),
        slice_index=_readonly(kept),
        screened_out=screened_out,
        maps={name: _readonly(volume) for name, volume in maps.items()},
        mask=_readonly(mask),
        affine=_readonly(grid_affine),
        qc=qc,
        settings=settings,
    )


def _checked_inputs(
    img: nibabel.spatialimages.SpatialImage, settings: ImagingSettings | None
) -> ImagingSettings:
    """The settings (``None`` means the defaults), after refusing a run the pipeline cannot use."""
    import nibabel

    settings = ImagingSettings() if settings is None else settings
    if not isinstance(settings, ImagingSettings):
        raise TypeError(f"settings must be an ImagingSettings, got {type(settings).__name__}.")
    if not isinstance(img, nibabel.spatialimages.SpatialImage):
        raise TypeError(f"img must be a nibabel image, got {type(img).__name__}.")
    if len(img.shape) != 4:
        raise ValueError(
            f"the fMRI image must be 4D (x, y, z, time) but has shape {img.shape}: "
            "a 3D image is a single volume (for example an anatomical scan), not a "
            "resting-state run."
        )
    n_vols_in = img.shape[3]
    if n_vols_in - settings.n_dummy_volumes < 3:
        raise ValueError(
            f"the run has {n_vols_in} volumes and {settings.n_dummy_volumes} dummy volumes "
            "are dropped; at least 3 must remain."
        )
    return settings


def _onto_grid(
    img: nibabel.spatialimages.SpatialImage,
    data: np.ndarray,
    affine: np.ndarray,
    settings: ImagingSettings,
    motion: np.ndarray | None,
    centre: np.ndarray,
):
    """Resample the series once onto the analysis grid (template space or the scanner's).

    Returns ``(resampled, grid_affine, registration, covered, screening_mask, mask)``;
    in scanner space ``registration``, ``covered``, ``screening_mask`` and ``mask``
    are ``None`` (the mask then comes from the mean image).
    """
    registration = None
    covered = None
    screening_mask = None
    mask = None
    if settings.normalization == "mni152":
        registration = _register(img, data, affine, settings)
        grid_shape, grid_affine = template_grid(settings.voxel_size_mm)
        resampled, covered = resample_to_grid(
            data,
            affine,
            grid_shape,
            grid_affine,
            world_transform=registration.matrix,
            motion=motion,
            centre_mm=centre,
        )
        screening_mask = template_on_grid(settings.voxel_size_mm)[1]
        mask = screening_mask & covered
        if not mask.any():
            raise RegistrationError(
                "The fMRI's field of view holds none of the MNI152 template's brain after "
                "alignment; check that the file is a resting-state EPI of the head."
            )
    else:
        resampled, grid_affine = resample_isotropic(
            data, affine, settings.voxel_size_mm, motion=motion, centre_mm=centre
        )
    return resampled, grid_affine, registration, covered, screening_mask, mask


def _select_slices(
    screening_mask: np.ndarray,
    tsnr: np.ndarray,
    covered: np.ndarray | None,
    grid_affine: np.ndarray,
    settings: ImagingSettings,
) -> tuple[np.ndarray, dict]:
    """The axial slices that pass screening, then the settings' z range and step."""
    kept, screened_out = screen_slices(
        screening_mask,
        tsnr,
        min_brain_fraction=settings.min_brain_fraction,
        min_slice_tsnr_fraction=settings.min_slice_tsnr_fraction,
        covered=covered,
        min_covered_fraction=settings.min_slice_coverage,
    )
    if settings.slice_range_mm is not None or settings.slice_step > 1:
        z_mm = grid_affine[2, 2] * np.arange(screening_mask.shape[2]) + grid_affine[2, 3]
        kept, screened_out = select_slices(
            kept,
            screened_out,
            z_mm,
            z_range_mm=settings.slice_range_mm,
            step=settings.slice_step,
        )
    return kept, screened_out


def _qc_flags(
    mean_fd: float,
    median_tsnr: float,
    kept: np.ndarray,
    registration,
    settings: ImagingSettings,
) -> list[str]:
    """One plain phrase per quality problem of the run (empty when it passed every check)."""
    flags = []
    if mean_fd > settings.fd_threshold_mm:
        flags.append(
            f"high motion: mean framewise displacement {mean_fd:.2f} mm > "
            f"{settings.fd_threshold_mm:g} mm"
        )
    if median_tsnr < settings.min_median_tsnr:
        flags.append(f"low temporal SNR: median {median_tsnr:.1f} < {settings.min_median_tsnr:g}")
    if kept.size == 0:
        flags.append("no axial slice passed screening")
    if registration is not None and registration.failures:
        flags.append(_failure_sentence(registration))
    return flags


def _register(img, data: np.ndarray, affine: np.ndarray, settings: ImagingSettings):
    """Register the run's mean volume to the template; refuse it if it fails and settings say so."""
    registration = register_to_template(
        data.mean(axis=3, dtype=np.float64).astype(np.float32),
        affine,
        claims_template=claims_template_space(img.header, img.shape, affine),
        min_similarity=settings.min_registration_similarity,
        min_brain_overlap=settings.min_brain_overlap,
        scale_range=settings.registration_scale_range,
        max_anisotropy=settings.max_registration_anisotropy,
    )
    if registration.failures and settings.on_registration_failure == "raise":
        raise RegistrationError(_failure_sentence(registration) + ".")
    return registration


def _failure_sentence(registration) -> str:
    return (
        "The fMRI could not be aligned with the MNI152 brain template: "
        + "; ".join(registration.failures)
        + "; check that the file is a resting-state EPI of the head and that its header's "
        "orientation is right"
    )
