"""Small helpers shared by the training loop and prediction."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["as_logits", "augmentation_off"]


@contextlib.contextmanager
def augmentation_off(ds: Any) -> Iterator[None]:
    """Read ``ds`` without augmentation inside the block, restoring its mode afterwards.

    Applies to datasets with a ``training`` flag and a ``train(mode)`` method
    (:class:`~rehab_core.training.SliceDataset`); others are left alone.
    """
    had_mode = hasattr(ds, "training") and hasattr(ds, "train")
    previous = ds.training if had_mode else None
    if had_mode:
        ds.train(False)
    try:
        yield
    finally:
        if had_mode:
            ds.train(previous)


def as_logits(output: torch.Tensor, n: int) -> torch.Tensor:
    """Return the model output for a batch of ``n`` as a logit vector, shape (n,).

    Accepts ``(n, 1)`` (the package's models) or ``(n,)``; refuses anything
    else, e.g. two-class outputs.
    """
    if output.shape == (n, 1):
        return output[:, 0]
    if output.shape == (n,):
        return output
    raise ValueError(
        f"the model returned shape {tuple(output.shape)} for a batch of {n}; a binary outcome "
        f"model must return logits of shape ({n}, 1). Build it with n_outputs=1."
    )
