"""What a result rests on, said plainly: synthetic data, ImageNet weights, the disclaimer.

Every sentence follows the bundle's manifest, through its model card
(:func:`rehab_core.report.model_card`: ``training_data.trained_on`` and
``architecture.imagenet_pretrained``), and the patient's pseudonym (the
one-click demo patient is ``DEMO-<seed>``); nothing here is hard-coded to the
shipped bundle. A card that does not say what its bundle was trained on (an
old stored card; a manifest without it is refused when read) is treated as
unvalidated, i.e. labelled like synthetic data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "DEMO_PREFIX",
    "demo_pseudonym",
    "imagenet_phrase",
    "is_demo_pseudonym",
    "plain_model_name",
    "report_disclaimer",
    "synthetic_banner",
    "trained_on",
]

DEMO_PREFIX = "DEMO-"
_DEMO = re.compile(rf"{DEMO_PREFIX}\d+")
_NETWORKS = {
    "shufflenet": "ShuffleNet",
    "mobilenet": "MobileNet",
    "resnet": "ResNet",
    "densenet": "DenseNet",
    "efficientnet": "EfficientNet",
    "fbnet": "FBNet",
    "ghostnet": "GhostNet",
    "regnet": "RegNet",
    "lstm": "LSTM",
}


def plain_model_name(model_id: str) -> str:
    """A model as a clinician reads it: ``"shufflenet_lstm"`` -> ``"ShuffleNet + LSTM"``.

    Also takes a manifest's ``display_name`` (``"ShuffleNet_LSTM"``); a trailing
    number is kept (``"resnet50_lstm"`` -> ``"ResNet50 + LSTM"``) and an unknown
    part is shown as written. The id itself belongs in technical details.
    """
    words = []
    for part in str(model_id).split("_"):
        stem = part.rstrip("0123456789")
        words.append(_NETWORKS.get(stem.lower(), stem) + part[len(stem) :])
    return " + ".join(words)


def demo_pseudonym(seed: int) -> str:
    """The pseudonym of the synthetic demo patient of ``seed``: ``"DEMO-<seed>"``."""
    return f"{DEMO_PREFIX}{int(seed)}"


def is_demo_pseudonym(pseudonym: str | None) -> bool:
    """Whether ``pseudonym`` is a synthetic demo patient's (``DEMO-<seed>``)."""
    return bool(_DEMO.fullmatch(str(pseudonym or "")))


def trained_on(card: Mapping[str, Any]) -> str | None:
    """``"synthetic"``, ``"real"``, or ``None`` when the card does not say."""
    value = (card.get("training_data") or {}).get("trained_on")
    return value if value in ("synthetic", "real") else None


def imagenet_phrase(card: Mapping[str, Any]) -> str:
    """How the image models started: ImageNet-pretrained, or from random weights."""
    pretrained = (card.get("architecture") or {}).get("imagenet_pretrained")
    if pretrained:
        return "an ImageNet-pretrained CNN"
    return "a CNN trained from random starting weights (not ImageNet-pretrained)"


def synthetic_banner(card: Mapping[str, Any], pseudonym: str | None = None) -> str | None:
    """The warning to show on a result, or ``None`` for a real-data bundle and a real patient.

    Parameters
    ----------
    card : mapping
        The model card of the bundle that predicted.
    pseudonym : str or None
        The patient's pseudonym (a ``DEMO-<seed>`` patient is synthetic).
    """
    parts = []
    source = trained_on(card)
    if source == "synthetic":
        parts.append(
            "This model was trained on synthetic (simulated) data, not on real patients: "
            "its result says nothing about a real patient."
        )
    elif source is None:
        parts.append(
            "This model's description does not say whether it was trained on real or "
            "synthetic data: treat its result as unvalidated."
        )
    if is_demo_pseudonym(pseudonym):
        parts.append("This is a synthetic demo patient: the recordings are simulated.")
    return " ".join(parts) or None


def report_disclaimer(card: Mapping[str, Any]) -> str:
    """The PDF's closing disclaimer, saying what this bundle was trained on."""
    source = trained_on(card)
    if source == "synthetic":
        data = "from models trained on a synthetic cohort"
    elif source == "real":
        n = (card.get("training_data") or {}).get("n_patients")
        data = (
            f"from models trained on {n} real patients"
            if n
            else "from models trained on real patients"
        )
    else:
        data = "from models whose training data is not stated"
    return (
        f"Research software, not a medical device. The probability and the FMA-LE estimate come "
        f"{data}; they are not validated for clinical use and must not be used for diagnosis, "
        "treatment or discharge decisions. They do not replace clinical judgement."
    )
