"""Blend a heatmap over a grey-scale slice: a pure function on arrays (no torch)."""

from __future__ import annotations

import numpy as np

from rehab_core._validation import check_option, check_range

__all__ = ["overlay_heatmap"]


def overlay_heatmap(
    image_2d: np.ndarray,
    heatmap: np.ndarray,
    *,
    alpha: float = 0.4,
    cmap: str = "jet",
) -> np.ndarray:
    """Colour a heatmap with a matplotlib colormap and blend it over a slice.

    Parameters
    ----------
    image_2d : ndarray, shape (height, width), float
        The slice, in any units; it is min-max scaled to [0, 1] for display
        (a constant slice shows black).  Not modified.
    heatmap : ndarray, shape (height, width), float
        Values in [0, 1], e.g. one map from :func:`rehab_core.explain.gradcam`.
    alpha : float
        Weight of the coloured heatmap, in [0, 1]; 0 returns the slice alone
        (grey RGB), 1 the coloured heatmap alone.
    cmap : str
        A matplotlib colormap name (``"jet"`` as in the Grad-CAM paper figures,
        ``"inferno"`` for a perceptually uniform one).

    Returns
    -------
    rgb : ndarray, shape (height, width, 3), uint8
        ``round(255 * ((1 - alpha) * grey + alpha * cmap(heatmap)))``.
    """
    import matplotlib

    image = _float_2d("image_2d", image_2d)
    heat = _float_2d("heatmap", heatmap)
    if heat.shape != image.shape:
        raise ValueError(
            f"heatmap has shape {heat.shape} but image_2d has {image.shape}; give maps of one size."
        )
    if heat.min() < 0.0 or heat.max() > 1.0:
        raise ValueError(
            f"heatmap values span [{heat.min():.3g}, {heat.max():.3g}]; scale them to [0, 1] first."
        )
    check_range("alpha", alpha, 0.0, 1.0)
    check_option("cmap", cmap, sorted(matplotlib.colormaps))

    low, high = float(image.min()), float(image.max())
    grey = (image - low) / (high - low) if high > low else np.zeros_like(image)
    lut = matplotlib.colormaps[cmap](np.linspace(0.0, 1.0, 256))[:, :3]  # (256, 3) RGB in [0, 1]
    colour = lut[np.rint(heat * 255).astype(np.intp)]
    blended = (1.0 - alpha) * grey[..., None] + alpha * colour
    return np.rint(np.clip(blended, 0.0, 1.0) * 255).astype(np.uint8)


def _float_2d(name: str, array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"{name} must hold floating-point values, got dtype {array.dtype}.")
    if array.ndim != 2:
        raise ValueError(f"{name} has shape {array.shape}; expected a 2D (height, width) array.")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return array.astype(np.float64)
