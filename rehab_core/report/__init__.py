"""Reports of a prediction: the one-page PDF, the model card and shared text lines.

Pure Python over the stored dicts (``Prediction.to_dict()``, upload fields,
the bundle's manifest); fpdf2 is imported when a PDF is built.
"""

from __future__ import annotations

from rehab_core.report.model_card import model_card, synthetic_statement
from rehab_core.report.pdf import PRODUCT_NAME, build_report_pdf, latin1_safe
from rehab_core.report.summary import (
    format_number,
    input_lines,
    patient_lines,
    prediction_lines,
    preprocessing_qc,
    preprocessing_qc_lines,
    probability_text,
    short_sha,
)

__all__ = [
    "PRODUCT_NAME",
    "build_report_pdf",
    "format_number",
    "input_lines",
    "latin1_safe",
    "model_card",
    "patient_lines",
    "prediction_lines",
    "preprocessing_qc",
    "preprocessing_qc_lines",
    "probability_text",
    "short_sha",
    "synthetic_statement",
]
