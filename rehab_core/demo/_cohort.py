"""Writing the synthetic cohort (and single demo patients) to a BIDS-like folder.

Layout::

    DIR/
        dataset_description.json
        cohort_settings.json        CohortSettings.to_json(): regenerates the cohort
        participants.tsv (+ .json)  what a clinic would have
        ground_truth.tsv (+ .json)  latents, Bayes-optimal P(good), nuisances
        sub-XXX/eeg/sub-XXX_task-flexext_eegemg.txt   (n_with_signals patients)
        sub-XXX/eeg/sub-XXX_task-flexext_events.tsv
        sub-XXX/func/sub-XXX_task-rest_bold.nii.gz    (+ _bold.json)

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

from rehab_core._config import Settings
from rehab_core._validation import check_positive, check_range

__all__ = [
    "DEFAULT_MINUTES",
    "DEFAULT_VOLUMES",
    "CohortSettings",
    "CohortInfo",
    "PatientFiles",
    "generate_patient",
    "generate_cohort",
]

DEFAULT_MINUTES = 1.0
"""Default EEG-EMG length (min): about 7 task trials, six 10-s windows."""
DEFAULT_VOLUMES = 60
"""Default rs-fMRI length: 60 volumes at TR 2 s = 120 s, a little above the
100 s that :func:`rehab_core.io.read_fmri` accepts (the paper had 120 volumes,
i.e. 240 s), so a few dummy volumes can still be dropped; chosen so the default
cohort stays near 1.3 GB."""

_SFREQ = 1000.0
_SELECTION_KEY = 0x5E1EC7  # spawn key of the stream that picks who has signals
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
_SIGNAL_TRUTH = (
    "erd_depth_lesioned",
    "erd_depth_contralesional",
    "erd_delay_s",
    "cmc_coupling",
    "emg_burst_ratio",
    "emg_selectivity",
    "emg_onset_delay_s",
    "bad_channels",
    "n_blinks",
    "n_pops",
    "mains_uV",
)
_FMRI_TRUTH = (
    "lesion_hemisphere",
    "lesion_site",
    "lesion_volume_ml",
    "lesion_cst_overlap",
    "lesion_center_x_mm",
    "lesion_center_y_mm",
    "lesion_center_z_mm",
    "motor_coupling",
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
    "p_good_bayes",
    "has_signals",
    "has_fmri",
    *_SIGNAL_TRUTH,
    *_FMRI_TRUTH,
)


@dataclasses.dataclass(frozen=True)
class CohortSettings(Settings):
    """Everything that determines a synthetic cohort, byte for byte.

    Parameters
    ----------
    n_patients : int
        Patients (all have rs-fMRI), 1-9999.
    n_with_signals : int
        How many of them also have EEG-EMG (a random subset).
    seed : int
        Root seed (non-negative).
    minutes : float
        EEG-EMG length per patient (min); the paper recorded 9.
    volumes : int
        rs-fMRI volumes per patient (TR 2 s); the paper had 120.
        :func:`rehab_core.io.read_fmri` needs at least 50 (100 s).
    latent_correlation : float
        Correlation ``rho`` of the two latents ``c`` and ``n``.
    weight_c, weight_n : float
        Positive weights of ``c`` and ``n`` in the recovery score.
    outcome_offset : float
        Shift of the recovery score; 0 gives half good, half poor.
    outcome_noise_sd : float
        ``sigma`` of the outcome noise; sets the Bayes-optimal AUC (~0.90).
    baseline_noise_sd : float
        Noise of the baseline FMA-LE around the recovery score.
    fma_scale : float
        Slope ``k`` of the logistic map from latent score to FMA points.
    baseline_fma_mean : float
        Baseline FMA-LE of a patient with recovery score 0 (points).
    p_flat_channel, p_noisy_channel : float
        Per-recording probability of one flat / one noisy EEG channel.
    """

    n_patients: int = 102
    n_with_signals: int = 86
    seed: int = 0
    minutes: float = DEFAULT_MINUTES
    volumes: int = DEFAULT_VOLUMES
    latent_correlation: float = 0.3
    weight_c: float = 0.9
    weight_n: float = 1.0
    outcome_offset: float = 0.0
    outcome_noise_sd: float = 1.03
    baseline_noise_sd: float = 1.0
    fma_scale: float = 0.8
    baseline_fma_mean: float = 13.0
    p_flat_channel: float = 0.05
    p_noisy_channel: float = 0.08

    def __post_init__(self) -> None:
        # Normalise numeric types so the JSON record (and thus the bytes of
        # cohort_settings.json) does not depend on 1 versus 1.0 or numpy scalars.
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(
                value, (int, float, np.integer, np.floating)
            ):
                raise TypeError(f"{f.name} must be a number, got {type(value).__name__}.")
            if f.type == "int":
                if not isinstance(value, (int, np.integer)):
                    raise TypeError(f"{f.name} must be an int, got {type(value).__name__}.")
                object.__setattr__(self, f.name, int(value))
            else:
                object.__setattr__(self, f.name, float(value))
        check_range("n_patients", self.n_patients, 1, 9999)
        check_range("n_with_signals", self.n_with_signals, 0, self.n_patients)
        check_positive("seed", self.seed, strict=False)
        check_positive("minutes", self.minutes)
        check_range("minutes", self.minutes, 1.0 / 6.0, 60.0)
        check_range("volumes", self.volumes, 8, 2000)
        check_range("latent_correlation", self.latent_correlation, -0.95, 0.95)
        check_positive("weight_c", self.weight_c)
        check_positive("weight_n", self.weight_n)
        check_positive("outcome_noise_sd", self.outcome_noise_sd)
        check_positive("baseline_noise_sd", self.baseline_noise_sd)
        check_positive("fma_scale", self.fma_scale)
        check_range("baseline_fma_mean", self.baseline_fma_mean, 1.0, 33.0)
        check_range("p_flat_channel", self.p_flat_channel, 0.0, 1.0)
        check_range("p_noisy_channel", self.p_noisy_channel, 0.0, 1.0)
        check_range("outcome_offset", self.outcome_offset, -10.0, 10.0)


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
        4D rs-fMRI ``.nii.gz`` (int16, 64 x 64 x 35, TR 2 s).
    participant : dict
        The patient's ``participants.tsv`` row.
    ground_truth : dict
        The patient's ``ground_truth.tsv`` row (None where a modality is absent).
    """

    participant_id: str
    signals_path: Path | None
    events_path: Path | None
    fmri_path: Path
    participant: dict[str, Any]
    ground_truth: dict[str, Any]


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


def _write_bold(path: Path, data: np.ndarray, affine: np.ndarray, tr: float) -> Path:
    """Write int16 BOLD as ``.nii.gz`` with gzip mtime 0 (same data -> same bytes)."""
    import gzip

    import nibabel as nib

    img = nib.Nifti1Image(data, affine)
    header = img.header
    header.set_data_dtype(np.int16)
    header.set_zooms((*np.abs(np.diag(affine)[:3]), tr))
    header.set_xyzt_units("mm", "sec")
    header.set_slope_inter(1.0, 0.0)
    header["descrip"] = b"rehab_core synthetic rs-fMRI"
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    raw = img.to_bytes()
    tmp = path.with_name(f".{path.name}.part")
    try:
        tmp.write_bytes(gzip.compress(raw, compresslevel=1, mtime=0))
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def generate_patient(
    out_dir: str | Path,
    *,
    seed: int | np.random.SeedSequence,
    participant_id: str = "sub-demo",
    with_signals: bool = True,
    minutes: float = DEFAULT_MINUTES,
    volumes: int = DEFAULT_VOLUMES,
    settings: CohortSettings | None = None,
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
        EEG-EMG length (min).
    volumes : int
        rs-fMRI volumes (TR 2 s).
    settings : CohortSettings or None
        Generative-model parameters (defaults when None); its ``minutes`` and
        ``volumes`` are replaced by the arguments, its cohort fields unused.

    Returns
    -------
    PatientFiles
        Paths written and the patient's participants/ground-truth rows.
    """
    from rehab_core.demo._bold import TR_S, simulate_bold
    from rehab_core.demo._eegemg import CHANNELS, simulate_eeg_emg
    from rehab_core.demo._latent import draw_latents
    from rehab_core.io import write_signals_text

    settings = (CohortSettings() if settings is None else settings).replace(
        minutes=minutes, volumes=volumes
    )
    if (
        not isinstance(participant_id, str)
        or not participant_id.startswith("sub-")
        or not (participant_id[4:].replace("-", "").isalnum())
    ):
        raise ValueError(
            f"participant_id={participant_id!r} must look like 'sub-001' "
            "(letters and digits after 'sub-')."
        )
    ss = _seed_sequence(seed)
    lat = {k: v[0] for k, v in draw_latents(_stream(ss, 0), 1, settings).items()}
    pid = participant_id
    base = Path(out_dir) / pid
    side = str(lat["affected_side"])

    truth: dict[str, Any] = dict.fromkeys(_GROUND_TRUTH_COLUMNS)
    truth.update(
        participant_id=pid,
        latent_c=float(lat["c"]),
        latent_n=float(lat["n"]),
        recovery_score=float(lat["recovery_score"]),
        outcome_noise=float(lat["outcome_noise"]),
        p_good_bayes=float(lat["p_good_bayes"]),
        has_signals=bool(with_signals),
        has_fmri=True,
    )
    signals_path = events_path = None
    if with_signals:
        data, events, sig_truth = simulate_eeg_emg(
            _stream(ss, 1),
            c=float(lat["c"]),
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

    bold, affine, fmri_truth = simulate_bold(
        _stream(ss, 2), n=float(lat["n"]), affected_side=side, n_volumes=settings.volumes
    )
    func_dir = base / "func"
    func_dir.mkdir(parents=True, exist_ok=True)
    fmri_path = _write_bold(func_dir / f"{pid}_task-rest_bold.nii.gz", bold, affine, TR_S)
    _write_json(
        func_dir / f"{pid}_task-rest_bold.json", {"RepetitionTime": TR_S, "TaskName": "rest"}
    )
    truth.update({k: fmri_truth[k] for k in _FMRI_TRUTH})

    participant = {
        "participant_id": pid,
        "age": int(lat["age"]),
        "sex": str(lat["sex"]),
        "affected_side": side,
        "days_since_stroke": int(lat["days_since_stroke"]),
        "fma_le_baseline": int(lat["fma_le_baseline"]),
        "fma_le_3m": int(lat["fma_le_3m"]),
        "outcome": "good" if int(lat["fma_le_3m"]) > 17 else "poor",
    }
    return PatientFiles(pid, signals_path, events_path, fmri_path, participant, truth)


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
    "latent_c": {"Description": "Corticospinal integrity (standard normal); drives the EEG-EMG"},
    "latent_n": {"Description": "Motor-network integrity (standard normal); drives the fMRI"},
    "recovery_score": {"Description": "s = weight_c * c + weight_n * n + outcome_offset"},
    "outcome_noise": {
        "Description": "eps ~ N(0, outcome_noise_sd^2); good outcome iff s + eps > 0"
    },
    "p_good_bayes": {"Description": "Bayes-optimal P(good | c, n) = Phi(s / outcome_noise_sd)"},
    "bad_channels": {
        "Description": "EEG channels made flat or noisy, 'NAME:kind' separated by ';'"
    },
    "lesion_volume_ml": {"Description": "Infarct volume on the EPI grid", "Units": "ml"},
    "lesion_cst_overlap": {
        "Description": "Fraction of the ipsilesional corticospinal-tract ROI inside the lesion"
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
    volumes: int = DEFAULT_VOLUMES,
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
    width = max(3, len(str(s.n_patients)))
    ids = [f"sub-{i + 1:0{width}d}" for i in range(s.n_patients)]
    chooser = np.random.default_rng(np.random.SeedSequence(s.seed, spawn_key=(_SELECTION_KEY,)))
    has_signals = np.zeros(s.n_patients, bool)
    has_signals[chooser.permutation(s.n_patients)[: s.n_with_signals]] = True
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
    _write_json(root / "cohort_settings.json", s.to_dict())
    _write_json(
        root / "dataset_description.json",
        {
            "Name": "rehab_core synthetic stroke cohort",
            "BIDSVersion": "1.9.0",
            "DatasetType": "raw",
            "License": "CC0",
            "GeneratedBy": [{"Name": "rehab_core.demo.generate_cohort", "Version": __version__}],
            "HowToAcknowledge": (
                "Synthetic data; the generative model is in docs/synthetic_cohort.md."
            ),
        },
    )
    return CohortInfo(root, s, participants_tsv, ground_truth_tsv, patients)
