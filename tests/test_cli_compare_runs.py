"""`rehab compare-runs` writes the comparison of two runs as JSON and Markdown."""

from __future__ import annotations

import json

from rehab_core.cli import main
from tests.evaluation.test_eval_runs import _cohort, _report


def _write(tmp_path, name, report):
    path = tmp_path / name
    path.write_text(json.dumps(report))
    return str(path)


def test_compare_runs_writes_json_and_markdown(tmp_path, capsys):
    ids, y, good, noisy = _cohort(0)
    dev = [
        _write(tmp_path, f"dev-{n}.json", _report(ids, y, p))
        for n, p in (("a", good), ("b", noisy))
    ]
    ext = [
        _write(tmp_path, f"s1-{n}.json", _report(ids, y, p)) for n, p in (("a", good), ("b", noisy))
    ]
    out = tmp_path / "weights" / "signal_input"
    code = main(
        [
            "compare-runs",
            "--names",
            "envelope",
            "raw",
            "--development",
            *dev,
            "--external",
            "seed1",
            *ext,
            "--out",
            str(out),
        ]
    )
    assert code == 0
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["names"] == ["envelope", "raw"] and summary["cohorts"] == ["seed1"]
    assert summary["reports"] == {"development": dev, "seed1": ext}
    (row,) = summary["rows"]
    assert row["development"]["difference"]["n"] == len(ids)
    assert "### LSTM: envelope vs raw" in out.with_suffix(".md").read_text()


def test_a_cohort_named_twice_is_refused(tmp_path, capsys):
    ids, y, good, _ = _cohort(0)
    path = _write(tmp_path, "r.json", _report(ids, y, good))
    argv = ["compare-runs", "--names", "a", "b", "--out", str(tmp_path / "x")]
    argv += ["--external", "seed1", path, path] * 2
    assert main(argv) == 2
    assert "--external seed1 is given twice" in capsys.readouterr().err
