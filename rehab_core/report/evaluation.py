"""What a weights folder says about how well its models do, as the Evaluation page shows it.

A training run (``rehab train --out weights``) writes, beside its bundles,
``evaluation.json`` (Tables 1-3 of the paper with bootstrap intervals, the
cross-validated AUCs and the Bayes-optimal ceiling) and ``tables.md``. ROC
and calibration curves need every held-out patient's score, which
``rehab evaluate --json`` gives (its ``predictions``); saved in the same folder
as ``heldout_evaluation.json`` it is read here, and used only when the
weights hashes it recorded are the installed ones. An ``evaluation.json``
that carries the same ``predictions`` itself is used otherwise (a run without
a held-out set stores every patient's out-of-fold score there).

How much the out-of-fold figures move with the split comes from
``repeated_cv.json`` (``rehab repeated-cv --out <folder>/repeated_cv``), and
whether the LSTM's input (envelopes or raw samples) matters from
``signal_input.json`` (``rehab compare-runs``, ``make signal-input``).

Figures on unseen cohorts come from ``external.json`` and ``external.md``
(``rehab external-summary --out <folder>/external``): each row's AUC, its
ceiling and the fraction of the ceiling, mean and SD across cohorts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rehab_core.storage import BundleManifest

__all__ = [
    "EXTERNAL_MARKDOWN",
    "EXTERNAL_REPORT",
    "HELDOUT_REPORT",
    "REPEATED_CV_REPORT",
    "SIGNAL_INPUT_REPORT",
    "TABLES_FILE",
    "TRAINING_REPORT",
    "curve_source",
    "evaluation_curves",
    "external_command",
    "heldout_command",
    "is_cross_validated",
    "read_evaluation_folder",
    "stale_models",
]

TRAINING_REPORT = "evaluation.json"
TABLES_FILE = "tables.md"
HELDOUT_REPORT = "heldout_evaluation.json"
EXTERNAL_REPORT = "external.json"
EXTERNAL_MARKDOWN = "external.md"
REPEATED_CV_REPORT = "repeated_cv.json"
SIGNAL_INPUT_REPORT = "signal_input.json"


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{path.name} in {path.parent} cannot be read as JSON: {err}.") from err


def read_evaluation_folder(folder: str | Path) -> dict[str, Any]:
    """Everything a weights folder holds about its models' performance.

    Parameters
    ----------
    folder : path
        A weights folder (bundles one level below it).

    Returns
    -------
    dict
        ``folder``; ``training`` (``evaluation.json`` or ``None``);
        ``markdown`` (``tables.md`` or ``None``); ``heldout``
        (``heldout_evaluation.json`` or ``None``); ``external``
        (``external.json`` or ``None``); ``external_markdown`` (``external.md``
        or ``None``); ``repeated_cv`` (``repeated_cv.json`` or ``None``);
        ``signal_input`` (``signal_input.json`` or ``None``);
        ``manifests`` (bundle
        folder name -> :class:`~rehab_core.storage.BundleManifest` of every
        bundle); ``synthetic`` (True when any bundle says it was trained on
        synthetic data).
    """
    from rehab_core.storage import find_bundles, read_manifest

    root = Path(folder)
    tables, external_md = root / TABLES_FILE, root / EXTERNAL_MARKDOWN
    manifests = {path.name: read_manifest(path) for path in find_bundles(root) if path != root}
    return {
        "folder": str(root),
        "training": _read_json(root / TRAINING_REPORT),
        "markdown": tables.read_text(encoding="utf-8") if tables.is_file() else None,
        "heldout": _read_json(root / HELDOUT_REPORT),
        "external": _read_json(root / EXTERNAL_REPORT),
        "external_markdown": (
            external_md.read_text(encoding="utf-8") if external_md.is_file() else None
        ),
        "repeated_cv": _read_json(root / REPEATED_CV_REPORT),
        "signal_input": _read_json(root / SIGNAL_INPUT_REPORT),
        "manifests": manifests,
        "synthetic": any(m.data.synthetic for m in manifests.values()),
    }


def stale_models(heldout: Mapping[str, Any], manifests: Mapping[str, BundleManifest]) -> list[str]:
    """Model ids a report (held-out or external) scored with other weights than installed."""
    out = []
    for model_id, entry in (heldout.get("models") or {}).items():
        installed = manifests.get(model_id)
        if installed is None or installed.sha256 != entry.get("weights_sha256"):
            out.append(model_id)
    return sorted(out)


def curve_source(folder_info: Mapping[str, Any]) -> tuple[str, list[str]]:
    """Which report's per-patient scores the curves come from.

    Parameters
    ----------
    folder_info : mapping
        :func:`read_evaluation_folder` output.

    Returns
    -------
    (source, stale) : (str, list of str)
        ``source`` is ``"heldout"`` (``heldout_evaluation.json`` scored the
        installed weights), ``"training"`` (``evaluation.json`` carries
        ``predictions`` itself, written with the bundles) or ``""`` (no
        usable scores); ``stale`` lists the models ``heldout_evaluation.json``
        scored with other weights than the installed ones.
    """
    heldout = folder_info.get("heldout") or {}
    stale = stale_models(heldout, folder_info.get("manifests") or {}) if heldout else []
    if heldout.get("predictions") and not stale:
        return "heldout", []
    if (folder_info.get("training") or {}).get("predictions"):
        return "training", stale
    return "", stale


def is_cross_validated(training: Mapping[str, Any] | None) -> bool:
    """Whether a training run's figures are out of fold (no held-out test set).

    ``rehab train --test-fraction 0`` scores every development patient by the
    fold models that did not learn from them; its ``evaluated_on`` says so.
    """
    return "cross-validation" in str((training or {}).get("evaluated_on") or "")


def external_command(folder: str | Path) -> str:
    """The commands that write ``external.json`` and ``external.md`` for a folder's bundles."""
    root = Path(folder)
    return (
        f"rehab evaluate --cohort UNSEEN_COHORT_1 --weights {root} --json > seed1.json  "
        "# and so on, one per unseen cohort\n"
        f"rehab external-summary seed1=seed1.json seed2=seed2.json seed3=seed3.json "
        f"--out {root / Path(EXTERNAL_REPORT).stem}"
    )


def heldout_command(folder: str | Path, training: Mapping[str, Any] | None) -> str:
    """The command that writes ``heldout_evaluation.json`` for a folder's bundles."""
    cohort = (training or {}).get("cohort") or "COHORT_THE_MODELS_WERE_TRAINED_ON"
    return (
        f"rehab evaluate --cohort {cohort} --weights {folder} --json > "
        f"{Path(folder) / HELDOUT_REPORT}"
    )


def evaluation_curves(heldout: Mapping[str, Any], *, n_bins: int = 5) -> dict[str, Any]:
    """ROC and calibration curves of every model in a ``rehab evaluate`` report.

    Parameters
    ----------
    heldout : mapping
        Output of :func:`rehab_core.workflows.evaluate.evaluate_cohort`
        (``predictions`` and ``bayes_p_good``).
    n_bins : int
        Equal-width calibration bins (few: held-out sets are small).

    Returns
    -------
    dict
        ``models``: one entry per scored model with ``name``, ``group``,
        ``n``, ``roc`` (:func:`~rehab_core.evaluation.roc_points`) and
        ``calibration`` (:func:`~rehab_core.evaluation.calibration_bins`);
        ``bayes``: the same for the generator's Bayes-optimal probabilities
        on the fusion model's patients (``None`` without ground truth);
        ``skipped``: sentences on models that could not be drawn.
    """
    from rehab_core.evaluation import calibration_bins, roc_points

    models, skipped = [], []
    for record in heldout.get("predictions") or []:
        y, p = record["y_true"], record["p_good"]
        if len(set(y)) < 2:
            skipped.append(
                f"{record['name']}: all {len(y)} patients have the same outcome, so no ROC curve."
            )
            continue
        models.append(
            {
                "name": record["name"],
                "group": record["group"],
                "n": len(y),
                "roc": roc_points(y, p),
                "calibration": calibration_bins(y, p, n_bins=n_bins),
            }
        )
    bayes = None
    truth = heldout.get("bayes_p_good") or {}
    reference = next((r for r in heldout.get("predictions") or [] if r["group"] == "fusion"), None)
    if truth and reference is not None:
        pairs = [
            (y, truth[p])
            for p, y in zip(reference["patients"], reference["y_true"], strict=True)
            if p in truth
        ]
        y = [a for a, _ in pairs]
        if len(set(y)) == 2:
            p = [b for _, b in pairs]
            bayes = {
                "n": len(pairs),
                "roc": roc_points(y, p),
                "calibration": calibration_bins(y, p, n_bins=n_bins),
            }
    return {"models": models, "bayes": bayes, "skipped": skipped}
