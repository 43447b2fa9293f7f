"""Online augmentation of fMRI slices, a whole batch at once on the training device.

The paper (Shi et al. 2025, section 2.7) rotates (-15 to 15 degrees), flips
and changes the brightness of training slices.  Real scans differ from one
another by more than that, even after registration to the template (issue
12): head size and position, the scanner's intensity scale and contrast, a
smooth coil bias field and noise.  :class:`SliceAugmentation` draws all of
these per slice; :func:`augment_batch` applies them to a batch
``(batch, channels, height, width)`` with a handful of tensor operations
(one ``affine_grid`` / ``grid_sample`` for the geometry, element-wise maps
for the intensities), so on a GPU a batch costs well under a millisecond
and never waits for the CPU.

Randomness comes from one ``torch.Generator`` on the batch's device: the
same generator state and input give the same output on the same device
(the CPU and a GPU draw different numbers).  ``fit_model`` seeds it from
``(seed, epoch, batch, rank)``, so a run, a resumed run and any number of
DataLoader workers see the same augmentation.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

from rehab_core._config import Settings
from rehab_core._validation import check_range

if TYPE_CHECKING:
    import torch

__all__ = ["SliceAugmentation", "augment_batch", "augment_slice"]

_N_DRAWS = 12  # uniform numbers per slice: 5 geometric, 2 intensity, 5 bias-field coefficients


@dataclasses.dataclass(frozen=True)
class SliceAugmentation(Settings):
    """Random changes of fMRI slices during training, each drawn per slice.

    Geometry (one bilinear resampling; what falls outside the slice is
    filled with each channel's minimum, the background of a scaled slice):

    Parameters
    ----------
    max_rotation_deg : float
        Rotation angle drawn from ``[-max_rotation_deg, max_rotation_deg]``
        degrees (paper: 15).
    flip_probability : float
        Probability of a left-right (last axis) flip (paper: 0.5).
    max_scale : float
        Zoom factor drawn from ``[1 - max_scale, 1 + max_scale]``: head
        size left after registration (0.1: +-10 %).
    max_shift : float
        Shift along each axis drawn from ``[-max_shift, max_shift]`` times
        the slice's width or height: residual misregistration (0.05: +-5 %,
        about 11 pixels or 9 mm of a 224-pixel slice of the MNI field).

    Intensity (about each channel's minimum, so the background stays):

    brightness : float
        Scale drawn from ``[1 - brightness, 1 + brightness]`` (paper: 0.1).
        Slices are already scaled to the ImageNet mean/std range, so
        torchvision's ``adjust_brightness`` (which clips to [0, 1]) would
        destroy them; scaling about the background level is its equivalent.
    gamma : float
        Contrast: ``(x - min) / (max - min)`` is raised to ``exp(g)`` with
        ``g`` drawn from ``[-gamma, gamma]`` (0.2: exponents 0.82 to 1.22),
        as scanners and sequences differ in contrast.
    bias_field : float
        A smooth multiplicative field ``exp(b(x, y))``, ``b`` a random
        second-order polynomial across the slice whose magnitude reaches
        at most ``bias_field`` (0.15: the intensity varies by up to about
        +-15 % from one side of the slice to the other), as a receive
        coil's sensitivity does; the same field for every channel of a slice.
    noise : float
        Gaussian noise with a standard deviation of ``noise`` times each
        channel's standard deviation.

    Notes
    -----
    Every range at 0 switches that change off; :meth:`only` builds settings
    with just the named changes and :meth:`paper` the paper's three.
    """

    max_rotation_deg: float = 15.0
    flip_probability: float = 0.5
    brightness: float = 0.1
    max_scale: float = 0.1
    max_shift: float = 0.05
    gamma: float = 0.2
    bias_field: float = 0.15
    noise: float = 0.03

    def __post_init__(self) -> None:
        check_range("max_rotation_deg", self.max_rotation_deg, 0.0, 180.0)
        check_range("flip_probability", self.flip_probability, 0.0, 1.0)
        check_range("brightness", self.brightness, 0.0, 1.0)
        check_range("max_scale", self.max_scale, 0.0, 0.5)
        check_range("max_shift", self.max_shift, 0.0, 0.5)
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_range("bias_field", self.bias_field, 0.0, 1.0)
        check_range("noise", self.noise, 0.0, 1.0)

    @classmethod
    def only(cls, **changes: Any) -> SliceAugmentation:
        """Settings with every change off except those given, e.g. ``only(max_rotation_deg=10)``."""
        off = {f.name: 0.0 for f in dataclasses.fields(cls)}
        return cls(**{**off, **changes})

    @classmethod
    def paper(cls) -> SliceAugmentation:
        """The paper's augmentation alone: rotation +-15 degrees, flip, brightness +-10 %."""
        return cls.only(max_rotation_deg=15.0, flip_probability=0.5, brightness=0.1)

    @property
    def moves(self) -> bool:
        """Whether any geometric change is on."""
        return bool(
            self.max_rotation_deg or self.flip_probability or self.max_scale or self.max_shift
        )


def _check_batch(x: Any) -> None:
    import torch

    if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
        shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        dtype = getattr(x, "dtype", "no dtype")
        raise ValueError(
            f"x must be a float tensor of shape (batch, n_channels, height, width), "
            f"got {dtype} of shape {shape}."
        )


def _affine(u: torch.Tensor, settings: SliceAugmentation, height: int, width: int):
    """``affine_grid`` matrices (batch, 2, 3): output -> input in normalised coordinates."""
    import torch

    angle = (2.0 * u[:, 0] - 1.0) * math.radians(settings.max_rotation_deg)
    zoom = 1.0 + (2.0 * u[:, 1] - 1.0) * settings.max_scale
    shift_x = (2.0 * u[:, 2] - 1.0) * settings.max_shift * 2.0  # [-1, 1] spans the width
    shift_y = (2.0 * u[:, 3] - 1.0) * settings.max_shift * 2.0
    flip = torch.where(u[:, 4] < settings.flip_probability, -1.0, 1.0).to(u.dtype)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    # a rotation in pixels, written in coordinates normalised per axis (non-square slices)
    theta = torch.stack(
        [
            torch.stack([cos * flip, -sin * (height / width), shift_x], dim=-1),
            torch.stack([sin * (width / height) * flip, cos, shift_y], dim=-1),
        ],
        dim=1,
    )
    return theta


def _bias(u: torch.Tensor, settings: SliceAugmentation, height: int, width: int) -> torch.Tensor:
    """log of the bias field, shape (batch, 1, height, width), magnitude <= bias_field."""
    import torch

    coef = 2.0 * u[:, 7:12] - 1.0  # x, y, x^2, y^2, xy
    coef = coef / coef.abs().sum(dim=1, keepdim=True).clamp_min(1e-6)
    ys = torch.linspace(-1.0, 1.0, height, device=u.device, dtype=u.dtype)
    xs = torch.linspace(-1.0, 1.0, width, device=u.device, dtype=u.dtype)
    y, x = ys[:, None].expand(height, width), xs[None, :].expand(height, width)
    basis = torch.stack([x, y, x * x, y * y, x * y])  # (5, H, W), every term within [-1, 1]
    field = torch.einsum("bk,khw->bhw", coef, basis)
    return (settings.bias_field * field)[:, None]


def augment_batch(
    x: torch.Tensor, settings: SliceAugmentation, *, generator: torch.Generator
) -> torch.Tensor:
    """Return a randomly augmented copy of a batch of slices, computed where ``x`` lives.

    Parameters
    ----------
    x : Tensor, shape (batch, n_channels, height, width), float
        Slices (e.g. mean BOLD, ALFF, ReHo maps); not modified.  On the
        training device: the work stays there.
    settings : SliceAugmentation
        Ranges of the random changes (each drawn per slice).
    generator : torch.Generator
        On ``x``'s device; the same state gives the same result.

    Returns
    -------
    Tensor, same shape, dtype and device as ``x``
        No gradient is recorded (it is data preparation).
    """
    import torch
    import torch.nn.functional as F

    _check_batch(x)
    if x.numel() == 0:
        return x.clone()
    n, _, height, width = x.shape
    with torch.no_grad():
        u = torch.rand(n, _N_DRAWS, generator=generator, device=x.device, dtype=torch.float32)
        u = u.to(x.dtype)
        floor = x.amin(dim=(-2, -1), keepdim=True)
        out = x - floor  # >= 0, background 0
        if settings.moves:
            grid = F.affine_grid(_affine(u, settings, height, width), list(x.shape), False)
            out = F.grid_sample(
                out, grid, mode="bilinear", padding_mode="zeros", align_corners=False
            )
        if settings.gamma:
            top = out.amax(dim=(-2, -1), keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
            exponent = torch.exp((2.0 * u[:, 5] - 1.0) * settings.gamma)[:, None, None, None]
            out = (out / top).clamp(0.0, 1.0).pow(exponent) * top
        if settings.brightness or settings.bias_field:
            factor = (1.0 + (2.0 * u[:, 6] - 1.0) * settings.brightness)[:, None, None, None]
            if settings.bias_field:
                factor = factor * torch.exp(_bias(u, settings, height, width))
            out = out * factor
        if settings.noise:
            spread = out.std(dim=(-2, -1), keepdim=True)
            noise = torch.randn(out.shape, generator=generator, device=x.device, dtype=x.dtype)
            out = out + settings.noise * spread * noise
        return out + floor


def augment_slice(
    image: torch.Tensor, settings: SliceAugmentation, generator: torch.Generator
) -> torch.Tensor:
    """Return a randomly augmented copy of one slice (:func:`augment_batch` on a batch of one).

    Parameters
    ----------
    image : Tensor, shape (n_channels, height, width), float
        One slice; not modified.
    settings : SliceAugmentation
    generator : torch.Generator
        On ``image``'s device (the CPU for a dataset item); the same state
        gives the same result.

    Returns
    -------
    Tensor, same shape and dtype as ``image``
    """
    import torch

    if not isinstance(image, torch.Tensor) or image.ndim != 3 or not image.is_floating_point():
        raise ValueError(
            f"image must be a float tensor of shape (n_channels, height, width), "
            f"got {image.dtype} of shape {tuple(image.shape)}."
        )
    return augment_batch(image[None], settings, generator=generator)[0]
