"""Synthetic resting-state BOLD in scanner space.

Each patient's brain is the MNI152 template deformed and placed in a scanner
(:mod:`rehab_core.demo._anatomy`), imaged with one site's EPI protocol. The
fMRI markers (:data:`rehab_core.demo.FMRI_MARKERS`) set what the latents
leave in the images:

* ``lesion_load`` and ``lesion_volume``: how much of the corticospinal tract
  the infarct covers and how large it is; its site along the tract (corona
  radiata, internal capsule, pons), shape, roughness and satellite foci are
  nuisances;
* ``motor_network``: how strongly ipsilesional motor regions follow the motor
  network (interhemispheric connectivity);
* ``motor_alff``: the amplitude of their low-frequency fluctuations relative
  to the other side.

Everything else (anatomy, position, ageing, white-matter hyperintensities,
site, bias field, dropout, motion, noise) is independent of the latents.
See ``docs/synthetic_cohort.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from rehab_core.demo._anatomy import (
    LANDMARKS,
    MNI_SPACE,
    SITES,
    ScannerProtocol,
    _rotation,
    draw_grid,
    draw_head,
    sample_tissue,
)

__all__ = [
    "CST_PATH",
    "LESION_SITES",
    "MOTOR_ROIS",
    "SimulatedBold",
    "simulate_bold",
    "roi_mask",
]

MOTOR_ROIS: dict[str, tuple[tuple[float, float, float], float]] = {
    "m1_leg": ((8.0, -26.0, 66.0), 9.0),
    "sma": ((5.0, -6.0, 58.0), 9.0),
    "m1_hand": ((38.0, -22.0, 56.0), 9.0),
    "thalamus": ((12.0, -18.0, 8.0), 8.0),
    "putamen": ((26.0, 2.0, 2.0), 8.0),
}
"""Motor-network regions: right-hemisphere MNI centre (mm) and radius (mm); mirrored for left."""

CST_PATH: tuple[tuple[float, float, float], ...] = (
    (12.0, -26.0, 64.0),
    (18.0, -22.0, 48.0),
    (22.0, -18.0, 32.0),
    (24.0, -15.0, 18.0),
    (22.0, -13.0, 6.0),
    (14.0, -18.0, -10.0),
    (9.0, -24.0, -24.0),
    (7.0, -28.0, -36.0),
    (4.0, -38.0, -48.0),
)
"""Right corticospinal tract, M1 leg area to medulla (MNI mm); mirrored for left."""
_CST_RADIUS_MM = 4.0

LESION_SITES: dict[str, dict[str, float]] = {
    "corona_radiata": {
        "start": 1.5, "end": 3.0, "probability": 0.4, "volume_ml": 4.0, "elongation": 1.6
    },
    "internal_capsule": {
        "start": 3.3, "end": 4.6, "probability": 0.4, "volume_ml": 2.5, "elongation": 1.3
    },
    "pons": {"start": 5.6, "end": 7.0, "probability": 0.2, "volume_ml": 1.2, "elongation": 1.0},
}  # fmt: skip
"""Infarct sites along :data:`CST_PATH`: stretch of the path (in units of its vertices),
probability, median volume (ml, at ``lesion_volume`` marker 0) and elongation along the tract."""


@dataclasses.dataclass(frozen=True)
class SimulatedBold:
    """One simulated rs-fMRI run, ready to write.

    Attributes
    ----------
    data : ndarray, shape (X, Y, Z, T), int16
        Stored values in the protocol's orientation (multiply by
        ``protocol.scl_slope`` for scanner units).
    affine : ndarray, shape (4, 4)
        Voxel -> scanner mm of the stored array (qform and sform).
    protocol : ScannerProtocol
        The site's protocol (TR, codes, slope).
    truth : dict
        Scalars for ``ground_truth.tsv``.
    transform : dict
        The true scanner -> MNI mapping (JSON-ready; see :func:`true_scanner_to_mni`).
    """

    data: np.ndarray
    affine: np.ndarray
    protocol: ScannerProtocol
    truth: dict[str, Any]
    transform: dict[str, Any]


def roi_mask(
    center_mm: tuple[float, float, float], radius_mm: float, affine: np.ndarray, shape
) -> np.ndarray:
    """Boolean sphere on a voxel grid.

    Parameters
    ----------
    center_mm : (x, y, z)
        Sphere centre in world mm (the affine's space).
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
    """Boolean sphere from world coordinates ``xyz`` of shape (3, ...)."""
    c = np.asarray(center_mm, float).reshape(3, *([1] * (xyz.ndim - 1)))
    return ((xyz - c) ** 2).sum(axis=0) <= radius_mm**2


def _path_point(t: float, sign: float) -> tuple[np.ndarray, np.ndarray]:
    """Point and unit tangent of the (mirrored) CST path at parameter ``t`` (vertex units)."""
    path = np.asarray(CST_PATH) * np.array([sign, 1.0, 1.0])
    k = int(np.clip(np.floor(t), 0, len(path) - 2))
    frac = t - k
    seg = path[k + 1] - path[k]
    return path[k] + frac * seg, seg / np.linalg.norm(seg)


def _cst_distance(xyz: np.ndarray, sign: float) -> np.ndarray:
    """Distance (mm) of points ``xyz`` (3, N) to the (mirrored) CST polyline."""
    path = np.asarray(CST_PATH) * np.array([sign, 1.0, 1.0])
    best = np.full(xyz.shape[1], np.inf)
    for a, b in zip(path[:-1], path[1:], strict=True):
        ab = b - a
        t = np.clip(((xyz - a[:, None]) * ab[:, None]).sum(axis=0) / (ab @ ab), 0.0, 1.0)
        d = np.linalg.norm(xyz - (a[:, None] + t * ab[:, None]), axis=0)
        best = np.minimum(best, d)
    return best


def _perpendicular_basis(tangent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    helper = np.array([1.0, 0.0, 0.0]) if abs(tangent[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(tangent, helper)
    u /= np.linalg.norm(u)
    return u, np.cross(tangent, u)


@dataclasses.dataclass(frozen=True)
class _Lesion:
    """An infarct as a function of MNI position: ellipsoids with a rough boundary."""

    centres: np.ndarray  # (n_foci, 3)
    axes: np.ndarray  # (n_foci, 3, 3): columns are the ellipsoid axes (unit)
    radii: np.ndarray  # (n_foci, 3) mm
    wave_vectors: np.ndarray  # (K, 3) rad/mm
    wave_phases: np.ndarray  # (K,)
    roughness: float
    sign: float

    def inside(self, xyz: np.ndarray, tissue: np.ndarray) -> np.ndarray:
        """Boolean lesion membership at MNI points ``xyz`` (3, N) with tissue probability."""
        rough = np.cos(self.wave_vectors @ xyz + self.wave_phases[:, None]).sum(axis=0)
        rough *= self.roughness * np.sqrt(2.0 / len(self.wave_phases))
        hit = np.zeros(xyz.shape[1], bool)
        for centre, axes, radii in zip(self.centres, self.axes, self.radii, strict=True):
            local = axes.T @ (xyz - centre[:, None])
            d = np.sqrt(((local / radii[:, None]) ** 2).sum(axis=0))
            hit |= d + rough < 1.0
        return hit & (tissue > 0.3) & (xyz[0] * self.sign > 0.5)

    def measure(self) -> tuple[float, float]:
        """Volume (ml) and corticospinal-tract load (ml of the 4-mm tract inside) on a 1-mm grid."""
        reach = float(self.radii.max()) * 1.4 + 2.0
        lo = np.floor(self.centres.min(axis=0) - reach)
        hi = np.ceil(self.centres.max(axis=0) + reach)
        axes = [np.arange(lo[k], hi[k] + 1.0) for k in range(3)]
        xyz = np.stack(np.meshgrid(*axes, indexing="ij")).reshape(3, -1)
        tissue = sample_tissue(xyz)
        inside = self.inside(xyz, tissue["gm"] + tissue["wm"])
        in_tract = _cst_distance(xyz[:, inside], self.sign) <= _CST_RADIUS_MM
        return inside.sum() / 1000.0, in_tract.sum() / 1000.0


def _draw_lesion(
    rng: np.random.Generator, markers: Mapping[str, float], sign: float
) -> tuple[_Lesion, dict[str, Any]]:
    from scipy.special import ndtr

    names = list(LESION_SITES)
    probs = np.array([LESION_SITES[k]["probability"] for k in names])
    site = names[int(rng.choice(len(names), p=probs / probs.sum()))]
    spec = LESION_SITES[site]
    point, tangent = _path_point(rng.uniform(spec["start"], spec["end"]), sign)
    volume = float(np.clip(spec["volume_ml"] * np.exp(-0.9 * markers["lesion_volume"]), 0.15, 80.0))
    radius = (3.0 * volume * 1000.0 / (4.0 * np.pi)) ** (1.0 / 3.0)
    shape = np.array([spec["elongation"], 1.0, 1.0]) * np.exp(rng.normal(0.0, 0.15, 3))
    radii = radius * shape / np.cbrt(np.prod(shape))
    u, v = _perpendicular_basis(tangent)
    spin = rng.uniform(0.0, 2.0 * np.pi)
    u, v = np.cos(spin) * u + np.sin(spin) * v, -np.sin(spin) * u + np.cos(spin) * v
    tilt = np.deg2rad(rng.normal(0.0, 15.0))
    main = np.cos(tilt) * tangent + np.sin(tilt) * u
    u = -np.sin(tilt) * tangent + np.cos(tilt) * u
    axes = np.stack([main, u, v], axis=1)
    # Coverage of the tract's cross-section: all at marker -inf, none at +inf.
    coverage = float(1.0 - ndtr(markers["lesion_load"]))
    r_perp = float(np.sqrt(radii[1] * radii[2]))
    near = abs(r_perp - _CST_RADIUS_MM)
    offset = near + (r_perp + _CST_RADIUS_MM - near) * (1.0 - coverage)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    centre = point + offset * (np.cos(angle) * u + np.sin(angle) * v)
    centres, all_axes, all_radii = [centre], [axes], [radii]
    if rng.random() < 0.25:  # a satellite focus beside the main infarct
        direction = rng.normal(0.0, 1.0, 3)
        direction /= np.linalg.norm(direction)
        centres.append(centre + direction * radius * rng.uniform(1.0, 1.6))
        all_axes.append(axes)
        all_radii.append(radii * rng.uniform(0.35, 0.6))
    n_waves = 10
    directions = rng.normal(0.0, 1.0, (n_waves, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    wavelengths = rng.uniform(6.0, 14.0, n_waves)
    lesion = _Lesion(
        centres=np.asarray(centres),
        axes=np.asarray(all_axes),
        radii=np.asarray(all_radii),
        wave_vectors=directions * (2.0 * np.pi / wavelengths)[:, None],
        wave_phases=rng.uniform(0.0, 2.0 * np.pi, n_waves),
        roughness=float(rng.uniform(0.08, 0.2)),
        sign=sign,
    )
    volume_ml, load_ml = lesion.measure()
    return lesion, {
        "lesion_site": site,
        "lesion_volume_ml": float(volume_ml),
        "cst_lesion_load_ml": float(load_ml),
        "lesion_cst_coverage": coverage,
        "n_lesion_foci": len(centres),
        "lesion_center_x_mm": float(centre[0]),
        "lesion_center_y_mm": float(centre[1]),
        "lesion_center_z_mm": float(centre[2]),
    }


def _band_basis(n_vols: int, tr: float, lo: float = 0.01, hi: float = 0.08) -> np.ndarray:
    """Cosine/sine basis of the DFT frequencies in ``lo``-``hi`` Hz, shape (n_basis, n_vols).

    Random combinations of these rows are band-limited (low-frequency BOLD)
    time courses. Very short runs keep at least the lowest non-zero frequency.
    """
    f = np.fft.rfftfreq(n_vols, tr)[1:]
    k = np.flatnonzero((f >= lo) & (f <= hi)) + 1
    if k.size == 0:
        k = np.array([1])
    t = np.arange(n_vols) / n_vols
    rows = [np.cos(2 * np.pi * kk * t) for kk in k] + [np.sin(2 * np.pi * kk * t) for kk in k]
    return np.asarray(rows, dtype=np.float32)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=-1, keepdims=True)
    return x / (x.std(axis=-1, keepdims=True) + 1e-6)


def _motion(rng: np.random.Generator, n_vols: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Rigid-body parameters per volume (tx, ty, tz mm; rx, ry, rz rad), mean zero, and summary."""
    level = float(np.exp(rng.normal(0.0, 0.5)))
    steps = (
        rng.normal(0.0, 1.0, (n_vols, 6)) * np.array([0.03, 0.03, 0.04, 4e-4, 4e-4, 4e-4]) * level
    )
    params = np.cumsum(steps, axis=0)
    spikes = rng.random(n_vols) < 0.01 * level
    spikes[0] = False
    params[spikes] += rng.normal(0.0, 1.0, (int(spikes.sum()), 6)) * np.array(
        [0.8, 0.8, 0.8, 0.01, 0.01, 0.01]
    )
    params -= params.mean(axis=0)  # the true transform holds for the mean head position
    d = np.abs(np.diff(params, axis=0))
    fd = np.concatenate([[0.0], d[:, :3].sum(axis=1) + 50.0 * d[:, 3:].sum(axis=1)])
    return params, {
        "mean_fd_mm": float(fd.mean()),
        "max_fd_mm": float(fd.max()),
        "n_motion_spikes": int(spikes.sum()),
    }


def _smooth_field(rng: np.random.Generator, xyz: np.ndarray, scale_mm: float, n: int = 12):
    """Smooth random field (unit variance) at points ``xyz`` (3, ...): a sum of plane waves."""
    directions = rng.normal(0.0, 1.0, (n, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    k = directions * (2.0 * np.pi / (scale_mm * rng.uniform(0.7, 1.4, n)))[:, None]
    phases = rng.uniform(0.0, 2.0 * np.pi, n)
    flat = xyz.reshape(3, -1)
    field = np.cos(k @ flat + phases[:, None]).sum(axis=0) * np.sqrt(2.0 / n)
    return field.reshape(xyz.shape[1:])


def _affine_fit(scanner: np.ndarray, mni: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares affine scanner -> MNI over points (3, N), and its RMS residual (mm)."""
    x = np.vstack([scanner, np.ones(scanner.shape[1])]).T
    coef, *_ = np.linalg.lstsq(x, mni.T, rcond=None)
    fit = np.eye(4)
    fit[:3, :] = coef.T
    resid = mni.T - x @ coef
    return fit, float(np.sqrt((resid**2).sum(axis=1).mean()))


def _reorient(data: np.ndarray, affine: np.ndarray, axcodes: str) -> tuple[np.ndarray, np.ndarray]:
    """Store a RAS-ordered (X, Y, Z, T) array in the axis order ``axcodes`` (flips only)."""
    from nibabel.orientations import apply_orientation, axcodes2ornt, inv_ornt_aff, ornt_transform

    ornt = ornt_transform(axcodes2ornt(("R", "A", "S")), axcodes2ornt(tuple(axcodes)))
    out = np.ascontiguousarray(apply_orientation(data, ornt))
    return out, affine @ inv_ornt_aff(ornt, data.shape[:3])


def simulate_bold(
    rng: np.random.Generator,
    *,
    markers: Mapping[str, float],
    affected_side: str,
    age: float = 60.0,
    sex: str = "M",
    site: str = "A",
    n_volumes: int | None = None,
) -> SimulatedBold:
    """Simulate one resting-state BOLD run in scanner space.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    markers : mapping of str to float
        The fMRI markers (``lesion_load``, ``lesion_volume``,
        ``motor_network``, ``motor_alff``; standard normal, higher is better).
    affected_side : {"left", "right"}
        Paretic body side; the lesion is in the opposite hemisphere.
    age : float
        Years (ventricle size, grey-matter atrophy, white-matter hyperintensities).
    sex : {"M", "F"}
        Head size.
    site : str
        Scanner site, a key of :data:`rehab_core.demo.SITES`.
    n_volumes : int or None
        Volumes; None keeps the site's protocol.

    Returns
    -------
    SimulatedBold
    """
    from scipy.ndimage import gaussian_filter

    t_vols = _checked_bold_inputs(markers, affected_side, site, n_volumes)
    protocol: ScannerProtocol = SITES[site]
    lesion_hemi = "left" if affected_side == "right" else "right"
    sign = -1.0 if lesion_hemi == "left" else 1.0
    shape = tuple(protocol.shape)
    tr = protocol.tr_s

    head = draw_head(rng, age=age, sex=sex)
    grid, oblique_deg = draw_grid(rng, protocol, head)
    ijk = np.indices(shape).reshape(3, -1).astype(float)
    scanner_xyz = grid[:3, :3] @ ijk + grid[:3, 3:4]
    xyz = head.scanner_to_mni(scanner_xyz).reshape(3, *shape)
    anat = sample_tissue(xyz, head.gm_atrophy)
    gm, wm, mask = anat["gm"], anat["wm"], anat["mask"]
    voxel_ml = float(np.prod(protocol.zooms)) / 1000.0

    lesion_fn, truth = _draw_lesion(rng, markers, sign)
    hard = lesion_fn.inside(xyz.reshape(3, -1), (gm + wm).reshape(-1)).reshape(shape)
    lesion = np.clip(gaussian_filter(hard.astype(np.float32), 0.5), 0.0, 1.0)
    lesion = np.maximum(lesion, hard.astype(np.float32))

    wmh, n_wmh = _draw_wmh(rng, xyz, wm, hard, age, voxel_ml)
    truth["wmh_volume_ml"] = float(n_wmh * voxel_ml)
    s0, gain = _mean_epi(rng, protocol, anat, scanner_xyz, xyz, wmh, lesion)

    # Fluctuations (fraction of s0), on the voxels inside the head only.
    idx = np.flatnonzero(mask > 0.02)
    frac, coupling, alff_ratio = _fluctuations(rng, protocol, t_vols, anat, xyz, idx, markers, sign)
    alive = (1.0 - lesion) * (1.0 - 0.5 * np.clip(gaussian_filter(lesion, 1.5) - lesion, 0, 1))
    frac *= alive.reshape(-1)[idx][:, None]
    s0_flat = s0.reshape(-1).astype(np.float32)
    vols = np.broadcast_to(s0_flat, (t_vols, s0_flat.size)).copy()
    vols[:, idx] = (s0_flat[idx][:, None] * (1.0 + frac)).T
    vols = vols.reshape(t_vols, *shape)
    del frac

    params, motion = _motion(rng, t_vols)
    moved = _move_head(vols, params, grid, head.head_centre_mm)
    del vols
    mag = _rician_magnitude(rng, moved, protocol.noise_sd * gain, protocol.scl_slope)
    del moved
    data = np.clip(np.rint(mag), 0, np.iinfo(np.int16).max).astype(np.int16).transpose(1, 2, 3, 0)
    data, affine = _reorient(np.ascontiguousarray(data), grid, protocol.orientation)

    transform, rms = _true_transform(head, scanner_xyz, xyz, mask, affine)
    truth.update(motion)
    truth.update(
        site=site,
        tr_s=tr,
        n_volumes=t_vols,
        voxel_size_mm="x".join(f"{z:g}" for z in protocol.zooms),
        orientation=protocol.orientation,
        oblique_deg=oblique_deg,
        motor_coupling=coupling,
        motor_alff_ratio=alff_ratio,
        lesion_hemisphere=lesion_hemi,
        head_scale=head.head_scale,
        ventricle_expansion=head.ventricle_expansion,
        gm_atrophy=head.gm_atrophy,
        affine_fit_rms_mm=rms,
        intensity_gain=gain,
    )
    return SimulatedBold(data, affine, protocol, truth, transform)


def _checked_bold_inputs(
    markers: Mapping[str, float], affected_side: str, site: str, n_volumes: int | None
) -> int:
    """The run's volume count, after refusing a side, site, markers or count it cannot use."""
    from rehab_core._validation import check_int, check_option

    check_option("affected_side", affected_side, ("left", "right"))
    check_option("site", site, tuple(SITES))
    missing = sorted({"lesion_load", "lesion_volume", "motor_network", "motor_alff"} - set(markers))
    if missing:
        raise ValueError(f"markers lacks the fMRI marker(s) {', '.join(missing)}.")
    if not all(np.isfinite(float(markers[k])) for k in markers):
        raise ValueError(f"markers={dict(markers)!r} must be finite values.")
    protocol: ScannerProtocol = SITES[site]
    return (
        protocol.n_volumes
        if n_volumes is None
        else check_int("n_volumes", n_volumes, low=8, high=2000)
    )


def _draw_wmh(
    rng: np.random.Generator,
    xyz: np.ndarray,
    wm: np.ndarray,
    hard: np.ndarray,
    age: float,
    voxel_ml: float,
) -> tuple[np.ndarray, int]:
    """White-matter hyperintensities (small-vessel disease), more with age: a nuisance.

    Returns the smoothed WMH map and its voxel count (outside the infarct ``hard``).
    """
    from scipy.ndimage import gaussian_filter

    ageing = float(np.clip((age - 40.0) / 40.0, 0.0, 1.0))
    wmh_ml = float(np.exp(rng.normal(np.log(0.5 + 12.0 * ageing**2), 0.7)))
    d2 = np.min(
        [
            ((xyz - np.array(c).reshape(3, 1, 1, 1)) ** 2).sum(axis=0)
            for c in ((-8, -5, 15), (8, -5, 15))
        ],
        axis=0,
    )
    score = _smooth_field(rng, xyz, 12.0) + 2.5 * np.exp(-d2 / (2.0 * 22.0**2))
    candidates = (wm > 0.5) & (hard == 0)
    n_wmh = int(min(round(wmh_ml / voxel_ml), candidates.sum()))
    wmh = np.zeros(hard.shape, np.float32)
    if n_wmh > 0:
        cut = np.sort(score[candidates])[-n_wmh]
        wmh[candidates & (score >= cut)] = 1.0
    return gaussian_filter(wmh, 0.6), n_wmh


def _mean_epi(
    rng: np.random.Generator,
    protocol: ScannerProtocol,
    anat: Mapping[str, np.ndarray],
    scanner_xyz: np.ndarray,
    xyz: np.ndarray,
    wmh: np.ndarray,
    lesion: np.ndarray,
) -> tuple[np.ndarray, float]:
    """The mean EPI image and the scanner's gain.

    Site contrast, receive bias (fixed to the coil: scanner space), susceptibility
    dropout (fixed to the anatomy), infarct and WMH hyperintensity.
    """
    from scipy.ndimage import gaussian_filter

    shape = lesion.shape
    gain = float(np.exp(rng.normal(0.0, 0.15)))
    scale = protocol.intensity * gain
    c_gm, c_wm, c_csf = protocol.contrast
    s0 = scale * (c_gm * anat["gm"] + c_wm * anat["wm"] + c_csf * anat["csf"])
    scanner_grid = scanner_xyz.reshape(3, *shape)
    bias = np.exp(
        protocol.bias_strength * _smooth_field(rng, scanner_grid, 180.0, n=6)
        + 0.5 * protocol.bias_strength * (np.linalg.norm(scanner_grid, axis=0) / 80.0) ** 2
    )
    drop = np.ones(shape)
    for cx, cy, cz, w in (
        (0.0, 38.0, -22.0, 14.0),
        (-44.0, 0.0, -32.0, 12.0),
        (44.0, 0.0, -32.0, 12.0),
    ):
        dd = (xyz[0] - cx) ** 2 + (xyz[1] - cy) ** 2 + (xyz[2] - cz) ** 2
        drop -= protocol.dropout * np.exp(-dd / (2 * w**2))
    s0 = s0 * np.clip(drop, 0.1, 1.0)
    s0 = s0 * (1.0 + rng.uniform(0.15, 0.3) * wmh)
    texture = 1.0 + 0.06 * gaussian_filter(rng.standard_normal(shape), 0.8) / 0.2
    brightness = rng.uniform(0.85, 1.05)
    s0 = (1.0 - lesion) * s0 + lesion * scale * brightness * texture  # oedematous infarct
    return s0 * bias, gain


def _fluctuations(
    rng: np.random.Generator,
    protocol: ScannerProtocol,
    t_vols: int,
    anat: Mapping[str, np.ndarray],
    xyz: np.ndarray,
    idx: np.ndarray,
    markers: Mapping[str, float],
    sign: float,
) -> tuple[np.ndarray, float, float]:
    """BOLD fluctuations as a fraction of s0 on the voxels ``idx``, shape (n_vox, T).

    Local smooth noise, a global signal, physiological noise in CSF and the motor
    network. Returns it with the network's coupling and ALFF ratio.
    """
    from scipy.ndimage import gaussian_filter
    from scipy.special import ndtr

    shape = anat["gm"].shape
    basis = _band_basis(t_vols, protocol.tr_s)
    n_vox = idx.size
    fields = rng.standard_normal((basis.shape[0], *shape), dtype=np.float32)
    fields = gaussian_filter(fields, (0.0, 1.0, 1.0, 0.8)).reshape(basis.shape[0], -1)[:, idx]
    local = _unit_rows(fields.T @ basis)  # (n_vox, T), spatially smooth low-frequency noise
    gm_v, wm_v, csf_v = (anat[k].reshape(-1)[idx][:, None] for k in ("gm", "wm", "csf"))
    local_amp = float(np.exp(rng.normal(0.0, 0.2)))
    frac = (local_amp * (0.008 * gm_v + 0.004 * wm_v)) * local
    del local, fields
    ts = _unit_rows(
        rng.standard_normal((2 + len(MOTOR_ROIS), basis.shape[0]), dtype=np.float32) @ basis
    )
    glob, network, roi_noise = ts[0], ts[1], ts[2:]
    physio = protocol.physio * float(np.exp(rng.normal(0.0, 0.3)))
    frac += (0.003 * physio * (gm_v + wm_v)) * glob[None, :]
    frac += (0.015 * physio * csf_v) * rng.standard_normal((n_vox, t_vols), dtype=np.float32)

    # Motor network: contralesional regions follow it; ipsilesional ones by ``coupling``,
    # with amplitude ``alff_ratio`` relative to the other side.
    coupling = float(0.15 + 0.8 * ndtr(markers["motor_network"]))
    alff_ratio = float(0.5 + 0.6 * ndtr(markers["motor_alff"]))
    net_amp = 0.015 * float(np.exp(rng.normal(0.0, 0.2)))
    weights = _motor_weights(xyz, anat["gm"], idx, sign, coupling, alff_ratio)
    frac += net_amp * (weights @ np.vstack([network[None, :], roi_noise]))
    return frac, coupling, alff_ratio


def _motor_weights(
    xyz: np.ndarray,
    gm: np.ndarray,
    idx: np.ndarray,
    sign: float,
    coupling: float,
    alff_ratio: float,
) -> np.ndarray:
    """Weights (n_vox, 1 + n_rois) of the network signal and each ROI's own noise."""
    from scipy.ndimage import gaussian_filter

    weights = np.zeros((idx.size, 1 + len(MOTOR_ROIS)), np.float32)
    for k, (center, radius) in enumerate(MOTOR_ROIS.values()):
        for side in (-1.0, 1.0):
            roi = _sphere(xyz, (center[0] * side, center[1], center[2]), radius)
            w = (gaussian_filter(roi.astype(np.float32), 1.0) * gm).reshape(-1)[idx]
            if side == sign:
                weights[:, 0] += alff_ratio * coupling * w
                weights[:, 1 + k] += alff_ratio * np.sqrt(1.0 - coupling**2) * w
            else:
                weights[:, 0] += w
    return weights


def _move_head(
    vols: np.ndarray, params: np.ndarray, grid: np.ndarray, head_centre_mm: np.ndarray
) -> np.ndarray:
    """Head motion in the scanner, about the head centre.

    Output voxel o shows the anatomy at G^-1 M_v^-1 G o, M_v(p) = R (p - h) + h + t.
    """
    from scipy.ndimage import affine_transform

    g_lin, g_off = grid[:3, :3], grid[:3, 3]
    g_inv = np.linalg.inv(g_lin)
    h = head_centre_mm
    moved = np.empty_like(vols)
    for v in range(len(vols)):
        rot_t = _rotation(params[v, 3:]).T
        matrix = g_inv @ rot_t @ g_lin
        offset = g_inv @ (rot_t @ (g_off - h - params[v, :3]) + h - g_off)
        affine_transform(vols[v], matrix, offset=offset, output=moved[v], order=1, cval=0.0)
    return moved


def _rician_magnitude(
    rng: np.random.Generator, moved: np.ndarray, sigma: float, scl_slope: float
) -> np.ndarray:
    """Thermal noise on the complex signal -> Rician magnitude, in units of the int16 slope.

    Adds the real part's noise to ``moved`` in place (it is not used afterwards).
    """
    moved += sigma * rng.standard_normal(moved.shape, dtype=np.float32)
    imag = sigma * rng.standard_normal(moved.shape, dtype=np.float32)
    return np.sqrt(moved * moved + imag * imag) / np.float32(scl_slope)


def _true_transform(
    head: Any, scanner_xyz: np.ndarray, xyz: np.ndarray, mask: np.ndarray, affine: np.ndarray
) -> tuple[dict[str, Any], float]:
    """The record of the true scanner -> MNI mapping, and its affine fit's RMS (mm)."""
    brain = mask.reshape(-1) > 0.5
    fit, rms = _affine_fit(scanner_xyz[:, brain], xyz.reshape(3, -1)[:, brain])
    names = list(LANDMARKS)
    lm_mni = np.array([LANDMARKS[k] for k in names]).T
    lm_scanner = head.mni_to_scanner(lm_mni)
    transform = {
        "from": "scanner",
        "to": MNI_SPACE,
        "description": (
            "True mapping from this patient's scanner mm (the fMRI file's world space) to "
            "MNI152 2009a mm, valid for the mean head position of the run: "
            "rehab_core.demo.true_scanner_to_mni(points, this record)."
        ),
        "fmri_voxel_to_scanner": affine.tolist(),
        "affine_fit_scanner_to_mni": fit.tolist(),
        "affine_fit_rms_mm": rms,
        "landmarks_mni_mm": {k: lm_mni[:, i].tolist() for i, k in enumerate(names)},
        "landmarks_scanner_mm": {k: lm_scanner[:, i].tolist() for i, k in enumerate(names)},
        "head": head.to_dict(),
    }
    return transform, rms
