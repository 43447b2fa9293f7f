"""Settings of the resting-state fMRI preprocessing (Shi et al. 2025, Methods 2.5)."""

from __future__ import annotations

from dataclasses import dataclass

from rehab_core._config import Settings
from rehab_core._validation import check_int, check_option, check_positive, check_range
from rehab_core.imaging.registration import (
    DEFAULT_MAX_ANISOTROPY,
    DEFAULT_MIN_BRAIN_OVERLAP,
    DEFAULT_MIN_SIMILARITY,
    DEFAULT_SCALE_RANGE,
)

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
        axial whatever the storage orientation).
    normalization : {"mni152", "none"}
        ``"mni152"`` (default): the run's mean volume is registered to the
        MNI152 template (rigid, then affine;
        :func:`rehab_core.imaging.register_to_template`) and the series is
        resampled once onto a fixed template grid
        (:func:`rehab_core.imaging.template_grid`, the template's brain plus
        4 mm), so that axial slice ``k`` is the same height in the brain for
        every patient, whatever the head's size, position and tilt and the
        file's orientation; maps are computed within the template's brain
        mask. ``"none"``: the scanner-space grid spanning the field of view
        and the scan's own brain mask, as before spatial normalisation (for
        phantoms and non-brain test images; the model expects ``"mni152"``).
    min_registration_similarity : float
        The registration fails when the normalised mutual information between
        template and mean EPI after alignment is below this (default 1.05).
        Measured (``bench/bench_registration.py``): 1.2-1.3 when aligned on
        clean synthetic EPI and 1.09-1.15 on the noisier, anatomically varied
        cohort v2 scans; 1.02-1.08 (mean 1.04) when the alignment is off by
        about 2 cm and 1.01-1.05 at 4 cm. A gross-failure check: it never
        refused a good scan in the benchmarks; errors of a few millimetres
        are for a person to judge in the QC figure.
    min_brain_overlap : float
        The registration fails when the Dice overlap of the scan's brain
        mask, carried into the template, with the template's brain mask
        (within the field of view) is below this (default 0.85; measured
        0.94-0.98 when aligned, 0.79-0.92 at about 2 cm of error, 0.76-0.84
        at 4 cm).
    registration_scale_range : tuple of float
        The registration fails when the brain is scaled outside this range
        relative to the template along any principal axis (default
        (0.7, 1.4): adult brains lie within about +-15 % of the MNI152 brain,
        which is itself larger than average).
    max_registration_anisotropy : float
        The registration fails when the brain is stretched along one axis
        more than this factor relative to another (default 1.4): a shear or
        a stretch no head has, the mark of an optimiser gone astray.
    on_registration_failure : {"raise", "flag"}
        What a failed registration does. ``"raise"`` (default) refuses the
        run with a :class:`rehab_core.imaging.RegistrationError` (an
        :class:`rehab_core.io.InputError`, one plain sentence): every
        downstream number (the model's slices, the maps) assumes slice ``k``
        is the same anatomy, so a misaligned scan would give a confident,
        wrong prediction; cohort preparation lists such a patient as refused,
        never silently trains on it. ``"flag"`` keeps the result and adds the
        sentence to ``qc["flags"]`` (for the QC view, to show a person what
        went wrong).
    min_slice_coverage : float
        In template space, an axial slice is screened out when less than
        this fraction of its template brain lies inside the scan's field of
        view (default 0.8): a slice the scan did not reach is mostly
        zeros, not a brain with a lesion.
    slice_range_mm : tuple of float or None
        In template space, keep only the axial slices whose centre lies
        between these MNI heights in mm (default ``None``: every screened
        slice). E.g. ``(-40, 40)`` spans the pons, the internal capsule and
        the corona radiata, where the corticospinal tract runs. Needs
        ``normalization="mni152"``: in scanner space a height is not the
        same anatomy for two patients.
    slice_step : int
        Keep every ``slice_step``-th slice of that range (default 1: all),
        counted from the range's lowest slice so that every patient keeps
        the same heights. A CPU budget: at 4 mm the neighbouring slices share
        most of their information.
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
        In template space the template's brain mask is judged, so the same
        slices are screened out for every patient.
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
    normalization: str = "mni152"
    min_registration_similarity: float = DEFAULT_MIN_SIMILARITY
    min_brain_overlap: float = DEFAULT_MIN_BRAIN_OVERLAP
    registration_scale_range: tuple[float, float] = DEFAULT_SCALE_RANGE
    max_registration_anisotropy: float = DEFAULT_MAX_ANISOTROPY
    on_registration_failure: str = "raise"
    min_slice_coverage: float = 0.8
    slice_range_mm: tuple[float, float] | None = None
    slice_step: int = 1
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
        check_option("normalization", self.normalization, ("mni152", "none"))
        check_range("min_registration_similarity", self.min_registration_similarity, 1.0, 2.0)
        check_range("min_brain_overlap", self.min_brain_overlap, 0.0, 1.0)
        check_option("on_registration_failure", self.on_registration_failure, ("raise", "flag"))
        check_range("min_slice_coverage", self.min_slice_coverage, 0.0, 1.0)
        check_range("max_registration_anisotropy", self.max_registration_anisotropy, 1.0, 10.0)
        check_option("realign", self.realign, (True, False))
        check_int("slice_step", self.slice_step, low=1)
        if self.slice_range_mm is not None:
            value = self.slice_range_mm
            if not isinstance(value, tuple | list) or len(value) != 2 or not value[0] < value[1]:
                raise ValueError(
                    f"slice_range_mm must be a pair (lowest, highest) in mm, got {value!r}."
                )
            object.__setattr__(self, "slice_range_mm", (float(value[0]), float(value[1])))
            if self.normalization != "mni152":
                raise ValueError(
                    "slice_range_mm needs normalization='mni152': in scanner space a height "
                    "is not the same anatomy for two patients."
                )
        if isinstance(self.n_dummy_volumes, bool) or not isinstance(self.n_dummy_volumes, int):
            raise TypeError(f"n_dummy_volumes must be an int, got {self.n_dummy_volumes!r}.")
        check_positive("n_dummy_volumes", self.n_dummy_volumes, strict=False)
        if self.tr_s is not None:
            check_positive("tr_s", self.tr_s)
        for name in ("alff_band_hz", "robust_percentiles", "registration_scale_range"):
            value = getattr(self, name)
            if not isinstance(value, tuple | list) or len(value) != 2:
                raise ValueError(f"{name} must be a pair (low, high), got {value!r}.")
            object.__setattr__(self, name, (float(value[0]), float(value[1])))
        low, high = self.registration_scale_range
        if not 0.0 < low <= 1.0 <= high:
            raise ValueError(
                f"registration_scale_range={self.registration_scale_range} must be (low, high) "
                "with 0 < low <= 1 <= high."
            )
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
