"""Settings of the resting-state fMRI preprocessing (Shi et al. 2025, Methods 2.5)."""

from __future__ import annotations

from dataclasses import dataclass

from rehab_core._config import Settings
from rehab_core._validation import check_option, check_positive, check_range

__all__ = ["ImagingSettings"]


@dataclass(frozen=True)
class ImagingSettings(Settings):
    """Every parameter of :func:`rehab_core.imaging.preprocess_fmri`.

    The paper says only that "the images were resampled to a uniform
    resolution, and non-informative slices were removed through a slice
    screening process. Each remaining MRI slice was resized to 224x224"; the
    rest is our choice, justified here.

    Parameters
    ----------
    voxel_size_mm : float
        Isotropic voxel size of the resampled grid in mm (default 4). The
        paper's EPI has 220/64 = 3.44 mm in-plane and 4 mm slices: 4 mm
        keeps every acquired axial slice (no invented through-plane
        detail), costs only a slight in-plane smoothing, and makes the
        27-voxel ReHo neighbourhood isotropic. The grid is aligned with the
        RAS+ world axes (axis 2 runs inferior to superior, so its slices are
        axial whatever the storage orientation) and spans the field of view.
    realign : bool
        Whether to undo the estimated rigid head motion while resampling
        (default False). Motion is always estimated and reported; applying
        it costs a separate interpolation of every volume (about 1.5 s more
        on two CPU cores) and the paper describes no realignment.
    n_dummy_volumes : int
        Volumes dropped from the start before anything else (default 0; most
        scanners already discard the non-steady-state volumes).
    tr_s : float or None
        Repetition time in seconds; ``None`` (default) reads it from the
        header (``header.get_zooms()[3]``, in the header's time unit).
    alff_band_hz : tuple of float
        Band of the amplitude of low-frequency fluctuations, default
        (0.01, 0.08) Hz, the standard ALFF band (Zang et al. 2007): below it
        scanner drift, above it cardiac and respiratory aliasing.
    min_brain_fraction : float
        An axial slice is screened out when its brain-mask area is below this
        fraction of the largest slice's (default 0.3): the vertex and the
        lowest cerebellar/brain-stem slices, mostly partial volume and edge.
    min_slice_tsnr_fraction : float
        An axial slice is screened out when its median temporal SNR within
        the mask is below this fraction of the whole-brain median (default
        0.5): slices with signal dropout, spin-history or slice-wise motion
        corruption, whose maps are mostly noise.
    robust_percentiles : tuple of float
        Percentiles (within the brain mask) mapped to 0 and 1 when each map
        is scaled to [0, 1] (default (1, 99)), so a few hot voxels (vessels,
        edges) do not set the contrast.
    image_size : int
        Side of the square slice images in pixels (default 224, the paper's).
    fd_threshold_mm : float
        Framewise displacement limit in mm (Power et al. 2012; default 0.5).
        The QC flags a run whose mean FD exceeds it and counts the frames
        above it.
    min_median_tsnr : float
        The QC flags a run whose median temporal SNR within the brain is
        below this (default 30; 3 T EPI at ~4 mm usually has 50-150).
    head_radius_mm : float
        Radius converting rotations to displacements in the FD (default 50 mm,
        Power et al. 2012).
    """

    voxel_size_mm: float = 4.0
    realign: bool = False
    n_dummy_volumes: int = 0
    tr_s: float | None = None
    alff_band_hz: tuple[float, float] = (0.01, 0.08)
    min_brain_fraction: float = 0.3
    min_slice_tsnr_fraction: float = 0.5
    robust_percentiles: tuple[float, float] = (1.0, 99.0)
    image_size: int = 224
    fd_threshold_mm: float = 0.5
    min_median_tsnr: float = 30.0
    head_radius_mm: float = 50.0

    def __post_init__(self) -> None:
        check_range("voxel_size_mm", self.voxel_size_mm, 0.5, 10.0)
        check_option("realign", self.realign, (True, False))
        if isinstance(self.n_dummy_volumes, bool) or not isinstance(self.n_dummy_volumes, int):
            raise TypeError(f"n_dummy_volumes must be an int, got {self.n_dummy_volumes!r}.")
        check_positive("n_dummy_volumes", self.n_dummy_volumes, strict=False)
        if self.tr_s is not None:
            check_positive("tr_s", self.tr_s)
        for name in ("alff_band_hz", "robust_percentiles"):
            value = getattr(self, name)
            if not isinstance(value, tuple | list) or len(value) != 2:
                raise ValueError(f"{name} must be a pair (low, high), got {value!r}.")
            object.__setattr__(self, name, (float(value[0]), float(value[1])))
        low, high = self.alff_band_hz
        check_positive("alff_band_hz[0]", low)
        if not low < high:
            raise ValueError(
                f"alff_band_hz={self.alff_band_hz} must be (low, high) with low < high."
            )
        check_range("min_brain_fraction", self.min_brain_fraction, 0.0, 1.0)
        check_range("min_slice_tsnr_fraction", self.min_slice_tsnr_fraction, 0.0, 1.0)
        p_low, p_high = self.robust_percentiles
        if not 0.0 <= p_low < p_high <= 100.0:
            raise ValueError(
                f"robust_percentiles={self.robust_percentiles} must satisfy 0 <= low < high <= 100."
            )
        if isinstance(self.image_size, bool) or not isinstance(self.image_size, int):
            raise TypeError(f"image_size must be an int, got {self.image_size!r}.")
        check_range("image_size", self.image_size, 16, 1024)
        check_positive("fd_threshold_mm", self.fd_threshold_mm)
        check_positive("min_median_tsnr", self.min_median_tsnr, strict=False)
        check_positive("head_radius_mm", self.head_radius_mm)
