"""Slice screening and 3-channel 224x224 slice images for ImageNet backbones."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rehab_core._validation import check_int, check_range

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "axial_slice_images",
    "imagenet_denormalize",
    "imagenet_normalize",
    "scale_robust",
    "screen_slices",
    "select_slices",
]

#: Per-channel mean and standard deviation of ImageNet RGB in [0, 1], the input
#: statistics every pretrained timm/torchvision backbone expects.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def screen_slices(
    mask: np.ndarray,
    tsnr: np.ndarray | None = None,
    *,
    min_brain_fraction: float = 0.3,
    min_slice_tsnr_fraction: float = 0.5,
    covered: np.ndarray | None = None,
    min_covered_fraction: float = 0.8,
) -> tuple[np.ndarray, dict[int, str]]:
    """Keep the informative axial slices (last axis) of a brain volume.

    A slice is dropped when its brain area is below ``min_brain_fraction``
    of the largest slice's area; (given ``covered``) when less than
    ``min_covered_fraction`` of its brain lies inside the scan's field of
    view; or (given ``tsnr``) when its median tSNR within the covered brain
    is below ``min_slice_tsnr_fraction`` of the whole covered brain's median.
    In template space ``mask`` is the template's brain mask, the same for
    every patient, so only coverage and tSNR differ between patients.

    Parameters
    ----------
    mask : ndarray, shape (x, y, z), bool
        Brain mask; axis 2 indexes axial slices.
    tsnr : ndarray, shape (x, y, z), or None
        Temporal SNR map.
    min_brain_fraction, min_slice_tsnr_fraction : float
        Thresholds in [0, 1].
    covered : ndarray, shape (x, y, z), bool, or None
        Voxels inside the scan's field of view (``None``: all).
    min_covered_fraction : float
        Threshold in [0, 1].

    Returns
    -------
    kept : ndarray, shape (n_kept,), int
        Axial indices of the kept slices, ascending.
    screened_out : dict of int to str
        Index and reason of every dropped slice.
    """
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.ndim != 3:
        raise TypeError("mask must be a 3D boolean numpy array.")
    check_range("min_brain_fraction", min_brain_fraction, 0.0, 1.0)
    check_range("min_slice_tsnr_fraction", min_slice_tsnr_fraction, 0.0, 1.0)
    check_range("min_covered_fraction", min_covered_fraction, 0.0, 1.0)
    if tsnr is not None and tsnr.shape != mask.shape:
        raise ValueError(f"tsnr has shape {tsnr.shape} but mask has {mask.shape}.")
    if covered is not None and (covered.shape != mask.shape or covered.dtype != np.bool_):
        raise ValueError(f"covered must be a boolean volume of the mask's shape {mask.shape}.")
    area = mask.sum(axis=(0, 1))
    largest = int(area.max())
    if largest == 0:
        raise ValueError("the brain mask is empty; no slice can be kept.")
    seen = mask if covered is None else mask & covered
    seen_area = seen.sum(axis=(0, 1))
    if not seen.any():
        raise ValueError("none of the brain mask lies inside the field of view.")
    brain_median = float(np.median(tsnr[seen])) if tsnr is not None else 0.0
    kept: list[int] = []
    screened_out: dict[int, str] = {}
    for k in range(mask.shape[2]):
        if area[k] == 0:
            screened_out[k] = "no brain in the slice"
        elif area[k] < min_brain_fraction * largest:
            screened_out[k] = (
                f"brain area {area[k]} voxels < {min_brain_fraction:.0%} of the largest "
                f"slice ({largest} voxels)"
            )
        elif seen_area[k] == 0 or seen_area[k] < min_covered_fraction * area[k]:
            screened_out[k] = (
                f"only {seen_area[k] / area[k]:.0%} of the slice's brain is inside the scan's "
                f"field of view (at least {min_covered_fraction:.0%} needed)"
            )
        elif (
            tsnr is not None
            and (slice_median := float(np.median(tsnr[:, :, k][seen[:, :, k]])))
            < min_slice_tsnr_fraction * brain_median
        ):
            screened_out[k] = (
                f"median tSNR {slice_median:.1f} < {min_slice_tsnr_fraction:.0%} of the "
                f"whole-brain median ({brain_median:.1f})"
            )
        else:
            kept.append(k)
    return np.array(kept, dtype=int), screened_out


def scale_robust(
    volume: np.ndarray, mask: np.ndarray, percentiles: tuple[float, float] = (1.0, 99.0)
) -> np.ndarray:
    """Map ``volume`` to [0, 1] by its within-mask percentiles; 0 outside the mask.

    Values at or below the low percentile become 0, at or above the high one
    1, linearly in between; a map that is constant within the mask becomes 0.

    Parameters
    ----------
    volume : ndarray, shape (x, y, z), float
    mask : ndarray, shape (x, y, z), bool
    percentiles : tuple of float

    Returns
    -------
    ndarray, shape (x, y, z), float32
    """
    if volume.shape != mask.shape:
        raise ValueError(f"volume has shape {volume.shape} but mask has {mask.shape}.")
    if not mask.any():
        raise ValueError("the mask is empty; nothing to scale.")
    low, high = np.percentile(volume[mask], percentiles)
    span = high - low
    scaled = np.clip((volume - low) / span, 0.0, 1.0) if span > 0 else np.zeros_like(volume)
    return np.where(mask, scaled, 0.0).astype(np.float32)


def axial_slice_images(
    volumes: Sequence[np.ndarray], indices: Sequence[int], size: int = 224
) -> np.ndarray:
    """Square images of axial slices, one channel per volume, by bilinear resizing.

    Each slice ``volume[:, :, k]`` of an RAS+ grid is shown in the
    neurological convention: rows run anterior (top) to posterior, columns
    the patient's left (left) to right. A non-square slice is first padded
    with zeros to a square, centred, so that the brain keeps its aspect
    ratio; then it is resized to ``size`` x ``size`` by bilinear interpolation
    with pixel-area alignment and edge replication, the same as
    ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``,
    computed as two small matrix products.

    Parameters
    ----------
    volumes : sequence of ndarray, each shape (x, y, z)
        Channel volumes, for example scaled to [0, 1].
    indices : sequence of int
        Axial indices to render.
    size : int
        Side of the output images in pixels.

    Returns
    -------
    ndarray, shape (len(indices), len(volumes), size, size), float32
    """
    shape = volumes[0].shape
    if any(v.shape != shape for v in volumes) or len(shape) != 3:
        raise ValueError("volumes must all be 3D with the same shape.")
    indices = [int(k) for k in indices]
    for k in indices:
        if not 0 <= k < shape[2]:
            raise ValueError(f"slice index {k} is out of range for {shape[2]} axial slices.")
    n_x, n_y = shape[0], shape[1]
    side = max(n_x, n_y)
    if not indices:
        return np.zeros((0, len(volumes), size, size), dtype=np.float32)
    stack = np.zeros((len(indices), len(volumes), side, side), dtype=np.float32)
    row0, col0 = (side - n_y) // 2, (side - n_x) // 2
    for c, volume in enumerate(volumes):
        # (x, y, k) -> (k, y reversed = anterior first, x)
        picked = np.transpose(volume[:, ::-1, indices], (2, 1, 0))
        stack[:, c, row0 : row0 + n_y, col0 : col0 + n_x] = picked
    resize = _linear_resize_matrix(side, size)
    out = np.einsum("ij,ncjk,lk->ncil", resize, stack, resize, optimize=True)
    return out.astype(np.float32, copy=False)


def _linear_resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of 1D linear resizing, half-pixel aligned, edges replicated."""
    source = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    source = np.clip(source, 0.0, n_in - 1.0)
    low = np.minimum(np.floor(source).astype(int), max(n_in - 2, 0))
    frac = source - low
    matrix = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    matrix[rows, low] += 1.0 - frac
    matrix[rows, np.minimum(low + 1, n_in - 1)] += frac
    return matrix


def imagenet_normalize(images: np.ndarray) -> np.ndarray:
    """Standardise 3-channel images in [0, 1] with the ImageNet mean and std.

    Parameters
    ----------
    images : ndarray, shape (n, 3, h, w), float

    Returns
    -------
    ndarray, shape (n, 3, h, w), float32
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must have shape (n, 3, h, w), got {images.shape}.")
    mean = np.array(IMAGENET_MEAN, dtype=np.float32)[:, None, None]
    std = np.array(IMAGENET_STD, dtype=np.float32)[:, None, None]
    return ((images - mean) / std).astype(np.float32)


def imagenet_denormalize(images: np.ndarray) -> np.ndarray:
    """Undo :func:`imagenet_normalize` (for display and overlays): values back in [0, 1].

    Parameters
    ----------
    images : ndarray, shape (n, 3, h, w), float

    Returns
    -------
    ndarray, shape (n, 3, h, w), float32
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must have shape (n, 3, h, w), got {images.shape}.")
    mean = np.array(IMAGENET_MEAN, dtype=np.float32)[:, None, None]
    std = np.array(IMAGENET_STD, dtype=np.float32)[:, None, None]
    return (images * std + mean).astype(np.float32)


def select_slices(
    kept: np.ndarray,
    screened_out: dict[int, str],
    z_mm: np.ndarray,
    *,
    z_range_mm: tuple[float, float] | None = None,
    step: int = 1,
) -> tuple[np.ndarray, dict[int, str]]:
    """Keep only the screened slices within a height range, every ``step``-th one.

    In template space axial slice ``k`` is at the same height ``z_mm[k]`` for
    every patient, so a range (e.g. pons to corona radiata, where the
    corticospinal tract runs) and a stride pick the same anatomy for all of
    them. The stride counts from the lowest slice in the range, not from the
    lowest slice a patient kept, for the same reason.

    Parameters
    ----------
    kept : ndarray of int
        Axial indices that passed :func:`screen_slices`.
    screened_out : dict of int to str
        Their companion (index -> reason); not modified.
    z_mm : ndarray, shape (n_slices,)
        Height of every axial slice of the grid in mm.
    z_range_mm : (float, float) or None
        Lowest and highest slice centre kept (``None``: all).
    step : int
        Keep every ``step``-th slice of the range (1: all).

    Returns
    -------
    kept, screened_out
        As :func:`screen_slices` returns them, with the slices left out here
        added to ``screened_out`` with their reason.
    """
    step = check_int("step", step, low=1)
    z_mm = np.asarray(z_mm, dtype=np.float64)
    low, high = (-np.inf, np.inf) if z_range_mm is None else z_range_mm
    in_range = np.flatnonzero((z_mm >= low - 1e-6) & (z_mm <= high + 1e-6))
    chosen = set(in_range[::step].tolist())
    out = dict(screened_out)
    keep = []
    for k in np.asarray(kept, dtype=int):
        if int(k) in chosen:
            keep.append(int(k))
        elif z_range_mm is not None and not (low - 1e-6 <= z_mm[k] <= high + 1e-6):
            out[int(k)] = (
                f"outside the model's slice range ({low:g} to {high:g} mm, "
                f"this slice at {z_mm[k]:.0f} mm)"
            )
        else:
            out[int(k)] = f"not used by the model (it takes one slice in {step} of its range)"
    return np.asarray(keep, dtype=int), dict(sorted(out.items()))
