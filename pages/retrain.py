"""Retrain: a researcher's cohort -> a background training job -> a new model version.

The page only draws: the cohort check and search, the queue, the runner process,
the estimate's request and the versions are in :mod:`rehab_core.jobs`; the
settings from the form in :func:`rehab_core.workflows.train.experiment_settings`
(as for ``rehab train``); the time estimate and the device list in
:mod:`rehab_core.training.devices`.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import streamlit as st

from pages._shared import audit, fragment_session, get_store, require_role

user = require_role("researcher")
store = get_store()

from rehab_core.io import InputError  # noqa: E402
from rehab_core.io.inflight import UploadsBusyError, upload_slot  # noqa: E402
from rehab_core.jobs import (  # noqa: E402
    TRIAL_LABEL,
    CohortCheck,
    JobError,
    PromotionRefused,
    check_cohort,
    cohort_roots,
    ensure_runner,
    estimate_in_subprocess,
    estimate_request,
    evaluated_not_installed,
    find_cohorts,
    fold_progress_text,
    get_job,
    imagenet_fallback,
    imagenet_start_note,
    is_trial_settings,
    is_trial_version,
    job_events,
    job_log,
    list_jobs,
    list_versions,
    promote_version,
    promotion_refusal,
    request_cancel,
    retry_job,
    revert_to_shipped,
    runner_alive,
    shipped_versions,
    submit_job,
    training_presets,
    unpack_cohort_zip,
    use_cohort,
)
from rehab_core.models import get_model_info, list_models, member_label  # noqa: E402
from rehab_core.storage import WeightsError  # noqa: E402
from rehab_core.training import ExperimentSettings  # noqa: E402
from rehab_core.training.devices import format_duration  # noqa: E402
from rehab_core.workflows.train import experiment_settings  # noqa: E402

COHORT_KEY = "retrain_cohort"
CHECK_KEY = "retrain_check"
JOB_KEY = "retrain_job"
CONFIRM_KEY = "retrain_confirm"  # Start training pressed, waiting for the confirmation
PROMOTE_KEY = "retrain_promote"  # id of the version whose Promote waits for the confirmation
ESTIMATE_KEY = "retrain_estimate"  # (settings repr, label) of the last estimate
POLL_S = 2.0
_LOGS_OPEN = "retrain_logs_open"  # job ids whose log is shown (and its view audited)

st.title("Retrain the models on your cohort")
st.caption(
    "Training runs in a background process on this server: it goes on when you leave the "
    "page or close the browser, and a job stopped by a crash resumes from its last epoch."
)
new_tab, jobs_tab, versions_tab = st.tabs(["New job", "Jobs", "Model versions"])


# --- 1. the cohort ------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=8)
def _check(root: str, stamp: float) -> CohortCheck:
    # ``stamp`` (participants.tsv's mtime) re-checks a cohort that changed on disk
    return check_cohort(root, n_jobs=min(2, os.cpu_count() or 1))


@st.cache_data(show_spinner=False, max_entries=16, ttl=3600)
def _estimate(backbones: tuple[str, ...], **kwargs) -> dict:
    # measured in a child process: no blocking CUDA context in the web server
    return estimate_in_subprocess(list(backbones), **kwargs)


def _stamp(root: Path) -> float:
    table = root / "participants.tsv"
    return table.stat().st_mtime if table.is_file() else 0.0


def _confirmed(label: str, pending_key: str) -> bool:
    """Confirm and Cancel side by side; either one ends the pending step in ``pending_key``."""
    c_yes, c_no = st.columns(2)
    if c_no.button("Cancel", key=f"{pending_key}_no"):
        st.session_state.pop(pending_key, None)
        st.rerun()
    if c_yes.button(label, type="primary", key=f"{pending_key}_yes"):
        st.session_state.pop(pending_key, None)
        return True
    return False


def _confirm_and_submit(
    check, settings, trial: bool, signal_input: str, slices: dict, imagenet: str | None
) -> None:
    """The second step of Start training: the estimate (when measured), then Confirm or Cancel."""
    known = st.session_state.get(ESTIMATE_KEY)
    when = (
        f"It would take {known[1]}."
        if known and known[0] == repr(settings)
        else "Its duration is not estimated yet: press Estimate the time to measure it."
    )
    n_models = settings.n_folds * (1 + len(settings.backbones))
    st.warning(
        f"Start training {n_models} models on {check.summary.get('n_patients', 0)} patients"
        + (" (trial run, not for patients)" if trial else "")
        + f"? {when}"
        + (f" {imagenet}" if imagenet else ""),
        icon=":material/schedule:",
    )
    if _confirmed("Confirm: start training", CONFIRM_KEY):
        from rehab_core.imaging import ImagingSettings
        from rehab_core.signals import SignalSettings

        try:
            job = submit_job(
                store,
                check.root,
                settings,
                signal_settings=SignalSettings(representation=signal_input),
                imaging_settings=ImagingSettings(**slices),
                created_by=user.username,
                description=f"cohort {Path(check.root).name}"
                + (" (trial run: one batch per epoch)" if trial else ""),
            )
        except (InputError, ValueError) as err:
            st.error(str(err))
        else:
            ensure_runner(store)
            st.session_state[JOB_KEY] = job.id
            st.success(f"Training job {job.id} is queued; follow it on the Jobs tab.")


_FORM = "retrain_form_"  # the settings form's widget keys: a preset writes them before the form


def _preset_values(preset) -> dict:
    """A preset's values under the form's widget keys."""
    band = preset.imaging.get("slice_range_mm")
    values = {_FORM + k: v for k, v in preset.experiment.items()}
    values.update(
        {
            _FORM + "signal_input": preset.signal_input,
            _FORM + "image_size": int(preset.imaging["image_size"]),
            _FORM + "slice_band": band is not None,
            _FORM + "slice_step": int(preset.imaging.get("slice_step") or 1),
        }
    )
    if band is not None:
        values[_FORM + "slice_low"], values[_FORM + "slice_high"] = (float(v) for v in band)
    return values


def _form_defaults() -> None:
    """The form's first values: the package defaults (the paper's budget), set once."""
    from rehab_core.jobs.presets import PRESET_FIELDS

    defaults = ExperimentSettings()
    first = {_FORM + k: getattr(defaults, k) for k in PRESET_FIELDS}
    first[_FORM + "signal_epochs"] = defaults.epochs
    # no input of its own: None follows the patience, unless a preset sets it
    first[_FORM + "signal_patience"] = None
    first |= {
        _FORM + "backbones": list(defaults.backbones),
        _FORM + "signal_input": "envelope",
        _FORM + "image_size": 224,
        _FORM + "slice_band": False,
        _FORM + "slice_low": -40.0,
        _FORM + "slice_high": 40.0,
        _FORM + "slice_step": 1,
        _FORM + "trial": False,
    }
    for key, value in first.items():
        st.session_state.setdefault(key, value)


def _apply(preset, backbones: list[str] | None = None) -> None:
    st.session_state.update(_preset_values(preset))
    if backbones is not None:
        st.session_state[_FORM + "backbones"] = backbones
    st.session_state.pop(CONFIRM_KEY, None)  # a pending Start asked about other settings
    st.rerun()


def _preset_buttons() -> None:
    """One click to the shipped models' budget or the paper's; one to train a missing model."""
    from rehab_core.models import fusion_model_id
    from rehab_core.report import plain_model_name

    presets = {p.name: p for p in training_presets()}
    shipped = presets.get("shipped")
    by_model = {fusion_model_id(b): b for b in list_models("image")}
    for model_id in evaluated_not_installed():
        if shipped is None or model_id not in by_model:
            continue
        name = plain_model_name(model_id)
        st.info(
            f"{name} is in the shipped evaluation but not installed here (its weights are too "
            "large to ship). Train it on your cohort on the same terms as the installed models: "
            + shipped.sentence[0].lower()
            + shipped.sentence[1:],
            icon=":material/info:",
        )
        if st.button(f"Set up {name} as the installed models were trained", key=f"add_{model_id}"):
            _apply(shipped, backbones=[by_model[model_id]])
    columns = st.columns(len(presets))
    for column, preset in zip(columns, presets.values(), strict=True):
        if column.button(preset.label, key=f"preset_{preset.name}", width="stretch"):
            _apply(preset)
        column.caption(preset.sentence)


with new_tab:
    st.subheader("1. Cohort")
    source = st.radio(
        "Where is the cohort?",
        ["A folder on this server", "A zip to upload"],
        horizontal=True,
        help="The layout is the demo cohort's: participants.tsv with fma_le_3m, "
        "sub-XXX/eeg/ and sub-XXX/func/ (docs/formats.md).",
    )
    if source == "A folder on this server":
        # uploaded cohorts under the data folder and those under $REHAB_COHORTS_DIR
        known = find_cohorts(*cohort_roots(store))
        choice = st.selectbox(
            "Cohorts found on the server",
            [None, *known],
            format_func=lambda p: "— type a path below —" if p is None else str(p),
        )
        typed = st.text_input("Or the cohort folder's path", value="" if choice else "")
        picked = Path(typed).expanduser() if typed.strip() else choice
        if picked is not None and st.button("Use this folder"):
            try:
                st.session_state[COHORT_KEY] = str(use_cohort(store, user.username, picked))
            except InputError as err:  # not under the cohorts folder: one sentence
                st.error(str(err))
    else:
        upload = st.file_uploader("Cohort zip", type=["zip"], key="retrain_zip")
        if upload is not None and st.button("Unpack and use"):
            try:
                with (
                    upload_slot(user.username),
                    st.spinner("Unpacking and checking the archive..."),
                ):
                    root = unpack_cohort_zip(
                        upload.getvalue(), store.data_dir / "cohorts", name=upload.name
                    )
            except UploadsBusyError as err:
                st.warning(str(err))
            except InputError as err:
                audit(
                    "upload_refused",
                    details={
                        "kind": "cohort zip",
                        "size": upload.size,
                        "reason": str(err).replace(upload.name, "<file>")[:500],
                    },
                )
                st.error(str(err))
            else:
                st.session_state[COHORT_KEY] = str(
                    use_cohort(store, user.username, root, via="zip")
                )

    cohort = st.session_state.get(COHORT_KEY)
    check: CohortCheck | None = None
    if cohort is None:
        st.info("Pick a cohort folder or upload a zip to see its summary.")
    elif not Path(cohort).is_dir():
        st.error(f"The cohort folder {cohort} does not exist.")
    else:
        with st.spinner("Reading every recording of the cohort..."):
            check = _check(cohort, _stamp(Path(cohort)))
        s = check.summary
        st.markdown(f"**{cohort}**")
        cols = st.columns(5)
        cols[0].metric("Patients", s.get("n_patients", 0))
        cols[1].metric("Good outcome", s.get("n_good", "—"))
        cols[2].metric("Poor outcome", s.get("n_poor", "—"))
        cols[3].metric("Both modalities readable", s.get("n_readable_both", "—"))
        cols[4].metric("Files that fail", s.get("n_failed_files", "—"))
        if "n_readable_signals" in s:
            st.caption(
                f"EEG-EMG: {s['n_with_signals']} listed, {s['n_readable_signals']} readable. "
                f"fMRI: {s['n_with_fmri']} listed, {s['n_readable_fmri']} readable. With both: "
                f"{s['n_good_both']} good and {s['n_poor_both']} poor outcomes."
                + (" Synthetic cohort (ground truth present)." if s.get("has_ground_truth") else "")
            )
        if check.failures:
            with st.expander(f"{len(check.failures)} files fail to read", expanded=True):
                st.dataframe(check.failures, hide_index=True, width="stretch")
        for problem in check.problems:
            st.error(problem)

    # --- 2. settings ----------------------------------------------------------------------
    st.subheader("2. Models and training")
    _form_defaults()
    _preset_buttons()
    images = list_models("image")
    with st.form("retrain_settings"):
        backbones = st.multiselect(
            "Image backbones (each gives one fusion model with the LSTM)",
            images,
            key=_FORM + "backbones",
            format_func=lambda b: get_model_info(b).display_name,
        )
        c1, c2, c3, c4 = st.columns(4)
        epochs = c1.number_input("Epochs (CNNs)", 1, 500, key=_FORM + "epochs")
        patience = c2.number_input("Early-stopping patience", 1, 100, key=_FORM + "patience")
        signal_epochs = c3.number_input("Epochs (LSTM)", 1, 500, key=_FORM + "signal_epochs")
        lr = c4.number_input("Adam learning rate", 1e-6, 1.0, key=_FORM + "lr", format="%.0e")
        c1, c2, c3, c4 = st.columns(4)
        n_folds = c1.number_input("Folds (ensemble size)", 2, 10, key=_FORM + "n_folds")
        test_fraction = c2.number_input(
            "Held-out test fraction", 0.0, 0.5, key=_FORM + "test_fraction", step=0.05
        )
        seed = c3.number_input("Seed", 0, 2**31 - 1, key=_FORM + "seed")
        signal_input = c4.selectbox(
            "LSTM input",
            ["envelope", "raw"],
            key=_FORM + "signal_input",
            help="envelope: per-frame EMG envelopes and beta ERD (the shipped model); "
            "raw: the paper's z-scored samples.",
        )
        c1, c2, c3 = st.columns(3)
        signal_batch = c1.number_input("Batch (windows)", 1, 512, key=_FORM + "signal_batch_size")
        image_batch = c2.number_input("Batch (slices)", 1, 512, key=_FORM + "image_batch_size")
        pretrained = c3.checkbox("Start from ImageNet weights", key=_FORM + "pretrained")
        with st.expander("Advanced"):
            image_size = st.number_input(
                "Slice size fed to the CNNs (pixels)",
                32,
                512,
                key=_FORM + "image_size",
                help="224 x 224 as in the paper; smaller trains faster but departs from it.",
            )
            band = st.checkbox(
                "Only the slices between two heights of the MNI152 brain",
                key=_FORM + "slice_band",
                help="Fewer slices per patient train faster; every patient gives the same "
                "heights, since the slices are taken in template space.",
            )
            c1, c2, c3 = st.columns(3)
            slice_low = c1.number_input("From z (mm)", -80.0, 100.0, key=_FORM + "slice_low")
            slice_high = c2.number_input("To z (mm)", -80.0, 100.0, key=_FORM + "slice_high")
            slice_step = c3.number_input("Every n-th slice", 1, 10, key=_FORM + "slice_step")
            trial = st.checkbox(
                "Trial run: one batch per epoch",
                key=_FORM + "trial",
                help="Checks the whole pipeline on this cohort in minutes; the models it "
                "registers are not meant for patients.",
            )
        slices = {
            "image_size": int(image_size),
            "slice_range_mm": (float(slice_low), float(slice_high)) if band else None,
            "slice_step": int(slice_step),
        }
        from rehab_core.training.devices import list_devices

        devices = list_devices()  # through NVML: no CUDA context in the web server
        several = sum(d.kind == "cuda" for d in devices) > 1
        several_choices = ["folds", "ddp"] if several else []
        device_names = ["auto", *several_choices, *(d.torch_device for d in devices)]
        labels = {
            "auto": "The folds over the free GPUs (one GPU if one is free), else the CPU",
            "folds": "The folds side by side, one per free GPU",
            "ddp": "Several GPUs as one (DistributedDataParallel)",
        } | {d.torch_device: d.label for d in devices}
        # the widget holds plain labels (AppTest and reruns compare options as strings)
        by_label = {labels[d]: d for d in device_names}
        device = by_label[st.selectbox("Device", list(by_label))]
        estimate = st.form_submit_button("Estimate the time")
        submitted = st.form_submit_button(
            "Start training", type="primary", disabled=check is None or not check.can_train
        )

    settings_error = None
    settings = None
    try:
        settings = experiment_settings(
            backbones,
            n_folds=n_folds,
            test_fraction=float(test_fraction),
            seed=seed,
            pretrained=bool(pretrained),
            epochs=epochs,
            patience=patience,
            signal_epochs=signal_epochs,
            # no input of its own: the package default, or the preset's (shipped: 10)
            signal_patience=st.session_state.get(_FORM + "signal_patience"),
            signal_batch_size=signal_batch,
            image_batch_size=image_batch,
            lr=float(lr),
            device=device,
            trial=trial,
        )
    except ValueError as err:
        settings_error = str(err)
    if settings is not None:
        from rehab_core.training.scheduling import schedule_job

        try:
            schedule = schedule_job(
                settings.device,
                batch_sizes={
                    "signal": settings.signal_batch_size,
                    "image": settings.image_batch_size,
                },
                lr=settings.lr,
                n_members=settings.n_folds * (1 + len(settings.backbones)),
                n_folds=settings.n_folds,
                devices=devices,
            )
            st.caption(" ".join(schedule.lines))
        except ValueError as err:
            st.caption(str(err))
    # said before the job (here and in the Start confirmation), not only in its status after
    imagenet = (
        imagenet_start_note(settings.backbones)
        if settings is not None and settings.pretrained and settings.backbones
        else None
    )
    if imagenet:
        st.warning(imagenet, icon=":material/warning:")

    if (estimate or submitted) and settings_error:
        st.error(settings_error)
    elif estimate and check is not None and settings is not None:
        from rehab_core.imaging import ImagingSettings
        from rehab_core.signals import SignalSettings

        request = estimate_request(
            check,
            settings,
            SignalSettings(representation=signal_input),
            device,
            ImagingSettings(**slices),
        )
        try:
            with st.spinner("Timing a few training steps of each model on this machine..."):
                result = _estimate(tuple(settings.backbones), **request)
        except RuntimeError as err:
            st.error(str(err))
        else:
            st.info(f"Training would take {result['label']}.")
            st.session_state[ESTIMATE_KEY] = (repr(settings), result["label"])
            st.caption(" ".join(result["assumptions"]))
            st.dataframe(
                [
                    {
                        "model": m,
                        "time": format_duration(s),
                        "items/s": f"{result['items_per_s'][m]:.1f}",
                    }
                    for m, s in result["per_model_s"].items()
                ],
                hide_index=True,
            )
    elif submitted and check is not None and settings is not None:
        st.session_state[CONFIRM_KEY] = True  # a long job is never started in one click
    if st.session_state.get(CONFIRM_KEY) and check is not None and settings is not None:
        _confirm_and_submit(check, settings, trial, signal_input, slices, imagenet)


def _confirm_promotion(model_id: str, target, current) -> None:
    """The second step of Promote: what changes for clinicians, then Confirm or Cancel."""
    from rehab_core.report import plain_model_name

    now = current.label if current is not None else "the model shipped with this software"
    st.warning(
        f"Make {plain_model_name(model_id)} {target.label} the default? Every prediction made "
        f"from now on, for every clinician, uses it instead of {now}.",
        icon=":material/swap_horiz:",
    )
    if _confirmed("Confirm: promote", PROMOTE_KEY):
        try:
            promote_version(store, target.id, actor=user.username)
        except (WeightsError, PromotionRefused) as err:
            st.error(str(err))
        else:
            st.success(
                f"{plain_model_name(model_id)} {target.label} is now the default for predictions."
            )
            st.rerun()


# --- 3. jobs ------------------------------------------------------------------------------
def _eta(seconds) -> str:
    if seconds is None:
        return "—"
    return format_duration(float(seconds))


def _progress_line(job) -> str:
    p = job.progress
    side_by_side = fold_progress_text(p)
    if job.state == "running" and side_by_side:
        return side_by_side
    if job.state == "running" and p.get("member"):
        return (
            f"{member_label(p['member'])}: epoch {p.get('epoch', '?')}/{p.get('n_epochs', '?')}, "
            f"batch {p.get('batch', '?')}/{p.get('n_batches', '?')}"
        )
    if job.state == "running" and p.get("stage") == "preprocess" and "total" in p:
        return f"preprocessing {p['done']}/{p['total']} patients"
    if job.state == "running" and p.get("stage") == "evaluate":
        return "fitting the fusion and evaluating on the held-out patients"
    return p.get("stage", "")


def _draw_jobs() -> None:
    from rehab_core.viz.training import learning_curves

    # every visit and every poll restarts the runner if jobs wait or one was orphaned by a
    # crash or a reboot: a queued job never waits for a runner longer than one poll
    ensure_runner(store)
    jobs = list_jobs(store)
    if not jobs:
        st.info("No training job yet.")
        return
    st.caption(
        "Runner: "
        + ("working" if runner_alive(store) else "idle")
        + ". One job trains at a time; the others wait in the queue."
    )
    st.dataframe(
        [
            {
                "job": j.id,
                "state": j.state,
                "kind": TRIAL_LABEL if is_trial_settings(j.settings) else "full training",
                "by": j.created_by or "—",
                "cohort": Path(j.cohort).name,
                "models": ", ".join(
                    get_model_info(b).display_name for b in j.settings["experiment"]["backbones"]
                ),
                "progress": _progress_line(j),
                "submitted": f"{j.created_at:%Y-%m-%d %H:%M}",
            }
            for j in jobs
        ],
        hide_index=True,
        width="stretch",
    )
    ids = [j.id for j in jobs]
    current = st.session_state.get(JOB_KEY)
    job_id = st.selectbox(
        "Job", ids, index=ids.index(current) if current in ids else 0, key="retrain_job_pick"
    )
    st.session_state[JOB_KEY] = job_id
    job = get_job(store, job_id)
    p = job.progress
    if job.state == "running":
        done, total = p.get("members_done", 0), p.get("n_members") or 1
        within = 0.0
        if p.get("n_epochs"):
            within = p.get("epoch", 1) - 1 + p.get("batch", 0) / max(1, p.get("n_batches", 1))
            within /= p["n_epochs"]
        st.progress(
            min(1.0, (done + within) / total),
            text=f"{_progress_line(job)} · member {min(done + 1, total)} of {total} · "
            f"time left at most {_eta(p.get('job_eta_s'))}",
        )
        if p.get("loss") is not None:
            st.caption(f"Latest loss {p['loss']:.4f}")
    elif job.state == "finished":
        versions = [f"v{v}" for v in p.get("versions", [])]
        st.success(
            f"Finished in {_eta(p.get('seconds'))}; new model "
            + ("version " if len(versions) == 1 else "versions ")
            + f"{', '.join(versions)} (see Model versions)."
        )
        fallback = imagenet_fallback(store, job)  # else only a Python warning in the raw log
        if fallback:
            st.warning(fallback, icon=":material/warning:")
    elif job.state == "failed":
        st.error(job.error or "The job failed; see its log.")
    elif job.state == "cancelled":
        st.warning("Cancelled.")
    else:
        st.info("Queued: it starts when the job before it ends.")

    events = job_events(store, job_id)
    if any(e.get("event") == "epoch" for e in events):
        st.plotly_chart(learning_curves(events), key=f"curves_{job_id}")
        st.caption(
            "Validation ROC AUC: on each member's early-stopping patients, a few of its training "
            "patients kept aside. With only a handful of them (a small cohort, a trial run) it "
            "jumps between 0 and 1 and says little; the versions' own evaluation is on the "
            "Model versions tab."
        )
    c1, c2 = st.columns(2)
    if not job.is_final and c1.button(
        "Cancel this job", disabled=job.cancel_requested, key=f"cancel_{job_id}"
    ):
        try:
            request_cancel(store, job_id, actor=user.username)
        except JobError as err:
            st.error(str(err))
        else:
            st.toast(f"Cancel requested for job {job_id}.")
    if job.state in ("failed", "cancelled") and c2.button("Run it again", key=f"retry_{job_id}"):
        retry_job(store, job_id, actor=user.username)
        ensure_runner(store)
        st.rerun()
    # a log can hold cohort paths and patient ids: opening it is audited, once per opening
    seen = st.session_state.setdefault(_LOGS_OPEN, set())
    if st.toggle("Show the log", key=f"log_{job_id}"):
        actor = None if job_id in seen else user.username
        seen.add(job_id)
        st.code(job_log(store, job_id, actor=actor) or "(empty)", language=None)
    else:
        seen.discard(job_id)


active = any(not j.is_final for j in list_jobs(store))


@st.fragment(run_every=POLL_S if active else None)
def _jobs_fragment() -> None:
    fragment_session("researcher", activity=False)  # reruns alone: expiry and role first
    _draw_jobs()
    still = any(not j.is_final for j in list_jobs(store))
    if active and not still:
        st.rerun()  # the last job ended: a full rerun stops the polling


with jobs_tab:
    _jobs_fragment()


# --- 4. versions --------------------------------------------------------------------------
with versions_tab:
    from rehab_core.viz.training import versions_table

    registered = list_versions(store)
    shipped = shipped_versions()
    every = [*registered, *shipped]
    if not registered:
        st.info("No trained version yet; the prediction page uses the shipped models.")
    from rehab_core.models import DEFAULT_MODEL_ID

    # the default model first: the one the Prediction page opens with
    model_ids = sorted({v.model_id for v in every}, key=lambda m: (m != DEFAULT_MODEL_ID, m))
    from rehab_core.report import plain_model_name

    model_id = st.selectbox(
        "Model", model_ids, key="retrain_versions_model", format_func=plain_model_name
    )
    of_model = [v for v in every if v.model_id == model_id]
    promoted = next((v for v in of_model if v.is_default), None)
    if promoted is None:  # nothing promoted: the shipped bundle is the default, say so in its row
        of_model = [dataclasses.replace(v, is_default=v.id is None) for v in of_model]
    st.markdown(
        "The prediction page uses **"
        + (promoted.label if promoted else "the model shipped with this software")
        + f"** for {plain_model_name(model_id)}."
    )
    # widgets hold the labels, not the records: a promotion changes a record, not its label
    by_label = {v.label: v for v in of_model}
    picked = [
        by_label[label]
        for label in st.multiselect(
            "Compare",
            list(by_label),
            default=list(by_label)[:3],
            key="retrain_versions_compare",
        )
    ]
    if picked:
        trial = [v.label for v in picked if is_trial_version(v)]
        # static: every row (the evaluation cohort, the ImageNet start) in view, none scrolled off
        st.table(versions_table(picked, trial), hide_index=True, border="horizontal")
        st.caption(
            "Each version is evaluated on its own held-out patients; versions trained on "
            "different cohorts are not compared on the same patients."
        )
    candidates = [v for v in of_model if v.id is not None and not v.is_default]
    c1, c2 = st.columns(2)
    if candidates:
        labels = {v.label: v for v in candidates}
        target = labels[c1.selectbox("Version to promote", list(labels))]
        why_not = promotion_refusal(store, target, user.username)
        if why_not is not None:
            c1.caption(why_not)
        if c1.button(
            "Promote to default", type="primary", disabled=why_not is not None, help=why_not
        ):
            st.session_state[PROMOTE_KEY] = target.id  # never replaced in one click
        if st.session_state.get(PROMOTE_KEY) not in (None, target.id) or why_not is not None:
            st.session_state.pop(PROMOTE_KEY, None)  # another version picked: ask again
        if st.session_state.get(PROMOTE_KEY) == target.id:
            _confirm_promotion(model_id, target, promoted)
    if promoted is not None and any(v.id is None for v in of_model):
        if c2.button("Go back to the shipped bundle"):
            revert_to_shipped(store, model_id, actor=user.username)
            st.rerun()
