"""The model card is read from the bundle's manifest and its training run's evaluation."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from rehab_core.report import model_card, synthetic_statement

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
# The first shipped bundle's manifest (schema 1, a held-out test set of 15 patients).
SCHEMA1 = Path(__file__).resolve().parents[1] / "storage" / "data" / "manifest_schema1.json"


@pytest.fixture(scope="module")
def manifest():
    return json.loads((WEIGHTS / "shufflenet_lstm" / "manifest.json").read_text())


@pytest.fixture(scope="module")
def evaluation():
    return json.loads((WEIGHTS / "evaluation.json").read_text())


_ROW = {"table1": "ShuffleNet", "table2": "LSTM", "table3": "ShuffleNet_LSTM"}


def _evaluations(manifest, table):
    """The bundle's own row of a table (the shipped tables hold every backbone's)."""
    (entry,) = [
        e for e in manifest["metrics"]["tables"][table]["evaluations"] if e["name"] == _ROW[table]
    ]
    return entry


def test_card_of_the_shipped_bundle(manifest, evaluation):
    """Every figure of the card is the manifest's (the shipped weights may be retrained)."""
    card = model_card(manifest, evaluation)
    data, split = manifest["data"], manifest["data"]["split"]
    assert card["model_id"] == "shufflenet_lstm"
    assert card["weights_sha256"] == manifest["sha256"]
    assert card["training_data"]["synthetic"] is True
    assert card["training_data"]["statement"].startswith(
        f"Trained on synthetic data: a simulated cohort of {data['n_patients']} patients, "
        "not real patients."
    )
    assert card["training_data"]["n_development"] == len(split["development"])
    assert card["training_data"]["n_test"] == len(split["test"])
    assert (
        card["architecture"]["imagenet_pretrained"]
        is manifest["parts"]["image"]["imagenet_pretrained"]
    )
    assert card["fusion"] == {
        "weight": manifest["fusion"]["weight"],
        "threshold": manifest["fusion"]["threshold"],
    }
    rows = {r["group"]: r for r in card["metrics"]["rows"]}
    assert [rows[g]["name"] for g in ("image", "signal", "fusion")] == [
        "ShuffleNet",
        "LSTM",
        "ShuffleNet_LSTM",
    ]
    for group, table in (("image", "table1"), ("signal", "table2"), ("fusion", "table3")):
        recorded = _evaluations(manifest, table)
        assert rows[group]["roc_auc"] == recorded["metrics"]["roc_auc"]
        assert rows[group]["cv_auc"] == recorded["cv_auc"]
        assert rows[group]["n"] == recorded["n"]
        # each row's own ceiling (what it sees); the table-level one is gone
        assert manifest["metrics"]["tables"][table]["ceiling_auc"] is None
        assert rows[group]["ceiling_auc"] == recorded["ceiling"]["ceiling_auc"]["estimate"]
    assert card["metrics"]["ci"] == 0.95
    assert card["metrics"]["bayes_ceiling_auc_cv"] == evaluation["bayes_ceiling_auc_cv"]
    json.dumps(card, allow_nan=False)  # JSON-ready


@pytest.fixture(scope="module")
def schema1():
    return json.loads(SCHEMA1.read_text())


def test_limitations_follow_the_manifest_numbers(manifest):
    """The shipped bundle has no held-out test set: its figures are said to be out of fold."""
    assert manifest["data"]["split"]["test"] == []
    weak = copy.deepcopy(manifest)
    weak["fusion"]["weight"] = 0.15
    weak["parts"]["image"]["imagenet_pretrained"] = False
    _evaluations(weak, "table2")["cv_auc"] = 0.38
    limitations = model_card(weak)["limitations"]
    n_eval = _evaluations(weak, "table3")["n"]
    n_folds = weak["data"]["split"]["n_folds"]
    assert limitations[0].startswith("Trained and evaluated on a synthetic cohort")
    assert any("no ImageNet pre-training" in s for s in limitations)
    assert any(
        s.startswith(
            f"There is no held-out test set: every figure is out of fold ({n_folds}-fold "
            f"cross-validation) on the {n_eval} development patients; intervals are wide."
        )
        for s in limitations
    )
    assert not any("test set has" in s for s in limitations)
    assert any("cross-validated AUC 0.38); its fusion weight is 0.15" in s for s in limitations)


def test_limitations_of_a_bundle_with_a_held_out_test_set(schema1):
    card = model_card(schema1)  # a table-level ceiling, as schema-1 tables had it
    (fused,) = [r for r in card["metrics"]["rows"] if r["group"] == "fusion"]
    assert fused["ceiling_auc"] == schema1["metrics"]["tables"]["table3"]["ceiling_auc"]
    n_test = _evaluations(schema1, "table3")["n"]
    assert n_test == len(schema1["data"]["split"]["test"]) > 0
    limitations = model_card(schema1)["limitations"]
    assert any(f"The held-out test set has {n_test} patients" in s for s in limitations)
    assert not any("There is no held-out test set" in s for s in limitations)


def test_evaluation_of_another_cohort_is_ignored(manifest, evaluation):
    other = {**evaluation, "fingerprint_sha256": "0" * 64}
    card = model_card(manifest, other)
    assert card["metrics"]["bayes_ceiling_auc_cv"] is None
    assert card["metrics"]["rows"] == model_card(manifest)["metrics"]["rows"]


@pytest.mark.parametrize("schema", [2, 1])
def test_real_data_bundle_is_described_without_the_synthetic_sentences(manifest, schema1, schema):
    """The shipped manifest (schema 2: trained_on) and the kept schema-1 one (synthetic flag)."""
    real = copy.deepcopy(manifest if schema == 2 else schema1)
    if schema == 2:
        real["data"].update(trained_on="real", description="the Hospital X cohort 2024")
    else:
        real["data"].update(synthetic=False, description="the Hospital X cohort 2024")
    real["parts"]["image"]["imagenet_pretrained"] = True
    real["metrics"]["tables"]["table2"]["evaluations"][0]["cv_auc"] = 0.81
    card = model_card(real)
    n = real["data"]["n_patients"]
    assert synthetic_statement(real) == f"Trained on the Hospital X cohort 2024 ({n} patients)."
    assert card["training_data"]["statement"] == synthetic_statement(real)
    text = " ".join(card["limitations"])
    assert "synthetic" not in text and "ImageNet" not in text and "barely learnt" not in text


def test_manifest_without_model_id_is_refused(manifest):
    nameless = {k: v for k, v in manifest.items() if k != "model_id"}
    with pytest.raises(ValueError, match="The manifest lacks model_id"):
        model_card(nameless)
    with pytest.raises(ValueError, match="The manifest has neither schema_version nor"):
        model_card({"sha256": "abc"})


def test_card_of_a_typed_manifest_says_what_it_was_trained_on(manifest):
    """The card reads BundleManifest; trained_on comes from the manifest (converted schema 1)."""
    from rehab_core.storage import BundleManifest

    typed = BundleManifest.from_dict(manifest)
    card = model_card(typed)
    assert card == model_card(manifest)
    assert card["training_data"]["trained_on"] == "synthetic"
