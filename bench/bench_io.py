"""Speed of the input readers and the text writer on full-size inputs.

Run ``python bench/bench_io.py`` from the repository root. It writes, in a
temporary folder, a 9-min, 22-channel, 1000-Hz recording (540000 rows, the
paper's task length) and a 64x64x35x120 float32 ``.nii.gz`` (the paper's
rs-fMRI grid), then prints a table of wall-clock times:

* ``write_signals_text`` (best of 3),
* ``read_signals`` on that file (best of 3; pandas C parser fast path),
* ``read_signals`` on the same data with runs of spaces (refused by the
  single-space pass, read by the second, ``\\s+`` pandas pass; 1 run),
* ``read_signals`` on the same data with one bad value in the last row (both
  pandas passes fail and the line-by-line parser names the cell; 1 run),
* ``np.loadtxt`` on the same file, for comparison (1 run),
* ``read_fmri`` on the ``.nii.gz`` (best of 3).

The first read of each kind also imports MNE/pandas/nibabel; those imports
are done before timing so the figures are the readers' own. Both wall-clock
and process CPU seconds are printed (best of the runs), with the load average,
because the development machine is shared.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rehab_core.io import (
    PAPER_CHANNELS,
    NonNumericError,
    read_fmri,
    read_signals,
    write_signals_text,
)

SFREQ = 1000.0
N_TIMES = 9 * 60 * 1000
FMRI_SHAPE = (64, 64, 35, 120)


def _best_of(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Best wall-clock and best process CPU seconds over ``repeats`` runs.

    CPU time is the steadier figure on a shared machine: other users' load
    stretches wall time but not the work this process does.
    """
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def main(repeats: int = 3) -> list[tuple[str, tuple[float, float]]]:
    """Run the benchmark and print the table; return (label, seconds) rows."""
    import mne  # noqa: F401  imported before timing
    import nibabel as nib
    import pandas  # noqa: F401

    load_before = f"{os.getloadavg()[0]:.2f}"
    rng = np.random.default_rng(0)
    data_uV = rng.normal(0.0, 30.0, size=(len(PAPER_CHANNELS), N_TIMES))
    rows: list[tuple[str, tuple[float, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "rec.txt"
        rows.append(
            (
                "write_signals_text (best of 3)",
                _best_of(lambda: write_signals_text(path, data_uV, PAPER_CHANNELS, SFREQ), repeats),
            )
        )
        size_mb = path.stat().st_size / 1e6
        read_signals(path)  # warm-up: montage cache, first pandas call
        rows.append(
            ("read_signals .txt (best of 3)", _best_of(lambda: read_signals(path), repeats))
        )

        lines = path.read_text(encoding="utf-8").splitlines()
        irregular = folder / "irregular.txt"
        body = [line.replace(" ", "  ") for line in lines[5:]]
        irregular.write_text("\n".join(lines[:5] + body) + "\n", encoding="utf-8")
        rows.append(
            ("read_signals .txt, runs of spaces", _best_of(lambda: read_signals(irregular), 1))
        )

        bad = folder / "bad.txt"
        bad.write_text("\n".join([*lines[:-1], "1.0 " * 21 + "x"]) + "\n", encoding="utf-8")

        def refuse_bad() -> None:
            try:
                read_signals(bad)
            except NonNumericError:
                return
            raise RuntimeError("bad.txt was not refused")

        rows.append(("read_signals .txt, bad last cell (exact parser)", _best_of(refuse_bad, 1)))

        rows.append(
            ("np.loadtxt .txt (comparison)", _best_of(lambda: np.loadtxt(path, skiprows=5), 1))
        )

        fmri_path = folder / "bold.nii.gz"
        bold = (1000 + 20 * rng.standard_normal(FMRI_SHAPE)).astype(np.float32)
        img = nib.Nifti1Image(bold, np.diag([3.0, 3.0, 4.0, 1.0]))
        img.header.set_zooms((3.0, 3.0, 4.0, 2.0))
        img.header.set_xyzt_units("mm", "sec")
        nib.save(img, fmri_path)
        fmri_mb = fmri_path.stat().st_size / 1e6
        read_fmri(fmri_path)
        rows.append(
            ("read_fmri .nii.gz (best of 3)", _best_of(lambda: read_fmri(fmri_path), repeats))
        )

    print(f"EEG-EMG text: {len(PAPER_CHANNELS)} channels x {N_TIMES} samples ({size_mb:.1f} MB)")
    print(f"fMRI: {FMRI_SHAPE} float32 .nii.gz ({fmri_mb:.1f} MB)")
    width = max(len(label) for label, _ in rows)
    print(
        f"load average before: {load_before}; "
        f"after: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)"
    )
    print(f"{'step'.ljust(width)}  wall s   cpu s")
    for label, (wall, cpu) in rows:
        print(f"{label.ljust(width)}  {wall:6.3f}  {cpu:6.3f}")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs for best-of timings")
    main(parser.parse_args().repeats)
