"""The ids of the paper's five fusion models: an image backbone with the LSTM, one bundle each.

A weights bundle (``weights/<model id>/``) holds one fusion model; its id is
the backbone's name with ``_lstm`` (``shufflenet_lstm``). The dashboard, the
CLI and the jobs all name models with these ids.
"""

from __future__ import annotations

__all__ = ["DEFAULT_MODEL_ID", "FUSION_MODEL_IDS", "fusion_model_id"]


def fusion_model_id(backbone: str) -> str:
    """The id of the fusion model of one image backbone, e.g. ``shufflenet_lstm``."""
    return f"{backbone}_lstm"


#: The paper's five fusion models (Table 3), in the order its tables list them.
FUSION_MODEL_IDS: tuple[str, ...] = tuple(
    fusion_model_id(b) for b in ("shufflenet", "fbnet", "ghostnet", "regnet", "resnet50")
)

#: The model predictions use unless one is chosen (the paper's best: ShuffleNet_LSTM).
DEFAULT_MODEL_ID = fusion_model_id("shufflenet")
