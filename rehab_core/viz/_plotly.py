"""Plotly helpers shared by the figure modules (plotly is imported only when a figure is built)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import plotly.graph_objects as go

#: Margins of every dashboard figure (the page supplies the surrounding space).
MARGIN = dict(l=10, r=10, t=60, b=40)


def plotly() -> tuple[Any, Any]:
    """``(plotly.graph_objects, plotly.subplots.make_subplots)``, imported on first use."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    return go, make_subplots


def add_limit(
    fig: go.Figure,
    y: float,
    text: str,
    *,
    row: int,
    col: int,
    position: str = "top left",
    colour: str = "#555",
    dash: str = "dot",
) -> None:
    """Draw a labelled horizontal limit (a threshold, a median) on one panel."""
    fig.add_hline(
        y=y,
        line=dict(dash=dash, width=1, color=colour),
        annotation_text=text,
        annotation_position=position,
        row=row,
        col=col,
    )
