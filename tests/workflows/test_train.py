"""The whole training path on a tiny synthetic cohort: bundles, manifest, tables, splits.

Moved from tests/training/test_experiment.py and test_experiment_predictions.py.
"""

import json

import pytest

from rehab_core.evaluation import roc_points
from rehab_core.io.cohort import CohortError
from rehab_core.storage import load_bundle
from rehab_core.training import ExperimentSettings
from rehab_core.workflows.train import train_experiment


def test_bundle_and_manifest(tiny_training):
    bundle = load_bundle(tiny_training["out"] / "shufflenet_lstm")
    m = bundle.manifest
    assert m.model_id == "shufflenet_lstm"
    assert m.parts.signal.n_members == 2 and m.parts.image.n_members == 2
    assert m.parts.image.imagenet_pretrained is False and m.imagenet_pretrained is False
    assert m.data.trained_on == "synthetic" and m.trained_on == "synthetic"
    assert m.schema_version == 2 and m.notes == ()
    assert len(m.data.fingerprint_sha256) == 64
    assert m.preprocessing.signals["representation"] == "envelope"
    # the LSTM reads 25 frames of 0.4 s per 10-s window
    assert m.parts.signal.kwargs["n_times"] == 25
    assert m.parts.signal.kwargs["sfreq"] == pytest.approx(2.5)
    assert 0.0 <= m.fusion["weight"] <= 1.0
    assert m.metrics.tables and m.metrics.fma and m.metrics.bayes_ceiling_auc is not None
    # on disk: the current schema, trained_on in place of schema 1's synthetic flag
    raw = json.loads((tiny_training["out"] / "shufflenet_lstm" / "manifest.json").read_text())
    assert raw["schema_version"] == 2 and "manifest_version" not in raw
    assert raw["data"]["trained_on"] == "synthetic" and "synthetic" not in raw["data"]
    # every ensemble member of both parts is stored
    for part in ("signal0", "signal1", "image0", "image1"):
        assert bundle.part(part)


def test_no_patient_in_both_development_and_test(tiny_training):
    m = load_bundle(tiny_training["out"] / "shufflenet_lstm").manifest
    dev, test = set(m.data.split.development), set(m.data.split.test)
    assert dev and test and not dev & test
    assert len(dev | test) == 20


def test_tables_and_report(tiny_training):
    report = json.loads((tiny_training["out"] / "evaluation.json").read_text())
    assert report["evaluated_on"] == "held-out test patients"
    rows = {
        t: [r["Method"] for r in report["tables"][t]["rows"]]
        for t in ("table1", "table2", "table3")
    }
    assert "ShuffleNet" in rows["table1"][0]
    assert rows["table2"][0] == "LSTM"
    assert "ShuffleNet_LSTM" in rows["table3"][0]
    assert 0 <= report["bayes_ceiling_auc"] <= 1  # synthetic cohort: the ceiling is known
    md = (tiny_training["out"] / "tables.md").read_text()
    assert "ShuffleNet_LSTM" in md


def test_progress_events(tiny_training):
    stages = {e.get("stage") for e in tiny_training["events"]}
    assert {"preprocess", "train", "done"} <= stages
    members = {e["member"] for e in tiny_training["events"] if "member" in e}
    assert members == {"lstm/fold0", "lstm/fold1", "shufflenet/fold0", "shufflenet/fold1"}


# preprocesses the whole tiny cohort before the size check refuses it (issue 11)
@pytest.mark.slow
def test_too_small_cohort_is_refused_plainly(tiny_cohort, tiny_work_dir, tmp_path):
    settings = ExperimentSettings(n_folds=12, epochs=1, pretrained=False)
    events = []
    with pytest.raises(CohortError, match=r"too small for 12-fold training: its 17 development"):
        train_experiment(
            tiny_cohort, tmp_path / "out", settings, work_dir=tiny_work_dir, progress=events.append
        )
    assert "preprocess_kept" in {e.get("stage") for e in events}  # the kept arrays were used


# preprocesses the tiny cohort (training itself is replaced)
@pytest.mark.slow
def test_only_rank_zero_evaluates_and_writes(
    tiny_cohort, tiny_experiment_settings, tiny_work_dir, tmp_path, monkeypatch
):
    """Under torchrun every rank holds the same members after training; the others return
    None before the evaluation (which rank 1 used to repeat, bootstrap and all)."""
    import rehab_core.workflows.train as train_module

    def no_evaluation(*args, **kwargs):
        raise AssertionError("a rank other than 0 evaluated")

    monkeypatch.setattr(train_module, "is_main_process", lambda: False)
    monkeypatch.setattr(train_module, "_train_ensembles", lambda *a, **k: (None, {}, {}))
    monkeypatch.setattr(train_module, "_fit_and_tabulate", no_evaluation)
    events = []
    out = tmp_path / "out"
    report = train_experiment(
        tiny_cohort,
        out,
        tiny_experiment_settings(),
        progress=events.append,
        work_dir=tiny_work_dir,
    )
    assert report is None
    assert not any(out.iterdir())
    assert "evaluate" not in {e.get("stage") for e in events}


def test_settings_are_checked():
    with pytest.raises(ValueError, match=r"backbones='shufflenett' is not allowed.*shufflenet"):
        ExperimentSettings(backbones=("shufflenett",))
    with pytest.raises(ValueError, match=r"n_folds=1 must be at least 2"):
        ExperimentSettings(n_folds=1)
    with pytest.raises(ValueError, match=r"signal_epochs=0 must be at least 1"):
        ExperimentSettings(signal_epochs=0)


def test_the_lstm_can_have_its_own_epoch_budget():
    settings = ExperimentSettings(epochs=15, patience=4, signal_epochs=50, signal_patience=10)
    signal, image = settings.member_settings("signal", 0), settings.member_settings("image", 0)
    assert (signal.epochs, signal.early_stopping_patience) == (50, 10)
    assert (image.epochs, image.early_stopping_patience) == (15, 4)
    default = ExperimentSettings(epochs=7, patience=3).member_settings("signal", 0)
    assert (default.epochs, default.early_stopping_patience) == (7, 3)
    assert (signal.batch_size, image.batch_size) == (32, 16)


def test_no_model_ever_sees_a_test_or_held_out_patient(tiny_training):
    """Every fit_model call: its training and early-stopping patients are development
    patients outside the fold it scores, and the two sets are disjoint."""
    m = load_bundle(tiny_training["out"] / "shufflenet_lstm").manifest
    test = set(m.data.split.test)
    calls = tiny_training["fit_calls"]
    assert len(calls) == 4  # LSTM and ShuffleNet, two folds each
    held_out = []
    for train, stop in calls:
        assert train and stop and not train & stop
        assert not (train | stop) & test
        held_out.append(set(m.data.split.development) - train - stop)
    # each fold leaves out a different, non-empty part of the development patients
    assert all(held_out) and held_out[0] != held_out[1]


def test_image_members_reused_from_an_earlier_run(
    tiny_training, tiny_experiment_settings, tmp_path
):
    """Only the LSTM and the fusion are fitted again; the image members are the earlier ones."""
    import torch

    from rehab_core.signals import SignalSettings

    earlier = tiny_training["out"]
    train_experiment(
        tiny_training["cohort"],
        tmp_path,
        tiny_experiment_settings(),
        signal_settings=SignalSettings(representation="envelope", envelope_frame_s=0.5),
        image_members_from=earlier,
    )
    old, new = load_bundle(earlier / "shufflenet_lstm"), load_bundle(tmp_path / "shufflenet_lstm")
    for f in range(2):
        for key, value in old.part(f"image{f}").items():
            assert torch.equal(value, new.part(f"image{f}")[key])
    assert new.manifest.parts.signal.kwargs["n_times"] == 20  # 0.5-s frames
    record = new.manifest.training.image_members_from
    assert record["manifest_sha256"] == old.manifest.manifest_sha256
    assert new.manifest.training.histories["image"] == old.manifest.training.histories["image"]


def test_image_members_of_another_split_are_refused_before_preprocessing(
    tiny_training, tiny_experiment_settings, tmp_path, monkeypatch
):
    """Other folds (another seed) are seen in the bundle alone: the cohort is not preprocessed."""
    import rehab_core.pipeline

    def no_preprocessing(*args, **kwargs):
        raise AssertionError("a refused reuse must not preprocess the cohort")

    with monkeypatch.context() as m:
        m.setattr(rehab_core.pipeline, "prepare_cohort", no_preprocessing)
        with pytest.raises(ValueError, match=r"cannot be reused: the folds differ from this run"):
            train_experiment(
                tiny_training["cohort"],
                tmp_path,
                tiny_experiment_settings(seed=3),
                image_members_from=tiny_training["out"],
            )
    with pytest.raises(ValueError, match=r"holds no bundle to reuse the shufflenet members from"):
        train_experiment(
            tiny_training["cohort"],
            tmp_path,
            tiny_experiment_settings(),
            image_members_from=tmp_path,
        )


def test_training_report_lists_the_scores_behind_its_tables(tiny_training):
    report = json.loads((tiny_training["out"] / "evaluation.json").read_text())
    manifest = json.loads((tiny_training["out"] / "shufflenet_lstm" / "manifest.json").read_text())
    test_ids = sorted(manifest["data"]["split"]["test"])
    by_group = {r["group"]: r for r in report["predictions"]}
    assert set(by_group) == {"signal", "image", "fusion"}
    for group in ("image", "fusion"):
        assert sorted(by_group[group]["patients"]) == test_ids
    assert set(by_group["signal"]["patients"]) <= set(test_ids)
    aucs = {
        e["name"]: e["metrics"]["roc_auc"]["estimate"]
        for table in ("table1", "table2", "table3")
        for e in report["tables"][table]["evaluations"]
    }
    for record in report["predictions"]:
        assert len(record["y_true"]) == len(record["p_good"]) == len(record["patients"])
        if len(set(record["y_true"])) == 2:
            auc = roc_points(record["y_true"], record["p_good"])["auc"]
            assert auc == pytest.approx(aucs[record["name"]])
    assert set(report["bayes_p_good"]) == set(test_ids)


def test_image_members_of_another_split_are_refused_once_the_cohort_is_read(
    tiny_training, tiny_experiment_settings, tiny_work_dir, tmp_path
):
    """Same folds and seed, another test fraction: the split differs, seen after preprocessing.

    0.3, not 0.4: on the cohort-v2 tiny cohort 0.4 leaves a fold whose early-stopping set
    cannot hold both outcomes, so the size check refuses the run before the reuse check.
    """
    with pytest.raises(
        ValueError, match=r"cannot be reused: the development/test split differ from this run"
    ):
        train_experiment(
            tiny_training["cohort"],
            tmp_path / "out",
            tiny_experiment_settings(test_fraction=0.3),
            image_members_from=tiny_training["out"],
            work_dir=tiny_work_dir,
        )


def test_clinical_comparators_ceilings_and_statistics_in_the_report(tiny_training):
    """Issue 13: the clinical rows, each row's own ceiling, paired differences, decision curves."""
    from rehab_core.evaluation import CLINICAL_MODEL

    report = json.loads((tiny_training["out"] / "evaluation.json").read_text())
    names = {
        t: [r["Method"] for r in report["tables"][t]["rows"]]
        for t in ("table1", "table2", "table3")
    }
    assert report["clinical"]["omitted"] == {}  # the generator writes every clinical column
    assert CLINICAL_MODEL in names["table1"] and CLINICAL_MODEL in names["table3"]
    assert "ShuffleNet_LSTM + clinical" in names["table3"]
    manifest = load_bundle(tiny_training["out"] / "shufflenet_lstm").manifest
    assert set(manifest.metrics.clinical) == {CLINICAL_MODEL, "ShuffleNet_LSTM + clinical"}
    test = set(manifest.data.split.test)
    for record in report["comparator_predictions"]:
        assert set(record["patients"]) <= test
    assert report["ceiling_note"] == "Every row has the ceiling of what it sees."
    for t in ("table1", "table3"):
        assert "Fraction of ceiling" in report["tables"][t]["columns"]
    comparisons = report["tables"]["paired"]["comparisons"]
    assert {("ShuffleNet_LSTM", "ShuffleNet"), ("ShuffleNet_LSTM", "LSTM")} <= {
        (c["a"]["name"], c["b"]["name"]) for c in comparisons
    }
    assert len(report["diagnostics"]) == len(report["predictions"]) + len(
        report["comparator_predictions"]
    )
    md = (tiny_training["out"] / "tables.md").read_text()
    assert "Paired AUC differences" in md and "Calibration" in md
