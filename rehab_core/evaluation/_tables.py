"""Paper-style result tables (Shi et al. 2025, Tables 1-3) with bootstrap intervals.

Input is a list of per-model records (:class:`ModelResult` or dicts with its
keys)::

    results = [
        {"name": "FBNet", "group": "image", "y_true": y_img, "p_good": p_fbnet},
        ...,
        {"name": "LSTM", "group": "signal", "y_true": y_sig, "p_good": p_lstm, "cv_auc": 0.71},
        {"name": "FBNet_LSTM", "group": "fusion", "y_true": y_sig, "p_good": p_fused,
         "threshold": fusion.threshold_},
    ]

Each group may be evaluated on its own patients (the paper had 102 with fMRI
and 86 with EEG-EMG).  Names are matched case-insensitively ("resnet50" is
shown as "ResNet50"); rows follow the paper's order and models that were not
run are simply absent.  Every table may also hold the clinical comparator
("Clinical") and Table 3 "fusion + clinical" rows ("ShuffleNet_LSTM + clinical").

A record with ``p_ceiling`` (the ground truth's ideal probabilities for what
that row sees, :func:`rehab_core.evaluation.ceiling_column`) carries its own
ceiling and the chance-corrected fraction of it; ``pairs`` adds a table of
paired AUC differences (:func:`rehab_core.evaluation.paired_differences`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rehab_core._json import to_jsonable
from rehab_core._validation import check_option
from rehab_core.evaluation._ceiling import CLINICAL_MODEL, CLINICAL_SUFFIX
from rehab_core.evaluation._comparisons import default_pairs, paired_differences
from rehab_core.evaluation._report import (
    EvaluationSettings,
    ModelResult,
    evaluate_model,
)

__all__ = [
    "CEILING_LABEL",
    "FUSION_CLINICAL_MODELS",
    "FUSION_MODELS",
    "IMAGE_MODELS",
    "SIGNAL_MODELS",
    "TABLE_COLUMNS",
    "format_interval",
    "paper_tables",
    "to_json",
    "to_markdown",
]

IMAGE_MODELS: tuple[str, ...] = ("FBNet", "GhostNet", "RegNet", "ShuffleNet", "ResNet50")
SIGNAL_MODELS: tuple[str, ...] = ("LSTM",)
FUSION_MODELS: tuple[str, ...] = tuple(f"{m}_LSTM" for m in IMAGE_MODELS)

#: Metric columns in the paper's order, then ROC AUC (not tabulated in the paper).
TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Accuracy", "accuracy"),
    ("Recall", "recall"),
    ("F1-score", "f1"),
    ("Precision", "precision"),
    ("ROC AUC", "roc_auc"),
)

#: Rows of Table 3 that add the clinical data to a fusion model's score.
FUSION_CLINICAL_MODELS: tuple[str, ...] = tuple(f"{m}{CLINICAL_SUFFIX}" for m in FUSION_MODELS)

_TABLES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "table1",
        "image",
        "Table 1. fMRI prediction model evaluation",
        (*IMAGE_MODELS, CLINICAL_MODEL),
    ),
    (
        "table2",
        "signal",
        "Table 2. EEG-EMG prediction model evaluation",
        (*SIGNAL_MODELS, CLINICAL_MODEL),
    ),
    (
        "table3",
        "fusion",
        "Table 3. Multimodal fusion prediction model evaluation",
        (*FUSION_MODELS, *FUSION_CLINICAL_MODELS, CLINICAL_MODEL),
    ),
)

CEILING_LABEL = "Bayes-optimal ceiling"
_MISSING = "—"


def _key(name: str) -> str:
    return str(name).strip().lower().replace("-", "_").replace(" ", "_")


def _canonical(name: str, allowed: tuple[str, ...], group: str) -> str:
    key = _key(name)
    for canonical in allowed:
        if _key(canonical) == key:
            return canonical
    return check_option(f"name (group {group!r})", name, allowed)  # raises with the allowed names


def _format(value: float, decimals: int) -> str:
    return _MISSING if value is None or math.isnan(value) else f"{value:.{decimals}f}"


def format_interval(cell: Mapping[str, float], decimals: int = 2) -> str:
    """``{"estimate", "low", "high"}`` as ``"0.80 (0.65–0.91)"``; NaN parts as ``"—"``."""
    estimate = _format(cell["estimate"], decimals)
    if math.isnan(cell["low"]) or math.isnan(cell["high"]):
        return estimate
    return f"{estimate} ({cell['low']:.{decimals}f}–{cell['high']:.{decimals}f})"


def paper_tables(
    results: Iterable[ModelResult | Mapping[str, Any]],
    settings: EvaluationSettings | None = None,
    *,
    ceiling_auc: Mapping[str, float] | None = None,
    pairs: str | Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Build Tables 1-3 of the paper from held-out predictions, with intervals.

    Parameters
    ----------
    results : iterable of ModelResult or dict
        One record per model (see the module docstring and :class:`ModelResult`).
    settings : EvaluationSettings or None
        Bootstrap and formatting settings; defaults to ``EvaluationSettings()``.
    ceiling_auc : mapping of group to float, optional
        The demo generator's Bayes-optimal AUC on the same patients as that
        group's models, e.g. ``{"image": 0.84, "fusion": 0.91}``; shown as
        a last row ("Bayes-optimal ceiling") with only ROC AUC filled.  This
        is one ceiling for the whole table; a record's own ``p_ceiling``
        gives each row the ceiling of what it sees (preferred).
    pairs : "default", list of dict or None
        Adds ``"paired"``, the table of paired AUC differences of
        :func:`rehab_core.evaluation.paired_differences` between these rows:
        ``"default"`` makes the comparisons of
        :func:`rehab_core.evaluation.default_pairs`; a list gives them
        (``{"a": (group, name), "b": (group, name), "family": str}`` with the
        canonical names).  ``None`` (default): ``"paired"`` is ``None``.

    Returns
    -------
    tables : dict
        ``{"settings": {...}, "table1": T, "table2": T, "table3": T}`` where
        each ``T`` is ``{"title", "group", "columns", "rows", "evaluations",
        "ceiling_auc"}``: ``columns`` lists ``"Method"``, Accuracy, Recall,
        F1-score, Precision, ROC AUC and, when any model of the table has
        ``cv_auc``, ``"CV AUC"``, and when any row has ``p_ceiling``,
        ``"Ceiling AUC"`` and ``"Fraction of ceiling"`` (chance-corrected,
        with its interval); ``rows`` is a list of dicts mapping each
        column to its formatted cell (``"0.80 (0.65–0.91)"``);
        ``evaluations`` holds the numeric :meth:`ModelEvaluation.to_dict`
        of each row.  Everything is JSON-ready.
    """
    settings = EvaluationSettings() if settings is None else settings
    records = [ModelResult.from_mapping(r) for r in results]
    ceiling_auc = dict(ceiling_auc or {})
    for group, value in ceiling_auc.items():
        check_option("ceiling_auc group", group, [g for _, g, _, _ in _TABLES])
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"ceiling_auc[{group!r}]={value!r} must lie between 0 and 1.")

    out: dict[str, Any] = {"settings": settings.to_dict()}
    allowed_groups = [g for _, g, _, _ in _TABLES]
    for record in records:
        check_option("group", record.group, allowed_groups)

    canonical_records: list[ModelResult] = []
    for key, group, title, order in _TABLES:
        by_name: dict[str, ModelResult] = {}
        for record in (r for r in records if r.group == group):
            name = _canonical(record.name, order, group)
            if name in by_name:
                raise ValueError(
                    f"Model {name!r} appears twice in group {group!r}; give one record per model."
                )
            by_name[name] = record
        named = [dataclasses.replace(by_name[name], name=name) for name in order if name in by_name]
        canonical_records += named
        evaluations = [evaluate_model(record, settings) for record in named]
        has_cv = any(e.cv_auc is not None for e in evaluations)
        has_ceiling = any(e.ceiling is not None for e in evaluations)
        columns = [
            "Method",
            *(label for label, _ in TABLE_COLUMNS),
            *(["CV AUC"] if has_cv else []),
            *(list(_ROW_CEILING_COLUMNS) if has_ceiling else []),
        ]
        rows = []
        for ev in evaluations:
            row = {"Method": ev.name}
            for label, metric in TABLE_COLUMNS:
                row[label] = format_interval(ev.metrics[metric], settings.decimals)
            if has_cv:
                row["CV AUC"] = (
                    _MISSING if ev.cv_auc is None else _format(ev.cv_auc, settings.decimals)
                )
            if has_ceiling:
                row.update(_ceiling_cells(ev.ceiling, settings.decimals))
            rows.append(row)
        ceiling = ceiling_auc.get(group)
        if ceiling is not None:
            ceiling = float(ceiling)
            row = {column: _MISSING for column in columns}
            row["Method"] = CEILING_LABEL
            row["ROC AUC"] = _format(ceiling, settings.decimals)
            rows.append(row)
        out[key] = {
            "title": title,
            "group": group,
            "columns": columns,
            "rows": rows,
            "evaluations": [e.to_dict() for e in evaluations],
            "ceiling_auc": ceiling,
        }
    if pairs is None:
        out["paired"] = None
    else:
        if isinstance(pairs, str):
            check_option("pairs", pairs, ("default",))
            pairs = default_pairs(canonical_records)
        out["paired"] = paired_differences(canonical_records, pairs, settings)
    return out


_ROW_CEILING_COLUMNS = ("Ceiling AUC", "Fraction of ceiling")


def _ceiling_cells(ceiling: Mapping[str, Any] | None, decimals: int) -> dict[str, str]:
    if ceiling is None:
        return dict.fromkeys(_ROW_CEILING_COLUMNS, _MISSING)
    return {
        "Ceiling AUC": _format(ceiling["ceiling_auc"]["estimate"], decimals),
        "Fraction of ceiling": format_interval(ceiling["fraction"], decimals),
    }


def to_markdown(tables: Mapping[str, Any]) -> str:
    """Render :func:`paper_tables` output as Markdown (three pipe tables and a note)."""
    parts = []
    for key, _, _, _ in _TABLES:
        table = tables[key]
        parts.append(f"**{table['title']}**\n")
        if not table["rows"]:
            parts.append("_No model of this group was evaluated._\n")
            continue
        columns = table["columns"]
        lines = [
            "| " + " | ".join(columns) + " |",
            "|" + "|".join([" --- "] + [" ---: "] * (len(columns) - 1)) + "|",
        ]
        lines += ["| " + " | ".join(row[c] for c in columns) + " |" for row in table["rows"]]
        parts.append("\n".join(lines) + "\n")
    paired = tables.get("paired")
    if paired:
        parts.append(_paired_markdown(paired))
    s = tables["settings"]
    averaging = (
        "of the good-outcome class"
        if s["average"] == "binary"
        else "macro-averaged over both classes"
    )
    sampling = "stratified by outcome" if s["stratify"] else "unstratified"
    note = (
        f"Point estimates with {round(100 * s['ci'])}% percentile bootstrap intervals "
        f"({s['n_boot']} resamples of patients, {sampling}, seed {s['seed']}). "
        f"Recall, precision and F1 {averaging}; decision threshold "
        f"{s['threshold']:g} unless a model has its own."
    )
    if any(tables[key]["ceiling_auc"] is not None for key, _, _, _ in _TABLES):
        note += (
            f" {CEILING_LABEL}: AUC of the demo generator's true outcome probabilities "
            "on the same patients."
        )
    if any(_ROW_CEILING_COLUMNS[0] in tables[key]["columns"] for key, _, _, _ in _TABLES):
        note += (
            " Ceiling AUC: AUC of the generator's ideal probability given what that row "
            "sees (fMRI, EEG-EMG, clinical data or all), on the row's patients; fraction of "
            "ceiling = (AUC - 0.5) / (ceiling - 0.5), with its interval from the same "
            "resamples."
        )
    if paired:
        note += (
            " Paired differences: both AUCs on the same resamples of the patients both "
            "models scored (bootstrap) and DeLong's test; p (Holm) adjusts each family "
            "of comparisons."
        )
    parts.append(note)
    return "\n".join(parts) + "\n"


def _paired_markdown(paired: Mapping[str, Any]) -> str:
    columns = paired["columns"]
    parts = [f"**{paired['title']}**\n"]
    if not paired["rows"]:
        parts.append("_No comparison was possible among these rows._\n")
    for family in paired["families"]:
        lines = [
            f"_{family}_\n",
            "| " + " | ".join(columns) + " |",
            "|" + "|".join([" --- "] + [" ---: "] * (len(columns) - 1)) + "|",
        ]
        lines += [
            "| " + " | ".join(row[c] for c in columns) + " |"
            for row in paired["rows"]
            if row["Family"] == family
        ]
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def to_json(tables: Mapping[str, Any], **kwargs: Any) -> str:
    """:func:`paper_tables` output as strict JSON (NaN written as ``null``)."""

    return json.dumps(
        to_jsonable(tables), **{"indent": 2, "ensure_ascii": False, "allow_nan": False, **kwargs}
    )
