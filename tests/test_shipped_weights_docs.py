"""The READMEs' figures and training command are those of the shipped bundle's own files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "weights"

# README row label -> the row of weights/tables.md it quotes (the first table holding it)
ROWS = {
    "fMRI, ShuffleNet": "ShuffleNet",
    "EEG-EMG, LSTM": "LSTM",
    "fusion": "ShuffleNet_LSTM",
    "clinical baseline": "Clinical",
    "fusion + clinical": "ShuffleNet_LSTM + clinical",
}


def _tables_md() -> dict[str, dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    columns: list[str] = []
    for line in (WEIGHTS / "tables.md").read_text().splitlines():
        if not line.startswith("| ") or line.startswith("| ---"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] in ("Method", "Comparison", "Table"):
            columns = cells
        elif "Ceiling AUC" in columns:
            rows.setdefault(cells[0], dict(zip(columns, cells, strict=True)))
    return rows


def _row(readme: str, label: str) -> str:
    """The line of the README's table of the shipped figures (after "Ceiling AUC |")."""
    lines = readme.splitlines()
    head = next(i for i, x in enumerate(lines) if x.startswith("| |") and "Ceiling AUC" in x)
    starts = tuple(f"| {label}{end}" for end in (" |", " (", ","))
    table = []
    for x in lines[head + 2 :]:
        if not x.startswith("|"):
            break
        table.append(x)
    (line,) = [x for x in table if x.startswith(starts)]
    return line


@pytest.mark.parametrize("readme", ["README.md", "weights/README.md"])
def test_readme_quotes_the_shipped_tables(readme):
    text = (ROOT / readme).read_text()
    tables = _tables_md()
    for label, method in ROWS.items():
        row = tables[method]
        line = _row(text, label)
        assert f"| {row['ROC AUC']} | {row['Ceiling AUC']} |" in line, (label, line)
    assert "does not beat the clinical baseline" in text
    manifest = json.loads((WEIGHTS / "shufflenet_lstm" / "manifest.json").read_text())
    assert f"weight {manifest['fusion']['weight']:.2f} on the LSTM" in _row(text, "fusion")
    assert "External evaluation (unseen cohorts)" in text


def test_weights_readme_gives_the_command_the_bundle_was_trained_with():
    text = (WEIGHTS / "README.md").read_text()
    training = json.loads((WEIGHTS / "evaluation.json").read_text())
    s = training["settings"]
    manifest = json.loads((WEIGHTS / "shufflenet_lstm" / "manifest.json").read_text())
    imaging = manifest["preprocessing"]["imaging"]
    low, high = imaging["slice_range_mm"]
    for flag in (
        f"--backbone {s['backbones'][0]}",
        f"--folds {s['n_folds']}",
        f"--test-fraction {s['test_fraction']:g}",
        f"--epochs {s['epochs']}",
        f"--patience {s['patience']}",
        f"--signal-epochs {s['signal_epochs']}",
        f"--signal-patience {s['signal_patience']}",
        f"--image-size {imaging['image_size']}",
        f"--slice-range-mm {low:g} {high:g}",
        f"--slice-step {imaging['slice_step']}",
        f"--seed {s['seed']}",
        "--no-pretrained" if not s["pretrained"] else "--pretrained",
    ):
        assert flag in text, flag
    assert f"({training['seconds']:.0f} s)" in text
    assert manifest["data"]["split"]["test"] == [] and "no held-out test set" in text.lower()


# README row label of the external table -> (table, method) of weights/external.json
EXTERNAL_ROWS = {
    "fMRI, ShuffleNet": ("table1", "ShuffleNet"),
    "EEG-EMG, LSTM": ("table2", "LSTM"),
    "fusion, ShuffleNet_LSTM": ("table3", "ShuffleNet_LSTM"),
    "clinical baseline": ("table3", "Clinical"),
    "fusion + clinical": ("table3", "ShuffleNet_LSTM + clinical"),
}


@pytest.mark.parametrize("readme", ["README.md", "weights/README.md"])
def test_readme_quotes_the_external_summary(readme):
    """The unseen-cohort figures are those `rehab external-summary` wrote, not typed anew."""
    text = (ROOT / readme).read_text()
    external = json.loads((WEIGHTS / "external.json").read_text())
    rows = {(r["table"], r["method"]): r for r in external["rows"]}
    for label, key in EXTERNAL_ROWS.items():
        row = rows[key]
        stats = row["summary"]["metrics"]
        auc, ceiling = stats["roc_auc"], stats["ceiling_auc"]
        per = " / ".join(f"{row['per_cohort'][c]['roc_auc']:.2f}" for c in external["cohorts"])
        line = (
            f"| {label} | {auc['mean']:.2f} ± {auc['sd']:.2f} | "
            f"{ceiling['mean']:.2f} ± {ceiling['sd']:.2f} | {per} |"
        )
        assert line in text, (label, line)
    assert len(external["cohorts"]) >= 3


def _table_lines(markdown: str, title: str | None = None) -> list[str]:
    """The body rows of a Markdown table (after ``title``'s heading, if given)."""
    lines = markdown.splitlines()
    if title is not None:
        lines = lines[lines.index(title) + 1 :]
    body, started = [], False
    for line in lines:
        if line.startswith("|---"):
            started = True
        elif started and line.startswith("| "):
            body.append(line)
        elif started:
            break
    return body


def test_weights_readme_quotes_the_envelope_and_raw_comparison():
    """The LSTM's input, envelope or raw samples, compared on data the choice was not made on:
    the README's rows are those `rehab compare-runs` wrote to weights/signal_input.json."""
    from rehab_core.evaluation import compare_runs_markdown

    summary = json.loads((WEIGHTS / "signal_input.json").read_text())
    assert summary["names"] == ["envelope", "raw"] and len(summary["cohorts"]) >= 3
    text = (WEIGHTS / "README.md").read_text()
    rows = _table_lines(compare_runs_markdown(summary), "### LSTM: envelope vs raw")
    assert len(rows) == 2 + len(summary["cohorts"])
    for line in rows:
        assert line in text, line
    # the top-level README quotes the LSTM's mean difference over the unseen cohorts
    (lstm,) = [r for r in summary["rows"] if r["row"] == "LSTM"]
    diff = lstm["summary"]["metrics"]["difference"]
    quoted = f"envelope − raw AUC {diff['mean']:+.2f} ± {diff['sd']:.2f} on three"
    assert quoted in (WEIGHTS.parent / "README.md").read_text().replace("\n", " ")


def test_weights_readme_quotes_the_repeated_cross_validation():
    from rehab_core.workflows.repeated_cv import repeated_cv_markdown

    summary = json.loads((WEIGHTS / "repeated_cv.json").read_text())
    assert summary["n_repeats"] >= 5
    text = (WEIGHTS / "README.md").read_text()
    rows = _table_lines(repeated_cv_markdown(summary))
    assert {r["row"] for r in summary["rows"]} >= {"LSTM", "Clinical"}
    assert f"in {summary['seconds']:.0f} s on the" in text
    # repeat 0 is the shipped run's split: its rows are the shipped run's out-of-fold figures
    training = json.loads((WEIGHTS / "evaluation.json").read_text())
    assert summary["fingerprint_sha256"] == training["fingerprint_sha256"]
    tables = training["tables"]
    cells = {e["name"]: e for t in ("table1", "table3") for e in tables[t]["evaluations"]}
    cells["LSTM"] = next(e for e in tables["table2"]["evaluations"] if e["name"] == "LSTM")
    checked = 0
    for row in summary["rows"]:
        if row["group"] == "all" or row["row"] == "LSTM":
            first = row["summary"]["auc_per_repeat"][0]
            assert first == pytest.approx(cells[row["row"]]["cv_auc"]), row["row"]
            checked += 1
    assert checked == len(summary["rows"]) - 1  # all but the comparator on EEG-EMG patients
    for line in rows:
        assert line in text, line
