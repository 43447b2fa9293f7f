"""Repeated patient-level cross-validation of the paper's models (``rehab repeated-cv``).

One k-fold split of 100 patients gives an out-of-fold AUC that moves with the
split (issue 13), so development figures come from the training run's k-fold
cross-validation over the whole cohort repeated ``n_repeats`` times, each repeat
with other folds: repeat ``r`` is the run of ``rehab train --test-fraction 0
--seed (seed + r)`` with the same settings (repeat 0 has the folds of the
shipped run). Each repeat trains what a training run trains, through the same
steps (:mod:`rehab_core.workflows.train`): the LSTM, with ``images=True`` each
image backbone and its fusion, and the clinical comparators fitted on the same
folds; nothing is written but the summary. Every row is summarised over the
repeats by :func:`rehab_core.evaluation.repeated_cv_summary` (mean and SD of
the out-of-fold AUC, and a patient-level interval of the mean), next to the
ceiling of what the row sees on the same patients.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["repeated_cross_validation", "repeated_cv_markdown"]

ProgressFn = Callable[[dict[str, Any]], None]


def repeated_cross_validation(
    cohort_dir: str | Path,
    settings: Any = None,
    *,
    n_repeats: int = 5,
    images: bool = False,
    signal_settings: Any = None,
    imaging_settings: Any = None,
    n_jobs: int = 1,
    work_dir: str | Path | None = None,
    progress: ProgressFn | None = None,
    n_boot: int = 2000,
) -> dict[str, Any]:
    """Out-of-fold AUC of every row over ``n_repeats`` k-fold splits of the whole cohort.

    Parameters
    ----------
    cohort_dir : path
        A cohort folder (:func:`rehab_core.io.cohort.read_cohort`).
    settings : ExperimentSettings
        As for ``rehab train``, with ``test_fraction=0`` (every patient is
        scored out of fold in every repeat); ``seed`` is repeat 0's.
    n_repeats : int
        Number of k-fold splits (at least 2).
    images : bool
        Also train ``settings.backbones`` and their fusions in every repeat
        (hours on a CPU; the LSTM and the clinical comparators alone take minutes).
    signal_settings, imaging_settings : Settings | None
        Preprocessing; package defaults when ``None``.
    n_jobs : int
        Processes for preprocessing.
    work_dir : path | None
        Keeps the preprocessed arrays (``arrays/``, as a training run's work
        folder), so a second call, or a training run's work folder with the same
        settings, is not preprocessed again. Members are not kept.
    progress : callable | None
        Receives ``{"stage": "repeat", "repeat", "n_repeats", "seed"}`` per
        repeat, and a training run's events.
    n_boot : int
        Patient bootstrap of each row's pooled interval.

    Returns
    -------
    dict
        ``cohort``, ``fingerprint_sha256``, ``n_repeats``, ``seeds``,
        ``settings`` (with the preprocessing's), ``seconds`` and ``rows``: per
        row ``{"row", "group", "n_patients", "ceiling_auc", "summary"}``, the
        summary being :func:`~rehab_core.evaluation.repeated_cv_summary` of its
        repeats. JSON-ready except for NaN.

    Raises
    ------
    ValueError
        ``n_repeats`` below 2, a held-out test fraction, a cohort a training
        run refuses.
    """
    from rehab_core._validation import check_int
    from rehab_core.evaluation import repeated_cv_summary, roc_auc
    from rehab_core.imaging import ImagingSettings
    from rehab_core.io.cohort import read_cohort
    from rehab_core.signals import SignalSettings
    from rehab_core.training import ExperimentSettings, select_device
    from rehab_core.workflows._train.clinical import clinical_inputs
    from rehab_core.workflows._train.plan import CohortTargets, plan_split
    from rehab_core.workflows._train.report import with_ceilings
    from rehab_core.workflows._train.steps import fit_and_tabulate, train_ensembles
    from rehab_core.workflows._train.work_folder import (
        WorkFolder,
        cohort_fingerprint,
        preprocess_cohort,
    )

    check_int("n_repeats", n_repeats, low=2)
    started = time.time()
    settings = settings or ExperimentSettings(test_fraction=0.0)
    if settings.test_fraction:
        raise ValueError(
            "Repeated cross-validation scores every patient out of fold: give test_fraction=0 "
            f"(--test-fraction 0), not {settings.test_fraction:g}."
        )
    signal_settings = signal_settings or SignalSettings()
    imaging_settings = imaging_settings or ImagingSettings()
    emit = progress or (lambda event: None)
    work = None if work_dir is None else WorkFolder(work_dir)

    cohort = read_cohort(cohort_dir)
    targets = CohortTargets.of(cohort)
    arrays = preprocess_cohort(cohort, work, signal_settings, imaging_settings, n_jobs, emit)
    device = str(select_device(settings.device))
    clinical = clinical_inputs(cohort)
    seeds = [settings.seed + r for r in range(n_repeats)]
    repeats: dict[tuple[str, str], list[dict[str, Any]]] = {}
    ceilings: dict[tuple[str, str], float] = {}
    for r, seed in enumerate(seeds):
        emit({"stage": "repeat", "repeat": r, "n_repeats": n_repeats, "seed": seed})
        s = dataclasses.replace(settings, seed=seed)
        plan = plan_split(arrays, targets, s, cohort_dir)
        lstm, _, image_models = train_ensembles(
            arrays, plan, targets, s, device, None, None, progress, backbones=None if images else ()
        )
        rows, _ = fit_and_tabulate(lstm, image_models, plan, targets, s, clinical)
        records, _ = with_ceilings(rows.all_results(), cohort.ground_truth)
        for row in records:
            # "Clinical" sits in Tables 1 and 3 on the same patients: one row
            key = (row.name, "signal" if row.group == "signal" else "all")
            if len(repeats.get(key, [])) > r:
                continue
            repeats.setdefault(key, []).append(
                {"patients": list(row.patients), "y_true": row.y_true, "p_good": row.p_good}
            )
            if row.p_ceiling is not None:
                ceilings[key] = roc_auc(row.y_true, row.p_ceiling)
    return {
        "cohort": str(cohort_dir),
        "fingerprint_sha256": cohort_fingerprint(arrays.inputs, targets.labels),
        "n_repeats": n_repeats,
        "seeds": seeds,
        "settings": {
            **settings.to_dict(),
            "signals": signal_settings.to_dict(),
            "imaging": imaging_settings.to_dict(),
        },
        "images": bool(images),
        "rows": [
            {
                "row": name,
                "group": group,
                "n_patients": len(reps[0]["patients"]),
                "ceiling_auc": ceilings.get((name, group), float("nan")),
                "summary": repeated_cv_summary(reps, n_boot=n_boot, seed=settings.seed),
            }
            for (name, group), reps in repeats.items()
        ],
        "seconds": round(time.time() - started, 1),
    }


def repeated_cv_markdown(summary: dict[str, Any]) -> str:
    """The summary as one Markdown table: mean ± SD over repeats, pooled interval, ceiling."""
    from rehab_core.evaluation import repeated_cv_rows

    s = summary["settings"]
    rows = repeated_cv_rows(summary)
    columns = list(rows[0]) if rows else []
    lines = [
        f"Repeated {s['n_folds']}-fold patient-level cross-validation over the whole cohort: "
        f"{summary['n_repeats']} repeats (seeds {', '.join(str(x) for x in summary['seeds'])}).",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    lines += ["| " + " | ".join(r[c] for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"
