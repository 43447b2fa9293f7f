"""Resampling fMRI volumes to an isotropic grid aligned with the RAS+ world axes."""

from __future__ import annotations

import numpy as np

from rehab_core._validation import check_positive

__all__ = ["isotropic_grid", "resample_isotropic", "resample_to_grid", "rigid_transform"]


def _check_affine(affine: np.ndarray) -> np.ndarray:
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise ValueError(f"affine must be a finite 4x4 matrix, got shape {affine.shape}.")
    if abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise ValueError("affine is singular (a voxel with zero size); fix the image header.")
    return affine


def _check_data(data: object) -> np.ndarray:
    if not isinstance(data, np.ndarray) or data.ndim not in (3, 4):
        got = data.shape if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"data must be a 3D or 4D numpy array, got {got}.")
    if not np.issubdtype(data.dtype, np.floating):
        raise TypeError(f"data must be a float array, got dtype {data.dtype}.")
    return data


def isotropic_grid(
    shape: tuple[int, ...], affine: np.ndarray, voxel_size_mm: float
) -> tuple[tuple[int, int, int], np.ndarray]:
    """Return the shape and affine of an isotropic RAS+ grid covering an image.

    The new grid's axes follow the world x (left to right), y (posterior to
    anterior) and z (inferior to superior) axes, its voxels are
    ``voxel_size_mm`` wide and it spans the bounding box of the input's
    voxel centres (as ``nibabel.processing.resample_to_output`` does).

    Parameters
    ----------
    shape : tuple of int
        Spatial shape ``(x, y, z)`` of the input (extra entries are ignored).
    affine : ndarray, shape (4, 4)
        Voxel-to-world (mm) affine of the input.
    voxel_size_mm : float
        Voxel side of the output in mm.

    Returns
    -------
    shape : tuple of int
        ``(nx, ny, nz)`` of the output grid.
    affine : ndarray, shape (4, 4)
        Its voxel-to-world affine (diagonal ``voxel_size_mm``).
    """
    affine = _check_affine(affine)
    check_positive("voxel_size_mm", voxel_size_mm)
    corners = np.array(np.meshgrid(*[[0, n - 1] for n in shape[:3]], indexing="ij"))
    corners = corners.reshape(3, -1)
    world = affine[:3, :3] @ corners + affine[:3, 3:4]
    low, high = world.min(axis=1), world.max(axis=1)
    out_shape = tuple(
        int(np.floor((h - lo) / voxel_size_mm + 1e-6)) + 1 for lo, h in zip(low, high, strict=True)
    )
    out_affine = np.diag([voxel_size_mm, voxel_size_mm, voxel_size_mm, 1.0])
    out_affine[:3, 3] = low
    return out_shape, out_affine


def rigid_transform(params: np.ndarray, centre_mm: np.ndarray) -> np.ndarray:
    """Return the 4x4 world-space matrix of rigid-body parameters.

    Parameters
    ----------
    params : ndarray, shape (6,)
        Translations along world x, y, z in mm and rotations about world x, y,
        z in radians (applied in that order) about ``centre_mm``.
    centre_mm : ndarray, shape (3,)
        Centre of rotation in world mm.

    Returns
    -------
    ndarray, shape (4, 4)
        ``M`` with ``M @ [x, 1]`` = ``R (x - c) + c + t``.
    """
    tx, ty, tz, rx, ry, rz = (float(v) for v in params)
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    rot_x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    rot_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rot_z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    rotation = rot_z @ rot_y @ rot_x
    centre = np.asarray(centre_mm, dtype=np.float64)
    matrix = np.eye(4)
    matrix[:3, :3] = rotation
    matrix[:3, 3] = centre + np.array([tx, ty, tz]) - rotation @ centre
    return matrix


def _trilinear_matrix(coords: np.ndarray, shape: tuple[int, int, int]):
    """Sparse (n_points, prod(shape)) matrix of trilinear weights; outside points get none."""
    from scipy import sparse

    shape_arr = np.array(shape)[:, np.newaxis]
    inside = np.all((coords >= -1e-6) & (coords <= shape_arr - 1 + 1e-6), axis=0)
    rows_in = np.flatnonzero(inside)
    c = np.clip(coords[:, inside], 0, shape_arr - 1)
    base = np.minimum(np.floor(c).astype(np.intp), np.maximum(shape_arr - 2, 0))
    frac = c - base
    strides = np.array([shape[1] * shape[2], shape[2], 1])
    rows, cols, weights = [], [], []
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                w = (
                    (frac[0] if dx else 1 - frac[0])
                    * (frac[1] if dy else 1 - frac[1])
                    * (frac[2] if dz else 1 - frac[2])
                )
                idx = np.minimum(base + np.array([[dx], [dy], [dz]]), shape_arr - 1)
                rows.append(rows_in)
                cols.append(strides @ idx)
                weights.append(w)
    n_in = int(np.prod(shape))
    return sparse.csr_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
        shape=(coords.shape[1], n_in),
    )


def resample_isotropic(
    data: np.ndarray,
    affine: np.ndarray,
    voxel_size_mm: float,
    *,
    motion: np.ndarray | None = None,
    centre_mm: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample a 3D or 4D image onto :func:`isotropic_grid` by trilinear interpolation.

    Points of the new grid outside the input's field of view are 0. See
    :func:`resample_to_grid` (which this calls) for ``motion``.

    Parameters
    ----------
    data : ndarray, shape (x, y, z) or (x, y, z, t), float
        Image intensities (arbitrary units).
    affine : ndarray, shape (4, 4)
        Voxel-to-world (mm) affine of ``data``.
    voxel_size_mm : float
        Voxel side of the output in mm.
    motion : ndarray, shape (t, 6), or None
        Rigid-body parameters per volume from
        :func:`rehab_core.imaging.estimate_motion`, to be undone.
    centre_mm : ndarray, shape (3,), or None
        Rotation centre of ``motion`` in world mm (required with ``motion``).

    Returns
    -------
    data : ndarray, shape (nx, ny, nz) or (nx, ny, nz, t), float32
        The resampled image.
    affine : ndarray, shape (4, 4)
        Voxel-to-world affine of the new grid.
    """
    out_shape, out_affine = isotropic_grid(_check_data(data).shape, affine, voxel_size_mm)
    out, _ = resample_to_grid(
        data, affine, out_shape, out_affine, motion=motion, centre_mm=centre_mm
    )
    return out, out_affine


def resample_to_grid(
    data: np.ndarray,
    affine: np.ndarray,
    out_shape: tuple[int, int, int],
    out_affine: np.ndarray,
    *,
    world_transform: np.ndarray | None = None,
    motion: np.ndarray | None = None,
    centre_mm: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample a 3D or 4D image onto a given grid, in one trilinear interpolation.

    Every output voxel centre ``p`` (world mm of the output grid) is looked
    up at ``world_transform @ p`` in the input's world (for example the
    template-to-scan transform of
    :func:`rehab_core.imaging.register_to_template`), and with ``motion``
    additionally where the head was at that volume's time. The transforms are
    composed into one voxel-to-voxel map, so the data are interpolated once.
    Without ``motion``, one sparse interpolation matrix is built and applied
    to all volumes at once; with ``motion``, every volume is sampled
    separately (one interpolation per volume, realigning it to the reference
    of the motion estimate). Points outside the input's field of view are 0.

    Parameters
    ----------
    data : ndarray, shape (x, y, z) or (x, y, z, t), float
        Image intensities (arbitrary units).
    affine : ndarray, shape (4, 4)
        Voxel-to-world (mm) affine of ``data``.
    out_shape : tuple of int
        ``(nx, ny, nz)`` of the output grid.
    out_affine : ndarray, shape (4, 4)
        Voxel-to-world (mm) affine of the output grid.
    world_transform : ndarray, shape (4, 4), or None
        Map from the output's world to the input's world; ``None`` is the identity.
    motion : ndarray, shape (t, 6), or None
        Rigid-body parameters per volume from
        :func:`rehab_core.imaging.estimate_motion`, to be undone.
    centre_mm : ndarray, shape (3,), or None
        Rotation centre of ``motion`` in world mm (required with ``motion``).

    Returns
    -------
    data : ndarray, shape out_shape or (*out_shape, t), float32
        The resampled image.
    inside : ndarray, shape out_shape, bool
        Output voxels inside the input's field of view (without motion).
    """
    _check_data(data)
    affine = _check_affine(affine)
    out_affine = _check_affine(out_affine)
    out_shape = tuple(int(n) for n in out_shape)
    if len(out_shape) != 3 or min(out_shape) < 1:
        raise ValueError(f"out_shape must be three positive sizes, got {out_shape}.")
    world_transform = np.eye(4) if world_transform is None else _check_affine(world_transform)
    grid = np.indices(out_shape, dtype=np.float64).reshape(3, -1)
    # output voxel -> input world (homogeneous)
    to_world = world_transform @ out_affine
    world = to_world[:3, :3] @ grid + to_world[:3, 3:4]
    to_voxel = np.linalg.inv(affine)
    volumes = data if data.ndim == 4 else data[..., np.newaxis]
    n_vols = volumes.shape[3]
    coords = to_voxel[:3, :3] @ world + to_voxel[:3, 3:4]
    shape_arr = np.array(volumes.shape[:3])[:, np.newaxis]
    inside = np.all((coords >= -1e-6) & (coords <= shape_arr - 1 + 1e-6), axis=0)

    if motion is None:
        weights = _trilinear_matrix(coords, volumes.shape[:3])
        flat = volumes.reshape(-1, n_vols).astype(np.float32, copy=False)
        out = np.asarray(weights @ flat, dtype=np.float32)
    else:
        from scipy import ndimage

        motion = np.asarray(motion, dtype=np.float64)
        if motion.shape != (n_vols, 6):
            raise ValueError(f"motion must have shape ({n_vols}, 6), got {motion.shape}.")
        if centre_mm is None:
            raise ValueError("centre_mm is required with motion.")
        out = np.empty((world.shape[1], n_vols), dtype=np.float32)
        world_h = np.vstack([world, np.ones((1, world.shape[1]))])
        time_first = np.ascontiguousarray(np.moveaxis(volumes, 3, 0))
        for t in range(n_vols):
            matrix = to_voxel @ rigid_transform(motion[t], centre_mm)
            coords_t = matrix[:3] @ world_h
            out[:, t] = ndimage.map_coordinates(
                time_first[t], coords_t, order=1, mode="constant", cval=0.0, prefilter=False
            )
    out = out.reshape(*out_shape, n_vols)
    return (out if data.ndim == 4 else out[..., 0]), inside.reshape(out_shape)
