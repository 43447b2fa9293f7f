"""Plotly helpers shared by the figure modules (plotly is imported only when a figure is built).

Shapes are built as plain dicts and set once with ``fig.update_layout(shapes=...)``:
plotly's ``add_vline``/``add_hline``/``add_shape`` re-validate every shape already on
the figure at each call, which made a spectrum with ten marker lines take 0.3 s.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import plotly.graph_objects as go

#: Margins of every dashboard figure (the page supplies the surrounding space).
MARGIN = dict(l=10, r=10, t=60, b=40)
#: Right margin of a figure whose reference lines are labelled beside the plot (edge_label).
LABEL_MARGIN = 120
#: Legend rows in pixels (plotly: an entry of 12-px text is 19 px, a group title and the gap
#: after a group about 30 px), to size a figure whose legend must show every entry.
LEGEND_ENTRY_PX = 20
LEGEND_GROUP_PX = 32

#: Streamlit's chart theme sends the colours #000001-#000040 as placeholders that the
#: browser swaps for theme colours; a colour scale that happens to hold one (Inferno
#: starts at #000004, the theme's fourth category colour, a pink) changes in the page.
_THEME_PLACEHOLDER_MAX = 0x40


def plotly() -> tuple[Any, Any]:
    """``(plotly.graph_objects, plotly.subplots.make_subplots)``, imported on first use."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    return go, make_subplots


def is_theme_placeholder(colour: str) -> bool:
    """Whether ``colour`` (``#rrggbb`` or ``rgb(r, g, b)``) is one Streamlit's theme replaces."""
    text = colour.strip().lower()
    if text.startswith("#") and len(text) == 7:
        rgb = tuple(int(text[i : i + 2], 16) for i in (1, 3, 5))
    elif text.startswith("rgb(") and text.endswith(")"):
        rgb = tuple(round(float(v)) for v in text[4:-1].split(","))
    else:
        return False
    return rgb[0] == rgb[1] == 0 and 0 < rgb[2] <= _THEME_PLACEHOLDER_MAX


def colour_scale(name: str) -> list[list[Any]]:
    """A named plotly colour scale as ``[position, colour]`` pairs that Streamlit keeps.

    A stop that is one of Streamlit's theme placeholders (:func:`is_theme_placeholder`)
    becomes black, which it is to the eye.
    """
    from plotly.colors import get_colorscale

    return [
        [float(position), "#000000" if is_theme_placeholder(colour) else colour]
        for position, colour in get_colorscale(name)
    ]


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


def edge_label(
    refs: tuple[str, str],
    *,
    y: float,
    text: str,
    colour: str = "#333",
    above: bool = True,
) -> dict[str, Any]:
    """An annotation naming a horizontal line, in the margin right of one subplot.

    Outside the plot area no bar or trace can cover it; ``above`` puts the text
    just above the line's height, otherwise just below (give the higher of two
    nearby lines ``above=True`` and the lower ``False`` and they never overlap).
    The figure needs a right margin of about :data:`LABEL_MARGIN` pixels.
    """
    xref, yref = refs
    return dict(
        xref=f"{xref} domain",
        x=1.0,
        xanchor="left",
        xshift=4,
        yref=yref,
        y=y,
        yanchor="bottom" if above else "top",
        text=text,
        showarrow=False,
        align="left",
        font=dict(size=10, color=colour),
    )


#: Decades from 0.001 to 10 000 are written as plain numbers, others as powers of ten.
_PLAIN_DECADES = range(-3, 5)


def log_axis_ticks(values: np.ndarray, *, max_ticks: int = 8) -> tuple[list[float], list[str]]:
    """Ticks for a log axis at whole decades, written as numbers a reader can read.

    ``1``, ``10``, ``100``, ``0.01`` ... (``10<sup>-5</sup>`` beyond 0.001 and
    10 000), never the SI prefixes plotly writes by default ("100µ", "10n"),
    which on a power axis read like units. Every second decade is labelled
    when the values span more than ``max_ticks`` decades.

    Parameters
    ----------
    values : ndarray
        The values the axis shows; zeros, negatives and non-finite values are ignored.

    Returns
    -------
    tickvals, ticktext : list of float, list of str
        Empty when there is no positive finite value.
    """
    values = np.asarray(values, dtype=np.float64)
    shown = values[np.isfinite(values) & (values > 0)]
    if shown.size == 0:
        return [], []
    low = math.floor(math.log10(float(shown.min())))
    high = math.ceil(math.log10(float(shown.max())))
    step = 1 if high - low <= max_ticks else 2
    decades = [k for k in range(low, high + 1) if k % step == 0]
    text = [
        (f"{10**k:d}" if k >= 0 else f"{10.0**k:.{-k}f}")
        if k in _PLAIN_DECADES
        else f"10<sup>{k}</sup>"
        for k in decades
    ]
    return [10.0**k for k in decades], text
