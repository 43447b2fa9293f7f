"""Batches for the training loop: the epoch sampler and the DataLoader over a dataset.

Kept apart from :mod:`rehab_core.training.loop` so that the throughput
benchmark (:mod:`rehab_core.training.throughput`) reads batches exactly as
training does without importing the loop (which imports the device helpers,
which import the throughput measurements: a circle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rehab_core.training._utils import augmentation_off
from rehab_core.training.seeding import seed_worker

if TYPE_CHECKING:
    import torch

    from rehab_core.training.settings import TrainSettings

__all__ = ["EpochSampler", "batch_augmented", "make_loader"]


def batch_augmented(ds: Any) -> bool:
    """Whether ``ds`` is read raw and augmented per batch (:class:`SliceDataset`)."""
    return callable(getattr(ds, "augment_batch", None)) and callable(getattr(ds, "read_item", None))


class EpochSampler:
    """Yields ``(epoch, index)`` pairs, so the epoch reaches persistent DataLoader workers."""

    def __init__(self, indices: Any) -> None:
        self.indices = indices
        self.epoch = 0

    def __iter__(self):
        epoch = self.epoch
        return ((epoch, i) for i in self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class _Stacked(tuple):
    """A batch already stacked by the dataset: :func:`_collate` passes it through."""


def _collate(data: Any) -> Any:
    """DataLoader ``collate_fn``: stacked batches as they are, lists of items the usual way."""
    from torch.utils.data import default_collate

    return tuple(data) if isinstance(data, _Stacked) else default_collate(data)


class _LoaderView:
    """What the DataLoader reads: ``ds[i]`` or, for batch-augmented data, ``ds.read_item(i)``.

    Runs inside the worker processes (a copy of ``ds`` each): a dataset with
    ``set_epoch`` is told the epoch carried by the index, and validation
    items are read with augmentation off, so neither depends on state that
    the main process changes after the workers started.
    """

    def __init__(self, ds: Any, *, train: bool) -> None:
        self.ds = ds
        self.train = train
        self.raw = batch_augmented(ds)
        self._epoch: int | None = None

    def __len__(self) -> int:
        return len(self.ds)

    def __getitems__(self, keys: list[tuple[int, int]]) -> Any:
        """A whole batch (the DataLoader asks so): stacked in one copy when ``ds`` can."""
        if self.raw and callable(getattr(self.ds, "read_items", None)):
            return _Stacked(self.ds.read_items([i for _, i in keys]))
        return [self[key] for key in keys]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, i = key
        if self.raw:
            return self.ds.read_item(i)
        if not self.train:
            with augmentation_off(self.ds):
                return self.ds[i]
        if epoch != self._epoch and hasattr(self.ds, "set_epoch"):
            self.ds.set_epoch(epoch)
            self._epoch = epoch
        return self.ds[i]


def make_loader(
    ds: Any,
    sampler: EpochSampler,
    batch_size: int,
    settings: TrainSettings,
    device: torch.device,
    *,
    train: bool,
) -> Any:
    import torch

    workers = settings.num_workers
    return torch.utils.data.DataLoader(
        _LoaderView(ds, train=train),
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        worker_init_fn=seed_worker if workers else None,
        generator=torch.Generator(),
        collate_fn=_collate,
    )
