"""Time the paper-scale preprocessing of one patient's recordings.

Signals: 22 channels (16 EEG + 6 EMG) x 9 min x 1000 Hz, synthetic but shaped
like the real thing (1/f EEG with alpha, mains hum, EMG bursts with the
~2-s flexion/extension rhythm). fMRI: 64 x 64 x 35 x 120 at 3.44 x 3.44 x 4 mm,
TR 2 s (the paper's protocol): a textured ellipsoid "brain" with noise and a
little drift-like motion.

Run (after `make setup`, which installs rehab_core; or prefix PYTHONPATH=.):
    .venv/bin/python bench/bench_preprocess.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections.abc import Callable

import numpy as np


def synthetic_signals(seed: int = 0) -> tuple[np.ndarray, float, list[str]]:
    """(22, 540000) float64 µV at 1000 Hz, with channel types."""
    from scipy import signal

    rng = np.random.default_rng(seed)
    sfreq, n = 1000.0, 9 * 60 * 1000
    t = np.arange(n) / sfreq
    white = rng.standard_normal((22, n))
    # ~1/f EEG: integrate white noise lightly (one-pole low-pass at 1 Hz)
    b, a = signal.butter(1, 1.0, fs=sfreq)
    eeg = signal.lfilter(b, a, white[:16], axis=1) * 60.0 + 3.0 * white[:16]
    eeg += 10.0 * np.sin(2 * np.pi * 10.0 * t + rng.uniform(0, 2 * np.pi, (16, 1)))
    burst = (np.sin(2 * np.pi * 0.5 * t) > 0.3).astype(float)  # task rhythm
    emg = white[16:] * (5.0 + 80.0 * burst)
    data = np.vstack([eeg, emg]) + 15.0 * np.sin(2 * np.pi * 50.0 * t) + 200.0
    return data, sfreq, ["eeg"] * 16 + ["emg"] * 6


def synthetic_fmri(seed: int = 0):
    """A nibabel image, 64 x 64 x 35 x 120 float32, TR 2 s."""
    import nibabel
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    shape, zooms, n_vols = (64, 64, 35), np.array([3.4375, 3.4375, 4.0]), 120
    grid = np.indices(shape, dtype=np.float64)
    centre = (np.array(shape) - 1) / 2
    mm = [(grid[i] - centre[i]) * zooms[i] for i in range(3)]
    brain = (mm[0] / 70) ** 2 + (mm[1] / 85) ** 2 + (mm[2] / 60) ** 2 < 1
    texture = ndimage.gaussian_filter(rng.standard_normal(shape), 2.0)
    base = np.where(brain, 800.0 + 150.0 * texture / texture.std(), 20.0)
    data = base[..., None] * (1 + 0.01 * rng.standard_normal((*shape, n_vols)))
    data += 5.0 * rng.standard_normal(data.shape)
    for t in range(n_vols):  # slow drift of up to 0.3 voxel along y
        data[..., t] = ndimage.shift(data[..., t], (0.0, 0.3 * t / n_vols, 0.0), order=1)
    affine = np.diag([*zooms, 1.0])
    affine[:3, 3] = -zooms * centre
    img = nibabel.Nifti1Image(data.astype(np.float32), affine)
    img.header.set_zooms((*zooms, 2.0))
    img.header.set_xyzt_units("mm", "sec")
    return img


def _time(fn: Callable[[], object], repeats: int) -> tuple[list[float], list[float], object]:
    """Wall-clock and CPU (this process, all threads) seconds of each repeat."""
    wall, cpu, result = [], [], None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from rehab_core.imaging import ImagingSettings, preprocess_fmri
    from rehab_core.signals import preprocess_signals

    data, sfreq, types = synthetic_signals()
    img = synthetic_fmri()
    rows = []
    wall, cpu, sig = _time(lambda: preprocess_signals(data, sfreq, types), args.repeats)
    rows.append(
        (
            "preprocess_signals 22ch x 9min x 1000Hz",
            wall,
            cpu,
            f"windows {sig.windows.shape}, rejected {sig.qc['n_rejected']}",
        )
    )
    wall, cpu, fm = _time(lambda: preprocess_fmri(img), args.repeats)
    rows.append(
        (
            "preprocess_fmri 64x64x35x120",
            wall,
            cpu,
            f"slices {fm.slices.shape}, mean FD {fm.qc['mean_fd_mm']:.3f} mm",
        )
    )
    settings = ImagingSettings(realign=True)
    wall, cpu, fm = _time(lambda: preprocess_fmri(img, settings), args.repeats)
    rows.append(
        (
            "preprocess_fmri realign=True",
            wall,
            cpu,
            f"slices {fm.slices.shape}, median tSNR {fm.qc['median_tsnr']:.0f}",
        )
    )

    print(f"{'step':42s} {'wall median':>11s} {'wall min':>8s} {'cpu median':>10s}  output")
    for name, w, c, note in rows:
        print(
            f"{name:42s} {statistics.median(w):10.2f}s {min(w):7.2f}s "
            f"{statistics.median(c):9.2f}s  {note}"
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of the process: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
