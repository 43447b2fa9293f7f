"""Which library registers a mean EPI to the MNI152 template best, and how fast?

Candidates, all rigid then affine with mutual information (the moving image
is a mean EPI, T2*-weighted: fluid bright, white matter dark; the template
is nilearn's bundled MNI152 2009a T1: the opposite), all given the same
4-mm template (``--template-mm``) and the same fixed mask (the template's
brain plus an 8-mm rim of background), one thread each:

* ``rehab``: :func:`rehab_core.imaging.register_to_template`, the SimpleITK
  set-up the pipeline ships (three short gradient-descent stages, a few
  thousand sampled points, image gradients only at the points);
* ``sitk_textbook``: SimpleITK as its tutorials set it up (moments start,
  regular-step gradient descent, scales from physical shifts, shrink 4-2-1,
  25 % sampling, whole-image gradient filters);
* ``dipy``: ``dipy.align.imaffine`` (centres of mass, then rigid and affine,
  factors 2-1, every voxel: dipy drops the mask when it samples);
* ``ants``, ``ants_fast``, ``ants_bold``: ANTsPy's ``Affine``, ``AffineFast``
  and ``BOLDAffine`` (centre-of-mass start, Mattes MI; shrink 6-4-2-1 with
  2100-1200-1200-10 iterations, the same without the two finest levels, and
  shrink 2-1 with 100-20 iterations).

Cases with a known answer (``--make-cases N``): an EPI-like volume exactly in
MNI space (cerebrospinal fluid 1.0, grey matter 0.72, white matter 0.55, from
the template's tissue maps; the contrast of ``rehab_core.demo``'s BOLD), with
a hyperintense lesion in a random place and orbitofrontal dropout, is warped
by a random affine ``M`` (MNI -> scanner: rotations up to 15 degrees about
each axis, shifts up to 30 mm, scaling 0.85-1.15 per axis), blurred to and
sampled on a scanner grid of 3-4 mm voxels stored RAS, LPS, LAS or oblique
(axes tilted up to 20 degrees), with an intensity scale (x0.3-3), a smooth
multiplicative bias field (+-20 %) and noise. The error of an estimate ``T``
is ``|T(c) - M(c)|`` in mm at the eight corners of the brain's bounding box
(x +-70, y -105..70, z -50..80 mm), where rotation and scaling errors are
largest.

``--cohort DIR`` also scores the methods on a synthetic cohort v2 (scanner-
space files with per-patient non-linear anatomy; ``rehab demo-cohort``): the
error at the twelve landmarks whose true scanner positions the cohort writes
(``derivatives/truth/.../*_xfm.json``), which includes the non-linear part
that no affine can capture (the cohort's best affine fit, ``affine_fit_rms_mm``,
is reported beside it).

Only SimpleITK is a dependency of the project; to measure the others again
install ``dipy==1.12.1`` (it was measured in the project's environment and
uninstalled after). ANTsPy pins ``numpy<2.4`` and ``scipy<1.16`` (the
project's lock has newer ones), so it runs from a separate virtual environment
on the same cases file; results are merged into ``--out``::

    PYTHONPATH=. .venv/bin/python bench/bench_registration.py --make-cases 24
    PYTHONPATH=. .venv/bin/python bench/bench_registration.py \\
        --methods rehab sitk_textbook dipy [--cohort /tmp/cohort]
    python -m venv /tmp/ants && /tmp/ants/bin/pip install antspyx==0.6.3 nibabel
    /tmp/ants/bin/python bench/bench_registration.py --methods ants ants_fast ants_bold \\
        [--cohort ...]

``--pipeline`` times what registration adds to one new paper-scale patient
(9 min of 22-channel EEG-EMG, 64 x 64 x 35 x 120 fMRI, from
``rehab_core.demo.generate_patient``): ``register_to_template`` alone,
``preprocess_fmri`` in template space and in scanner space
(``normalization="none"``, the pipeline before registration), and the whole
prediction with the shipped bundle (read both files, preprocess, models),
repeats interleaved; and, in a fresh process, the one-off cost of loading
SimpleITK and the template::

    PYTHONPATH=. .venv/bin/python bench/bench_registration.py --pipeline

Times are CPU seconds of the process (``time.process_time``, all threads),
the first call of each method (imports, template caches) not counted, and
wall-clock seconds, with the load average at the start: the benchmark
machine has two cores shared with other work, so wall time there varies
two- to four-fold with the load while CPU time does not.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

# ITK reads its thread count when it is first loaded (ANTsPy, SimpleITK's default)
os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

HERE = Path(__file__).resolve().parent
DEFAULT_CASES = Path("/tmp/bench_registration_cases.npz")
DEFAULT_OUT = HERE / "bench_registration.json"
BOX_MM = np.array([[-70.0, 70.0], [-105.0, 70.0], [-50.0, 80.0]])


# ----------------------------------------------------------------------------- geometry
def corners_mm() -> np.ndarray:
    """The eight corners of the brain's bounding box, shape (4, 8), homogeneous."""
    grid = np.array(np.meshgrid(*BOX_MM, indexing="ij")).reshape(3, -1)
    return np.vstack([grid, np.ones((1, 8))])


def corner_errors(estimate: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Displacement (mm) between two MNI -> subject world maps at the eight corners."""
    c = corners_mm()
    return np.linalg.norm((estimate @ c - truth @ c)[:3], axis=0)


def rotation(angles_rad) -> np.ndarray:
    rx, ry, rz = angles_rad
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    rot_x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    rot_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rot_z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rot_z @ rot_y @ rot_x


# ----------------------------------------------------------------------------- the template
def block_template(volume: np.ndarray, affine: np.ndarray, factor: int):
    """Average ``factor``^3 blocks of a 1-mm volume: (volume, affine) at ``factor`` mm.

    The same as ``rehab_core.imaging.registration._block_mean`` (and
    ``_sitk_image`` below as its namesake): this file also runs in the ANTsPy
    environment, which cannot import rehab_core's dependencies.
    """
    n = [s // factor for s in volume.shape]
    v = volume[: n[0] * factor, : n[1] * factor, : n[2] * factor]
    v = v.reshape(n[0], factor, n[1], factor, n[2], factor).mean(axis=(1, 3, 5))
    out = affine @ np.diag([factor, factor, factor, 1.0])
    out[:3, 3] = affine[:3, :3] @ np.full(3, (factor - 1) / 2.0) + affine[:3, 3]
    return v.astype(np.float32), out


# ----------------------------------------------------------------------------- cases
def _data_path(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("making the cases needs nilearn's bundled templates")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    return folder / f"mni_icbm152_{name}_tal_nlin_sym_09a_converted.nii.gz"


def epi_like_source():
    """A 2-mm mean-EPI-like volume exactly in MNI space, from the template's tissue maps.

    T2*-like contrast as in ``rehab_core.demo``: cerebrospinal fluid 1.0, grey
    matter 0.72, white matter 0.55, background 0 (the demo scans themselves
    carry a random head position of up to 3 mm and 3 degrees, so their true
    transform is not known exactly).
    """
    import nibabel

    maps = {}
    for name in ("t1", "gm", "wm"):
        img = nibabel.load(_data_path(name))
        volume = np.asarray(img.dataobj, dtype=np.float32)
        maps[name] = volume / volume.max()
    brain = (maps["t1"] > 0.2).astype(np.float32)
    csf = np.clip(brain - maps["gm"] - maps["wm"], 0.0, 1.0)
    epi = 0.72 * maps["gm"] + 0.55 * maps["wm"] + 1.0 * csf
    return block_template(epi, img.affine, 2)


def make_cases(n_cases: int, seed: int, path: Path) -> None:
    """Write ``n_cases`` warped EPI-like volumes with their true transforms to ``path``.

    Each case adds a hyperintense lesion (radius 8-25 mm) in a random place,
    orbitofrontal signal dropout, the scanner's blurring to its voxel size, a
    global intensity scale, a smooth bias field and noise.
    """
    import nibabel
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    source, src_affine = epi_like_source()
    src_world = (
        src_affine[:3, :3] @ np.indices(source.shape).reshape(3, -1) + src_affine[:3, 3:4]
    ).reshape(3, *source.shape)
    template = nibabel.load(_data_path("t1"))
    out: dict[str, np.ndarray] = {
        "template": np.asarray(template.dataobj, dtype=np.float32),
        "template_affine": template.affine,
    }
    orientations = ("RAS", "LPS", "LAS", "oblique")
    dropout_centre = np.array([0.0, 40.0, -25.0])
    for i in range(n_cases):
        angles = np.deg2rad(rng.uniform(-15, 15, 3))
        shift = rng.uniform(-30, 30, 3)
        scale = rng.uniform(0.85, 1.15, 3)
        truth = np.eye(4)
        truth[:3, :3] = rotation(angles) @ np.diag(scale)
        truth[:3, 3] = shift
        # the anatomy: a lesion and dropout, then blurred to the scanner's resolution
        lesion_centre = rng.uniform([-50, -60, -10], [50, 40, 50])
        radius = rng.uniform(8, 25)
        dist2 = ((src_world - lesion_centre[:, None, None, None]) ** 2).sum(axis=0)
        volume = source * np.where(dist2 < radius**2, 1.6, 1.0)
        dist2 = ((src_world - dropout_centre[:, None, None, None]) ** 2).sum(axis=0)
        volume = volume * (1.0 - 0.8 * np.exp(-dist2 / (2 * 15.0**2)))
        zooms = np.array([*(2 * [rng.uniform(3.0, 4.0)]), rng.uniform(3.0, 4.0)])
        sigma = np.sqrt(np.maximum(zooms.mean() ** 2 - 2.0**2, 0.0)) / 2.355 / 2.0
        coeffs = ndimage.spline_filter(ndimage.gaussian_filter(volume, sigma), order=3)
        # the storage grid: voxel sizes, orientation, a field of view centred on the head
        kind = orientations[i % len(orientations)]
        axes = {
            "RAS": np.eye(3),
            "LPS": np.diag([-1.0, -1.0, 1.0]),
            "LAS": np.diag([-1.0, 1.0, 1.0]),
            "oblique": rotation(np.deg2rad(rng.uniform(-20, 20, 3))),
        }[kind]
        shape = np.array([int(round(220 / zooms[0]))] * 2 + [int(round(150 / zooms[2]))])
        affine = np.eye(4)
        affine[:3, :3] = axes @ np.diag(zooms)
        head_centre = truth[:3, :3] @ np.array([0.0, -18.0, 16.0]) + truth[:3, 3]
        head_centre += rng.uniform(-10, 10, 3)
        affine[:3, 3] = head_centre - affine[:3, :3] @ ((shape - 1) / 2.0)
        # subject voxel -> subject world -> MNI -> source voxel
        to_src = np.linalg.inv(src_affine) @ np.linalg.inv(truth) @ affine
        ijk = np.indices(shape, dtype=np.float64).reshape(3, -1)
        coords = to_src[:3, :3] @ ijk + to_src[:3, 3:4]
        vol = ndimage.map_coordinates(
            coeffs, coords, order=3, prefilter=False, mode="constant", cval=0.0
        ).reshape(shape)
        bias = ndimage.gaussian_filter(rng.standard_normal(shape), 6.0)
        bias = np.exp(0.2 * bias / max(np.abs(bias).max(), 1e-9))
        vol = np.clip(vol, 0, None) * bias * rng.uniform(0.3, 3.0) * 500.0
        vol += np.abs(rng.normal(0.0, 0.02 * vol.max(), shape))
        out[f"vol{i}"] = vol.astype(np.float32)
        out[f"affine{i}"] = affine
        out[f"truth{i}"] = truth
        out[f"kind{i}"] = np.array(kind)
    out["n_cases"] = np.array(n_cases)
    np.savez_compressed(path, **out)
    print(f"wrote {n_cases} cases to {path}")


# ----------------------------------------------------------------------------- methods
def _sitk_image(volume: np.ndarray, affine: np.ndarray):
    """A SimpleITK image whose physical space is the NIfTI world (RAS mm) itself."""
    import SimpleITK as sitk

    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    image = sitk.GetImageFromArray(np.ascontiguousarray(volume.T, dtype=np.float32))
    image.SetSpacing([float(s) for s in spacing])
    image.SetOrigin([float(v) for v in affine[:3, 3]])
    image.SetDirection([float(v) for v in (affine[:3, :3] / spacing).ravel()])
    return image


def _itk_matrix(matrix, centre, translation) -> np.ndarray:
    """4x4 world matrix of an ITK matrix-offset transform (fixed point -> moving point)."""
    matrix = np.asarray(matrix, dtype=np.float64).reshape(3, 3)
    centre = np.asarray(centre, dtype=np.float64)
    out = np.eye(4)
    out[:3, :3] = matrix
    out[:3, 3] = np.asarray(translation, dtype=np.float64) + centre - matrix @ centre
    return out


def method_rehab(fixed, fixed_affine, moving, moving_affine, mask):
    """rehab_core.imaging.register_to_template (SimpleITK, the shipped set-up)."""
    from rehab_core.imaging import register_to_template

    return register_to_template(moving.astype(np.float32), moving_affine).matrix


def method_sitk_textbook(fixed, fixed_affine, moving, moving_affine, mask):
    """SimpleITK as in its tutorials: moments, regular-step descent, shrink 4-2-1."""
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    f = _sitk_image(fixed, fixed_affine)
    m = _sitk_image(moving, moving_affine)
    fmask = sitk.Cast(_sitk_image(mask.astype(np.float32), fixed_affine), sitk.sitkUInt8)

    def run(initial):
        reg = sitk.ImageRegistrationMethod()
        reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
        reg.SetMetricSamplingStrategy(reg.RANDOM)
        reg.SetMetricSamplingPercentage(0.25, 1)
        reg.SetMetricFixedMask(fmask)
        reg.SetInterpolator(sitk.sitkLinear)
        reg.SetOptimizerAsRegularStepGradientDescent(
            learningRate=1.0, minStep=1e-3, numberOfIterations=100, relaxationFactor=0.5
        )
        reg.SetOptimizerScalesFromPhysicalShift()
        reg.SetShrinkFactorsPerLevel([4, 2, 1])
        reg.SetSmoothingSigmasPerLevel([2.0, 1.0, 0.0])
        reg.SetInitialTransform(initial, inPlace=False)
        out = reg.Execute(f, m)
        if out.GetName() == "CompositeTransform":
            out = sitk.CompositeTransform(out).GetNthTransform(0)
        return out

    init = sitk.CenteredTransformInitializer(
        f, m, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS
    )
    euler = sitk.Euler3DTransform(run(init))
    affine = sitk.AffineTransform(3)
    affine.SetCenter(euler.GetCenter())
    affine.SetMatrix(euler.GetMatrix())
    affine.SetTranslation(euler.GetTranslation())
    out = sitk.AffineTransform(run(affine))
    return _itk_matrix(out.GetMatrix(), out.GetCenter(), out.GetTranslation())


def method_dipy(fixed, fixed_affine, moving, moving_affine, mask):
    """dipy: centres of mass, MI (32 bins, every voxel), rigid then affine, factors 2-1."""
    from dipy.align.imaffine import (
        AffineRegistration,
        MutualInformationMetric,
        transform_centers_of_mass,
    )
    from dipy.align.transforms import AffineTransform3D, RigidTransform3D

    com = transform_centers_of_mass(fixed, fixed_affine, moving, moving_affine)
    # dipy ignores the mask when it samples (sampling_proportion < 1): sample every voxel
    metric = MutualInformationMetric(nbins=32, sampling_proportion=None)
    reg = AffineRegistration(
        metric=metric, level_iters=[100, 50], sigmas=[1.0, 0.0], factors=[2, 1], verbosity=0
    )
    kwargs = dict(static_grid2world=fixed_affine, moving_grid2world=moving_affine)
    rigid = reg.optimize(
        fixed,
        moving,
        RigidTransform3D(),
        None,
        starting_affine=com.affine,
        static_mask=mask.astype(np.int32),
        **kwargs,
    )
    affine = reg.optimize(
        fixed,
        moving,
        AffineTransform3D(),
        None,
        starting_affine=rigid.affine,
        static_mask=mask.astype(np.int32),
        **kwargs,
    )
    return np.asarray(affine.affine)


def _ants(fixed, fixed_affine, moving, moving_affine, mask, kind):
    import ants

    def image(volume, affine):
        spacing = np.linalg.norm(affine[:3, :3], axis=0)
        return ants.from_numpy(
            np.ascontiguousarray(volume, dtype=np.float32),
            origin=[float(v) for v in affine[:3, 3]],
            spacing=[float(s) for s in spacing],
            direction=affine[:3, :3] / spacing,
        )

    reg = ants.registration(
        image(fixed, fixed_affine),
        image(moving, moving_affine),
        type_of_transform=kind,
        aff_metric="mattes",
        mask=image(mask.astype(np.float32), fixed_affine),
        random_seed=1,
        verbose=False,
    )
    transform = ants.read_transform(reg["fwdtransforms"][0])
    params = np.asarray(transform.parameters)
    return _itk_matrix(params[:9], transform.fixed_parameters, params[9:12])


def method_ants(fixed, fixed_affine, moving, moving_affine, mask):
    """ANTsPy Affine: centre-of-mass start, Mattes MI, shrink 6-4-2-1 (its defaults)."""
    return _ants(fixed, fixed_affine, moving, moving_affine, mask, "Affine")


def method_ants_fast(fixed, fixed_affine, moving, moving_affine, mask):
    """ANTsPy AffineFast: as Affine without the two finest levels."""
    return _ants(fixed, fixed_affine, moving, moving_affine, mask, "AffineFast")


def method_ants_bold(fixed, fixed_affine, moving, moving_affine, mask):
    """ANTsPy BOLDAffine: its set-up for BOLD, shrink 2-1, 100 and 20 iterations."""
    return _ants(fixed, fixed_affine, moving, moving_affine, mask, "BOLDAffine")


METHODS = {
    "rehab": method_rehab,
    "sitk_textbook": method_sitk_textbook,
    "dipy": method_dipy,
    "ants": method_ants,
    "ants_fast": method_ants_fast,
    "ants_bold": method_ants_bold,
}
PACKAGES = {
    "rehab": "SimpleITK",
    "sitk_textbook": "SimpleITK",
    "dipy": "dipy",
    "ants": "antspyx",
    "ants_fast": "antspyx",
    "ants_bold": "antspyx",
}


# ----------------------------------------------------------------------------- main
def _cases(path: Path):
    """(name, mean volume, affine, error function) of every case with a known answer."""
    cases = np.load(path)
    for i in range(int(cases["n_cases"])):
        truth = cases[f"truth{i}"]
        yield (
            f"{cases[f'kind{i}']} {i}",
            cases[f"vol{i}"],
            cases[f"affine{i}"],
            lambda estimate, truth=truth: corner_errors(estimate, truth),
        )


def _cohort_cases(folder: Path):
    """Cases from a synthetic cohort v2: landmark errors against the exact truth."""
    import nibabel

    for record_path in sorted(folder.glob("derivatives/truth/sub-*/*_xfm.json")):
        record = json.loads(record_path.read_text())
        pid = record_path.parent.name
        bold = folder / pid / "func" / f"{pid}_task-rest_bold.nii.gz"
        if not bold.is_file():
            continue
        img = nibabel.load(bold)
        mean = np.asarray(img.dataobj, dtype=np.float32).mean(axis=3)
        names = sorted(record["landmarks_mni_mm"])
        mni = np.array([record["landmarks_mni_mm"][k] for k in names]).T
        scanner = np.array([record["landmarks_scanner_mm"][k] for k in names]).T
        mni_h = np.vstack([mni, np.ones((1, mni.shape[1]))])

        def errors(estimate, mni_h=mni_h, scanner=scanner):
            return np.linalg.norm((estimate @ mni_h)[:3] - scanner, axis=0)

        yield pid, mean, img.affine, errors


def _affine_fit_rms(folder: Path) -> float:
    values = [
        json.loads(p.read_text()).get("affine_fit_rms_mm", np.nan)
        for p in folder.glob("derivatives/truth/sub-*/*_xfm.json")
    ]
    return float(np.nanmean(values)) if values else float("nan")


def _template(cases_path: Path, template_mm: int):
    cases = np.load(cases_path)
    fixed, fixed_affine = block_template(cases["template"], cases["template_affine"], template_mm)
    from scipy import ndimage

    mask = ndimage.binary_dilation(fixed > 0.2 * fixed.max(), iterations=2)
    return fixed, fixed_affine, mask


def _score(name, method, cases, fixed, fixed_affine, mask) -> dict | None:
    cases = list(cases)
    if not cases:
        return None
    try:  # the first call pays imports and caches
        method(fixed, fixed_affine, cases[0][1], cases[0][2], mask)
    except ImportError as err:
        print(f"{name}: not installed here ({err})")
        return None
    errors, cpu, wall = [], [], []
    for _label, volume, affine, error in cases:
        start, start_cpu = time.perf_counter(), time.process_time()
        estimate = method(fixed, fixed_affine, volume, affine, mask)
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start)
        errors.append(error(estimate))
    per_case_max = np.array([e.max() for e in errors])
    all_errors = np.concatenate(errors)
    return {
        "n_cases": len(cases),
        "error_mean_mm": round(float(all_errors.mean()), 2),
        "error_max_mm": round(float(all_errors.max()), 2),
        "per_case_max_error_median_mm": round(float(np.median(per_case_max)), 2),
        "n_cases_max_error_over_4mm": int((per_case_max > 4.0).sum()),
        "cpu_median_s": round(statistics.median(cpu), 3),
        "cpu_max_s": round(max(cpu), 3),
        "wall_median_s": round(statistics.median(wall), 3),
    }


def run_methods(names, cases_path: Path, out_path: Path, template_mm: int, cohort: Path | None):
    import importlib.metadata as md

    fixed, fixed_affine, mask = _template(cases_path, template_mm)
    results = json.loads(out_path.read_text()) if out_path.exists() else {}
    for name in names:
        load = os.getloadavg()[0]
        entry = {
            "description": METHODS[name].__doc__.strip().splitlines()[0],
            "template_mm": template_mm,
            "load_average_at_start": round(load, 2),
        }
        try:
            entry["versions"] = {p: md.version(p) for p in (PACKAGES[name], "numpy", "scipy")}
        except md.PackageNotFoundError as err:
            print(f"{name}: not installed here ({err})")
            continue
        scored = _score(name, METHODS[name], _cases(cases_path), fixed, fixed_affine, mask)
        if scored is None:
            continue
        entry["synthetic_corner_errors"] = scored
        if cohort is not None:
            entry["cohort_v2_landmark_errors"] = _score(
                name, METHODS[name], _cohort_cases(cohort), fixed, fixed_affine, mask
            )
            entry["cohort_v2_affine_fit_rms_mm"] = round(_affine_fit_rms(cohort), 2)
        results[name] = entry
        print(name, json.dumps(entry), flush=True)
    out_path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


def _timed(fn) -> tuple[float, float]:
    start, start_cpu = time.perf_counter(), time.process_time()
    fn()
    return time.process_time() - start_cpu, time.perf_counter() - start


def time_pipeline(out_path: Path, repeats: int, weights: Path) -> None:
    """What registration adds to one new paper-scale patient's prediction."""
    import subprocess
    import tempfile

    from rehab_core.demo import generate_patient
    from rehab_core.imaging import preprocess_fmri, register_to_template
    from rehab_core.io import read_fmri
    from rehab_core.prediction import FusionPredictor
    from rehab_core.workflows.predict import prepare_inputs

    one_off = subprocess.run(
        [
            sys.executable,
            "-c",
            "import time; s = time.process_time(); w = time.perf_counter(); "
            "from rehab_core.imaging.registration import _fixed, template_on_grid; "
            "_fixed(); template_on_grid(4.0); "
            "print(time.process_time() - s, time.perf_counter() - w)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    one_off_cpu, one_off_wall = (float(v) for v in one_off.stdout.split())
    rows: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        patient = generate_patient(tmp, seed=11, minutes=9.0, volumes=120)
        predictor = FusionPredictor.load(weights)
        settings = predictor.imaging_settings()
        img = read_fmri(patient.fmri_path)
        mean = np.asarray(img.get_fdata(dtype=np.float32)).mean(axis=3)
        steps = {
            "register_to_template": lambda: register_to_template(mean, img.affine),
            "preprocess_fmri, template space": lambda: preprocess_fmri(img, settings),
            "preprocess_fmri, scanner space (before)": lambda: preprocess_fmri(
                img, settings.replace(normalization="none")
            ),
            "whole prediction (read, preprocess, models)": lambda: predictor.predict(
                prepare_inputs(predictor, patient.signals_path, patient.fmri_path)
            ),
        }
        for fn in steps.values():  # warm-up: imports, caches, the models' first pass
            fn()
        for _ in range(repeats):
            for name, fn in steps.items():
                rows.setdefault(name, []).append(_timed(fn))
    # on a shared machine even CPU time varies by half (memory bandwidth and caches
    # are shared too): the minimum is the cost of the work itself, the median what a
    # user meets at that load
    medians = {
        name: {
            "cpu_min_s": round(min(c for c, _ in values), 3),
            "cpu_median_s": round(statistics.median(c for c, _ in values), 3),
            "wall_min_s": round(min(w for _, w in values), 3),
            "wall_median_s": round(statistics.median(w for _, w in values), 3),
        }
        for name, values in rows.items()
    }
    registration = medians["register_to_template"]
    whole = medians["whole prediction (read, preprocess, models)"]
    template = medians["preprocess_fmri, template space"]
    scanner = medians["preprocess_fmri, scanner space (before)"]
    summary = {
        "patient": "9 min x 22 channels at 1000 Hz; fMRI 64 x 64 x 35 x 120, 3.4 x 3.4 x 4 mm",
        "weights": str(weights),
        "repeats": repeats,
        "load_average_at_end": round(os.getloadavg()[0], 2),
        "steps": medians,
        "registration_share_of_prediction_cpu_min": round(
            registration["cpu_min_s"] / whole["cpu_min_s"], 3
        ),
        "preprocess_fmri_added_cpu_min_s": round(template["cpu_min_s"] - scanner["cpu_min_s"], 3),
        "preprocess_fmri_added_cpu_median_s": round(
            template["cpu_median_s"] - scanner["cpu_median_s"], 3
        ),
        "one_off_per_process": {
            "what": "import SimpleITK, read the template, build the 4-mm and grid templates",
            "cpu_s": round(one_off_cpu, 3),
            "wall_s": round(one_off_wall, 3),
        },
    }
    results = json.loads(out_path.read_text()) if out_path.exists() else {}
    results["pipeline"] = summary
    out_path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(json.dumps(summary, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--make-cases", type=int, metavar="N", help="write N cases and stop")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", type=Path, default=DEFAULT_CASES)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--methods", nargs="+", default=["rehab"], choices=sorted(METHODS))
    parser.add_argument("--template-mm", type=int, default=4)
    parser.add_argument("--cohort", type=Path, help="a synthetic cohort v2 folder")
    parser.add_argument("--pipeline", action="store_true", help="time one paper-scale patient")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--weights", type=Path, default=Path("weights/shufflenet_lstm"))
    args = parser.parse_args()
    if args.pipeline:
        time_pipeline(args.out, args.repeats, args.weights)
        return
    if args.make_cases:
        make_cases(args.make_cases, args.seed, args.cases)
        return
    run_methods(args.methods, args.cases, args.out, args.template_mm, args.cohort)


if __name__ == "__main__":
    sys.exit(main())
