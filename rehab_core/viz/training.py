"""Figures and tables of a training job: learning curves per member, versions side by side."""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from rehab_core.viz._plotly import LEGEND_ENTRY_PX, MARGIN, plotly

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["learning_curves", "epoch_table", "versions_table"]


def epoch_table(events: Sequence[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Epoch events by member (``"lstm/fold0"``...), in order; a resumed epoch replaces its twin."""
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for e in events:
        if e.get("event") != "epoch" or "member" not in e:
            continue
        out.setdefault(e["member"], {})[int(e["epoch"])] = dict(e)
    return {m: [rows[k] for k in sorted(rows)] for m, rows in out.items()}


def _finite(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def learning_curves(events: Sequence[Mapping[str, Any]], *, height: int = 360) -> go.Figure:
    """Training and validation loss, and validation AUC, per epoch for every member.

    One colour per member; solid lines are the training loss, dashed the
    validation loss (left); the right panel is the validation AUC on the
    member's early-stopping patients (missing where they hold one outcome
    only). The members are listed in a legend right of the panels; the figure
    grows past ``height`` (pixels) until every member fits in it.
    """
    from rehab_core.models import member_label

    go, make_subplots = plotly()
    table = epoch_table(events)
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Loss (solid: training, dashed: validation)", "Validation ROC AUC"),
        horizontal_spacing=0.08,
    )
    palette = (
        "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
        "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
    )  # fmt: skip
    for i, (member, rows) in enumerate(table.items()):
        colour = palette[i % len(palette)]
        epochs = [r["epoch"] for r in rows]
        for key, col, dash, shown in (
            ("train_loss", 1, None, True),
            ("val_loss", 1, "dash", False),
            ("val_auc", 2, None, False),
        ):
            fig.add_trace(
                go.Scatter(
                    x=epochs,
                    y=[_finite(r.get(key)) for r in rows],
                    name=member_label(member) if shown else f"{member_label(member)} {key}",
                    showlegend=shown,
                    mode="lines+markers",
                    legendgroup=member,
                    line=dict(color=colour, dash=dash),
                ),
                row=1,
                col=col,
            )
    # epochs are whole: a 3-epoch trial run had ticks at 1.5 and 2.5
    last = max((int(r["epoch"]) for rows in table.values() for r in rows), default=1)
    fig.update_xaxes(title_text="epoch", tick0=1, dtick=1 if last <= 12 else None, tickformat="d")
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    # a legend under the panels wrapped onto the axis titles and was cut off at 20 members
    fig.update_layout(
        height=max(height, MARGIN["t"] + MARGIN["b"] + LEGEND_ENTRY_PX * len(table)),
        margin=MARGIN,
        # one legend group per member: no gap between groups, or each entry takes 30 px
        legend=dict(orientation="v", x=1.02, xanchor="left", y=1.0, yanchor="top", tracegroupgap=0),
        title=None if table else "No finished epoch yet",
    )
    return fig


_ROWS = (
    ("fusion", "roc_auc", "Fused ROC AUC"),
    ("fusion", "accuracy", "Fused accuracy"),
    ("fusion", "recall", "Fused recall"),
    ("fusion", "precision", "Fused precision"),
    ("fusion", "f1", "Fused F1"),
    ("fusion", "cv_auc", "Fused CV AUC"),
    ("image", "roc_auc", "fMRI ROC AUC"),
    ("signal", "roc_auc", "EEG-EMG ROC AUC"),
)


def _cell(row: Mapping[str, Any] | None, key: str) -> str:
    if row is None or row.get(key) is None:
        return "—"
    text = f"{row[key]:.2f}"
    low, high = row.get(f"{key}_ci", (None, None))
    if low is not None and high is not None:
        text += f" ({low:.2f}–{high:.2f})"
    return text


class ModelVersion(Protocol):
    """What :func:`versions_table` reads of a version (``rehab_core.jobs.VersionRecord``)."""

    model_id: str
    label: str
    metrics: Mapping[str, Any]
    created_at: _dt.datetime | None
    created_by: str | None
    weights_sha256: str
    is_default: bool


def versions_table(
    versions: Sequence[ModelVersion], trial: Collection[str] = ()
) -> list[dict[str, str]]:
    """Metric rows by version columns, for comparing versions side by side.

    ``trial``: the labels of versions from trial runs, marked "trial, not for
    patients" in the last row (``rehab_core.jobs.is_trial_version``).

    Every figure is on that version's own evaluation patients (see the
    ``Evaluated on`` and ``Patients`` rows): versions trained on different
    cohorts are not evaluated on the same patients. Columns are the versions'
    labels ("v3", "shipped"), prefixed by the model id only when the versions
    are of several models (a page shows one model's versions under its name).
    """
    several = len({v.model_id for v in versions}) > 1
    columns = [f"{v.model_id} {v.label}" if several else v.label for v in versions]
    table: list[dict[str, str]] = []

    def add(name: str, values: Sequence[str]) -> None:
        table.append({"": name, **dict(zip(columns, values, strict=True))})

    def group_row(v: ModelVersion, group: str) -> Mapping[str, Any] | None:
        return next((r for r in v.metrics.get("rows", []) if r["group"] == group), None)

    for group, key, name in _ROWS:
        add(name, [_cell(group_row(v, group), key) for v in versions])
    add("Patients", [str((group_row(v, "fusion") or {}).get("n", "—")) for v in versions])
    ceiling = [v.metrics.get("bayes_ceiling_auc") for v in versions]
    add("Bayes ceiling (synthetic)", ["—" if c is None else f"{c:.2f}" for c in ceiling])
    add("Evaluated on", [v.metrics.get("evaluated_on") or "—" for v in versions])
    add(
        "Created",
        [
            "shipped" if v.created_at is None else f"{v.created_at:%Y-%m-%d %H:%M} UTC"
            for v in versions
        ],
    )
    add("By", [v.created_by or "—" for v in versions])
    add("Weights SHA-256", [v.weights_sha256[:12] for v in versions])
    add("Default", ["yes" if v.is_default else "" for v in versions])
    add("Use", ["trial, not for patients" if v.label in trial else "patients" for v in versions])
    return table
