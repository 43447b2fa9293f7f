"""The model registry: one small decorated entry per architecture (after timm).

This module imports no torch, so listing the models or reading an entry is
cheap; building one (``create_model``) imports the heavy libraries it needs.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from rehab_core._validation import check_int, check_option

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "ModelInfo",
    "create_model",
    "get_gradcam_layer",
    "get_model_info",
    "list_models",
    "member_label",
    "register_model",
]

ModelKind = Literal["image", "signal"]
MODEL_KINDS: tuple[str, ...] = ("image", "signal")


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about one model, as plain data.

    Not a :class:`~rehab_core._config.Settings` (it configures nothing, and
    ``Settings.to_dict`` reserves the key ``"kind"`` for the class name, which
    this entry needs for the model kind); ``to_dict``/``from_dict`` give the
    same JSON round trip.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"shufflenet"``.
    kind : {"image", "signal"}
        ``"image"`` models take ``(batch, 3, height, width)`` fMRI slices,
        ``"signal"`` models take ``(batch, n_chans, n_times)`` EEG-EMG windows.
    display_name : str
        Name for tables and the dashboard, as in the paper (``"ShuffleNet"``).
    source : {"timm", "torchvision", "rehab_core"}
        The library that defines the architecture.
    architecture : str
        The exact architecture id in ``source`` (``"fbnetc_100"``,
        ``"shufflenet_v2_x1_0"``).
    pretrained_tag : str or None
        The ImageNet weights that ``pretrained=True`` asks for: a timm
        pretrained tag (``"a1_in1k"``) or a torchvision weights enum member
        (``"IMAGENET1K_V1"``); ``None`` when the model has no pretrained weights.
    gradcam_layer : str or None
        Dotted attribute path of the Grad-CAM target layer inside the built
        model (resolve it with :func:`get_gradcam_layer`); ``None`` for models
        that are explained otherwise (the LSTM: Integrated Gradients).
    input_axes : tuple of str
        Names of the input axes, batch first.
    input_size : tuple of int or None
        Expected size of each non-batch axis; ``None`` where any size works.
    """

    name: str
    kind: str
    display_name: str
    source: str
    architecture: str
    pretrained_tag: str | None
    gradcam_layer: str | None
    input_axes: tuple[str, ...]
    input_size: tuple[int | None, ...]

    def __post_init__(self) -> None:
        # JSON gives lists back; keep the entry hashable and equal to the original.
        object.__setattr__(self, "input_axes", tuple(self.input_axes))
        object.__setattr__(self, "input_size", tuple(self.input_size))

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON-ready builtins (tuples become lists)."""
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in dataclasses.fields(self)
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelInfo:
        """Rebuild an entry from :meth:`to_dict` output; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"ModelInfo has no field(s) {', '.join(unknown)}.")
        return cls(**data)


_REGISTRY: dict[str, ModelInfo] = {}
_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register_model(
    *,
    kind: ModelKind,
    display_name: str,
    source: str,
    architecture: str,
    pretrained_tag: str | None,
    gradcam_layer: str | None,
    input_axes: tuple[str, ...],
    input_size: tuple[int | None, ...],
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register the decorated builder under its function name.

    The builder is called as ``builder(info, n_outputs=..., pretrained=...,
    weights_path=..., **kw)`` and must return the model with a
    ``pretrained_source`` attribute (``str`` or ``None``).
    """
    check_option("kind", kind, MODEL_KINDS)
    check_option("source", source, ("timm", "torchvision", "rehab_core"))
    if len(input_axes) != len(input_size) + 1:
        raise ValueError(
            f"input_axes={input_axes!r} must name the batch axis plus one axis per "
            f"entry of input_size={input_size!r}."
        )

    def decorator(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = builder.__name__
        if name in _REGISTRY:
            raise ValueError(f"A model named {name!r} is already registered.")
        _REGISTRY[name] = ModelInfo(
            name=name,
            kind=kind,
            display_name=display_name,
            source=source,
            architecture=architecture,
            pretrained_tag=pretrained_tag,
            gradcam_layer=gradcam_layer,
            input_axes=tuple(input_axes),
            input_size=tuple(input_size),
        )
        _BUILDERS[name] = builder
        return builder

    return decorator


def member_label(member: str) -> str:
    """An ensemble member's id in words: ``"lstm/fold0"`` -> ``"LSTM, fold 1"``.

    Training names members ``<registry name>/fold<k>`` (k from 0); pages show
    the model's display name and the fold counted from 1. An id of another
    shape is returned as it is.
    """
    name, _, fold = member.partition("/")
    display = _REGISTRY[name].display_name if name in _REGISTRY else name
    if fold.startswith("fold") and fold[4:].isdigit():
        return f"{display}, fold {int(fold[4:]) + 1}"
    return display if not fold else f"{display}, {fold}"


def list_models(kind: ModelKind | None = None) -> list[str]:
    """Names of the registered models, sorted, optionally of one ``kind``.

    Parameters
    ----------
    kind : {"image", "signal"} or None
        Keep only models of this kind; ``None`` lists all.
    """
    if kind is not None:
        check_option("kind", kind, MODEL_KINDS)
    return sorted(n for n, info in _REGISTRY.items() if kind is None or info.kind == kind)


def get_model_info(name: str) -> ModelInfo:
    """The registry entry of ``name`` (an unknown name is refused with a suggestion)."""
    check_option("name", name, list_models())
    return _REGISTRY[name]


def create_model(
    name: str,
    *,
    n_outputs: int = 1,
    pretrained: bool = False,
    weights_path: str | None = None,
    **kw: Any,
) -> nn.Module:
    """Build a registered model (after ``timm.create_model``).

    Parameters
    ----------
    name : str
        A name from :func:`list_models`.
    n_outputs : int
        Number of logits; with the default 1 the logit is for a good outcome.
    pretrained : bool
        Start an image backbone from ImageNet weights, looked up in this
        order: ``weights_path``; ``$REHAB_PRETRAINED_DIR/<name>.safetensors``;
        the Hugging Face cache/hub (timm) or the torch hub cache/download
        (torchvision).  Offline (``HF_HUB_OFFLINE=1`` or ``REHAB_OFFLINE=1``)
        only local files and caches are used.  When none can be had a
        :class:`~rehab_core.models.PretrainedWeightsWarning` is issued and the
        model keeps its random initialisation.
    weights_path : str or path-like or None
        A local ``.safetensors`` (preferred), ``.pth`` or ``.bin`` file of the
        ImageNet weights of exactly this architecture; needs ``pretrained=True``.
        Its classifier is dropped when ``n_outputs`` differs from 1000.
    **kw
        Passed to the architecture: e.g. ``drop_rate`` (dropout before the
        classifier; default 0, GhostNet 0.2 as published) for every model;
        ``n_chans``, ``n_times``, ``sfreq``, ``hidden_sizes`` for the LSTM.

    Returns
    -------
    model : torch.nn.Module
        In training mode, on the CPU, returning logits ``(batch, n_outputs)``,
        with ``forward_features``/``forward_head``, and the attributes
        ``pretrained_source`` (``"hf-hub:<repo>"``, ``"file:<path>"``,
        ``"torchvision:<weights>"`` or ``None`` for random initialisation)
        and ``model_info`` (this entry's :class:`ModelInfo`).
    """
    info = get_model_info(name)
    check_int("n_outputs", n_outputs, low=1)
    if weights_path is not None and not pretrained:
        raise ValueError(
            f"{weights_path=} is only read with pretrained=True; "
            "pass pretrained=True or leave weights_path out."
        )
    model = _BUILDERS[name](
        info, n_outputs=n_outputs, pretrained=bool(pretrained), weights_path=weights_path, **kw
    )
    model.model_info = info
    return model


def get_gradcam_layer(model: nn.Module, name: str) -> nn.Module:
    """The Grad-CAM target layer of a model built by ``create_model(name)``.

    Parameters
    ----------
    model : torch.nn.Module
        The built model.
    name : str
        Its registry name; its entry's ``gradcam_layer`` path is resolved
        attribute by attribute (numeric parts index sequences).
    """
    info = get_model_info(name)
    if info.gradcam_layer is None:
        raise ValueError(
            f"Model {name!r} has no Grad-CAM layer; explain {info.kind} models with "
            "rehab_core.explain.integrated_gradients instead."
        )
    try:
        return functools.reduce(_child, info.gradcam_layer.split("."), model)
    except (AttributeError, IndexError, KeyError) as err:
        raise ValueError(
            f"The model has no layer {info.gradcam_layer!r}; "
            f"pass the model that create_model({name!r}) built."
        ) from err


def _child(module: Any, part: str) -> Any:
    return module[int(part)] if part.isdigit() else getattr(module, part)
