"""Integrated Gradients for the signal model, and per-channel / per-time summaries.

Integrated Gradients (Sundararajan et al. 2017) attributes the difference
between the model's score on a window and on a baseline to every input
sample::

    attr = (x - x0) * integral_0^1 dF(x0 + a (x - x0)) / dx da

Here the integral is the trapezoid rule on ``steps`` equal intervals, and the
score ``F`` is the good-outcome logit (or its negation for ``"poor"``).  The
attributions then add up to ``F(x) - F(x0)`` (completeness) up to the
quadrature error.  The default baseline, zeros, is the per-channel mean of a
z-scored window: "no deviation from the channel's average".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from rehab_core._validation import check_int, check_option, check_positive
from rehab_core.explain._locks import model_lock

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["AttributionSummary", "attribution_summary", "integrated_gradients"]


def integrated_gradients(
    model: nn.Module,
    windows: np.ndarray | torch.Tensor,
    *,
    steps: int = 32,
    baseline: np.ndarray | torch.Tensor | None = None,
    target: Literal["good", "poor"] = "good",
    batch_size: int = 64,
) -> np.ndarray:
    """Integrated Gradients of a signal model's outcome logit over channels and time.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(batch, n_chans, n_times)`` to logits ``(batch, 1)`` (good
        outcome) or ``(batch, 2)`` (poor, good), e.g. ``create_model("lstm")``.
        Run in eval mode (dropout off); its mode is restored afterwards and
        its parameter gradients are left untouched.  Calls on one model
        object are serialised (a per-model lock).
    windows : ndarray or Tensor, shape (n_windows, n_chans, n_times), float
        Z-scored windows as ``rehab_core.signals`` makes them.  Not modified.
    steps : int
        Number of trapezoid intervals on the path from baseline to window
        (``steps + 1`` model evaluations per window).
    baseline : ndarray or Tensor or None
        Shape ``(n_chans, n_times)`` (one for all windows) or
        ``(n_windows, n_chans, n_times)``; ``None`` means zeros.
    target : {"good", "poor"}
        Attribute the good-outcome logit, or its negation (for two logits:
        logit 1 or logit 0).
    batch_size : int
        Interpolated windows per forward/backward pass (memory bound).

    Returns
    -------
    attributions : ndarray, shape (n_windows, n_chans, n_times), float32
        In logit units; positive values push towards ``target``.  Their sum
        over channels and time approximates ``F(window) - F(baseline)``.
    """
    import torch

    check_option("target", target, ("good", "poor"))
    check_int("steps", steps, low=1)
    check_int("batch_size", batch_size, low=1)
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None else torch.float32
    windows_t = _as_tensor("windows", windows, ndims=(3,))
    baseline_t = None if baseline is None else _as_tensor("baseline", baseline, ndims=(2, 3))
    if baseline_t is not None and (
        tuple(baseline_t.shape[-2:]) != tuple(windows_t.shape[1:])
        or (baseline_t.ndim == 3 and baseline_t.shape[0] != windows_t.shape[0])
    ):
        raise ValueError(
            f"baseline has shape {tuple(baseline_t.shape)}; expected {tuple(windows_t.shape[1:])} "
            f"or {tuple(windows_t.shape)}."
        )

    with model_lock(model):
        was_training = model.training
        model.eval()
        try:
            # inference_mode(False) + enable_grad: works under the caller's no_grad/inference_mode,
            # and every tensor made here is a normal (not an inference) tensor.
            with torch.inference_mode(False), torch.enable_grad(), _cudnn_off_for_rnn(device):
                x = windows_t.to(device=device, dtype=dtype).clone()
                x0 = (
                    torch.zeros_like(x)
                    if baseline_t is None
                    else (baseline_t.to(device=device, dtype=dtype).clone().expand_as(x))
                )
                n_windows = x.shape[0]
                alphas = torch.linspace(0.0, 1.0, steps + 1, device=device, dtype=dtype)
                weights = torch.full((steps + 1,), 1.0 / steps, device=device, dtype=dtype)
                weights[0] = weights[-1] = 0.5 / steps  # trapezoid rule
                # every (window, alpha) pair once, window-major, batch_size pairs per pass
                pairs_window = torch.arange(n_windows, device=device).repeat_interleave(steps + 1)
                pairs_alpha = torch.arange(steps + 1, device=device).repeat(n_windows)
                sign = 1.0 if target == "good" else -1.0
                grad_sum = torch.zeros_like(x)
                for start in range(0, n_windows * (steps + 1), batch_size):
                    i = pairs_window[start : start + batch_size]
                    k = pairs_alpha[start : start + batch_size]
                    path = (
                        (x0[i] + alphas[k].view(-1, 1, 1) * (x[i] - x0[i]))
                        .detach()
                        .requires_grad_(True)
                    )
                    score = _score(model(path), target, sign)
                    (grad,) = torch.autograd.grad(score.sum(), path)  # leaves parameter .grad alone
                    grad_sum.index_add_(0, i, grad * weights[k].view(-1, 1, 1))
                attributions = ((x - x0) * grad_sum).detach()
        finally:
            model.train(was_training)
    return attributions.cpu().numpy().astype(np.float32)


def _score(logits: torch.Tensor, target: str, sign: float) -> torch.Tensor:
    if logits.ndim != 2 or logits.shape[1] not in (1, 2):
        raise ValueError(
            f"The model returns logits of shape {tuple(logits.shape)}; Integrated Gradients for an "
            "outcome needs (batch, 1) (good) or (batch, 2) (poor, good)."
        )
    if logits.shape[1] == 1:
        return sign * logits[:, 0]
    return logits[:, 1 if target == "good" else 0]


def _cudnn_off_for_rnn(device: torch.device):
    """cuDNN's RNN backward refuses eval mode; use the native kernels on CUDA."""
    import contextlib

    import torch

    if device.type == "cuda":
        return torch.backends.cudnn.flags(enabled=False)
    return contextlib.nullcontext()


def _as_tensor(
    name: str, array: np.ndarray | torch.Tensor, *, ndims: tuple[int, ...]
) -> torch.Tensor:
    import torch

    if isinstance(array, np.ndarray):
        if not np.issubdtype(array.dtype, np.floating):
            raise TypeError(f"{name} must hold floating-point values, got dtype {array.dtype}.")
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    elif isinstance(array, torch.Tensor):
        if not array.is_floating_point():
            raise TypeError(f"{name} must hold floating-point values, got dtype {array.dtype}.")
        tensor = array.detach()
    else:
        raise TypeError(
            f"{name} must be a numpy array or a torch tensor, got {type(array).__name__}."
        )
    if tensor.ndim not in ndims or 0 in tensor.shape:
        axes = " or ".join(f"{n}D" for n in ndims)
        raise ValueError(
            f"{name} has shape {tuple(tensor.shape)}; expected a non-empty {axes} array."
        )
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return tensor


@dataclasses.dataclass(frozen=True, eq=False)
class AttributionSummary:
    """Where the attributions lie: per channel, per time bin and both.

    Attributes
    ----------
    ch_names : tuple of str
        Channel names, in input order.
    bin_edges_s : ndarray, shape (n_bins + 1,)
        Bin edges in seconds from the window start.
    per_channel : ndarray, shape (n_chans,)
        Share of the total absolute attribution on each channel (sums to 1;
        all zeros when every attribution is 0).
    per_bin : ndarray, shape (n_bins,)
        Share of the total absolute attribution in each time bin (sums to 1).
    per_channel_bin : ndarray, shape (n_chans, n_bins)
        Share in each channel and bin (sums to 1).
    signed_per_channel : ndarray, shape (n_chans,)
        Sum of the signed attributions per channel, averaged over windows, in
        logit units: positive pushes towards the explained outcome.
    """

    ch_names: tuple[str, ...]
    bin_edges_s: np.ndarray
    per_channel: np.ndarray
    per_bin: np.ndarray
    per_channel_bin: np.ndarray
    signed_per_channel: np.ndarray


def attribution_summary(
    attr: np.ndarray,
    ch_names: Sequence[str],
    sfreq: float,
    n_bins: int,
) -> AttributionSummary:
    """Summarise attributions per channel and per equal time bin.

    Parameters
    ----------
    attr : ndarray, shape (n_windows, n_chans, n_times) or (n_chans, n_times)
        Attributions from :func:`integrated_gradients`.
    ch_names : sequence of str
        One name per channel.
    sfreq : float
        Sampling frequency of the windows in Hz (for the bin edges in seconds).
    n_bins : int
        Number of equal time bins, at most ``n_times`` (sample counts per bin
        differ by at most one when ``n_times`` is not a multiple).

    Returns
    -------
    AttributionSummary
        Shares of the absolute attribution (pooled over windows) and signed
        per-channel sums.
    """
    attr = np.asarray(attr)
    if not np.issubdtype(attr.dtype, np.floating):
        raise TypeError(f"attr must hold floating-point values, got dtype {attr.dtype}.")
    if attr.ndim == 2:
        attr = attr[None]
    if attr.ndim != 3 or 0 in attr.shape:
        raise ValueError(f"attr has shape {attr.shape}; expected (n_windows, n_chans, n_times).")
    if not np.isfinite(attr).all():
        raise ValueError("attr contains NaN or infinite values.")
    n_windows, n_chans, n_times = attr.shape
    ch_names = tuple(str(c) for c in ch_names)
    if len(ch_names) != n_chans:
        raise ValueError(f"attr has {n_chans} channels but {len(ch_names)} ch_names were given.")
    check_positive("sfreq", sfreq)
    check_int("n_bins", n_bins, low=1, high=n_times)

    edges = (np.arange(n_bins + 1) * n_times) // n_bins  # strictly increasing sample indices
    magnitude = np.abs(attr.astype(np.float64)).sum(axis=0)  # (n_chans, n_times)
    per_channel_bin = np.add.reduceat(magnitude, edges[:-1], axis=1)  # (n_chans, n_bins)
    total = per_channel_bin.sum()
    shares = per_channel_bin / total if total > 0 else np.zeros_like(per_channel_bin)
    return AttributionSummary(
        ch_names=ch_names,
        bin_edges_s=edges / float(sfreq),
        per_channel=shares.sum(axis=1),
        per_bin=shares.sum(axis=0),
        per_channel_bin=shares,
        signed_per_channel=attr.astype(np.float64).sum(axis=2).mean(axis=0),
    )
