"""The registry: one smoke test over every registered model, and the entries' contract."""

from __future__ import annotations

import pytest
import torch

from rehab_core.models import (
    ModelInfo,
    create_model,
    get_gradcam_layer,
    get_model_info,
    list_models,
    register_model,
)

# Built from the registry itself, so a new entry is smoke-tested automatically.
ALL_MODELS = list_models()
IMAGE_MODELS = list_models("image")
PAPER_IMAGE_MODELS = {"resnet50", "fbnet", "ghostnet", "regnet", "shufflenet"}
SMOKE_SPATIAL = 32  # small images keep the smoke test fast; Grad-CAM tests run 224
SMOKE_N_TIMES = 50


def _smoke_input(name: str, batch: int = 2) -> torch.Tensor:
    info = get_model_info(name)
    size = [
        SMOKE_SPATIAL if s == 224 else (SMOKE_N_TIMES if s is None else s) for s in info.input_size
    ]
    return torch.randn(batch, *size)


def test_registry_lists_the_paper_models():
    assert set(IMAGE_MODELS) == PAPER_IMAGE_MODELS
    assert list_models("signal") == ["lstm"]
    assert ALL_MODELS == sorted(PAPER_IMAGE_MODELS | {"lstm"})


@pytest.mark.parametrize("name", ALL_MODELS)
def test_smoke(name, tmp_path):
    """Shapes, the features/head split, gradients, the Grad-CAM layer, safetensors."""
    from safetensors.torch import load_file, save_model

    info = get_model_info(name)
    model = create_model(name, n_outputs=2)
    assert model.pretrained_source is None
    assert model.model_info == info
    x = _smoke_input(name)

    model.eval()
    cam_outputs = []
    if info.kind == "image":  # every image entry names a layer that gives a feature map
        layer = get_gradcam_layer(model, name)
        handle = layer.register_forward_hook(
            lambda module, inputs, output: cam_outputs.append(output.shape)
        )
    with torch.no_grad():
        logits = model(x)
        if info.kind == "image":
            handle.remove()
        features = model.forward_features(x)
        torch.testing.assert_close(model.forward_head(features), logits)
    assert logits.shape == (2, 2)
    assert torch.isfinite(logits).all()
    if info.kind == "image":
        assert len(cam_outputs) == 1 and len(cam_outputs[0]) == 4  # (batch, channels, h, w)
        assert cam_outputs[0][1] == features.shape[1]  # the last feature map
    else:
        assert info.gradcam_layer is None

    model.train()
    model(x).sum().backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert no_grad == []
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())

    path = tmp_path / f"{name}.safetensors"
    save_model(model, str(path))  # refuses shared tensors
    loaded = load_file(str(path))
    state = model.state_dict()
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], state[k]) for k in state)


def test_signal_models_have_no_gradcam_layer():
    model = create_model("lstm")
    with pytest.raises(
        ValueError, match="'lstm' has no Grad-CAM layer; explain signal models with"
    ):
        get_gradcam_layer(model, "lstm")


def test_gradcam_layer_of_another_model_is_refused():
    model = create_model("lstm")
    with pytest.raises(
        ValueError,
        match=r"The model has no layer 'layer4'; pass the model that create_model\('resnet50'\)",
    ):
        get_gradcam_layer(model, "resnet50")


def test_unknown_name_suggests_the_closest():
    with pytest.raises(
        ValueError,
        match=r"name='resnet5' is not allowed; choose one of .*Did you mean 'resnet50'\?",
    ):
        create_model("resnet5")
    with pytest.raises(
        ValueError, match=r"name='shufflenet_v2' is not allowed.*Did you mean 'shufflenet'\?"
    ):
        get_model_info("shufflenet_v2")


def test_unknown_kind_is_refused():
    with pytest.raises(
        ValueError,
        match=r"kind='images' is not allowed; choose one of 'image', 'signal'\. "
        r"Did you mean 'image'\?",
    ):
        list_models("images")


@pytest.mark.parametrize(
    ("n_outputs", "error", "match"),
    [
        (0, ValueError, r"n_outputs=0 must be at least 1"),
        (-1, ValueError, r"n_outputs=-1 must be at least 1"),
        (1.0, TypeError, r"n_outputs must be a whole number, got 1.0"),
        (True, TypeError, r"n_outputs must be a whole number, got True"),
    ],
)
def test_n_outputs_must_be_a_positive_int(n_outputs, error, match):
    with pytest.raises(error, match=match):
        create_model("lstm", n_outputs=n_outputs)


def test_weights_path_needs_pretrained(tmp_path):
    with pytest.raises(ValueError, match="is only read with pretrained=True"):
        create_model("regnet", weights_path=tmp_path / "regnet.safetensors")


def test_lstm_has_no_pretrained_weights():
    with pytest.raises(ValueError, match="The LSTM has no pretrained weights"):
        create_model("lstm", pretrained=True)


def test_model_info_round_trips_through_json():
    import json

    for name in ALL_MODELS:
        info = get_model_info(name)
        assert ModelInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info
    with pytest.raises(ValueError, match="ModelInfo has no field"):
        ModelInfo.from_dict({**get_model_info("lstm").to_dict(), "colour": "red"})
    info = get_model_info("shufflenet")
    assert (info.display_name, info.source, info.architecture) == (
        "ShuffleNet",
        "torchvision",
        "shufflenet_v2_x1_0",
    )
    assert get_model_info("regnet").architecture == "regnety_008"


def test_duplicate_registration_is_refused():
    with pytest.raises(ValueError, match="A model named 'lstm' is already registered"):

        @register_model(
            kind="signal",
            display_name="LSTM",
            source="rehab_core",
            architecture="lstm",
            pretrained_tag=None,
            gradcam_layer=None,
            input_axes=("batch", "n_chans", "n_times"),
            input_size=(22, None),
        )
        def lstm(info, **kw):  # pragma: no cover - never called
            raise AssertionError


def test_register_checks_the_input_description():
    with pytest.raises(
        ValueError, match=r"input_axes=\('batch', 'x'\) must name the batch axis plus one axis"
    ):
        register_model(
            kind="image",
            display_name="X",
            source="timm",
            architecture="x",
            pretrained_tag=None,
            gradcam_layer=None,
            input_axes=("batch", "x"),
            input_size=(3, 224, 224),
        )


def test_image_models_take_drop_rate():
    for name in ("shufflenet", "regnet"):
        model = create_model(name, drop_rate=0.5)
        assert model.drop_rate == 0.5


def test_import_does_not_load_torch():
    import subprocess
    import sys
    from pathlib import Path

    code = "import sys, rehab_core.models as m; m.list_models(); print('torch' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("member", "label"),
    [
        ("lstm/fold0", "LSTM, fold 1"),
        ("shufflenet/fold2", "ShuffleNet, fold 3"),
        ("resnet50/full", "ResNet50, full"),
        ("regnet", "RegNet"),
        ("unknown/fold0", "unknown, fold 1"),
    ],
)
def test_member_label_names_the_model_and_counts_folds_from_one(member, label):
    from rehab_core.models import member_label

    assert member_label(member) == label
