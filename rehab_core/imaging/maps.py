"""Brain mask and voxel-wise resting-state maps: mean BOLD, tSNR, ALFF and ReHo."""

from __future__ import annotations

import numpy as np

from rehab_core._validation import check_positive

__all__ = ["alff", "brain_mask", "mean_image", "reho", "temporal_snr"]


def _check_4d(data: object, name: str = "data") -> np.ndarray:
    if not isinstance(data, np.ndarray) or data.ndim != 4:
        got = data.shape if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"{name} must be a 4D (x, y, z, t) array, got {got}.")
    if not np.issubdtype(data.dtype, np.floating):
        raise TypeError(f"{name} must be a float array, got dtype {data.dtype}.")
    if data.shape[3] < 3:
        raise ValueError(f"{name} has {data.shape[3]} volumes; at least 3 are needed.")
    return data


def _check_mask(mask: object, shape: tuple[int, ...]) -> np.ndarray:
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        raise TypeError("mask must be a boolean numpy array.")
    if mask.shape != tuple(shape):
        raise ValueError(f"mask has shape {mask.shape} but the volumes have {tuple(shape)}.")
    return mask


def _otsu_threshold(values: np.ndarray, n_bins: int = 256) -> float:
    """Threshold maximising the between-class variance of ``values`` (Otsu 1979)."""
    hist, edges = np.histogram(values, bins=n_bins)
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(hist)
    weight_high = weight_low[-1] - weight_low
    mean_low = np.cumsum(hist * centres) / np.maximum(weight_low, 1)
    total = (hist * centres).sum()
    mean_high = (total - np.cumsum(hist * centres)) / np.maximum(weight_high, 1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(edges[1:][np.argmax(between)])


def mean_image(data: np.ndarray) -> np.ndarray:
    """Temporal mean of a 4D run: shape (x, y, z), float32."""
    data = _check_4d(data)
    return data.mean(axis=3, dtype=np.float64).astype(np.float32)


def brain_mask(mean: np.ndarray) -> np.ndarray:
    """Brain mask of an EPI mean image: Otsu threshold, largest component, holes filled.

    Intensities are clipped at the 99.5th percentile before Otsu's threshold
    so that a few very bright voxels do not move it; the largest
    6-connected component above the threshold is kept and its holes (dark
    ventricles, signal voids) are filled in 3D and slice by slice.

    Parameters
    ----------
    mean : ndarray, shape (x, y, z), float
        Mean EPI image.

    Returns
    -------
    ndarray, shape (x, y, z), bool
    """
    from scipy import ndimage

    if not isinstance(mean, np.ndarray) or mean.ndim != 3:
        got = mean.shape if isinstance(mean, np.ndarray) else type(mean).__name__
        raise ValueError(f"mean must be a 3D (x, y, z) array, got {got}.")
    values = np.asarray(mean, dtype=np.float64)
    if not np.all(np.isfinite(values)) or np.ptp(values) == 0:
        raise ValueError("the mean image is constant or not finite; no brain can be found.")
    clipped = np.minimum(values, np.percentile(values, 99.5))
    above = clipped > _otsu_threshold(clipped.ravel())
    labels, n_labels = ndimage.label(above)
    if n_labels == 0:
        raise ValueError("no voxel is above the brain threshold; the image looks empty.")
    sizes = np.bincount(labels.ravel())[1:]
    mask = labels == (int(np.argmax(sizes)) + 1)
    mask = ndimage.binary_fill_holes(mask)
    for k in range(mask.shape[2]):
        mask[:, :, k] = ndimage.binary_fill_holes(mask[:, :, k])
    return mask


def _detrended(series: np.ndarray) -> np.ndarray:
    """Remove mean and linear trend from rows of ``series`` (n, t), float64."""
    t = np.linspace(-1.0, 1.0, series.shape[1])
    design = np.vstack([np.ones_like(t), t])  # (2, t)
    coef = series @ np.linalg.pinv(design)  # (n, 2)
    return series - coef @ design


def temporal_snr(data: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Temporal signal-to-noise ratio: mean over time / std of the linearly detrended series.

    Parameters
    ----------
    data : ndarray, shape (x, y, z, t), float
        The fMRI run.
    mask : ndarray, shape (x, y, z), bool
        Voxels to compute; others are 0.

    Returns
    -------
    ndarray, shape (x, y, z), float32
        Dimensionless tSNR; 0 outside the mask and where the series is constant.
    """
    data = _check_4d(data)
    mask = _check_mask(mask, data.shape[:3])
    series = data[mask].astype(np.float64)
    std = _detrended(series).std(axis=1)
    mean = series.mean(axis=1)
    out = np.zeros(data.shape[:3], dtype=np.float32)
    out[mask] = np.where(std > 0, mean / np.where(std > 0, std, 1.0), 0.0)
    return out


def alff(
    data: np.ndarray,
    tr_s: float,
    mask: np.ndarray,
    band_hz: tuple[float, float] = (0.01, 0.08),
) -> np.ndarray:
    """Amplitude of low-frequency fluctuations (Zang et al. 2007).

    Each voxel's series is linearly detrended; ALFF is the mean single-sided
    amplitude spectrum ``2 |FFT| / t`` over the frequencies in ``band_hz``, in
    the unit of ``data``.

    Parameters
    ----------
    data : ndarray, shape (x, y, z, t), float
        The fMRI run.
    tr_s : float
        Repetition time in seconds.
    mask : ndarray, shape (x, y, z), bool
        Voxels to compute; others are 0.
    band_hz : tuple of float
        ``(low, high)`` in Hz, ``high`` below Nyquist ``1 / (2 tr_s)``; the run
        must last at least ``1 / low`` seconds.

    Returns
    -------
    ndarray, shape (x, y, z), float32
    """
    data = _check_4d(data)
    mask = _check_mask(mask, data.shape[:3])
    check_positive("tr_s", tr_s)
    low, high = band_hz
    n_vols = data.shape[3]
    freqs = np.fft.rfftfreq(n_vols, d=tr_s)
    if not 0 < low < high < 1.0 / (2.0 * tr_s):
        raise ValueError(
            f"band_hz={band_hz} must satisfy 0 < low < high < {1.0 / (2.0 * tr_s):g} Hz "
            f"(Nyquist at tr_s={tr_s} s)."
        )
    if n_vols * tr_s < 1.0 / low - 1e-9:
        raise ValueError(
            f"the run lasts {n_vols * tr_s:g} s ({n_vols} volumes at TR {tr_s:g} s), shorter "
            f"than one period ({1.0 / low:g} s) of the lowest ALFF frequency {low:g} Hz; "
            "a longer run is needed."
        )
    in_band = (freqs >= low) & (freqs <= high)
    series = _detrended(data[mask].astype(np.float64))
    amplitude = 2.0 * np.abs(np.fft.rfft(series, axis=1)[:, in_band]) / n_vols
    out = np.zeros(data.shape[:3], dtype=np.float32)
    out[mask] = amplitude.mean(axis=1)
    return out


def _box_sum(array: np.ndarray) -> np.ndarray:
    """Sum over each voxel's 3x3x3 neighbourhood (first three axes), zero outside."""
    out = array
    for axis in range(3):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (1, 1)
        padded = np.pad(out, pad)
        n = out.shape[axis]

        def part(start: int, padded=padded, axis=axis, n=n) -> np.ndarray:
            index = [slice(None)] * padded.ndim
            index[axis] = slice(start, start + n)
            return padded[tuple(index)]

        out = part(0) + part(1)
        out += part(2)
    return out


def reho(data: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Regional homogeneity: Kendall's W of each voxel and its 26 neighbours (Zang et al. 2004).

    ``W = 12 sum_t (R_t - K (n + 1) / 2)^2 / (K^2 (n^3 - n))`` where ``R_t`` is
    the sum over the ``K`` in-mask voxels of the 3x3x3 neighbourhood of each
    series' rank at time ``t`` and ``n`` the number of volumes (the DPABI/REST
    definition; at the mask border fewer than 27 voxels enter and W is
    biased upwards, as in those tools). Ties (rare in float data) are ranked
    by order of appearance. Vectorised: ranks for all voxels at once, the
    neighbourhood sums as shifted adds of the centred ranks.

    Parameters
    ----------
    data : ndarray, shape (x, y, z, t), float
        The fMRI run.
    mask : ndarray, shape (x, y, z), bool
        Voxels to compute and the only ones used as neighbours; others are 0.

    Returns
    -------
    ndarray, shape (x, y, z), float32
        W in [0, 1].
    """
    data = _check_4d(data)
    mask = _check_mask(mask, data.shape[:3])
    n_vols = data.shape[3]
    series = data[mask]
    order = np.argsort(series, axis=1, kind="stable")
    ranks = np.empty(series.shape, dtype=np.float32)
    centred = np.arange(n_vols, dtype=np.float32) - (n_vols - 1) / 2.0  # rank - (n + 1) / 2
    np.put_along_axis(ranks, order, np.broadcast_to(centred, series.shape), axis=1)
    volume = np.zeros(data.shape, dtype=np.float32)
    volume[mask] = ranks
    sums = _box_sum(volume)[mask].astype(np.float64)  # (n_mask, t) centred rank sums
    counts = _box_sum(mask.astype(np.float32))[mask].astype(np.float64)
    w = 12.0 * np.sum(sums**2, axis=1) / (counts**2 * (n_vols**3 - n_vols))
    out = np.zeros(data.shape[:3], dtype=np.float32)
    out[mask] = w
    return out
