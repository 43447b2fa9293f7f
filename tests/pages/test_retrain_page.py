"""The Retrain page through the real app (AppTest): cohort summary, submit, progress, versions.

The background runner is replaced by a recorder here (tests/jobs runs the real
one); everything else is real: the cohort check reads every recording, the
job row, the events file, the bundle and the promotion.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

import rehab_core.jobs as jobs
from rehab_core.security import audit_events
from rehab_core.storage import db
from rehab_core.storage.weights import manifest_digest

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
RETRAIN = "pages/retrain.py"


@pytest.fixture
def runner_starts(monkeypatch):
    """Calls of ensure_runner, which would start a real background process."""
    calls = []
    monkeypatch.setattr(jobs, "ensure_runner", lambda store: calls.append(store) or False)
    return calls


@pytest.fixture(autouse=True)
def cohorts_root(monkeypatch, tmp_path_factory):
    """The server's cohorts folder: the test session's temporary root (tiny_cohort, tmp_path)."""
    root = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("REHAB_COHORTS_DIR", str(root))
    return root


def open_retrain(signed_in, role: str = "researcher") -> AppTest:
    at = signed_in(AppTest.from_file(APP, default_timeout=180), role).run()
    at.switch_page(RETRAIN).run()
    assert not at.exception, at.exception
    return at


def labelled(elements, label: str):
    (found,) = [e for e in elements if e.label == label]
    return found


def use_folder(at: AppTest, folder: Path) -> AppTest:
    labelled(at.text_input, "Or the cohort folder's path").input(str(folder)).run()
    labelled(at.button, "Use this folder").click().run()
    assert not at.exception, at.exception
    return at


def test_empty_state_says_what_to_do(app_store, signed_in, runner_starts):
    at = open_retrain(signed_in)
    assert at.title[0].value == "Retrain the models on your cohort"
    infos = [i.value for i in at.info]
    assert "Pick a cohort folder or upload a zip to see its summary." in infos
    assert "No training job yet." in infos
    assert "No trained version yet; the prediction page uses the shipped models." in infos
    assert labelled(at.button, "Start training").disabled
    assert len(runner_starts) == 1  # every visit revives an orphaned queue


def test_cohort_summary_then_submit_queues_a_job(
    app_store, signed_in, runner_starts, tiny_cohort, hermetic_weights
):
    at = use_folder(open_retrain(signed_in), tiny_cohort)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Patients"] == "20"
    assert int(metrics["Good outcome"]) + int(metrics["Poor outcome"]) == 20
    assert metrics["Files that fail"] == "0"
    assert not at.error
    labelled(at.number_input, "Epochs (CNNs)").set_value(3)
    labelled(at.button, "Start training").click().run()
    assert not at.exception, at.exception
    # a second step, never one click: it says what starts, and that no estimate was measured
    assert jobs.list_jobs(app_store) == []
    # ... and, the form asking for ImageNet weights this offline machine lacks, that too
    (confirm,) = [w.value for w in at.warning if w.value.startswith("Start training")]
    assert confirm.startswith(
        "Start training 10 models on 20 patients? Its duration is not estimated yet: press "
        "Estimate the time to measure it. This server works offline and holds no ImageNet "
        "weights for ShuffleNet, so it would start from random weights"
    )
    labelled(at.button, "Cancel").click().run()
    assert not [w for w in at.warning if w.value.startswith("Start training")]
    assert jobs.list_jobs(app_store) == []
    labelled(at.button, "Start training").click().run()
    labelled(at.button, "Confirm: start training").click().run()
    assert not at.exception, at.exception
    (job,) = jobs.list_jobs(app_store)
    assert at.success[0].value == f"Training job {job.id} is queued; follow it on the Jobs tab."
    assert job.state == "queued" and job.created_by == "test-researcher"
    assert job.settings["experiment"]["epochs"] == 3
    assert job.settings["signals"]["representation"] == "envelope"
    assert job.settings["imaging"]["image_size"] == 224  # the paper's, unless Advanced says
    assert job.settings["experiment"]["max_train_batches"] is None
    assert Path(job.cohort) == Path(tiny_cohort).resolve()
    assert [e.action for e in audit_events(app_store, action="train_submit")] == ["train_submit"]
    assert [e.target for e in audit_events(app_store, action="cohort_check")] == [
        str(Path(tiny_cohort).resolve())
    ]


def test_unusable_cohort_is_refused_in_one_sentence(app_store, signed_in, runner_starts, tmp_path):
    folder = tmp_path / "no-table"
    folder.mkdir()
    at = use_folder(open_retrain(signed_in), folder)
    assert [e.value for e in at.error] == [
        "no-table has no participants.tsv; a cohort needs one row per patient with "
        "participant_id and fma_le_3m."
    ]
    assert labelled(at.button, "Start training").disabled


def test_a_folder_outside_the_cohorts_root_is_refused(
    app_store, signed_in, runner_starts, monkeypatch, tmp_path
):
    """Issue 14, finding 5: any folder on the server could be typed as a cohort."""
    monkeypatch.setenv("REHAB_COHORTS_DIR", str(tmp_path / "cohorts"))
    (tmp_path / "cohorts").mkdir()
    (tmp_path / "cohorts" / "escape").symlink_to("/etc")  # a link out is resolved first
    at = open_retrain(signed_in)
    for folder in ("/etc", str(tmp_path / "cohorts" / "escape"), str(tmp_path / "cohorts/../..")):
        use_folder(at, Path(folder))
        (error,) = [e.value for e in at.error]
        assert "is not inside the server's cohorts folder (" in error
        assert error.endswith("; ask the administrator to put it there.")
        assert "retrain_cohort" not in at.session_state
    refused = audit_events(app_store, action="cohort_check")
    assert len(refused) == 3 and all(e.details["refused"] for e in refused)


def test_unreadable_file_is_listed_with_its_reason(
    app_store, signed_in, runner_starts, tiny_cohort, tmp_path
):
    cohort = tmp_path / "cohort"
    shutil.copytree(tiny_cohort, cohort)
    (bold,) = (cohort / "sub-001" / "func").glob("*_bold.nii.gz")
    bold.write_bytes(b"not an image")
    at = use_folder(open_retrain(signed_in), cohort)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Files that fail"] == "1"
    (table,) = [d.value for d in at.dataframe if "error" in d.value.columns]
    assert table["participant_id"].tolist() == ["sub-001"]
    assert table["kind"].tolist() == ["fmri"]
    assert bold.name in table["error"][0]


def test_zip_upload_unpacks_a_cohort(app_store, signed_in, runner_starts, tiny_cohort):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in sorted(Path(tiny_cohort).rglob("*")):
            if path.is_file():
                zf.write(path, Path("mycohort") / path.relative_to(tiny_cohort))
    at = open_retrain(signed_in)
    at.radio[0].set_value("A zip to upload").run()
    at.file_uploader[0].upload("mycohort.zip", buffer.getvalue()).run()
    labelled(at.button, "Unpack and use").click().run()
    assert not at.exception and not at.error, at.error
    assert {m.label: m.value for m in at.metric}["Patients"] == "20"
    (unpacked,) = (app_store.data_dir / "cohorts").iterdir()
    assert (unpacked / "mycohort" / "participants.tsv").is_file()


def test_zip_with_traversal_is_refused(app_store, signed_in, runner_starts):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("../evil.txt", b"x")
    at = open_retrain(signed_in)
    at.radio[0].set_value("A zip to upload").run()
    at.file_uploader[0].upload("evil.zip", buffer.getvalue()).run()
    labelled(at.button, "Unpack and use").click().run()
    assert [e.value for e in at.error] == [
        "evil.zip holds a member named '../evil.txt', which has an empty, '.' or '..' part; "
        "expected plain relative paths such as sub-001/eeg/rec.txt."
    ]
    assert not list((app_store.data_dir / "cohorts").iterdir())  # nothing kept half-way
    (refused,) = audit_events(app_store, action="upload_refused")  # issue 14, finding 6
    assert refused.details["kind"] == "cohort zip"
    assert refused.details["reason"].startswith("<file> holds a member named '../evil.txt'")


def _running_job(store, cohort, fast_settings) -> jobs.JobRecord:
    job = jobs.submit_job(store, cohort, fast_settings, created_by="someone")
    with Session(store.engine) as session, session.begin():
        row = session.get(db.TrainingJob, job.id)
        row.state = "running"
        row.progress = {
            "stage": "train", "member": "lstm/fold0", "epoch": 2, "n_epochs": 3,
            "batch": 1, "n_batches": 4, "members_done": 0, "n_members": 4,
            "job_eta_s": 95.0, "loss": 0.61,
        }  # fmt: skip
    events = [
        {"event": "epoch", "member": "lstm/fold0", "epoch": 1, "train_loss": 0.7,
         "val_loss": 0.69, "val_auc": 0.5},
        {"event": "epoch", "member": "lstm/fold0", "epoch": 2, "train_loss": 0.6,
         "val_loss": 0.66, "val_auc": None},
    ]  # fmt: skip
    (job.work_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (job.work_dir / "log.txt").write_text("lstm/fold0 epoch 2/3: train loss 0.6000\n")
    return job


def test_running_job_shows_progress_curves_log_and_cancels(
    app_store, signed_in, runner_starts, tiny_cohort, tiny_experiment_settings
):
    job = _running_job(app_store, tiny_cohort, tiny_experiment_settings())
    at = open_retrain(signed_in)
    # one batch per epoch (max_train_batches=1): marked in the jobs table
    (table,) = [d.value for d in at.dataframe if "kind" in d.value.columns]
    assert table["kind"].tolist() == ["trial, not for patients"]
    (bar,) = at.get("progress")
    assert "LSTM, fold 1: epoch 2/3, batch 1/4 · member 1 of 4 · time left at most" in (
        bar.proto.text
    )
    (chart,) = at.get("plotly_chart")
    spec = json.loads(chart.proto.spec)
    assert [t["y"] for t in spec["data"][:2]] == [[0.7, 0.6], [0.69, 0.66]]
    assert not at.code  # the log is shown on request, and its view audited once per opening
    labelled(at.toggle, "Show the log").set_value(True).run()
    assert "lstm/fold0 epoch 2/3" in at.code[0].value
    at.run()
    assert "lstm/fold0 epoch 2/3" in at.code[0].value
    assert [(e.username, e.target) for e in audit_events(app_store, action="job_log_view")] == [
        ("test-researcher", f"job {job.id}")
    ]
    labelled(at.button, "Cancel this job").click().run()
    assert not at.exception, at.exception
    assert jobs.get_job(app_store, job.id).cancel_requested
    assert [e.username for e in audit_events(app_store, action="train_cancel")] == [
        "test-researcher"
    ]


def _full_run_copy(bundle: Path, target: Path) -> Path:
    """The tiny (trial) bundle as a full run would record it: no max_train_batches."""
    shutil.copytree(bundle, target)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["training"]["settings"]["max_train_batches"] = None
    manifest["manifest_sha256"] = manifest_digest(manifest)
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


def test_a_trial_run_or_ones_own_version_cannot_be_promoted_and_the_page_says_why(
    app_store, signed_in, runner_starts, tiny_training, tmp_path
):
    """Issue 14, finding 8: any researcher could promote any version, trial runs included."""
    trial = tiny_training["out"] / "shufflenet_lstm"
    with Session(app_store.engine) as session, session.begin():
        trial_id = jobs.versions.register_bundle(
            session, trial, data_dir=app_store.data_dir, created_by="r"
        ).id
    at = open_retrain(signed_in)
    assert labelled(at.button, "Promote to default").disabled
    (table,) = [d.value for d in at.table if "" in d.value.columns]
    use = dict(zip(table[""], table[f"v{trial_id}"], strict=True))["Use"]
    assert use == "trial, not for patients"
    shipped = dict(zip(table[""], table["shipped"], strict=True))
    assert shipped["Use"] == "patients"
    assert shipped["Default"] == "yes"  # nothing promoted: the shipped bundle is what predicts
    assert dict(zip(table[""], table[f"v{trial_id}"], strict=True))["Default"] == ""
    assert (
        f"v{trial_id} is a trial run (one batch per epoch) and can never be the default; "
        "train it in full first." in [c.value for c in at.caption]
    )
    own = _full_run_copy(trial, tmp_path / "own")
    with Session(app_store.engine) as session, session.begin():
        own_id = jobs.versions.register_bundle(
            session, own, data_dir=app_store.data_dir, created_by="test-researcher"
        ).id
    at.run()
    (picker,) = [s for s in at.selectbox if s.label == "Version to promote"]
    picker.set_value(f"v{own_id}").run()
    assert labelled(at.button, "Promote to default").disabled
    assert f"You trained v{own_id}; another researcher or an administrator must promote it." in [
        c.value for c in at.caption
    ]
    assert jobs.default_version(app_store, "shufflenet_lstm") is None


def test_versions_compare_and_promote(app_store, signed_in, runner_starts, tiny_training, tmp_path):
    bundle = _full_run_copy(tiny_training["out"] / "shufflenet_lstm", tmp_path / "full")
    with Session(app_store.engine) as session, session.begin():
        version_id = jobs.versions.register_bundle(
            session, bundle, data_dir=app_store.data_dir, created_by="r"
        ).id
    at = open_retrain(signed_in)
    compare = [d.value for d in at.table if "" in d.value.columns]
    (table,) = compare
    assert list(table.columns) == ["", f"v{version_id}", "shipped"]
    assert table[""].tolist()[0] == "Fused ROC AUC"
    assert at.markdown[-1].value.startswith(
        "The prediction page uses **the model shipped with this software** for ShuffleNet + LSTM"
    )
    labelled(at.button, "Promote to default").click().run()
    assert not at.exception, at.exception
    # a second step, never one click: it says what changes for the clinicians
    assert jobs.default_version(app_store, "shufflenet_lstm") is None
    assert [w.value for w in at.warning if w.value.startswith("Make ")] == [
        f"Make ShuffleNet + LSTM v{version_id} the default? Every prediction made from now on, "
        "for every clinician, uses it instead of the model shipped with this software."
    ]
    labelled(at.button, "Confirm: promote").click().run()
    assert not at.exception, at.exception
    promoted = jobs.default_version(app_store, "shufflenet_lstm")
    assert promoted.id == version_id and promoted.promoted_by == "test-researcher"
    assert jobs.model_path(app_store, "shufflenet_lstm") == bundle.resolve()
    assert [e.target for e in audit_events(app_store, action="promote")] == [
        f"model version {version_id}"
    ]
    # the promoted version stays in the comparison (a widget holding records would drop it)
    (table,) = [d.value for d in at.table if "" in d.value.columns]
    assert f"v{version_id}" in table.columns
    labelled(at.button, "Go back to the shipped bundle").click().run()
    assert jobs.default_version(app_store, "shufflenet_lstm") is None


def test_promote_waits_for_the_confirmation_and_cancel_changes_nothing(
    app_store, signed_in, runner_starts, tiny_training, tmp_path
):
    """Issue 15: one click on Promote replaced the model every clinician uses."""
    bundle = _full_run_copy(tiny_training["out"] / "shufflenet_lstm", tmp_path / "full")
    with Session(app_store.engine) as session, session.begin():
        jobs.versions.register_bundle(session, bundle, data_dir=app_store.data_dir, created_by="r")
    at = open_retrain(signed_in)
    labelled(at.button, "Promote to default").click().run()
    assert jobs.default_version(app_store, "shufflenet_lstm") is None
    assert audit_events(app_store, action="promote") == []
    assert labelled(at.button, "Confirm: promote")
    labelled(at.button, "Cancel").click().run()
    assert not at.exception, at.exception
    assert not [b for b in at.button if b.label == "Confirm: promote"]
    assert not [w for w in at.warning if w.value.startswith("Make ")]
    assert jobs.default_version(app_store, "shufflenet_lstm") is None
    assert audit_events(app_store, action="promote") == []


def test_clinician_cannot_open_retrain(app_store, signed_in, runner_starts):
    at = signed_in(AppTest.from_file(str(ROOT / RETRAIN), default_timeout=60), "clinician").run()
    assert [e.value for e in at.error] == [
        "This page is for the researcher role and above; you are signed in as clinician."
    ]
    assert not at.button
    assert runner_starts == []
    (refused,) = audit_events(app_store, action="access_refused")  # issue 14, finding 6
    assert (refused.target, refused.details) == (
        "page",
        {"needs": "researcher", "role": "clinician"},
    )


def test_estimate_button_shows_the_measured_bound(
    app_store, signed_in, runner_starts, tiny_cohort, monkeypatch
):
    asked = []

    def fake(backbones, **kwargs):
        asked.append((backbones, kwargs))
        return {
            "label": "at most about 12 min on cpu",
            "assumptions": ["Every epoch runs: an upper bound."],
            "per_model_s": {"lstm": 60.0, "shufflenet": 49212.0},
            "items_per_s": {"lstm": 400.0, "shufflenet": 20.0},
        }

    monkeypatch.setattr(jobs, "estimate_in_subprocess", fake)
    at = use_folder(open_retrain(signed_in), tiny_cohort)
    labelled(at.button, "Estimate the time").click().run()
    assert not at.exception, at.exception
    assert "Training would take at most about 12 min on cpu." in [i.value for i in at.info]
    # hours and minutes, never "820.2 min"
    (table,) = [d.value for d in at.dataframe if "time" in d.value.columns]
    assert table["time"].tolist() == ["1 min", "13 h 40 min"]
    # Start training then shows the measured estimate in its confirmation
    labelled(at.button, "Start training").click().run()
    assert any(
        w.value.startswith(
            "Start training 10 models on 20 patients? It would take at most about 12 min on cpu."
        )
        for w in at.warning
    )
    ((backbones, kwargs),) = asked
    assert backbones == ["shufflenet"] and kwargs["epochs"] == 50 and kwargs["n_folds"] == 5
    assert kwargs["window_shape"] == (22, 25)  # 10-s windows of 0.4-s envelope frames
    assert kwargs["n_windows"] >= 18 and kwargs["n_slices"] >= 20 * 35


def test_the_scheduling_policy_is_stated(app_store, signed_in, runner_starts):
    """What a job would get: device, batch as set, the learning-rate rule (issue 16)."""
    at = open_retrain(signed_in)
    devices = list(labelled(at.selectbox, "Device").options)
    assert devices[0] == "The folds over the free GPUs (one GPU if one is free), else the CPU"
    captions = " ".join(c.value for c in at.caption)
    assert "Batch: 32 windows and 16 slices" in captions
    assert "Learning rate 0.001 as set: the global batch does not change" in captions


def test_a_finished_job_says_its_image_models_started_without_imagenet_weights(
    app_store, signed_in, runner_starts, tiny_cohort, tiny_experiment_settings
):
    """Issue 15: the ImageNet fallback was only a Python warning in the raw log."""
    root = Path(__file__).resolve().parents[2] / "weights" / "shufflenet_lstm"
    asked = jobs.submit_job(app_store, tiny_cohort, tiny_experiment_settings(pretrained=True))
    plain = jobs.submit_job(app_store, tiny_cohort, tiny_experiment_settings(pretrained=False))
    with Session(app_store.engine) as session, session.begin():
        for job in (asked, plain):
            version = jobs.versions.register_bundle(
                session, root, data_dir=app_store.data_dir, job_id=job.id
            )
            row = session.get(db.TrainingJob, job.id)
            row.state = "finished"
            row.progress = {"stage": "done", "seconds": 65.0, "versions": [version.id]}
    # the shipped bundle's image models started from random weights: its manifest says so
    assert jobs.get_version(app_store, 1).path.samefile(root)
    sentence = (
        "ImageNet weights were asked for but could not be loaded (no download, no local copy), "
        "so the image models of v1 (job 1) started from random weights; set "
        "REHAB_PRETRAINED_DIR to a folder of ImageNet weights, or untick the box."
    )
    assert jobs.imagenet_fallback(app_store, jobs.get_job(app_store, asked.id)) == sentence
    assert jobs.imagenet_fallback(app_store, jobs.get_job(app_store, plain.id)) == ""  # not asked
    at = open_retrain(signed_in)
    labelled(at.selectbox, "Job").set_value(asked.id).run()
    assert not at.exception, at.exception
    assert sentence in [w.value for w in at.warning]
    assert "Finished in 1 min; new model version v1 (see Model versions)." in [
        s.value for s in at.success
    ]


def test_one_click_sets_up_the_missing_model_as_the_installed_ones_were_trained(
    app_store, signed_in, runner_starts, tiny_cohort
):
    """ResNet50 + LSTM was evaluated, not shipped (issue 13): one click fills the form with
    the shipped models' budget, read from their manifest, and ResNet50 alone."""
    at = use_folder(open_retrain(signed_in), tiny_cohort)
    assert any(
        i.value.startswith("ResNet50 + LSTM is in the shipped evaluation but not installed here")
        for i in at.info
    )
    labelled(at.button, "Set up ResNet50 + LSTM as the installed models were trained").click()
    at.run()
    assert not at.exception, at.exception
    backbones = labelled(
        at.multiselect, "Image backbones (each gives one fusion model with the LSTM)"
    )
    assert backbones.value == ["resnet50"]
    labelled(at.button, "Start training").click().run()
    assert [w.value for w in at.warning if w.value.startswith("Start training")] == [
        "Start training 6 models on 20 patients? Its duration is not estimated yet: press "
        "Estimate the time to measure it."
    ]  # 3 folds x (LSTM + ResNet50)
    labelled(at.button, "Confirm: start training").click().run()
    (job,) = jobs.list_jobs(app_store)
    experiment, imaging = job.settings["experiment"], job.settings["imaging"]
    assert experiment["backbones"] == ["resnet50"]
    assert (experiment["n_folds"], experiment["epochs"], experiment["patience"]) == (3, 15, 4)
    assert (experiment["signal_epochs"], experiment["signal_patience"]) == (50, 10)
    assert experiment["pretrained"] is False and experiment["test_fraction"] == 0.0
    assert imaging["image_size"] == 112
    assert imaging["slice_range_mm"] == [-40.0, 40.0] and imaging["slice_step"] == 2
    assert job.settings["signals"]["representation"] == "envelope"


def test_the_paper_budget_is_one_click(
    app_store, signed_in, runner_starts, tiny_cohort, hermetic_weights
):
    at = use_folder(open_retrain(signed_in), tiny_cohort)
    labelled(at.button, "The shipped models' budget (fits a 2-core CPU)").click().run()
    assert labelled(at.number_input, "Slice size fed to the CNNs (pixels)").value == 112
    labelled(at.button, "The paper's budget (for a GPU)").click().run()
    assert not at.exception, at.exception
    assert labelled(at.number_input, "Slice size fed to the CNNs (pixels)").value == 224
    assert labelled(at.number_input, "Folds (ensemble size)").value == 5
    assert labelled(at.selectbox, "LSTM input").value == "raw"
    assert labelled(at.checkbox, "Start from ImageNet weights").value is True
    # this machine is offline with no ImageNet weights: said before the job, not after it
    (before,) = [w.value for w in at.warning if "holds no ImageNet weights" in w.value]
    assert before.startswith("This server works offline and holds no ImageNet weights for")
    labelled(at.button, "Start training").click().run()
    (confirm,) = [w.value for w in at.warning if w.value.startswith("Start training")]
    assert confirm.endswith(before)
    labelled(at.button, "Confirm: start training").click().run()
    (job,) = jobs.list_jobs(app_store)
    assert job.settings["imaging"]["slice_range_mm"] is None
    assert job.settings["imaging"]["image_size"] == 224
    assert job.settings["experiment"]["epochs"] == 50
