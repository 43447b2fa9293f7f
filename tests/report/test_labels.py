"""Synthetic-data labelling follows the bundle's manifest (and the demo patient's pseudonym)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from rehab_core.report import (
    demo_pseudonym,
    imagenet_phrase,
    is_demo_pseudonym,
    model_card,
    report_disclaimer,
    synthetic_banner,
)
from rehab_core.storage import BundleManifest, ManifestError

MANIFEST = Path(__file__).resolve().parents[2] / "weights" / "shufflenet_lstm" / "manifest.json"


@pytest.fixture(scope="module")
def shipped():
    """The shipped manifest in the current schema (the shipped file is schema 1, converted)."""
    return BundleManifest.from_dict(json.loads(MANIFEST.read_text())).to_dict()


def relabelled(raw, *, trained_on="real", pretrained=True):
    """A copy of a manifest that says it was trained on ``trained_on`` data."""
    raw = copy.deepcopy(raw)
    raw["data"]["trained_on"] = trained_on
    raw["data"]["description"] = "the stroke unit's 2025 cohort"
    raw["parts"]["image"]["imagenet_pretrained"] = pretrained
    return raw


def test_synthetic_bundle_gets_the_banner(shipped):
    assert shipped["data"]["trained_on"] == "synthetic"  # what the shipped bundle says
    banner = synthetic_banner(model_card(shipped), "P-7")
    assert banner == (
        "This model was trained on synthetic (simulated) data, not on real patients: its "
        "result says nothing about a real patient."
    )
    assert "synthetic cohort" in report_disclaimer(model_card(shipped))


def test_real_bundle_gets_no_banner_unless_the_patient_is_a_demo(shipped):
    card = model_card(relabelled(shipped))
    assert synthetic_banner(card, "P-7") is None
    assert synthetic_banner(card, demo_pseudonym(3)) == (
        "This is a synthetic demo patient: the recordings are simulated."
    )
    text = report_disclaimer(card)
    assert f"trained on {card['training_data']['n_patients']} real patients" in text
    assert "synthetic" not in text


@pytest.mark.parametrize(
    ("pseudonym", "demo"),
    [
        ("DEMO-0", True),
        ("DEMO-42", True),
        ("DEMO-", False),
        ("DEMO-4a", False),
        ("P-DEMO-1", False),
        (None, False),
    ],
)
def test_demo_pseudonyms(pseudonym, demo):
    assert is_demo_pseudonym(pseudonym) is demo


def test_imagenet_phrase_follows_the_manifest(shipped):
    assert imagenet_phrase(model_card(relabelled(shipped, pretrained=True))) == (
        "an ImageNet-pretrained CNN"
    )
    assert "not ImageNet-pretrained" in imagenet_phrase(
        model_card(relabelled(shipped, pretrained=False))
    )


def test_manifest_without_trained_on_is_refused_and_an_unsaying_card_is_cautious(shipped):
    raw = copy.deepcopy(shipped)
    del raw["data"]["trained_on"]
    # a schema-2 manifest must say it: refused with the field named, never guessed
    with pytest.raises(ManifestError, match=r"lacks data\.trained_on"):
        BundleManifest.from_dict(raw)
    # a stored card from before the field existed: the stated default is "unvalidated"
    card = model_card(shipped)
    card["training_data"] = {k: v for k, v in card["training_data"].items() if k != "trained_on"}
    assert synthetic_banner(card).startswith(
        "This model's description does not say whether it was trained on real or synthetic"
    )
    assert "training data is not stated" in report_disclaimer(card)


@pytest.mark.parametrize(
    ("model_id", "plain"),
    [
        ("shufflenet_lstm", "ShuffleNet + LSTM"),
        ("ShuffleNet_LSTM", "ShuffleNet + LSTM"),  # a manifest's display name
        ("resnet50_lstm", "ResNet50 + LSTM"),
        ("fbnet_lstm", "FBNet + LSTM"),
        ("ghostnet_lstm", "GhostNet + LSTM"),
        ("regnet_lstm", "RegNet + LSTM"),
        ("LSTM", "LSTM"),
        ("custom", "custom"),
    ],
)
def test_plain_model_name_hides_the_id_spelling(model_id, plain):
    from rehab_core.report import plain_model_name

    assert plain_model_name(model_id) == plain


def test_every_fusion_model_has_a_plain_name():
    from rehab_core.models import FUSION_MODEL_IDS
    from rehab_core.report import plain_model_name

    for model_id in FUSION_MODEL_IDS:
        name = plain_model_name(model_id)
        assert "_" not in name and name.endswith(" + LSTM") and name != name.lower(), name
