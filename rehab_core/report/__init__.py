"""Reports of a prediction: the one-page PDF, the model card and shared text lines.

Pure Python over the stored dicts (``Prediction.to_dict()``, upload fields,
the bundle's manifest); fpdf2 is imported when a PDF is built.
"""

from __future__ import annotations

from rehab_core.report.labels import (
    demo_pseudonym,
    imagenet_phrase,
    is_demo_pseudonym,
    plain_model_name,
    report_disclaimer,
    synthetic_banner,
    trained_on,
)
from rehab_core.report.model_card import model_card, synthetic_statement
from rehab_core.report.outcome import (
    BORDERLINE_MARGIN,
    FMA_GOOD_ABOVE,
    OutcomeCall,
    outcome_call,
    prediction_call,
)
from rehab_core.report.pdf import PRODUCT_NAME, build_report_pdf, latin1_safe
from rehab_core.report.summary import (
    call_text,
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
    "BORDERLINE_MARGIN",
    "FMA_GOOD_ABOVE",
    "OutcomeCall",
    "call_text",
    "demo_pseudonym",
    "imagenet_phrase",
    "is_demo_pseudonym",
    "plain_model_name",
    "report_disclaimer",
    "synthetic_banner",
    "trained_on",
    "outcome_call",
    "prediction_call",
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
