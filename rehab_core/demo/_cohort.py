"""Writing the synthetic cohort (and single demo patients) to a BIDS-like folder.

Layout::

    DIR/
        dataset_description.json
        cohort_settings.json        CohortSettings.to_json(): regenerates the cohort
        participants.tsv (+ .json)  what a clinic would have
        ground_truth.tsv (+ .json)  latents, markers, exact ceilings, physiology, nuisances
        sub-XXX/eeg/sub-XXX_task-flexext_eegemg.txt   (n_with_signals patients)
        sub-XXX/eeg/sub-XXX_task-flexext_events.tsv
        sub-XXX/func/sub-XXX_task-rest_bold.nii.gz    (+ _bold.json), scanner space
        derivatives/truth/sub-XXX/sub-XXX_from-scanner_to-MNI152NLin2009aSym_mode-image_xfm.json

Randomness: patient ``i`` (0-based) draws everything from
``SeedSequence(seed, spawn_key=(i,))`` (what ``SeedSequence(seed).spawn``
gives), split into independent streams for latents, signals and fMRI, so the
files do not depend on ``n_jobs``, and changing ``minutes`` or ``volumes``
changes neither the latents nor the other modality.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rehab_core._validation import check_range
from rehab_core.demo._latent import (
    EEGEMG_MARKERS,
    FMRI_MARKERS,
    MARKERS,
    draw_latents,
    p_good_given_clinical,
)
from rehab_core.demo._settings import (
    DEFAULT_MINUTES,
    DEFAULT_VOLUMES,
    GENERATOR_VERSION,
    CohortSettings,
)

__all__ = [
    "CohortInfo",
    "PatientFiles",
    "draw_cohort",
    "generate_patient",
    "generate_cohort",
    "read_true_transform",
]

_SFREQ = 1000.0
_SELECTION_KEY = 0x5E1EC7  # spawn key of the stream that picks who has signals
_TRUTH_DIR = ("derivatives", "truth")
_PARTICIPANT_COLUMNS = (
    "participant_id",
    "age",
    "sex",
    "affected_side",
    "days_since_stroke",
    "fma_le_baseline",
    "fma_le_3m",
    "outcome",
)
_PROBABILITIES = (
    "p_good_latents",
    "p_good_bayes",
    "p_good_fmri",
    "p_good_eegemg",
    "p_good_clinical",
    "p_good_all",
)
_SIGNAL_TRUTH = (
    "erd_depth_lesioned",
    "erd_depth_contralesional",
    "erd_delay_s",
    "cmc_coupling",
    "emg_burst_uV",
    "emg_tone_uV",
    "emg_burst_ratio",
    "emg_selectivity",
    "emg_onset_delay_s",
    "emg_peak_hz",
    "bad_channels",
    "n_blinks",
    "n_pops",
    "mains_uV",
)
_FMRI_TRUTH = (
    "site",
    "tr_s",
    "n_volumes",
    "voxel_size_mm",
    "orientation",
    "oblique_deg",
    "lesion_hemisphere",
    "lesion_site",
    "lesion_volume_ml",
    "cst_lesion_load_ml",
    "lesion_cst_coverage",
    "n_lesion_foci",
    "lesion_center_x_mm",
    "lesion_center_y_mm",
    "lesion_center_z_mm",
    "wmh_volume_ml",
    "motor_coupling",
    "motor_alff_ratio",
    "head_scale",
    "ventricle_expansion",
    "gm_atrophy",
    "affine_fit_rms_mm",
    "intensity_gain",
    "mean_fd_mm",
    "max_fd_mm",
    "n_motion_spikes",
)
_GROUND_TRUTH_COLUMNS = (
    "participant_id",
    "latent_c",
    "latent_n",
    "recovery_score",
    "outcome_noise",
    *_PROBABILITIES,
    "has_signals",
    "has_fmri",
    *(f"marker_{k}" for k in MARKERS),
    *_SIGNAL_TRUTH,
    *_FMRI_TRUTH,
)


@dataclasses.dataclass(frozen=True)
class PatientFiles:
    """What :func:`generate_patient` wrote for one patient.

    Attributes
    ----------
    participant_id : str
    signals_path : Path or None
        EEG-EMG text file (µV, 22 channels, 1000 Hz), None without signals.
    events_path : Path or None
        Task phases (BIDS events.tsv), None without signals.
    fmri_path : Path
        4D rs-fMRI ``.nii.gz`` in scanner space (int16; grid, TR and
        orientation from the patient's site).
    participant : dict
        The patient's ``participants.tsv`` row.
    ground_truth : dict
        The patient's ``ground_truth.tsv`` row (None where a modality is absent).
    scanner_to_mni : dict
        The true scanner -> MNI transform record (what a cohort writes to
        ``derivatives/truth``); use with :func:`rehab_core.demo.true_scanner_to_mni`.
    """

    participant_id: str
    signals_path: Path | None
    events_path: Path | None
    fmri_path: Path
    participant: dict[str, Any]
    ground_truth: dict[str, Any]
    scanner_to_mni: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class CohortInfo:
    """What :func:`generate_cohort` wrote.

    Attributes
    ----------
    root : Path
        The cohort folder.
    settings : CohortSettings
        Also saved as ``root / "cohort_settings.json"``.
    participants_tsv, ground_truth_tsv : Path
    patients : tuple of PatientFiles
        In participant order (``sub-001`` first).
    """

    root: Path
    settings: CohortSettings
    participants_tsv: Path
    ground_truth_tsv: Path
    patients: tuple[PatientFiles, ...]

    def summary(self) -> str:
        """One line per ceiling: its AUC on this cohort (realised, not the population value)."""
        from rehab_core.evaluation import roc_auc

        y = np.array([p.participant["outcome"] == "good" for p in self.patients])
        lines = [f"{len(y)} patients, {int(y.sum())} good outcomes; ceilings (ROC AUC):"]
        for key, label in (
            ("p_good_bayes", "fMRI + EEG-EMG (p_good_bayes)"),
            ("p_good_fmri", "fMRI alone"),
            ("p_good_eegemg", "EEG-EMG alone"),
            ("p_good_clinical", "baseline FMA-LE + days"),
            ("p_good_all", "everything"),
        ):
            p = np.array([_nan(r.ground_truth[key]) for r in self.patients])
            ok = ~np.isnan(p)
            if len(np.unique(y[ok])) == 2:
                lines.append(f"  {label}: {roc_auc(y[ok], p[ok]):.3f} ({int(ok.sum())} patients)")
        return "\n".join(lines)


def _nan(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _seed_sequence(seed: int | np.random.SeedSequence) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative int or a numpy SeedSequence.")
    return np.random.SeedSequence(int(seed))


def _stream(ss: np.random.SeedSequence, key: int) -> np.random.Generator:
    """Independent child stream ``key`` of ``ss`` (stateless, unlike ``spawn``)."""
    return np.random.default_rng(np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, key)))


def _fmt(value: Any) -> str:
    """Deterministic TSV cell: 'n/a' for missing, 6 significant digits for floats."""
    if value is None:
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    return str(value)


def _write_tsv(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> Path:
    lines = ["\t".join(columns)] + ["\t".join(_fmt(row[c]) for c in columns) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _write_json(path: Path, content: dict[str, Any]) -> Path:
    path.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def _write_events(path: Path, events: list[tuple[float, float, str]]) -> Path:
    rows = [
        {"onset": f"{on:.3f}", "duration": f"{d:.3f}", "trial_type": ph} for on, d, ph in events
    ]
    return _write_tsv(path, ("onset", "duration", "trial_type"), rows)


def _write_bold(path: Path, bold: Any) -> tuple[Path, np.ndarray]:
    """Write int16 BOLD as ``.nii.gz`` with the site's codes and slope, gzip mtime 0.

    Returns the path and the voxel -> scanner affine as the file stores it.
    """
    import gzip

    import nibabel as nib

    protocol = bold.protocol
    img = nib.Nifti1Image(bold.data, bold.affine)
    header = img.header
    header.set_data_dtype(np.int16)
    header.set_zooms((*protocol.zooms, protocol.tr_s))
    header.set_xyzt_units("mm", "sec")
    header.set_slope_inter(protocol.scl_slope, 0.0)
    header["descrip"] = f"rehab_core synthetic rs-fMRI, site {protocol.site}".encode()
    img.set_qform(bold.affine, code=protocol.qform_code)
    img.set_sform(bold.affine, code=protocol.sform_code)
    raw = img.to_bytes()
    stored = nib.Nifti1Image.from_bytes(raw).affine
    tmp = path.with_name(f".{path.name}.part")
    try:
        tmp.write_bytes(gzip.compress(raw, compresslevel=1, mtime=0))
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path, np.asarray(stored, dtype=float)


def _patient_truth(
    ss: np.random.SeedSequence, settings: CohortSettings, with_signals: bool
) -> dict[str, Any]:
    """Latents, markers, covariates and the exact ceilings of one patient (no files)."""
    lat = {k: v[0] for k, v in draw_latents(_stream(ss, 0), 1, settings).items()}
    fmri = {k: lat[f"marker_{k}"] for k in FMRI_MARKERS}
    if not with_signals:
        # What this patient's files can show: the fMRI alone (and the clinical fields).
        lat["p_good_bayes"] = lat["p_good_fmri"]
        lat["p_good_eegemg"] = None
        lat["p_good_all"] = p_good_given_clinical(
            np.array([lat["fma_le_baseline"]]),
            np.array([lat["days_since_stroke"]]),
            settings,
            markers={k: np.array([v]) for k, v in fmri.items()},
        )[0]
    return lat


def _participant_row(pid: str, lat: dict[str, Any]) -> dict[str, Any]:
    return {
        "participant_id": pid,
        "age": int(lat["age"]),
        "sex": str(lat["sex"]),
        "affected_side": str(lat["affected_side"]),
        "days_since_stroke": int(lat["days_since_stroke"]),
        "fma_le_baseline": int(lat["fma_le_baseline"]),
        "fma_le_3m": int(lat["fma_le_3m"]),
        "outcome": "good" if int(lat["fma_le_3m"]) > 17 else "poor",
    }


def _truth_row(pid: str, lat: dict[str, Any], with_signals: bool) -> dict[str, Any]:
    truth: dict[str, Any] = dict.fromkeys(_GROUND_TRUTH_COLUMNS)
    truth.update(
        participant_id=pid,
        latent_c=float(lat["c"]),
        latent_n=float(lat["n"]),
        recovery_score=float(lat["recovery_score"]),
        outcome_noise=float(lat["outcome_noise"]),
        has_signals=bool(with_signals),
        has_fmri=True,
        site=str(lat["site"]),
        **{k: None if lat[k] is None else float(lat[k]) for k in _PROBABILITIES},
        **{f"marker_{k}": float(lat[f"marker_{k}"]) for k in MARKERS},
    )
    return truth


def _check_participant_id(participant_id: Any) -> None:
    if (
        not isinstance(participant_id, str)
        or not participant_id.startswith("sub-")
        or not (participant_id[4:].replace("-", "").isalnum())
    ):
        raise ValueError(
            f"participant_id={participant_id!r} must look like 'sub-001' "
            "(letters and digits after 'sub-')."
        )


def generate_patient(
    out_dir: str | Path,
    *,
    seed: int | np.random.SeedSequence,
    participant_id: str = "sub-demo",
    with_signals: bool = True,
    minutes: float = DEFAULT_MINUTES,
    volumes: int | None = DEFAULT_VOLUMES,
    settings: CohortSettings | None = None,
    site: str | None = None,
) -> PatientFiles:
    """Generate and write one synthetic patient.

    Files go to ``out_dir / participant_id / {eeg,func}``; nothing is written
    at the top of ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Cohort (or demo) folder; created if missing.
    seed : int or numpy.random.SeedSequence
        The patient's seed; the same seed gives the same latents and bytes.
    participant_id : str
        BIDS-style label, e.g. ``"sub-001"``; letters, digits and ``-`` only.
    with_signals : bool
        Whether to write the EEG-EMG recording (the fMRI is always written).
    minutes : float
        EEG-EMG length (min); the paper's 9 by default.
    volumes : int or None
        rs-fMRI volumes; None keeps the site's protocol (120 at site A).
    settings : CohortSettings or None
        Generative-model parameters (defaults when None); its ``minutes`` and
        ``volumes`` are replaced by the arguments, its cohort fields unused.
    site : str or None
        Scanner site (a key of :data:`rehab_core.demo.SITES`); None keeps the
        one drawn for this seed. The latents do not depend on it.

    Returns
    -------
    PatientFiles
        Paths written, the patient's participants/ground-truth rows and the
        true scanner -> MNI transform.
    """
    from rehab_core._validation import check_option
    from rehab_core.demo._anatomy import SITES
    from rehab_core.demo._bold import simulate_bold
    from rehab_core.demo._eegemg import CHANNELS, simulate_eeg_emg
    from rehab_core.io import write_signals_text

    settings = (CohortSettings() if settings is None else settings).replace(
        minutes=minutes, volumes=volumes
    )
    _check_participant_id(participant_id)
    if site is not None:
        check_option("site", site, tuple(SITES))
    ss = _seed_sequence(seed)
    lat = _patient_truth(ss, settings, with_signals)
    if site is not None:
        lat["site"] = site
    pid = participant_id
    base = Path(out_dir) / pid
    side = str(lat["affected_side"])
    truth = _truth_row(pid, lat, with_signals)

    signals_path = events_path = None
    if with_signals:
        data, events, sig_truth = simulate_eeg_emg(
            _stream(ss, 1),
            markers={k: float(lat[f"marker_{k}"]) for k in EEGEMG_MARKERS},
            affected_side=side,
            minutes=settings.minutes,
            sfreq=_SFREQ,
            p_flat_channel=settings.p_flat_channel,
            p_noisy_channel=settings.p_noisy_channel,
        )
        eeg_dir = base / "eeg"
        eeg_dir.mkdir(parents=True, exist_ok=True)
        signals_path = write_signals_text(
            eeg_dir / f"{pid}_task-flexext_eegemg.txt", data, CHANNELS, _SFREQ, decimals=1
        )
        events_path = _write_events(eeg_dir / f"{pid}_task-flexext_events.tsv", events)
        truth.update({k: sig_truth[k] for k in _SIGNAL_TRUTH})
        del data

    bold = simulate_bold(
        _stream(ss, 2),
        markers={k: float(lat[f"marker_{k}"]) for k in FMRI_MARKERS},
        affected_side=side,
        age=float(lat["age"]),
        sex=str(lat["sex"]),
        site=str(lat["site"]),
        n_volumes=settings.volumes,
    )
    func_dir = base / "func"
    func_dir.mkdir(parents=True, exist_ok=True)
    fmri_path, stored_affine = _write_bold(func_dir / f"{pid}_task-rest_bold.nii.gz", bold)
    protocol = bold.protocol
    _write_json(
        func_dir / f"{pid}_task-rest_bold.json",
        {
            "RepetitionTime": protocol.tr_s,
            "TaskName": "rest",
            "Manufacturer": protocol.manufacturer,
            "ManufacturersModelName": protocol.model,
            "MagneticFieldStrength": protocol.field_strength_t,
            "InstitutionName": f"Site {protocol.site}",
        },
    )
    truth.update({k: bold.truth[k] for k in _FMRI_TRUTH})
    transform = {**bold.transform, "fmri_voxel_to_scanner": stored_affine.tolist()}
    transform["participant_id"] = pid
    participant = _participant_row(pid, lat)
    return PatientFiles(pid, signals_path, events_path, fmri_path, participant, truth, transform)


def draw_cohort(settings: CohortSettings | None = None) -> list[dict[str, Any]]:
    """The ``ground_truth.tsv`` and ``participants.tsv`` fields a cohort would get, without files.

    Latents, markers, covariates, site and every exact ceiling are drawn from
    the same streams as :func:`generate_cohort`, so they equal the written
    rows; the physiology columns (which need the simulations) are left out.
    Takes milliseconds per patient: use it to measure ceilings on many seeds.

    Parameters
    ----------
    settings : CohortSettings or None
        The cohort's settings (defaults when None).

    Returns
    -------
    list of dict
        One per patient, in participant order: the participants row merged
        with the probability, latent and marker columns of the truth row.
    """
    s = CohortSettings() if settings is None else settings
    ids, has_signals = _cohort_layout(s)
    rows = []
    for i, pid in enumerate(ids):
        lat = _patient_truth(
            np.random.SeedSequence(s.seed, spawn_key=(i,)), s, bool(has_signals[i])
        )
        truth = _truth_row(pid, lat, bool(has_signals[i]))
        rows.append(
            {
                **_participant_row(pid, lat),
                **{k: v for k, v in truth.items() if v is not None or k in _PROBABILITIES},
            }
        )
    return rows


def _cohort_layout(s: CohortSettings) -> tuple[list[str], np.ndarray]:
    width = max(3, len(str(s.n_patients)))
    ids = [f"sub-{i + 1:0{width}d}" for i in range(s.n_patients)]
    chooser = np.random.default_rng(np.random.SeedSequence(s.seed, spawn_key=(_SELECTION_KEY,)))
    has_signals = np.zeros(s.n_patients, bool)
    has_signals[chooser.permutation(s.n_patients)[: s.n_with_signals]] = True
    return ids, has_signals


def _transform_path(root: Path, pid: str) -> Path:
    from rehab_core.demo._anatomy import MNI_SPACE

    return root.joinpath(*_TRUTH_DIR, pid, f"{pid}_from-scanner_to-{MNI_SPACE}_mode-image_xfm.json")


def read_true_transform(cohort_dir: str | Path, participant_id: str) -> dict[str, Any]:
    """A cohort patient's true scanner -> MNI transform record.

    Parameters
    ----------
    cohort_dir : str or Path
        A folder written by :func:`generate_cohort`.
    participant_id : str
        e.g. ``"sub-001"``.

    Returns
    -------
    dict
        ``fmri_voxel_to_scanner`` (the file's affine), ``affine_fit_scanner_to_mni``
        (the best affine approximation over the brain) and its
        ``affine_fit_rms_mm``, ``landmarks_mni_mm`` / ``landmarks_scanner_mm``,
        and ``head`` (the exact non-linear model) for
        :func:`rehab_core.demo.true_scanner_to_mni`.
    """
    _check_participant_id(participant_id)
    path = _transform_path(Path(cohort_dir), participant_id)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; is {cohort_dir} a synthetic cohort (v2) with {participant_id}?"
        )
    return json.loads(path.read_text(encoding="utf-8"))


_PARTICIPANTS_JSON = {
    "age": {"Description": "Age at stroke", "Units": "years"},
    "sex": {"Description": "Sex", "Levels": {"M": "male", "F": "female"}},
    "affected_side": {
        "Description": "Paretic body side; the lesion is in the opposite hemisphere",
        "Levels": {"left": "left body side", "right": "right body side"},
    },
    "days_since_stroke": {
        "Description": "Days from stroke to the baseline examinations",
        "Units": "days",
    },
    "fma_le_baseline": {"Description": "Lower-limb Fugl-Meyer at baseline (0-34)"},
    "fma_le_3m": {"Description": "Lower-limb Fugl-Meyer 3 months after stroke (0-34)"},
    "outcome": {
        "Description": "good when fma_le_3m > 17, else poor",
        "Levels": {"good": "> 17", "poor": "<= 17"},
    },
}

_GROUND_TRUTH_JSON = {
    "latent_c": {"Description": "Corticospinal integrity (standard normal; higher is better)"},
    "latent_n": {"Description": "Motor-network integrity (standard normal; higher is better)"},
    "recovery_score": {"Description": "s = weight_c * c + weight_n * n + outcome_offset"},
    "outcome_noise": {
        "Description": "eps ~ N(0, outcome_noise_sd^2); good outcome iff s + eps > 0"
    },
    "p_good_latents": {
        "Description": "P(good | c, n) = Phi(s / outcome_noise_sd): what no instrument reaches"
    },
    "p_good_bayes": {
        "Description": "Bayes-optimal P(good | the markers this patient's files show): fMRI and "
        "EEG-EMG markers, or the fMRI markers alone for a patient without EEG-EMG; the "
        "ceiling of a fusion model"
    },
    "p_good_fmri": {"Description": "P(good | the fMRI markers): the ceiling of an fMRI model"},
    "p_good_eegemg": {
        "Description": "P(good | the EEG-EMG markers): the ceiling of an EEG-EMG model "
        "(n/a without EEG-EMG)"
    },
    "p_good_clinical": {
        "Description": "P(good | baseline FMA-LE, days since stroke) (age, sex and side add "
        "nothing in this model): the ceiling of a clinical model"
    },
    "p_good_all": {
        "Description": "P(good | every marker this patient's files show and the clinical fields)"
    },
    **{
        f"marker_{k}": {
            "Description": f"Marker ({m.modality}): {m.description}; standard normal, "
            "higher is better"
        }
        for k, m in MARKERS.items()
    },
    "bad_channels": {
        "Description": "EEG channels made flat or noisy, 'NAME:kind' separated by ';'"
    },
    "emg_burst_ratio": {"Description": "Median over muscles of EMG burst peak / resting level"},
    "site": {"Description": "Scanner site (rehab_core.demo.SITES); sets the EPI protocol"},
    "oblique_deg": {"Description": "Angle of the EPI slab to the scanner's axial plane"},
    "lesion_volume_ml": {"Description": "Infarct volume in MNI space (1-mm grid)", "Units": "ml"},
    "cst_lesion_load_ml": {
        "Description": "Volume of the 4-mm corticospinal tract inside the infarct (MNI space)",
        "Units": "ml",
    },
    "lesion_cst_coverage": {
        "Description": "Targeted fraction of the tract's cross-section inside the infarct "
        "(1 - Phi(marker_lesion_load))"
    },
    "lesion_center_x_mm": {"Description": "Centre of the main infarct focus, MNI mm"},
    "wmh_volume_ml": {"Description": "White-matter hyperintensities (age-related nuisance)"},
    "motor_coupling": {
        "Description": "How strongly ipsilesional motor regions follow the motor network"
    },
    "motor_alff_ratio": {
        "Description": "Ipsilesional motor fluctuation amplitude relative to the other side"
    },
    "head_scale": {"Description": "Linear size of the head relative to the MNI template"},
    "affine_fit_rms_mm": {
        "Description": "RMS distance (brain voxels) between the true non-linear scanner->MNI "
        "map and its best affine: the floor of an affine registration's error",
        "Units": "mm",
    },
    "mean_fd_mm": {
        "Description": "Mean framewise displacement (Power, 50-mm sphere)",
        "Units": "mm",
    },
}


def _clear_previous(root: Path, overwrite: bool) -> None:
    if not root.exists():
        return
    if not root.is_dir():
        raise FileExistsError(f"{root} exists and is not a folder; choose another --out.")
    entries = list(root.iterdir())
    if not entries:
        return
    ours = (root / "cohort_settings.json").is_file()
    if not overwrite or not ours:
        why = (
            "pass overwrite=True to replace it"
            if ours
            else "it is not a synthetic cohort, so it is left alone"
        )
        raise FileExistsError(f"{root} is not empty; choose an empty folder ({why}).")
    truth_dir = root.joinpath(*_TRUTH_DIR)
    if truth_dir.is_dir():
        shutil.rmtree(truth_dir)
        if not any(truth_dir.parent.iterdir()):
            truth_dir.parent.rmdir()
    for entry in entries:
        if entry.is_dir() and entry.name.startswith("sub-"):
            shutil.rmtree(entry)
        elif entry.name in {
            "participants.tsv",
            "participants.json",
            "ground_truth.tsv",
            "ground_truth.json",
            "dataset_description.json",
            "cohort_settings.json",
        }:
            entry.unlink()


def generate_cohort(
    out_dir: str | Path,
    *,
    n_patients: int = 102,
    n_with_signals: int = 86,
    seed: int = 0,
    minutes: float = DEFAULT_MINUTES,
    volumes: int | None = DEFAULT_VOLUMES,
    n_jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
    settings: CohortSettings | None = None,
    overwrite: bool = False,
) -> CohortInfo:
    """Generate the synthetic cohort with known ground truth.

    Parameters
    ----------
    out_dir : str or Path
        Destination folder; must be missing or empty (or, with
        ``overwrite=True``, a previous synthetic cohort, which is replaced).
    n_patients, n_with_signals, seed, minutes, volumes
        See :class:`CohortSettings`.
    n_jobs : int
        Worker processes (patients are independent; output does not depend
        on it).
    progress : callable(done, total) or None
        Called after each patient is written.
    settings : CohortSettings or None
        Full settings, including the generative model; when given, leave the
        five arguments above at their defaults.
    overwrite : bool
        Replace a previous synthetic cohort in ``out_dir``.

    Returns
    -------
    CohortInfo
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    given = {
        "n_patients": n_patients,
        "n_with_signals": n_with_signals,
        "seed": seed,
        "minutes": minutes,
        "volumes": volumes,
    }
    if settings is None:
        settings = CohortSettings(**given)
    else:
        defaults = {
            "n_patients": 102,
            "n_with_signals": 86,
            "seed": 0,
            "minutes": DEFAULT_MINUTES,
            "volumes": DEFAULT_VOLUMES,
        }
        clash = sorted(k for k, v in given.items() if v != defaults[k])
        if clash:
            raise ValueError(f"pass either settings or {', '.join(clash)}, not both.")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int):
        raise TypeError(f"n_jobs must be an int, got {type(n_jobs).__name__}.")
    check_range("n_jobs", n_jobs, 1, 64)
    if progress is not None and not callable(progress):
        raise TypeError("progress must be a callable(done, total) or None.")

    root = Path(out_dir)
    _clear_previous(root, overwrite)
    root.mkdir(parents=True, exist_ok=True)

    s = settings
    ids, has_signals = _cohort_layout(s)
    jobs = [
        dict(
            seed=np.random.SeedSequence(s.seed, spawn_key=(i,)),
            participant_id=ids[i],
            with_signals=bool(has_signals[i]),
            minutes=s.minutes,
            volumes=s.volumes,
            settings=s,
        )
        for i in range(s.n_patients)
    ]
    results: list[PatientFiles | None] = [None] * s.n_patients
    total = s.n_patients
    if n_jobs == 1:
        for i, kw in enumerate(jobs):
            results[i] = generate_patient(root, **kw)
            if progress is not None:
                progress(i + 1, total)
    else:
        with ProcessPoolExecutor(max_workers=n_jobs, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(generate_patient, root, **kw): i for i, kw in enumerate(jobs)}
            try:
                for done, fut in enumerate(as_completed(futures), start=1):
                    results[futures[fut]] = fut.result()
                    if progress is not None:
                        progress(done, total)
            except BaseException:
                for fut in futures:  # do not wait for patients nobody will use
                    fut.cancel()
                raise
    patients = tuple(r for r in results if r is not None)

    from rehab_core import __version__

    participants_tsv = _write_tsv(
        root / "participants.tsv", _PARTICIPANT_COLUMNS, [p.participant for p in patients]
    )
    ground_truth_tsv = _write_tsv(
        root / "ground_truth.tsv", _GROUND_TRUTH_COLUMNS, [p.ground_truth for p in patients]
    )
    _write_json(root / "participants.json", _PARTICIPANTS_JSON)
    _write_json(root / "ground_truth.json", _GROUND_TRUTH_JSON)
    for p in patients:
        path = _transform_path(root, p.participant_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_json(path, p.scanner_to_mni)
    _write_json(root / "cohort_settings.json", s.to_dict())
    _write_json(
        root / "dataset_description.json",
        {
            "Name": "rehab_core synthetic stroke cohort",
            "BIDSVersion": "1.9.0",
            "DatasetType": "raw",
            "License": "CC0",
            "GeneratedBy": [
                {
                    "Name": "rehab_core.demo.generate_cohort",
                    "Version": __version__,
                    "GeneratorVersion": GENERATOR_VERSION,
                }
            ],
            "HowToAcknowledge": (
                "Synthetic data; the generative model is in docs/synthetic_cohort.md."
            ),
        },
    )
    return CohortInfo(root, s, participants_tsv, ground_truth_tsv, patients)
