"""The registered models: the paper's five image backbones and its LSTM.

One small entry each.  Builders import torch/timm/torchvision only when called.

RegNet: the paper does not say which RegNet; ``regnety_008`` (RegNetY-800MF,
6.3 M parameters, 0.8 GFLOPs, pycls ImageNet weights) is chosen because the
other backbones it is compared with are the lightweight ones (FBNet-C,
GhostNet 1.0, ShuffleNet V2 1.0, all < 0.4 GFLOPs; ResNet50 is the one large
model), and the Y variant (with squeeze-excitation) is the RegNet design the
RegNet authors recommend.

Dropout keeps each architecture's own default (``drop_rate``: 0.2 before
GhostNet's classifier, as published; 0 for the others and for the LSTM, whose
paper description has none); pass ``drop_rate=`` to change it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from rehab_core.models._registry import register_model

if TYPE_CHECKING:
    from torch import nn

    from rehab_core.models._registry import ModelInfo

__all__ = ["fbnet", "ghostnet", "lstm", "regnet", "resnet50", "shufflenet"]

_IMAGE = dict(
    kind="image",
    input_axes=("batch", "channel", "height", "width"),
    input_size=(3, 224, 224),
)


@register_model(
    display_name="ResNet50",
    source="timm",
    architecture="resnet50",
    pretrained_tag="a1_in1k",
    gradcam_layer="layer4",
    **_IMAGE,
)
def resnet50(info: ModelInfo, **kw: Any) -> nn.Module:
    from rehab_core.models._pretrained import build_timm_model

    return build_timm_model(info, **kw)


@register_model(
    display_name="FBNet",
    source="timm",
    architecture="fbnetc_100",
    pretrained_tag="rmsp_in1k",
    gradcam_layer="bn2",
    **_IMAGE,
)
def fbnet(info: ModelInfo, **kw: Any) -> nn.Module:
    from rehab_core.models._pretrained import build_timm_model

    return build_timm_model(info, **kw)


@register_model(
    display_name="GhostNet",
    source="timm",
    architecture="ghostnet_100",
    pretrained_tag="in1k",
    gradcam_layer="blocks",
    **_IMAGE,
)
def ghostnet(info: ModelInfo, **kw: Any) -> nn.Module:
    from rehab_core.models._pretrained import build_timm_model

    return build_timm_model(info, **kw)


@register_model(
    display_name="RegNet",
    source="timm",
    architecture="regnety_008",
    pretrained_tag="pycls_in1k",
    gradcam_layer="s4",
    **_IMAGE,
)
def regnet(info: ModelInfo, **kw: Any) -> nn.Module:
    from rehab_core.models._pretrained import build_timm_model

    return build_timm_model(info, **kw)


@register_model(
    display_name="ShuffleNet",
    source="torchvision",
    architecture="shufflenet_v2_x1_0",
    pretrained_tag="IMAGENET1K_V1",
    gradcam_layer="conv5",
    **_IMAGE,
)
def shufflenet(
    info: ModelInfo,
    *,
    n_outputs: int,
    pretrained: bool,
    weights_path: str | os.PathLike | None,
    drop_rate: float = 0.0,
) -> nn.Module:
    from torchvision.models import ShuffleNet_V2_X1_0_Weights

    from rehab_core.models._pretrained import pretrain_torchvision_model
    from rehab_core.models.shufflenet import ShuffleNetV2Classifier

    model = ShuffleNetV2Classifier(n_outputs=n_outputs, drop_rate=drop_rate)
    if not pretrained:
        model.pretrained_source = None
        return model
    weights = ShuffleNet_V2_X1_0_Weights[info.pretrained_tag]
    return pretrain_torchvision_model(
        model, info, weights, n_outputs=n_outputs, weights_path=weights_path, classifier="fc"
    )


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
def lstm(
    info: ModelInfo,
    *,
    n_outputs: int,
    pretrained: bool,
    weights_path: str | os.PathLike | None,
    **kw: Any,
) -> nn.Module:
    from rehab_core.models.lstm import LSTMClassifier

    if pretrained:
        raise ValueError(
            "The LSTM has no pretrained weights (the paper trains it from scratch); "
            "pass pretrained=False."
        )
    model = LSTMClassifier(n_outputs=n_outputs, **kw)
    model.pretrained_source = None
    return model
