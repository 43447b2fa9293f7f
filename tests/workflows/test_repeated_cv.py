"""Repeated patient-level cross-validation (issue 13): repeats of the training run's k folds."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from rehab_core.signals import SignalSettings


def _settings(**overrides):
    """The tiny training's budget: 2 folds, one batch of one epoch, CPU, no ImageNet."""
    from rehab_core.training import ExperimentSettings

    kwargs = dict(
        n_folds=2, epochs=1, patience=1, max_train_batches=1, pretrained=False, device="cpu"
    )
    return ExperimentSettings(**{**kwargs, "seed": 3, "test_fraction": 0.0, **overrides})


@pytest.fixture(scope="module")
def repeated(tiny_cohort, tmp_path_factory):
    """Two repeats of the LSTM and the clinical comparators on the tiny cohort, folds recorded."""
    import rehab_core.workflows._train.plan as plan_module
    from rehab_core.workflows.repeated_cv import repeated_cross_validation

    work = tmp_path_factory.mktemp("repeated_cv_work")
    plans, events = [], []
    real = plan_module.plan_split

    def spy(*args, **kwargs):
        plans.append(real(*args, **kwargs))
        return plans[-1]

    mp = pytest.MonkeyPatch()
    mp.setattr(plan_module, "plan_split", spy)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            summary = repeated_cross_validation(
                tiny_cohort,
                _settings(),
                n_repeats=2,
                signal_settings=SignalSettings(representation="envelope"),
                work_dir=work,
                progress=events.append,
                n_boot=200,
            )
    finally:
        mp.undo()
    return {"summary": summary, "plans": plans, "events": events, "work": work}


def test_each_repeat_scores_every_patient_once_with_other_folds(repeated):
    summary, plans = repeated["summary"], repeated["plans"]
    assert summary["seeds"] == [3, 4] and summary["settings"]["test_fraction"] == 0.0
    assert len(plans) == 2
    for plan in plans:
        assert len(plan.test_ids) == 0
        scored = np.concatenate([f.score for f in plan.folds])
        assert sorted(scored) == sorted(plan.dev_ids)  # each patient out of fold once
    first, second = ([sorted(f.score) for f in p.folds] for p in plans)
    assert first != second
    stages = [e for e in repeated["events"] if e.get("stage") == "repeat"]
    assert [(e["repeat"], e["seed"]) for e in stages] == [(0, 3), (1, 4)]


def test_rows_are_the_lstm_and_the_clinical_comparator_summarised_over_repeats(repeated):
    rows = {(r["row"], r["group"]): r for r in repeated["summary"]["rows"]}
    assert set(rows) == {("LSTM", "signal"), ("Clinical", "all"), ("Clinical", "signal")}
    lstm = rows[("LSTM", "signal")]
    m = lstm["summary"]
    assert m["n_repeats"] == 2 and len(m["auc_per_repeat"]) == 2
    assert m["mean"] == pytest.approx(np.mean(m["auc_per_repeat"]))
    assert m["sd"] == pytest.approx(np.std(m["auc_per_repeat"], ddof=1))
    assert lstm["n_patients"] == m["n_patients"] < rows[("Clinical", "all")]["n_patients"]
    assert 0.5 <= lstm["ceiling_auc"] <= 1.0 and not math.isnan(lstm["ceiling_auc"])


def test_repeat_zero_is_the_training_run_with_the_same_seed(repeated, tiny_cohort, tmp_path):
    """Repeat 0's out-of-fold LSTM AUC is the one `rehab train --test-fraction 0` reports."""
    from rehab_core.workflows.train import train_experiment

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = train_experiment(
            tiny_cohort,
            tmp_path / "out",
            _settings(),
            signal_settings=SignalSettings(representation="envelope"),
            work_dir=repeated["work"],  # its arrays: preprocessed once
        )
    (trained,) = [e for e in report["tables"]["table2"]["evaluations"] if e["name"] == "LSTM"]
    rows = {(r["row"], r["group"]): r for r in repeated["summary"]["rows"]}
    first = rows[("LSTM", "signal")]["summary"]["auc_per_repeat"][0]
    assert first == pytest.approx(trained["metrics"]["roc_auc"]["estimate"])


def test_a_single_repeat_is_refused(tmp_path):
    """Refused before the cohort is read (the folder holds none)."""
    from rehab_core.workflows.repeated_cv import repeated_cross_validation

    with pytest.raises(ValueError, match="n_repeats=1 must be at least 2"):
        repeated_cross_validation(tmp_path, n_repeats=1)


def test_a_held_out_test_set_is_refused(tmp_path):
    from rehab_core.workflows.repeated_cv import repeated_cross_validation

    with pytest.raises(ValueError, match=r"give test_fraction=0 \(--test-fraction 0\), not 0.15"):
        repeated_cross_validation(tmp_path, _settings(test_fraction=0.15))
