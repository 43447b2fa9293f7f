"""`make paper-tables` is the one command behind weights/ (issue 13): its plan, checked dry.

Running it takes an hour of CPU; what can be checked cheaply is that every step it would
run is a command the CLI accepts, with the settings, seeds and cohort sizes the shipped
files record, and that the paper's budget is one variable away.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from rehab_core.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "weights"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")


def _plan(tmp_path: Path, *variables: str, target: str = "paper-tables") -> list[list[str]]:
    """Every `rehab` command `make <target>` would run, as argument lists, in order."""
    done = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-n",
            "-o",
            "setup",
            target,
            f"RUNS={tmp_path / 'runs'}",
            f"OUT={tmp_path / 'out'}",
            *variables,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    text = done.stdout.replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        if "rehab_core.cli" not in line:
            continue
        words = shlex.split(line)
        while "rehab_core.cli" in words:  # half-precision copies are chained with &&
            words = words[words.index("rehab_core.cli") + 1 :]
            end = min((words.index(w) for w in (">", "&&") if w in words), default=len(words))
            commands.append(words[:end])
            words = words[end:]
    return commands


def _parsed(commands: list[list[str]], name: str) -> list:
    return [build_parser().parse_args(c) for c in commands if c[0] == name]


def _check_shipped_budget(train) -> None:
    """A planned `rehab train` has the budget, folds and fMRI settings of the shipped run."""
    s = json.loads((WEIGHTS / "evaluation.json").read_text())["settings"]
    manifest = json.loads((WEIGHTS / "shufflenet_lstm" / "manifest.json").read_text())
    imaging = manifest["preprocessing"]["imaging"]
    assert (train.folds, train.test_fraction, train.seed) == (
        s["n_folds"],
        s["test_fraction"],
        s["seed"],
    )
    assert (train.epochs, train.patience) == (s["epochs"], s["patience"])
    assert (train.signal_epochs, train.signal_patience) == (
        s["signal_epochs"],
        s["signal_patience"],
    )
    assert train.no_pretrained is (not s["pretrained"])
    assert train.image_size == imaging["image_size"]
    assert train.slice_range_mm == imaging["slice_range_mm"]
    assert train.slice_step == imaging["slice_step"]


def test_plan_is_the_shipped_run(tmp_path):
    commands = _plan(tmp_path)
    assert [c[0] for c in commands][:2] == ["demo-cohort", "train"]
    assert commands[-1][0] == "external-summary"
    s = json.loads((WEIGHTS / "evaluation.json").read_text())["settings"]
    manifest = json.loads((WEIGHTS / "shufflenet_lstm" / "manifest.json").read_text())

    (train,) = _parsed(commands, "train")
    assert train.backbone.split(",") == s["backbones"]
    _check_shipped_budget(train)
    assert train.signal_input == manifest["preprocessing"]["signals"]["representation"]

    development, *external = _parsed(commands, "demo-cohort")
    assert (development.seed, development.n_patients) == (0, 102)
    assert "(102 patients" in manifest["data"]["description"]
    assert development.out == train.cohort
    summary = json.loads((WEIGHTS / "external.json").read_text())
    assert [f"seed{c.seed}" for c in external] == summary["cohorts"]
    n_scored = {r["per_cohort"][c]["n_patients"] for r in summary["rows"] for c in r["per_cohort"]}
    assert {c.n_patients for c in external} == {40} and max(n_scored) == 40

    evaluated = _parsed(commands, "evaluate")
    assert [e.cohort for e in evaluated] == [c.out for c in external]
    (external_summary,) = _parsed(commands, "external-summary")
    assert external_summary.out == tmp_path / "out" / "external"
    assert len(external_summary.reports) == len(summary["cohorts"])


def test_plan_ships_the_bundles_weights_holds_as_they_are_stored(tmp_path):
    """float16 copies exactly of the bundles whose manifests say float16; the rest copied."""
    halved = {p.bundle.name for p in _parsed(_plan(tmp_path), "half-precision")}
    shipped = sorted(p.parent.name for p in WEIGHTS.glob("*_lstm/manifest.json"))
    notes = {b: json.loads((WEIGHTS / b / "manifest.json").read_text())["notes"] for b in shipped}
    in_float16 = {b for b in shipped if any("float16" in n for n in notes[b])}
    assert halved == in_float16 and "shufflenet_lstm" not in halved


def test_paper_budget_is_one_variable_away(tmp_path):
    from rehab_core.workflows.train import experiment_settings

    (train,) = _parsed(_plan(tmp_path, "BUDGET=paper", "DEVICE=cuda"), "train")
    assert train.device == "cuda" and not train.no_pretrained
    assert train.image_size == 224 and train.slice_range_mm is None  # every screened slice
    settings = experiment_settings(
        train.backbone,
        n_folds=train.folds,
        test_fraction=train.test_fraction,
        epochs=train.epochs,
        patience=train.patience,
    )
    assert (settings.n_folds, settings.epochs, settings.test_fraction) == (5, 50, 0.15)


def test_an_unknown_budget_is_refused_in_one_sentence(tmp_path):
    done = subprocess.run(
        ["make", "-n", "-o", "setup", "paper-tables", "BUDGET=gpu", f"RUNS={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "BUDGET=gpu is not a budget: use BUDGET=cpu" in done.stderr


def test_signal_input_plan_is_the_shipped_shufflenet_run_with_raw_samples(tmp_path):
    """The raw LSTM's run differs from the shipped one in the LSTM's input only, reuses the
    shipped image members, and both are scored on the unseen cohorts of external.json."""
    commands = _plan(tmp_path, target="signal-input")
    (train,) = _parsed(commands, "train")
    _check_shipped_budget(train)
    assert train.backbone == "shufflenet" and train.signal_input == "raw"
    assert train.reuse_image_members == str(tmp_path / "out")
    evaluated = _parsed(commands, "evaluate")
    raw = [e for e in evaluated if e.weights == Path(train.out) / "shufflenet_lstm"]
    envelope = [e for e in evaluated if e.weights == tmp_path / "out" / "shufflenet_lstm"]
    assert len(raw) == len(envelope) == 3 and len(evaluated) == 6
    (compare,) = _parsed(commands, "compare-runs")
    assert compare.names == ["envelope", "raw"] and "LSTM" in compare.rows
    assert compare.development == [
        tmp_path / "out" / "evaluation.json",
        train.out / "evaluation.json",
    ]
    summary = json.loads((WEIGHTS / "external.json").read_text())
    assert [name for name, *_ in compare.external] == summary["cohorts"]
    assert compare.out == tmp_path / "out" / "signal_input"
