"""torchvision's ShuffleNet V2 (1.0x) with timm's ``forward_features``/``forward_head``.

timm has no ShuffleNet, so this subclasses torchvision's model: parameter
names stay those of torchvision, and its ImageNet state dict loads unchanged.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.shufflenetv2 import ShuffleNetV2

from rehab_core._validation import check_range

__all__ = ["ShuffleNetV2Classifier"]

# torchvision.models.shufflenet_v2_x1_0
_STAGES_REPEATS = [4, 8, 4]
_STAGES_OUT_CHANNELS = [24, 116, 232, 464, 1024]


class ShuffleNetV2Classifier(ShuffleNetV2):
    """ShuffleNet V2 1.0x returning ``n_outputs`` logits.

    Parameters
    ----------
    n_outputs : int
        Number of logits (1: the logit of a good outcome).
    drop_rate : float
        Dropout probability on the pooled features before the classifier
        (timm's ``drop_rate``); 0 as in torchvision.

    Notes
    -----
    Input ``(batch, 3, height, width)``, ImageNet-normalised, 224 x 224 as
    pretrained.  ``forward_features`` gives ``(batch, 1024, height/32,
    width/32)``, the output of ``conv5`` (the Grad-CAM layer).
    """

    def __init__(self, n_outputs: int = 1, drop_rate: float = 0.0) -> None:
        check_range("drop_rate", drop_rate, 0.0, 1.0)
        super().__init__(_STAGES_REPEATS, _STAGES_OUT_CHANNELS, num_classes=n_outputs)
        self.num_classes = n_outputs
        self.num_features = _STAGES_OUT_CHANNELS[-1]
        self.drop_rate = drop_rate
        self.head_drop = nn.Dropout(drop_rate)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, 3, H, W)`` images to ``(batch, 1024, H/32, W/32)`` feature maps."""
        x = self.conv1(x)
        x = self.maxpool(x)
        x = self.stage2(x)
        x = self.stage3(x)
        x = self.stage4(x)
        return self.conv5(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global average pool, dropout, classifier: ``(batch, n_outputs)`` logits.

        With ``pre_logits=True`` the pooled ``(batch, 1024)`` features are returned.
        """
        x = self.head_drop(x.mean(dim=(2, 3)))
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
