"""One patient, end to end: read the files, run the paper's preprocessing, report.

This is the single place where readers and preprocessing meet, so that the
CLI, the dashboard and the benchmarks prepare a patient identically.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "PreparedPatient",
    "prepare_patient",
    "preprocess_patient",
    "format_preprocess_report",
    "sha256_file",
    "SignalView",
    "view_signals",
    "CohortArrays",
    "prepare_cohort",
]


def sha256_file(path: str | Path, *, chunk_size: int = 1 << 20) -> str:
    """Return the SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class PreparedPatient:
    """The preprocessed inputs of one patient, with their provenance.

    Attributes
    ----------
    signals, fmri : SignalResult | ImagingResult | None
        Outputs of :func:`rehab_core.signals.preprocess_raw` and
        :func:`rehab_core.imaging.preprocess_fmri`; ``None`` for a missing modality.
    inputs : dict
        File path → SHA-256 of every file read.
    """

    signals: Any = None
    fmri: Any = None
    inputs: dict[str, str] = field(default_factory=dict)
    raw: Any = None
    img: Any = None


def prepare_patient(
    signals: str | Path | None = None,
    fmri: str | Path | None = None,
    *,
    signal_settings: Any = None,
    imaging_settings: Any = None,
    paper_channels: bool = False,
    signals_name: str | None = None,
    channel_map: dict[str, str] | None = None,
) -> PreparedPatient:
    """Read and preprocess one patient's recordings.

    Parameters
    ----------
    signals, fmri : path | None
        The EEG-EMG recording and the resting-state fMRI; at least one.
    signal_settings, imaging_settings : Settings | None
        Preprocessing settings; the package defaults when ``None``.
    paper_channels : bool
        Pick the paper's 22 channels in model order first (needed for the
        LSTM); a recording that lacks them is refused with a plain message.
    signals_name : str or None
        How that message names the EEG-EMG recording: the file as the user
        uploaded it, when ``signals`` is a stored copy; ``None``: its file name.
    channel_map : dict or None
        The user's channel map of the EEG-EMG recording (its name -> the
        model's, :func:`rehab_core.io.apply_channel_map`), applied on reading.
    """
    if signals is None and fmri is None:
        raise ValueError("Give at least one recording: an EEG-EMG file, an fMRI file or both.")
    out = PreparedPatient()
    if signals is not None:
        from rehab_core.io import map_raw_channels, pick_paper_channels, read_signals
        from rehab_core.signals import SignalSettings, preprocess_raw

        raw = map_raw_channels(read_signals(signals), channel_map or {})
        if paper_channels:
            raw = pick_paper_channels(raw, name=signals_name)
        out.raw = raw
        out.signals = preprocess_raw(raw, signal_settings or SignalSettings())
        out.inputs[str(signals)] = sha256_file(signals)
    if fmri is not None:
        from rehab_core.imaging import ImagingSettings, preprocess_fmri
        from rehab_core.io import read_fmri

        img = read_fmri(fmri)
        out.img = img
        out.fmri = preprocess_fmri(img, imaging_settings or ImagingSettings())
        out.inputs[str(fmri)] = sha256_file(fmri)
    return out


def preprocess_patient(
    signals: str | Path | None = None,
    fmri: str | Path | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Preprocess one patient and return a JSON-ready report of shapes, QC and settings."""
    prepared = prepare_patient(signals, fmri, **kwargs)
    report: dict[str, Any] = {"inputs": prepared.inputs}
    if prepared.signals is not None:
        res, raw = prepared.signals, prepared.raw
        report["signals"] = {
            "file": str(signals),
            "n_chans": len(raw.ch_names),
            "sfreq_in": float(raw.info["sfreq"]),
            "duration_s": round(raw.n_times / raw.info["sfreq"], 3),
            "windows_shape": list(res.windows.shape),
            **res.to_dict(),
        }
    if prepared.fmri is not None:
        res, img = prepared.fmri, prepared.img
        report["fmri"] = {
            "file": str(fmri),
            "shape_in": list(img.shape),
            "zooms_in": [round(float(z), 4) for z in img.header.get_zooms()],
            "slices_shape": list(res.slices.shape),
            **res.to_dict(),
        }
    return report


def format_preprocess_report(report: dict[str, Any]) -> str:
    """Human-readable summary of :func:`preprocess_patient` output."""
    lines: list[str] = []
    sig = report.get("signals")
    if sig is not None:
        qc = sig.get("qc", {})
        bad = qc.get("bad_channels") or {}
        lines += [
            f"EEG-EMG  {sig['file']}",
            f"  {sig['n_chans']} channels, {sig['sfreq_in']:g} Hz, {sig['duration_s']:.1f} s",
            f"  windows {tuple(sig['windows_shape'])} (n_windows, n_chans, n_times)"
            f" at {sig.get('sfreq', '?')} Hz",
            f"  rejected windows: {qc.get('n_rejected', '?')} of {sig.get('n_windows_total', '?')}",
            f"  bad channels: {', '.join(bad) if bad else 'none'}",
        ]
    img = report.get("fmri")
    if img is not None:
        qc = img.get("qc", {})
        lines += [
            f"fMRI     {img['file']}",
            f"  input {tuple(img['shape_in'])}, voxel/TR {tuple(img['zooms_in'])}",
            f"  slices {tuple(img['slices_shape'])} (n_slices, channels, height, width)",
            f"  screened out: {len(img.get('screened_out', {}))} slices",
            _registration_line(qc.get("registration")),
            "  QC: "
            + ", ".join(
                f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in qc.items()
                if not isinstance(v, (list, dict))
            ),
        ]
    return "\n".join(lines)


def _registration_line(registration: dict[str, Any] | None) -> str:
    """One line on the spatial normalisation for the text report."""
    if registration is None:
        return "  space: scanner (not normalised to a template)"
    if registration["already_in_template_space"]:
        how = "already in template space, not registered again"
    else:
        scales = "-".join(
            f"{s:.2f}" for s in (min(registration["scales"]), max(registration["scales"]))
        )
        how = f"scaled {scales}, rotated {registration['rotation_deg']:.1f} deg"
    verdict = (
        "passed" if registration["passed"] else "FAILED: " + "; ".join(registration["failures"])
    )
    return (
        f"  registration to {registration['template']}: similarity (NMI) "
        f"{registration['similarity_nmi']:.3f}, brain overlap "
        f"{registration['brain_overlap_dice']:.0%}, {how}; {verdict}"
    )


@dataclass(frozen=True)
class SignalView:
    """One EEG-EMG recording as a viewer shows it: continuous data beside the model's windows.

    ``raw`` and ``filtered`` are read-only float32 ``(n_chans, n_times)`` in µV
    at ``sfreq`` (the recording's rate), picked like the preprocessing;
    ``filtered`` is the preprocessing's band-pass and notch; ``result`` is the
    :class:`~rehab_core.signals.SignalResult` the model reads. A recording the
    model can use holds its 22 channels; any other readable one holds all its
    channels in montage order, and ``model_channels`` says what the model lacks.
    """

    raw: np.ndarray
    filtered: np.ndarray
    sfreq: float
    ch_names: tuple[str, ...]
    ch_types: tuple[str, ...]
    result: Any
    model_channels: Any = None

    @property
    def duration_s(self) -> float:
        return self.raw.shape[1] / self.sfreq


def view_signals(
    path: str | Path, settings: Any = None, channel_map: dict[str, str] | None = None
) -> SignalView:
    """Read and preprocess one EEG-EMG file, keeping the continuous raw and filtered data.

    Any readable recording is viewable: the model's 22 channels when it has them,
    otherwise every channel in montage order (EEG, then EMG, then the rest).
    ``channel_map``: the user's channel map, applied on reading (:func:`prepare_patient`).
    """
    from rehab_core.io import check_model_channels, map_raw_channels, montage_order, read_signals
    from rehab_core.signals import SignalSettings, filter_signals, preprocess_raw, recording_arrays

    settings = settings or SignalSettings()
    raw = map_raw_channels(read_signals(path), channel_map or {})
    check = check_model_channels(raw.ch_names, raw.get_channel_types())
    if check.usable:
        prepared = prepare_patient(
            path, None, signal_settings=settings, paper_channels=True, channel_map=channel_map
        )
        raw = prepared.raw
        result = prepared.signals
    else:
        raw.reorder_channels(montage_order(raw.ch_names, raw.get_channel_types()))
        result = preprocess_raw(raw, settings)
    data, sfreq, names, types = recording_arrays(raw)
    filtered = filter_signals(data, sfreq, settings).astype(np.float32)
    data = data.astype(np.float32)
    for array in (data, filtered):
        array.setflags(write=False)
    return SignalView(data, filtered, sfreq, tuple(names), tuple(types), result, check)


@dataclass
class CohortArrays:
    """Model inputs of a whole cohort, stacked per modality.

    Attributes
    ----------
    windows : ndarray, shape (n_windows, n_chans, n_times), float32
        Every kept EEG-EMG window of every patient with signals.
    window_patients : ndarray of str, shape (n_windows,)
    slices : ndarray, shape (n_slices, 3, 224, 224), float32
    slice_patients : ndarray of str, shape (n_slices,)
    inputs : dict
        Participant id → {file path: SHA-256}.
    failures : dict
        Participant id → {modality: the plain reason the file was refused}.
    signal_sfreq : float | None
        Output rate of the windows (Hz).
    """

    windows: Any
    window_patients: Any
    slices: Any
    slice_patients: Any
    inputs: dict[str, dict[str, str]]
    failures: dict[str, dict[str, str]]
    signal_sfreq: float | None


def _prepare_one(task: tuple) -> tuple:
    """Worker: preprocess one cohort patient; refused files become a reason, not an exception."""
    from rehab_core.io import InputError

    pid, signals, fmri, signal_settings, imaging_settings = task
    out: dict[str, Any] = {"windows": None, "slices": None, "sfreq": None}
    failures: dict[str, str] = {}
    inputs: dict[str, str] = {}
    if signals is not None:
        try:
            prep = prepare_patient(
                signals, None, signal_settings=signal_settings, paper_channels=True
            )
            out["windows"] = np.asarray(prep.signals.windows, dtype=np.float32)
            out["sfreq"] = float(prep.signals.sfreq)
            inputs.update(prep.inputs)
        except InputError as err:
            failures["signals"] = str(err)
    if fmri is not None:
        try:
            prep = prepare_patient(None, fmri, imaging_settings=imaging_settings)
            out["slices"] = np.asarray(prep.fmri.slices, dtype=np.float32)
            inputs.update(prep.inputs)
        except InputError as err:
            failures["fmri"] = str(err)
    return pid, out, inputs, failures


def prepare_cohort(
    cohort: Any,
    *,
    signal_settings: Any = None,
    imaging_settings: Any = None,
    n_jobs: int = 1,
    progress: Any = None,
) -> CohortArrays:
    """Preprocess every patient of a :class:`~rehab_core.io.cohort.Cohort`.

    A file that a reader refuses does not stop the run: the patient loses
    that modality and the reason is kept in ``failures`` (the researcher
    sees it in the summary and the manifest).  Patients are processed in
    ``n_jobs`` worker processes; the result does not depend on ``n_jobs``.
    """
    tasks = [
        (p.participant_id, p.signals_path, p.fmri_path, signal_settings, imaging_settings)
        for p in cohort.patients
    ]
    results: list[tuple] = []
    if n_jobs > 1:
        import concurrent.futures as cf
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx) as pool:
            for i, res in enumerate(pool.map(_prepare_one, tasks)):
                results.append(res)
                if progress is not None:
                    progress(i + 1, len(tasks))
    else:
        for i, task in enumerate(tasks):
            results.append(_prepare_one(task))
            if progress is not None:
                progress(i + 1, len(tasks))
    windows, wpat, slices, spat = [], [], [], []
    inputs, failures = {}, {}
    sfreq = None
    for pid, out, ins, fails in results:
        inputs[pid] = ins
        if fails:
            failures[pid] = fails
        if out["windows"] is not None and len(out["windows"]):
            windows.append(out["windows"])
            wpat += [pid] * len(out["windows"])
            sfreq = out["sfreq"]
        if out["slices"] is not None and len(out["slices"]):
            slices.append(out["slices"])
            spat += [pid] * len(out["slices"])
    return CohortArrays(
        windows=np.concatenate(windows) if windows else None,
        window_patients=np.asarray(wpat, dtype=str),
        slices=np.concatenate(slices) if slices else None,
        slice_patients=np.asarray(spat, dtype=str),
        inputs=inputs,
        failures=failures,
        signal_sfreq=sfreq,
    )
