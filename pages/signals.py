"""Signals page: the selected patient's EEG-EMG and fMRI as the model sees them, with QC.

Everything is preprocessed with the default model's own settings, so what the
clinician reviews here (filtered traces, rejected windows, screened slices)
is exactly what the model was given. Figures come from ``rehab_core.viz``.
"""

from __future__ import annotations

import json

import numpy as np
import streamlit as st

from pages._shared import (
    PATIENTS_PAGE,
    fragment_session,
    get_store,
    link_if_page,
    load_predictor,
    plain,
    require_patient,
    require_role,
)
from rehab_core.imaging import ImagingSettings
from rehab_core.io import montage_order
from rehab_core.models import DEFAULT_MODEL_ID
from rehab_core.pipeline import SignalView, view_signals
from rehab_core.report import plain_model_name
from rehab_core.signals import (
    SignalSettings,
    SignalSpectra,
    rejected_intervals,
    signal_spectra,
    unused_tail,
)
from rehab_core.storage import WeightsError, check_stored_file
from rehab_core.viz import (
    coherence_figure,
    fmri_map_figure,
    fmri_qc_table,
    motion_figure,
    psd_figure,
    registration_figure,
    screened_slices,
    signal_qc_table,
    signal_traces_figure,
    tsnr_figure,
    view_slice,
)

MODEL_ID = DEFAULT_MODEL_ID
#: Chart width the traces are decimated for (min and max per pixel column).
N_PIXELS = 1200
SPANS = {"10 s": 10.0, "30 s": 30.0, "60 s": 60.0, "whole": None}
MAPS = {"mean": "mean BOLD", "alff": "ALFF", "reho": "ReHo", "tsnr": "tSNR"}
# one plain line beside each fMRI map and QC figure (what it shows, why it matters)
MAP_EXPLANATIONS = {
    "mean": "Mean BOLD: the average brightness of the scan over time, i.e. the brain's anatomy "
    "as this scanner sees it.",
    "alff": "ALFF: how strongly each point's signal rises and falls slowly at rest; higher means "
    "more spontaneous activity.",
    "reho": "ReHo: how much each point's signal moves in step with its neighbours (0 to 1); "
    "higher means more local synchrony.",
    "tsnr": "tSNR: how steady each point's signal is over time (mean divided by its "
    "fluctuation); low values mean noisy data.",
}
MOTION_EXPLANATION = (
    "How much the head moved during the scan; frames above the dashed line moved too much "
    "and are less trustworthy."
)
TSNR_EXPLANATION = (
    "How clean each axial slice's signal is, and how much brain it holds; slices too noisy or "
    "with too little brain are left out of the prediction."
)
QC_EXPLANATION = "Summary checks of the scan; a flagged row means its figure needs a second look."
PSD_FMAX_HZ = 160.0
# headings of the QC tables in words (signal_qc_table's keys are for code); windows count from 1
_QC_COLUMNS = {
    "item": "Check",
    "value": "Result",
    "channel": "Channel",
    "type": "Type",
    "reason": st.column_config.TextColumn("Reason", width="large"),
    "action": "What was done",
    "window": "Window",
    "start_s": st.column_config.NumberColumn("Start (s)", format="%.1f"),
    "end_s": st.column_config.NumberColumn("End (s)", format="%.1f"),
}


# --- cached computations (keyed by the upload's SHA-256 and the settings) ------------------------


@st.cache_resource(max_entries=2, show_spinner=False)
def _recording(sha256: str, path: str, settings_json: str, map_json: str) -> SignalView:
    """Read, preprocess and filter one EEG-EMG upload, once per file, settings and channel map.

    A resource, not cache_data: the two continuous arrays of a 9-min recording
    are ~100 MB that cache_data would unpickle (~0.3 s) on every slider move.
    They are read-only and shared, never modified.
    """
    check_stored_file(path, sha256)  # the stored file still is what was uploaded
    return view_signals(path, SignalSettings.from_json(settings_json), json.loads(map_json))


@st.cache_data(max_entries=64, show_spinner=False)
def _trace_view(
    sha256: str,
    path: str,
    settings_json: str,
    map_json: str,
    which: str,
    t0: float,
    t1: float,
    picks: tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray]:
    """Min-max decimated samples of one view (small: about 2 points a pixel a channel)."""
    rec = _recording(sha256, path, settings_json, map_json)
    return view_slice(getattr(rec, which), rec.sfreq, t0, t1, N_PIXELS, picks=list(picks))


@st.cache_data(max_entries=8, show_spinner=False)
def _spectra(sha256: str, path: str, settings_json: str, map_json: str) -> SignalSpectra:
    """Welch spectra and motor-cortex coherence of the filtered windows the model used."""
    rec = _recording(sha256, path, settings_json, map_json)
    return signal_spectra(
        rec.filtered, rec.sfreq, rec.result, rec.ch_names, rec.ch_types, fmax=PSD_FMAX_HZ
    )


@st.cache_data(max_entries=8, show_spinner=False)
def _imaging(sha256: str, path: str, settings_json: str):
    """Preprocess one fMRI upload; the 224x224 model slices are dropped (not shown here)."""
    from dataclasses import replace

    from rehab_core.pipeline import prepare_patient

    settings = ImagingSettings.from_json(settings_json)
    check_stored_file(path, sha256)
    result = prepare_patient(None, path, imaging_settings=settings).fmri
    return replace(result, slices=np.empty((0, *result.slices.shape[1:]), np.float32))


# --- page -----------------------------------------------------------------------------------------


def _settings() -> tuple[SignalSettings, ImagingSettings, str]:
    """The default model's preprocessing settings, and a caption saying where they come from."""
    try:
        predictor = load_predictor(MODEL_ID)
    except WeightsError as err:
        st.warning(
            f"The {plain_model_name(MODEL_ID)} model could not be loaded; the recordings are "
            "shown with the package's default preprocessing, which may differ from the model's."
        )
        with st.expander("Technical details", icon=":material/build:"):
            st.text(f"Model id {MODEL_ID}: {err}")
        return SignalSettings(), ImagingSettings(), "package default settings"
    return (
        predictor.signal_settings(),
        predictor.imaging_settings(),
        f"the settings of the model **{plain_model_name(predictor.model_id)}**",
    )


def _no_upload(kind: str) -> None:
    st.info(f"No {kind} recording is stored for this patient yet; add one on the Patients page.")
    link_if_page(PATIENTS_PAGE, "Patients", icon=":material/group:")


@st.fragment
def _trace_viewer(upload, rec, key: tuple) -> None:
    """The scrolling trace chart: a fragment, so moving through the recording reruns only it."""
    fragment_session("clinician")  # reruns alone: expiry, deactivation and role first
    result = rec.result
    c_span, c_start, c_mode = st.columns([1, 3, 1.4])
    span_label = c_span.selectbox("Span", list(SPANS), key=f"sig_span_{upload.id}")
    span = SPANS[span_label] or rec.duration_s
    max_start = max(0.0, float(np.floor(rec.duration_s - span)))
    if max_start > 0:
        start_key = f"sig_start_{upload.id}"
        if st.session_state.get(start_key, 0.0) > max_start:  # a longer span was chosen
            st.session_state[start_key] = max_start
        t0 = c_start.slider("Start (s)", 0.0, max_start, step=1.0, key=start_key)
    else:
        t0 = 0.0
        c_start.caption("The whole recording is in view.")
    which = c_mode.radio(
        "Data",
        ["filtered", "raw"],
        format_func={"filtered": "filtered (model input)", "raw": "raw"}.get,
        horizontal=True,
        key=f"sig_mode_{upload.id}",
    )
    # the picker lists the channels in the montage order the traces are drawn in
    kind = dict(zip(rec.ch_names, rec.ch_types, strict=True))
    ordered = montage_order(rec.ch_names, rec.ch_types)
    groups = {
        "All": ordered,
        "EEG": [n for n in ordered if kind[n] == "eeg"],
        "EMG": [n for n in ordered if kind[n] == "emg"],
    }
    c_group, c_names = st.columns([1, 4])
    group = c_group.radio(
        "Channel group",
        [g for g, members in groups.items() if members],
        horizontal=True,
        key=f"sig_group_{upload.id}",
    )
    names = c_names.multiselect(
        "Channels",
        groups[group],
        default=groups[group],
        key=f"sig_channels_{upload.id}_{group}",
    )
    if not names:
        st.info("Choose at least one channel to show.")
    else:
        picks = tuple(rec.ch_names.index(n) for n in names)
        times, values = _trace_view(*key, which, t0, t0 + span, picks)
        bad = {n: r for n, r in result.qc["bad_channels"].items() if n in names}
        fig = signal_traces_figure(
            times,
            values,
            names,
            [rec.ch_types[i] for i in picks],
            bad_channels=bad,
            rejected=rejected_intervals(result),
            unused=unused_tail(result),
            view=(t0, t0 + span),
            title=f"{which.capitalize()} EEG-EMG, {t0:g}-{t0 + span:g} s",
        )
        st.plotly_chart(fig, key=f"sig_traces_{upload.id}")
        st.caption(
            "Red bands: windows the preprocessing rejected (reason on the band); grey: the end "
            "shorter than a window. Dashed red traces marked 'bad': bad channels (the QC table "
            "below says what was done with each for the model). "
            "Traces are reduced to the lowest and highest value per pixel, so peaks are kept; "
            "choose a shorter span to see single samples."
        )


def _signals_tab(patient_id: int, settings: SignalSettings, source: str) -> None:
    upload = get_store().latest_upload(patient_id, "signals")
    if upload is None:
        _no_upload("EEG-EMG")
        return
    channel_map = json.dumps(upload.channel_map, sort_keys=True)  # the user's, if any
    key = (upload.sha256, str(upload.path), settings.to_json(), channel_map)
    try:
        with st.spinner("Reading and preprocessing the EEG-EMG recording (first time only)..."):
            rec = _recording(*key)
    except ValueError as err:  # InputError or a recording the pipeline cannot use: plain words
        st.error(str(err))
        return
    result = rec.result
    if rec.model_channels is not None and not rec.model_channels.usable:
        st.info(rec.model_channels.note(), icon=":material/info:")
    band = result.qc["band_hz"]
    notch = f"{settings.line_freq:g} Hz notch" if result.qc["notch_freqs_hz"] else "no notch"
    st.caption(
        f"{plain(upload.original_name)}: {len(rec.ch_names)} channels, {rec.sfreq:g} Hz, "
        f"{rec.duration_s:.1f} s. Preprocessed with {source} (band-pass {band[0]:g}-{band[1]:g} "
        f"Hz, {notch}, {settings.window_s:g}-s windows)"
        + (": what you see is what the model saw." if rec.model_channels.usable else ".")
    )

    _trace_viewer(upload, rec, key)

    spectra = _spectra(*key)
    qc_rows = signal_qc_table(result)
    if spectra.psd is None:
        st.warning("Every window was rejected, so the model has no EEG-EMG input to show.")
    else:
        st.subheader("Power spectra")
        st.plotly_chart(
            psd_figure(
                spectra.freqs,
                spectra.psd,
                rec.ch_names,
                rec.ch_types,
                bad_channels=result.qc["bad_channels"],
                band=tuple(band),
                notch_freqs=result.qc["notch_freqs_hz"],
            ),
            key=f"sig_psd_{upload.id}",
        )
        st.caption(
            "How strong each frequency is in each channel, over the stretches the model used; "
            "dotted lines: the band the filter keeps, faint lines: the mains frequencies removed."
        )
        st.subheader("EEG-EMG coherence over the motor cortex")
        coh = spectra.coherence
        if coh is None:
            st.info(spectra.coherence_missing)
        else:
            st.plotly_chart(
                coherence_figure(
                    coh.freqs,
                    coh.coh,
                    coh.eeg_names,
                    coh.emg_names,
                    n_segments=coh.n_segments,
                    bad_channels=result.qc["bad_channels"],
                ),
                key=f"sig_coherence_{upload.id}",
            )
            st.caption(
                "How closely each motor-cortex EEG site and each muscle rise and fall together "
                "(0: not at all, 1: in lock-step); brain-muscle coupling is usually seen in the "
                "beta band (shaded). Above the dotted line it is unlikely (5 %) between "
                "unrelated signals."
            )
            with st.expander("Technical details", icon=":material/build:"):
                st.caption(
                    "Spectra: Welch's method, 2-s Hann segments of the filtered data in the "
                    "windows the model used. Coherence: magnitude-squared coherence of each "
                    "motor-cortex EEG site with each rectified EMG channel, 1-s segments; the "
                    "dotted line is its 95 % limit for independent signals."
                )

    st.subheader("Quality control")
    st.dataframe(qc_rows["summary"], hide_index=True, column_config=_QC_COLUMNS)
    if qc_rows["bad_channels"]:
        st.markdown("**Bad channels**")
        st.dataframe(qc_rows["bad_channels"], hide_index=True, column_config=_QC_COLUMNS)
    else:
        st.markdown("**Bad channels:** none.")
    if qc_rows["rejected_windows"]:
        st.markdown("**Rejected windows**")
        windows = [{**r, "window": r["window"] + 1} for r in qc_rows["rejected_windows"]]
        st.dataframe(windows, hide_index=True, column_config=_QC_COLUMNS)
    else:
        st.markdown("**Rejected windows:** none.")


def _fmri_tab(patient_id: int, settings: ImagingSettings, source: str) -> None:
    upload = get_store().latest_upload(patient_id, "fmri")
    if upload is None:
        _no_upload("fMRI")
        return
    try:
        with st.spinner("Preprocessing the fMRI run (first time only)..."):
            result = _imaging(upload.sha256, str(upload.path), settings.to_json())
    except ValueError as err:  # InputError or a run the pipeline cannot use: plain words
        st.error(str(err))
        return
    qc = result.qc
    st.caption(
        f"{plain(upload.original_name)}: preprocessed with {source} "
        f"({qc['voxel_size_mm']:g} mm grid, "
        "slice screening by brain area and tSNR): what you see is what the model saw."
    )
    for flag in qc["flags"]:
        st.warning(f"QC: {flag}.")
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Mean framewise displacement", f"{qc['mean_fd_mm']:.2f} mm")
    m2.metric("High-motion frames", f"{qc['n_high_motion_frames']} of {qc['n_volumes']}")
    m3.metric("Median tSNR", f"{qc['median_tsnr']:.0f}")
    m4.metric("Axial slices kept", f"{qc['n_slices_kept']} of {result.mask.shape[2]}")

    shape = result.mask.shape
    kept = [int(k) for k in result.slice_index]
    c_map, c_x, c_y, c_z = st.columns([1.2, 1, 1, 1])
    name = c_map.selectbox("Map", list(MAPS), format_func=MAPS.get, key=f"fmri_map_{upload.id}")
    x = c_x.slider("x (sagittal)", 0, shape[0] - 1, shape[0] // 2, key=f"fmri_x_{upload.id}")
    y = c_y.slider("y (coronal)", 0, shape[1] - 1, shape[1] // 2, key=f"fmri_y_{upload.id}")
    z_default = kept[len(kept) // 2] if kept else shape[2] // 2
    z = c_z.slider("z (axial)", 0, shape[2] - 1, z_default, key=f"fmri_z_{upload.id}")
    st.plotly_chart(fmri_map_figure(result, name, x, y, z), key=f"fmri_views_{upload.id}")
    st.caption(MAP_EXPLANATIONS[name])
    st.caption(
        "On the coronal and sagittal views, the darkened rows are axial slices screened out "
        "and not given to the model; the bright rows are the slices it read. Patient's left "
        "on the left."
    )
    rows = screened_slices(result.slice_index, result.screened_out, affine=result.affine)
    dropped = [r for r in rows if not r["kept"]]
    st.markdown(
        f"**Screened-out axial slices ({len(dropped)} of {len(rows)}):** "
        + (", ".join(str(r["slice"]) for r in dropped) if dropped else "none")
    )
    with st.expander("Every axial slice and why it was kept or dropped"):
        st.dataframe(rows, hide_index=True)

    st.subheader("Head motion")
    st.plotly_chart(
        motion_figure(
            qc["motion_params"],
            qc["fd_mm"],
            tr_s=qc["tr_s"],
            fd_threshold_mm=result.settings.fd_threshold_mm,
        ),
        key=f"fmri_motion_{upload.id}",
    )
    st.caption(MOTION_EXPLANATION)
    st.subheader("Temporal SNR and slice screening")
    st.plotly_chart(
        tsnr_figure(
            result.maps["tsnr"],
            result.mask,
            result.slice_index,
            result.screened_out,
            min_slice_tsnr_fraction=result.settings.min_slice_tsnr_fraction,
            min_brain_fraction=result.settings.min_brain_fraction,
        ),
        key=f"fmri_tsnr_{upload.id}",
    )
    st.caption(TSNR_EXPLANATION)
    if qc.get("registration") is not None:
        st.subheader("Alignment with the MNI152 template")
        st.plotly_chart(registration_figure(result), key=f"fmri_registration_{upload.id}")
        st.caption(
            "The run's mean image after registration; the cyan line is the edge of the "
            "template's brain. Every patient's slice k is the same height in this template."
        )
    st.subheader("Quality control")
    st.caption(QC_EXPLANATION)
    st.dataframe(fmri_qc_table(result), hide_index=True)


require_role("clinician")
patient = require_patient()
st.title(f"Signals: {plain(patient.pseudonym)}")
signal_settings, imaging_settings, settings_source = _settings()
tab_signals, tab_fmri = st.tabs(["EEG-EMG", "fMRI"])
with tab_signals:
    _signals_tab(patient.id, signal_settings, settings_source)
with tab_fmri:
    _fmri_tab(patient.id, imaging_settings, settings_source)
