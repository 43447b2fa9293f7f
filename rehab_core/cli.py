"""The ``rehab`` command line.

Every sub-command is a thin shell over :mod:`rehab_core`; heavy packages are
imported only by the sub-command that needs them, so ``rehab --help`` is fast.
A refused input ends the command with one plain sentence on stderr and exit
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "build_parser"]

_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def _command(name: str):
    def register(func):
        _COMMANDS[name] = func
        return func

    return register


def _progress_bar(total: int, desc: str):
    """A tqdm bar on stderr (silent when stderr is not a terminal and CI is set)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="patient", file=sys.stderr, leave=False)


@_command("demo-cohort")
def _demo_cohort(args: argparse.Namespace) -> int:
    from rehab_core.demo import generate_cohort

    kwargs = {
        "n_patients": args.n_patients,
        # The paper's proportion (86 of 102 patients had EEG-EMG) unless told otherwise, so a
        # smaller cohort needs no second flag.
        "n_with_signals": (
            round(args.n_patients * 86 / 102)
            if args.n_with_signals is None
            else args.n_with_signals
        ),
        "seed": args.seed,
        "n_jobs": args.jobs,
    }
    if args.minutes is not None:
        kwargs["minutes"] = args.minutes
    if args.volumes is not None:
        kwargs["volumes"] = args.volumes
    with _progress_bar(args.n_patients, "generating patients") as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        info = generate_cohort(args.out, progress=progress, **kwargs)
    print(f"wrote the synthetic cohort to {Path(args.out).resolve()}")
    summary = getattr(info, "summary", None)
    if callable(summary):
        print(summary())
    return 0


@_command("preprocess")
def _preprocess(args: argparse.Namespace) -> int:
    from rehab_core.pipeline import preprocess_patient

    report = preprocess_patient(signals=args.signals, fmri=args.fmri)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        from rehab_core.pipeline import format_preprocess_report

        print(format_preprocess_report(report))
    return 0


class _TrainProgress:
    """Turns training events into one tqdm bar per ensemble member."""

    def __init__(self) -> None:
        self.bar = None
        self.member = None

    def __call__(self, event: dict) -> None:
        from tqdm.auto import tqdm

        stage = event.get("stage")
        if stage == "preprocess" and "total" in event:
            if self.member != "preprocess":
                self._close()
                self.member = "preprocess"
                self.bar = tqdm(
                    total=event["total"],
                    desc="preprocessing",
                    unit="patient",
                    file=sys.stderr,
                    leave=False,
                )
            self.bar.n = event["done"]
            self.bar.refresh()
            return
        member = event.get("member")
        if member is None or event.get("event") not in ("batch", "epoch"):
            return
        if member != self.member:
            self._close()
            self.member = member
            self.bar = tqdm(
                desc=f"training {member}",
                unit="epoch",
                total=event.get("n_epochs"),
                file=sys.stderr,
                leave=False,
            )
        if event["event"] == "epoch":
            self.bar.n = event["epoch"]
            self.bar.set_postfix(
                val_loss=f"{event.get('val_loss', float('nan')):.3f}",
                val_auc=f"{event.get('val_auc', float('nan')):.2f}",
            )
            self.bar.refresh()

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self) -> None:
        self._close()


@contextlib.contextmanager
def _training_progress() -> Iterator[_TrainProgress]:
    """Progress bars of a training; a GPU out of memory outside ``fit_model`` in one sentence."""
    import torch

    from rehab_core.training.devices import gpu_out_of_memory

    progress = _TrainProgress()
    try:
        yield progress
    except torch.cuda.OutOfMemoryError as err:  # outside fit_model, e.g. while scoring
        raise gpu_out_of_memory() from err
    finally:
        progress.close()


def _write_summary(out: Path, summary: dict[str, Any], text: str) -> None:
    """``OUT.json`` (strict JSON) and ``OUT.md`` of a summary command; the Markdown printed."""
    from rehab_core._json import to_jsonable

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(to_jsonable(summary), indent=2) + "\n")
    out.with_suffix(".md").write_text(text)
    print(text)


@_command("train")
def _train(args: argparse.Namespace) -> int:
    from rehab_core.workflows.train import train_experiment

    settings, signal_settings, imaging_settings = _training_settings(args)
    with _training_progress() as progress:
        report = train_experiment(
            args.cohort,
            args.out,
            settings,
            signal_settings=signal_settings,
            imaging_settings=imaging_settings,
            n_jobs=args.jobs,
            progress=progress,
            data_description=args.description,
            image_members_from=args.reuse_image_members,
            work_dir=args.work_dir,
        )
    if report is None:  # a torchrun rank other than 0: rank 0 evaluates, writes and prints
        return 0
    if args.json:
        print(json.dumps(report["tables"], indent=2))
    else:
        print((Path(args.out) / "tables.md").read_text())
        print(
            f"bundles and evaluation.json written to {Path(args.out).resolve()}"
            f" in {report['seconds']:.0f} s"
        )
    return 0


def _training_settings(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """Experiment, signal and imaging settings from the options of `_add_training_options`."""
    from rehab_core.imaging import ImagingSettings
    from rehab_core.signals import SignalSettings
    from rehab_core.workflows.train import experiment_settings

    settings = experiment_settings(
        args.backbone,
        n_folds=args.folds,
        test_fraction=args.test_fraction,
        seed=args.seed,
        pretrained=not args.no_pretrained,
        epochs=args.epochs,
        patience=args.patience,
        signal_epochs=args.signal_epochs,
        signal_patience=args.signal_patience,
        device=args.device,
        max_train_batches=args.max_train_batches,
    )
    signal_settings = SignalSettings(
        resample_sfreq=args.signal_rate, representation=args.signal_input
    )
    imaging_settings = ImagingSettings(
        normalization=args.fmri_normalization,
        image_size=args.image_size,
        slice_range_mm=args.slice_range_mm,
        slice_step=args.slice_step,
    )
    return settings, signal_settings, imaging_settings


@_command("evaluate")
def _evaluate(args: argparse.Namespace) -> int:
    from rehab_core.workflows.evaluate import evaluate_cohort

    report = evaluate_cohort(args.cohort, args.weights, n_jobs=args.jobs, cache_dir=args.work_dir)
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k != "markdown"}, indent=2))
    else:
        print(report["markdown"])
        for model_id, entry in report["models"].items():
            fma = entry["fma"]
            mae = "n/a" if fma is None else f"{fma['mae']:.1f} points"
            print(
                f"{model_id}: {entry['n_patients']} patients scored, "
                f"{entry['n_left_out_as_training_patients']} left out as patients it learnt from; "
                f"fusion weight {entry['fusion_weight']:.2f}, FMA-LE MAE {mae}"
            )
    return 0


@_command("external-summary")
def _external_summary(args: argparse.Namespace) -> int:
    from rehab_core.evaluation import external_markdown, external_summary

    reports = {}
    for item in args.reports:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(
                f"{item!r}: give each report as NAME=FILE, e.g. seed1=eval_seed1.json."
            )
        reports[name] = json.loads(Path(path).read_text())
    summary = external_summary(reports)
    summary["reports"] = {
        n: i.partition("=")[2] for n, i in zip(reports, args.reports, strict=True)
    }
    _write_summary(args.out, summary, external_markdown(summary))
    return 0


@_command("repeated-cv")
def _repeated_cv(args: argparse.Namespace) -> int:
    from rehab_core.workflows.repeated_cv import repeated_cross_validation, repeated_cv_markdown

    settings, signal_settings, imaging_settings = _training_settings(args)
    with _training_progress() as progress:
        summary = repeated_cross_validation(
            args.cohort,
            settings,
            n_repeats=args.repeats,
            images=args.images,
            signal_settings=signal_settings,
            imaging_settings=imaging_settings,
            n_jobs=args.jobs,
            work_dir=args.work_dir,
            progress=progress,
        )
    _write_summary(args.out, summary, repeated_cv_markdown(summary))
    print(f"written to {Path(args.out).with_suffix('.json')} in {summary['seconds']:.0f} s")
    return 0


@_command("compare-runs")
def _compare_runs(args: argparse.Namespace) -> int:
    from rehab_core.evaluation import compare_runs, compare_runs_markdown

    def read(paths: Sequence[Path]) -> tuple[dict, dict]:
        return tuple(json.loads(Path(p).read_text()) for p in paths)  # type: ignore[return-value]

    development = None if args.development is None else read(args.development)
    external = {}
    for name, *paths in args.external or []:
        if name in external:
            raise ValueError(f"--external {name} is given twice; name each cohort once.")
        external[name] = read(paths)
    summary = compare_runs(
        development, external, names=tuple(args.names), rows=args.rows, seed=args.seed
    )
    summary["reports"] = {
        "development": None if args.development is None else [str(p) for p in args.development],
        **{name: paths for name, *paths in args.external or []},
    }
    _write_summary(args.out, summary, compare_runs_markdown(summary))
    return 0


@_command("half-precision")
def _half_precision(args: argparse.Namespace) -> int:
    from rehab_core.storage import half_precision_bundle

    out = half_precision_bundle(args.bundle, args.out)
    size = (out / "model.safetensors").stat().st_size
    print(f"{out}: weights stored in float16 ({size / 1e6:.1f} MB)")
    return 0


@_command("predict")
def _predict(args: argparse.Namespace) -> int:
    from rehab_core._json import to_jsonable
    from rehab_core.io import PAPER_CHANNELS, channel_label, read_channel_map
    from rehab_core.report import prediction_call, prediction_lines, short_sha
    from rehab_core.workflows.predict import load_model, predict_patient

    refusal = ""
    if args.channel_map is not None and (args.cohort is not None or args.signals is None):
        # a map names one recording's channels: the dashboard keeps it with one upload
        refusal = "--channel-map renames the channels of the one recording given with --signals"
    elif args.cohort is None and args.fmri is None:
        refusal = "give --fmri FILE (and --signals FILE), or --cohort DIR"
    if refusal:
        print(f"rehab predict: {refusal}.", file=sys.stderr)
        return 2
    # read before the model loads: a malformed map is refused at once
    channel_map = read_channel_map(args.channel_map) if args.channel_map is not None else {}
    predictor = load_model(args.model, args.weights)
    if args.cohort is not None:
        return _predict_cohort(predictor, args)
    pred = predict_patient(
        predictor,
        args.signals,
        args.fmri,
        baseline_fma=args.baseline_fma,
        channel_map=channel_map,  # applied on reading, as the dashboard applies an upload's
    ).prediction
    out = pred.to_dict()
    out["channel_map"] = channel_map
    if args.json:
        keys = (
            "probability_good",
            "interval",
            "label",
            "signal_score",
            "image_score",
            "fusion_weight",
            "fma_3m",
            "model_id",
            "inputs",
            "modality",
            "notes",
            "fma_interval",
            "threshold",
            "weights_sha256",
            "manifest_sha256",
            "package_version",
            "channel_map",
        )
        shown = {k: out[k] for k in keys}
        verdict = prediction_call(out)  # good, poor or borderline (the page's and PDF's rule)
        shown["call"], shown["call_reasons"] = verdict.call, list(verdict.reasons)
        # what the bundle was trained on, from its manifest
        shown["trained_on"] = predictor.manifest.trained_on
        shown["imagenet_pretrained"] = predictor.manifest.imagenet_pretrained
        # strict JSON: a value that cannot be computed (FMA without a baseline) is null
        print(json.dumps(to_jsonable(shown), indent=2, allow_nan=False))
        return 0
    # the dashboard's and the PDF's text, then what the prediction was made from
    for label, text in prediction_lines(out):
        print(f"{label}: {text}")
    print(f"Model: {pred.model_id} (weights {short_sha(pred.weights_sha256)})")
    for path, sha in pred.inputs.items():
        print(f"  {short_sha(sha)}  {path}")
    spelled = {c.lower(): c for c in PAPER_CHANNELS}  # the map held: every target is one
    for source, target in channel_map.items():
        name = spelled[target.lower()]
        shown = name if channel_label(name) == name else f"{channel_label(name)} ({name})"
        print(f"  channel {source} read as {shown}")
    return 0


def _predict_cohort(predictor, args: argparse.Namespace) -> int:
    import csv

    from rehab_core.io import InputError
    from rehab_core.io.cohort import read_cohort
    from rehab_core.workflows.predict import predict_patient

    cohort = read_cohort(args.cohort, require_labels=False)
    out = Path(args.out or "predictions.csv")
    fields = [
        "participant_id",
        "probability_good",
        "interval_low",
        "interval_high",
        "label",
        "signal_score",
        "image_score",
        "fusion_weight",
        "modality",
        "fma_3m",
        "error",
    ]
    rows = []
    from tqdm.auto import tqdm

    for p in tqdm(cohort.patients, desc="predicting", unit="patient", file=sys.stderr, leave=False):
        row = {"participant_id": p.participant_id}
        try:
            if p.fmri_path is None:
                raise InputError(f"{p.participant_id} has no fMRI; the model needs one.")
            base = p.baseline_fma
            pred = predict_patient(
                predictor,
                p.signals_path,
                p.fmri_path,
                baseline_fma=None if base != base else base,
            ).prediction
            row.update(
                probability_good=f"{pred.probability_good:.4f}",
                interval_low=f"{pred.interval[0]:.4f}",
                interval_high=f"{pred.interval[1]:.4f}",
                label=pred.label,
                signal_score="" if pred.signal_score is None else f"{pred.signal_score:.4f}",
                image_score=f"{pred.image_score:.4f}",
                fusion_weight=f"{pred.fusion_weight:.3f}",
                modality=pred.modality,
                fma_3m=f"{pred.fma_3m:.1f}",
            )
        except InputError as err:
            row["error"] = str(err)
        rows.append(row)
    from rehab_core.security.audit import _cell as spreadsheet_safe  # the audit export's helper

    with open(out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        # participant ids and error sentences come from the cohort's files: a cell starting
        # with = + - @ would run as a formula in a spreadsheet (OWASP CSV injection)
        text = ("participant_id", "label", "modality", "error")  # numbers stay numbers
        writer.writerows(
            {
                k: spreadsheet_safe(v) if k in text and isinstance(v, str) else v
                for k, v in row.items()
            }
            for row in rows
        )
    print(f"wrote {len(rows)} predictions to {out}")
    return 0


@_command("users")
def _users(args: argparse.Namespace) -> int:
    import getpass

    from rehab_core.security import create_user, list_users
    from rehab_core.storage import open_store

    store = open_store(data_dir=args.data_dir)
    try:
        if args.users_command == "list":
            for u in list_users(store):
                state = "active" if u.active else "inactive"
                print(f"{u.username}\t{u.role}\t{state}\t{u.display_name or ''}")
            return 0
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        elif args.no_password:
            password = None  # signs in through the identity provider only
        else:
            password = getpass.getpass(f"Password for {args.username}: ")
            if getpass.getpass("Repeat the password: ") != password:
                raise ValueError("The two passwords differ.")
        try:
            login = getpass.getuser()
        except (KeyError, OSError):
            login = "unknown"
        user = create_user(
            store,
            args.username,
            password,
            args.role,
            display_name=args.display_name,
            actor=f"cli:{login}"[:64],
        )
        print(f"created {user.role} {user.username}")
        return 0
    finally:
        store.close()


@_command("gc")
def _gc(args: argparse.Namespace) -> int:
    from rehab_core.storage import open_store

    store = open_store(data_dir=args.data_dir)
    try:
        paths = store.collect_garbage(dry_run=args.dry_run)
    finally:
        store.close()
    verb = "would remove" if args.dry_run else "removed"
    for path in paths:
        print(f"{verb} {path}")
    print(f"{verb} {len(paths)} leftover file(s) under {store.data_dir}")
    return 0


@_command("audit")
def _audit(args: argparse.Namespace) -> int:
    """``rehab audit verify``: walk the hash chain; exit 1 at the first broken row."""
    from rehab_core.security import verify_audit_trail
    from rehab_core.storage import open_store

    store = open_store(data_dir=args.data_dir)
    try:
        verdict = verify_audit_trail(store)
    finally:
        store.close()
    print(verdict.message, file=sys.stdout if verdict.ok else sys.stderr)
    return 0 if verdict.ok else 1


@_command("patients")
def _patients(args: argparse.Namespace) -> int:
    """``rehab patients delete``: erase a patient on the server, audited as ``--actor``.

    Exit status 1 when the patient was deleted but the audit trail could not
    record it (the deletion stands; the message says so).
    """
    from rehab_core.storage import open_store
    from rehab_core.workflows.patients import AuditNotRecorded, delete_patient

    if not args.yes:
        raise ValueError("Deleting a patient cannot be undone; add --yes to confirm.")
    store = open_store(data_dir=args.data_dir)
    try:
        gone = delete_patient(store, args.actor, args.id, via="cli")
    except PermissionError:
        raise ValueError(
            f"{args.actor!r} is not an active administrator account; "
            "give --actor the user name of one."
        ) from None
    except AuditNotRecorded as err:
        print(
            f"rehab patients: patient {err.deletion.patient_id} was deleted but the audit trail "
            "could not record it; record the time and patient id by hand.",
            file=sys.stderr,
        )
        return 1
    finally:
        store.close()
    print(
        f"deleted patient {gone.patient_id}: {gone.n_uploads} upload(s), "
        f"{gone.n_predictions} prediction(s), {len(gone.removed_files)} file(s) removed"
    )
    return 0


def _add_demo_cohort_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo-cohort", help="write the documented synthetic cohort")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--n-patients", type=int, default=102)
    p.add_argument(
        "--n-with-signals",
        type=int,
        default=None,
        help="patients with an EEG-EMG recording (default: 86 of every 102, as in the paper)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--minutes", type=float, default=None, help="EEG-EMG length per patient (default: 9)"
    )
    p.add_argument(
        "--volumes",
        type=int,
        default=None,
        help="fMRI volumes per patient (default: each site's protocol, 100-240)",
    )
    p.add_argument("--jobs", type=int, default=2, help="worker processes")


def _add_preprocess_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preprocess", help="preprocess one patient and print shapes and QC")
    p.add_argument("--signals", type=Path, default=None, help="EEG-EMG recording")
    p.add_argument("--fmri", type=Path, default=None, help="resting-state fMRI (NIfTI)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _add_train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the LSTM, image backbones and their fusion")
    p.add_argument("--out", required=True, type=Path, help="folder for the weights bundles")
    _add_training_options(p)
    p.add_argument("--description", default=None, help="training data description for manifests")
    p.add_argument(
        "--reuse-image-members",
        metavar="DIR",
        default=None,
        help=(
            "reuse the image models of the bundles in DIR (same cohort, split, folds and fMRI "
            "settings) and train only the LSTM and the fusion"
        ),
    )
    p.add_argument("--json", action="store_true")


def _add_training_options(p: argparse.ArgumentParser) -> None:
    """The cohort, the budget and the preprocessing: shared by train and repeated-cv."""
    p.add_argument("--cohort", required=True, type=Path)
    p.add_argument(
        "--backbone",
        default="shufflenet",
        help="an image backbone (shufflenet, fbnet, ghostnet, regnet, resnet50), several "
        "separated by commas (trained in that order), or all",
    )
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (ensemble size)")
    p.add_argument("--test-fraction", type=float, default=0.15)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--patience", type=int, default=8, help="early-stopping patience (epochs)")
    p.add_argument(
        "--signal-epochs", type=int, default=None, help="epochs for the LSTM (default: --epochs)"
    )
    p.add_argument(
        "--signal-patience",
        type=int,
        default=None,
        help="early-stopping patience for the LSTM (default: --patience)",
    )
    p.add_argument(
        "--signal-rate",
        type=float,
        default=250.0,
        help="rate (Hz) the EEG-EMG windows are resampled to for the LSTM",
    )
    p.add_argument(
        "--signal-input",
        choices=("envelope", "raw"),
        default="envelope",
        help="what the LSTM reads: per-frame log envelopes (default) or the paper's raw samples",
    )
    p.add_argument(
        "--fmri-normalization",
        choices=("mni152", "none"),
        default="mni152",
        help="register each fMRI to the MNI152 template before taking slices (default), "
        "or take them in the scan's own space",
    )
    p.add_argument(
        "--image-size",
        type=int,
        default=224,
        help="side of the fMRI slice images in pixels (default 224, the paper's; 112 is the "
        "CPU budget of weights/README.md)",
    )
    p.add_argument(
        "--slice-range-mm",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        default=None,
        help="keep only the template-space axial slices between these MNI heights in mm "
        "(default: every screened slice)",
    )
    p.add_argument(
        "--slice-step",
        type=int,
        default=1,
        help="keep every n-th slice of that range (default 1: all)",
    )
    p.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="folder for the preprocessed arrays and finished members, so that a stopped run "
        "resumes where it stopped (default: a temporary folder)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    p.add_argument("--no-pretrained", action="store_true", help="skip ImageNet weights")
    p.add_argument("--max-train-batches", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--jobs", type=int, default=2, help="preprocessing processes")


def _add_external_summary_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "external-summary",
        help="mean and SD across unseen cohorts of `rehab evaluate --json` reports",
    )
    p.add_argument(
        "reports", nargs="+", metavar="NAME=FILE", help="one evaluation report per unseen cohort"
    )
    p.add_argument(
        "--out", required=True, type=Path, help="writes OUT.json and OUT.md (e.g. weights/external)"
    )


def _add_repeated_cv_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "repeated-cv",
        help="out-of-fold AUC of the LSTM and the clinical baseline over repeated k-fold splits",
    )
    p.add_argument(
        "--out", required=True, type=Path, help="writes OUT.json and OUT.md (e.g. weights/x)"
    )
    p.add_argument("--repeats", type=int, default=5, help="k-fold splits (seeds SEED, SEED+1, ...)")
    p.add_argument(
        "--images",
        action="store_true",
        help="also train --backbone's image models and their fusions in every repeat (a GPU)",
    )
    _add_training_options(p)
    p.set_defaults(test_fraction=0.0)  # every patient out of fold in every repeat


def _add_compare_runs_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare-runs",
        help="two runs that differ in one choice, row by row, with paired AUC differences",
    )
    p.add_argument("--names", nargs=2, required=True, metavar=("A", "B"), help="e.g. envelope raw")
    p.add_argument(
        "--development",
        nargs=2,
        type=Path,
        metavar=("A.json", "B.json"),
        help="each run's evaluation.json on the same development cohort (out of fold)",
    )
    p.add_argument(
        "--external",
        nargs=3,
        action="append",
        metavar=("NAME", "A.json", "B.json"),
        help="an unseen cohort scored by both runs (rehab evaluate --json); repeat per cohort",
    )
    p.add_argument(
        "--rows", nargs="+", default=["LSTM"], help="table rows to compare (default: LSTM)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the paired bootstrap")
    p.add_argument(
        "--out", required=True, type=Path, help="writes OUT.json and OUT.md (e.g. weights/x)"
    )


def _add_half_precision_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "half-precision",
        help="copy a weights bundle with its weights in float16 (half the size, for shipping)",
    )
    p.add_argument("bundle", type=Path, help="the bundle folder to copy")
    p.add_argument("out", type=Path, help="the new bundle folder")


def _add_evaluate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="paper-style tables of trained models on a cohort")
    p.add_argument("--cohort", required=True, type=Path)
    p.add_argument("--weights", required=True, type=Path, help="a bundle or a folder of bundles")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="keep the preprocessed cohort there, so that evaluating other bundles on it later "
        "does not preprocess it again",
    )
    p.add_argument("--json", action="store_true")


def _add_predict_parser(sub: argparse._SubParsersAction, default_model_id: str) -> None:
    p = sub.add_parser("predict", help="predict one patient (or a cohort to CSV)")
    p.add_argument("--signals", type=Path, default=None, help="EEG-EMG (optional)")
    p.add_argument("--fmri", type=Path, default=None)
    p.add_argument("--model", default=default_model_id, help="fusion model id")
    p.add_argument("--weights", type=Path, default=None, help="weights folder (default: shipped)")
    p.add_argument("--baseline-fma", type=float, default=None, help="baseline FMA-LE (0-34)")
    p.add_argument(
        "--channel-map",
        default=None,
        metavar="FILE_OR_PAIRS",
        help="which of the --signals file's channels is which of the model's: a JSON file "
        '({"RF": "EMG_RF"}, as the dashboard stores with an upload) or RF=EMG_RF,... pairs',
    )
    p.add_argument("--cohort", type=Path, default=None, help="predict every patient of a cohort")
    p.add_argument("--out", type=Path, default=None, help="CSV for --cohort")
    p.add_argument("--json", action="store_true")


def _add_admin_parsers(sub: argparse._SubParsersAction) -> None:
    """The server-side commands: users, gc, audit, patients."""
    p = sub.add_parser("users", help="dashboard accounts (no default password: add the admin here)")
    users = p.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    q = users.add_parser("add", help="create an account")
    q.add_argument("--username", required=True)
    q.add_argument("--role", required=True, choices=("clinician", "researcher", "admin"))
    q.add_argument("--display-name", default=None)
    how = q.add_mutually_exclusive_group()
    how.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin's first line"
    )
    how.add_argument(
        "--no-password", action="store_true", help="identity-provider (st.login) sign-in only"
    )
    users.add_parser("list", help="list the accounts")
    for q in users.choices.values():
        q.add_argument("--data-dir", type=Path, default=None, help="default: $REHAB_DATA_DIR")

    p = sub.add_parser("gc", help="remove stored files no record uses (left by a killed process)")
    p.add_argument("--data-dir", type=Path, default=None, help="default: $REHAB_DATA_DIR")
    p.add_argument("--dry-run", action="store_true", help="list what would go, remove nothing")

    p = sub.add_parser("audit", help="the audit trail on the server")
    audit = p.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    q = audit.add_parser("verify", help="check the hash chain: no row deleted, edited or reordered")
    q.add_argument("--data-dir", type=Path, default=None, help="default: $REHAB_DATA_DIR")

    p = sub.add_parser("patients", help="patient records on the server (administrators)")
    patients = p.add_subparsers(dest="patients_command", required=True, metavar="ACTION")
    q = patients.add_parser("delete", help="erase a patient, their uploads and predictions")
    q.add_argument("--id", type=int, required=True, help="the patient's id")
    q.add_argument("--actor", required=True, help="your administrator user name, for the audit")
    q.add_argument("--yes", action="store_true", help="confirm: the deletion cannot be undone")
    q.add_argument("--data-dir", type=Path, default=None, help="default: $REHAB_DATA_DIR")


def build_parser() -> argparse.ArgumentParser:
    from rehab_core.models import DEFAULT_MODEL_ID

    parser = argparse.ArgumentParser(
        prog="rehab",
        description="Stroke lower-limb recovery prediction from EEG-EMG and rs-fMRI.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_demo_cohort_parser(sub)
    _add_preprocess_parser(sub)
    _add_train_parser(sub)
    _add_evaluate_parser(sub)
    _add_half_precision_parser(sub)
    _add_external_summary_parser(sub)
    _add_compare_runs_parser(sub)
    _add_repeated_cv_parser(sub)
    _add_predict_parser(sub, DEFAULT_MODEL_ID)
    _add_admin_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from rehab_core.io import InputError
    from rehab_core.storage import RecordNotFound, WeightsError
    from rehab_core.training.devices import GPUOutOfMemoryError
    from rehab_core.training.distributed import distributed_process

    refused = (InputError, WeightsError, RecordNotFound, FileNotFoundError, ValueError)
    try:
        # under torchrun (rehab train): one process group for every fit, freed before exit
        with distributed_process(getattr(args, "device", "auto")):
            return _COMMANDS[args.command](args)
    except (*refused, GPUOutOfMemoryError) as err:
        # a wrong input or option gets one sentence; REHAB_DEBUG=1 shows the traceback
        if os.environ.get("REHAB_DEBUG"):
            raise
        print(f"rehab {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
