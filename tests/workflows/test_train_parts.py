"""The parts of the training use case, each on its own: small seeded data, no training."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from rehab_core.io.cohort import CohortError
from rehab_core.training import ExperimentSettings
from rehab_core.workflows._train.ensemble import Ensemble
from rehab_core.workflows._train.fitting import fit_fusion
from rehab_core.workflows._train.plan import CohortTargets, plan_split
from rehab_core.workflows._train.reuse import ReusableImageMembers
from rehab_core.workflows._train.work_folder import (
    WorkFolder,
    cohort_fingerprint,
    run_identity,
)
from rehab_core.workflows.train import experiment_settings


def _targets(n: int = 24, seed: int = 0) -> CohortTargets:
    """``n`` patients alternating poor/good, with baseline and 3-month FMA-LE."""
    rng = np.random.default_rng(seed)
    ids = [f"sub-{i:03d}" for i in range(n)]
    return CohortTargets(
        labels={p: i % 2 for i, p in enumerate(ids)},
        baseline={p: float(rng.integers(0, 34)) for p in ids},
        fma_3m={p: float(rng.integers(0, 34)) for p in ids},
    )


def _arrays(targets: CohortTargets, *, without_signals: int = 2):
    """Stand-in CohortArrays: three items per patient, the last patients without EEG-EMG."""
    ids = sorted(targets.labels)
    with_signals = ids[: len(ids) - without_signals]
    return SimpleNamespace(
        windows=np.zeros((3 * len(with_signals), 2, 4), np.float32),
        window_patients=np.repeat(with_signals, 3),
        slices=np.zeros((3 * len(ids), 1, 2, 2), np.float32),
        slice_patients=np.repeat(ids, 3),
        inputs={p: {f"{p}.nii.gz": f"sha-{p}"} for p in ids},
        failures={},
        signal_sfreq=2.5,
    )


# --- experiment settings from user input -----------------------------------------------------
def test_experiment_settings_from_user_input():
    every = experiment_settings("all", n_folds=3.0, epochs=2.0, lr=1e-4, signal_epochs=None)
    assert every.backbones == ("fbnet", "ghostnet", "regnet", "resnet50", "shufflenet")
    assert (every.n_folds, every.epochs, every.lr) == (3, 2, 1e-4)
    assert isinstance(every.n_folds, int) and every.signal_epochs is None
    one = experiment_settings("shufflenet", trial=True)
    assert one.backbones == ("shufflenet",) and one.max_train_batches == 1
    assert experiment_settings(["fbnet", "regnet"]).backbones == ("fbnet", "regnet")
    with pytest.raises(ValueError, match=r"n_folds=1 must be at least 2"):
        experiment_settings("shufflenet", n_folds=1)
    with pytest.raises(ValueError, match=r"backbones='shufle' is not allowed"):
        experiment_settings("shufle")


# --- work folder -----------------------------------------------------------------------------
def test_work_folder_is_claimed_once_and_refuses_another_run(tmp_path):
    settings = ExperimentSettings(n_folds=2)
    identity = run_identity(settings, {"window_s": 10.0}, {"image_size": 224}, "f" * 64)
    work = WorkFolder(tmp_path / "work")
    work.claim(identity)
    assert json.loads((tmp_path / "work" / "run.json").read_text()) == identity
    work.claim(identity)  # the same run resumes
    other = run_identity(
        ExperimentSettings(n_folds=3), {"window_s": 5.0}, {"image_size": 224}, "f" * 64
    )
    with pytest.raises(
        ValueError, match=r"holds checkpoints of another training \(settings, signals differ\)"
    ):
        work.claim(other)


def test_work_folder_keeps_arrays_until_a_file_or_setting_changes(tmp_path):
    from rehab_core.imaging import ImagingSettings
    from rehab_core.signals import SignalSettings

    (tmp_path / "participants.tsv").write_text("participant_id\nsub-000\n")
    fmri = tmp_path / "sub-000_bold.nii.gz"
    fmri.write_bytes(b"not read here")
    cohort = SimpleNamespace(
        root=tmp_path,
        patients=[SimpleNamespace(signals_path=None, fmri_path=fmri)],
    )
    arrays = _arrays(_targets(4), without_signals=0)
    work = WorkFolder(tmp_path / "work")
    sig, img = SignalSettings(), ImagingSettings()
    assert work.kept_arrays(cohort, sig, img) is None
    work.keep_arrays(cohort, arrays, sig, img)
    kept = work.kept_arrays(cohort, sig, img)
    np.testing.assert_array_equal(kept.slices, arrays.slices)
    np.testing.assert_array_equal(kept.window_patients, arrays.window_patients)
    assert kept.inputs == arrays.inputs and kept.signal_sfreq == 2.5
    assert work.kept_arrays(cohort, SignalSettings(window_s=5.0), img) is None
    fmri.write_bytes(b"another file")
    assert work.kept_arrays(cohort, sig, img) is None


def test_work_folder_keeps_members_and_drops_a_damaged_one(tmp_path):
    from rehab_core.models import create_model

    model = create_model("lstm", n_chans=2, n_times=4)
    work = WorkFolder(tmp_path)
    assert work.kept_member("lstm", 0, "signal", {"n_chans": 2, "n_times": 4}) is None
    work.keep_member("lstm", 0, model, {"best_epoch": 1})
    again, history = work.kept_member("lstm", 0, "signal", {"n_chans": 2, "n_times": 4})
    assert history == {"best_epoch": 1}
    for key, value in model.state_dict().items():
        assert np.array_equal(value.numpy(), again.state_dict()[key].numpy())
    weights = work.member_dir("lstm", 0) / "member.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    assert work.kept_member("lstm", 0, "signal", {"n_chans": 2, "n_times": 4}) is None


def test_work_folder_writes_nothing_on_other_ranks(tmp_path, monkeypatch):
    from rehab_core.models import create_model

    monkeypatch.setenv("RANK", "1")
    work = WorkFolder(tmp_path / "work")
    work.claim(run_identity(ExperimentSettings(), {}, {}, "f" * 64))
    work.keep_member("lstm", 0, create_model("lstm", n_chans=2, n_times=4), {})
    assert not (tmp_path / "work").exists()


def test_cohort_fingerprint_follows_files_and_labels():
    inputs = {"a": {"x.txt": "1", "y.nii": "2"}, "b": {"z.nii": "3"}}
    base = cohort_fingerprint(inputs, {"a": 1, "b": 0})
    assert base == cohort_fingerprint(dict(reversed(inputs.items())), {"b": 0, "a": 1})
    assert base != cohort_fingerprint(inputs, {"a": 0, "b": 0})
    assert base != cohort_fingerprint({**inputs, "b": {"z.nii": "4"}}, {"a": 1, "b": 0})


# --- the split plan --------------------------------------------------------------------------
def test_plan_puts_aside_a_test_set_and_folds_the_rest():
    targets = _targets(24)
    plan = plan_split(_arrays(targets), targets, ExperimentSettings(n_folds=2), "cohort")
    assert len(plan.test_ids) and not set(plan.test_ids) & set(plan.dev_ids)
    assert list(plan.ids) == sorted(targets.labels)
    assert list(plan.eval_ids) == list(plan.test_ids)
    scored = np.concatenate([f.score for f in plan.folds])
    assert sorted(scored) == sorted(plan.dev_ids)
    for fold in plan.folds:
        assert not set(fold.train) & set(fold.score)
    cv = plan_split(_arrays(targets), targets, ExperimentSettings(test_fraction=0.0), "c")
    assert len(cv.test_ids) == 0 and list(cv.eval_ids) == list(cv.dev_ids)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"slices": None}, ValueError, "No patient of the cohort has a usable fMRI"),
        ({"windows": None}, ValueError, "No patient of the cohort has usable EEG-EMG"),
    ],
)
def test_plan_refuses_a_missing_modality(change, error, match):
    targets = _targets(24)
    arrays = _arrays(targets)
    for key, value in change.items():
        setattr(arrays, key, value)
    with pytest.raises(error, match=match):
        plan_split(arrays, targets, ExperimentSettings(n_folds=2), "cohort")


def test_plan_refuses_a_cohort_too_small_in_one_sentence():
    targets = _targets(16)
    with pytest.raises(
        CohortError,
        match=r"^demo is too small for 8-fold training: its 14 development patients hold 7 good "
        r"and 7 poor outcomes \(n_splits=8 but the smaller outcome group has only 7",
    ):
        plan_split(_arrays(targets), targets, ExperimentSettings(n_folds=8), "/data/demo")


# --- ensembles, fusion, reuse ----------------------------------------------------------------
def test_ensemble_scores_are_the_members_mean_and_out_of_fold():
    ens = Ensemble("lstm", oof={"a": 0.2}, test_scores=[{"t": 0.4}, {"t": 0.8}])
    np.testing.assert_allclose(ens.mean_scores(["t", "u"]), [0.6, np.nan])
    np.testing.assert_allclose(ens.oof_scores(["a", "b"]), [0.2, np.nan])


def test_fusion_and_fma_are_fitted_on_the_development_scores():
    targets = _targets(40, seed=1)
    arrays = _arrays(targets, without_signals=4)
    plan = plan_split(arrays, targets, ExperimentSettings(n_folds=2), "cohort")
    rng = np.random.default_rng(0)
    y_dev, y_eval = targets.y(plan.dev_ids), targets.y(plan.eval_ids)
    signal_dev = np.clip(0.5 + 0.3 * (y_dev - 0.5) + rng.normal(0, 0.1, y_dev.size), 0, 1)
    signal_dev[-2:] = np.nan  # development patients without EEG-EMG
    image_dev = rng.uniform(0, 1, y_dev.size)
    fit = fit_fusion(
        signal_dev,
        image_dev,
        np.full(y_eval.size, np.nan),
        rng.uniform(0, 1, y_eval.size),
        plan=plan,
        targets=targets,
        seed=0,
    )
    assert fit.fusion.weight_ > 0.5  # the informative signal score gets the weight
    assert fit.uses_baseline and fit.fma.uses_baseline_
    assert fit.fused_dev.shape == y_dev.shape and fit.fma_eval.shape == y_eval.shape
    assert np.all((fit.fma_eval >= 0) & (fit.fma_eval <= 34))


def test_reuse_of_an_earlier_bundle_of_other_patients_is_refused_before_preprocessing():
    from pathlib import Path

    from rehab_core.imaging import ImagingSettings

    weights = Path(__file__).resolve().parents[2] / "weights"
    settings = ExperimentSettings(n_folds=3, seed=0)
    with pytest.raises(
        ValueError, match=r"cannot be reused: the cohort and the fMRI preprocessing"
    ):
        ReusableImageMembers.check(
            weights, settings, ImagingSettings(image_size=64).to_dict(), {"sub-x"}
        )
    # ResNet50 is evaluated but not shipped (141 MB): the folder has no bundle of it
    assert not (weights / "resnet50_lstm").exists()
    with pytest.raises(ValueError, match=r"holds no bundle to reuse the resnet50 members from"):
        ReusableImageMembers.check(weights, ExperimentSettings(backbones=("resnet50",)), {}, set())
    none = ReusableImageMembers.check(None, settings, {}, set())
    assert "shufflenet" not in none and none.record("shufflenet") is None
