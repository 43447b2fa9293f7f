"""Train and evaluate the paper's models on a cohort, end to end.

Design (paper §2.5–2.8, with the choices it leaves open made explicit):

1. Every patient is read and preprocessed once (:func:`rehab_core.pipeline.prepare_cohort`).
2. A stratified patient-level hold-out test set (15 %, paper) is put aside;
   no window or slice of a test patient is ever seen in training.
3. The remaining *development* patients are split into ``n_folds``
   stratified folds.  For each fold an LSTM and each image backbone are
   trained on the other folds, with 15 % of those patients held back for
   early stopping and the learning-rate schedule, and they score the
   held-out fold.  This gives *out-of-fold* signal and image scores for
   every development patient.
4. The fusion weight of ``p = w * signal + (1 - w) * image`` is chosen by
   k-fold cross-validation over these out-of-fold scores (paper: "weight
   coefficients are optimized through cross-validation"), and the FMA-LE
   regressor is fitted on the same out-of-fold fused probabilities.
5. The ``n_folds`` models of each kind form the shipped ensemble: the
   prediction is the mean of the members and the members' spread is the
   uncertainty shown with every prediction.
6. The test patients are scored by the ensembles: paper-style Tables 1–3 with
   bootstrap intervals, next to the cross-validated (out-of-fold) AUC and,
   for the synthetic cohort, the Bayes-optimal ceiling on the same patients.

With ``test_fraction=0`` there is no hold-out set and the out-of-fold
scores over the whole cohort are the evaluation (cross-validated AUC).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rehab_core._config import Settings
from rehab_core._json import to_jsonable
from rehab_core._validation import check_int, check_option, check_range

__all__ = [
    "ExperimentSettings",
    "train_experiment",
    "FUSION_MODEL_IDS",
    "fusion_model_id",
    "cohort_fingerprint",
    "bayes_ceiling_auc",
    "predict_fma",
]

ProgressFn = Callable[[dict[str, Any]], None]


def fusion_model_id(backbone: str) -> str:
    """The id of the fusion model of one backbone, e.g. ``shufflenet_lstm``."""
    return f"{backbone}_lstm"


FUSION_MODEL_IDS = tuple(
    fusion_model_id(b) for b in ("shufflenet", "fbnet", "ghostnet", "regnet", "resnet50")
)


@dataclasses.dataclass(frozen=True)
class ExperimentSettings(Settings):
    """How :func:`train_experiment` trains.

    Parameters
    ----------
    backbones : tuple of str
        Image backbones to train (each gives one fusion model with the LSTM).
    n_folds : int
        Folds over the development patients (see the module docstring).
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

    def __post_init__(self) -> None:
        from rehab_core.models import list_models

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


def cohort_fingerprint(inputs: dict[str, dict[str, str]], labels: dict[str, int]) -> str:
    """SHA-256 over every input file's hash and every label: identifies the training data."""
    digest = hashlib.sha256()
    for pid in sorted(inputs):
        digest.update(pid.encode())
        digest.update(str(labels.get(pid)).encode())
        for _, sha in sorted(inputs[pid].items(), key=lambda kv: kv[1]):
            digest.update(sha.encode())
    return digest.hexdigest()


def _train_settings(settings: ExperimentSettings, kind: str, seed: int):
    from rehab_core.training import TrainSettings

    signal = kind == "signal"
    epochs = settings.signal_epochs if signal and settings.signal_epochs else settings.epochs
    patience = (
        settings.signal_patience if signal and settings.signal_patience else settings.patience
    )
    common = {
        "epochs": epochs,
        "early_stopping_patience": patience,
        "lr": settings.lr,
        "seed": seed,
        "device": settings.device,
        "max_train_batches": settings.max_train_batches,
    }
    if signal:
        return TrainSettings.for_signals(batch_size=settings.signal_batch_size, **common)
    return TrainSettings.for_images(batch_size=settings.image_batch_size, **common)


def _fold_plan(dev_ids, dev_labels, settings: ExperimentSettings) -> list[dict[str, np.ndarray]]:
    """Per fold: the development patients to train on and those to score out of fold."""
    from rehab_core.training import patient_kfold

    folds = patient_kfold(dev_ids, dev_labels, n_splits=settings.n_folds, seed=settings.seed)
    return [{"train": fold.train, "score": fold.test, "fold": fold.fold} for fold in folds]


def _early_stopping_split(train_ids, labels, settings: ExperimentSettings, fold: int):
    """Split a fold's training patients (those with this modality) into fit and early-stop sets.

    The early-stopping set holds ``inner_val_fraction`` of them, at least two
    so both outcomes can appear.
    """
    from rehab_core.training import patient_split

    y = np.asarray([labels[p] for p in train_ids])
    frac = max(settings.inner_val_fraction, 2.0 / len(train_ids))
    inner = patient_split(
        train_ids, y, fractions=(1 - frac, frac, 0.0), seed=settings.seed + 1000 + fold
    )
    return inner.train, inner.val


def _train_member(
    kind: str,
    name: str,
    data: np.ndarray,
    item_patients: np.ndarray,
    labels: dict[str, int],
    fold: dict[str, np.ndarray],
    settings: ExperimentSettings,
    seed: int,
    model_kwargs: dict[str, Any],
    progress: ProgressFn | None,
    tag: str,
    checkpoint_dir: Path | None = None,
):
    """Train one ensemble member; return (model, TrainResult).

    With ``checkpoint_dir``, the member is checkpointed after every epoch and
    continues from the last checkpoint there, if any.
    """
    from rehab_core.models import create_model
    from rehab_core.training import (
        SliceAugmentation,
        SliceDataset,
        WindowDataset,
        fit_model,
        item_indices,
        seed_everything,
    )

    seed_everything(seed)
    with_data = np.intersect1d(fold["train"], np.unique(item_patients))
    fit_ids, stop_ids = _early_stopping_split(with_data, labels, settings, fold["fold"])
    fit_idx = item_indices(item_patients, fit_ids)
    stop_idx = item_indices(item_patients, stop_ids)
    if kind == "signal":
        train_ds = WindowDataset(data, item_patients, labels, indices=fit_idx)
        val_ds = WindowDataset(data, item_patients, labels, indices=stop_idx)
    else:
        train_ds = SliceDataset(
            data,
            item_patients,
            labels,
            indices=fit_idx,
            augmentation=SliceAugmentation(),
            seed=seed,
        )
        val_ds = SliceDataset(data, item_patients, labels, indices=stop_idx)
    model = create_model(name, **model_kwargs)

    def relay(event: dict[str, Any]) -> None:
        if progress is not None:
            progress({**event, "member": tag})

    result = fit_model(
        model,
        train_ds,
        val_ds,
        _train_settings(settings, kind, seed),
        progress=relay,
        checkpoint_dir=checkpoint_dir,
        resume=checkpoint_dir is not None,
    )
    return model, result


_RUN_FORMAT = "rehab_core.training.experiment.run/1"


def _run_identity(
    settings: ExperimentSettings, signal: dict, imaging: dict, fingerprint: str
) -> dict[str, Any]:
    """What a work folder's finished members depend on: reused only when all of it matches."""
    return {
        "format": _RUN_FORMAT,
        "settings": to_jsonable(settings.to_dict()),
        "signals": to_jsonable(signal),
        "imaging": to_jsonable(imaging),
        "fingerprint_sha256": fingerprint,
    }


def _open_work_dir(work_dir: Path, identity: dict[str, Any]) -> None:
    """Create ``work_dir`` for a run, or check that its earlier run is this same run.

    Raises ``ValueError`` (one sentence) when the folder holds another run's
    members: resuming them would mix two trainings.
    """
    from rehab_core._files import write_atomic

    work_dir.mkdir(parents=True, exist_ok=True)
    marker = work_dir / "run.json"
    if marker.is_file():
        earlier = json.loads(marker.read_text())
        if earlier != identity:
            differs = sorted(k for k in identity if earlier.get(k) != identity[k])
            raise ValueError(
                f"{work_dir} holds checkpoints of another training ({', '.join(differs)} "
                "differ); resume it with the same settings and cohort or use an empty folder."
            )
        return
    write_atomic(marker, json.dumps(identity, indent=2, sort_keys=True).encode())


def _arrays_key(cohort: Any, signal_settings: Any, imaging_settings: Any) -> dict[str, Any]:
    """What preprocessed arrays depend on: the settings and every input file's size and mtime."""
    files = {}
    for p in cohort.patients:
        for path in (p.signals_path, p.fmri_path, cohort.root / "participants.tsv"):
            if path is not None:
                stat = Path(path).stat()
                files[str(path)] = [stat.st_size, stat.st_mtime_ns]
    return to_jsonable(
        {
            "signals": signal_settings.to_dict(),
            "imaging": imaging_settings.to_dict(),
            "files": files,
        }
    )


_ARRAY_FIELDS = ("windows", "window_patients", "slices", "slice_patients")


def _cache_arrays(work_dir: Path, cohort, arrays, signal_settings, imaging_settings) -> None:
    """Keep the preprocessed cohort in ``work_dir/arrays`` (plain .npy, no pickle)."""
    from rehab_core._files import write_atomic

    folder = work_dir / "arrays"
    folder.mkdir(parents=True, exist_ok=True)
    for name in _ARRAY_FIELDS:
        value = getattr(arrays, name)
        target = folder / f"{name}.npy"
        if value is None:
            target.unlink(missing_ok=True)
            continue
        tmp = folder / f".{name}.tmp.npy"
        np.save(tmp, np.asarray(value), allow_pickle=False)
        os.replace(tmp, target)
    meta = {
        "key": _arrays_key(cohort, signal_settings, imaging_settings),
        "inputs": arrays.inputs,
        "failures": arrays.failures,
        "signal_sfreq": arrays.signal_sfreq,
        "present": [n for n in _ARRAY_FIELDS if getattr(arrays, n) is not None],
    }
    # written last: its presence means every array beside it is complete
    write_atomic(folder / "arrays.json", json.dumps(to_jsonable(meta)).encode())


def _cached_arrays(work_dir: Path, cohort, signal_settings, imaging_settings):
    """The arrays :func:`_cache_arrays` kept, if the cohort files and settings are unchanged."""
    from rehab_core.pipeline import CohortArrays

    folder = work_dir / "arrays"
    try:
        meta = json.loads((folder / "arrays.json").read_text())
    except (OSError, ValueError):
        return None
    if meta.get("key") != _arrays_key(cohort, signal_settings, imaging_settings):
        return None
    try:
        loaded = {
            n: np.load(folder / f"{n}.npy", allow_pickle=False) if n in meta["present"] else None
            for n in _ARRAY_FIELDS
        }
    except (OSError, ValueError):
        return None
    return CohortArrays(
        **loaded,
        inputs=meta["inputs"],
        failures=meta["failures"],
        signal_sfreq=meta["signal_sfreq"],
    )


def _member_dir(work_dir: Path, name: str, fold: int) -> Path:
    return work_dir / "members" / name / f"fold{fold}"


def _save_member(folder: Path, model: Any, history: dict[str, Any]) -> None:
    """Keep a finished member (weights as safetensors, history as JSON), atomically."""
    from safetensors.torch import save as save_tensors

    from rehab_core._files import write_atomic

    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    payload = save_tensors(state)
    record = {
        "history": history,
        "pretrained_source": getattr(model, "pretrained_source", None),
        "weights_sha256": hashlib.sha256(payload).hexdigest(),
    }
    write_atomic(folder / "member.safetensors", payload)
    # the JSON goes last: its presence means the weights beside it are complete
    write_atomic(folder / "member.json", json.dumps(to_jsonable(record), indent=2).encode())


def _load_member(folder: Path, kind: str, name: str, kwargs: dict[str, Any]):
    """A member kept by :func:`_save_member`, or None when it has not finished."""
    from safetensors.torch import load as load_tensors

    from rehab_core.models import create_model

    if not (folder / "member.json").is_file():
        return None
    record = json.loads((folder / "member.json").read_text())
    payload = (folder / "member.safetensors").read_bytes()
    if hashlib.sha256(payload).hexdigest() != record["weights_sha256"]:
        return None  # damaged: train the member again
    kwargs = {**kwargs, "pretrained": False} if kind == "image" else kwargs
    model = create_model(name, **kwargs)
    model.load_state_dict(load_tensors(payload))
    model.pretrained_source = record.get("pretrained_source")
    return model.eval(), record["history"]


def _reusable_image_members(
    folder: str | Path,
    settings: ExperimentSettings,
    *,
    fingerprint: str,
    dev_ids: np.ndarray,
    test_ids: np.ndarray,
    imaging: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """Per backbone, a loader of the image members of an earlier bundle of the same split.

    Raises ``ValueError`` (one sentence) when a bundle is missing or was
    trained on other data, another split, other folds or other fMRI settings.
    """
    from rehab_core.models import create_model
    from rehab_core.storage import load_bundle

    out: dict[str, dict[str, Any]] = {}
    for backbone in settings.backbones:
        path = Path(folder) / fusion_model_id(backbone)
        if not (path / "manifest.json").is_file():
            raise ValueError(f"{path} holds no bundle to reuse the {backbone} members from.")
        bundle = load_bundle(path)
        m = bundle.manifest
        split = m["data"]["split"]
        trained = m["training"]["settings"]
        checks = {
            "the cohort": m["data"]["fingerprint_sha256"] == fingerprint,
            "the development/test split": (
                split["development"] == [str(p) for p in dev_ids]
                and split["test"] == [str(p) for p in test_ids]
            ),
            "the folds": (trained["n_folds"], trained["seed"]) == (settings.n_folds, settings.seed),
            "the fMRI preprocessing": m["preprocessing"]["imaging"] == imaging,
        }
        differs = [what for what, same in checks.items() if not same]
        if differs:
            raise ValueError(
                f"the image members in {path} cannot be reused: {' and '.join(differs)} "
                "differ from this run; train them again instead."
            )
        image = m["parts"]["image"]

        def load(f: int, bundle=bundle, backbone=backbone, m=m) -> tuple[Any, dict[str, Any]]:
            model = create_model(backbone, pretrained=False)
            model.load_state_dict(bundle.part(f"image{f}"))
            model.pretrained_source = m["parts"]["image"].get("pretrained_source")
            return model.eval(), m["training"]["histories"]["image"][f]

        out[backbone] = {
            "load": load,
            "record": {
                "bundle": str(path),
                "manifest_sha256": m["manifest_sha256"],
                "weights_sha256": m["sha256"],
                "settings": trained,
                "imagenet_pretrained": image.get("imagenet_pretrained"),
            },
        }
    return out


def _scores(model, data, item_patients, patients, batch_size, device) -> dict[str, float]:
    from rehab_core.training import item_indices, predict_patient_scores

    idx = item_indices(item_patients, patients)
    if len(idx) == 0:
        return {}
    out = predict_patient_scores(
        model,
        np.ascontiguousarray(data[idx]),
        item_patients[idx],
        batch_size=batch_size,
        device=device,
    )
    return {str(k): float(v) for k, v in out.scores.items()}


def train_experiment(
    cohort_dir: str | Path,
    out_dir: str | Path,
    settings: ExperimentSettings | None = None,
    *,
    signal_settings: Any = None,
    imaging_settings: Any = None,
    n_jobs: int = 1,
    progress: ProgressFn | None = None,
    data_description: str | None = None,
    image_members_from: str | Path | None = None,
    work_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Train the LSTM, the image backbones and their fusion on a cohort; write bundles.

    Parameters
    ----------
    cohort_dir : path
        A cohort folder (:func:`rehab_core.io.cohort.read_cohort`).
    out_dir : path
        Receives one weights bundle per fusion model (``<backbone>_lstm/``)
        plus ``evaluation.json`` and ``tables.md``.
    settings : ExperimentSettings
    signal_settings, imaging_settings : Settings | None
        Preprocessing; package defaults when ``None``.
    n_jobs : int
        Processes for preprocessing.
    progress : callable | None
        Receives event dicts (``stage``, and the training loop's batch/epoch
        events with ``member``).
    data_description : str | None
        Free text stored in each manifest ("synthetic demo cohort, seed 1").
    image_members_from : path | None
        A folder of bundles (``<backbone>_lstm/``) trained earlier on this
        same cohort with the same split, folds and fMRI preprocessing: their
        image members are reused instead of retrained (only the LSTM, the
        fusion weight and the FMA regressor are fitted again). On a CPU this
        turns a change of the EEG-EMG preprocessing from hours into minutes.
        Anything that differs is refused; the manifest records the source.
    work_dir : path | None
        Makes the run resumable: every member is checkpointed there after
        each epoch, and kept there once finished. Calling again with the same
        cohort, settings and ``work_dir`` (after a crash, a ``kill -9`` or a
        cancel) loads the finished members, continues the interrupted one from
        its last epoch and trains the rest. A folder that holds another
        run's members is refused.

    Returns
    -------
    dict
        The evaluation report written to ``evaluation.json``; its
        ``predictions`` hold every evaluated patient's score per table row
        and ``bayes_p_good`` the generator's probabilities (synthetic cohorts),
        as :func:`rehab_core.evaluation.cohort.evaluate_cohort` returns them.
    """
    from rehab_core import __version__
    from rehab_core.evaluation import ModelResult, paper_tables, to_json, to_markdown
    from rehab_core.evaluation.cohort import bayes_probabilities, scored_patients
    from rehab_core.fusion import FMARegressor, LateFusion
    from rehab_core.imaging import ImagingSettings
    from rehab_core.io.cohort import read_cohort
    from rehab_core.models import get_model_info
    from rehab_core.pipeline import prepare_cohort
    from rehab_core.signals import SignalSettings
    from rehab_core.storage import save_bundle
    from rehab_core.training import patient_split, select_device

    settings = settings or ExperimentSettings()
    signal_settings = signal_settings or SignalSettings()
    imaging_settings = imaging_settings or ImagingSettings()
    emit = progress or (lambda event: None)
    started = time.time()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    cohort = read_cohort(cohort_dir)
    emit({"stage": "preprocess", "n_patients": len(cohort)})
    arrays = None
    if work_dir is not None:
        arrays = _cached_arrays(Path(work_dir), cohort, signal_settings, imaging_settings)
        if arrays is not None:
            emit({"stage": "preprocess_kept", "n_patients": len(cohort)})
    if arrays is None:
        arrays = prepare_cohort(
            cohort,
            signal_settings=signal_settings,
            imaging_settings=imaging_settings,
            n_jobs=n_jobs,
            progress=lambda done, total: emit(
                {"stage": "preprocess", "done": done, "total": total}
            ),
        )
        if work_dir is not None and _is_main_process():
            _cache_arrays(Path(work_dir), cohort, arrays, signal_settings, imaging_settings)
    labels = {p.participant_id: int(p.label) for p in cohort.patients}
    baseline = {p.participant_id: p.baseline_fma for p in cohort.patients}
    fma_3m = {p.participant_id: float(p.fma_le_3m) for p in cohort.patients}
    fingerprint = cohort_fingerprint(arrays.inputs, labels)
    if arrays.slices is None:
        raise ValueError(
            "No patient of the cohort has a usable fMRI; the image models cannot train."
        )
    if arrays.windows is None:
        raise ValueError("No patient of the cohort has usable EEG-EMG; the LSTM cannot train.")

    # every fusion model needs the fMRI: patients without a usable one take no part
    ids = np.unique(arrays.slice_patients)
    y_all = np.asarray([labels[p] for p in ids])
    if settings.test_fraction > 0:
        split = patient_split(
            ids,
            y_all,
            fractions=(1 - settings.test_fraction - 0.0, 0.0, settings.test_fraction),
            seed=settings.seed,
        )
        dev_ids, test_ids = split.train, split.test
    else:
        dev_ids, test_ids = ids, np.asarray([], dtype=ids.dtype)
    dev_labels = [labels[p] for p in dev_ids]
    try:
        plan = _fold_plan(dev_ids, dev_labels, settings)
        for fold in plan:  # refuse a cohort too small for early stopping before any training
            for items in (arrays.window_patients, arrays.slice_patients):
                _early_stopping_split(
                    np.intersect1d(fold["train"], np.unique(items)), labels, settings, fold["fold"]
                )
        # the fusion weight and the FMA regressor are cross-validated on the development
        # patients with both modalities: check now, not after hours of training
        both = [p for p in dev_ids if p in set(arrays.window_patients)]
        n_min = min(sum(labels[p] for p in both), len(both) - sum(labels[p] for p in both))
        if n_min < 2 or len(both) < 4:
            raise ValueError(
                f"only {len(both)} development patients have both EEG-EMG and fMRI "
                f"({n_min} of the rarer outcome); the fusion weight needs at least 2 of each"
            )
    except ValueError as err:
        from rehab_core.io.cohort import CohortError

        n_good = int(sum(dev_labels))
        raise CohortError(
            f"{Path(cohort_dir).name} is too small for {settings.n_folds}-fold training: its "
            f"{len(dev_ids)} development patients hold {n_good} good and "
            f"{len(dev_ids) - n_good} poor outcomes ({err})"
        ) from err
    device = str(select_device(settings.device))
    if work_dir is not None:
        work_dir = Path(work_dir)
        _open_work_dir(
            work_dir,
            _run_identity(
                settings,
                signal_settings.to_dict(),
                imaging_settings.to_dict(),
                fingerprint,
            ),
        )
        emit({"stage": "work_dir", "path": str(work_dir)})

    n_chans, n_times = arrays.windows.shape[1:]
    lstm_kwargs = {"n_chans": int(n_chans), "n_times": int(n_times), "sfreq": arrays.signal_sfreq}
    members: dict[str, list[dict[str, Any]]] = {"lstm": []}
    oof: dict[str, dict[str, float]] = {"lstm": {}}
    test_scores: dict[str, list[dict[str, float]]] = {"lstm": []}
    histories: dict[str, list[Any]] = {"lstm": []}

    def run(kind, name, data, item_patients, batch_size, kwargs):
        for f, fold in enumerate(plan):
            seed = settings.seed * 100 + f
            emit({"stage": "train", "model": name, "fold": f, "n_folds": len(plan)})
            folder = None if work_dir is None else _member_dir(work_dir, name, f)
            kept = None if folder is None else _load_member(folder, kind, name, kwargs)
            if kind == "image" and name in reused:
                model, history = reused[name]["load"](f)
            elif kept is not None:
                model, history = kept
                emit({"stage": "member_kept", "member": f"{name}/fold{f}"})
            else:
                model, result = _train_member(
                    kind,
                    name,
                    data,
                    item_patients,
                    labels,
                    fold,
                    settings,
                    seed,
                    kwargs,
                    progress,
                    f"{name}/fold{f}",
                    None if folder is None else folder / "checkpoints",
                )
                history = {
                    "best_epoch": result.best_epoch,
                    "stopped_early": result.stopped_early,
                    "history": result.history,
                }
                if folder is not None and _is_main_process():
                    _save_member(folder, model, history)
            members[name].append({k: v.detach().cpu() for k, v in model.state_dict().items()})
            histories[name].append(history)
            oof[name].update(_scores(model, data, item_patients, fold["score"], batch_size, device))
            test_scores[name].append(
                _scores(model, data, item_patients, test_ids, batch_size, device)
            )
            pretrained_source = getattr(model, "pretrained_source", None)
            if kind == "image":
                sources.setdefault(name, pretrained_source)

    sources: dict[str, Any] = {}
    reused = (
        _reusable_image_members(
            image_members_from,
            settings,
            fingerprint=fingerprint,
            dev_ids=dev_ids,
            test_ids=test_ids,
            imaging=imaging_settings.to_dict(),
        )
        if image_members_from is not None
        else {}
    )
    run(
        "signal",
        "lstm",
        arrays.windows,
        arrays.window_patients,
        settings.signal_batch_size,
        lstm_kwargs,
    )
    for backbone in settings.backbones:
        members[backbone], oof[backbone], test_scores[backbone], histories[backbone] = (
            [],
            {},
            [],
            [],
        )
        run(
            "image",
            backbone,
            arrays.slices,
            arrays.slice_patients,
            settings.image_batch_size,
            {"pretrained": settings.pretrained},
        )

    emit({"stage": "evaluate"})

    def ensemble(name: str, patients) -> np.ndarray:
        return np.asarray(
            [
                np.mean([s[p] for s in test_scores[name]]) if p in test_scores[name][0] else np.nan
                for p in patients
            ]
        )

    def oof_vec(name: str, patients) -> np.ndarray:
        return np.asarray([oof[name].get(p, np.nan) for p in patients])

    eval_ids = test_ids if len(test_ids) else dev_ids
    y_eval = np.asarray([labels[p] for p in eval_ids])
    y_dev = np.asarray(dev_labels)
    truth = cohort.ground_truth
    ceiling = bayes_ceiling_auc(truth, eval_ids, y_eval)
    ceiling_cv = bayes_ceiling_auc(truth, dev_ids, y_dev)

    results = []
    sig_eval = ensemble("lstm", eval_ids) if len(test_ids) else oof_vec("lstm", eval_ids)
    has_sig = ~np.isnan(sig_eval)
    results.append(
        ModelResult(
            name="LSTM",
            group="signal",
            y_true=y_eval[has_sig],
            p_good=sig_eval[has_sig],
            cv_auc=_auc(y_dev, oof_vec("lstm", dev_ids)),
        )
    )
    report_models: dict[str, Any] = {}
    for backbone in settings.backbones:
        info = get_model_info(backbone)
        img_eval = ensemble(backbone, eval_ids) if len(test_ids) else oof_vec(backbone, eval_ids)
        results.append(
            ModelResult(
                name=info.display_name,
                group="image",
                y_true=y_eval,
                p_good=img_eval,
                cv_auc=_auc(y_dev, oof_vec(backbone, dev_ids)),
            )
        )
        fusion = LateFusion(cv=min(5, n_min), random_state=settings.seed)
        s_dev, i_dev = oof_vec("lstm", dev_ids), oof_vec(backbone, dev_ids)
        fusion.fit(s_dev, i_dev, y_dev)
        fused_dev = fusion.predict_proba(s_dev, i_dev)
        fused_eval = fusion.predict_proba(sig_eval, img_eval)
        b_dev = np.asarray([baseline[p] for p in dev_ids])
        use_baseline = bool(np.isfinite(b_dev).mean() >= 0.9)
        fma = FMARegressor(cv=max(2, min(5, len(dev_ids) // 2)), random_state=settings.seed)
        ok = np.isfinite(b_dev) if use_baseline else np.ones(len(dev_ids), bool)
        fma.fit(
            fused_dev[ok],
            np.asarray([fma_3m[p] for p in dev_ids])[ok],
            b_dev[ok] if use_baseline else None,
        )
        fma_eval = predict_fma(
            fma, fused_eval, np.asarray([baseline[p] for p in eval_ids]) if use_baseline else None
        )
        results.append(
            ModelResult(
                name=f"{info.display_name}_LSTM",
                group="fusion",
                y_true=y_eval,
                p_good=fused_eval,
                cv_auc=_auc(y_dev, fused_dev),
            )
        )
        from rehab_core.evaluation import regression_metrics

        fma_true = np.asarray([fma_3m[p] for p in eval_ids])
        model_id = fusion_model_id(backbone)
        report_models[model_id] = {
            "fusion": fusion.to_dict(),
            "fusion_weight": float(fusion.weight_),
            "fma": regression_metrics(fma_true, fma_eval),
            "image_pretrained_source": sources.get(backbone),
        }
        manifest = {
            "model_id": model_id,
            "display_name": f"{info.display_name}_LSTM",
            "version": __version__,
            "task": "P(3-month lower-limb FMA > 17/34) after ischaemic stroke",
            "parts": {
                "signal": {"model": "lstm", "kwargs": lstm_kwargs, "n_members": len(plan)},
                "image": {
                    "model": backbone,
                    "architecture": info.architecture,
                    "n_members": len(plan),
                    "imagenet_pretrained": sources.get(backbone) is not None,
                    "pretrained_source": sources.get(backbone),
                },
            },
            "fusion": fusion.to_dict(),
            "fma_regressor": fma.to_dict(),
            "fma_uses_baseline": use_baseline,
            "preprocessing": {
                "signals": signal_settings.to_dict(),
                "imaging": imaging_settings.to_dict(),
            },
            "training": {
                "settings": settings.to_dict(),
                "device": device,
                "histories": {"signal": histories["lstm"], "image": histories[backbone]},
                "image_members_from": reused.get(backbone, {}).get("record"),
            },
            "data": {
                "description": data_description or f"cohort at {Path(cohort_dir).name}",
                "synthetic": bool(truth),
                "fingerprint_sha256": fingerprint,
                # every input file a model of this bundle learnt from (or early-stopped on):
                # evaluation never counts a patient whose file is in this list
                "development_inputs_sha256": sorted(
                    {sha for p in dev_ids for sha in arrays.inputs.get(str(p), {}).values()}
                ),
                "n_patients": int(len(ids)),
                "split": {
                    "development": [str(p) for p in dev_ids],
                    "test": [str(p) for p in test_ids],
                    "n_folds": len(plan),
                },
            },
            "metrics": None,  # filled below with the tables' entries
        }
        state = {}
        for f, sd in enumerate(members["lstm"]):
            state[f"signal{f}"] = sd
        for f, sd in enumerate(members[backbone]):
            state[f"image{f}"] = sd
        report_models[model_id]["manifest"] = manifest
        report_models[model_id]["state"] = state

    tables = paper_tables(
        results,
        ceiling_auc={
            group: value
            for group, value in {
                "fusion": ceiling,
                "image": ceiling,
                # the LSTM is scored only on the patients with EEG-EMG
                "signal": bayes_ceiling_auc(truth, eval_ids[has_sig], y_eval[has_sig]),
            }.items()
            if value is not None
        }
        or None,
    )
    tables_json = json.loads(to_json(tables))
    # every held-out patient's score per table row: the points of the ROC and calibration curves
    sig_ids = [str(p) for p in np.asarray(eval_ids)[has_sig]]
    predictions = [
        scored_patients(r, sig_ids if r.group == "signal" else eval_ids) for r in results
    ]
    report = {
        "cohort": str(cohort_dir),
        "fingerprint_sha256": fingerprint,
        "evaluated_on": "held-out test patients"
        if len(test_ids)
        else "out-of-fold (cross-validation)",
        "n_eval_patients": int(len(eval_ids)),
        "n_dev_patients": int(len(dev_ids)),
        "bayes_ceiling_auc": ceiling,
        "bayes_ceiling_auc_cv": ceiling_cv,
        "tables": tables_json,
        "predictions": predictions,
        "bayes_p_good": bayes_probabilities(truth, [*eval_ids]),
        "failures": arrays.failures,
        "models": {},
        "seconds": round(time.time() - started, 1),
        "settings": settings.to_dict(),
    }
    if not _is_main_process():
        return report
    for model_id, entry in report_models.items():
        manifest = entry.pop("manifest")
        state = entry.pop("state")
        manifest["metrics"] = {
            "evaluated_on": report["evaluated_on"],
            "tables": tables_json,
            "fma": entry["fma"],
            "bayes_ceiling_auc": ceiling,
        }
        save_bundle(out_dir / model_id, state, manifest)
        report["models"][model_id] = entry
    (out_dir / "evaluation.json").write_text(json.dumps(to_jsonable(report), indent=2))
    (out_dir / "tables.md").write_text(to_markdown(tables))
    emit({"stage": "done", "seconds": report["seconds"]})
    return report


def predict_fma(fma, p_good: np.ndarray, baseline: np.ndarray | None) -> np.ndarray:
    """The regressor's 3-month FMA-LE; NaN for a patient whose needed baseline is missing."""
    out = np.full(len(p_good), np.nan)
    ok = np.isfinite(p_good) if baseline is None else np.isfinite(p_good) & np.isfinite(baseline)
    if ok.any():
        out[ok] = fma.predict(p_good[ok], None if baseline is None else baseline[ok])
    return out


def _is_main_process() -> bool:
    """False on the non-zero ranks of a ``torchrun`` launch: only rank 0 writes files."""
    return int(os.environ.get("RANK", "0")) == 0


def _float_or_nan(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    from rehab_core.evaluation import roc_auc

    ok = ~np.isnan(p)
    auc = roc_auc(y[ok], p[ok]) if ok.any() else float("nan")
    return None if np.isnan(auc) else auc


def bayes_ceiling_auc(truth: dict[str, dict[str, Any]], ids, y) -> float | None:
    """AUC of the generator's Bayes-optimal probability on the same patients (synthetic only)."""
    if not truth or not len(ids):
        return None
    p = np.asarray([_float_or_nan(truth.get(str(i), {}).get("p_good_bayes")) for i in ids])
    return _auc(np.asarray(y), p)
