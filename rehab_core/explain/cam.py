"""Grad-CAM heatmaps for the image backbones (pytorch-grad-cam, context-managed).

The CAM object is always used as ``with GradCAM(...) as cam:`` so its hooks
are removed even when a Streamlit rerun interrupts it; gradients are switched
on inside, whatever the caller's grad mode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from rehab_core._validation import check_int, check_option
from rehab_core.explain._locks import model_lock

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["OUTCOME_TARGETS", "gradcam"]

OUTCOME_TARGETS: tuple[str, ...] = ("good", "poor")


class _OutcomeTarget:
    """The score Grad-CAM differentiates, for one sample's logits ``(n_outputs,)``.

    One logit (the contract's "good outcome" logit): ``"good"`` is the logit
    and ``"poor"`` its negation (``BinaryClassifierOutputTarget`` with
    category 1 / 0).  Two logits: index 1 is good, 0 is poor
    (``ClassifierOutputTarget``).
    """

    def __init__(self, target: str) -> None:
        from pytorch_grad_cam.utils.model_targets import (
            BinaryClassifierOutputTarget,
            ClassifierOutputTarget,
        )

        category = 1 if target == "good" else 0
        self._binary = BinaryClassifierOutputTarget(category)
        self._classes = ClassifierOutputTarget(category)

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        n_outputs = model_output.shape[-1]
        if n_outputs == 1:
            return self._binary(model_output)
        if n_outputs == 2:
            return self._classes(model_output)
        raise ValueError(
            f"The model returns {n_outputs} logits per slice; Grad-CAM for a good or poor "
            "outcome needs 1 (the good-outcome logit) or 2 (poor, good)."
        )


def gradcam(
    model: nn.Module,
    name: str,
    slices: np.ndarray | torch.Tensor,
    target: Literal["good", "poor"] = "good",
    *,
    batch_size: int = 16,
) -> np.ndarray:
    """Grad-CAM heatmaps of the evidence for a good (or poor) outcome, one per slice.

    Parameters
    ----------
    model : torch.nn.Module
        An image model built by ``rehab_core.models.create_model(name)``.
        It is run in eval mode; its train/eval mode is restored afterwards and
        its parameter gradients are cleared (``.grad`` set to ``None``).
        Calls on one model object are serialised (a per-model lock), so two
        dashboard sessions sharing a cached model do not mix their hooks;
        do not run other forward passes of the same object meanwhile.
    name : str
        The model's registry name; its entry names the target layer.
    slices : ndarray or Tensor, shape (n_slices, 3, height, width)
        Floating-point model inputs (224 x 224, ImageNet-normalised, as
        ``rehab_core.imaging`` makes them).  Not modified.
    target : {"good", "poor"}
        Which outcome's evidence to show.  For a single logit, "poor" is the
        negated logit.
    batch_size : int
        Slices per forward/backward pass (memory bound).

    Returns
    -------
    heatmaps : ndarray, shape (n_slices, height, width), float32
        In [0, 1]; each slice scaled by its own maximum (pytorch-grad-cam's
        ``scale_cam_image``), so values compare within a slice, not across
        slices.  All zeros where no region supports the target.
    """
    import torch

    from rehab_core.models import get_gradcam_layer

    check_option("target", target, OUTCOME_TARGETS)
    _check_count("batch_size", batch_size)
    layer = get_gradcam_layer(model, name)
    x = _image_batch(slices)
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None else torch.float32
    outcome = _OutcomeTarget(target)

    with model_lock(model):
        return _gradcam_locked(model, name, layer, x, outcome, batch_size, device, dtype)


def _gradcam_locked(
    model: nn.Module,
    name: str,
    layer: nn.Module,
    x: torch.Tensor,
    outcome: _OutcomeTarget,
    batch_size: int,
    device: torch.device,
    dtype: torch.dtype,
) -> np.ndarray:
    import torch
    from pytorch_grad_cam import GradCAM

    was_training = model.training
    heatmaps: list[np.ndarray] = []
    try:
        # inference_mode(False) + enable_grad: works under the caller's no_grad/inference_mode.
        with torch.inference_mode(False), torch.enable_grad():
            with GradCAM(model=model, target_layers=[layer]) as cam:
                try:
                    for chunk in torch.split(x, batch_size):
                        # a fresh leaf that requires grad: the layer's output then
                        # carries gradients even if the caller froze the parameters
                        chunk = chunk.to(device=device, dtype=dtype).clone().requires_grad_(True)
                        heatmaps.append(cam(input_tensor=chunk, targets=[outcome] * len(chunk)))
                except IndexError as err:  # GradCAM.__exit__ would print and swallow it
                    raise RuntimeError(
                        f"Grad-CAM failed on layer {layer.__class__.__name__}: {err}"
                    ) from err
    finally:
        model.train(was_training)
        model.zero_grad(set_to_none=True)
    out = np.concatenate(heatmaps, axis=0).astype(np.float32, copy=False)
    if not np.isfinite(out).all():
        raise RuntimeError(
            f"Grad-CAM of {name!r} gave non-finite values; check the model's weights."
        )
    return np.clip(out, 0.0, 1.0)  # bilinear resizing stays in range; this only guards rounding


def _image_batch(slices: np.ndarray | torch.Tensor) -> torch.Tensor:
    import torch

    if isinstance(slices, np.ndarray):
        if not np.issubdtype(slices.dtype, np.floating):
            raise TypeError(f"slices must hold floating-point values, got dtype {slices.dtype}.")
        x = torch.from_numpy(np.ascontiguousarray(slices))
    elif isinstance(slices, torch.Tensor):
        if not slices.is_floating_point():
            raise TypeError(f"slices must hold floating-point values, got dtype {slices.dtype}.")
        x = slices.detach()
    else:
        raise TypeError(
            f"slices must be a numpy array or a torch tensor, got {type(slices).__name__}."
        )
    if x.ndim != 4 or x.shape[1] != 3 or x.shape[0] == 0:
        raise ValueError(
            f"slices has shape {tuple(x.shape)}; "
            "expected (n_slices, 3, height, width) with n_slices >= 1."
        )
    if not bool(torch.isfinite(x).all()):
        raise ValueError("slices contains NaN or infinite values; Grad-CAM needs finite inputs.")
    return x


def _check_count(name: str, value: int) -> None:
    check_int(name, value, low=1)
