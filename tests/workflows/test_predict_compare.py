"""Several installed models side by side for one patient (``compare_models``): a view.

Two tiny bundles: ``tiny_training``'s ShuffleNet + LSTM (224 x 224 slices,
EEG-EMG envelopes) and ``tiny_second_training``'s GhostNet + LSTM (64 x 64
slices, raw windows), installed together in one weights folder.
"""

from __future__ import annotations

import shutil

import pytest

from rehab_core.io.cohort import read_cohort
from rehab_core.report import plain_model_name, prediction_call
from rehab_core.workflows.predict import (
    ModelComparison,
    ModelComparisons,
    compare_models,
    load_model,
    predict_patient,
)

MODELS = ("shufflenet_lstm", "ghostnet_lstm")


@pytest.fixture(scope="module")
def weights(tiny_training, tiny_second_training, tmp_path_factory):
    """A weights folder with both tiny bundles installed."""
    folder = tmp_path_factory.mktemp("two_models")
    shutil.copytree(tiny_training["out"] / "shufflenet_lstm", folder / "shufflenet_lstm")
    shutil.copytree(tiny_second_training["out"] / "ghostnet_lstm", folder / "ghostnet_lstm")
    return folder


@pytest.fixture(scope="module")
def predictors(weights):
    return {m: load_model(m, weights) for m in MODELS}


@pytest.fixture(scope="module")
def patient(tiny_training):
    return next(p for p in read_cohort(tiny_training["cohort"]).patients if p.signals_path)


def _cv_auc(predictor, group: str) -> float:
    table = {"fusion": "table3", "image": "table1"}[group]
    (entry,) = [
        e
        for e in predictor.manifest.metrics.tables[table]["evaluations"]
        if e["group"] == group
        and e["name"].lower()
        in (predictor.manifest.display_name.lower(), predictor.image_backbone.lower())
    ]
    return entry["cv_auc"]


@pytest.fixture(scope="module", params=["fusion", "image"])
def compared(request, predictors, patient):
    """The comparison of both models, with the EEG-EMG (fusion) and without it (fMRI only)."""
    signals = patient.signals_path if request.param == "fusion" else None
    comparison = compare_models(
        MODELS,
        signals,
        patient.fmri_path,
        baseline_fma=patient.baseline_fma,
        load=predictors.__getitem__,
    )
    return request.param, signals, comparison


def test_the_two_models_are_preprocessed_differently(predictors):
    # otherwise the test below could not tell one model's settings from the other's
    shuffle, ghost = predictors["shufflenet_lstm"], predictors["ghostnet_lstm"]
    assert shuffle.imaging_settings().image_size != ghost.imaging_settings().image_size
    assert shuffle.signal_settings().representation != ghost.signal_settings().representation


@pytest.mark.parametrize("model_id", MODELS)
def test_each_row_is_that_models_own_prediction_with_its_own_settings(
    compared, predictors, patient, model_id
):
    modality, signals, comparison = compared
    row = comparison.models[MODELS.index(model_id)]
    predictor = predictors[model_id]
    # predict_patient prepares the inputs with this bundle's own settings
    own = predict_patient(
        predictor, signals, patient.fmri_path, baseline_fma=patient.baseline_fma
    ).prediction
    assert row.refusal == ""
    assert row.model_id == model_id and row.name == plain_model_name(model_id)
    assert row.probability_good == pytest.approx(own.probability_good)
    assert row.interval == pytest.approx(own.interval)
    assert row.image_score == pytest.approx(own.image_score)
    assert row.signal_score == (
        None if own.signal_score is None else pytest.approx(own.signal_score)
    )
    assert row.fusion_weight == pytest.approx(own.fusion_weight)
    assert row.modality == own.modality == modality
    call = prediction_call(own.to_dict())
    assert (row.call, row.call_title) == (call.call, call.title)
    assert row.cv_auc == pytest.approx(_cv_auc(predictor, modality))


def test_rows_are_plain_words_without_ids_or_hashes(compared, predictors):
    modality, _, comparison = compared
    rows = comparison.rows()
    assert [r["Model"] for r in rows] == ["ShuffleNet + LSTM", "GhostNet + LSTM"]
    text = repr(rows)
    for model_id, predictor in predictors.items():
        assert model_id not in text
        assert predictor.manifest.sha256[:8] not in text
    for row, model in zip(rows, comparison.models, strict=True):
        assert row["P(good)"] == f"{model.probability_good:.2f}"
        assert row["Call"] in ("Good recovery", "Poor recovery", "Borderline")
        if modality == "image":
            assert (row["EEG-EMG score"], row["EEG-EMG weight"]) == ("not used", "—")
            assert row["Note"] == "fMRI only"
        else:
            assert row["EEG-EMG weight"] == f"{model.fusion_weight:.2f}"


def test_a_model_that_cannot_predict_gives_its_sentence_and_the_others_still_predict(
    predictors, weights, patient, tmp_path
):
    broken = tmp_path / "weights"
    shutil.copytree(weights, broken)
    (broken / "ghostnet_lstm" / "model.safetensors").write_bytes(b"not the weights")
    comparison = compare_models(
        MODELS, patient.signals_path, patient.fmri_path, load=lambda m: load_model(m, broken)
    )
    shuffle, ghost = comparison.models
    assert shuffle.refusal == "" and shuffle.probability_good is not None
    assert ghost.probability_good is None and ghost.call is None
    assert "ghostnet_lstm" in ghost.refusal and ghost.refusal.endswith(".")
    assert ghost.row()["Call"] == "Not predicted" and ghost.row()["Note"] == ghost.refusal
    assert comparison.disagreement() == ""  # one call is no disagreement


def test_an_unreadable_recording_is_refused_by_every_model(predictors, patient, tmp_path):
    bad = tmp_path / "rec.txt"
    bad.write_text("not a recording\n")
    comparison = compare_models(MODELS, bad, patient.fmri_path, load=predictors.__getitem__)
    refusals = {m.refusal for m in comparison.models}
    assert len(refusals) == 1 and all(refusals)
    (sentence,) = refusals
    assert "rec.txt" in sentence


def _row(name: str, call: str | None) -> ModelComparison:
    return ModelComparison(name.lower(), name, call=call, refusal="" if call else "refused.")


@pytest.mark.parametrize(
    ("calls", "expected"),
    [
        (("good", "good"), ""),
        (("good", None), ""),
        (
            ("good", "poor"),
            "The models disagree on the call for this patient: good by A; poor by B.",
        ),
        (
            ("borderline", "good", "borderline"),
            "The models disagree on the call for this patient: borderline by A and C; good by B.",
        ),
    ],
)
def test_disagreement_is_one_sentence_only_when_the_calls_differ(calls, expected):
    comparison = ModelComparisons(tuple(_row(n, c) for n, c in zip("ABC", calls, strict=False)))
    assert comparison.disagreement() == expected
