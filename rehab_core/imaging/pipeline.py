"""The resting-state fMRI preprocessing of Shi et al. 2025 (Methods 2.5) as one call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rehab_core.imaging.grid import resample_isotropic
from rehab_core.imaging.maps import alff, brain_mask, mean_image, reho, temporal_snr
from rehab_core.imaging.motion import estimate_motion, framewise_displacement
from rehab_core.imaging.settings import ImagingSettings
from rehab_core.imaging.slices import (
    axial_slice_images,
    imagenet_normalize,
    scale_robust,
    screen_slices,
)

if TYPE_CHECKING:
    import nibabel

__all__ = ["CHANNELS", "ImagingResult", "preprocess_fmri", "repetition_time"]

#: The three maps stacked as the image channels, in order (R, G, B).
CHANNELS = ("mean", "alff", "reho")

PIPELINE_STEPS = (
    "drop dummy volumes",
    "rigid head-motion estimate on the native grid (Gauss-Newton, middle volume reference)",
    "trilinear resampling to an isotropic RAS+ grid (realigned if settings.realign)",
    "brain mask of the mean image (Otsu, largest component, holes filled)",
    "maps: mean BOLD, tSNR, ALFF, ReHo",
    "axial slice screening (brain area, tSNR)",
    "each map scaled to [0, 1] by within-mask percentiles",
    "slices padded to square, bilinear resize, ImageNet standardisation",
)

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
        Axial index (axis 2 of the resampled grid) of each slice.
    screened_out : dict of int to str
        Axial index and reason of every dropped slice.
    maps : dict of str to ndarray
        ``"mean"``, ``"alff"``, ``"reho"``, ``"tsnr"``: float32 volumes on the
        resampled grid, in their own units (0 outside the mask except
        ``"mean"``).
    mask : ndarray, shape (x, y, z), bool
        Brain mask on the resampled grid.
    affine : ndarray, shape (4, 4)
        Voxel-to-world (mm) affine of the resampled grid (RAS+, isotropic).
    qc : dict
        JSON-ready quality record: ``tr_s``, ``n_volumes``, ``n_dummy_dropped``,
        ``input_shape``, ``input_zooms_mm``, ``grid_shape``, ``voxel_size_mm``,
        ``fd_mm`` (per volume), ``mean_fd_mm``, ``max_fd_mm``,
        ``n_high_motion_frames``, ``motion_params`` (per volume: mm, mm, mm,
        rad, rad, rad), ``motion_centre_mm``, ``realigned``, ``median_tsnr``,
        ``n_mask_voxels``, ``n_slices_kept``, ``flags`` (human-readable
        warnings) and ``steps``.
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
    (:func:`estimate_motion`) and its framewise displacement; resample to an
    isotropic RAS+ grid of ``settings.voxel_size_mm`` (realigning each volume
    when ``settings.realign``); brain mask of the mean image; maps of mean
    BOLD, tSNR, ALFF and ReHo; screening of axial slices with too little
    brain or low tSNR; each channel map scaled to [0, 1] by its within-mask
    percentiles, slices padded to square, resized and standardised with the
    ImageNet mean and std.

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
    """
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
    resampled, grid_affine = resample_isotropic(
        data,
        affine,
        settings.voxel_size_mm,
        motion=params if settings.realign else None,
        centre_mm=centre,
    )
    del data
    mean = mean_image(resampled)
    mask = brain_mask(mean)
    tsnr = temporal_snr(resampled, mask)
    maps = {
        "mean": mean,
        "alff": alff(resampled, tr_s, mask, settings.alff_band_hz),
        "reho": reho(resampled, mask),
        "tsnr": tsnr,
    }
    del resampled
    kept, screened_out = screen_slices(
        mask,
        tsnr,
        min_brain_fraction=settings.min_brain_fraction,
        min_slice_tsnr_fraction=settings.min_slice_tsnr_fraction,
    )
    scaled = [scale_robust(maps[name], mask, settings.robust_percentiles) for name in CHANNELS]
    slices = imagenet_normalize(axial_slice_images(scaled, kept, settings.image_size))

    median_tsnr = float(np.median(tsnr[mask]))
    mean_fd = float(fd[1:].mean()) if fd.size > 1 else 0.0
    n_high = int(np.count_nonzero(fd > settings.fd_threshold_mm))
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
        "median_tsnr": median_tsnr,
        "n_mask_voxels": int(mask.sum()),
        "n_slices_kept": int(kept.size),
        "flags": flags,
        "steps": list(PIPELINE_STEPS),
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
