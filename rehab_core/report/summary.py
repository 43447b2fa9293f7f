"""A prediction and its inputs as short labelled lines (shared by the PDF and the dashboard).

Every function takes the plain dicts that are stored: ``Prediction.to_dict()``
(NaN may have become ``None`` in the database) and an upload's fields.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rehab_core._format import unsigned_zero
from rehab_core.io.channels import channel_label
from rehab_core.report.outcome import prediction_call

__all__ = [
    "call_text",
    "format_number",
    "input_lines",
    "patient_lines",
    "prediction_lines",
    "preprocessing_qc",
    "preprocessing_qc_lines",
    "probability_text",
    "short_sha",
    "upload_heading",
]


def format_number(value: Any, fmt: str = ".2f", missing: str = "n/a") -> str:
    """``value`` formatted, or ``missing`` for ``None`` and NaN.

    A value that rounds to zero is never shown as ``-0.000`` (the decision-curve
    table had them beside real negatives).
    """
    if value is None:
        return missing
    value = float(value)
    if math.isnan(value):
        return missing
    return unsigned_zero(format(value, fmt))


def short_sha(sha256: str | None, n: int = 12) -> str:
    """The first ``n`` hex digits of a SHA-256 (enough to tell files apart by eye)."""
    return (sha256 or "")[:n] or "n/a"


def probability_text(prediction: Mapping[str, Any]) -> str:
    """``"0.63 (model spread 0.55–0.70)"``: the probability of a good outcome with its interval."""
    low, high = (prediction.get("interval") or (None, None))[:2]
    p = format_number(prediction.get("probability_good"))
    if low is None or high is None:
        return p
    return f"{p} (model spread {format_number(low)}–{format_number(high)})"


def call_text(prediction: Mapping[str, Any]) -> str:
    """The call in one line: GOOD, POOR, or BORDERLINE with why (:func:`prediction_call`)."""
    threshold = format_number(prediction.get("threshold"))
    call = prediction_call(prediction)
    if call.borderline:
        return "BORDERLINE, not a firm good or poor call: " + "; ".join(call.reasons)
    if call.call == "good":
        return f"GOOD recovery expected (probability ≥ threshold {threshold})"
    return f"POOR recovery expected (probability < threshold {threshold})"


def _fma(prediction: Mapping[str, Any]) -> str:
    fma = prediction.get("fma_3m")
    if fma is None or (isinstance(fma, float) and math.isnan(fma)):
        return "not estimated (the baseline FMA-LE is missing)"
    low, high = (prediction.get("fma_interval") or (None, None))[:2]
    text = f"{format_number(fma, '.1f')} of 34"
    if low is not None and high is not None:
        text += f" (95 % interval {format_number(low, '.0f')}–{format_number(high, '.0f')})"
    return text


def prediction_lines(prediction: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Labelled lines of a prediction, in reading order.

    Returns
    -------
    list of (label, text)
        Probability of a good outcome with its interval, the call at the
        threshold, each modality's score, the fusion weight, the predicted
        3-month FMA-LE with its interval, then the prediction's notes
        (e.g. the image-only note) labelled ``"Note"``.
    """
    image_only = prediction.get("modality") == "image"
    weight = prediction.get("fusion_weight")
    if image_only:
        fusion = "not used: fMRI model alone (no usable EEG-EMG)"
    else:
        rest = None if weight is None else 1.0 - float(weight)
        fusion = (
            f"{format_number(weight)} on EEG-EMG, {format_number(rest)} on fMRI "
            f"(p = w · EEG-EMG + (1 − w) · fMRI)"
        )
    lines = [
        ("P(good outcome)", probability_text(prediction)),
        ("Call", call_text(prediction)),
        (
            "EEG-EMG score",
            "not used (fMRI-only prediction)"
            if image_only
            else format_number(prediction.get("signal_score"), missing="n/a (no windows)"),
        ),
        ("fMRI score", format_number(prediction.get("image_score"))),
        ("Fusion weight", fusion),
        ("FMA-LE at 3 months", _fma(prediction)),
    ]
    n_windows = len(prediction.get("window_probabilities") or [])
    n_slices = len(prediction.get("slice_probabilities") or [])
    windows = "" if image_only else f"{n_windows} EEG-EMG windows of 10 s, "
    lines.append(("Scored", f"{windows}{n_slices} fMRI slices"))
    lines += [("Note", str(note)) for note in prediction.get("notes") or []]
    return lines


def patient_lines(patient: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Pseudonym, age, sex, affected side, days since stroke and baseline FMA-LE."""

    def field(key: str, suffix: str = "") -> str:
        value = patient.get(key)
        return "not recorded" if value in (None, "") else f"{value}{suffix}"

    return [
        ("Pseudonym", field("pseudonym")),
        ("Age", field("age", " years")),
        ("Sex", field("sex")),
        ("Affected side", field("affected_side")),
        ("Days since stroke", field("days_since_stroke")),
        ("Baseline FMA-LE", field("fma_le_baseline", " of 34")),
    ]


def _qc_text(kind: str, qc: Mapping[str, Any]) -> str:
    if kind == "signals":
        by_type = qc.get("n_channels_by_type") or {}
        types = ", ".join(f"{n} {t.upper()}" for t, n in by_type.items())
        text = (
            f"{qc.get('n_channels', '?')} channels ({types}), "
            f"{format_number(qc.get('sfreq'), 'g')} Hz, "
            f"{format_number(qc.get('duration_s'), '.1f')} s"
        )
        missing = qc.get("missing_paper_channels") or []
        if missing:
            text += f"; missing paper channels: {', '.join(map(channel_label, missing))}"
        return text
    if kind == "fmri":
        shape = " × ".join(str(n) for n in qc.get("shape") or [])
        voxel = " × ".join(format_number(v, "g") for v in qc.get("voxel_size_mm") or [])
        return f"{shape} voxels of {voxel} mm, TR {format_number(qc.get('tr_s'), 'g')} s"
    return ", ".join(f"{k} {v}" for k, v in qc.items() if k != "warnings")


def upload_heading(upload: Mapping[str, Any]) -> tuple[str, str, str]:
    """``(modality, file name, short SHA-256)`` of an upload, e.g. ``("fMRI", "x.nii.gz", ...)``."""
    kind = str(upload.get("kind", ""))
    title = {"signals": "EEG-EMG", "fmri": "fMRI"}.get(kind, kind)
    return title, str(upload.get("original_name", "?")), short_sha(upload.get("sha256"))


def input_lines(upload: Mapping[str, Any]) -> list[str]:
    """An upload as a heading line (kind, name, short SHA-256) and its QC lines.

    ``upload`` has ``kind`` ("signals" or "fmri"), ``original_name``,
    ``sha256`` and ``qc`` (the reader's summary, with ``warnings``).
    """
    title, name, sha = upload_heading(upload)
    qc = upload.get("qc") or {}
    lines = [f"{title}: {name}  (SHA-256 {sha})", "QC: " + _qc_text(str(upload.get("kind")), qc)]
    lines += [f"Reader warning: {w}" for w in qc.get("warnings") or []]
    return lines


def preprocessing_qc(signals: Any = None, fmri: Any = None) -> dict[str, Any]:
    """The quality figures of the preprocessing that fed a prediction, JSON-ready.

    Parameters
    ----------
    signals : SignalResult or None
        :func:`rehab_core.signals.preprocess_raw` output (its ``qc``).
    fmri : ImagingResult or None
        :func:`rehab_core.imaging.preprocess_fmri` output (its ``qc`` and
        ``screened_out``).

    Returns
    -------
    dict
        ``signals``: windows in total and rejected, bad channels with what was
        done to them; ``fmri``: slices kept and screened out, mean and max
        framewise displacement, high-motion frames, median tSNR and QC flags.
        A modality that was not given is left out.
    """
    out: dict[str, Any] = {}
    if signals is not None:
        qc = signals.qc
        actions = qc.get("bad_channel_actions") or {}
        out["signals"] = {
            "n_windows_total": int(qc.get("n_windows_total", 0)),
            "n_rejected": int(qc.get("n_rejected", 0)),
            "bad_channels": {
                name: f"{str(reason).split(':')[0]}, {actions.get(name, 'flagged')}"
                for name, reason in (qc.get("bad_channels") or {}).items()
            },
        }
    if fmri is not None:
        qc = fmri.qc
        out["fmri"] = {
            "n_slices_kept": int(qc.get("n_slices_kept", 0)),
            "n_screened_out": len(getattr(fmri, "screened_out", {}) or {}),
            "mean_fd_mm": qc.get("mean_fd_mm"),
            "max_fd_mm": qc.get("max_fd_mm"),
            "n_high_motion_frames": qc.get("n_high_motion_frames"),
            "median_tsnr": qc.get("median_tsnr"),
            "flags": list(qc.get("flags") or []),
        }
    return out


def preprocessing_qc_lines(qc: Mapping[str, Any] | None) -> list[str]:
    """:func:`preprocessing_qc` as sentences, EEG-EMG first."""
    lines = []
    signals = (qc or {}).get("signals")
    if signals:
        kept = signals["n_windows_total"] - signals["n_rejected"]
        text = f"EEG-EMG: {kept} of {signals['n_windows_total']} windows of 10 s kept"
        bad = signals.get("bad_channels") or {}
        text += (
            "; bad channels: "
            + ", ".join(f"{channel_label(n)} ({what})" for n, what in bad.items())
            if bad
            else "; no bad channel"
        )
        lines.append(text)
    fmri = (qc or {}).get("fmri")
    if fmri:
        text = (
            f"fMRI: {fmri['n_slices_kept']} slices kept, {fmri['n_screened_out']} screened out; "
            f"head movement {format_number(fmri.get('mean_fd_mm'))} mm between volumes "
            f"on average (max {format_number(fmri.get('max_fd_mm'))}), "
            f"{_count(fmri.get('n_high_motion_frames'), 'volume')} with much movement; "
            f"signal steadiness (median tSNR) {format_number(fmri.get('median_tsnr'), '.0f')}"
        )
        if fmri.get("flags"):
            text += "; flags: " + "; ".join(str(f) for f in fmri["flags"])
        lines.append(text)
    return lines


def _count(n: Any, noun: str) -> str:
    """``"1 volume"``, ``"3 volumes"``; ``"n/a volumes"`` when the count is missing."""
    if n is None:
        return f"n/a {noun}s"
    return f"{n} {noun}{'' if n == 1 else 's'}"
