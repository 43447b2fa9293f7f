"""Predict one patient: ``rehab predict`` prints it, the Prediction page also stores it.

Both call :func:`predict_patient` (prepare, predict, time, QC); the page's
use case, :func:`predict_and_store`, adds the store and the audit trail and
runs torch on one thread (:func:`limit_torch_threads`).
:func:`compare_models` puts several installed models side by side for one
patient; it is a view and stores nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rehab_core.pipeline import PreparedPatient
    from rehab_core.prediction import FusionPredictor, Prediction
    from rehab_core.storage import PatientRecord, PredictionRecord, Store, UploadRecord

__all__ = [
    "ModelComparison",
    "ModelComparisons",
    "PatientPrediction",
    "PredictionPlan",
    "compare_models",
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
    (:meth:`PatientPrediction.outputs`) and, when the EEG-EMG was used, the
    upload's channel map it was read with (``channel_map``, ``{}`` for none,
    the ``rehab predict --channel-map`` structure), then the ``predict`` event is
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
    if signals is not None:  # the map it was read with, though the upload's may change later
        outputs["channel_map"] = signals.channel_map
    if unused_signals is not None and signals is None:
        upload, reason = unused_signals
        outputs["signals_not_used"] = {
            "upload_id": upload.id,
            "file": upload.original_name,
            "reason": reason,
        }
        notes = [n for n in outputs.get("notes") or [] if not n.startswith("Image-only")]
        # the stored label already says what it is ("EEG-EMG recording (.fif)"): not twice
        kind = "EEG-EMG recording"
        shown = upload.original_name
        shown = shown if shown.startswith(kind) else f"{kind} {shown}"
        outputs["notes"] = [
            f"fMRI-only prediction: the {shown} was not used, "
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


@dataclass(frozen=True)
class ModelComparison:
    """One installed model's answer for one patient, as a comparison shows it (never stored).

    ``name`` is the model in plain words (``"ShuffleNet + LSTM"``);
    ``call`` is ``"good"``, ``"poor"`` or ``"borderline"``
    (:func:`rehab_core.report.prediction_call`, the rule of the main result);
    ``modality`` is ``"fusion"`` or ``"image"`` (fMRI only); ``fusion_weight``
    is the weight w of the EEG-EMG score in p = w · EEG-EMG + (1 − w) · fMRI;
    ``cv_auc`` is the model's cross-validated AUC on its development patients
    (its manifest's metrics; the fMRI model's for an fMRI-only prediction,
    ``None`` when the manifest has none). When the model could not predict,
    ``refusal`` says why in one sentence and the figures are ``None``.
    """

    model_id: str
    name: str
    probability_good: float | None = None
    interval: tuple[float, float] | None = None
    call: str | None = None
    call_title: str | None = None
    modality: str | None = None
    image_score: float | None = None
    signal_score: float | None = None
    fusion_weight: float | None = None
    cv_auc: float | None = None
    refusal: str = ""

    def row(self) -> dict[str, str]:
        """The comparison table's row in plain words (no ids or hashes)."""
        from rehab_core.report import format_number

        low, high = self.interval or (None, None)
        fused = self.modality == "fusion"
        return {
            "Model": self.name,
            "P(good)": format_number(self.probability_good, missing="—"),
            "Spread": "—" if low is None else f"{format_number(low)}–{format_number(high)}",
            "Call": self.call_title or "Not predicted",
            "fMRI score": format_number(self.image_score, missing="—"),
            "EEG-EMG score": format_number(
                self.signal_score, missing="—" if self.refusal else "not used"
            ),
            "EEG-EMG weight": format_number(self.fusion_weight if fused else None, missing="—"),
            "Cross-validated AUC": format_number(self.cv_auc, missing="not recorded"),
            "Note": self.refusal or ("fMRI only" if self.modality == "image" else ""),
        }


@dataclass(frozen=True)
class ModelComparisons:
    """Several models' answers for one patient (:func:`compare_models`), in the order asked."""

    models: tuple[ModelComparison, ...]

    def rows(self) -> list[dict[str, str]]:
        """One plain-words row per model (:meth:`ModelComparison.row`)."""
        return [m.row() for m in self.models]

    def disagreement(self) -> str:
        """One sentence when the models that predicted make different calls, else ``""``."""
        calls: dict[str, list[str]] = {}
        for m in self.models:
            if m.call is not None:
                calls.setdefault(m.call, []).append(m.name)
        if len(calls) < 2:
            return ""
        parts = [f"{call} by {' and '.join(names)}" for call, names in calls.items()]
        return f"The models disagree on the call for this patient: {'; '.join(parts)}."


def _cv_auc(predictor: FusionPredictor, modality: str) -> float | None:
    """The cross-validated AUC the manifest records for the part that predicted."""
    from rehab_core.report import model_card

    rows = model_card(predictor.manifest)["metrics"]["rows"]
    row = next((r for r in rows if r["group"] == modality), None)
    return None if row is None or row.get("cv_auc") is None else float(row["cv_auc"])


def _compare_one(
    model_id: str,
    load: Callable[[str], FusionPredictor],
    signals: str | Path | None,
    fmri: str | Path | None,
    baseline_fma: float | None,
    prepare: Callable[[FusionPredictor], PreparedPatient] | None,
) -> ModelComparison:
    from rehab_core.io import InputError
    from rehab_core.report import plain_model_name, prediction_call
    from rehab_core.storage import WeightsError

    name = plain_model_name(model_id)
    try:
        predictor = load(model_id)
        run = predict_patient(
            predictor,
            signals,
            fmri,
            baseline_fma=baseline_fma,
            prepare=None if prepare is None else (lambda: prepare(predictor)),
        )
    except (InputError, WeightsError, ValueError) as err:
        return ModelComparison(model_id, name, refusal=str(err))
    p = run.prediction
    call = prediction_call(p.to_dict())
    return ModelComparison(
        model_id,
        name,
        probability_good=p.probability_good,
        interval=(float(p.interval[0]), float(p.interval[1])),
        call=call.call,
        call_title=call.title,
        modality=p.modality,
        image_score=p.image_score,
        signal_score=p.signal_score,
        fusion_weight=p.fusion_weight,
        cv_auc=_cv_auc(predictor, p.modality),
    )


def compare_models(
    model_ids: Sequence[str],
    signals: str | Path | None = None,
    fmri: str | Path | None = None,
    *,
    baseline_fma: float | None = None,
    load: Callable[[str], FusionPredictor] = load_model,
    prepare: Callable[[FusionPredictor], PreparedPatient] | None = None,
) -> ModelComparisons:
    """Predict one patient with several installed models, each with its own preprocessing.

    A comparison is a view: nothing is stored and nothing is audited. To keep
    a model's prediction, use the one home for predict-and-store,
    :func:`predict_and_store` (the Prediction page's "Predict" with that
    model chosen).

    Parameters
    ----------
    model_ids : sequence of str
        The models to compare (``"shufflenet_lstm"``...), in the order shown.
    signals, fmri : path or None
        The patient's EEG-EMG recording (optional) and resting-state fMRI.
    baseline_fma : float or None
        The baseline lower-limb FMA-LE (0-34); the call's borderline rule
        also reads the predicted FMA-LE's interval, as on the main result.
    load : callable
        ``load(model_id) -> FusionPredictor`` (default :func:`load_model`
        from the shipped weights; the dashboard passes its cached loader).
    prepare : callable or None
        ``prepare(predictor) -> PreparedPatient`` with that predictor's
        settings (the dashboard's caches); default :func:`prepare_inputs`.

    Returns
    -------
    ModelComparisons
        One :class:`ModelComparison` per model: its figures, or the one
        sentence saying why it could not predict (a missing or damaged
        bundle, a recording it cannot read); one model's refusal does not
        stop the others.
    """
    limit_torch_threads()
    return ModelComparisons(
        tuple(_compare_one(m, load, signals, fmri, baseline_fma, prepare) for m in model_ids)
    )
