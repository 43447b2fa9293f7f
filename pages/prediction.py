"""Prediction page: predict the selected patient's recovery, explain it, store it, report it.

Caching (shared by every session):

* the model: ``load_predictor`` (``st.cache_resource``);
* preprocessing: per recording, keyed by the file's SHA-256 and the bundle's
  manifest hash (the bundle fixes the settings), so a second prediction of
  the same files, or another model with the same settings, skips it;
* Grad-CAM: once per (bundle, fMRI file), for every kept slice, the mean of
  all the ensemble's image models (the prediction is their mean too);
* Integrated Gradients: once per (bundle, EEG-EMG file), on the windows that
  fit a fixed budget of time samples, spread over the recording, the mean of
  all the ensemble's LSTMs.
* the comparison of all installed models: only while "Compare all installed
  models" is on, once per (models and their manifests, files' SHA-256,
  baseline FMA-LE), from the same preprocessing caches. A comparison is a view
  (:func:`~rehab_core.workflows.predict.compare_models`): nothing is stored.

Predicting and storing is :func:`rehab_core.workflows.predict.predict_and_store`
(``rehab predict`` calls the same :func:`~rehab_core.workflows.predict.predict_patient`);
torch runs on one intra-op thread (:func:`~rehab_core.workflows.predict.limit_torch_threads`,
``REHAB_TORCH_THREADS`` to change it).

The latest prediction of each patient is kept in plain session state
(``prediction_latest`` maps patient id to prediction id), so it survives
reruns and page changes; every prediction is also stored with its provenance.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

import streamlit as st

from pages._model_card import show_model_card
from pages._result import show_summary, show_synthetic_banner
from pages._shared import (
    PATIENTS_PAGE,
    audited,
    available_models,
    current_user,
    get_store,
    link_if_page,
    load_predictor,
    plain,
    require_patient,
    require_role,
)
from rehab_core.io import InputError
from rehab_core.models import DEFAULT_MODEL_ID, FUSION_MODEL_IDS
from rehab_core.pipeline import PreparedPatient
from rehab_core.report import (
    build_report_pdf,
    format_number,
    model_card,
    plain_model_name,
    prediction_call,
)
from rehab_core.report.evaluation import TRAINING_REPORT
from rehab_core.storage import (
    PatientRecord,
    PredictionRecord,
    Store,
    UploadRecord,
    WeightsError,
    check_stored_file,
)
from rehab_core.workflows.predict import (
    ModelComparisons,
    PredictionPlan,
    compare_models,
    limit_torch_threads,
    plan_prediction,
    predict_and_store,
    prepare_inputs,
    signals_reason,
)

if TYPE_CHECKING:
    from rehab_core.prediction import FusionPredictor

LATEST = "prediction_latest"  # {patient id: prediction id}, plain session state
_MODEL_KEY = "prediction_model"
_COMPARE_KEY = "prediction_compare"
# Integrated Gradients explains as many windows (spread over the recording) as fit in this many
# time samples: the cost grows with windows x samples (about 1 s per 1000 on the 2-core machine
# for the 3 LSTMs), so 1 window of raw 100-Hz samples or all of a minute's envelope windows
IG_SAMPLE_BUDGET = 1000
IG_STEPS = 16
ATTRIBUTION_BINS = 20
TRAIN_COMMANDS = (
    "rehab demo-cohort --out cohorts/demo --seed 0\n"
    "rehab train --cohort cohorts/demo --backbone all --out weights --folds 5 --epochs 50"
)


# --- cached computations ----------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=16)
def _prepared_signals(
    model_id: str,
    manifest_sha: str,
    sha256: str,
    _path: str,
    _name: str | None = None,
    map_json: str = "{}",
) -> Any:
    """The EEG-EMG windows of one file with the bundle's settings (keyed by hash and map).

    ``_name``: the file as uploaded, for errors (the stored copy is named by its hash);
    ``map_json``: the upload's channel map as sorted JSON.
    """
    check_stored_file(_path, sha256)  # the stored file still is what was uploaded
    return prepare_inputs(
        load_predictor(model_id),
        _path,
        None,
        signals_name=_name,
        channel_map=json.loads(map_json),
    ).signals


@st.cache_data(show_spinner=False, max_entries=16)
def _prepared_fmri(model_id: str, manifest_sha: str, sha256: str, _path: str) -> Any:
    """The model slices of one fMRI file with the bundle's settings (keyed by the file's hash)."""
    check_stored_file(_path, sha256)
    return prepare_inputs(load_predictor(model_id), None, _path).fmri


@st.cache_data(show_spinner=False, max_entries=8)
def _gradcam(model_id: str, manifest_sha: str, sha256: str, _path: str) -> Any:
    """Mean Grad-CAM of all the bundle's image models over every kept slice."""
    from rehab_core.explain import ensemble_gradcam

    predictor = load_predictor(model_id)
    fmri = _prepared_fmri(model_id, manifest_sha, sha256, _path)
    return ensemble_gradcam(predictor.image_models, predictor.image_backbone, fmri.slices)


@st.cache_data(show_spinner=False, max_entries=8)
def _attribution(
    model_id: str, manifest_sha: str, sha256: str, _path: str, map_json: str = "{}"
) -> Any:
    """Mean Integrated Gradients of all the bundle's LSTMs on spread-out windows (budgeted)."""
    from rehab_core.explain import recording_attribution

    predictor = load_predictor(model_id)
    signals = _prepared_signals(model_id, manifest_sha, sha256, _path, None, map_json)
    return recording_attribution(
        predictor.signal_models,
        signals,
        sample_budget=IG_SAMPLE_BUDGET,
        steps=IG_STEPS,
        n_bins=ATTRIBUTION_BINS,
    )


@st.cache_data(show_spinner=False)
def _card(model_id: str, manifest_sha: str) -> dict[str, Any]:
    predictor = load_predictor(model_id)
    report = predictor.path.parent / TRAINING_REPORT
    evaluation = json.loads(report.read_text()) if report.is_file() else None
    return model_card(predictor.manifest, evaluation)


# --- actions --------------------------------------------------------------------------------
@st.cache_data(max_entries=32, show_spinner=False)
def _signals_reason(sha256: str, _path: str, map_json: str = "{}") -> str:
    """Why the model cannot use an EEG-EMG upload ("" if it can), once per content and map."""
    return signals_reason(_path, json.loads(map_json))


def _plan(signals: UploadRecord | None, fmri: UploadRecord | None) -> PredictionPlan:
    reason = (
        ""
        if signals is None
        else _signals_reason(
            signals.sha256, str(signals.path), json.dumps(signals.channel_map, sort_keys=True)
        )
    )
    return plan_prediction(signals, fmri, reason)


def _prepare_cached(
    predictor: FusionPredictor, signals: UploadRecord | None, fmri: UploadRecord
) -> PreparedPatient:
    """The uploads prepared with ``predictor``'s settings, from the page's content-keyed caches."""
    model_id, sha = predictor.model_id, predictor.manifest.manifest_sha256
    prepared = PreparedPatient()
    if signals is not None:
        prepared.signals = _prepared_signals(
            model_id,
            sha,
            signals.sha256,
            str(signals.path),
            signals.original_name,
            json.dumps(signals.channel_map, sort_keys=True),
        )
    prepared.fmri = _prepared_fmri(model_id, sha, fmri.sha256, str(fmri.path))
    return prepared


def _model_versions(models: list[str]) -> tuple[tuple[str, str], ...]:
    """(model id, manifest SHA-256) of each model; ``""`` for one that does not load."""
    versions = []
    for model_id in models:
        try:
            versions.append((model_id, load_predictor(model_id).manifest.manifest_sha256 or ""))
        except WeightsError:  # the comparison says why, in its row
            versions.append((model_id, ""))
    return tuple(versions)


@st.cache_data(show_spinner=False, max_entries=8)
def _comparison(
    versions: tuple[tuple[str, str], ...],
    signals_sha: str | None,
    fmri_sha: str,
    baseline_fma: float | None,
    _signals: UploadRecord | None,
    _fmri: UploadRecord,
    map_json: str = "{}",
) -> ModelComparisons:
    """Every installed model's prediction of these files, each with its own preprocessing.

    ``map_json``: the EEG-EMG upload's channel map, in the cache key (a new map, new rows).
    """
    return compare_models(
        [model_id for model_id, _ in versions],
        None if _signals is None else str(_signals.path),
        str(_fmri.path),
        baseline_fma=baseline_fma,
        load=load_predictor,
        prepare=lambda predictor: _prepare_cached(predictor, _signals, _fmri),
    )


def _predict(
    store: Store,
    patient: PatientRecord,
    model_id: str,
    signals: UploadRecord | None,
    fmri: UploadRecord,
    unused_signals: tuple[UploadRecord, str] | None = None,
) -> PredictionRecord:
    predictor = load_predictor(model_id)
    user = current_user()
    return predict_and_store(
        store,
        patient,
        predictor,
        signals=signals,
        fmri=fmri,
        actor=user.username if user else "anonymous",
        prepare=lambda: _prepare_cached(predictor, signals, fmri),
        unused_signals=unused_signals,
    )


def _model_picker(models: list[str]) -> str:
    default = DEFAULT_MODEL_ID if DEFAULT_MODEL_ID in models else models[0]
    if st.session_state.get(_MODEL_KEY) not in models:
        st.session_state[_MODEL_KEY] = default
    model_id = st.selectbox("Model", models, key=_MODEL_KEY, format_func=plain_model_name)
    from rehab_core.jobs import default_version

    promoted = default_version(get_store(), model_id)
    if promoted is None:
        st.caption("Version: the model shipped with this software.")
    else:
        st.caption(
            f"Version: {promoted.label}, trained on this site's cohort and promoted by "
            f"{promoted.promoted_by or 'unknown'} on {promoted.promoted_at:%Y-%m-%d}."
        )
    missing = [m for m in FUSION_MODEL_IDS if m not in models]
    if missing:
        many = len(missing) > 1
        st.caption(
            f"{len(missing)} of the paper's fusion models {'are' if many else 'is'} not "
            f"installed; an administrator can add {'them' if many else 'it'} "
            "(see Technical details)."
        )
    return model_id


def _technical_details(
    model_id: str | None,
    record: PredictionRecord | None,
    card: dict[str, Any] | None,
    methods: list[str],
    models: list[str],
) -> None:
    """Everything a clinician does not need, in one place: ids, hashes, formulas, methods."""
    with st.expander("Technical details", icon=":material/build:"):
        if record is not None:
            out = record.outputs
            st.markdown(
                f"Model `{out['model_id']}`, weights SHA-256 `{record.weights_sha256}`, "
                f"manifest SHA-256 `{out.get('manifest_sha256', 'n/a')}`, "
                f"package {out.get('package_version', 'n/a')}."
            )
            weight = out.get("fusion_weight")
            if out.get("modality") != "image" and weight is not None:
                st.markdown(
                    f"Late fusion: p = w · EEG-EMG + (1 − w) · fMRI with w = "
                    f"{format_number(weight)}, threshold {format_number(out['threshold'])}."
                )
        for text in methods:
            st.markdown(text)
        missing = [m for m in FUSION_MODEL_IDS if m not in models]
        if missing:
            st.markdown(
                f"Not installed: {', '.join(missing)}. They appear once their bundles are in "
                "the weights folder. Train all five (a GPU is advised; hours on a CPU) with:"
            )
            st.code(TRAIN_COMMANDS, language="bash")
        elif model_id is None:
            st.code(TRAIN_COMMANDS, language="bash")
        if card is not None:
            st.markdown(f"**Model card: {card['display_name']}**")
            show_model_card(card)


# --- display ----------------------------------------------------------------------------------
def _windows_tab(
    out: dict[str, Any],
    signals: UploadRecord | None,
    model_id: str,
    sha: str,
    methods: list[str],
) -> None:
    from rehab_core.viz import attribution_figure, window_timeline_figure

    if out.get("modality") == "image":  # an empty timeline would look like a failed recording
        st.info(
            "No EEG-EMG recording was used for this prediction: the fMRI model alone decided.",
            icon=":material/info:",
        )
        return
    settings = out.get("preprocessing", {}).get("signals") or {}
    st.plotly_chart(
        window_timeline_figure(
            out.get("window_starts_s") or [],
            out.get("window_probabilities") or [],
            window_s=float(settings.get("window_s", 10.0)),
            threshold=out["threshold"],
            signal_score=out.get("signal_score"),
        ),
        width="stretch",
        key="prediction_windows",
    )
    if signals is None or not out.get("window_probabilities"):
        return
    st.markdown("**Which channels and moments drove the EEG-EMG score**")
    with st.spinner("Working out which channels mattered..."):
        summary, starts = _attribution(
            model_id,
            sha,
            signals.sha256,
            str(signals.path),
            # the map the prediction was made with (a later one may differ); older records
            # kept none, so theirs is the upload's
            json.dumps(out.get("channel_map", signals.channel_map), sort_keys=True),
        )
    shown = ", ".join(f"{s:.0f}" for s in starts)
    st.caption(
        f"How much each channel moved the EEG-EMG score, over {len(starts)} stretch"
        f"{'es' if len(starts) > 1 else ''} of 10 s (starting at {shown} s); green bars "
        "favour a good outcome, the others a poor one."
    )
    methods.append(
        f"EEG-EMG explanation: Integrated Gradients, mean of the ensemble's LSTMs, on "
        f"{len(starts)} window{'s' if len(starts) > 1 else ''}; {IG_STEPS} steps from an "
        "all-zero baseline (each channel at its window mean); shares of the absolute attribution."
    )
    st.plotly_chart(attribution_figure(summary), width="stretch", key="prediction_attribution")


def _slices_tab(
    out: dict[str, Any], fmri: UploadRecord, model_id: str, sha: str, methods: list[str]
) -> tuple[bytes | None, str | None]:
    """Slice scores and the Grad-CAM overlay; returns the shown overlay (PNG) and its caption."""
    from rehab_core.viz import (
        gradcam_figure,
        gradcam_overlay,
        png_bytes,
        slice_probabilities_figure,
    )

    index = list(out.get("slice_index") or [])
    if not index:
        st.info("No fMRI slice passed screening, so there is no slice to explain.")
        return None, None
    with st.spinner("Working out which brain regions mattered..."):
        heatmaps = _gradcam(model_id, sha, fmri.sha256, str(fmri.path))
        prepared = _prepared_fmri(model_id, sha, fmri.sha256, str(fmri.path))
    left, right = st.columns([3, 2])
    with right:
        k = st.select_slider(
            "Axial slice", options=index, value=index[len(index) // 2], key="prediction_slice"
        )
        alpha = st.slider("Heatmap opacity", 0.0, 1.0, 0.4, 0.05, key="prediction_opacity")
        pos = index.index(k)
        members = len(load_predictor(model_id).image_models)
        title = f"Heatmap, axial slice {k} (probability {out['slice_probabilities'][pos]:.2f})"
        st.plotly_chart(
            gradcam_figure(prepared.slices[pos], heatmaps[pos], alpha=alpha, title=title),
            width="stretch",
            key="prediction_gradcam",
        )
        st.caption(
            "Warm colours: the regions that most supported a good outcome, over the average "
            "brain signal; the patient's left is on the left. It shows what moved the score, "
            "not where a lesion is."
        )
        methods.append(
            f"fMRI explanation: Grad-CAM, mean of the {members} image models, over the "
            "mean-BOLD channel of each kept axial slice; neurological view."
        )
    with left:
        st.plotly_chart(
            slice_probabilities_figure(
                index,
                out["slice_probabilities"],
                threshold=out["threshold"],
                image_score=out["image_score"],
                selected=k,
            ),
            width="stretch",
            key="prediction_slices",
        )
    caption = f"Grad-CAM of axial slice {k} (evidence for a good outcome), mean of {members} models"
    return png_bytes(gradcam_overlay(prepared.slices[pos], heatmaps[pos], alpha=alpha)), caption


def _report_button(
    patient: PatientRecord,
    record: PredictionRecord,
    uploads: list[UploadRecord],
    card: dict[str, Any],
    png: bytes | None,
    caption: str | None,
) -> None:
    used = [dataclasses.asdict(u) for u in uploads if u.id in set(record.upload_ids)]

    def pdf() -> bytes:  # built when clicked, on Streamlit's download thread
        return build_report_pdf(
            dataclasses.asdict(patient),
            used,
            record.outputs,
            png,
            card,
            created_at=record.created_at,
            heatmap_caption=caption,
        )

    st.download_button(
        "Download the PDF report",
        data=audited(
            pdf, "download_report", patient_id=patient.id, target=f"prediction {record.id}"
        ),
        file_name=f"{patient.pseudonym}_prediction_{record.id}.pdf",
        mime="application/pdf",
        icon=":material/picture_as_pdf:",
        on_click="ignore",
    )


def _history(store: Store, patient: PatientRecord) -> None:
    st.subheader("Past predictions of this patient")
    records = store.predictions(patient.id)
    if not records:
        st.caption("None yet.")
        return
    names = {u.id: u.original_name for u in store.uploads(patient.id)}
    st.dataframe(
        [
            {
                "When (UTC)": r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                "Model": plain_model_name(r.model_id),
                "P(good)": round(r.outputs["probability_good"], 3),
                "Spread": "–".join(format_number(v, ".2f") for v in r.outputs["interval"]),
                "Call": prediction_call(r.outputs).title,  # borderline, as on the result
                "FMA-LE 3 m": format_number(r.outputs.get("fma_3m"), ".1f"),
                "Inputs": ", ".join(names.get(i, f"upload {i}") for i in r.upload_ids),
            }
            for r in records
        ],
        hide_index=True,
        width="stretch",
    )
    with st.expander("Technical details of these predictions", icon=":material/build:"):
        st.dataframe(
            [
                {
                    "When (UTC)": r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    "Model id": r.model_id,
                    "Weights SHA-256": r.weights_sha256,
                }
                for r in records
            ],
            hide_index=True,
            width="stretch",
        )


def _comparison_section(patient: PatientRecord, models: list[str], plan: PredictionPlan) -> None:
    """Every installed model side by side for this patient, computed only when asked.

    A view: nothing is stored; "Predict" stores the chosen model's prediction.
    """
    if len(models) < 2:
        return
    st.subheader("Compare the installed models")
    if not st.toggle(
        "Compare all installed models",
        key=_COMPARE_KEY,
        help="Predicts this patient with every installed model, each with its own "
        "preprocessing. Nothing is stored.",
    ):
        return
    fmri, signals = plan.fmri, plan.signals
    with st.spinner("Predicting with every installed model..."):
        versions = _model_versions(models)
        comparison = _comparison(
            versions,
            None if signals is None else signals.sha256,
            fmri.sha256,
            patient.fma_le_baseline,
            signals,
            fmri,
            "{}" if signals is None else json.dumps(signals.channel_map, sort_keys=True),
        )
    st.dataframe(comparison.rows(), hide_index=True, width="stretch")
    disagreement = comparison.disagreement()
    if disagreement:
        st.warning(disagreement, icon=":material/call_split:")
    only = " from the fMRI only," if signals is None else ""
    st.caption(
        f"Each model predicted this patient{only} with its own preprocessing. P(good) is the "
        "probability of a good outcome and the spread the range of the model's ensemble; the "
        "cross-validated AUC is how well the model told good from poor outcomes on its "
        "development patients (1 is perfect, 0.5 is chance). This comparison is not stored: "
        "to keep a model's prediction, choose it above and press Predict."
    )
    with st.expander("Technical details of this comparison", icon=":material/build:"):
        st.dataframe(
            [
                {"Model": plain_model_name(m), "Model id": m, "Manifest SHA-256": sha or "n/a"}
                for m, sha in versions
            ],
            hide_index=True,
            width="stretch",
        )


def _latest(store: Store, patient: PatientRecord) -> PredictionRecord | None:
    wanted = st.session_state.get(LATEST, {}).get(patient.id)
    if wanted is None:
        return None
    return next((r for r in store.predictions(patient.id) if r.id == wanted), None)


def main() -> None:
    require_role("clinician")
    patient = require_patient()
    store = get_store()
    st.title("Prediction")
    st.caption(
        f"Patient **{plain(patient.pseudonym)}**: probability of a good lower-limb recovery "
        "(Fugl-Meyer above 17 of 34) three months after the stroke. Research software, "
        "not a medical device."
    )
    models = available_models()
    if not models:
        st.error("No model is installed yet; an administrator needs to install or train one.")
        _technical_details(None, None, None, [], models)
        st.stop()
    signals = store.latest_upload(patient.id, "signals")
    fmri = store.latest_upload(patient.id, "fmri")
    plan = _plan(signals, fmri)
    left, right = st.columns([1, 2])
    with left:
        model_id = _model_picker(models)
    with right:
        if signals is None:
            eeg = "none (image-only prediction)"
        elif plan.signals_unused:
            eeg = f"{plain(signals.original_name)} (the model cannot use it)"
        else:
            eeg = plain(signals.original_name)
        st.markdown(
            f"**EEG-EMG:** {eeg}  \n**fMRI:** {plain(fmri.original_name) if fmri else 'none'}"
        )
    if plan.blocked:
        if fmri is None and not plan.signals_unused:
            st.warning(
                f"{plain(patient.pseudonym)} has no resting-state fMRI yet; the models need one."
            )
        else:
            st.warning(plan.blocked)
        link_if_page(PATIENTS_PAGE, "Upload it on the Patients page", icon=":material/group:")
        st.button(
            "Predict",
            type="primary",
            icon=":material/insights:",
            disabled=True,
            help=plan.blocked,
        )
        _history(store, patient)
        st.stop()
    label = "Predict"
    if plan.fmri_only:
        label = "Predict from the fMRI only"
        st.info(
            f"{plan.signals_unused} An fMRI-only prediction can be made; it is labelled as such "
            "on the result, in the record and in the PDF.",
            icon=":material/info:",
        )
    if st.button(label, type="primary", icon=":material/insights:"):
        unused = (signals, plan.signals_unused) if plan.fmri_only else None
        try:
            with st.spinner("Preparing the recordings and predicting..."):
                record = _predict(store, patient, model_id, plan.signals, fmri, unused)
        except (InputError, WeightsError, ValueError) as err:
            st.error(str(err))
        else:
            st.session_state.setdefault(LATEST, {})[patient.id] = record.id
    record = _latest(store, patient)
    if record is None:
        st.caption("Press Predict to run the model on the latest recordings.")
    else:
        out = record.outputs
        shown_id = out["model_id"]
        if shown_id not in models:
            st.warning(f"The model {shown_id} of this prediction is no longer installed.")
        else:
            timing = out.get("timing_s") or {}
            only = " from the fMRI only" if out.get("modality") == "image" else ""
            st.subheader(f"Result{only} ({record.created_at:%Y-%m-%d %H:%M} UTC)")
            if timing:
                st.caption(
                    f"Predicted in {timing['total']:.1f} s "
                    f"(preprocessing {timing['preprocess']:.1f} s) with the model loaded."
                )
            sha = load_predictor(shown_id).manifest.manifest_sha256
            card = _card(shown_id, sha)
            show_synthetic_banner(card, patient.pseudonym)  # on the result, not in an expander
            show_summary(out)
            limit_torch_threads()  # for the explanations below
            uploads = store.uploads(patient.id)
            by_id = {u.id: u for u in uploads}
            used = [by_id[i] for i in record.upload_ids if i in by_id]
            used_signals = next((u for u in used if u.kind == "signals"), None)
            used_fmri = next((u for u in used if u.kind == "fmri"), fmri)
            methods: list[str] = []
            tab_slices, tab_windows = st.tabs(["fMRI slices", "EEG-EMG windows"])
            with tab_slices:
                png, caption = _slices_tab(out, used_fmri, shown_id, sha, methods)
            with tab_windows:
                _windows_tab(out, used_signals, shown_id, sha, methods)
            _report_button(patient, record, uploads, card, png, caption)
            _technical_details(shown_id, record, card, methods, models)
    _comparison_section(patient, models, plan)
    _history(store, patient)


main()
