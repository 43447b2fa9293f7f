"""Paper-style tables, evaluation records and their JSON/Markdown forms."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from rehab_core.evaluation import (
    CEILING_LABEL,
    FUSION_MODELS,
    IMAGE_MODELS,
    EvaluationSettings,
    ModelResult,
    evaluate_model,
    paper_tables,
    to_json,
    to_markdown,
)

FAST = EvaluationSettings(n_boot=200, seed=0)
CELL = re.compile(r"^\d\.\d{2} \(\d\.\d{2}–\d\.\d{2}\)$")


def _record(name: str, group: str, seed: int, n: int = 40, **extra) -> dict:
    rng = np.random.default_rng(seed)
    y = np.array([0, 1] * (n // 2))
    return {
        "name": name,
        "group": group,
        "y_true": y,
        "p_good": np.clip(0.3 * y + 0.7 * rng.random(n), 0, 1),
        **extra,
    }


def _results() -> list[dict]:
    # Lower-case names as a registry might use; the paper's order is restored.
    out = [_record(m.lower(), "image", k) for k, m in enumerate(reversed(IMAGE_MODELS))]
    out.append(_record("LSTM", "signal", 10, cv_auc=0.71))
    out += [_record(m, "fusion", 20 + k, threshold=0.45) for k, m in enumerate(FUSION_MODELS)]
    return out


def _only_builtins(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _only_builtins(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_only_builtins(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


def test_paper_tables_shape_names_and_cells():
    tables = paper_tables(_results(), FAST, ceiling_auc={"fusion": 0.9})
    assert [r["Method"] for r in tables["table1"]["rows"]] == list(IMAGE_MODELS)
    assert [r["Method"] for r in tables["table2"]["rows"]] == ["LSTM"]
    assert [r["Method"] for r in tables["table3"]["rows"]] == [*FUSION_MODELS, CEILING_LABEL]
    assert tables["table1"]["columns"] == [
        "Method",
        "Accuracy",
        "Recall",
        "F1-score",
        "Precision",
        "ROC AUC",
    ]
    assert tables["table2"]["columns"][-1] == "CV AUC"
    assert tables["table2"]["rows"][0]["CV AUC"] == "0.71"
    for key in ("table1", "table2", "table3"):
        for row in tables[key]["rows"]:
            if row["Method"] != CEILING_LABEL:
                for column in ("Accuracy", "Recall", "F1-score", "Precision", "ROC AUC"):
                    assert CELL.match(row[column]), row[column]
    ceiling = tables["table3"]["rows"][-1]
    assert ceiling["ROC AUC"] == "0.90" and ceiling["Accuracy"] == "—"
    assert tables["table3"]["ceiling_auc"] == 0.9 and tables["table1"]["ceiling_auc"] is None
    assert tables["table3"]["evaluations"][0]["threshold"] == 0.45
    assert tables["settings"]["n_boot"] == 200
    assert _only_builtins(tables)
    json.dumps(tables, allow_nan=False)


def test_cell_matches_the_evaluation_numbers():
    tables = paper_tables([_record("FBNet", "image", 0)], FAST)
    ev = tables["table1"]["evaluations"][0]["metrics"]["roc_auc"]
    assert (
        tables["table1"]["rows"][0]["ROC AUC"]
        == f"{ev['estimate']:.2f} ({ev['low']:.2f}–{ev['high']:.2f})"
    )
    assert tables["table2"]["rows"] == [] and tables["table3"]["rows"] == []


def test_markdown_and_json_render_every_table():
    tables = paper_tables(_results(), FAST, ceiling_auc={"image": 0.8})
    md = to_markdown(tables)
    for text in (
        "Table 1. fMRI",
        "Table 2. EEG-EMG",
        "Table 3. Multimodal fusion",
        "| FBNet |",
        "| ShuffleNet_LSTM |",
        "| Method | Accuracy | Recall | F1-score | Precision | ROC AUC |",
        "95% percentile bootstrap intervals (200 resamples",
        CEILING_LABEL,
    ):
        assert text in md, text
    assert json.loads(to_json(tables))["table3"]["rows"][0]["Method"] == "FBNet_LSTM"


def test_markdown_says_when_a_group_is_empty_and_json_writes_nan_as_null():
    one_class = {
        "name": "LSTM",
        "group": "signal",
        "y_true": np.ones(6, int),
        "p_good": np.linspace(0.2, 0.9, 6),
    }
    with pytest.warns(UserWarning, match="Only one outcome class"):
        tables = paper_tables([one_class], FAST)
    assert tables["table2"]["rows"][0]["ROC AUC"] == "—"
    assert "_No model of this group was evaluated._" in to_markdown(tables)
    parsed = json.loads(to_json(tables))
    assert parsed["table2"]["evaluations"][0]["metrics"]["roc_auc"]["estimate"] is None


@pytest.mark.parametrize(
    ("records", "kwargs", "error", "match"),
    [
        ([_record("FBNett", "image", 0)], {}, ValueError, "Did you mean 'FBNet'"),
        (
            [_record("FBNet", "fusion", 0)],
            {},
            ValueError,
            "name \\(group 'fusion'\\)='FBNet' is not allowed",
        ),
        ([_record("FBNet", "imaging", 0)], {}, ValueError, "Did you mean 'image'"),
        (
            [_record("FBNet", "image", 0), _record("fbnet", "image", 1)],
            {},
            ValueError,
            "appears twice in group 'image'",
        ),
        (
            [{"name": "LSTM", "group": "signal"}],
            {},
            ValueError,
            "Result record lacks p_good, y_true",
        ),
        ([{**_record("LSTM", "signal", 0), "auc": 1}], {}, ValueError, "unknown key\\(s\\) auc"),
        ([("LSTM", "signal")], {}, TypeError, "must be a ModelResult or a dict, got tuple"),
        (
            [_record("LSTM", "signal", 0, cv_auc=1.5)],
            {},
            ValueError,
            "cv_auc=1.5 of LSTM must lie between 0 and 1",
        ),
        (
            [],
            {"ceiling_auc": {"fusion": 1.2}},
            ValueError,
            r"ceiling_auc\['fusion'\]=1.2 must lie between 0 and 1",
        ),
        ([], {"ceiling_auc": {"all": 0.9}}, ValueError, "ceiling_auc group='all' is not allowed"),
    ],
)
def test_paper_tables_refuses_bad_records(records, kwargs, error, match):
    with pytest.raises(error, match=match):
        paper_tables(records, FAST, **kwargs)


def test_evaluate_model_record_is_json_ready_and_reproducible():
    record = ModelResult(**_record("LSTM", "signal", 3))
    a = evaluate_model(record, FAST)
    b = evaluate_model(record, FAST)
    assert a == b
    assert a.n == 40 and a.n_positive == 20 and a.threshold == 0.5
    assert _only_builtins(a.to_dict())
    assert json.loads(json.dumps(a.to_dict()))["settings"]["kind"] == "EvaluationSettings"


def test_evaluation_settings_round_trip_and_checks():
    settings = EvaluationSettings(n_boot=100, average="macro")
    assert EvaluationSettings.from_dict(settings.to_dict()) == settings
    with pytest.raises(ValueError, match="Did you mean 'binary'"):
        EvaluationSettings(average="binar")
    with pytest.raises(TypeError, match="n_boot must be a whole number, got 10.5"):
        EvaluationSettings(n_boot=10.5)
    with pytest.raises(ValueError, match="ci=2 must lie between 0.0 and 1.0"):
        EvaluationSettings(ci=2)
