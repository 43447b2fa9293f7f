"""Time the signal viewer: decimation, figure build and the JSON sent to the browser.

One paper-scale recording (22 channels, 9 min, 1000 Hz: 11.9 million samples)
from the synthetic-patient generator, read and preprocessed with the shipped
model's settings as the Signals page does, then, for a 10-s, a 60-s and the
whole-length view: min-max decimation (``view_slice``), the stacked-trace
figure (``signal_traces_figure``) and its serialisation
(``plotly.io.to_json``, what ``st.plotly_chart`` sends), with the JSON size.
For the short views the same figure without decimation is measured too.
The once-per-upload costs (filtering the whole recording, spectra,
coherence) are timed as well.

Run (after `make setup`, or prefix PYTHONPATH=.):
    .venv/bin/python bench/bench_viewer.py [--repeats 5] [--pixels 1000] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def _median_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _load(out_dir: Path):
    """Generate, read and preprocess a 9-min demo recording with the shipped settings."""
    import numpy as np

    from rehab_core.demo import generate_patient
    from rehab_core.models import DEFAULT_MODEL_ID
    from rehab_core.pipeline import prepare_patient
    from rehab_core.prediction import default_weights_dir
    from rehab_core.signals import SignalSettings, recording_arrays
    from rehab_core.storage.weights import read_manifest

    files = generate_patient(out_dir, seed=42, minutes=9, volumes=50)
    manifest = read_manifest(default_weights_dir() / DEFAULT_MODEL_ID)
    settings = SignalSettings.from_dict(manifest.preprocessing.signals)
    start = time.perf_counter()
    prepared = prepare_patient(
        files.signals_path, None, signal_settings=settings, paper_channels=True
    )
    prepare_s = time.perf_counter() - start
    data, sfreq, names, types = recording_arrays(prepared.raw)
    return data.astype(np.float32), sfreq, names, types, prepared.signals, prepare_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pixels", type=int, default=1000, help="chart width in pixels")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    import plotly.io

    from rehab_core.signals import (
        filter_signals,
        kept_window_data,
        motor_coherence,
        power_spectra,
        rejected_intervals,
        unused_tail,
    )
    from rehab_core.viz import signal_traces_figure, view_slice

    with tempfile.TemporaryDirectory() as tmp:
        data, sfreq, names, types, result, prepare_s = _load(Path(tmp))
    n_chans, n_times = data.shape
    duration = n_times / sfreq
    report: dict = {
        "recording": {
            "n_chans": n_chans,
            "sfreq_hz": sfreq,
            "duration_s": duration,
            "n_samples": int(data.size),
            "bad_channels": list(result.qc["bad_channels"]),
            "n_rejected_windows": result.qc["n_rejected"],
        },
        "pixels": args.pixels,
        "once_per_upload_s": {"read_and_preprocess": round(prepare_s, 3)},
    }
    t, filtered = _median_time(lambda: filter_signals(data, sfreq, result.settings), 1)
    report["once_per_upload_s"]["filter_whole_recording"] = round(t, 3)
    kept = kept_window_data(filtered, result)
    t, _ = _median_time(lambda: power_spectra(kept, sfreq, fmax=160.0), 1)
    report["once_per_upload_s"]["power_spectra"] = round(t, 3)
    t, _ = _median_time(lambda: motor_coherence(kept, sfreq, names, types), 1)
    report["once_per_upload_s"]["motor_coherence"] = round(t, 3)

    shading = dict(
        bad_channels=result.qc["bad_channels"],
        rejected=rejected_intervals(result),
        unused=unused_tail(result),
    )
    views = []
    for span in (10.0, 60.0, duration):
        t0 = 0.0 if span == duration else 120.0
        t_dec, (times, values) = _median_time(
            lambda t0=t0, span=span: view_slice(data, sfreq, t0, t0 + span, args.pixels),
            args.repeats,
        )
        t_fig, fig = _median_time(
            lambda t0=t0, span=span, times=times, values=values: signal_traces_figure(
                times, values, names, types, view=(t0, t0 + span), **shading
            ),
            args.repeats,
        )
        t_json, spec = _median_time(
            lambda fig=fig: plotly.io.to_json(fig, validate=False), args.repeats
        )
        row = {
            "view_s": span,
            "samples_in_view": int(n_chans * round(span * sfreq)),
            "points_sent": int(values.size),
            "decimate_s": round(t_dec, 4),
            "figure_s": round(t_fig, 4),
            "to_json_s": round(t_json, 4),
            "json_mb": round(len(spec) / 1e6, 3),
        }
        if span <= 60.0:  # the same view without decimation, for comparison
            i0, i1 = int(t0 * sfreq), int((t0 + span) * sfreq)
            full = view_slice(data, sfreq, t0, t0 + span, i1 - i0)
            fig_full = signal_traces_figure(*full, names, types, view=(t0, t0 + span), **shading)
            t_full, spec_full = _median_time(
                lambda f=fig_full: plotly.io.to_json(f, validate=False), 1
            )
            row["undecimated_json_mb"] = round(len(spec_full) / 1e6, 3)
            row["undecimated_to_json_s"] = round(t_full, 4)
        views.append(row)
    report["views"] = views

    if args.json:
        print(json.dumps(report, indent=2))
        return
    rec = report["recording"]
    print(
        f"recording: {rec['n_chans']} channels x {rec['duration_s']:g} s at {rec['sfreq_hz']:g} Hz"
        f" ({rec['n_samples']:,} samples); bad channels {rec['bad_channels'] or 'none'}; "
        f"{rec['n_rejected_windows']} rejected windows; chart {args.pixels} px"
    )
    for name, seconds in report["once_per_upload_s"].items():
        print(f"  once per upload  {name:<24} {seconds:7.3f} s")
    header = "view      points sent / samples      decimate   figure   to_json   JSON"
    print(header)
    for row in views:
        extra = (
            f"   (undecimated: {row['undecimated_json_mb']:.2f} MB, "
            f"to_json {row['undecimated_to_json_s']:.3f} s)"
            if "undecimated_json_mb" in row
            else ""
        )
        print(
            f"{row['view_s']:6g} s  {row['points_sent']:>9,} / {row['samples_in_view']:>10,}"
            f"   {row['decimate_s']:7.4f} s {row['figure_s']:7.4f} s {row['to_json_s']:7.4f} s"
            f"  {row['json_mb']:.2f} MB{extra}"
        )


if __name__ == "__main__":
    main()
