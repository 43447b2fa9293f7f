"""The one-page PDF report: structure, text (read back from the PDF), variants, overflow."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zlib
from pathlib import Path

import numpy as np
import pytest

from rehab_core.report import build_report_pdf, latin1_safe, model_card

MANIFEST = Path(__file__).resolve().parents[2] / "weights" / "shufflenet_lstm" / "manifest.json"
CREATED = dt.datetime(2026, 3, 4, 5, 6, tzinfo=dt.UTC)


# --- reading text back from an fpdf2 PDF (no PDF library in the dependencies) -----------------
def _objects(pdf: bytes) -> dict[int, tuple[bytes, bytes | None]]:
    """Object number -> (dictionary bytes, decoded stream or None)."""
    out = {}
    for m in re.finditer(rb"(\d+) 0 obj(.*?)endobj", pdf, re.S):
        body = m.group(2)
        stream = re.search(rb"stream\r?\n(.*?)\r?\nendstream", body, re.S)
        data = None
        if stream:
            data = stream.group(1)
            if b"/FlateDecode" in body[: stream.start()]:
                data = zlib.decompress(data)
        out[int(m.group(1))] = (body if stream is None else body[: stream.start()], data)
    return out


def _unescape(literal: bytes) -> bytes:
    simple = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}

    def repl(m: re.Match) -> bytes:
        s = m.group(1)
        if s[:1].isdigit():
            return bytes([int(s, 8)])
        return simple.get(s, s)

    return re.sub(rb"\\([0-7]{1,3}|.)", repl, literal, flags=re.S)


def pdf_text(pdf: bytes) -> str:
    """The text shown by every ``Tj`` of every page, pieces joined by spaces."""
    objs = _objects(pdf)
    cmaps: dict[bytes, dict[int, str] | None] = {}
    for body, _ in objs.values():
        fonts = re.search(rb"/Font\s*<<(.*?)>>", body, re.S)
        if not fonts:
            continue
        for name, num in re.findall(rb"/(\w+)\s+(\d+) 0 R", fonts.group(1)):
            font = objs[int(num)][0]
            to_unicode = re.search(rb"/ToUnicode (\d+) 0 R", font)
            if to_unicode is None:
                cmaps[name] = None  # a core font: single bytes, latin-1
                continue
            cmap = objs[int(to_unicode.group(1))][1].decode("latin-1")
            table = {
                int(src, 16): chr(int(dst, 16))
                for src, dst in re.findall(r"<([0-9A-Fa-f]{4})>\s*<([0-9A-Fa-f]{4})>", cmap)
            }
            cmaps[name] = table
    pieces = []
    for _, data in objs.values():
        if data is None or b"Tf" not in data:
            continue
        font = None
        for m in re.finditer(rb"/(\w+) [\d.]+ Tf|\(((?:\\.|[^\\)])*)\) Tj", data, re.S):
            if m.group(1) is not None:
                font = cmaps.get(m.group(1))
                continue
            raw = _unescape(m.group(2))
            if font is None:
                pieces.append(raw.decode("latin-1"))
            else:
                codes = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
                pieces.append("".join(font.get(c, "?") for c in codes))
    return " ".join(pieces)


def n_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?!s)\b", pdf))


# --- inputs -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def card():
    return model_card(json.loads(MANIFEST.read_text()))


@pytest.fixture
def patient():
    return {
        "pseudonym": "DEMO-42",
        "age": 76,
        "sex": "M",
        "affected_side": "left",
        "days_since_stroke": 2,
        "fma_le_baseline": 13,
    }


@pytest.fixture
def uploads():
    return [
        {
            "kind": "signals",
            "original_name": "sub-demo_task-flexext_eegemg.txt",
            "sha256": "81fc3677f92483613b432a079790aa7cea5d884fbaa56536abab5d96afab1fa4",
            "qc": {
                "n_channels": 22,
                "sfreq": 1000.0,
                "duration_s": 60.0,
                "n_channels_by_type": {"eeg": 16, "emg": 6},
                "missing_paper_channels": [],
                "warnings": [],
            },
        },
        {
            "kind": "fmri",
            "original_name": "sub-demo_task-rest_bold.nii.gz",
            "sha256": "eb981706153471300e1e86c4b11d0f81b1dbbd197c4b708c77a5f69c1858c454",
            "qc": {
                "shape": [64, 64, 35, 60],
                "voxel_size_mm": [3.5, 3.5, 4.0],
                "tr_s": 2.0,
                "warnings": ["Amplitudes look like µV ± 5 → kept as recorded."],
            },
        },
    ]


@pytest.fixture
def prediction():
    """A hand-made ``Prediction.to_dict()`` (its values need not be the shipped model's)."""
    return {
        "probability_good": 0.6312,
        "interval": [0.5544, 0.7019],
        "label": "good",
        "threshold": 0.5,
        "signal_score": 0.4662,
        "image_score": 0.6590,
        "fusion_weight": 0.15,
        "modality": "fusion",
        "fma_3m": 21.37,
        "fma_interval": [9.2, 33.4],
        "model_id": "shufflenet_lstm",
        "weights_sha256": "554be8615ac0e4073be271fb0e4067c925f07f694ef4dba4cdf24de6074a605e",
        "manifest_sha256": "0cf553e257ad5063e605504e9db1c7d95e94eac2cc1f7dd7cf6717db691b9d37",
        "package_version": "0.1.0",
        "inputs": {"a.txt": "81fc", "b.nii.gz": "eb98"},
        "window_probabilities": [0.45, 0.47, 0.48, 0.46, 0.47, 0.47],
        "window_starts_s": [0.0, 10.0, 20.0, 30.0, 40.0, 50.0],
        "slice_probabilities": [0.6] * 30,
        "slice_index": list(range(1, 31)),
        "member_probabilities": [0.55, 0.64, 0.70],
        "preprocessing": {},
        "notes": [],
        "qc": {
            "signals": {
                "n_windows_total": 6,
                "n_rejected": 0,
                "bad_channels": {"FC1": "flat, set to zero"},
            },
            "fmri": {
                "n_slices_kept": 30,
                "n_screened_out": 5,
                "mean_fd_mm": 0.135,
                "max_fd_mm": 0.271,
                "n_high_motion_frames": 0,
                "median_tsnr": 98.7,
                "flags": [],
            },
        },
    }


@pytest.fixture(scope="module")
def heatmap_png():
    from PIL import Image

    rgb = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def build(patient, uploads, prediction, heatmap_png, card, **kw):
    kw.setdefault("created_at", CREATED)
    kw.setdefault("compress", False)
    return build_report_pdf(patient, uploads, prediction, heatmap_png, card, **kw)


# --- tests --------------------------------------------------------------------------------------
def test_report_is_one_page_with_patient_prediction_and_model(
    patient, uploads, prediction, heatmap_png, card
):
    pdf = build(patient, uploads, prediction, heatmap_png, card)
    assert pdf.startswith(b"%PDF-")
    assert n_pages(pdf) == 1
    text = pdf_text(pdf)
    for expected in (
        "Research software, not a medical device.",
        "DEMO-42",
        "76 years",
        "13 of 34",
        "Probability of a good outcome: 0.63",
        "model spread 0.55–0.70 (5th–95th percentile of the 3 ensemble members)",
        # 0.63 is a firm probability, but the FMA-LE interval 9-33 spans the cut-off 17
        "BORDERLINE, not a firm good or poor call",
        "The predicted FMA-LE's 95 % interval (9–33) spans the cut-off 17.",
        "0.47",  # EEG-EMG score
        "0.66",  # fMRI score
        "0.15 on EEG-EMG, 0.85 on fMRI",
        "21.4 of 34 (95 % interval 9–33)",
        "sub-demo_task-rest_bold.nii.gz",
        "input SHA-256 EEG-EMG 81fc3677f924, fMRI eb9817061534",  # in Technical details
        "22 channels (16 EEG, 6 EMG), 1000 Hz, 60.0 s",
        "Amplitudes look like µV ± 5 → kept as recorded.",
        "554be8615ac0e4073be271fb0e4067c925f07f694ef4dba4cdf24de6074a605e",
        "Trained on synthetic data",
        "Created 2026-03-04 05:06 UTC",
        "Preprocessing QC, EEG-EMG: 6 of 6 windows of 10 s kept; bad channels: FC1 (flat, set",
        "Preprocessing QC, fMRI: 30 slices kept, 5 screened out; head movement 0.14 mm between",
    ):
        assert expected in text, expected
    assert "did not fit" not in text
    assert len(re.findall(rb"/Subtype\s*/Image", pdf)) == 1


def test_clinical_text_has_plain_words_and_ids_only_in_the_technical_section(
    patient, uploads, prediction, heatmap_png, card
):
    """Issue 15: the model id, hashes and the Bayes ceiling were printed among the results."""
    assert any(row.get("ceiling_auc") is not None for row in card["metrics"]["rows"])
    text = pdf_text(build(patient, uploads, prediction, heatmap_png, card))
    clinical, heading, technical = text.partition("Technical details (for traceability)")
    assert heading, "no technical section"
    assert "Model: ShuffleNet + LSTM" in clinical
    assert "fusion (ShuffleNet + LSTM, n=" in clinical
    for technical_word in ("shufflenet_lstm", "ShuffleNet_LSTM", "SHA-256", "554be8615ac0"):
        assert technical_word not in clinical, technical_word
    for word in ("ceiling", "Bayes"):
        assert word not in text, word
    # after the clinical sections (intended use), before the disclaimer
    assert "Intended use:" in clinical
    assert "Research software, not a medical device. The probability" in technical
    for expected in (
        "Model id shufflenet_lstm, package 0.1.0; input SHA-256 EEG-EMG 81fc3677f924, fMRI "
        "eb9817061534",
        "Weights SHA-256 554be8615ac0e4073be271fb0e4067c925f07f694ef4dba4cdf24de6074a605e",
    ):
        assert expected in technical, expected


def test_firm_and_borderline_calls(patient, uploads, prediction, heatmap_png, card):
    prediction["fma_interval"] = [18.2, 30.1]  # all on the good side of 17
    text = pdf_text(build(patient, uploads, prediction, heatmap_png, card))
    assert "GOOD recovery expected (probability ≥ threshold 0.50)" in text
    assert "BORDERLINE" not in text
    prediction.update(probability_good=0.53, interval=[0.52, 0.54])  # the example
    pdf = build(patient, uploads, prediction, heatmap_png, card)
    text = pdf_text(pdf)
    assert n_pages(pdf) == 1
    assert "BORDERLINE, not a firm good or poor call" in text
    assert "The probability 0.53 is within 0.10 of the threshold 0.50." in text
    assert "GOOD recovery" not in text


def test_compressed_report_reads_back_the_same(patient, uploads, prediction, heatmap_png, card):
    plain = build(patient, uploads, prediction, heatmap_png, card)
    packed = build(patient, uploads, prediction, heatmap_png, card, compress=True)
    assert len(packed) < len(plain)
    assert b" Tj" in plain and b" Tj" not in packed  # the page really is compressed
    assert pdf_text(packed) == pdf_text(plain)


def test_image_only_prediction_says_so(patient, uploads, prediction, heatmap_png, card):
    prediction.update(
        modality="image",
        signal_score=None,
        probability_good=0.31,
        interval=[0.28, 0.35],
        label="poor",
        fma_interval=[2.0, 15.0],  # all on the poor side of 17: a firm call
        window_probabilities=[],
        window_starts_s=[],
        notes=[
            "Image-only prediction: no EEG-EMG recording was given, so the fMRI model alone "
            "decides."
        ],
    )
    text = pdf_text(build(patient, uploads[1:], prediction, heatmap_png, card))
    assert "POOR recovery expected (probability < threshold 0.50)" in text
    assert "not used (fMRI-only prediction)" in text and "no windows" not in text
    assert "not used: fMRI model alone (no usable EEG-EMG)" in text
    assert "Image-only prediction: no EEG-EMG recording was given" in text
    assert "eegemg.txt" not in text


def test_without_heatmap_the_place_says_so(patient, uploads, prediction, card):
    pdf = build(patient, uploads, prediction, None, card)
    assert n_pages(pdf) == 1
    assert "No Grad-CAM heatmap in this report." in pdf_text(pdf)
    assert not re.search(rb"/Subtype\s*/Image", pdf)


def test_missing_fma_and_patient_fields(patient, uploads, prediction, heatmap_png, card):
    patient.update(age=None, fma_le_baseline=None)
    prediction.update(fma_3m=None, fma_interval=[None, None])
    text = pdf_text(build(patient, uploads, prediction, heatmap_png, card))
    assert "not recorded" in text
    assert "not estimated (the baseline FMA-LE is missing)" in text


@pytest.mark.parametrize("n_uploads", [2, 9])
def test_long_names_and_notes_stay_on_one_page(
    patient, uploads, prediction, heatmap_png, card, n_uploads
):
    for upload in uploads:
        upload["original_name"] = "recording_" * 40 + upload["original_name"]
        upload["qc"]["warnings"] = ["a very long reader warning " * 20] * 6
    prediction["notes"] = ["Image-only prediction: " + "a long note " * 50] * 5
    long_uploads = (uploads * 5)[:n_uploads]
    pdf = build(patient, long_uploads, prediction, heatmap_png, card)
    assert n_pages(pdf) == 1
    text = pdf_text(pdf)
    # the file's end (its format) stays visible, the middle is elided; its hash is kept in
    # the technical section
    assert re.search(r"recording_\w*…[\w-]*_bold\.nii\.gz", text)
    assert "input SHA-256 EEG-EMG 81fc3677f924, fMRI eb9817061534" in text
    assert "Some lines did not fit on this page; the dashboard shows them all." in text
    # the model's identity is never squeezed out
    assert "554be8615ac0e4073be271fb0e4067c925f07f694ef4dba4cdf24de6074a605e" in text
    assert "Trained on synthetic data" in text
    assert "Research software, not a medical device. The probability" in text


def test_core_font_fallback_is_latin1(monkeypatch, patient, uploads, prediction, card):
    import rehab_core.report.pdf as pdf_module

    monkeypatch.setattr(pdf_module, "_font_files", lambda: None)
    prediction["fma_interval"] = [18.2, 30.1]  # a firm good call, with its ≥
    pdf = build(patient, uploads, prediction, None, card)
    assert n_pages(pdf) == 1
    assert b"/Helvetica" in pdf and b"DejaVu" not in pdf
    text = pdf_text(pdf)
    assert "model spread 0.55-0.70" in text
    assert "probability >= threshold 0.50" in text
    assert "µV ± 5 -> kept as recorded." in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.55–0.70", "0.55-0.70"),
        ("p ≥ 0.5 → good", "p >= 0.5 -> good"),
        ("µV ± 3 °C", "µV ± 3 °C"),
        ("w · x × y − z…", "w * x x y - z..."),
        ("脳", "?"),
    ],
)
def test_latin1_safe(text, expected):
    assert latin1_safe(text) == expected
    latin1_safe(text).encode("latin-1")


def test_naive_created_at_is_taken_as_utc(patient, uploads, prediction, card):
    pdf = build(patient, uploads, prediction, None, card, created_at=dt.datetime(2026, 1, 2, 3, 4))
    assert "Created 2026-01-02 03:04 UTC" in pdf_text(pdf)
    assert b"/CreationDate (D:20260102030400" in pdf


def test_header_banner_and_disclaimer_follow_the_manifest(
    patient, uploads, prediction, heatmap_png
):
    from rehab_core.storage import BundleManifest

    raw = BundleManifest.from_dict(json.loads(MANIFEST.read_text())).to_dict()
    synthetic = pdf_text(build(patient, uploads, prediction, heatmap_png, model_card(raw)))
    head = synthetic[: synthetic.index("Patient")]
    assert "This model was trained on synthetic (simulated) data" in head
    assert "This is a synthetic demo patient" in head  # DEMO-42
    assert "trained on a synthetic cohort" in synthetic
    raw["data"].update(trained_on="real", description="the stroke unit's 2025 cohort")
    patient["pseudonym"] = "P-42"
    real = pdf_text(build(patient, uploads, prediction, heatmap_png, model_card(raw)))
    assert "simulated" not in real and "synthetic cohort" not in real
    assert f"trained on {raw['data']['n_patients']} real patients" in real
