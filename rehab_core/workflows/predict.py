"""Predict one patient: ``rehab predict`` prints it, the Prediction page also stores it.

Both call :func:`predict_patient` (prepare, predict, time, QC); the page's
use case, :func:`predict_and_store`, adds the store and the audit trail and
runs torch on one thread (:func:`limit_torch_threads`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rehab_core.pipeline import PreparedPatient
    from rehab_core.prediction import FusionPredictor, Prediction
    from rehab_core.storage import PatientRecord, PredictionRecord, Store, UploadRecord

__all__ = [
    "PatientPrediction",
    "PredictionPlan",
    "limit_torch_threads",
    "load_model",
    "plan_prediction",
    "predict_and_store",
    "predict_patient",
    "prepare_inputs",
    "signals_reason",
]

Preparer = Callable[[], "PreparedPatient"]


def limit_torch_threads() -> None:
    """One torch intra-op thread, unless ``REHAB_TORCH_THREADS`` says otherwise.

    On the 2-core machine shared with other sessions, two OpenMP threads that
    spin-wait for each other made a ShuffleNet pass 5-100 times slower
    whenever another process was busy, while one thread costs little (the
    LSTM's batches are small, and the image models' 90 slice passes
    parallelise poorly anyway). Process-wide: the dashboard's server calls it
    before every prediction and explanation.
    """
    import torch

    wanted = int(os.environ.get("REHAB_TORCH_THREADS", "1"))
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)


def load_model(model_id: str, weights: str | Path | None = None) -> FusionPredictor:
    """Load ``model_id`` from a weights folder (the shipped one by default) or a bundle folder.

    Raises
    ------
    WeightsError
        The bundle is missing, damaged, or holds another model (one sentence
        saying which to choose).
    """
    from rehab_core.prediction import FusionPredictor, default_weights_dir
    from rehab_core.storage import WeightsError

    weights = Path(weights) if weights else default_weights_dir()
    bundle = weights / model_id if (weights / model_id).is_dir() else weights
    predictor = FusionPredictor.load(bundle)
    if predictor.model_id != model_id:
        raise WeightsError(
            f"{bundle} holds the model {predictor.model_id}, not {model_id}; "
            f"choose --model {predictor.model_id} or another weights folder."
        )
    return predictor


def prepare_inputs(
    predictor: FusionPredictor,
    signals: str | Path | None,
    fmri: str | Path | None,
    *,
    signals_name: str | None = None,
    channel_map: dict[str, str] | None = None,
) -> PreparedPatient:
    """Read and preprocess a patient (either file may be None) with the bundle's own settings.

    The bundle fixes the preprocessing (its manifest records it); the
    EEG-EMG is reduced to the paper's 22 channels in model order.
    ``signals_name`` names the EEG-EMG in errors when ``signals`` is a stored
    copy (the upload's ``original_name``); ``None``: the file's own name.
    ``channel_map``: the user's map of the EEG-EMG's channels, applied on reading.
    """
    from rehab_core.pipeline import prepare_patient

    return prepare_patient(
        signals,
        fmri,
        signal_settings=predictor.signal_settings(),
        imaging_settings=predictor.imaging_settings(),
        paper_channels=True,
        signals_name=signals_name,
        channel_map=channel_map,
    )


@dataclass(frozen=True)
class PatientPrediction:
    """A prediction with what it was made from and how long it took.

    ``timing_s``: seconds to prepare the inputs (``preprocess``) and in all
    (``total``), with the model already loaded.
    """

    prediction: Prediction
    prepared: PreparedPatient
    timing_s: dict[str, float]

    def outputs(self) -> dict[str, Any]:
        """What is stored and reported: ``Prediction.to_dict()``, ``timing_s`` and ``qc``."""
        from rehab_core.report import preprocessing_qc

        out = self.prediction.to_dict()
        out["timing_s"] = dict(self.timing_s)
        out["qc"] = preprocessing_qc(self.prepared.signals, self.prepared.fmri)
        return out


def predict_patient(
    predictor: FusionPredictor,
    signals: str | Path | None = None,
    fmri: str | Path | None = None,
    *,
    baseline_fma: float | None = None,
    prepare: Preparer | None = None,
    signals_name: str | None = None,
    channel_map: dict[str, str] | None = None,
) -> PatientPrediction:
    """Read and preprocess a patient with the bundle's settings, then predict.

    Parameters
    ----------
    predictor : FusionPredictor
    signals, fmri : path or None
        The EEG-EMG recording (optional) and the resting-state fMRI.
    baseline_fma : float or None
        The baseline lower-limb FMA (0-34), for the 3-month FMA-LE estimate.
    prepare : callable or None
        Returns the :class:`~rehab_core.pipeline.PreparedPatient` instead of
        :func:`prepare_inputs` (the dashboard's cached preprocessing).
    signals_name : str or None
        How errors name the EEG-EMG (:func:`prepare_inputs`).
    channel_map : dict or None
        The user's channel map of the EEG-EMG (:func:`prepare_inputs`).
    """
    started = time.perf_counter()
    prepared = (
        prepare()
        if prepare is not None
        else prepare_inputs(
            predictor, signals, fmri, signals_name=signals_name, channel_map=channel_map
        )
    )
    prepared_s = time.perf_counter() - started
    prediction = predictor.predict(prepared, baseline_fma=baseline_fma)
    total_s = time.perf_counter() - started
    timing = {"preprocess": round(prepared_s, 3), "total": round(total_s, 3)}
    return PatientPrediction(prediction, prepared, timing)


def signals_reason(path: str | Path, channel_map: dict[str, str] | None = None) -> str:
    """Why the model cannot use this EEG-EMG file, in one sentence; ``""`` when it can.

    The file is read (its channels are checked, not preprocessed) with the
    user's ``channel_map`` applied: a file the reader refuses (or a map that
    no longer holds) gives that sentence, one without the model's 22 channels
    names what it lacks (muscles in words).
    """
    from rehab_core.io import InputError, check_model_channels, map_raw_channels, read_signals

    try:
        raw = map_raw_channels(read_signals(path), channel_map or {})
    except InputError as err:
        return str(err)
    return check_model_channels(raw.ch_names, raw.get_channel_types()).reason()


@dataclass(frozen=True)
class PredictionPlan:
    """What a prediction for a patient's latest uploads will be made from.

    ``signals``/``fmri``: the uploads the model will read (``signals`` is None
    for an fMRI-only prediction); ``signals_unused``: why a stored EEG-EMG
    upload is left out (``""`` when it is used or there is none); ``blocked``:
    why nothing can be predicted (``""`` when something can).
    """

    signals: UploadRecord | None
    fmri: UploadRecord | None
    signals_unused: str = ""
    blocked: str = ""

    @property
    def fmri_only(self) -> bool:
        """True when a stored EEG-EMG recording is left out and the fMRI alone decides."""
        return not self.blocked and bool(self.signals_unused)


def plan_prediction(
    signals: UploadRecord | None, fmri: UploadRecord | None, signals_reason: str = ""
) -> PredictionPlan:
    """Decide what the latest uploads allow: fusion, fMRI only, or nothing (with the reason).

    Parameters
    ----------
    signals, fmri : UploadRecord or None
        The patient's latest EEG-EMG and fMRI uploads.
    signals_reason : str
        :func:`signals_reason` of the EEG-EMG upload (``""``: the model can use it).
    """
    unused = signals_reason if signals is not None else ""
    used = None if unused else signals
    blocked = ""
    if fmri is None:
        blocked = "Nothing can be predicted yet: every model needs the patient's resting-state fMRI"
        if unused:
            blocked += f", and {unused[0].lower()}{unused[1:].rstrip('.')}"
        blocked += "."
    return PredictionPlan(used, fmri, unused, blocked)


def predict_and_store(
    store: Store,
    patient: PatientRecord,
    predictor: FusionPredictor,
    *,
    signals: UploadRecord | None,
    fmri: UploadRecord,
    actor: str,
    prepare: Preparer | None = None,
    unused_signals: tuple[UploadRecord, str] | None = None,
) -> PredictionRecord:
    """Predict a stored patient from their uploads, store the prediction, audit it as ``actor``.

    The prediction is stored with its inputs, timing and preprocessing QC
    (:meth:`PatientPrediction.outputs`), then the ``predict`` event is
    recorded: nothing is recorded for a prediction that failed.

    Parameters
    ----------
    store : Store
    patient : PatientRecord
        Their baseline FMA-LE feeds the 3-month estimate.
    predictor : FusionPredictor
    signals, fmri : UploadRecord
        The uploads to predict from (``signals`` may be None: image only).
    actor : str
        The signed-in user, for the audit trail.
    prepare : callable or None
        As in :func:`predict_patient`; the prediction records these uploads'
        paths and hashes as its inputs, whoever prepared them.
    unused_signals : (UploadRecord, str) or None
        A stored EEG-EMG upload the model cannot use and why
        (:func:`plan_prediction`): the prediction is then fMRI-only, and its
        first note, its stored ``signals_not_used`` and the PDF say so.

    Raises
    ------
    InputError, WeightsError, ValueError
        A recording or the model cannot be used (one sentence); nothing is stored.
    """
    from rehab_core.security import record_event

    limit_torch_threads()
    run = predict_patient(
        predictor,
        None if signals is None else signals.path,
        fmri.path,
        baseline_fma=patient.fma_le_baseline,
        prepare=prepare,
        signals_name=None if signals is None else signals.original_name,
        channel_map=None if signals is None else signals.channel_map,
    )
    used = [u for u in (signals, fmri) if u is not None]
    outputs = run.outputs()
    outputs["inputs"] = {str(u.path): u.sha256 for u in used}
    if unused_signals is not None and signals is None:
        upload, reason = unused_signals
        outputs["signals_not_used"] = {
            "upload_id": upload.id,
            "file": upload.original_name,
            "reason": reason,
        }
        notes = [n for n in outputs.get("notes") or [] if not n.startswith("Image-only")]
        outputs["notes"] = [
            f"fMRI-only prediction: the EEG-EMG recording {upload.original_name} was not used, "
            f"so the fMRI model alone decides. {reason}",
            *notes,
        ]
    record = store.add_prediction(patient.id, outputs, upload_ids=[u.id for u in used])
    record_event(
        store,
        actor,
        "predict",
        patient_id=patient.id,
        target=f"prediction {record.id}",
        details={"model_id": record.model_id, "weights_sha256": record.weights_sha256},
    )
    return record
