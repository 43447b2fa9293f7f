"""Brain mask, tSNR, ALFF and ReHo on tiny synthetic runs."""

from __future__ import annotations

import numpy as np
import pytest

from rehab_core.imaging import alff, brain_mask, mean_image, reho, temporal_snr


def test_brain_mask_finds_the_ellipsoid(run_factory):
    data, _, brain = run_factory()
    mask = brain_mask(mean_image(data))
    dice = 2 * np.count_nonzero(mask & brain) / (mask.sum() + brain.sum())
    assert dice > 0.95
    assert mask.dtype == np.bool_


def test_brain_mask_errors():
    with pytest.raises(ValueError, match="mean must be a 3D \\(x, y, z\\) array, got \\(4, 4\\)"):
        brain_mask(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="constant or not finite"):
        brain_mask(np.ones((4, 4, 4)))


def test_temporal_snr_math():
    t = np.arange(40)
    series = 100.0 + np.where(t % 2 == 0, 1.0, -1.0) + 0.5 * (t - 20)  # trend is removed
    data = np.broadcast_to(series, (3, 3, 3, 40)).astype(np.float64).copy()
    mask = np.zeros((3, 3, 3), dtype=bool)
    mask[1, 1, 1] = True
    tsnr = temporal_snr(data, mask)
    assert tsnr[1, 1, 1] == pytest.approx(series.mean() / 1.0, rel=0.01)
    assert tsnr[0, 0, 0] == 0.0


def _band_fluctuation(freq_hz: float, n_vols: int = 64, tr_s: float = 2.0) -> np.ndarray:
    return 40.0 * np.sin(2 * np.pi * freq_hz * np.arange(n_vols) * tr_s)


def test_alff_higher_where_low_frequency_fluctuations_were_injected(run_factory):
    data, _, brain = run_factory()
    inside = data.copy()
    inside[:12] += _band_fluctuation(0.05) * brain[:12, ..., np.newaxis]  # left half: in band
    inside[12:] += _band_fluctuation(0.2) * brain[12:, ..., np.newaxis]  # right: above band
    amp = alff(inside, 2.0, brain)
    left, right = amp[:12][brain[:12]], amp[12:][brain[12:]]
    baseline = alff(data, 2.0, brain)[12:][brain[12:]]
    assert np.median(left) > 2.0 * np.median(right)
    assert np.median(right) == pytest.approx(np.median(baseline), rel=0.1)  # 0.2 Hz ignored
    assert amp.dtype == np.float32
    assert np.all(amp[~brain] == 0.0)


def test_alff_amplitude_unit():
    n_vols, tr_s = 100, 2.0
    t = (np.arange(n_vols) - (n_vols - 1) / 2) * tr_s
    data = np.zeros((1, 1, 1, n_vols))
    # whole cycles of a cosine, symmetric about the middle: on one frequency bin and
    # orthogonal to the mean and linear trend that ALFF removes
    data[0, 0, 0] = 5.0 * np.cos(2 * np.pi * 0.05 * t)
    mask = np.ones((1, 1, 1), dtype=bool)
    freqs = np.fft.rfftfreq(n_vols, tr_s)
    n_bins = np.count_nonzero((freqs >= 0.01) & (freqs <= 0.08))
    assert alff(data, tr_s, mask)[0, 0, 0] == pytest.approx(5.0 / n_bins, rel=1e-3)


def test_alff_errors(run_factory):
    data, _, brain = run_factory(n_vols=20)
    with pytest.raises(ValueError, match="lasts 40 s .* shorter than one period \\(100 s\\)"):
        alff(data, 2.0, brain)
    with pytest.raises(ValueError, match="must satisfy 0 < low < high < 0.0714286 Hz"):
        alff(data, 7.0, brain)
    with pytest.raises(ValueError, match="mask has shape \\(2, 2, 2\\)"):
        alff(data, 2.0, np.ones((2, 2, 2), dtype=bool))
    with pytest.raises(TypeError, match="mask must be a boolean numpy array"):
        alff(data, 2.0, brain.astype(int))
    with pytest.raises(ValueError, match="data must be a 4D \\(x, y, z, t\\) array"):
        alff(data[..., 0], 2.0, brain)


def _kendall_w(series: np.ndarray) -> float:
    """Textbook Kendall's W of K series (K, n) by explicit ranking."""
    k, n = series.shape
    ranks = np.argsort(np.argsort(series, axis=1), axis=1) + 1.0
    total = ranks.sum(axis=0)
    return float(12.0 * np.sum((total - total.mean()) ** 2) / (k**2 * (n**3 - n)))


def test_reho_equals_kendalls_w():
    rng = np.random.default_rng(3)
    data = rng.standard_normal((5, 5, 5, 30))
    data[1:4, 1:4, 1:4] += 1.5 * rng.standard_normal(30)
    mask = np.ones((5, 5, 5), dtype=bool)
    mask[0, 0, 0] = False
    w = reho(data, mask)
    expected = _kendall_w(data[1:4, 1:4, 1:4].reshape(27, 30))
    assert w[2, 2, 2] == pytest.approx(expected, rel=1e-5)
    # a border voxel uses only its in-mask neighbours: (0, 0, 0), the first of the
    # 12 voxels around (0, 0, 1), is outside the mask
    assert w[0, 0, 1] == pytest.approx(
        _kendall_w(data[0:2, 0:2, 0:3].reshape(12, 30)[1:]), rel=1e-5
    )
    assert w[0, 0, 0] == 0.0


def test_reho_higher_for_a_coherent_patch(run_factory):
    data, _, brain = run_factory()
    rng = np.random.default_rng(4)
    coherent = data.copy()
    coherent[6:12, 8:16, 5:9] += 30.0 * rng.standard_normal(data.shape[3])
    w = reho(coherent, brain)
    assert np.median(w[7:11, 9:15, 6:8]) > 3.0 * np.median(w[14:18, 9:15, 6:8])
    assert 0.0 <= w.min() and w.max() <= 1.0
    identical = np.broadcast_to(rng.standard_normal(20), (3, 3, 3, 20)).copy()
    assert reho(identical, np.ones((3, 3, 3), dtype=bool))[1, 1, 1] == pytest.approx(1.0)
