"""evaluate_cohort's clinical rows: the stored development models applied, else fitted out of
fold on the cohort and labelled so; patients without clinical data left out, never a crash."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from rehab_core.evaluation import CLINICAL_MODEL
from rehab_core.fusion import ClinicalLogistic
from rehab_core.workflows._train.clinical import CLINICAL_C, clinical_inputs
from rehab_core.workflows.evaluate import _clinical_rows, _clinical_summary, _Rows


def _cohort(n=30, seed=1, missing=()):
    rng = np.random.default_rng(seed)
    fma = rng.uniform(0, 34, n)
    y = (fma + rng.normal(0, 8, n) > 17).astype(int)
    patients = tuple(
        SimpleNamespace(
            participant_id=f"sub-{i:03d}",
            clinical={
                "fma_le_baseline": "n/a" if f"sub-{i:03d}" in missing else f"{fma[i]:.1f}",
                "age": str(50 + i),
                "days_since_stroke": str(5 + i % 9),
            },
        )
        for i in range(n)
    )
    labels = {p.participant_id: int(v) for p, v in zip(patients, y, strict=True)}
    return SimpleNamespace(patients=patients), labels


def _predictor(stored):
    metrics = None if stored is None else SimpleNamespace(clinical=stored)
    return SimpleNamespace(
        manifest=SimpleNamespace(display_name="ShuffleNet_LSTM", metrics=metrics)
    )


def test_the_stored_development_models_are_applied_unchanged():
    dev_cohort, dev_labels = _cohort(seed=2)
    clinical = clinical_inputs(dev_cohort)
    ids = sorted(clinical)
    X = {f: np.array([clinical[p][f] for p in ids]) for f in clinical[ids[0]]}
    base = ClinicalLogistic(C=CLINICAL_C).fit(X, [dev_labels[p] for p in ids])
    fused = ClinicalLogistic(score_feature="p_fused", C=CLINICAL_C).fit(
        {**X, "p_fused": np.linspace(0.1, 0.9, len(ids))}, [dev_labels[p] for p in ids]
    )
    stored = {CLINICAL_MODEL: base.to_dict(), "ShuffleNet_LSTM + clinical": fused.to_dict()}
    cohort, labels = _cohort(missing=("sub-004",))
    ids = sorted(labels)
    p_fused = np.full(len(ids), 0.6)
    rows = _Rows()
    _clinical_rows(_predictor(stored), cohort, ids, ids[:20], p_fused, labels, rows)
    got = {(r.group, r.name): r for r in rows.comparators}
    assert set(got) == {
        ("image", CLINICAL_MODEL),
        ("fusion", CLINICAL_MODEL),
        ("signal", CLINICAL_MODEL),
        ("fusion", "ShuffleNet_LSTM + clinical"),
    }
    row = got[("image", CLINICAL_MODEL)]
    assert "sub-004" not in row.patients and len(row.patients) == len(ids) - 1
    new = clinical_inputs(cohort)
    X_new = {f: np.array([new[p][f] for p in row.patients]) for f in new[ids[0]]}
    np.testing.assert_allclose(row.p_good, base.predict_proba(X_new))
    assert len(got[("signal", CLINICAL_MODEL)].patients) == 19
    assert "stored in the bundle" in _clinical_summary(rows)["fitted_on"]


def test_without_stored_models_they_are_fitted_out_of_fold_on_the_cohort_and_labelled():
    cohort, labels = _cohort()
    ids = sorted(labels)
    rows = _Rows()
    _clinical_rows(_predictor(None), cohort, ids, ids, np.full(len(ids), 0.5), labels, rows)
    assert {r.name for r in rows.comparators} == {CLINICAL_MODEL, "ShuffleNet_LSTM + clinical"}
    assert "this cohort itself, out of fold" in _clinical_summary(rows)["fitted_on"]


@pytest.mark.parametrize("stored", [None, {}])
def test_a_cohort_without_clinical_data_gets_a_reason_not_a_crash(stored):
    cohort, labels = _cohort(missing={f"sub-{i:03d}" for i in range(30)})
    ids = sorted(labels)
    rows = _Rows()
    _clinical_rows(_predictor(stored), cohort, ids, ids, np.full(len(ids), 0.5), labels, rows)
    assert rows.comparators == []
    assert "only 0 patients have the clinical data" in rows.clinical_omitted[CLINICAL_MODEL]
