"""What a clinician reads on a page (AppTest tree), outside the "Technical details" expanders."""

from __future__ import annotations


def clinician_text(node) -> str:
    """All text a clinician sees, skipping the "Technical details" expanders (and charts)."""
    from streamlit.testing.v1.element_tree import Expander

    if isinstance(node, Expander) and node.label.startswith("Technical details"):
        return ""
    parts = [str(getattr(node, "label", "") or "")]
    # a chart's spec is not text; a selectbox shows its formatted option, not its value
    value = getattr(node, "value", None) if node.type not in ("plotly_chart", "selectbox") else None
    if hasattr(value, "to_csv"):
        parts.append(value.to_csv())
    elif value is not None:
        parts.append(str(value))
    parts += [str(o) for o in getattr(node, "options", None) or []]
    children = getattr(node, "children", {}) or {}
    parts += [clinician_text(c) for c in children.values()]
    return "\n".join(p for p in parts if p)
