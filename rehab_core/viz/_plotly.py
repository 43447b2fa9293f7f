"""Plotly helpers shared by the figure modules (plotly is imported only when a figure is built).

Shapes are built as plain dicts and set once with ``fig.update_layout(shapes=...)``:
plotly's ``add_vline``/``add_hline``/``add_shape`` re-validate every shape already on
the figure at each call, which made a spectrum with ten marker lines take 0.3 s.
"""

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


def axis_refs(fig: go.Figure, row: int, col: int) -> tuple[str, str]:
    """The ``xref``/``yref`` names (``"x2"``, ``"y2"``) of one subplot of ``fig``."""
    subplot = fig.get_subplot(row, col)
    return (
        subplot.xaxis.plotly_name.replace("axis", ""),
        subplot.yaxis.plotly_name.replace("axis", ""),
    )


def line_shape(
    refs: tuple[str, str],
    *,
    x: float | None = None,
    y: float | None = None,
    colour: str = "#555",
    dash: str = "dot",
    text: str | None = None,
    position: str = "start",
) -> dict[str, Any]:
    """A vertical (``x``) or horizontal (``y``) line across one subplot, optionally labelled.

    ``position`` is where the label sits along the line: ``"start"``, ``"middle"`` or
    ``"end"`` (left to right for a horizontal line, bottom to top for a vertical one).
    """
    xref, yref = refs
    if (x is None) == (y is None):
        raise ValueError("Give x for a vertical line or y for a horizontal one.")
    shape: dict[str, Any] = dict(type="line", line=dict(color=colour, width=1, dash=dash))
    if x is not None:
        shape.update(x0=x, x1=x, xref=xref, y0=0, y1=1, yref=f"{yref} domain")
    else:
        shape.update(y0=y, y1=y, yref=yref, x0=0, x1=1, xref=f"{xref} domain")
    if text:
        shape["label"] = dict(
            text=text, textposition=position, yanchor="bottom", font=dict(size=10, color=colour)
        )
    return shape


def band_shape(
    refs: tuple[str, str],
    *,
    x: tuple[float, float] | None = None,
    y: tuple[float, float] | None = None,
    fill: str,
    text: str | None = None,
    text_colour: str = "#333",
) -> dict[str, Any]:
    """A shaded band across one subplot: between two x values, or two y values."""
    xref, yref = refs
    if (x is None) == (y is None):
        raise ValueError("Give x for a vertical band or y for a horizontal one.")
    shape: dict[str, Any] = dict(type="rect", fillcolor=fill, line=dict(width=0), layer="below")
    if x is not None:
        shape.update(x0=x[0], x1=x[1], xref=xref, y0=0, y1=1, yref=f"{yref} domain")
    else:
        shape.update(y0=y[0], y1=y[1], yref=yref, x0=0, x1=1, xref=f"{xref} domain")
    if text:
        shape["label"] = dict(
            text=text, textposition="top left", font=dict(size=10, color=text_colour)
        )
    return shape
