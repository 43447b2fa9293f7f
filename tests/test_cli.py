"""The ``rehab`` command line: ``rehab users`` creates accounts headless (no default password)."""

from __future__ import annotations

import io

import pytest

from rehab_core.cli import main
from rehab_core.security import audit_events, authenticate, list_users
from rehab_core.storage import open_store


def users(data_dir, *args: str, stdin: str | None = None, monkeypatch=None) -> int:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["users", *args, "--data-dir", str(data_dir)])


def test_users_add_reads_the_password_from_stdin_and_users_list_shows_it(
    tmp_path, monkeypatch, capsys
):
    data = tmp_path / "data"
    args = ("add", "--username", "Admin", "--role", "admin", "--password-stdin")
    assert users(data, *args, stdin="a long admin password\n", monkeypatch=monkeypatch) == 0
    assert capsys.readouterr().out == "created admin admin\n"
    args = ("add", "--username", "gina@hospital.org", "--role", "researcher", "--no-password")
    assert users(data, *args) == 0
    assert users(data, "list") == 0
    assert capsys.readouterr().out.splitlines()[-2:] == [
        "admin\tadmin\tactive\t",
        "gina@hospital.org\tresearcher\tactive\t",
    ]
    store = open_store(data_dir=data)
    try:
        assert authenticate(store, "admin", "a long admin password").role == "admin"
        creators = {e.target: e.username for e in audit_events(store, action="user_create")}
        assert set(creators) == {"user admin", "user gina@hospital.org"}
        assert all(name.startswith("cli:") for name in creators.values())
    finally:
        store.close()


def test_users_add_prompts_twice_and_refuses_different_passwords(tmp_path, monkeypatch, capsys):
    answers = iter(["first long password", "second long password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    args = ("add", "--username", "carol", "--role", "clinician")
    assert users(tmp_path / "data", *args) == 2
    assert capsys.readouterr().err == "rehab users: The two passwords differ.\n"


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short\n", "rehab users: The password must be at least 12 characters long.\n"),
        ("carol.smith1\n", "rehab users: The password must not be the user name.\n"),
    ],
)
def test_users_add_refusal_is_one_sentence(tmp_path, monkeypatch, capsys, password, message):
    args = ("add", "--username", "carol.smith1", "--role", "clinician", "--password-stdin")
    assert users(tmp_path / "data", *args, stdin=password, monkeypatch=monkeypatch) == 2
    assert capsys.readouterr().err == message
    store = open_store(data_dir=tmp_path / "data")
    try:
        assert list_users(store) == []
    finally:
        store.close()


@pytest.mark.parametrize(
    "raised",
    [
        "rehab_core.training.devices.gpu_out_of_memory",
        "torch.cuda.OutOfMemoryError",
    ],
)
def test_train_out_of_gpu_memory_is_one_sentence(tmp_path, monkeypatch, capsys, raised):
    import torch

    import rehab_core.workflows.train as experiment
    from rehab_core.training.devices import gpu_out_of_memory

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")
    error = (
        gpu_out_of_memory(torch.device("cuda", 0))
        if raised.endswith("gpu_out_of_memory")
        else torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")
    )

    def train_experiment(*args, **kwargs):
        raise error

    monkeypatch.setattr(experiment, "train_experiment", train_experiment)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    code = main(["train", "--cohort", str(tmp_path), "--out", str(tmp_path / "out"),
                 "--device", "cpu"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert err == "rehab train: out of GPU memory on GPU 2: try a smaller batch or one GPU\n"


@pytest.mark.parametrize(
    ("flag", "expected"), [([], "mni152"), (["--fmri-normalization", "none"], "none")]
)
def test_train_passes_the_fmri_normalization(tmp_path, monkeypatch, capsys, flag, expected):
    import rehab_core.workflows.train as experiment

    seen = {}

    def train_experiment(*args, imaging_settings=None, **kwargs):
        seen["imaging"] = imaging_settings
        return {"tables": {}, "seconds": 0.0}

    monkeypatch.setattr(experiment, "train_experiment", train_experiment)
    args = ["train", "--cohort", str(tmp_path), "--out", str(tmp_path / "o"), "--json", *flag]
    assert main([*args, "--device", "cpu"]) == 0
    assert seen["imaging"].normalization == expected


def test_train_passes_the_cpu_budget_options(tmp_path, monkeypatch):
    """The budget weights/README.md states is typed on the command line, not in a script."""
    import rehab_core.workflows.train as experiment

    seen = {}

    def train_experiment(*args, settings=None, imaging_settings=None, work_dir=None, **kwargs):
        seen.update(settings=args[2], imaging=imaging_settings, work_dir=work_dir)
        return {"tables": {}, "seconds": 0.0}

    monkeypatch.setattr(experiment, "train_experiment", train_experiment)
    args = ["train", "--cohort", str(tmp_path), "--out", str(tmp_path / "o"), "--json",
            "--backbone", "shufflenet, ghostnet", "--image-size", "112",
            "--slice-range-mm", "-40", "40", "--slice-step", "2",
            "--work-dir", str(tmp_path / "w"), "--device", "cpu"]  # fmt: skip
    assert main(args) == 0
    assert seen["settings"].backbones == ("shufflenet", "ghostnet")  # in the order given
    imaging = seen["imaging"]
    assert (imaging.image_size, imaging.slice_range_mm, imaging.slice_step) == (
        112,
        (-40.0, 40.0),
        2,
    )
    assert seen["work_dir"] == tmp_path / "w"


def test_train_refuses_an_unknown_backbone_in_a_list(tmp_path, capsys):
    args = ["train", "--cohort", str(tmp_path), "--out", str(tmp_path / "o"),
            "--backbone", "shufflenet,alexnet", "--device", "cpu"]  # fmt: skip
    assert main(args) == 2
    assert "alexnet" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), (102, 86)),
        (("--n-patients", "40"), (40, 34)),
        (("--n-patients", "40", "--n-with-signals", "40"), (40, 40)),
    ],
)
def test_demo_cohort_scales_the_eeg_emg_share_with_the_cohort(
    tmp_path, monkeypatch, args, expected
):
    """A smaller cohort keeps the paper's 86-of-102 EEG-EMG share without a second flag."""
    seen = {}

    def fake_generate(out, **kwargs):
        seen.update(kwargs)

    monkeypatch.setattr("rehab_core.demo.generate_cohort", fake_generate)
    assert main(["demo-cohort", "--out", str(tmp_path / "c"), *args]) == 0
    assert (seen["n_patients"], seen["n_with_signals"]) == expected


def test_repeated_cv_takes_the_training_options_and_writes_its_summary(tmp_path, monkeypatch):
    """rehab repeated-cv: the budget options of rehab train, every patient out of fold by
    default, and OUT.json / OUT.md from the workflow's summary."""
    import json

    import rehab_core.workflows.repeated_cv as repeated

    seen = {}

    def repeated_cross_validation(cohort, settings, **kwargs):
        seen.update(settings=settings, **kwargs)
        summary = {"n_repeats": kwargs["n_repeats"], "seeds": [0, 1], "rows": [], "seconds": 1.0}
        return {**summary, "settings": settings.to_dict()}

    monkeypatch.setattr(repeated, "repeated_cross_validation", repeated_cross_validation)
    out = tmp_path / "w" / "repeated_cv"
    args = ["repeated-cv", "--cohort", str(tmp_path), "--out", str(out), "--repeats", "2",
            "--folds", "3", "--signal-epochs", "50", "--image-size", "112",
            "--device", "cpu", "--work-dir", str(tmp_path / "a")]  # fmt: skip
    assert main(args) == 0
    assert seen["settings"].n_folds == 3 and seen["settings"].test_fraction == 0.0
    assert seen["settings"].signal_epochs == 50 and seen["imaging_settings"].image_size == 112
    assert (seen["n_repeats"], seen["images"], seen["work_dir"]) == (2, False, tmp_path / "a")
    assert json.loads(out.with_suffix(".json").read_text())["n_repeats"] == 2
    assert out.with_suffix(".md").read_text().startswith("Repeated 3-fold patient-level")
