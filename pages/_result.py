"""The Prediction page's result block: the call (good, poor or borderline) and the labels.

Kept out of ``pages/prediction.py`` (which draws the whole page when
imported) so that tests can draw it alone with ``AppTest.from_function``.
The rules live in :mod:`rehab_core.report` (:func:`~rehab_core.report.prediction_call`,
:func:`~rehab_core.report.synthetic_banner`); this module only draws them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from rehab_core.report import (
    format_number,
    prediction_call,
    prediction_lines,
    preprocessing_qc_lines,
    synthetic_banner,
)

__all__ = ["show_summary", "show_synthetic_banner"]


def show_synthetic_banner(card: Mapping[str, Any], pseudonym: str | None) -> None:
    """A warning on the result itself whenever the bundle or the patient is synthetic."""
    banner = synthetic_banner(card, pseudonym)
    if banner:
        st.warning(banner, icon=":material/science:")


def show_summary(out: dict[str, Any]) -> None:
    """Probability, the call (borderline when the rule says so), FMA-LE, notes and QC."""
    from rehab_core.viz import probability_figure

    call = prediction_call(out)
    low, high = out["interval"]
    cols = st.columns(3)
    cols[0].metric(
        "Probability of a good outcome",
        format_number(out["probability_good"], ".2f"),
        help="Model spread: 5th-95th percentile of the ensemble members' probabilities.",
    )
    cols[0].caption(f"model spread {format_number(low, '.2f')}–{format_number(high, '.2f')}")
    cols[1].metric(
        "Call at the threshold",
        call.title,
        help=f"Good when the probability is at least {out['threshold']:.2f}; borderline when "
        "it is close to that or the FMA-LE interval spans 17.",
    )
    cols[1].caption(f"threshold {out['threshold']:.2f}")
    fma_low, fma_high = out.get("fma_interval") or (None, None)
    cols[2].metric("Predicted 3-month FMA-LE", f"{format_number(out.get('fma_3m'), '.1f')} / 34")
    if out.get("fma_3m") is not None:
        cols[2].caption(
            f"95 % interval {format_number(fma_low, '.0f')}–{format_number(fma_high, '.0f')}"
        )
    if call.borderline:
        why = "; ".join(call.reasons)
        st.warning(
            f"**Borderline: not a firm good or poor call.** {why[:1].upper()}{why[1:]}.",
            icon=":material/balance:",
        )
    for note in out.get("notes") or []:
        st.info(note)
    st.plotly_chart(
        probability_figure(out, borderline=call.borderline),
        width="stretch",
        key="prediction_probability",
    )
    st.markdown(
        "  \n".join(
            f"**{label}:** {text}"
            for label, text in prediction_lines(out)[2:]
            # notes are shown above as info boxes; the fusion formula is a technical detail
            if label not in ("Note", "Fusion weight")
        )
    )
    for line in preprocessing_qc_lines(out.get("qc")):
        st.caption(f"Preprocessing QC, {line}")
