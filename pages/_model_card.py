"""Show a model card (:func:`rehab_core.report.model_card`) on a page."""

from __future__ import annotations

from typing import Any

import streamlit as st

from rehab_core.report import format_number

__all__ = ["show_model_card"]

_METRICS = (
    ("ROC AUC", "roc_auc"),
    ("Accuracy", "accuracy"),
    ("Recall", "recall"),
    ("Precision", "precision"),
    ("F1-score", "f1"),
    ("Specificity", "specificity"),
)


def _interval(cell: dict[str, float] | None) -> str:
    if not cell:
        return "—"
    return (
        f"{format_number(cell.get('estimate'))} "
        f"({format_number(cell.get('low'))}–{format_number(cell.get('high'))})"
    )


def show_model_card(card: dict[str, Any]) -> None:
    """Intended use, training data (synthetic said plainly), metrics with intervals, limits."""
    data = card["training_data"]
    if data["synthetic"]:
        st.warning(data["statement"])
    else:
        st.info(data["statement"])
    st.markdown(f"**Intended use.** {card['intended_use']}")
    st.markdown(f"**Not intended for.** {card['not_intended_for']}")
    arch = card["architecture"]
    fusion = card["fusion"]
    start = "ImageNet-pretrained" if arch["imagenet_pretrained"] else "random initialisation"
    st.markdown(
        f"**Model.** {card['display_name']} (`{card['model_id']}`, package {card['version']}, "
        f"trained {str(card.get('created') or '')[:10]}): {arch['image_members']} × "
        f"{arch['image']} on fMRI slices ({start}) and {arch['signal_members']} × "
        f"{arch['signal']} on EEG-EMG windows; fusion weight on EEG-EMG "
        f"{format_number(fusion['weight'])}, threshold {format_number(fusion['threshold'])}."
    )
    test = f"{data['n_test']} held-out test patients" if data["n_test"] else "no held-out test set"
    st.markdown(
        f"**Training data.** {data['description']}: {data['n_development']} development patients "
        f"({data['n_folds']}-fold cross-validation), {test}."
    )
    st.caption(f"Weights SHA-256 `{card['weights_sha256']}`")
    metrics = card["metrics"]
    if metrics["rows"]:
        ci = metrics.get("ci")
        where = (
            f"on the {metrics.get('evaluated_on') or 'held-out patients'}"
            if data["n_test"]
            else f"out of fold ({data['n_folds']}-fold cross-validation)"
        )
        st.markdown(f"**Performance** {where}{f' ({ci:.0%} bootstrap intervals)' if ci else ''}:")
        st.dataframe(
            [
                {
                    "Model": f"{row['label']}: {row['name']}",
                    "Patients": row.get("n"),
                    **{label: _interval(row.get(key)) for label, key in _METRICS},
                    "CV AUC": format_number(row.get("cv_auc"), missing="—"),
                    "Bayes ceiling AUC": format_number(row.get("ceiling_auc"), missing="—"),
                }
                for row in metrics["rows"]
            ],
            hide_index=True,
            width="stretch",
        )
        fma = metrics.get("fma")
        if fma:
            st.caption(
                f"3-month FMA-LE estimate: MAE {format_number(fma.get('mae'), '.1f')} points "
                f"({format_number(fma.get('mae_low'), '.1f')}–"
                f"{format_number(fma.get('mae_high'), '.1f')}), "
                f"R² {format_number(fma.get('r2'))} on {fma.get('n')} patients."
            )
    st.markdown("**Limitations.**")
    st.markdown("\n".join(f"- {text}" for text in card["limitations"]))
