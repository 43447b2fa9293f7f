"""Synthetic resting-state BOLD (64 x 64 x 35, 3.4 x 3.4 x 4 mm, TR 2 s).

Anatomy comes from the MNI152 2009a templates that ship inside the nilearn
wheel (no download; the files behind ``nilearn.datasets.load_mni152_*``),
resampled once per process to the EPI grid. The
motor-network integrity percentile ``h = Phi(n)`` sets the lesion volume,
the chance that the lesion hits the corticospinal tract or M1/SMA, and how
strongly the ipsilesional motor regions follow the motor network. Head
position, motion, bias field, susceptibility dropout and thermal noise are
independent of the latents. See ``docs/synthetic_cohort.md``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "GRID_SHAPE",
    "GRID_ZOOMS",
    "GRID_AFFINE",
    "TR_S",
    "MOTOR_ROIS",
    "LESION_SITES",
    "simulate_bold",
    "roi_mask",
]

GRID_SHAPE: tuple[int, int, int] = (64, 64, 35)
GRID_ZOOMS: tuple[float, float, float] = (3.4, 3.4, 4.0)
TR_S = 2.0
_SCALE = 250.0  # intensity of CSF; grey matter ~180 (int16 scanner units)
_NOISE_SD = 2.0  # thermal noise per quadrature channel: SNR ~90 in grey matter
_CENTER_MM = np.array([0.0, -18.0, 16.0])
GRID_AFFINE: np.ndarray = np.array(
    [
        [3.4, 0.0, 0.0, _CENTER_MM[0] - 3.4 * (GRID_SHAPE[0] - 1) / 2],
        [0.0, 3.4, 0.0, _CENTER_MM[1] - 3.4 * (GRID_SHAPE[1] - 1) / 2],
        [0.0, 0.0, 4.0, _CENTER_MM[2] - 4.0 * (GRID_SHAPE[2] - 1) / 2],
        [0.0, 0.0, 0.0, 1.0],
    ]
)
"""RAS+ voxel-to-MNI affine of the synthetic EPI grid (mm)."""

MOTOR_ROIS: dict[str, tuple[tuple[float, float, float], float]] = {
    "m1_leg": ((8.0, -26.0, 66.0), 9.0),
    "sma": ((5.0, -6.0, 58.0), 9.0),
    "m1_hand": ((38.0, -22.0, 56.0), 9.0),
    "thalamus": ((12.0, -18.0, 8.0), 8.0),
    "putamen": ((26.0, 2.0, 2.0), 8.0),
}
"""Motor-network regions: right-hemisphere MNI centre (mm) and radius (mm); mirrored for left."""

LESION_SITES: dict[str, tuple[tuple[float, float, float], bool]] = {
    "corona_radiata": ((26.0, -14.0, 24.0), True),
    "internal_capsule": ((22.0, -10.0, 8.0), True),
    "m1_leg_sma": ((10.0, -20.0, 60.0), True),
    "frontal_cortex": ((46.0, 12.0, 26.0), False),
    "parietal_cortex": ((46.0, -38.0, 38.0), False),
    "insula": ((40.0, -4.0, 2.0), False),
    "basal_ganglia": ((20.0, 8.0, 4.0), False),
}
"""Ischaemic lesion sites: right-hemisphere MNI centre (mm) and whether the site
involves the corticospinal tract or M1/SMA."""

_CST_PATH = (
    (10.0, -24.0, 62.0),
    (18.0, -18.0, 44.0),
    (24.0, -14.0, 26.0),
    (22.0, -12.0, 8.0),
    (14.0, -20.0, -10.0),
)


@functools.lru_cache(maxsize=1)
def _world_coords() -> np.ndarray:
    """MNI coordinates (mm) of every grid voxel, shape (3, X, Y, Z)."""
    ijk = np.indices(GRID_SHAPE).reshape(3, -1).astype(float)
    xyz = (GRID_AFFINE[:3, :3] @ ijk + GRID_AFFINE[:3, 3:4]).reshape(3, *GRID_SHAPE)
    xyz.flags.writeable = False  # cached: shared by every call
    return xyz


def roi_mask(
    center_mm: tuple[float, float, float], radius_mm: float, affine: np.ndarray, shape
) -> np.ndarray:
    """Boolean sphere on a voxel grid.

    Parameters
    ----------
    center_mm : (x, y, z)
        Sphere centre in world (MNI) mm.
    radius_mm : float
        Sphere radius (mm).
    affine : ndarray, shape (4, 4)
        Voxel-to-world affine of the grid.
    shape : tuple of int
        Grid shape ``(X, Y, Z)``.

    Returns
    -------
    ndarray of bool, shape ``shape``
    """
    ijk = np.indices(shape).reshape(3, -1).astype(float)
    xyz = affine[:3, :3] @ ijk + affine[:3, 3:4]
    return _sphere(xyz.reshape(3, *shape), center_mm, radius_mm)


def _sphere(xyz: np.ndarray, center_mm, radius_mm: float) -> np.ndarray:
    """Boolean sphere from world coordinates ``xyz`` of shape (3, X, Y, Z)."""
    c = np.asarray(center_mm, float).reshape(3, 1, 1, 1)
    return ((xyz - c) ** 2).sum(axis=0) <= radius_mm**2


_TEMPLATES = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}


def _template_path(name: str) -> Path:
    """Path of an MNI152 template bundled in the nilearn wheel, found without importing nilearn.

    These are the files behind ``nilearn.datasets.load_mni152_template``,
    ``load_mni152_gm_template`` and ``load_mni152_wm_template``; reading them
    with nibabel saves each worker process nilearn's import (seconds).
    """
    import importlib.util

    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "The synthetic fMRI needs nilearn's bundled MNI152 templates: pip install nilearn."
        )
    path = (
        Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / _TEMPLATES[name]
    )
    if not path.is_file():
        raise FileNotFoundError(
            f"nilearn's bundled template {path.name} was not found in {path.parent}; "
            "reinstall nilearn (pip install --force-reinstall nilearn)."
        )
    return path


@functools.lru_cache(maxsize=1)
def _anatomy() -> dict[str, np.ndarray]:
    """GM/WM/CSF probabilities and brain mask on the EPI grid.

    The 1-mm templates are averaged in 3 x 3 x 3 blocks (anti-aliasing) and
    linearly interpolated at the EPI voxel centres. The brain mask is the T1
    template above 0.2 of its maximum, as ``load_mni152_brain_mask`` does.
    """
    import nibabel as nib
    from scipy.ndimage import map_coordinates

    out = {}
    xyz = _world_coords().reshape(3, -1)
    for name in ("t1", "gm", "wm"):
        img = nib.load(_template_path(name))
        vol = np.asarray(img.dataobj, dtype=np.float32)
        vol /= vol.max()
        nx, ny, nz = (d // 3 for d in vol.shape)
        vol = vol[: 3 * nx, : 3 * ny, : 3 * nz].reshape(nx, 3, ny, 3, nz, 3).mean(axis=(1, 3, 5))
        block_affine = img.affine @ np.diag([3.0, 3.0, 3.0, 1.0])
        block_affine[:3, 3] = (
            img.affine[:3, :3] @ np.ones(3) + img.affine[:3, 3]
        )  # centre of the first block
        vox = np.linalg.inv(block_affine) @ np.vstack([xyz, np.ones(xyz.shape[1])])
        vals = map_coordinates(vol, vox[:3], order=1, cval=0.0)
        out[name] = np.clip(vals, 0.0, 1.0).reshape(GRID_SHAPE).astype(np.float32)
    out["mask"] = (out.pop("t1") > 0.2).astype(np.float32)
    tissue = out["gm"] + out["wm"]
    scale = np.where(tissue > 1.0, 1.0 / np.maximum(tissue, 1e-6), 1.0)
    out["gm"] *= scale
    out["wm"] *= scale
    out["csf"] = np.clip(out["mask"] - out["gm"] - out["wm"], 0.0, 1.0)
    for arr in out.values():
        arr.flags.writeable = False
    return out


def _band_basis(n_vols: int, lo: float = 0.01, hi: float = 0.08) -> np.ndarray:
    """Cosine/sine basis of the DFT frequencies in ``lo``-``hi`` Hz, shape (n_basis, n_vols).

    Random combinations of these rows are band-limited (low-frequency BOLD)
    time courses. Very short runs keep at least the lowest non-zero frequency.
    """
    f = np.fft.rfftfreq(n_vols, TR_S)[1:]
    k = np.flatnonzero((f >= lo) & (f <= hi)) + 1
    if k.size == 0:
        k = np.array([1])
    t = np.arange(n_vols) / n_vols
    rows = [np.cos(2 * np.pi * kk * t) for kk in k] + [np.sin(2 * np.pi * kk * t) for kk in k]
    return np.asarray(rows, dtype=np.float32)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=-1, keepdims=True)
    return x / (x.std(axis=-1, keepdims=True) + 1e-6)


def _rotation(angles_rad: np.ndarray) -> np.ndarray:
    a, b, c = angles_rad
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _motion(rng: np.random.Generator, n_vols: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Rigid-body parameters per volume (tx, ty, tz mm; rx, ry, rz rad) and their summary."""
    level = float(np.exp(rng.normal(0.0, 0.5)))
    steps = (
        rng.normal(0.0, 1.0, (n_vols, 6)) * np.array([0.03, 0.03, 0.04, 4e-4, 4e-4, 4e-4]) * level
    )
    params = np.cumsum(steps, axis=0)
    params += np.concatenate(
        [rng.uniform(-3, 3, 3), np.deg2rad(rng.uniform(-3, 3, 3))]
    )  # head position
    spikes = rng.random(n_vols) < 0.01 * level
    spikes[0] = False
    params[spikes] += rng.normal(0.0, 1.0, (int(spikes.sum()), 6)) * np.array(
        [0.8, 0.8, 0.8, 0.01, 0.01, 0.01]
    )
    d = np.abs(np.diff(params, axis=0))
    fd = np.concatenate([[0.0], d[:, :3].sum(axis=1) + 50.0 * d[:, 3:].sum(axis=1)])
    return params, {
        "mean_fd_mm": float(fd.mean()),
        "max_fd_mm": float(fd.max()),
        "n_motion_spikes": int(spikes.sum()),
    }


def _lesion(
    rng: np.random.Generator, n: float, h: float, hemi_sign: float, anat, xyz
) -> tuple[np.ndarray, dict[str, Any]]:
    """Soft lesion map (0-1) on the grid and its description."""
    from scipy.ndimage import gaussian_filter

    names = list(LESION_SITES)
    p_cst = 0.25 + 0.55 * (1.0 - h)
    cst = np.array([LESION_SITES[k][1] for k in names])
    probs = np.where(cst, p_cst / cst.sum(), (1.0 - p_cst) / (~cst).sum())
    probs[names.index("m1_leg_sma")] *= 0.5  # ACA territory: less often
    probs /= probs.sum()
    site = names[int(rng.choice(len(names), p=probs))]
    center = np.array(LESION_SITES[site][0]) * np.array([hemi_sign, 1.0, 1.0]) + rng.normal(
        0, 3.0, 3
    )
    volume_ml = float(np.clip(12.0 * np.exp(-1.1 * n + rng.normal(0, 0.2)), 0.6, 150.0))
    radius = (3.0 * volume_ml * 1000.0 / (4.0 * np.pi)) ** (1.0 / 3.0)
    radii = radius * np.exp(rng.normal(0, 0.15, 3))
    d = np.sqrt(
        (((xyz - center[:, None, None, None]) / radii[:, None, None, None]) ** 2).sum(axis=0)
    )
    rough = gaussian_filter(rng.standard_normal(GRID_SHAPE), 1.5)
    rough /= rough.std() + 1e-9
    tissue = anat["gm"] + anat["wm"]
    hemi = (xyz[0] * hemi_sign) > 0
    lesion = ((d + 0.12 * rough) < 1.0) & (tissue > 0.3) & hemi
    soft = np.clip(gaussian_filter(lesion.astype(np.float32), 0.5), 0.0, 1.0)
    soft = np.maximum(soft, lesion.astype(np.float32))
    cst_mask = np.zeros(GRID_SHAPE, bool)
    for p in _CST_PATH:
        cst_mask |= _sphere(xyz, (p[0] * hemi_sign, p[1], p[2]), 6.0)
    vox_ml = float(np.prod(GRID_ZOOMS)) / 1000.0
    return soft, {
        "lesion_site": site,
        "lesion_volume_ml": float(lesion.sum() * vox_ml),
        "lesion_cst_overlap": float((lesion & cst_mask).sum() / cst_mask.sum()),
        "lesion_center_x_mm": float(center[0]),
        "lesion_center_y_mm": float(center[1]),
        "lesion_center_z_mm": float(center[2]),
    }


def simulate_bold(
    rng: np.random.Generator, *, n: float, affected_side: str, n_volumes: int
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Simulate one resting-state BOLD run.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    n : float
        Motor-network integrity (standard normal units; higher is better).
    affected_side : {"left", "right"}
        Paretic body side; the lesion is in the opposite hemisphere.
    n_volumes : int
        Number of volumes (TR 2 s).

    Returns
    -------
    data : ndarray, shape (64, 64, 35, n_volumes), int16
        Magnitude EPI intensities (arbitrary scanner units, ~180 in grey matter).
    affine : ndarray, shape (4, 4)
        Voxel-to-world (MNI mm) affine, :data:`GRID_AFFINE`.
    truth : dict
        ``lesion_site``, ``lesion_volume_ml``, ``lesion_cst_overlap``,
        ``lesion_center_{x,y,z}_mm``, ``motor_coupling``, ``mean_fd_mm``,
        ``max_fd_mm``, ``n_motion_spikes``, ``lesion_hemisphere``.
    """
    from scipy.ndimage import affine_transform, gaussian_filter
    from scipy.special import ndtr

    from rehab_core._validation import check_option, check_range

    check_option("affected_side", affected_side, ("left", "right"))
    if isinstance(n_volumes, bool) or not isinstance(n_volumes, (int, np.integer)):
        raise TypeError(f"n_volumes must be an int, got {type(n_volumes).__name__}.")
    check_range("n_volumes", n_volumes, 8, 2000)
    if not np.isfinite(n):
        raise ValueError(f"n={n!r} must be a finite latent value.")
    anat = _anatomy()
    xyz = _world_coords()
    h = float(np.clip(ndtr(n), 1e-3, 1 - 1e-3))
    lesion_hemi = "left" if affected_side == "right" else "right"
    sign = -1.0 if lesion_hemi == "left" else 1.0
    gm, wm, csf = anat["gm"], anat["wm"], anat["csf"]

    lesion, truth = _lesion(rng, n, h, sign, anat, xyz)

    # Mean EPI image: T2*-weighted contrast, bias field, susceptibility dropout.
    s0 = _SCALE * (0.72 * gm + 0.55 * wm + 1.0 * csf)
    bias = 1.0 + 0.12 * np.tanh(gaussian_filter(rng.standard_normal(GRID_SHAPE), 8.0) * 30.0)
    drop = np.ones(GRID_SHAPE)
    for cx, cy, cz, w in (
        (0.0, 38.0, -22.0, 14.0),
        (-44.0, 0.0, -32.0, 12.0),
        (44.0, 0.0, -32.0, 12.0),
    ):
        d2 = (xyz[0] - cx) ** 2 + (xyz[1] - cy) ** 2 + (xyz[2] - cz) ** 2
        drop -= 0.7 * np.exp(-d2 / (2 * w**2))
    s0 = s0 * bias * np.clip(drop, 0.1, 1.0)
    texture = 1.0 + 0.06 * gaussian_filter(rng.standard_normal(GRID_SHAPE), 0.8) / 0.2
    s0 = (1.0 - lesion) * s0 + lesion * _SCALE * bias * texture  # oedematous infarct: hyperintense

    # Fluctuations (fraction of s0), on the voxels inside the head only.
    t_vols = n_volumes
    basis = _band_basis(t_vols)
    idx = np.flatnonzero(anat["mask"] > 0.02)
    n_vox = idx.size
    fields = rng.standard_normal((basis.shape[0], *GRID_SHAPE), dtype=np.float32)
    fields = gaussian_filter(fields, (0.0, 1.0, 1.0, 0.8)).reshape(basis.shape[0], -1)[:, idx]
    local = _unit_rows(fields.T @ basis)  # (n_vox, T), spatially smooth low-frequency noise
    gm_v, wm_v, csf_v = (a.reshape(-1)[idx][:, None] for a in (gm, wm, csf))
    frac = (0.008 * gm_v + 0.004 * wm_v) * local
    del local, fields
    ts = _unit_rows(
        rng.standard_normal((2 + len(MOTOR_ROIS), basis.shape[0]), dtype=np.float32) @ basis
    )
    glob, network, roi_noise = ts[0], ts[1], ts[2:]
    frac += (0.003 * (gm_v + wm_v)) * glob[None, :]
    frac += (0.015 * csf_v) * rng.standard_normal((n_vox, t_vols), dtype=np.float32)

    # Motor network: contralesional regions follow it fully, ipsilesional ones by ``coupling``.
    coupling = 0.15 + 0.85 * h
    weights = np.zeros((n_vox, 1 + len(MOTOR_ROIS)), np.float32)
    for k, (center, radius) in enumerate(MOTOR_ROIS.values()):
        for side in (-1.0, 1.0):
            mask = _sphere(xyz, (center[0] * side, center[1], center[2]), radius)
            w = (gaussian_filter(mask.astype(np.float32), 1.0) * gm).reshape(-1)[idx]
            if side == sign:
                weights[:, 0] += coupling * w
                weights[:, 1 + k] += 0.7 * np.sqrt(1.0 - coupling**2) * w
            else:
                weights[:, 0] += w
    frac += 0.015 * (weights @ np.vstack([network[None, :], roi_noise]))

    alive = (1.0 - lesion) * (1.0 - 0.5 * np.clip(gaussian_filter(lesion, 1.5) - lesion, 0, 1))
    frac *= alive.reshape(-1)[idx][:, None]
    s0_flat = s0.reshape(-1).astype(np.float32)
    vols = np.broadcast_to(s0_flat, (t_vols, s0_flat.size)).copy()
    vols[:, idx] = (s0_flat[idx][:, None] * (1.0 + frac)).T
    vols = vols.reshape(t_vols, *GRID_SHAPE)
    del frac

    # Rigid-body head position + motion about the grid centre: for output
    # voxel o, the source voxel is D^-1 R^T (D (o - c) - t) + c.
    params, motion = _motion(rng, t_vols)
    zooms = np.array(GRID_ZOOMS)
    centre = (np.array(GRID_SHAPE) - 1) / 2.0
    moved = np.empty_like(vols)
    for v in range(t_vols):
        rot_t = _rotation(params[v, 3:]).T
        matrix = (rot_t * zooms[None, :]) / zooms[:, None]
        offset = centre - matrix @ centre - (rot_t @ params[v, :3]) / zooms
        affine_transform(vols[v], matrix, offset=offset, output=moved[v], order=1, cval=0.0)
    del vols

    # Thermal noise on the complex signal -> Rician magnitude, stored as int16.
    sigma = _NOISE_SD
    moved += sigma * rng.standard_normal(moved.shape, dtype=np.float32)
    imag = sigma * rng.standard_normal(moved.shape, dtype=np.float32)
    mag = np.sqrt(moved * moved + imag * imag)
    del imag, moved
    data = np.clip(np.rint(mag), 0, np.iinfo(np.int16).max).astype(np.int16).transpose(1, 2, 3, 0)
    data = np.ascontiguousarray(data)

    truth.update(motion)
    truth["motor_coupling"] = coupling
    truth["lesion_hemisphere"] = lesion_hemi
    return data, GRID_AFFINE.copy(), truth
