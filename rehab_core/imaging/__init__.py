"""Resting-state fMRI preprocessing: resampling, motion QC, maps and 224x224 slices.

The paper's pipeline (Shi et al. 2025, Methods 2.5) in one call is
:func:`preprocess_fmri` (a nibabel image in, arrays out), with spatial
normalisation to the MNI152 template (:func:`register_to_template`) added so
that every patient's slices show the same anatomy; every step is also a
function on numpy arrays.
"""

from __future__ import annotations

from rehab_core.imaging.grid import (
    isotropic_grid,
    resample_isotropic,
    resample_to_grid,
    rigid_transform,
)
from rehab_core.imaging.maps import alff, brain_mask, mean_image, reho, temporal_snr
from rehab_core.imaging.motion import estimate_motion, framewise_displacement
from rehab_core.imaging.pipeline import (
    CHANNELS,
    ImagingResult,
    preprocess_fmri,
    repetition_time,
)
from rehab_core.imaging.registration import (
    TEMPLATE_SPACE,
    RegistrationError,
    RegistrationResult,
    claims_template_space,
    register_to_template,
    template_grid,
    template_on_grid,
)
from rehab_core.imaging.settings import ImagingSettings
from rehab_core.imaging.slices import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    axial_slice_images,
    imagenet_denormalize,
    imagenet_normalize,
    scale_robust,
    screen_slices,
    select_slices,
)

__all__ = [
    "CHANNELS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ImagingResult",
    "ImagingSettings",
    "RegistrationError",
    "RegistrationResult",
    "TEMPLATE_SPACE",
    "alff",
    "axial_slice_images",
    "brain_mask",
    "claims_template_space",
    "estimate_motion",
    "framewise_displacement",
    "imagenet_denormalize",
    "imagenet_normalize",
    "isotropic_grid",
    "mean_image",
    "preprocess_fmri",
    "register_to_template",
    "reho",
    "repetition_time",
    "resample_isotropic",
    "resample_to_grid",
    "rigid_transform",
    "scale_robust",
    "screen_slices",
    "select_slices",
    "template_grid",
    "template_on_grid",
    "temporal_snr",
]
