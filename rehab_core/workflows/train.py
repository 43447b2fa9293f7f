"""Train and evaluate the paper's models on a cohort, end to end (``rehab train``, retrain jobs).

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
   for the synthetic cohort, each row's ceiling (of what it sees). The clinical
   comparators ("Clinical", "<fusion> + clinical") are fitted on the same
   folds; paired AUC differences, calibration and decision curves follow.

With ``test_fraction=0`` there is no hold-out set and the out-of-fold
scores over the whole cohort are the evaluation (cross-validated AUC).

:func:`train_experiment` is that list of steps; each step is a part of
:mod:`rehab_core.workflows._train`. :func:`experiment_settings` turns what a
user typed (CLI options, the Retrain page's form) into settings.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from rehab_core.training import ExperimentSettings
from rehab_core.workflows._train import is_main_process
from rehab_core.workflows._train.clinical import clinical_inputs
from rehab_core.workflows._train.ensemble import Ensemble
from rehab_core.workflows._train.fitting import FusionFit
from rehab_core.workflows._train.manifest import RunFacts, build_manifest
from rehab_core.workflows._train.plan import CohortTargets, SplitPlan, plan_split
from rehab_core.workflows._train.report import training_report, write_report
from rehab_core.workflows._train.reuse import ReusableImageMembers
from rehab_core.workflows._train.steps import fit_and_tabulate as _fit_and_tabulate
from rehab_core.workflows._train.steps import train_ensembles as _train_ensembles
from rehab_core.workflows._train.work_folder import (
    WorkFolder,
    cohort_fingerprint,
    preprocess_cohort,
    run_identity,
)

__all__ = ["cohort_fingerprint", "experiment_settings", "train_experiment"]

ProgressFn = Callable[[dict[str, Any]], None]


def experiment_settings(
    backbones: str | Sequence[str], *, trial: bool = False, **values: Any
) -> ExperimentSettings:
    """:class:`ExperimentSettings` from what a user chose (CLI options or the Retrain form).

    Parameters
    ----------
    backbones : str or sequence of str
        An image backbone, ``"all"`` for the five, or several.
    trial : bool
        One batch per epoch: checks the whole pipeline on a cohort in minutes.
    **values
        Any other field of :class:`ExperimentSettings`; ``None`` keeps its
        default. Whole numbers typed as floats (a form's number inputs) are
        taken as ``int`` where the field is one.

    Raises
    ------
    ValueError
        A value the settings refuse (one sentence naming the field).
    """
    from rehab_core.models import list_models

    if isinstance(backbones, str):
        names = [b.strip() for b in backbones.split(",") if b.strip()]
        backbones = list_models("image") if names == ["all"] else names
    ints = {"n_folds", "seed", "epochs", "patience", "signal_epochs", "signal_patience"}
    ints |= {"signal_batch_size", "image_batch_size", "max_train_batches", "num_workers"}
    chosen = {k: v for k, v in values.items() if v is not None}
    for key, value in chosen.items():
        if key in ints and isinstance(value, float) and value.is_integer():
            chosen[key] = int(value)
    if trial:
        chosen["max_train_batches"] = 1
    return ExperimentSettings(backbones=tuple(backbones), **chosen)


def _claim(work, settings, signal_settings, imaging_settings, fingerprint, emit) -> None:
    """Take the work folder for this run (or check it is this run's); say so."""
    if work is None:
        return
    signal, imaging = signal_settings.to_dict(), imaging_settings.to_dict()
    work.claim(run_identity(settings, signal, imaging, fingerprint))
    emit({"stage": "work_dir", "path": str(work.path)})


def _write_bundles(
    out_dir: Path,
    run: RunFacts,
    lstm: Ensemble,
    lstm_kwargs: dict[str, Any],
    images: dict[str, Ensemble],
    fits: dict[str, FusionFit],
    reused: ReusableImageMembers,
    report: dict[str, Any],
    targets: CohortTargets,
) -> None:
    """One bundle per backbone; its entry in the report's ``models``."""
    import numpy as np

    from rehab_core.evaluation import regression_metrics
    from rehab_core.models import fusion_model_id
    from rehab_core.storage import save_bundle
    from rehab_core.storage.manifest import Metrics

    fma_true = np.asarray([targets.fma_3m[p] for p in run.plan.eval_ids])
    from rehab_core.evaluation import CLINICAL_MODEL, CLINICAL_SUFFIX
    from rehab_core.models import get_model_info

    clinical_states = (report.get("clinical") or {}).get("models", {})
    for backbone, image in images.items():
        fit = fits[backbone]
        fma = regression_metrics(fma_true, fit.fma_eval)
        # the comparators fitted on the development patients, for an external evaluation
        own = f"{get_model_info(backbone).display_name}_LSTM{CLINICAL_SUFFIX}"
        clinical = {k: v for k, v in clinical_states.items() if k in (CLINICAL_MODEL, own)}
        metrics = Metrics(
            evaluated_on=report["evaluated_on"],
            tables=report["tables"],
            fma=fma,
            bayes_ceiling_auc=report["bayes_ceiling_auc"],
            clinical=clinical or None,
        )
        manifest = build_manifest(
            run,
            backbone,
            lstm=lstm,
            image=image,
            lstm_kwargs=lstm_kwargs,
            fit=fit,
            reused_from=reused.record(backbone),
            metrics=metrics,
        )
        state = {f"signal{f}": sd for f, sd in enumerate(lstm.states)}
        state |= {f"image{f}": sd for f, sd in enumerate(image.states)}
        save_bundle(out_dir / manifest.model_id, state, manifest)
        report["models"][fusion_model_id(backbone)] = {
            "fusion": fit.fusion.to_dict(),
            "fusion_weight": float(fit.fusion.weight_),
            "fma": fma,
            "image_pretrained_source": image.pretrained_source,
        }


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
    folds: Collection[int] | None = None,
) -> dict[str, Any] | None:
    """Train the LSTM, the image backbones and their fusion on a cohort; write bundles.

    Parameters
    ----------
    cohort_dir : path
        A cohort folder (:func:`rehab_core.io.cohort.read_cohort`).
    out_dir : path
        Receives one weights bundle per fusion model (``<backbone>_lstm/``)
        plus ``evaluation.json`` and ``tables.md`` (rank 0 only under torchrun).
    settings : ExperimentSettings
    signal_settings, imaging_settings : Settings | None
        Preprocessing; package defaults when ``None``.
    n_jobs : int
        Processes for preprocessing.
    progress : callable | None
        Receives event dicts: ``stage`` (``preprocess``, ``preprocess_kept``,
        ``work_dir``, ``train``, ``member_kept``, ``evaluate``, ``done``) and
        the training loop's batch/epoch events with ``member``.
    data_description : str | None
        Free text stored in each manifest ("synthetic demo cohort, seed 1").
    image_members_from : path | None
        A folder of bundles (``<backbone>_lstm/``) trained earlier on this
        same cohort with the same split, folds and fMRI preprocessing: their
        image members are reused instead of retrained (only the LSTM, the
        fusion weight and the FMA regressor are fitted again). Anything that
        differs is refused (what needs no preprocessing, before it); the
        manifest records the source.
    work_dir : path | None
        Makes the run resumable: every member is checkpointed there after
        each epoch, and kept there once finished. Calling again with the same
        cohort, settings and ``work_dir`` (after a crash, a ``kill -9`` or a
        cancel) loads the finished members, continues the interrupted one from
        its last epoch and trains the rest. A folder that holds another
        run's members is refused.
    folds : collection of int | None
        With ``work_dir``: train only these folds' members (numbered from 0)
        into it and return None, without evaluating; ``()`` only preprocesses
        and checks. A job that trains its folds side by side, one process per
        GPU, runs that in each process, then once more with None to evaluate
        the members they kept (:mod:`rehab_core.jobs.worker`).

    Returns
    -------
    dict
        The evaluation report written to ``evaluation.json``; its
        ``predictions`` hold every evaluated patient's score per table row
        and ``bayes_p_good`` the generator's probabilities (synthetic cohorts),
        as :func:`rehab_core.workflows.evaluate.evaluate_cohort` returns them.
        None with ``folds`` and on the ranks other than 0 of a ``torchrun``
        launch, which train their share and leave the evaluation to rank 0.
    """
    from rehab_core.imaging import ImagingSettings
    from rehab_core.io.cohort import read_cohort
    from rehab_core.signals import SignalSettings
    from rehab_core.training import select_device

    settings = settings or ExperimentSettings()
    if folds is not None and work_dir is None:
        raise ValueError("folds= trains members for a later evaluation: it needs a work_dir.")
    signal_settings = signal_settings or SignalSettings()
    imaging_settings = imaging_settings or ImagingSettings()
    emit = progress or (lambda event: None)
    started = time.time()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = None if work_dir is None else WorkFolder(work_dir)

    cohort = read_cohort(cohort_dir)
    targets = CohortTargets.of(cohort)
    reused = ReusableImageMembers.check(
        image_members_from, settings, imaging_settings.to_dict(), set(targets.labels)
    )
    arrays = preprocess_cohort(cohort, work, signal_settings, imaging_settings, n_jobs, emit)
    fingerprint = cohort_fingerprint(arrays.inputs, targets.labels)
    plan: SplitPlan = plan_split(arrays, targets, settings, cohort_dir)
    reused.check_split(fingerprint, plan.dev_ids, plan.test_ids)
    device = str(select_device(settings.device))
    _claim(work, settings, signal_settings, imaging_settings, fingerprint, emit)
    lstm, lstm_kwargs, images = _train_ensembles(
        arrays, plan, targets, settings, device, work, reused, progress, folds
    )
    if folds is not None:  # this process's folds are kept in work_dir; another one evaluates
        return None
    if not is_main_process():  # every rank holds the same members: rank 0 alone evaluates
        return None
    emit({"stage": "evaluate"})
    rows, fits = _fit_and_tabulate(lstm, images, plan, targets, settings, clinical_inputs(cohort))
    tables = rows.tables(cohort.ground_truth)
    report = training_report(
        rows,
        _tables_json(tables),
        cohort_dir=cohort_dir,
        truth=cohort.ground_truth,
        fingerprint=fingerprint,
        failures=arrays.failures,
        settings=settings,
        seconds=time.time() - started,
    )
    run = RunFacts(
        cohort_dir=Path(cohort_dir),
        description=data_description,
        trained_on="synthetic" if cohort.ground_truth else "real",
        fingerprint=fingerprint,
        development_inputs_sha256=_development_inputs(arrays, plan),
        settings=settings,
        signal_settings=signal_settings,
        imaging_settings=imaging_settings,
        device=device,
        plan=plan,
    )
    _write_bundles(out_dir, run, lstm, lstm_kwargs, images, fits, reused, report, targets)
    write_report(out_dir, report, tables)
    emit({"stage": "done", "seconds": report["seconds"]})
    return report


def _tables_json(tables: dict[str, Any]) -> dict[str, Any]:
    import json

    from rehab_core.evaluation import to_json

    return json.loads(to_json(tables))


def _development_inputs(arrays: Any, plan: SplitPlan) -> tuple[str, ...]:
    """The SHA-256 of every input file of a development patient, sorted."""
    return tuple(
        sorted({sha for p in plan.dev_ids for sha in arrays.inputs.get(str(p), {}).values()})
    )
