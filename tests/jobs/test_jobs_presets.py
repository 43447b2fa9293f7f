"""One-click training budgets: the shipped models' (read from their manifest) and the paper's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rehab_core.imaging import ImagingSettings
from rehab_core.jobs import evaluated_not_installed, imagenet_start_note, training_presets
from rehab_core.training import ExperimentSettings

SHIPPED = Path(__file__).resolve().parents[2] / "weights"


def test_the_shipped_budget_is_what_the_default_bundle_records():
    manifest = json.loads((SHIPPED / "shufflenet_lstm" / "manifest.json").read_text())
    trained = manifest["training"]["settings"]
    imaging = manifest["preprocessing"]["imaging"]
    shipped, paper = training_presets(SHIPPED)
    assert (shipped.name, paper.name) == ("shipped", "paper")
    for key in ("n_folds", "epochs", "patience", "signal_epochs", "test_fraction", "pretrained"):
        assert shipped.experiment[key] == trained[key], key
    assert shipped.imaging["image_size"] == imaging["image_size"]
    assert list(shipped.imaging["slice_range_mm"]) == imaging["slice_range_mm"]
    assert shipped.imaging["slice_step"] == imaging["slice_step"]
    assert shipped.signal_input == manifest["preprocessing"]["signals"]["representation"]
    # the sentence is made from the same values (today: 112 px, z -40..+40 every second, 3 folds)
    assert shipped.sentence == (
        f"As the installed models were trained: {imaging['image_size']}-pixel slices, every "
        f"second slice from z = -40 to +40 mm, {trained['n_folds']} folds, up to "
        f"{trained['epochs']} epochs for the image models and {trained['signal_epochs']} for "
        "the LSTM, no ImageNet weights."
    )


def test_the_paper_budget_is_the_package_defaults_with_raw_lstm_input():
    (paper,) = [p for p in training_presets(SHIPPED) if p.name == "paper"]
    defaults = ExperimentSettings()
    assert paper.experiment["n_folds"] == defaults.n_folds == 5
    assert paper.experiment["epochs"] == defaults.epochs == 50
    assert paper.experiment["pretrained"] is True
    assert paper.imaging == {
        "image_size": ImagingSettings().image_size,
        "slice_range_mm": None,
        "slice_step": 1,
    }
    assert paper.imaging["image_size"] == 224 and paper.signal_input == "raw"
    assert paper.sentence.startswith("224-pixel slices, every screened slice, 5 folds")


def test_without_a_shipped_bundle_only_the_paper_budget_is_offered(tmp_path):
    assert [p.name for p in training_presets(tmp_path)] == ["paper"]
    (tmp_path / "shufflenet_lstm").mkdir()
    (tmp_path / "shufflenet_lstm" / "manifest.json").write_text("{not json")
    assert [p.name for p in training_presets(tmp_path)] == ["paper"]


def test_models_evaluated_but_not_installed(tmp_path):
    assert evaluated_not_installed(SHIPPED) == ["resnet50_lstm"]  # 141 MB even in float16
    assert evaluated_not_installed(tmp_path) == []  # no evaluation files: nothing to offer
    (tmp_path / "evaluation.json").write_text(json.dumps({"models": {"a_lstm": {}, "b_lstm": {}}}))
    (tmp_path / "external.json").write_text(json.dumps({"models": {"c_lstm": {}}}))
    (tmp_path / "b_lstm").mkdir()
    (tmp_path / "b_lstm" / "manifest.json").write_text("{}")  # installed: its manifest is there
    assert evaluated_not_installed(tmp_path) == ["a_lstm", "c_lstm"]
    (tmp_path / "external.json").write_text("[1, 2]")  # not a report: ignored, not a crash
    assert evaluated_not_installed(tmp_path) == ["a_lstm"]


@pytest.fixture
def no_imagenet_weights(hermetic_weights, tmp_path, monkeypatch):
    """No weights anywhere: empty caches (hermetic_weights) and an empty REHAB_PRETRAINED_DIR."""
    monkeypatch.setenv("REHAB_PRETRAINED_DIR", str(tmp_path / "pretrained"))
    (tmp_path / "pretrained").mkdir()
    return tmp_path / "pretrained"


def test_imagenet_start_note_offline_names_every_backbone_without_weights(
    no_imagenet_weights, monkeypatch
):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    note = imagenet_start_note(["shufflenet", "ghostnet", "resnet50"])
    assert note == (
        "This server works offline and holds no ImageNet weights for ShuffleNet, GhostNet and "
        "ResNet50, so they would start from random weights: put the weights in the folder "
        "REHAB_PRETRAINED_DIR names (as <name>.safetensors), or untick Start from ImageNet "
        "weights."
    )


def test_imagenet_start_note_online_says_the_job_downloads_them(no_imagenet_weights, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    monkeypatch.delenv("REHAB_OFFLINE", raising=False)
    note = imagenet_start_note(["fbnet"])
    assert note.startswith("This server holds no ImageNet weights for FBNet: the job downloads")


@pytest.mark.parametrize("name", ["fbnet", "ghostnet", "regnet", "resnet50", "shufflenet"])
def test_imagenet_weights_in_the_pretrained_folder_are_found_without_a_note(
    no_imagenet_weights, monkeypatch, name
):
    from rehab_core.models import imagenet_weights_on_this_machine

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert imagenet_weights_on_this_machine(name) is None
    (no_imagenet_weights / f"{name}.safetensors").write_bytes(b"")  # presence is what counts
    assert imagenet_weights_on_this_machine(name) == (
        f"file:{(no_imagenet_weights / f'{name}.safetensors').resolve()}"
    )
    assert imagenet_start_note([name]) is None


def test_imagenet_weights_in_the_torch_hub_cache_are_found(no_imagenet_weights, tmp_path):
    from rehab_core.models import imagenet_weights_on_this_machine

    checkpoints = tmp_path / "torch-home" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "shufflenetv2_x1-5666bf0f80.pth").write_bytes(b"")
    assert imagenet_weights_on_this_machine("shufflenet") == (
        "torch-hub-cache:shufflenetv2_x1-5666bf0f80.pth"
    )
    assert imagenet_weights_on_this_machine("lstm") is None  # no ImageNet weights exist
