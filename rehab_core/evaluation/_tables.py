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
run are simply absent.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from rehab_core._json import to_jsonable
from rehab_core._validation import check_option
from rehab_core.evaluation._report import (
    EvaluationSettings,
    ModelResult,
    evaluate_model,
)

__all__ = [
    "CEILING_LABEL",
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

_TABLES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("table1", "image", "Table 1. fMRI prediction model evaluation", IMAGE_MODELS),
    ("table2", "signal", "Table 2. EEG-EMG prediction model evaluation", SIGNAL_MODELS),
    ("table3", "fusion", "Table 3. Multimodal fusion prediction model evaluation", FUSION_MODELS),
)

CEILING_LABEL = "Bayes-optimal ceiling"
_MISSING = "—"


def _canonical(name: str, allowed: tuple[str, ...], group: str) -> str:
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    for canonical in allowed:
        if canonical.lower() == key:
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
        a last row ("Bayes-optimal ceiling") with only ROC AUC filled.

    Returns
    -------
    tables : dict
        ``{"settings": {...}, "table1": T, "table2": T, "table3": T}`` where
        each ``T`` is ``{"title", "group", "columns", "rows", "evaluations",
        "ceiling_auc"}``: ``columns`` lists ``"Method"``, Accuracy, Recall,
        F1-score, Precision, ROC AUC and, when any model of the table has
        ``cv_auc``, ``"CV AUC"``; ``rows`` is a list of dicts mapping each
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

    for key, group, title, order in _TABLES:
        by_name: dict[str, ModelResult] = {}
        for record in (r for r in records if r.group == group):
            name = _canonical(record.name, order, group)
            if name in by_name:
                raise ValueError(
                    f"Model {name!r} appears twice in group {group!r}; give one record per model."
                )
            by_name[name] = record
        evaluations = [
            evaluate_model(dataclasses.replace(by_name[name], name=name), settings)
            for name in order
            if name in by_name
        ]
        has_cv = any(e.cv_auc is not None for e in evaluations)
        columns = [
            "Method",
            *(label for label, _ in TABLE_COLUMNS),
            *(["CV AUC"] if has_cv else []),
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
    return out


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
    parts.append(note)
    return "\n".join(parts) + "\n"


def to_json(tables: Mapping[str, Any], **kwargs: Any) -> str:
    """:func:`paper_tables` output as strict JSON (NaN written as ``null``)."""

    return json.dumps(
        to_jsonable(tables), **{"indent": 2, "ensure_ascii": False, "allow_nan": False, **kwargs}
    )
