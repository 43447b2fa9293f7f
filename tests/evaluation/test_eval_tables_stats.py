"""Tables with clinical rows, per-row ceilings and the table of paired differences."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from rehab_core.evaluation import (
    CLINICAL_MODEL,
    FUSION_CLINICAL_MODELS,
    IMAGE_MODELS,
    EvaluationSettings,
    ceiling_column,
    ceiling_probabilities,
    default_pairs,
    delong_test,
    holm_adjust,
    paired_bootstrap_auc,
    paired_differences,
    paper_tables,
    to_json,
    to_markdown,
)

FAST = EvaluationSettings(n_boot=100, seed=0)
N = 40
IDS = [f"sub-{k:03d}" for k in range(N)]
Y = np.array([0, 1] * (N // 2))
SIGNAL = np.arange(N) % 5 != 0  # 32 patients with EEG-EMG


def _scores(seed: int, strength: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(strength * Y + (1 - strength) * rng.random(N), 0, 1)


def _truth() -> dict:
    rng = np.random.default_rng(99)
    columns = ("p_good_bayes", "p_good_fmri", "p_good_eegemg", "p_good_clinical", "p_good_all")
    strengths = dict(zip(columns, (0.6, 0.2, 0.4, 0.3, 0.7), strict=True))
    values = {c: np.clip(s * Y + (1 - s) * rng.random(N), 0, 1) for c, s in strengths.items()}
    return {p: {c: f"{values[c][k]:.6f}" for c in columns} for k, p in enumerate(IDS)}


def _row(name: str, group: str, seed: int, truth: dict | None = None, signal_only=False) -> dict:
    keep = SIGNAL if signal_only else np.ones(N, dtype=bool)
    ids = [p for p, k in zip(IDS, keep, strict=True) if k]
    row = {
        "name": name,
        "group": group,
        "y_true": Y[keep],
        "p_good": _scores(seed)[keep],
        "patients": ids,
    }
    if truth is not None:
        row["p_ceiling"] = ceiling_probabilities(truth, ids, ceiling_column(name, group))
    return row


def _rows(truth: dict | None = None) -> list[dict]:
    return [
        _row("ShuffleNet", "image", 1, truth),
        _row("FBNet", "image", 2, truth),
        _row(CLINICAL_MODEL, "image", 3, truth),
        _row("LSTM", "signal", 4, truth, signal_only=True),
        _row(CLINICAL_MODEL, "signal", 3, truth, signal_only=True),
        _row("shufflenet_lstm", "fusion", 5, truth),
        _row("FBNet_LSTM", "fusion", 6, truth),
        _row("ShuffleNet-LSTM + Clinical", "fusion", 7, truth),
        _row(CLINICAL_MODEL, "fusion", 3, truth),
    ]


def test_clinical_rows_join_every_table_after_the_models():
    tables = paper_tables(_rows(), FAST)
    assert [r["Method"] for r in tables["table1"]["rows"]] == ["FBNet", "ShuffleNet", "Clinical"]
    assert [r["Method"] for r in tables["table2"]["rows"]] == ["LSTM", "Clinical"]
    assert [r["Method"] for r in tables["table3"]["rows"]] == [
        "FBNet_LSTM",
        "ShuffleNet_LSTM",
        "ShuffleNet_LSTM + clinical",
        "Clinical",
    ]
    assert "ShuffleNet_LSTM + clinical" in FUSION_CLINICAL_MODELS
    assert tables["paired"] is None
    assert "Ceiling AUC" not in tables["table1"]["columns"]


def test_each_row_shows_the_ceiling_of_what_it_sees():
    truth = _truth()
    tables = paper_tables(_rows(truth), FAST)
    for key, group in (("table1", "image"), ("table2", "signal"), ("table3", "fusion")):
        table = tables[key]
        assert table["columns"][-2:] == ["Ceiling AUC", "Fraction of ceiling"]
        for row, ev in zip(table["rows"], table["evaluations"], strict=True):
            keep = SIGNAL if group == "signal" else np.ones(N, dtype=bool)
            ids = [p for p, k in zip(IDS, keep, strict=True) if k]
            column = ceiling_column(ev["name"], group)
            want = roc_auc_score(Y[keep], [float(truth[p][column]) for p in ids])
            assert ev["ceiling"]["ceiling_auc"]["estimate"] == pytest.approx(want)
            assert row["Ceiling AUC"] == f"{want:.2f}"
            auc = ev["metrics"]["roc_auc"]["estimate"]
            assert ev["ceiling"]["fraction"]["estimate"] == pytest.approx(
                (auc - 0.5) / (want - 0.5)
            )
            assert ev["ceiling"]["auc"] == pytest.approx(ev["metrics"]["roc_auc"])  # same resamples
    # The image rows are held against P(good | fMRI), not the joint ceiling.
    fmri = tables["table1"]["evaluations"][0]["ceiling"]["ceiling_auc"]["estimate"]
    joint = tables["table3"]["evaluations"][0]["ceiling"]["ceiling_auc"]["estimate"]
    assert fmri != pytest.approx(joint)
    markdown = to_markdown(tables)
    assert "(AUC - 0.5) / (ceiling - 0.5)" in markdown
    json.loads(to_json(tables))


def test_a_row_without_ground_truth_shows_a_dash():
    rows = _rows(_truth())
    del rows[0]["p_ceiling"]
    tables = paper_tables(rows, FAST)
    shufflenet = next(r for r in tables["table1"]["rows"] if r["Method"] == "ShuffleNet")
    assert shufflenet["Ceiling AUC"] == "—" and shufflenet["Fraction of ceiling"] == "—"


def test_default_pairs_cover_the_three_families_of_issue_13():
    tables = paper_tables(_rows(), FAST, pairs="default")
    pairs = {
        (c["family"], c["a"]["name"], c["b"]["name"], c["b"]["group"])
        for c in tables["paired"]["comparisons"]
    }
    assert ("fusion vs modality", "ShuffleNet_LSTM", "ShuffleNet", "image") in pairs
    assert ("fusion vs modality", "ShuffleNet_LSTM", "LSTM", "signal") in pairs
    assert (
        "fusion vs modality",
        "ShuffleNet_LSTM + clinical",
        "ShuffleNet_LSTM",
        "fusion",
    ) in pairs
    assert ("vs clinical", "LSTM", "Clinical", "signal") in pairs
    assert ("vs clinical", "ShuffleNet_LSTM + clinical", "Clinical", "fusion") in pairs
    assert ("backbones", "FBNet", "ShuffleNet", "image") in pairs
    assert ("backbones", "FBNet_LSTM", "ShuffleNet_LSTM", "fusion") in pairs
    assert not any(a == "Clinical" for _, a, _, _ in pairs)
    assert tables["paired"]["families"] == ["fusion vs modality", "vs clinical", "backbones"]
    assert len(pairs) == len(tables["paired"]["rows"]) == 4 + 1 + 6 + 2


def test_a_paired_row_equals_the_paired_functions_on_the_shared_patients():
    tables = paper_tables(_rows(), FAST, pairs="default")
    comp = next(
        c
        for c in tables["paired"]["comparisons"]
        if c["a"]["name"] == "ShuffleNet_LSTM" and c["b"]["name"] == "LSTM"
    )
    assert comp["n"] == int(SIGNAL.sum())  # only the patients with EEG-EMG
    a, b = _scores(5)[SIGNAL], _scores(4)[SIGNAL]
    boot = paired_bootstrap_auc(Y[SIGNAL], a, b, n_boot=100, seed=0)
    assert comp["bootstrap"] == boot
    assert comp["delong"] == delong_test(Y[SIGNAL], a, b)
    row = tables["paired"]["rows"][tables["paired"]["comparisons"].index(comp)]
    assert row["Comparison"] == "ShuffleNet_LSTM − LSTM"
    assert row["Patients"] == f"{SIGNAL.sum()} ({Y[SIGNAL].sum()} good)"
    d = boot["difference"]
    assert row["Difference (bootstrap CI)"] == (
        f"{d['estimate']:+.2f} ({d['low']:+.2f} to {d['high']:+.2f})"
    )
    family = [c for c in tables["paired"]["comparisons"] if c["family"] == comp["family"]]
    holm = holm_adjust([c["delong"]["p_value"] for c in family])
    assert comp["p_holm"] == holm[family.index(comp)]
    markdown = to_markdown(tables)
    assert "**Paired AUC differences" in markdown and "_backbones_" in markdown
    assert "ShuffleNet_LSTM − LSTM" in markdown
    parsed = json.loads(to_json(tables))
    assert parsed["paired"]["comparisons"][0]["bootstrap"]["method"] == "paired bootstrap"


def test_holm_adjustment_by_hand():
    # m = 4: sorted 0.01*4, 0.02*3, 0.03*2 -> made monotone, 0.5*1; NaN kept.
    assert holm_adjust([0.03, 0.01, float("nan"), 0.5, 0.02]) == pytest.approx(
        [0.06, 0.04, float("nan"), 0.5, 0.06], nan_ok=True
    )
    assert holm_adjust([0.9, 0.2]) == pytest.approx([0.9, 0.4])
    assert holm_adjust([0.9, 0.8]) == [1.0, 1.0]  # 0.8 * 2 capped at 1, then kept monotone


def test_explicit_pairs_and_their_errors():
    rows = [_row("ShuffleNet", "image", 1), _row("LSTM", "signal", 4, signal_only=True)]
    out = paired_differences(
        rows, [{"a": ("image", "ShuffleNet"), "b": ("signal", "LSTM"), "family": "mine"}], FAST
    )
    assert out["families"] == ["mine"] and out["comparisons"][0]["n"] == SIGNAL.sum()
    with pytest.raises(ValueError, match="No row 'GhostNet' in group 'image'"):
        paired_differences(rows, [{"a": ("image", "GhostNet"), "b": ("signal", "LSTM")}], FAST)
    no_ids = [{k: v for k, v in r.items() if k != "patients"} for r in rows]
    with pytest.raises(ValueError, match="give both rows their patients"):
        paired_differences(no_ids, [{"a": ("image", "ShuffleNet"), "b": ("signal", "LSTM")}])
    clash = _row("LSTM", "signal", 4, signal_only=True)
    clash["y_true"] = 1 - clash["y_true"]
    with pytest.raises(ValueError, match="different outcomes"):
        paired_differences(
            [rows[0], clash], [{"a": ("image", "ShuffleNet"), "b": ("signal", "LSTM")}]
        )
    with pytest.raises(ValueError, match="pairs='all' is not allowed"):
        paper_tables(rows, FAST, pairs="all")


def test_same_group_rows_without_patients_pair_in_order():
    rows = [
        {"name": m, "group": "image", "y_true": Y, "p_good": _scores(k)}
        for k, m in enumerate(IMAGE_MODELS)
    ]
    out = paired_differences(rows, settings=FAST)
    assert len(out["comparisons"]) == 10  # the five backbones pairwise
    assert all(c["n"] == N for c in out["comparisons"])
    assert default_pairs(rows)[0] == {
        "a": ("image", "FBNet"),
        "b": ("image", "GhostNet"),
        "family": "backbones",
    }
