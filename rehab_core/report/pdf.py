"""A one-page A4 PDF report of one prediction (fpdf2).

The page holds, top to bottom: the header (product name, "Research software,
not a medical device", and a synthetic-data banner whenever the bundle was
trained on synthetic data or the patient is a demo patient), the patient,
the input files with their QC, the prediction beside the Grad-CAM heatmap,
the model (its plain name, what it was trained on, its held-out metrics), the
intended use, a "Technical details" section for traceability (model id,
package version, weights and input file SHA-256) and the disclaimer (which
says what the bundle was trained on, from its manifest via the model card).
The clinical sections use plain words only: ids and hashes stay in the
technical section, and the synthetic generator's Bayes ceiling is left out.

Text is set in DejaVu Sans embedded from matplotlib's own font folder, so
µ, ±, → and en dashes print as such; should those files be missing, the core
Helvetica font is used with the text made latin-1 safe. Every line is placed
against a fixed bottom limit: a line that would not fit is dropped (with an
ellipsis on the last kept one) rather than spilling onto a second page.
"""

from __future__ import annotations

import datetime as _dt
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rehab_core.report.labels import plain_model_name, report_disclaimer, synthetic_banner
from rehab_core.report.outcome import prediction_call
from rehab_core.report.summary import (
    format_number,
    input_lines,
    patient_lines,
    prediction_lines,
    preprocessing_qc_lines,
    short_sha,
    upload_heading,
)

__all__ = ["PRODUCT_NAME", "build_report_pdf", "latin1_safe"]

PRODUCT_NAME = "Stroke lower-limb recovery: prognosis report"
_PAGE_W, _PAGE_H = 210.0, 297.0
_MARGIN = 14.0
_WIDTH = _PAGE_W - 2 * _MARGIN
_FOOTER_H = 17.0
_BODY_BOTTOM = _PAGE_H - _MARGIN - _FOOTER_H - 2.0
_HEATMAP_W = 54.0
_TECH_RESERVE = 17.0  # technical section: title, ids (model, package, inputs), weights hash
_MODEL_RESERVE = 27.0 + _TECH_RESERVE  # section title with the model, training data, evaluation
_MAX_UPLOADS = 4
_MAX_WARNINGS = 2

_LATIN1 = {
    "–": "-",
    "—": "-",
    "−": "-",
    "→": "->",
    "≥": ">=",
    "≤": "<=",
    "·": "*",
    "×": "x",
    "…": "...",
    "‘": "'",
    "’": "'",
    "“": '"',
    "”": '"',
}


def latin1_safe(text: str) -> str:
    """Text that the core PDF fonts can show: common symbols spelt out, others as ``?``.

    ``µ``, ``±`` and ``°`` are latin-1 already and are kept.
    """
    for char, plain in _LATIN1.items():
        text = text.replace(char, plain)
    return text.encode("latin-1", errors="replace").decode("latin-1")


def _font_files() -> dict[str, Path] | None:
    """DejaVu Sans (regular, bold) from matplotlib's font folder, or ``None`` if absent."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    files = {"": folder / "DejaVuSans.ttf", "B": folder / "DejaVuSans-Bold.ttf"}
    return files if all(p.is_file() for p in files.values()) else None


class _Page:
    """One A4 page with a cursor that never writes below ``bottom``."""

    def __init__(self, *, compress: bool) -> None:
        from fpdf import FPDF

        pdf = FPDF(orientation="P", unit="mm", format="A4")
        pdf.set_compression(compress)
        pdf.set_auto_page_break(False)
        pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
        fonts = _font_files()
        if fonts is not None:
            for style, path in fonts.items():
                pdf.add_font("DejaVu", style, str(path))
            self.family, self.unicode = "DejaVu", True
        else:
            self.family, self.unicode = "Helvetica", False
        pdf.add_page()
        self.pdf = pdf
        self.bottom = _BODY_BOTTOM
        self.truncated = False
        self.full = False  # once a line did not fit, nothing more is written above ``bottom``

    def limit(self, bottom: float) -> None:
        """Move the bottom limit (e.g. release space reserved for a later section)."""
        self.bottom = bottom
        self.full = False

    def text(self, value: str) -> str:
        return value if self.unicode else latin1_safe(value)

    def font(self, size: float, bold: bool = False) -> None:
        self.pdf.set_font(self.family, "B" if bold else "", size)

    def fit(self, value: str, width: float, *, keep_end: bool = False) -> str:
        """``value`` shortened with an ellipsis to fit ``width`` mm in the current font."""
        value = self.text(value)
        if self.pdf.get_string_width(value) <= width:
            return value
        dots = self.text("…")
        low, high = 0, len(value)
        while low < high:  # longest prefix (or prefix + suffix) that fits
            mid = (low + high + 1) // 2
            if self.pdf.get_string_width(self._cut(value, mid, dots, keep_end)) <= width:
                low = mid
            else:
                high = mid - 1
        return self._cut(value, low, dots, keep_end)

    @staticmethod
    def _cut(value: str, n: int, dots: str, keep_end: bool) -> str:
        if not keep_end:
            return value[:n] + dots
        tail = min(n // 2, 24)  # keep a file's suffix visible
        return value[: n - tail] + dots + (value[-tail:] if tail else "")

    def room(self, height: float) -> bool:
        if self.full or self.pdf.get_y() + height > self.bottom:
            self.truncated = self.full = True
            return False
        return True

    def line(
        self,
        value: str,
        *,
        size: float = 9,
        bold: bool = False,
        h: float = 4.6,
        x: float = _MARGIN,
        width: float = _WIDTH,
        keep_end: bool = False,
        colour: tuple[int, int, int] = (0, 0, 0),
    ) -> bool:
        if not self.room(h):
            return False
        self.font(size, bold)
        self.pdf.set_text_color(*colour)
        self.pdf.set_x(x)
        self.pdf.cell(
            width, h, self.fit(value, width, keep_end=keep_end), new_x="LEFT", new_y="NEXT"
        )
        self.pdf.set_text_color(0, 0, 0)
        return True

    def wrapped(
        self,
        value: str,
        *,
        max_lines: int,
        size: float = 9,
        bold: bool = False,
        h: float = 4.4,
        x: float = _MARGIN,
        width: float = _WIDTH,
    ) -> None:
        """``value`` word-wrapped to ``width``, at most ``max_lines`` lines."""
        self.font(size, bold)
        lines = self.pdf.multi_cell(width, h, self.text(value), dry_run=True, output="LINES")
        if len(lines) > max_lines:
            lines = lines[: max_lines - 1] + [self.fit(" ".join(lines[max_lines - 1 :]), width)]
        for text in lines:
            if not self.line(text, size=size, bold=bold, h=h, x=x, width=width):
                return

    def labelled(
        self,
        label: str,
        value: str,
        *,
        x: float,
        width: float,
        label_w: float,
        max_lines: int = 2,
        size: float = 9,
    ) -> None:
        if not self.room(4.6):
            return
        y = self.pdf.get_y()
        self.font(size, True)
        self.pdf.set_xy(x, y)
        self.pdf.cell(label_w, 4.6, self.fit(label, label_w - 1))
        self.pdf.set_xy(x + label_w, y)
        self.wrapped(value, max_lines=max_lines, size=size, x=x + label_w, width=width - label_w)

    def section(self, title: str) -> bool:
        if not self.room(9):
            return False
        self.pdf.ln(1.5)
        self.font(11, True)
        self.pdf.set_text_color(20, 60, 120)
        self.pdf.cell(_WIDTH, 6, self.text(title), new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_text_color(0, 0, 0)
        y = self.pdf.get_y()
        self.pdf.set_draw_color(190, 190, 190)
        self.pdf.line(_MARGIN, y, _MARGIN + _WIDTH, y)
        self.pdf.ln(1.2)
        return True


def _header(page: _Page, created_at: _dt.datetime, banner: str | None) -> None:
    pdf = page.pdf
    page.font(14, True)
    pdf.set_xy(_MARGIN, _MARGIN)
    pdf.cell(_WIDTH - 42, 8, page.fit(PRODUCT_NAME, _WIDTH - 42))
    page.font(8)
    pdf.set_xy(_MARGIN + _WIDTH - 52, _MARGIN + 1)
    stamp = created_at.astimezone(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    pdf.cell(52, 6, page.text(f"Created {stamp}"), align="R")
    pdf.set_xy(_MARGIN, _MARGIN + 8.5)
    page.line(
        "Research software, not a medical device.", size=10, bold=True, h=5, colour=(170, 20, 20)
    )
    if banner:  # synthetic data: said at the top, not only in the model section
        page.wrapped(banner, max_lines=2, size=9, bold=True, h=4.4)


def _patient(page: _Page, patient: Mapping[str, Any]) -> None:
    page.section("Patient")
    lines = patient_lines(patient)
    col = _WIDTH / 3
    for row in range(0, len(lines), 3):
        if not page.room(4.8):
            return
        y = page.pdf.get_y()
        for i, (label, value) in enumerate(lines[row : row + 3]):
            page.pdf.set_xy(_MARGIN + i * col, y)
            page.labelled(label, value, x=_MARGIN + i * col, width=col, label_w=33, max_lines=1)
        page.pdf.set_xy(_MARGIN, y + 4.8)


def _inputs(
    page: _Page, uploads: Sequence[Mapping[str, Any]], qc: Mapping[str, Any] | None
) -> None:
    page.section("Inputs")
    if not uploads:
        page.line("No files recorded with this prediction.")
    for upload in list(uploads)[:_MAX_UPLOADS]:
        _, reader_qc, *warnings = input_lines(upload)
        title, name, _ = upload_heading(upload)
        page.font(9, True)
        prefix = page.text(f"{title}: ")
        room = _WIDTH - page.pdf.get_string_width(prefix) - 1
        page.line(prefix + page.fit(name, room, keep_end=True), bold=True)
        page.wrapped(reader_qc, max_lines=2, size=8, h=4, x=_MARGIN + 4, width=_WIDTH - 4)
        for warning in warnings[:_MAX_WARNINGS]:
            page.wrapped(warning, max_lines=1, size=8, h=4, x=_MARGIN + 4, width=_WIDTH - 4)
        if len(warnings) > _MAX_WARNINGS:
            page.line(
                f"... and {len(warnings) - _MAX_WARNINGS} more reader warnings",
                size=8,
                h=4,
                x=_MARGIN + 4,
                width=_WIDTH - 4,
            )
    if len(uploads) > _MAX_UPLOADS:
        page.line(f"... and {len(uploads) - _MAX_UPLOADS} more files", size=8)
    for text in preprocessing_qc_lines(qc):
        page.wrapped(f"Preprocessing QC, {text}", max_lines=2, size=8, h=4)


def _heatmap(page: _Page, png: bytes | None, caption: str | None, top: float) -> float:
    """The Grad-CAM image and its caption in the right column; returns the column's bottom."""
    x = _MARGIN + _WIDTH - _HEATMAP_W
    page.pdf.set_xy(x, top)
    height = min(_HEATMAP_W, page.bottom - top - 8)
    if not png or height < 20:
        page.wrapped(
            "No Grad-CAM heatmap in this report.", max_lines=1, size=8, x=x, width=_HEATMAP_W
        )
        return page.pdf.get_y()
    page.pdf.image(io.BytesIO(png), x=x, y=top, w=_HEATMAP_W, h=height, keep_aspect_ratio=True)
    page.pdf.set_xy(x, top + height + 0.5)
    page.wrapped(
        caption or "Grad-CAM: regions supporting a good outcome",
        max_lines=2,
        size=7,
        h=3.3,
        x=x,
        width=_HEATMAP_W,
    )
    return page.pdf.get_y()


def _prediction(
    page: _Page, prediction: Mapping[str, Any], heatmap_png: bytes | None, caption: str | None
) -> None:
    if not page.section("Prediction"):
        return
    top = page.pdf.get_y()
    image_bottom = _heatmap(page, heatmap_png, caption, top)
    page.pdf.set_xy(_MARGIN, top)
    text_w = _WIDTH - _HEATMAP_W - 6
    (_, probability), (_, call), *rest = prediction_lines(prediction)
    page.line(
        f"Probability of a good outcome: {format_number(prediction.get('probability_good'))}",
        size=12.5,
        bold=True,
        h=6.5,
        width=text_w,
    )
    spread = probability.partition(" (")[2].rstrip(")")
    n_members = len(prediction.get("member_probabilities") or [])
    if spread:
        page.line(
            f"{spread} (5th–95th percentile of the {n_members} ensemble members)",
            size=8.5,
            h=4.6,
            width=text_w,
        )
    verdict = prediction_call(prediction)
    if verdict.borderline:  # the headline, then why, so the reasons are never cut off
        headline, _, why = call.partition(": ")
        page.line(headline, size=10, bold=True, h=5.5, width=text_w, colour=(180, 95, 0))
        page.wrapped(why[:1].upper() + why[1:] + ".", max_lines=3, size=8.5, h=4.2, width=text_w)
    else:
        page.line(
            call,
            size=10,
            bold=True,
            h=5.5,
            width=text_w,
            colour=(20, 110, 40) if verdict.call == "good" else (170, 20, 20),
        )
    page.pdf.ln(1)
    for label, value in rest:
        page.labelled(
            label, value, x=_MARGIN, width=text_w, label_w=38, max_lines=3 if label == "Note" else 2
        )
    page.pdf.set_xy(_MARGIN, max(page.pdf.get_y(), image_bottom))


def _metric_line(row: Mapping[str, Any]) -> str:
    def interval(key: str) -> str:
        cell = row.get(key)
        if not cell:
            return "n/a"
        return (
            f"{format_number(cell.get('estimate'))} ({format_number(cell.get('low'))}"
            f"–{format_number(cell.get('high'))})"
        )

    text = (
        f"{row['label']} ({plain_model_name(row['name'])}, n={row.get('n', '?')}): AUC "
        f"{interval('roc_auc')}, accuracy {interval('accuracy')}"
    )
    cv = row.get("cv_auc")
    auc = (row.get("roc_auc") or {}).get("estimate")
    if cv is not None and format_number(cv) != format_number(auc):  # out of fold: the same
        text += f", CV AUC {format_number(cv)}"
    return text


def _model(page: _Page, card: Mapping[str, Any]) -> None:
    name = plain_model_name(str(card.get("model_id") or card.get("display_name") or "?"))
    if not page.section(f"Model: {name}"):
        return
    data = card.get("training_data") or {}
    page.labelled(
        "Training data",
        data.get("statement", "not described"),
        x=_MARGIN,
        width=_WIDTH,
        label_w=30,
        max_lines=2,
    )
    metrics = card.get("metrics") or {}
    rows = metrics.get("rows") or []
    if rows:
        ci = metrics.get("ci")
        ci_text = f"{ci * 100:.0f} % bootstrap intervals" if ci else "bootstrap intervals"
        where = str(metrics.get("evaluated_on") or "held-out patients")
        cv_note = "" if where.startswith("out-of-fold") else " (CV: cross-validated)"
        page.labelled(
            "Evaluation",
            f"{where[:1].upper()}{where[1:]}, {ci_text}{cv_note}:",
            x=_MARGIN,
            width=_WIDTH,
            label_w=30,
            max_lines=2,
        )
        for row in rows:
            page.wrapped(
                _metric_line(row), max_lines=2, size=7.5, h=3.7, x=_MARGIN + 30, width=_WIDTH - 30
            )


def _limitations(page: _Page, card: Mapping[str, Any]) -> None:
    if not page.section("Intended use and limitations"):
        return
    page.wrapped(f"Intended use: {card.get('intended_use', '')}", max_lines=3, size=8, h=3.7)
    page.wrapped(
        f"Not intended for: {card.get('not_intended_for', '')}", max_lines=2, size=8, h=3.7
    )
    for sentence in card.get("limitations") or []:
        page.wrapped(f"• {sentence}", max_lines=2, size=8, h=3.7)


def _technical(
    page: _Page,
    card: Mapping[str, Any],
    prediction: Mapping[str, Any],
    uploads: Sequence[Mapping[str, Any]],
) -> None:
    """Ids and hashes for traceability, labelled as such, after the clinical sections."""
    if not page.section("Technical details (for traceability)"):
        return
    weights = prediction.get("weights_sha256") or card.get("weights_sha256")
    package = prediction.get("package_version") or card.get("version")
    files = [
        f"{upload_heading(u)[0]} {short_sha(u.get('sha256'))}" for u in list(uploads)[:_MAX_UPLOADS]
    ]
    ids = f"Model id {card.get('model_id')}, package {package}"
    if files:
        ids += "; input SHA-256 " + ", ".join(files)
    for text in (ids, f"Weights SHA-256 {weights}"):
        page.wrapped(text, max_lines=1, size=7.5, h=3.7)


def _footer(page: _Page, card: Mapping[str, Any]) -> None:
    pdf = page.pdf
    top = _PAGE_H - _MARGIN - _FOOTER_H
    pdf.set_draw_color(170, 20, 20)
    pdf.rect(_MARGIN, top, _WIDTH, _FOOTER_H)
    page.limit(_PAGE_H - _MARGIN)
    pdf.set_xy(_MARGIN + 2, top + 1.5)
    page.wrapped(
        report_disclaimer(card), max_lines=4, size=8, h=3.8, x=_MARGIN + 2, width=_WIDTH - 4
    )
    if page.truncated:
        page.line(
            "Some lines did not fit on this page; the dashboard shows them all.",
            size=7,
            h=3.4,
            x=_MARGIN + 2,
            width=_WIDTH - 4,
        )


def build_report_pdf(
    patient: Mapping[str, Any],
    uploads: Sequence[Mapping[str, Any]],
    prediction: Mapping[str, Any],
    heatmap_png: bytes | None,
    model_card: Mapping[str, Any],
    *,
    created_at: _dt.datetime | None = None,
    heatmap_caption: str | None = None,
    compress: bool = True,
) -> bytes:
    """Render one prediction as a one-page A4 PDF.

    Parameters
    ----------
    patient : mapping
        ``pseudonym``, ``age``, ``sex``, ``affected_side``,
        ``days_since_stroke``, ``fma_le_baseline`` (missing ones print as
        "not recorded").
    uploads : sequence of mappings
        The files the prediction used: ``kind``, ``original_name``,
        ``sha256``, ``qc`` (as stored with each upload). At most four are
        listed.
    prediction : mapping
        ``Prediction.to_dict()`` (as stored: NaN may be ``None``), with
        ``qc`` (:func:`rehab_core.report.preprocessing_qc`) when known.
    heatmap_png : bytes or None
        A PNG of the Grad-CAM overlay; ``None`` leaves the place empty with
        a sentence saying so.
    model_card : mapping
        :func:`rehab_core.report.model_card` of the bundle that predicted.
    created_at : datetime or None
        Time printed in the header and stored as the PDF's creation date;
        now (UTC) by default. A naive datetime is taken as UTC.
    heatmap_caption : str or None
        Caption under the heatmap (e.g. which slice, which members).
    compress : bool
        Compress the page streams (off only to read the PDF as text in tests).

    Returns
    -------
    bytes
        The PDF file (exactly one page).
    """
    created_at = created_at or _dt.datetime.now(_dt.UTC)
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=_dt.UTC)
    page = _Page(compress=compress)
    pdf = page.pdf
    pdf.set_title(page.text(f"{PRODUCT_NAME} - {patient.get('pseudonym', '')}"))
    pdf.set_creator(page.text("rehab_core"))
    pdf.set_creation_date(created_at)
    _header(page, created_at, synthetic_banner(model_card, patient.get("pseudonym")))
    page.limit(_BODY_BOTTOM - _MODEL_RESERVE)  # the model's identity always fits
    _patient(page, patient)
    _inputs(page, uploads, prediction.get("qc"))
    _prediction(page, prediction, heatmap_png, heatmap_caption)
    page.limit(_BODY_BOTTOM - _TECH_RESERVE)  # the technical section always fits
    _model(page, model_card)
    _limitations(page, model_card)
    page.limit(_BODY_BOTTOM)
    _technical(page, model_card, prediction, uploads)
    _footer(page, model_card)
    if pdf.pages_count != 1:  # the layout above never breaks a page; guard the promise anyway
        raise RuntimeError(f"The report ran to {pdf.pages_count} pages instead of one.")
    return bytes(pdf.output())
