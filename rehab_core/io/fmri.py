"""``read_fmri``: resting-state fMRI from NIfTI-1 or NIfTI-2 files.

Rules (what is accepted, what is refused and why):

* Files: ``.nii`` or ``.nii.gz``, NIfTI-1 or NIfTI-2. The result is always a
  :class:`nibabel.Nifti1Image` (the common type the imaging code expects); a
  NIfTI-2 file is converted, which works for every image whose dimensions fit
  NIfTI-1's 16-bit fields (up to 32767 per axis) and is refused otherwise.
* Shape: 4D ``(x, y, z, t)``. Trailing singleton axes beyond the fourth are
  dropped. A 3D volume raises :class:`NotFourDimensionalError` (resting-state
  maps need a time series); so does a 2D image or a 5D image with a non-singleton
  fifth axis.
* Length: at least :data:`MIN_FMRI_SECONDS` (100 s, i.e. 50 volumes at TR 2 s):
  ALFF integrates power over 0.01-0.08 Hz, and a series shorter than one
  period of 0.01 Hz cannot resolve that band. Shorter series raise
  :class:`TooShortError`.
* Repetition time: from ``header.get_zooms()[3]`` with the time unit of
  ``xyzt_units``: ``sec`` as is, ``msec`` / 1000, ``usec`` / 1e6; ``unknown``
  is read as seconds (the NIfTI convention followed by FSL and nibabel). A
  missing, zero, negative or non-finite TR, or a spectral unit (Hz, ppm,
  rad/s), raises :class:`UnknownSamplingRateError`; no default TR is ever
  assumed, because a wrong TR silently shifts every ALFF frequency band. A TR
  outside 0.1-10 s after conversion is refused as implausible (usually a unit
  mislabel).
* Data are loaded eagerly as float32 (scaling applied), so a truncated or
  corrupt file fails here with :class:`CorruptFileError`, never later. NaN or
  infinite voxels raise :class:`NonFiniteError`.
* The returned header records the TR in seconds (``zooms[3]``) with time
  unit ``sec``; the affine is the file's best affine (sform, else qform);
  other NIfTI-1 fields (slice timing, ``descrip``, sform/qform codes) are kept.
"""

from __future__ import annotations

import math
import os
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rehab_core.io import limits as _limits
from rehab_core.io._common import check_not_empty, short_reason
from rehab_core.io.errors import (
    CorruptFileError,
    NonFiniteError,
    NotFourDimensionalError,
    TooShortError,
    UnknownFormatError,
    UnknownSamplingRateError,
)

if TYPE_CHECKING:
    import nibabel

__all__ = ["FMRI_EXTENSIONS", "MAX_FMRI_BYTES", "MIN_FMRI_SECONDS", "TR_RANGE_S", "read_fmri"]

FMRI_EXTENSIONS: tuple[str, ...] = (".nii", ".nii.gz")
MIN_FMRI_SECONDS = 100.0
"""Shortest accepted series: one period of 0.01 Hz, the low edge of the ALFF band."""
TR_RANGE_S: tuple[float, float] = (0.1, 10.0)
"""Plausible repetition times in seconds; anything outside is refused."""

MAX_FMRI_BYTES = _limits.MAX_FMRI_BYTES
"""Largest series read, as stored and as float32 (256 MiB, :mod:`rehab_core.io.limits`)."""
_COUNT_GZIP_ABOVE = 256 * 1024**2

_TIME_SCALES = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6, "unknown": 1.0}


def _check_extension(path: Path) -> None:
    lower = path.name.lower()
    if not any(lower.endswith(ext) for ext in FMRI_EXTENSIONS):
        raise UnknownFormatError(
            f"{path.name} is not a supported fMRI file; "
            f"expected one of {', '.join(FMRI_EXTENSIONS)}."
        )


def _load(path: Path) -> tuple[nibabel.Nifti1Image | nibabel.Nifti2Image, np.ndarray]:
    """Load the image and its float32 data eagerly, turning decoding failures into InputError."""
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError
    from nibabel.spatialimages import HeaderDataError

    try:
        img = nib.load(path, mmap=False)
    except (ImageFileError, HeaderDataError, OSError, EOFError, zlib.error, ValueError) as err:
        raise CorruptFileError(
            f"{path.name} could not be read as NIfTI ({short_reason(err, path)}); "
            "expected a NIfTI-1 or NIfTI-2 image."
        ) from err
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise UnknownFormatError(
            f"{path.name} is a {type(img).__name__}, not a NIfTI-1 or NIfTI-2 image."
        )
    _check_declared_size(path, img)
    try:
        data = img.get_fdata(dtype=np.float32)
    except (OSError, EOFError, zlib.error, ValueError) as err:
        raise CorruptFileError(
            f"{path.name} is truncated or corrupt ({short_reason(err, path)}); "
            "expected the complete image data "
            f"of shape {img.shape}."
        ) from err
    return img, data


def _check_declared_size(path: Path, img: nibabel.Nifti1Image | nibabel.Nifti2Image) -> None:
    """Refuse an image whose header declares more data than the file holds, before allocating it.

    nibabel allocates the declared size before reading, so a mangled ``dim``
    field would otherwise claim gigabytes of memory (found by
    tests/io/test_io_fuzz.py). Compressed files are counted only when the
    declared size is large enough for that to matter.
    """
    header = img.header
    n_voxels = math.prod(int(n) for n in img.shape)
    name = path.name
    _limits.check_fmri_size(name, img.shape, header.get_data_dtype().itemsize)
    needed = int(header.get_data_offset()) + n_voxels * header.get_data_dtype().itemsize
    if path.name.lower().endswith(".gz"):
        if needed <= _COUNT_GZIP_ABOVE:
            return
        try:
            available = min(_limits.gzip_size(path, needed), needed)
        except (OSError, EOFError, zlib.error) as err:
            raise CorruptFileError(
                f"{name} is truncated or corrupt ({short_reason(err, path)}); "
                f"expected the complete image data of shape {img.shape}."
            ) from err
    else:
        available = path.stat().st_size
    if available < needed:
        raise CorruptFileError(
            f"{name} is truncated or corrupt (its header declares {needed:,} bytes but the file "
            f"holds {available:,}); expected the complete image data of shape {img.shape}."
        )


def _repetition_time(img: nibabel.Nifti1Image | nibabel.Nifti2Image, name: str) -> float:
    header = img.header
    try:
        time_unit = header.get_xyzt_units()[1]
    except KeyError:  # a code outside the NIfTI unit table (found by tests/io/test_io_fuzz.py)
        code = int(header["xyzt_units"]) & 0x38
        raise UnknownSamplingRateError(
            f"{name} gives its fourth axis the unit code {code}, which NIfTI does not define; "
            "expected a repetition time in seconds (unit code 8)."
        ) from None
    raw_tr = float(header.get_zooms()[3])
    if time_unit not in _TIME_SCALES:
        raise UnknownSamplingRateError(
            f"{name} gives its fourth axis in {time_unit}, not time; "
            "expected a repetition time in seconds."
        )
    if not math.isfinite(raw_tr) or raw_tr <= 0:
        raise UnknownSamplingRateError(
            f"{name} has no repetition time (pixdim[4] is {raw_tr:g}); "
            "expected the TR in seconds in the header, e.g. 2.0."
        )
    tr = raw_tr * _TIME_SCALES[time_unit]
    low, high = TR_RANGE_S
    if not low <= tr <= high:
        raise UnknownSamplingRateError(
            f"{name} gives a repetition time of {raw_tr:g} {time_unit} ({tr:g} s), outside the "
            f"plausible {low:g}-{high:g} s; expected the TR with the right time unit in the header."
        )
    return tr


def read_fmri(path: str | os.PathLike[str]) -> nibabel.Nifti1Image:
    """Read a resting-state fMRI series.

    Parameters
    ----------
    path : str | os.PathLike
        A ``.nii`` or ``.nii.gz`` file, NIfTI-1 or NIfTI-2.

    Returns
    -------
    nibabel.Nifti1Image
        4D float32 data ``(x, y, z, t)`` in memory, the file's affine, and a
        header whose ``get_zooms()[3]`` is the TR in seconds.

    Raises
    ------
    UnknownFormatError, EmptyFileError, CorruptFileError, NotFourDimensionalError,
    TooShortError, UnknownSamplingRateError, NonFiniteError
        Subclasses of :class:`~rehab_core.io.errors.InputError`; see the module
        docstring for the rules.
    FileNotFoundError
        ``path`` does not exist.
    """
    import nibabel as nib

    path = Path(path)
    _check_extension(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist.")
    check_not_empty(path)
    name = path.name
    img, data = _load(path)

    while data.ndim > 4 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 3:
        raise NotFourDimensionalError(
            f"{name} is a single 3D volume {data.shape}; resting-state analysis needs a 4D "
            "time series (e.g. 120 volumes)."
        )
    if data.ndim != 4:
        raise NotFourDimensionalError(
            f"{name} has {data.ndim} dimensions {data.shape}; expected a 4D (x, y, z, time) series."
        )
    tr = _repetition_time(img, name)
    n_vols = data.shape[3]
    if n_vols * tr < MIN_FMRI_SECONDS:
        needed = math.ceil(MIN_FMRI_SECONDS / tr)
        raise TooShortError(
            f"{name} holds {n_vols} volumes ({n_vols * tr:g} s at TR {tr:g} s) but at least "
            f"{MIN_FMRI_SECONDS:g} s ({needed} volumes) are needed to resolve the 0.01-0.08 Hz "
            "ALFF band."
        )
    finite = np.isfinite(data)
    if not finite.all():
        n_bad = int(data.size - np.count_nonzero(finite))
        first = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise NonFiniteError(
            f"{name} holds {n_bad} NaN or infinite voxel values (first at {first}); "
            "expected finite intensities everywhere."
        )
    if max(data.shape) > 32767:
        raise UnknownFormatError(
            f"{name} has an axis longer than 32767 {data.shape}, which NIfTI-1 cannot hold; "
            "expected a 4D fMRI series of ordinary size."
        )

    # from_header keeps what NIfTI-1 can hold (slice timing, descrip, intent,
    # sform/qform) and converts a NIfTI-2 header; the data are already scaled.
    header = nib.Nifti1Header.from_header(img.header)
    header.set_data_dtype(np.float32)
    header.set_data_shape(data.shape)
    header.set_slope_inter(np.nan, np.nan)
    zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    header.set_zooms((*zooms, tr))
    space_unit = img.header.get_xyzt_units()[0]
    header.set_xyzt_units(xyz="mm" if space_unit == "unknown" else space_unit, t="sec")
    out = nib.Nifti1Image(data, img.affine, header=header)
    sform, sform_code = img.header.get_sform(coded=True)
    qform, qform_code = img.header.get_qform(coded=True)
    if sform is not None:
        out.set_sform(sform, int(sform_code))
    if qform is not None:
        out.set_qform(qform, int(qform_code))
    return out
