"""Min-max decimation and the EEG-EMG figures (rehab_core.viz.decimate / .signals)."""

from __future__ import annotations

import numpy as np
import pytest

from rehab_core.signals import (
    coherence_confidence_limit,
    kept_window_data,
    motor_coherence,
    power_spectra,
    rejected_intervals,
    unused_tail,
)
from rehab_core.viz import (
    coherence_figure,
    decimate_minmax,
    psd_figure,
    signal_qc_table,
    signal_traces_figure,
    view_slice,
)
from rehab_core.viz._plotly import log_axis_ticks

# --- decimate_minmax ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_times", "n_pixels"),
    [(10_000, 100), (10_007, 100), (201, 100), (540_000, 1500), (999, 7)],
)
def test_decimate_keeps_every_bucket_min_and_max_and_bounds_points(n_times, n_pixels):
    rng = np.random.default_rng(n_times)
    data = rng.standard_normal((3, n_times))
    times, values = decimate_minmax(data, n_pixels, sfreq=1000.0, t0=2.0)

    assert times.shape == values.shape
    assert values.shape[1] <= 2 * n_pixels
    bucket = -(-n_times // n_pixels)
    edges = np.arange(0, n_times, bucket)
    np.testing.assert_array_equal(values.min(axis=1), data.min(axis=1))
    np.testing.assert_array_equal(values.max(axis=1), data.max(axis=1))
    # every bucket's extremes are there, exactly, at their own sample times
    bucket_min = np.minimum.reduceat(data, edges, axis=1)
    bucket_max = np.maximum.reduceat(data, edges, axis=1)
    pairs = values.reshape(3, -1, 2)
    np.testing.assert_array_equal(pairs.min(axis=2), bucket_min)
    np.testing.assert_array_equal(pairs.max(axis=2), bucket_max)
    index = np.rint((times - 2.0) * 1000.0).astype(int)
    np.testing.assert_array_equal(np.take_along_axis(data, index, axis=1), values)
    assert np.all(np.diff(index, axis=1) >= 0), "points must stay in time order"


def test_decimate_keeps_a_single_spike_and_the_dtype():
    data = np.zeros((2, 100_000), dtype=np.float32)
    data[1, 54_321] = 300.0
    data[0, 7] = -80.0
    times, values = decimate_minmax(data, 500, sfreq=1000.0)
    assert values.dtype == np.float32
    assert values[1].max() == 300.0
    assert times[1, values[1].argmax()] == pytest.approx(54.321)
    assert values[0].min() == -80.0


def test_decimate_returns_short_data_unchanged_as_a_copy():
    data = np.arange(20.0).reshape(2, 10)
    times, values = decimate_minmax(data, 5, sfreq=10.0, t0=1.0)
    np.testing.assert_array_equal(values, data)
    np.testing.assert_allclose(times[0], 1.0 + np.arange(10) / 10.0)
    values[0, 0] = 99.0
    assert data[0, 0] == 0.0


@pytest.mark.parametrize(
    ("n_pixels", "error", "match"),
    [(0, ValueError, "n_pixels=0 must be at least 1"), (2.5, TypeError, "whole number")],
)
def test_decimate_refuses_bad_pixel_counts(n_pixels, error, match):
    with pytest.raises(error, match=match):
        decimate_minmax(np.zeros((1, 10)), n_pixels)


def test_decimate_refuses_integer_data_in_plain_words():
    with pytest.raises(TypeError, match="float32 or float64"):
        decimate_minmax(np.zeros((1, 10), dtype=int), 4)


# --- view_slice ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("t0", "t1"), [(0.0, 10.0), (100.0, 160.0), (0.0, 540.0)])
def test_view_slice_covers_the_view_with_at_most_two_points_a_pixel(t0, t1):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((2, 540_000)).astype(np.float32)
    times, values = view_slice(data, 1000.0, t0, t1, 800)
    assert values.shape[1] <= 1600
    assert times.min() >= t0 and times.max() < t1
    i0, i1 = int(t0 * 1000), int(t1 * 1000)
    np.testing.assert_array_equal(values.max(axis=1), data[:, i0:i1].max(axis=1))
    np.testing.assert_array_equal(values.min(axis=1), data[:, i0:i1].min(axis=1))


def test_view_slice_clips_a_view_running_past_the_end():
    data = np.arange(5000.0)[None]
    times, _ = view_slice(data, 1000.0, 4.0, 10.0, 100)
    assert times.min() == pytest.approx(4.0)
    assert times.max() == pytest.approx(4.999)


def test_view_slice_picks_channels_in_the_given_order():
    data = np.arange(3 * 1000, dtype=np.float64).reshape(3, 1000)
    _, values = view_slice(data, 100.0, 1.0, 2.0, 500, picks=[2, 0])
    np.testing.assert_array_equal(values, data[[2, 0], 100:200])
    with pytest.raises(ValueError, match=r"rows \[3\] do not exist"):
        view_slice(data, 100.0, 1.0, 2.0, 500, picks=[3])
    with pytest.raises(ValueError, match="Choose at least one channel among the 3"):
        view_slice(data, 100.0, 1.0, 2.0, 500, picks=[])


@pytest.mark.parametrize(
    ("t0", "t1", "match"),
    [
        (5.0, 5.0, "must end after it starts"),
        (6.0, 2.0, "must end after it starts"),
        (12.0, 20.0, "outside the recording, which lasts 10 s"),
        (float("nan"), 2.0, "finite"),
    ],
)
def test_view_slice_explains_an_impossible_view(t0, t1, match):
    with pytest.raises(ValueError, match=match):
        view_slice(np.zeros((1, 10_000)), 1000.0, t0, t1, 100)


# --- traces figure ------------------------------------------------------------------------------


def _traces(recording, result, t0, t1, **kw):
    times, values = view_slice(recording, result.qc["input_sfreq"], t0, t1, 300)
    return signal_traces_figure(
        times,
        values,
        result.ch_names,
        result.ch_types,
        bad_channels=result.qc["bad_channels"],
        rejected=rejected_intervals(result),
        unused=unused_tail(result),
        view=(t0, t1),
        **kw,
    )


def test_traces_one_row_per_channel_with_rejected_window_and_tail_shaded(
    recording, signal_result, chans
):
    fig = _traces(recording, signal_result, 0.0, 35.0, title="whole recording")
    assert len(fig.data) == len(chans.names)
    assert fig.layout.title.text == "whole recording"
    rects = [(s.x0, s.x1, s.label.text) for s in fig.layout.shapes]
    assert rects[0][:2] == (10.0, 20.0) and rects[0][2].startswith("rejected: peak-to-peak")
    assert rects[1] == (30.0, 35.0, "not used (shorter than a window)")
    assert list(fig.layout.xaxis.range) == [0.0, 35.0]
    # montage order from the top: FC2 (bad) is the highest row, C3 the next
    assert fig.layout.yaxis.tickvals[0] == len(chans.names) - 1
    assert "FC2 (EEG, bad)" in fig.layout.yaxis.ticktext[0]
    assert fig.layout.yaxis.ticktext[1] == "C3 (EEG)"


def _trace(fig, code):
    """The trace of one channel, by its code (trace names start with it)."""
    return next(t for t in fig.data if t.name.split(" (")[0] == code)


def test_traces_mark_the_bad_channel(recording, signal_result, chans):
    fig = _traces(recording, signal_result, 0.0, 10.0)
    fc2 = _trace(fig, "FC2")
    assert fc2.line.dash == "dash"
    assert fc2.name.startswith("FC2 (bad: flat")
    row = list(fig.data).index(fc2)
    assert "FC2 (EEG, bad)" in fig.layout.yaxis.ticktext[row]
    assert _trace(fig, "C3").line.dash == "solid"


def test_traces_draw_only_the_shading_inside_the_view(recording, signal_result):
    assert len(_traces(recording, signal_result, 0.0, 10.0).layout.shapes) == 0
    assert len(_traces(recording, signal_result, 18.0, 28.0).layout.shapes) == 1


def test_traces_without_rejections_have_no_shading(clean_result, chans):
    data = chans.make_recording(30.0, seed=1)
    fig = _traces(data, clean_result, 0.0, 30.0)
    assert len(fig.layout.shapes) == 0
    assert not any("bad" in t for t in fig.layout.yaxis.ticktext)


def test_traces_scale_each_type_by_a_readable_number(recording, signal_result, chans):
    fig = _traces(recording, signal_result, 0.0, 10.0)
    scales = fig.layout.meta["row_scale_uv"]
    # EEG ~ +-40 µV, EMG ~ +-500 µV: 1-2-5 numbers, EMG an order of magnitude larger
    assert scales["eeg"] in (50.0, 100.0, 200.0)
    assert scales["emg"] in (500.0, 1000.0, 2000.0)
    fixed = _traces(recording, signal_result, 0.0, 10.0, scalings={"eeg": 20.0})
    assert fixed.layout.meta["row_scale_uv"]["eeg"] == 20.0
    c1 = _trace(fixed, "C1")
    row = list(fixed.data).index(c1)  # C1's row on the page, in montage order
    y = np.asarray(c1.y, dtype=float)
    _, values = view_slice(recording, chans.sfreq, 0.0, 10.0, 300)
    i = chans.names.index("C1")
    expected = len(chans.names) - 1 - row + (values[i] - np.median(values[i])) / 20.0
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_traces_run_in_montage_order_with_muscle_names(recording, signal_result, chans):
    """The clinicians found the channels in an arbitrary order, muscles named by codes."""
    fig = _traces(recording, signal_result, 0.0, 10.0)
    ticks = [t.split(">")[1].split("<")[0] if "<" in t else t for t in fig.layout.yaxis.ticktext]
    assert ticks == [
        "FC2 (EEG, bad)",
        "C3 (EEG)",
        "C1 (EEG)",
        "CP1 (EEG)",
        "rectus femoris (EMG)",
        "vastus medialis (EMG)",
        "semitendinosus (EMG)",
    ]
    assert list(fig.layout.yaxis.tickvals) == list(range(6, -1, -1))  # top to bottom
    assert [t.name.split(" (")[0] for t in fig.data] == [
        "FC2", "C3", "C1", "CP1", "EMG_RF", "EMG_VM", "EMG_ST",
    ]  # fmt: skip
    # each trace sits on its own row: the median of the rectus femoris row is its offset
    rf = _trace(fig, "EMG_RF")
    assert np.median(np.asarray(rf.y, dtype=float)) == pytest.approx(2.0, abs=1e-3)
    assert "rectus femoris (EMG_RF)" in rf.hovertemplate


def test_figures_write_no_symbol_a_browser_may_lack(recording, signal_result, figure_strings):
    """Symbols such as ✗ came out as empty boxes where the font lacks them."""
    fig = _traces(recording, signal_result, 0.0, 35.0)
    freqs = np.arange(2.0, 46.0)
    coh = coherence_figure(
        freqs, np.zeros((2, 1, freqs.size)), ["C1", "C3"], ["EMG_RF"], bad_channels={"C3": "x"}
    )
    for figure in (fig, coh):
        text = "".join(figure_strings(figure))
        assert "bad" in text  # the bad channels are named in words
        assert not [c for c in text if ord(c) > 0x2000 and c not in "–—−→"], "non-text glyph"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(bad_channels={"Pz": "flat"}), "Bad channels Pz are not among the channels shown"),
        (dict(scalings={"eeg": 0.0}), "The EEG scale must be positive"),
    ],
)
def test_traces_refuse_inconsistent_options(recording, chans, kwargs, match):
    times, values = view_slice(recording, chans.sfreq, 0.0, 5.0, 100)
    with pytest.raises(ValueError, match=match):
        signal_traces_figure(times, values, chans.names, chans.types, **kwargs)


def test_traces_refuse_times_that_do_not_match_values(recording, chans):
    times, values = view_slice(recording, chans.sfreq, 0.0, 5.0, 100)
    with pytest.raises(ValueError, match="give both from view_slice"):
        signal_traces_figure(times[:, :-1], values, chans.names, chans.types)


# --- spectra ------------------------------------------------------------------------------------


def test_psd_figure_one_trace_per_channel_in_two_panels(recording, signal_result, chans):
    data = kept_window_data(recording, signal_result)
    freqs, psd = power_spectra(data, chans.sfreq, fmax=120.0)
    fig = psd_figure(
        freqs,
        psd,
        chans.names,
        chans.types,
        bad_channels=signal_result.qc["bad_channels"],
        band=tuple(signal_result.qc["band_hz"]),
        notch_freqs=signal_result.qc["notch_freqs_hz"],
    )
    assert len(fig.data) == len(chans.names)
    assert [a.text for a in fig.layout.annotations][:2] == [
        "EEG power spectra",
        "EMG power spectra",
    ]
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.type == "log"
    assert {fig.data[i].xaxis for i in range(4)} == {"x"}
    assert {fig.data[i].xaxis for i in range(4, 7)} == {"x2"}
    fc2 = _trace(fig, "FC2")
    assert fc2.line.dash == "dash" and np.all(np.isnan(np.asarray(fc2.y, dtype=float)))
    # band edges 0.5 and 100 Hz and the notches at 50 and 100 Hz, in both panels
    xs = sorted(s.x0 for s in fig.layout.shapes)
    assert xs == [0.5, 0.5, 50.0, 50.0, 100.0, 100.0, 100.0, 100.0]


@pytest.mark.parametrize(
    ("low", "high", "ticks"),
    [
        (1.5e-3, 120.0, ["0.001", "0.01", "0.1", "1", "10", "100", "1000"]),
        (2e-9, 5e-5, ["10<sup>-9</sup>", "10<sup>-8</sup>", "10<sup>-7</sup>", "10<sup>-6</sup>",
                      "10<sup>-5</sup>", "10<sup>-4</sup>"]),
        # 15 decades: every second one
        (1e-12, 400.0, ["10<sup>-12</sup>", "10<sup>-10</sup>", "10<sup>-8</sup>",
                        "10<sup>-6</sup>", "10<sup>-4</sup>", "0.01", "1", "100"]),
    ],
)  # fmt: skip
def test_log_ticks_are_whole_decades_in_plain_numbers(low, high, ticks):
    values, text = log_axis_ticks(np.array([[low, 0.0, np.nan], [high, -1.0, high / 2]]))
    assert text == ticks
    np.testing.assert_allclose(np.log10(values), np.round(np.log10(values)))
    assert log_axis_ticks(np.zeros(3)) == ([], [])


@pytest.mark.parametrize("n_extra_eeg", [0, 18])
def test_psd_axes_read_in_microvolts_and_the_legend_lists_every_channel(n_extra_eeg, leg_muscles):
    """The clinicians read "100µ"/"10n" on the power axis and a 22-entry legend cut short."""
    from rehab_core.io import PAPER_CHANNELS, montage_order

    extra = ["Fp1", "Fp2", "AF3", "AF4", "F7", "Fz", "F8", "T7", "Cz", "T8", "P7", "Pz", "P8",
             "PO3", "PO4", "O1", "Oz", "O2"][:n_extra_eeg]  # fmt: skip
    names = [*extra, *PAPER_CHANNELS]
    types = ["emg" if n.startswith("EMG") else "eeg" for n in names]
    freqs = np.linspace(1.0, 160.0, 160)
    psd = np.vstack([(1e-9 if t == "eeg" else 1e-3) * 1e4 / freqs for t in types])
    fig = psd_figure(freqs, psd, names, types, bad_channels={"C3": "flat"})
    for axis in (fig.layout.yaxis, fig.layout.yaxis2):
        assert axis.type == "log" and axis.title.text == "power (µV²/Hz)"
        assert axis.tickmode == "array" and len(axis.ticktext) >= 3
        # plain numbers or powers of ten, never an SI prefix that reads like a unit
        for text in axis.ticktext:
            assert (
                text.replace("10<sup>", "")
                .replace("</sup>", "")
                .lstrip("-")
                .replace(".", "")
                .isdigit()
            ), text
    assert "µ" not in "".join(fig.layout.yaxis.ticktext)
    # every channel in the legend, in montage order, a paper muscle by its name
    labels = [t.name for t in fig.data]
    order = montage_order(names, types)
    assert labels[: len(order) - 6] == [n + (" (bad)" if n == "C3" else "") for n in order[:-6]]
    assert labels[-6:] == leg_muscles
    assert all(t.showlegend is not False for t in fig.data)
    # the plot area is tall enough for the whole legend: 19 px an entry (12-px text) and a
    # title and gap per group (plotly's legend layout), so nothing is cut off
    plot_area = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    assert plot_area >= 19 * len(names) + 30 * 2


def test_psd_figure_refuses_mismatched_frequencies():
    with pytest.raises(ValueError, match="freqs has 3 values but psd has 4 frequencies"):
        psd_figure(np.arange(3.0), np.ones((1, 4)), ["C3"])


# --- coherence ----------------------------------------------------------------------------------


def test_coherence_is_high_where_eeg_and_emg_share_a_beta_rhythm():
    rng = np.random.default_rng(3)
    sfreq = 250.0
    n = int(60 * sfreq)
    t = np.arange(n) / sfreq
    drive = np.sin(2 * np.pi * 20.0 * t + 0.3 * np.cumsum(rng.standard_normal(n)) / 50)
    eeg = np.vstack([drive + rng.standard_normal(n), rng.standard_normal(n)])
    emg = ((1.0 + 0.8 * drive) * rng.standard_normal(n))[None]
    data = np.vstack([eeg, emg])
    mc = motor_coherence(data, sfreq, ["C1", "C2", "EMG_RF"], ["eeg", "eeg", "emg"])
    fig = coherence_figure(mc.freqs, mc.coh, mc.eeg_names, mc.emg_names, n_segments=mc.n_segments)
    heat = np.asarray(fig.data[0].z, dtype=float).T  # the map's rows are the muscles
    beta = (mc.freqs >= 13.0) & (mc.freqs <= 30.0)
    np.testing.assert_allclose(heat, mc.coh[:, :, beta].mean(axis=2))
    c1, c2 = heat[:, 0]
    assert c1 > 2 * c2
    assert mc.coh[0, 0, mc.freqs == 20.0][0] > coherence_confidence_limit(mc.n_segments)


def test_coherence_figure_heatmap_lines_band_and_limit():
    freqs = np.arange(2.0, 46.0)
    coh = np.random.default_rng(0).uniform(0, 0.2, size=(3, 2, freqs.size))
    fig = coherence_figure(
        freqs,
        coh,
        ["C1", "C3", "FC1"],
        ["EMG_RF", "EMG_VM"],
        n_segments=101,
        bad_channels={"FC1": "flat"},
    )
    assert [tr.type for tr in fig.data] == ["heatmap", "scatter", "scatter"]
    # montage order: EEG sites as columns front to back, left to right; muscles as rows
    assert list(fig.data[0].x) == ["FC1 (bad)", "C3", "C1"]
    assert list(fig.data[0].y) == ["rectus femoris", "vastus medialis"]
    np.testing.assert_allclose(
        np.asarray(fig.data[0].z, dtype=float), coh[[2, 1, 0]][:, :, 11:29].mean(axis=2).T
    )
    np.testing.assert_allclose(fig.data[1].y, coh[:, 0, :].mean(axis=0))
    band = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [(s.x0, s.x1) for s in band] == [(13.0, 30.0)]
    limit = [s for s in fig.layout.shapes if s.type == "line"]
    assert limit[0].y0 == pytest.approx(1 - 0.05 ** (1 / 100))


def test_coherence_colour_bar_stays_under_its_map_clear_of_the_spectrum():
    """The clinicians read "coherence0.1": the colour bar ran into the spectrum's axis."""
    freqs = np.arange(2.0, 46.0)
    coh = np.random.default_rng(1).uniform(0, 0.3, size=(2, 6, freqs.size))
    from rehab_core.io import PAPER_EMG_CHANNELS

    fig = coherence_figure(freqs, coh, ["C1", "C2"], PAPER_EMG_CHANNELS, n_segments=50)
    bar = fig.data[0].colorbar
    map_x, spectrum_x = fig.layout.xaxis.domain, fig.layout.xaxis2.domain
    assert bar.orientation == "h" and bar.xanchor == "center" and bar.lenmode == "fraction"
    left, right = bar.x - bar.len / 2, bar.x + bar.len / 2
    assert map_x[0] - 1e-9 <= left and right <= map_x[1] + 1e-9 < spectrum_x[0]
    assert bar.y < 0 and bar.yanchor == "top"  # under the map's tick labels
    assert fig.layout.margin.b >= 100  # and inside the figure
    # the limit is named in the legend, not written over the curves
    (limit,) = [s for s in fig.layout.shapes if s.type == "line"]
    assert limit.showlegend and limit.name.startswith("95 % limit of independent signals")
    assert not (limit.label and limit.label.text)
    assert fig.layout.yaxis2.range[1] > limit.y0  # and drawn inside the panel


def test_coherence_figure_refuses_a_band_outside_the_frequencies():
    with pytest.raises(ValueError, match="The band 13-30 Hz holds none of the frequencies"):
        coherence_figure(np.arange(40.0, 45.0), np.zeros((1, 1, 5)), ["C3"], ["EMG_RF"])


# --- QC table -----------------------------------------------------------------------------------


def test_signal_qc_table_lists_bad_channels_rejections_and_band(signal_result):
    table = signal_qc_table(signal_result)
    summary = {row["item"]: row["value"] for row in table["summary"]}
    assert summary["effective band"] == "0.5-100 Hz"
    assert summary["windows used"] == "2 of 3 (10 s each)"
    assert summary["bad channels"] == "FC2"
    assert summary["unused tail"] == "5.0 s"
    assert table["bad_channels"] == [
        {
            "channel": "FC2",
            "type": "EEG",
            "reason": signal_result.qc["bad_channels"]["FC2"],
            "action": signal_result.qc["bad_channel_actions"]["FC2"],
        }
    ]
    assert [(r["window"], r["start_s"], r["end_s"]) for r in table["rejected_windows"]] == [
        (1, 10.0, 20.0)
    ]


def test_signal_qc_table_when_all_is_clean(clean_result):
    table = signal_qc_table(clean_result)
    assert table["bad_channels"] == [] and table["rejected_windows"] == []
    summary = {row["item"]: row["value"] for row in table["summary"]}
    assert summary["bad channels"] == "none" and summary["windows rejected"] == "0"


def test_signal_qc_table_names_a_bad_emg_channel_by_its_muscle(signal_result):
    from dataclasses import replace

    qc = dict(signal_result.qc)
    qc["bad_channels"] = {"EMG_BFL": "flat"}
    qc["bad_channel_actions"] = {"EMG_BFL": "set to zero"}
    table = signal_qc_table(replace(signal_result, qc=qc))
    summary = {row["item"]: row["value"] for row in table["summary"]}
    assert summary["bad channels"] == "biceps femoris (long head)"
    assert table["bad_channels"][0]["channel"] == "biceps femoris (long head)"
