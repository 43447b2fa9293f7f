"""Per-patient anatomy, scanner sites and the true scanner-to-MNI transform.

Every synthetic patient's brain is the MNI152 2009a (symmetric) template,
which ships inside the nilearn wheel, deformed and placed in a scanner:

* **head size and shape**: an affine with a sex-dependent global scale, per-axis
  scales and a small shear;
* **position**: a rotation (mostly pitch) and translation about the scanner's
  isocentre;
* **a smooth non-linear warp**: a cubic-spline displacement field on a
  30-mm control grid (a few mm);
* **ageing**: the lateral ventricles expand radially with age and grey
  matter thins (more cerebrospinal fluid in the sulci).

The mapping from scanner millimetres to MNI millimetres is written out
exactly (:class:`HeadModel`, :func:`true_scanner_to_mni`), so registration can
be scored against the truth. The scanner sites (:data:`SITES`) fix the EPI
protocol: matrix, voxel size, TR, volumes, storage orientation, slab
angulation, NIfTI codes, intensity scale and noise.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "MNI_SPACE",
    "SITES",
    "ScannerProtocol",
    "HeadModel",
    "draw_head",
    "draw_grid",
    "true_scanner_to_mni",
    "true_mni_to_scanner",
    "LANDMARKS",
]

MNI_SPACE = "MNI152NLin2009aSym"
"""The template space of the anatomy (BIDS name of the nilearn-bundled MNI152 2009a sym)."""

_BRAIN_CENTRE_MNI = np.array([0.0, -20.0, 10.0])
_VENTRICLE_CENTRES_MNI = np.array([[-8.0, -5.0, 15.0], [8.0, -5.0, 15.0]])
_VENTRICLE_SIGMA_MM = 18.0
_WARP_ORIGIN_MNI = np.array([-105.0, -140.0, -90.0])
_WARP_SPACING_MM = 30.0
_WARP_SHAPE = (8, 9, 8)  # covers x -105..105, y -140..100, z -90..120

LANDMARKS: dict[str, tuple[float, float, float]] = {
    "anterior_commissure": (0.0, 2.0, -4.0),
    "posterior_commissure": (0.0, -26.0, -2.0),
    "m1_leg_left": (-8.0, -26.0, 66.0),
    "m1_leg_right": (8.0, -26.0, 66.0),
    "m1_hand_left": (-38.0, -22.0, 56.0),
    "m1_hand_right": (38.0, -22.0, 56.0),
    "internal_capsule_left": (-22.0, -13.0, 6.0),
    "internal_capsule_right": (22.0, -13.0, 6.0),
    "pons": (0.0, -26.0, -30.0),
    "occipital_pole_left": (-16.0, -100.0, 6.0),
    "frontal_pole_right": (16.0, 64.0, 6.0),
    "vertex": (0.0, -30.0, 76.0),
}
"""MNI positions of landmarks whose scanner positions the transform record gives (mm)."""


@dataclasses.dataclass(frozen=True)
class ScannerProtocol:
    """One site's resting-state EPI protocol and scanner character.

    Attributes
    ----------
    site : str
    manufacturer, model : str
    field_strength_t : float
    shape : (int, int, int)
        Matrix (in-plane x in-plane x slices).
    zooms : (float, float, float)
        Voxel size (mm).
    tr_s : float
    n_volumes : int
        Volumes of the protocol (``volumes=None`` in the cohort settings).
    orientation : str
        Storage axis codes of the voxel array (nibabel ``aff2axcodes``).
    oblique : bool
        Whether the slab is angulated along the AC-PC line (else true axial).
    qform_code, sform_code : int
        NIfTI codes (1 = scanner anatomy, 0 = unset).
    scl_slope : float
        NIfTI intensity scaling of the stored int16.
    intensity : float
        Signal of cerebrospinal fluid (scanner units, before per-patient gain).
    contrast : (float, float, float)
        Grey matter, white matter, CSF signal relative to ``intensity``.
    noise_sd : float
        Thermal noise per quadrature channel (scanner units).
    bias_strength : float
        Amplitude of the smooth receive-bias field (log scale).
    dropout : float
        Depth of susceptibility signal loss (0-1) over orbitofrontal cortex
        and the temporal poles.
    physio : float
        Scale of physiological (cardiac, respiratory, global) fluctuations.
    """

    site: str
    manufacturer: str
    model: str
    field_strength_t: float
    shape: tuple[int, int, int]
    zooms: tuple[float, float, float]
    tr_s: float
    n_volumes: int
    orientation: str
    oblique: bool
    qform_code: int
    sform_code: int
    scl_slope: float
    intensity: float
    contrast: tuple[float, float, float]
    noise_sd: float
    bias_strength: float
    dropout: float
    physio: float


SITES: dict[str, ScannerProtocol] = {
    "A": ScannerProtocol(
        site="A",
        manufacturer="GE",
        model="Architect",
        field_strength_t=3.0,
        shape=(64, 64, 35),
        zooms=(3.4375, 3.4375, 4.0),
        tr_s=2.0,
        n_volumes=120,
        orientation="LAS",
        oblique=True,
        qform_code=1,
        sform_code=1,
        scl_slope=1.0,
        intensity=250.0,
        contrast=(0.72, 0.55, 1.0),
        noise_sd=2.0,
        bias_strength=0.15,
        dropout=0.7,
        physio=1.0,
    ),
    "B": ScannerProtocol(
        site="B",
        manufacturer="Siemens",
        model="Prisma",
        field_strength_t=3.0,
        shape=(72, 72, 44),
        zooms=(3.0, 3.0, 3.0),
        tr_s=2.5,
        n_volumes=160,
        orientation="LPS",
        oblique=True,
        qform_code=1,
        sform_code=1,
        scl_slope=1.0,
        intensity=900.0,
        contrast=(0.78, 0.62, 1.0),
        noise_sd=8.0,
        bias_strength=0.2,
        dropout=0.8,
        physio=1.2,
    ),
    "C": ScannerProtocol(
        site="C",
        manufacturer="Philips",
        model="Achieva",
        field_strength_t=1.5,
        shape=(64, 64, 32),
        zooms=(3.75, 3.75, 4.0),
        tr_s=3.0,
        n_volumes=100,
        orientation="RAS",
        oblique=False,
        qform_code=1,
        sform_code=0,
        scl_slope=1.6,
        intensity=600.0,
        contrast=(0.7, 0.52, 1.0),
        noise_sd=6.0,
        bias_strength=0.1,
        dropout=0.5,
        physio=0.7,
    ),
    "D": ScannerProtocol(
        site="D",
        manufacturer="Siemens",
        model="Skyra",
        field_strength_t=3.0,
        shape=(60, 60, 36),
        zooms=(3.6, 3.6, 3.6),
        tr_s=2.0,
        n_volumes=240,
        orientation="RPI",
        oblique=True,
        qform_code=1,
        sform_code=1,
        scl_slope=1.0,
        intensity=1500.0,
        contrast=(0.75, 0.58, 1.0),
        noise_sd=12.0,
        bias_strength=0.2,
        dropout=0.75,
        physio=1.1,
    ),
}
"""The scanner sites; A is the paper's (GE 3 T, 64 x 64 x 35, 4-mm slices, TR 2 s, 120 volumes)."""


def _rotation(angles_rad) -> np.ndarray:
    """Rotation matrix ``Rz @ Ry @ Rx`` from angles about x (pitch), y (roll), z (yaw)."""
    a, b, c = (float(v) for v in angles_rad)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


@dataclasses.dataclass(frozen=True)
class HeadModel:
    """One patient's brain in the scanner: the exact scanner-to-MNI mapping.

    ``scanner_to_mni(p) = V(N(L(p)))`` with

    * ``L(p) = linear[:3, :3] @ p + linear[:3, 3]``, the inverse of the head's
      size, shape and position (an affine);
    * ``N(x) = x + d(x)``, ``d`` a cubic-spline interpolation (scipy
      ``map_coordinates``, order 3, ``mode="nearest"``) of ``warp_mm`` on the
      control grid ``warp_origin_mm + spacing * index``;
    * ``V``: for each ventricle centre ``v`` in turn,
      ``x -> v + (x - v) (1 - expansion * exp(-|x - v|^2 / (2 sigma^2)))``,
      which pulls template positions towards the ventricles, so sampled
      ventricles look larger.

    Attributes
    ----------
    linear : ndarray, shape (4, 4)
        Scanner mm -> MNI mm affine before the warp.
    warp_mm : ndarray, shape (3, 8, 9, 8)
        Displacement (mm) at the control points, in MNI mm.
    ventricle_expansion : float
        0 (the template's ventricles) to about 0.45.
    gm_atrophy : float
        Fraction of grey matter replaced by CSF (0-0.2).
    head_scale : float
        Global linear scale of the head relative to MNI (the affine's cube
        root determinant).
    head_centre_mm : ndarray, shape (3,)
        Scanner position of the MNI brain centre (0, -20, 10).
    pitch_deg : float
        Head pitch about the scanner x axis (chin down positive).
    """

    linear: np.ndarray
    warp_mm: np.ndarray
    ventricle_expansion: float
    gm_atrophy: float
    head_scale: float
    head_centre_mm: np.ndarray
    pitch_deg: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (exact: floats round-trip through ``json``)."""
        return {
            "linear_scanner_to_mni": self.linear.tolist(),
            "warp": {
                "origin_mm": _WARP_ORIGIN_MNI.tolist(),
                "spacing_mm": _WARP_SPACING_MM,
                "shape": list(_WARP_SHAPE),
                "displacement_mm": self.warp_mm.tolist(),
                "interpolation": "scipy.ndimage.map_coordinates order 3, mode nearest",
            },
            "ventricles": {
                "centres_mm": _VENTRICLE_CENTRES_MNI.tolist(),
                "sigma_mm": _VENTRICLE_SIGMA_MM,
                "expansion": self.ventricle_expansion,
            },
            "gm_atrophy": self.gm_atrophy,
            "head_scale": self.head_scale,
            "head_centre_mm": self.head_centre_mm.tolist(),
            "pitch_deg": self.pitch_deg,
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> HeadModel:
        """Rebuild from :meth:`to_dict` output (or a transform sidecar)."""
        warp = record["warp"]
        if (
            list(warp["shape"]) != list(_WARP_SHAPE)
            or float(warp["spacing_mm"]) != _WARP_SPACING_MM
            or list(warp["origin_mm"]) != _WARP_ORIGIN_MNI.tolist()
        ):
            raise ValueError("This transform record has another warp grid; it is not from v2.")
        return cls(
            linear=np.asarray(record["linear_scanner_to_mni"], dtype=float),
            warp_mm=np.asarray(warp["displacement_mm"], dtype=float),
            ventricle_expansion=float(record["ventricles"]["expansion"]),
            gm_atrophy=float(record["gm_atrophy"]),
            head_scale=float(record["head_scale"]),
            head_centre_mm=np.asarray(record["head_centre_mm"], dtype=float),
            pitch_deg=float(record["pitch_deg"]),
        )

    # --- the mapping ---------------------------------------------------------------------

    def _displacement(self, x: np.ndarray) -> np.ndarray:
        from scipy.ndimage import map_coordinates

        grid = (x - _WARP_ORIGIN_MNI[:, None]) / _WARP_SPACING_MM
        return np.stack(
            [map_coordinates(self.warp_mm[k], grid, order=3, mode="nearest") for k in range(3)]
        )

    def _ventricle_weights(self, x: np.ndarray, centre: np.ndarray) -> np.ndarray:
        d2 = ((x - centre[:, None]) ** 2).sum(axis=0)
        return 1.0 - self.ventricle_expansion * np.exp(-d2 / (2.0 * _VENTRICLE_SIGMA_MM**2))

    def scanner_to_mni(self, points: np.ndarray) -> np.ndarray:
        """Map scanner mm to MNI mm.

        Parameters
        ----------
        points : ndarray, shape (3, ...)
            Scanner coordinates (mm).

        Returns
        -------
        ndarray, same shape
            MNI coordinates (mm).
        """
        p = np.asarray(points, dtype=float)
        flat = p.reshape(3, -1)
        x = self.linear[:3, :3] @ flat + self.linear[:3, 3:4]
        x = x + self._displacement(x)
        for centre in _VENTRICLE_CENTRES_MNI:
            x = centre[:, None] + (x - centre[:, None]) * self._ventricle_weights(x, centre)
        return x.reshape(p.shape)

    def mni_to_scanner(self, points: np.ndarray, n_iter: int = 60) -> np.ndarray:
        """Inverse of :meth:`scanner_to_mni` (fixed-point iterations; error far below 0.01 mm).

        Parameters
        ----------
        points : ndarray, shape (3, ...)
            MNI coordinates (mm).
        n_iter : int
            Iterations of each fixed-point inversion.

        Returns
        -------
        ndarray, same shape
            Scanner coordinates (mm).
        """
        y = np.asarray(points, dtype=float)
        flat = y.reshape(3, -1)
        x = flat.copy()
        for centre in _VENTRICLE_CENTRES_MNI[::-1]:
            target = x.copy()
            guess = target.copy()
            for _ in range(n_iter):
                guess = centre[:, None] + (target - centre[:, None]) / self._ventricle_weights(
                    guess, centre
                )
            x = guess
        target = x
        guess = target.copy()
        for _ in range(n_iter):
            guess = target - self._displacement(guess)
        inv = np.linalg.inv(self.linear)
        p = inv[:3, :3] @ guess + inv[:3, 3:4]
        return p.reshape(y.shape)


def draw_head(rng: np.random.Generator, *, age: float, sex: str) -> HeadModel:
    """Draw one patient's head size, shape, position, warp and age-related atrophy.

    Parameters
    ----------
    rng : numpy.random.Generator
    age : float
        Years; sets ventricle expansion and grey-matter atrophy (with noise).
    sex : {"M", "F"}
        Men's heads are about 6 % larger on average.

    Returns
    -------
    HeadModel
    """
    from rehab_core._validation import check_option

    check_option("sex", sex, ("M", "F"))
    size = np.exp(rng.normal(0.03 if sex == "M" else -0.03, 0.045))
    axes = np.exp(rng.normal(0.0, 0.035, 3))
    shear = np.eye(3)
    shear[0, 1], shear[0, 2], shear[1, 2] = rng.normal(0.0, 0.02, 3)
    angles = np.deg2rad(rng.normal(0.0, (8.0, 3.0, 3.0)))
    angles[0] += np.deg2rad(4.0)  # patients lie with the chin slightly down on average
    centre = rng.normal(0.0, (4.0, 8.0, 8.0))
    head = _rotation(angles) @ shear @ np.diag(size * axes)  # MNI-linear -> scanner
    to_scanner = np.eye(4)
    to_scanner[:3, :3] = head
    to_scanner[:3, 3] = centre - head @ _BRAIN_CENTRE_MNI
    warp = rng.normal(0.0, 2.0, (3, *_WARP_SHAPE))
    ageing = float(np.clip((age - 40.0) / 40.0, 0.0, 1.0))
    expansion = float(np.clip(0.08 + 0.3 * ageing + rng.normal(0.0, 0.06), 0.0, 0.45))
    atrophy = float(np.clip(0.02 + 0.1 * ageing + rng.normal(0.0, 0.03), 0.0, 0.2))
    return HeadModel(
        linear=np.linalg.inv(to_scanner),
        warp_mm=warp,
        ventricle_expansion=expansion,
        gm_atrophy=atrophy,
        head_scale=float(np.cbrt(abs(np.linalg.det(head)))),
        head_centre_mm=centre,
        pitch_deg=float(np.rad2deg(angles[0])),
    )


def draw_grid(
    rng: np.random.Generator, protocol: ScannerProtocol, head: HeadModel
) -> tuple[np.ndarray, float]:
    """The EPI slab in the scanner: voxel -> scanner affine (RAS-ordered voxels).

    The technologist centres the field of view on the head (within a few mm)
    and, at sites that angulate, tilts the slab towards the head's AC-PC line.

    Returns
    -------
    affine : ndarray, shape (4, 4)
        Voxel (i right, j anterior, k superior, before reorientation) to
        scanner mm; the grid centre lies near the scanner's origin.
    oblique_deg : float
        Angle between the slab and the scanner's axial plane.
    """
    if protocol.oblique:
        angles = np.deg2rad(
            [
                head.pitch_deg * rng.uniform(0.5, 1.0) + rng.normal(0.0, 3.0),
                *rng.normal(0.0, 1.5, 2),
            ]
        )
    else:
        angles = np.zeros(3)
    rot = _rotation(angles)
    zooms = np.asarray(protocol.zooms, dtype=float)
    centre_vox = (np.asarray(protocol.shape, dtype=float) - 1.0) / 2.0
    fov_centre = head.head_centre_mm + rng.normal(0.0, (2.0, 4.0, 5.0))
    affine = np.eye(4)
    affine[:3, :3] = rot @ np.diag(zooms)
    affine[:3, 3] = fov_centre - affine[:3, :3] @ centre_vox
    tilt = float(np.rad2deg(np.arccos(np.clip(rot[2, 2], -1.0, 1.0))))
    return affine, tilt


def true_scanner_to_mni(points_mm: np.ndarray, transform: dict[str, Any]) -> np.ndarray:
    """Map scanner mm to MNI mm with a patient's true transform record.

    Parameters
    ----------
    points_mm : array-like, shape (3,) or (3, N)
        Scanner coordinates (mm) of the patient's fMRI file.
    transform : dict
        The patient's record: ``PatientFiles.scanner_to_mni`` or the JSON
        sidecar ``derivatives/truth/sub-XXX/..._xfm.json`` of a cohort.

    Returns
    -------
    ndarray, same shape
        MNI152 2009a coordinates (mm).
    """
    return HeadModel.from_dict(transform["head"]).scanner_to_mni(np.asarray(points_mm, float))


def true_mni_to_scanner(points_mm: np.ndarray, transform: dict[str, Any]) -> np.ndarray:
    """Inverse of :func:`true_scanner_to_mni` (MNI mm to the patient's scanner mm)."""
    return HeadModel.from_dict(transform["head"]).mni_to_scanner(np.asarray(points_mm, float))


# --- templates ----------------------------------------------------------------------------

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
def _templates() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The 1-mm templates averaged in 2 x 2 x 2 blocks, and the blocks' voxel -> MNI affine.

    Values 0-1: ``t1`` (scaled by its maximum), ``gm``, ``wm`` probabilities.
    """
    import nibabel as nib

    maps = {}
    affine = None
    for name in ("t1", "gm", "wm"):
        img = nib.load(_template_path(name))
        vol = np.asarray(img.dataobj, dtype=np.float32)
        vol /= vol.max()
        nx, ny, nz = (d // 2 for d in vol.shape)
        vol = vol[: 2 * nx, : 2 * ny, : 2 * nz].reshape(nx, 2, ny, 2, nz, 2).mean(axis=(1, 3, 5))
        vol.flags.writeable = False
        maps[name] = vol
        affine = img.affine @ np.diag([2.0, 2.0, 2.0, 1.0])
        affine[:3, 3] = img.affine[:3, :3] @ np.full(3, 0.5) + img.affine[:3, 3]
    assert affine is not None
    return maps, affine


def sample_tissue(xyz_mni: np.ndarray, gm_atrophy: float = 0.0) -> dict[str, np.ndarray]:
    """Tissue probabilities at MNI positions (trilinear in the 2-mm block-averaged templates).

    Parameters
    ----------
    xyz_mni : ndarray, shape (3, ...)
        MNI coordinates (mm).
    gm_atrophy : float
        Fraction of grey matter turned into CSF.

    Returns
    -------
    dict
        ``gm``, ``wm``, ``csf`` (probabilities, summing to at most 1) and
        ``mask`` (brain: T1 template above 0.2 of its maximum), float32, the
        shape of ``xyz_mni[0]``.
    """
    from scipy.ndimage import map_coordinates

    maps, affine = _templates()
    shape = xyz_mni.shape[1:]
    inv = np.linalg.inv(affine)
    vox = inv[:3, :3] @ xyz_mni.reshape(3, -1) + inv[:3, 3:4]
    out = {
        name: np.clip(map_coordinates(maps[name], vox, order=1, cval=0.0), 0.0, 1.0)
        .reshape(shape)
        .astype(np.float32)
        for name in ("t1", "gm", "wm")
    }
    mask = (out.pop("t1") > 0.2).astype(np.float32)
    tissue = out["gm"] + out["wm"]
    scale = np.where(tissue > 1.0, 1.0 / np.maximum(tissue, 1e-6), 1.0).astype(np.float32)
    gm = out["gm"] * scale * mask
    wm = out["wm"] * scale * mask
    gm_lost = gm * np.float32(gm_atrophy)
    gm = gm - gm_lost
    csf = np.clip(mask - gm - wm, 0.0, 1.0)
    return {"gm": gm, "wm": wm, "csf": csf, "mask": mask}
