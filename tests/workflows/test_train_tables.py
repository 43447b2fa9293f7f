"""The training report's tables on synthetic scores (no training): clinical comparators fitted
on the deep models' folds, per-row ceilings, paired differences, calibration, decision curves."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from rehab_core.evaluation import CLINICAL_MODEL, EvaluationSettings
from rehab_core.fusion import ClinicalLogistic
from rehab_core.workflows._train.plan import CohortTargets, Fold, SplitPlan
from rehab_core.workflows._train.report import EvaluationRows, tables_markdown, training_report


def _cohort(n=40, n_test=10, seed=0, *, no_clinical=()):
    rng = np.random.default_rng(seed)
    ids = np.array([f"sub-{i:03d}" for i in range(n)])
    fma = rng.uniform(0, 34, n)
    y = (fma + rng.normal(0, 8, n) > 17).astype(int)
    targets = CohortTargets(
        labels=dict(zip(ids, y.tolist(), strict=True)),
        baseline=dict(zip(ids, fma.tolist(), strict=True)),
        fma_3m={p: 30.0 * v for p, v in zip(ids, y, strict=True)},
    )
    # every patient a unique age, so a fit's patients can be read back from its inputs
    clinical = {
        p: {"fma_le_baseline": float(f), "age": 40.0 + i, "days_since_stroke": 10.0 + i % 7}
        for i, (p, f) in enumerate(zip(ids, fma, strict=True))
    }
    for p in no_clinical:
        clinical[p]["age"] = float("nan")
    test = ids[:n_test] if n_test else ids[:0]
    dev = ids[n_test:]
    folds = tuple(
        Fold(k, np.array([p for j, p in enumerate(dev) if j % 3 != k]), dev[k::3]) for k in range(3)
    )
    plan = SplitPlan(dev_ids=dev, test_ids=test, folds=folds, n_min=5)
    # a score that knows the outcome somewhat
    base = {
        p: float(np.clip(0.5 + 0.3 * (2 * y[i] - 1) + rng.normal(0, 0.2), 0.01, 0.99))
        for i, p in enumerate(ids)
    }
    truth = {
        p: {
            "p_good_bayes": 0.8 if y[i] else 0.2,
            "p_good_fmri": 0.7 if y[i] else 0.35,
            "p_good_eegemg": 0.6 if y[i] else 0.4,
            "p_good_clinical": float(np.clip(fma[i] / 34, 0.01, 0.99)),
            "p_good_all": 0.9 if y[i] else 0.1,
        }
        for i, p in enumerate(ids)
    }
    return SimpleNamespace(
        ids=ids, targets=targets, clinical=clinical, plan=plan, base=base, truth=truth
    )


class _Ensemble:
    """Stand-in ensemble: a fixed score per patient, NaN for those without the modality."""

    def __init__(self, scores):
        self.scores = scores

    def mean_scores(self, ids):
        return np.array([self.scores.get(p, np.nan) for p in ids])

    oof_scores = mean_scores


def _rows(c, *, backbones=("ShuffleNet", "FBNet")):
    rows = EvaluationRows(c.plan, c.targets)
    no_signal = set(c.ids[::9])
    lstm = _Ensemble({p: v for p, v in c.base.items() if p not in no_signal})
    rows.add_signal(lstm)
    for k, name in enumerate(backbones):
        image = _Ensemble({p: float(np.clip(v + 0.05 * k, 0, 1)) for p, v in c.base.items()})
        fused_dev = np.array([c.base[p] for p in c.plan.dev_ids])
        fused_eval = np.array([c.base[p] for p in c.plan.eval_ids])
        rows.add_backbone(name, image, SimpleNamespace(fused_dev=fused_dev, fused_eval=fused_eval))
    rows.add_clinical(c.clinical)
    return rows


def _report(rows, c):
    tables = rows.tables(c.truth)
    report = training_report(
        rows,
        tables,
        cohort_dir="cohort",
        truth=c.truth,
        fingerprint="x",
        failures={},
        settings=EvaluationSettings(),
        seconds=0.0,
    )
    return tables, report


@pytest.fixture
def fits_seen(monkeypatch):
    """The patients (by their unique age) of every ClinicalLogistic fit."""
    seen = []
    original = ClinicalLogistic.fit

    def spy(self, X, y):
        seen.append({f"sub-{int(a) - 40:03d}" for a in np.asarray(X["age"])})
        return original(self, X, y)

    monkeypatch.setattr(ClinicalLogistic, "fit", spy)
    return seen


@pytest.mark.parametrize("n_test", [10, 0])
def test_clinical_rows_use_the_deep_models_folds_and_never_a_held_out_patient(fits_seen, n_test):
    c = _cohort(n_test=n_test)
    rows = _rows(c)
    tables, _ = _report(rows, c)
    names = {t: [r["Method"] for r in tables[t]["rows"]] for t in ("table1", "table2", "table3")}
    assert CLINICAL_MODEL in names["table1"] and CLINICAL_MODEL in names["table2"]
    assert {CLINICAL_MODEL, "ShuffleNet_LSTM + clinical", "FBNet_LSTM + clinical"} <= set(
        names["table3"]
    )
    test = set(c.plan.test_ids)
    dev = set(c.plan.dev_ids)
    fold_train = [set(f.train) for f in c.plan.folds]
    # per comparator: 3 out-of-fold fits (one per deep-model fold) and one on all development
    assert len(fits_seen) == 3 * 4
    for seen in fits_seen:
        assert not seen & test  # no comparator ever learns from a test patient
        assert seen <= dev
        assert seen in fold_train or seen == dev
    assert sum(seen in fold_train for seen in fits_seen) == 9
    # how the comparators were fitted mentions held-out test patients only when there are any
    held_out = "held-out test patients scored by the model fitted on every development patient"
    assert rows.clinical["fitted_on"].startswith("the development folds of the deep models")
    assert (held_out in rows.clinical["fitted_on"]) is (n_test > 0)


def test_a_development_patient_is_scored_by_the_fold_that_held_it_out(monkeypatch):
    """With no test set the clinical row's scores are out of fold on exactly the plan's folds."""
    from rehab_core.fusion import fold_indices, out_of_fold_predict
    from rehab_core.workflows._train.clinical import CLINICAL_C, _columns

    c = _cohort(n_test=0)
    rows = _rows(c)
    row = next(r for r in rows.comparators if r.name == CLINICAL_MODEL and r.group == "image")
    ids = list(row.patients)
    X = _columns(c.clinical, ids)
    y = c.targets.y(ids)
    folds = fold_indices(ids, [(f.train, f.score) for f in c.plan.folds])
    expected = out_of_fold_predict(ClinicalLogistic(C=CLINICAL_C), X, y, folds)
    np.testing.assert_allclose(row.p_good, expected)


def test_patients_without_clinical_data_leave_the_row_and_are_counted():
    c = _cohort(no_clinical=("sub-001", "sub-030"))
    rows = _rows(c)
    row = next(r for r in rows.comparators if r.name == CLINICAL_MODEL and r.group == "image")
    assert "sub-001" not in row.patients and len(row.patients) == 9
    assert rows.clinical["n_eval_without_clinical"][CLINICAL_MODEL] == 1
    assert "sub-030" not in rows.clinical["models"] and rows.clinical["omitted"] == {}


def test_a_cohort_without_clinical_data_gets_no_clinical_row_and_a_reason():
    c = _cohort()
    for values in c.clinical.values():
        values["days_since_stroke"] = float("nan")
    rows = _rows(c)
    tables, report = _report(rows, c)
    assert rows.comparators == []
    assert all(
        CLINICAL_MODEL not in [r["Method"] for r in tables[t]["rows"]]
        for t in ("table1", "table2", "table3")
    )
    assert (
        "Clinical is left out: only 0 development patients"
        in rows.clinical["omitted"][CLINICAL_MODEL]
    )
    assert "Clinical is left out" in tables_markdown(tables, report)


def test_each_row_has_the_ceiling_of_what_it_sees():
    from rehab_core.evaluation import roc_auc

    c = _cohort()
    tables, report = _report(_rows(c), c)
    expected_column = {
        ("table1", "ShuffleNet"): "p_good_fmri",
        ("table2", "LSTM"): "p_good_eegemg",
        ("table3", "ShuffleNet_LSTM"): "p_good_bayes",
        ("table1", CLINICAL_MODEL): "p_good_clinical",
        ("table3", "FBNet_LSTM + clinical"): "p_good_all",
    }
    preds = {(r["group"], r["name"]): r for r in report["predictions"]}
    preds |= {(r["group"], r["name"]): r for r in report["comparator_predictions"]}
    group = {"table1": "image", "table2": "signal", "table3": "fusion"}
    for (table, name), column in expected_column.items():
        ev = next(e for e in tables[table]["evaluations"] if e["name"] == name)
        record = preds[(group[table], name)]
        y = np.asarray(record["y_true"])
        ceiling = roc_auc(y, [c.truth[p][column] for p in record["patients"]])
        assert ev["ceiling"]["ceiling_auc"]["estimate"] == pytest.approx(ceiling)
        auc = ev["metrics"]["roc_auc"]["estimate"]
        assert ev["ceiling"]["fraction"]["estimate"] == pytest.approx((auc - 0.5) / (ceiling - 0.5))
        assert "Fraction of ceiling" in tables[table]["columns"]
    assert report["ceiling_note"] == "Every row has the ceiling of what it sees."


def test_real_data_has_no_ceiling_and_says_so():
    c = _cohort()
    rows = _rows(c)
    tables = rows.tables({})
    assert all("Ceiling AUC" not in tables[t]["columns"] for t in ("table1", "table2", "table3"))
    assert rows.ceiling_note == "No ceiling: the cohort has no ground truth (real data)."


def test_paired_differences_calibration_and_decision_curves_are_reported():
    c = _cohort()
    tables, report = _report(_rows(c), c)
    comparisons = {
        (x["a"]["name"], x["b"]["name"], x["family"]) for x in tables["paired"]["comparisons"]
    }
    assert ("ShuffleNet_LSTM", "ShuffleNet", "fusion vs modality") in comparisons
    assert ("ShuffleNet_LSTM", "LSTM", "fusion vs modality") in comparisons
    assert ("ShuffleNet_LSTM", CLINICAL_MODEL, "vs clinical") in comparisons
    assert ("LSTM", CLINICAL_MODEL, "vs clinical") in comparisons
    assert ("FBNet", "ShuffleNet", "backbones") in comparisons  # the tables' order
    assert all(0 <= x["p_holm"] <= 1 for x in tables["paired"]["comparisons"])
    diagnostics = {(d["group"], d["name"]): d for d in report["diagnostics"]}
    assert len(diagnostics) == len(report["predictions"]) + len(report["comparator_predictions"])
    for d in diagnostics.values():
        curve = d["decision_curve"]
        assert curve["thresholds"][0] == pytest.approx(0.05)
        assert curve["thresholds"][-1] == pytest.approx(0.95)
        assert len(curve["net_benefit"]) == len(curve["treat_all"]) == len(curve["treat_none"])
        assert {"slope", "intercept"} <= set(d["calibration"])
    md = tables_markdown(tables, report)
    for text in (
        "Paired AUC differences",
        "Calibration",
        "Decision curves",
        "Treat all",
        "Fraction of ceiling",
        "ShuffleNet_LSTM + clinical",
    ):
        assert text in md
