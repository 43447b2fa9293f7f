"""The model registry: the paper's five fMRI-slice backbones and its EEG-EMG LSTM.

>>> from rehab_core.models import create_model, list_models
>>> list_models("image")
['fbnet', 'ghostnet', 'regnet', 'resnet50', 'shufflenet']
>>> model = create_model("shufflenet", n_outputs=1)  # doctest: +SKIP

Importing this package does not import torch; the model classes
(``LSTMClassifier``, ``ShuffleNetV2Classifier``) are loaded on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

from rehab_core.models import zoo as _zoo  # noqa: F401  (registers the entries)
from rehab_core.models._pretrained import (
    PretrainedWeightsWarning,
    imagenet_weights_on_this_machine,
    is_offline,
)
from rehab_core.models._registry import (
    ModelInfo,
    create_model,
    get_gradcam_layer,
    get_model_info,
    list_models,
    member_label,
    register_model,
)
from rehab_core.models.fusion_models import DEFAULT_MODEL_ID, FUSION_MODEL_IDS, fusion_model_id

__all__ = [
    "DEFAULT_MODEL_ID",
    "FUSION_MODEL_IDS",
    "LSTMClassifier",
    "ModelInfo",
    "PretrainedWeightsWarning",
    "ShuffleNetV2Classifier",
    "create_model",
    "fusion_model_id",
    "get_gradcam_layer",
    "get_model_info",
    "imagenet_weights_on_this_machine",
    "is_offline",
    "list_models",
    "member_label",
    "register_model",
]

_LAZY = {
    "LSTMClassifier": "rehab_core.models.lstm",
    "ShuffleNetV2Classifier": "rehab_core.models.shufflenet",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rehab_core.models' has no attribute {name!r}")
