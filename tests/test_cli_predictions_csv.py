"""`rehab predict --cohort` writes a CSV whose text cells a spreadsheet will not run as formulas.

Issue 14, finding 13: participant ids and error sentences come from the
cohort's own files; a cell such as ``=HYPERLINK(...)`` ran as a formula. The
audit CSV's helper (``'`` in front of = + - @) is reused; numbers stay numbers.
"""

from __future__ import annotations

import argparse
import csv

from rehab_core.cli import _predict_cohort


def test_formula_cells_are_neutralised(tmp_path):
    cohort = tmp_path / "cohort"
    pid = "=SUM(1+2)*cmd|'calc'!A0"
    (cohort / pid / "eeg").mkdir(parents=True)
    (cohort / pid / "eeg" / "rec.txt").write_text("C3\n1\n")
    (cohort / "participants.tsv").write_text(f"participant_id\n{pid}\n")
    out = tmp_path / "predictions.csv"
    assert _predict_cohort(None, argparse.Namespace(cohort=str(cohort), out=str(out))) == 0
    with open(out, newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    assert row["participant_id"] == "'" + pid
    assert row["error"].startswith("'=SUM(1+2)*cmd|") and row["error"].endswith(
        "the model needs one."
    )
