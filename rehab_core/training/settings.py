"""Training settings (Shi et al. 2025, section 2.7): one model's, a whole experiment's; devices."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from rehab_core._config import Settings
from rehab_core._validation import check_int, check_option, check_positive, check_range
from rehab_core.training.augmentation import SliceAugmentation

if TYPE_CHECKING:
    import torch

__all__ = [
    "AMP_MODES",
    "OPTIMIZERS",
    "ExperimentSettings",
    "TrainSettings",
    "resolve_amp",
    "select_device",
]

OPTIMIZERS = ("adam", "adamw")
AMP_MODES = ("auto", "off", "bf16", "fp16")


@dataclasses.dataclass(frozen=True)
class TrainSettings(Settings):
    """How :func:`~rehab_core.training.fit_model` trains a model.

    Defaults follow Shi et al. (2025), section 2.7 and 2.6.1: 50 epochs, Adam
    at a learning rate of 1e-3 adjusted after every epoch from the
    validation loss, early stopping.  The paper gives no schedule factor or
    patience; ours are stated here.

    Parameters
    ----------
    epochs : int
        Maximum number of epochs.
    lr : float
        Initial learning rate.
    optimizer : {"adam", "adamw"}
        Optimiser; the paper used Adam.
    weight_decay : float
        L2 (Adam) or decoupled (AdamW) weight decay.
    batch_size : int
        Items per optimiser step: 32 for signal windows and 16 for image
        slices in the paper (see :meth:`for_signals`, :meth:`for_images`).
        The global batch: under DistributedDataParallel each of the ``W``
        processes reads ``batch_size / W`` items (it must divide evenly), so
        the batch, and with it the learning rate's meaning, does not depend
        on the number of GPUs.
    lr_factor : float
        ``ReduceLROnPlateau`` multiplies the learning rate by this factor ...
    lr_patience : int
        ... after this many epochs without a lower validation loss.
    min_lr : float
        The learning rate is never reduced below this.
    early_stopping_patience : int
        Stop after this many epochs without a validation loss lower than the
        best by more than ``min_delta``; the best weights are restored.
    min_delta : float
        Smallest decrease of the validation loss that counts as better.
    grad_clip_norm : float or None
        Clip the global gradient norm to this value (None: no clipping).
    seed : int
        Seed of weights, shuffling, dropout and augmentation.
    deterministic : bool
        Deterministic algorithms (:func:`~rehab_core.training.set_determinism`):
        ``CUBLAS_WORKSPACE_CONFIG``, no cuDNN autotuning, deterministic
        kernels.  Costs GPU speed (convolutions especially) and about
        24 MiB of GPU memory; False (the default) lets cuDNN autotune.  On
        the CPU, runs repeat bit for bit either way.
    num_workers : int
        DataLoader worker processes (0: load in the training process).  They
        are kept for the whole fit (persistent); items are read without
        augmentation (slices are augmented per batch on the training
        device), and a dataset's ``set_epoch`` reaches them each epoch.
    amp : {"auto", "off", "bf16", "fp16"}
        Mixed precision. ``"auto"`` is fp16 autocast with gradient scaling
        on CUDA and full precision on CPU and MPS.  fp16 rather than bf16:
        under CUDA autocast PyTorch runs cuDNN LSTMs in fp16 whatever the
        autocast dtype, so only fp16 with a ``GradScaler`` protects the
        LSTM's gradients from underflow.  ``"fp16"`` needs CUDA; ``"bf16"``
        (no scaling) also runs on CPU.
    device : str
        ``"auto"`` (CUDA, then MPS, then CPU), or a torch device string such
        as ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
    max_train_batches, max_val_batches : int or None
        Stop each epoch's training / validation after this many batches
        (quick smoke runs); None: the whole set.
    """

    epochs: int = 50
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    batch_size: int = 32
    lr_factor: float = 0.5
    lr_patience: int = 3
    min_lr: float = 1e-6
    early_stopping_patience: int = 8
    min_delta: float = 0.0
    grad_clip_norm: float | None = None
    seed: int = 0
    deterministic: bool = False
    num_workers: int = 0
    amp: str = "auto"
    device: str = "auto"
    max_train_batches: int | None = None
    max_val_batches: int | None = None

    def __post_init__(self) -> None:
        check_int("epochs", self.epochs, low=1)
        check_positive("lr", self.lr)
        check_option("optimizer", self.optimizer, OPTIMIZERS)
        check_positive("weight_decay", self.weight_decay, strict=False)
        check_int("batch_size", self.batch_size, low=1)
        check_positive("lr_factor", self.lr_factor)
        if self.lr_factor >= 1:
            raise ValueError(
                f"lr_factor={self.lr_factor!r} must be below 1 so the learning rate goes down."
            )
        check_int("lr_patience", self.lr_patience, low=0)
        check_positive("min_lr", self.min_lr, strict=False)
        check_int("early_stopping_patience", self.early_stopping_patience, low=1)
        check_positive("min_delta", self.min_delta, strict=False)
        if self.grad_clip_norm is not None:
            check_positive("grad_clip_norm", self.grad_clip_norm)
        check_int("seed", self.seed, low=0)
        if not isinstance(self.deterministic, bool):
            raise TypeError(f"deterministic must be True or False, got {self.deterministic!r}.")
        check_int("num_workers", self.num_workers, low=0)
        check_option("amp", self.amp, AMP_MODES)
        if not isinstance(self.device, str) or not self.device:
            raise ValueError(
                f"device={self.device!r} must be 'auto' or a device name such as 'cpu' or 'cuda:0'."
            )
        if self.max_train_batches is not None:
            check_int("max_train_batches", self.max_train_batches, low=1)
        if self.max_val_batches is not None:
            check_int("max_val_batches", self.max_val_batches, low=1)

    @classmethod
    def for_signals(cls, **changes: Any) -> TrainSettings:
        """Settings for EEG-EMG windows (batch size 32, as in the paper)."""
        return cls(**{"batch_size": 32, **changes})

    @classmethod
    def for_images(cls, **changes: Any) -> TrainSettings:
        """Settings for fMRI slices (batch size 16, as in the paper)."""
        return cls(**{"batch_size": 16, **changes})


@dataclasses.dataclass(frozen=True)
class ExperimentSettings(Settings):
    """How :func:`rehab_core.workflows.train.train_experiment` trains a cohort.

    Parameters
    ----------
    backbones : tuple of str
        Image backbones to train (each gives one fusion model with the LSTM).
    n_folds : int
        Folds over the development patients: one ensemble member per fold.
    test_fraction : float
        Fraction of patients held out for the final test (paper: 0.15); 0
        evaluates by cross-validation over the whole cohort instead.
    inner_val_fraction : float
        Fraction of each fold's training patients used for early stopping.
    seed : int
        Seed of the splits, initialisations, shuffling and augmentation.
    pretrained : bool
        Start image backbones from ImageNet weights (paper: transfer learning).
    epochs, patience : int
        Maximum epochs and early-stopping patience (paper: 50 epochs).
    signal_epochs, signal_patience : int | None
        The same for the LSTM alone when it should differ from the image
        models (``None``: ``epochs`` / ``patience``). An LSTM epoch on
        envelope windows costs about a second on a CPU where a ShuffleNet epoch
        costs minutes, so a CPU budget can give it the paper's 50 epochs.
    signal_batch_size, image_batch_size : int
        Paper: 32 windows and 16 slices.
    lr : float
        Adam's initial learning rate (paper: 1e-3).
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``...
    max_train_batches : int | None
        Cap on batches per epoch (smoke runs only).
    augmentation : SliceAugmentation or None
        Online augmentation of the image models' training slices (applied
        per batch on the training device); recorded in every manifest with
        these settings.  None: no augmentation.
    num_workers : int
        DataLoader worker processes per fit (see :class:`TrainSettings`).
    deterministic : bool
        Deterministic algorithms (slower on a GPU; see :class:`TrainSettings`).
    """

    backbones: tuple[str, ...] = ("shufflenet",)
    n_folds: int = 5
    test_fraction: float = 0.15
    inner_val_fraction: float = 0.15
    seed: int = 0
    pretrained: bool = True
    epochs: int = 50
    patience: int = 8
    signal_epochs: int | None = None
    signal_patience: int | None = None
    signal_batch_size: int = 32
    image_batch_size: int = 16
    lr: float = 1e-3
    device: str = "auto"
    max_train_batches: int | None = None
    augmentation: SliceAugmentation | None = dataclasses.field(default_factory=SliceAugmentation)
    num_workers: int = 0
    deterministic: bool = False

    def __post_init__(self) -> None:
        from rehab_core.models import list_models

        if isinstance(self.augmentation, dict):  # read back from JSON (a job, a manifest)
            object.__setattr__(self, "augmentation", SliceAugmentation.from_dict(self.augmentation))
        if self.augmentation is not None and not isinstance(self.augmentation, SliceAugmentation):
            raise TypeError(
                f"augmentation must be a SliceAugmentation or None, "
                f"got {type(self.augmentation).__name__}."
            )
        for b in self.backbones:
            check_option("backbones", b, list_models("image"))
        if not self.backbones:
            raise ValueError("backbones is empty; name at least one image backbone.")
        check_int("n_folds", self.n_folds, low=2)
        check_range("test_fraction", self.test_fraction, 0.0, 0.5)
        check_range("inner_val_fraction", self.inner_val_fraction, 0.05, 0.5)
        for key in ("signal_epochs", "signal_patience"):
            if getattr(self, key) is not None:
                check_int(key, getattr(self, key), low=1)
        # refused here, before a job preprocesses a cohort, not at its first member's fit
        check_int("num_workers", self.num_workers, low=0)
        if not isinstance(self.deterministic, bool):
            raise TypeError(f"deterministic must be True or False, got {self.deterministic!r}.")

    def member_settings(self, kind: str, seed: int) -> TrainSettings:
        """The :class:`TrainSettings` of one ensemble member (``kind`` "signal" or "image")."""
        check_option("kind", kind, ("signal", "image"))
        signal = kind == "signal"
        common = {
            "epochs": self.signal_epochs if signal and self.signal_epochs else self.epochs,
            "early_stopping_patience": (
                self.signal_patience if signal and self.signal_patience else self.patience
            ),
            "lr": self.lr,
            "seed": seed,
            "device": self.device,
            "max_train_batches": self.max_train_batches,
            "num_workers": self.num_workers,
            "deterministic": self.deterministic,
        }
        if signal:
            return TrainSettings.for_signals(batch_size=self.signal_batch_size, **common)
        return TrainSettings.for_images(batch_size=self.image_batch_size, **common)


def select_device(preference: str = "auto") -> torch.device:
    """Return the torch device to compute on.

    Parameters
    ----------
    preference : str
        ``"auto"``: the first CUDA device if there is one, else Apple MPS if
        available, else the CPU.  Anything else is a torch device string
        (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``) that must be
        available on this machine; it is never silently replaced.

    Returns
    -------
    torch.device
    """
    import torch

    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(preference)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"device={preference!r} is not a device name; "
            f"use 'auto', 'cpu', 'cuda', 'cuda:0' or 'mps'."
        ) from err
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={preference!r} but no CUDA GPU is available; use 'auto' or 'cpu'."
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={preference!r} but only {torch.cuda.device_count()} CUDA device(s) exist."
            )
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(
                f"device={preference!r} but Apple MPS is not available; use 'auto' or 'cpu'."
            )
    elif device.type != "cpu":
        raise ValueError(
            f"device={preference!r} is not supported; use 'auto', 'cpu', 'cuda' or 'mps'."
        )
    return device


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """Return the autocast dtype for ``amp`` on ``device``, or None for full precision.

    ``"auto"`` means fp16 on CUDA (trained with a ``GradScaler``) and full
    precision elsewhere; ``"bf16"`` also runs under CPU autocast; ``"fp16"``
    needs CUDA.
    """
    import torch

    check_option("amp", amp, AMP_MODES)
    if amp == "off":
        return None
    if amp == "auto":
        if device.type != "cuda":
            return None
        return torch.float16
    if amp == "fp16":
        if device.type != "cuda":
            raise ValueError(
                f"amp='fp16' needs a CUDA device, but training runs on {device}; "
                f"use 'auto' or 'off'."
            )
        return torch.float16
    if device.type == "mps":
        raise ValueError("amp='bf16' is not supported on MPS; use 'auto' or 'off'.")
    return torch.bfloat16
