"""Patients page: pick or create a patient, upload their recordings, see what was stored."""

from __future__ import annotations

import logging

import streamlit as st

from pages._shared import (
    current_patient,
    current_user,
    get_store,
    link_if_page,
    plain,
    require_role,
    select_patient,
    upload_summary,
)
from rehab_core.io import (
    PAPER_CHANNELS,
    InputError,
    channel_label,
    read_signals,
    unmapped_channels,
)
from rehab_core.io.inflight import UploadsBusyError, upload_slot
from rehab_core.security import role_allows
from rehab_core.storage import UPLOAD_SUFFIXES, PatientRecord, RecordNotFound, Store
from rehab_core.workflows.patients import (
    AuditNotRecorded,
    create_demo_patient,
    create_patient,
    delete_patient,
    earlier_channel_map,
    map_channels,
    upload_recording,
)

_LOG = logging.getLogger(__name__)
_FLASH = "patients_flash"  # (level, sentence) shown once after a rerun
_DONE = "patients_processed_uploads"  # uploader file_id -> (level, sentence)
_PICKER = "patients_picker"  # the selectbox's own key; PATIENT_KEY is the source of truth
_KIND_LABELS = {"signals": "EEG-EMG recording", "fmri": "Resting-state fMRI"}
# Streamlit's ``type=`` filter (browser and server) compares the end of the name with
# each entry, and a browser's file dialog knows single extensions only; ".gz" lets
# .nii.gz and .fif.gz through, ".vhdr" lets BrainVision headers reach the store's
# explanation. The store checks the full suffix against its allow-list.
_UPLOADER_TYPES = {
    "signals": ["txt", "edf", "bdf", "fif", "gz", "set", "vhdr"],
    "fmri": ["nii", "gz"],
}


def _actor() -> str:
    """The signed-in user's name, as the audit trail records it."""
    user = current_user()
    return user.username if user else "anonymous"


def _flash(level: str, sentence: str) -> None:
    st.session_state[_FLASH] = (level, sentence)


def _show_flash() -> None:
    level, sentence = st.session_state.pop(_FLASH, (None, None))
    if level is not None:
        getattr(st, level)(sentence)


def _label(patient: PatientRecord) -> str:
    facts = [str(v) for v in (patient.sex, patient.age) if v is not None]
    return patient.pseudonym + (f" ({', '.join(facts)})" if facts else "")


def _demo_button(store: Store, *, first: bool) -> None:
    """The demo-patient button: for everyone while there is no patient, for admins always."""
    if first:
        st.info("No patient yet. Create one below, or start with a synthetic demo patient.")
    label = "Create a demo patient" if first else "Create or open the demo patient"
    kind = "primary" if first else "secondary"
    if st.button(label, type=kind, icon=":material/person_add:"):
        known = {p.id for p in store.list_patients()}
        with st.spinner("Generating and checking a synthetic patient's EEG-EMG and rs-fMRI..."):
            demo = create_demo_patient(store, _actor())
        select_patient(demo.id)
        _flash(
            "success",
            f"{'Opened' if demo.id in known else 'Created'} the synthetic patient "
            f"{plain(demo.pseudonym)} with both recordings; it is made-up data, not a real "
            "patient.",
        )
        st.rerun()


def _picked() -> None:
    select_patient(st.session_state[_PICKER])


def _picker(patients: list[PatientRecord], current: PatientRecord | None) -> PatientRecord | None:
    by_id = {p.id: p for p in patients}
    # the widget shows the plain key's patient: its own state is cleared on a page change,
    # and a patient created or picked elsewhere must show here too
    st.session_state[_PICKER] = current.id if current is not None else None
    chosen = st.selectbox(
        "Patient",
        list(by_id),
        index=None,
        key=_PICKER,
        on_change=_picked,
        format_func=lambda pid: _label(by_id[pid]),
        placeholder="Pick a patient",
    )
    return by_id.get(chosen)


def _details(patient: PatientRecord) -> None:
    cols = st.columns(5)
    shown = {
        "Age": patient.age,
        "Sex": patient.sex,
        "Affected side": patient.affected_side,
        "Days since stroke": patient.days_since_stroke,
        "Baseline FMA-LE": None
        if patient.fma_le_baseline is None
        else f"{patient.fma_le_baseline} / 34",
    }
    for col, (name, value) in zip(cols, shown.items(), strict=True):
        col.metric(name, "—" if value is None else value)


def _create_form(store: Store) -> None:
    with st.form("new_patient", clear_on_submit=False):
        st.markdown("**New patient** (a pseudonym only, never a name)")
        pseudonym = st.text_input("Pseudonym", max_chars=64, placeholder="e.g. STROKE-014")
        c1, c2, c3 = st.columns(3)
        age = c1.number_input("Age (years)", value=None, step=1, format="%d")
        sex = c2.selectbox("Sex", ["F", "M"], index=None, placeholder="not recorded")
        side = c3.selectbox(
            "Affected (paretic) side", ["left", "right"], index=None, placeholder="not recorded"
        )
        c4, c5 = st.columns(2)
        days = c4.number_input("Days since stroke", value=None, step=1, format="%d")
        fma = c5.number_input(
            "Baseline FMA-LE (0-34)",
            value=None,
            step=1,
            format="%d",
            help="Lower-limb Fugl-Meyer motor score at baseline; used for the 3-month estimate.",
        )
        submitted = st.form_submit_button("Create patient")
    if not submitted:
        return
    try:
        patient = create_patient(
            store,
            _actor(),
            pseudonym,
            age=age,
            sex=sex,
            affected_side=side,
            days_since_stroke=days,
            fma_le_baseline=fma,
        )
    except ValueError as err:
        st.error(str(err))
        return
    select_patient(patient.id)
    _flash("success", f"Created patient {plain(patient.pseudonym)}; upload their recordings below.")
    st.rerun()


def _store_upload(store: Store, patient: PatientRecord, kind: str, uploaded) -> tuple[str, str]:
    """Check, store and audit one uploaded file; the (level, sentence) to show."""
    user = current_user()
    try:
        # a few checks at a time on the server: each runs in a sandbox with its own memory
        with (
            upload_slot(user.username),
            st.spinner(f"Reading and checking {plain(uploaded.name)}..."),
        ):
            rec = upload_recording(
                store, _actor(), patient.id, kind, uploaded.name, uploaded.getvalue()
            )
    except UploadsBusyError as err:
        return "warning", str(err)
    except InputError as err:
        return "error", plain(str(err))
    if rec.duplicate:
        return "info", (
            f"{plain(uploaded.name)} holds the same bytes as the {plain(rec.original_name)} "
            f"already stored for {plain(patient.pseudonym)}: nothing new kept, and that "
            "recording is the one used again."
        )
    return "success", f"Stored {plain(uploaded.name)}: {upload_summary(rec)}."


def _uploaders(store: Store, patient: PatientRecord) -> None:
    done: dict[str, tuple[str, str]] = st.session_state.setdefault(_DONE, {})
    for col, kind in zip(st.columns(2), ("signals", "fmri"), strict=True):
        with col:
            allowed = ", ".join(UPLOAD_SUFFIXES[kind])
            uploaded = st.file_uploader(
                _KIND_LABELS[kind],
                type=_UPLOADER_TYPES[kind],
                key=f"upload_{kind}_{patient.id}",
                help=f"One file: {allowed}.",
            )
            if uploaded is None:
                continue
            key = f"{patient.id}:{kind}:{uploaded.file_id}"
            if key in done:  # each uploaded file is checked once, not on every rerun
                level, sentence = done[key]
            else:
                level, sentence = _store_upload(store, patient, kind, uploaded)
                if level != "warning":  # busy: checked again on the next rerun
                    done[key] = (level, sentence)
            getattr(st, level)(sentence)


def _uploads_table(store: Store, patient: PatientRecord) -> None:
    uploads = store.uploads(patient.id)
    if not uploads:
        st.caption("No recording stored for this patient yet.")
        return
    # a static table wraps its cells: the summary says in a sentence what the model can use,
    # which a scrolling data grid cut off at the page's edge (issue 15); the file's label
    # already names its kind and format
    st.table(
        [
            {
                "File": u.original_name,
                "Size (MB)": f"{u.size / 1e6:.2f}",
                "Uploaded (UTC)": u.created_at.strftime("%Y-%m-%d %H:%M"),
                "Summary": upload_summary(u),
            }
            for u in uploads
        ],
        hide_index=True,
        border="horizontal",
    )
    with st.expander("Technical details", icon=":material/build:"):
        st.caption("SHA-256 of each stored file, to trace it in the audit log and reports.")
        st.markdown("\n".join(f"- {plain(u.original_name)}: `{u.sha256}`" for u in uploads))
    warned = [u for u in uploads if u.qc.get("warnings")]
    for u in warned:
        with st.expander(f"Reader warnings for {plain(u.original_name)}"):
            for w in u.qc["warnings"]:
                st.write(w)


_NOT_MAPPED = "(not in this file)"


@st.cache_data(max_entries=16, show_spinner=False)
def _channel_names(sha256: str, _path: str) -> list[str]:
    """The stored recording's own channel names, once per file content."""
    return list(read_signals(_path).ch_names)


def _channel_map_section(store: Store, patient: PatientRecord) -> None:
    """Let the user say which of the file's channels is which model channel it lacks."""
    upload = store.latest_upload(patient.id, "signals")
    if upload is None:
        return
    current = upload.channel_map
    missing = [c for c in PAPER_CHANNELS if c in (upload.qc.get("missing_paper_channels") or [])]
    wanted = sorted(set(missing) | set(current.values()), key=PAPER_CHANNELS.index)
    if not wanted:
        return
    try:
        names = _channel_names(upload.sha256, str(upload.path))
    except InputError as err:
        st.error(plain(str(err)))
        return
    spare = unmapped_channels(names)
    if not spare:
        return
    offered = {} if current else earlier_channel_map(store, upload, names)
    wanted = sorted(set(wanted) | set(offered.values()), key=PAPER_CHANNELS.index)
    by_target = {target: source for source, target in (current or offered).items()}
    # open only when there is something to confirm: for a file with none of the model's
    # muscles (an arm recording) eight empty pickers would dominate the page
    with st.expander("Match this recording's channels to the model's", expanded=bool(offered)):
        st.caption(
            "If the file calls a channel the model needs by another name (RF for the rectus "
            "femoris, say), pick it here. Prediction and the Signals page then use it under "
            "the model's name."
        )
        if offered:
            st.info(
                "Filled in from the map saved with this patient's earlier recording. It is "
                "not used for this recording until you save it.",
                icon=":material/info:",
            )
        with st.form(f"channel_map_{upload.id}"):
            cols = st.columns(3)
            picked = {}
            for i, target in enumerate(wanted):
                options = [_NOT_MAPPED, *spare]
                source = by_target.get(target)
                picked[target] = cols[i % 3].selectbox(
                    channel_label(target),
                    options,
                    index=options.index(source) if source in options else 0,
                    key=f"channel_map_{upload.id}_{target}",
                )
            if st.form_submit_button("Save the channel map"):
                mapping = {s: t for t, s in picked.items() if s != _NOT_MAPPED}
                try:
                    map_channels(store, _actor(), upload, mapping)
                except InputError as err:
                    st.error(plain(str(err)))
                else:
                    _flash("success", "Channel map saved.")
                    st.rerun()


def _delete_section(store: Store, patient: PatientRecord) -> None:
    """Right to erasure, for the admin only: type the pseudonym, then press the button."""
    user = current_user()
    if user is None or not role_allows(user.role, "admin"):
        return
    with st.expander("Delete this patient"):
        st.warning(
            f"This erases {plain(patient.pseudonym)}, their recordings and predictions for good; "
            "the audit trail keeps only the patient id."
        )
        typed = st.text_input(
            f"Type {plain(patient.pseudonym)} to confirm", key=f"delete_confirm_{patient.id}"
        )
        if not st.button("Delete this patient", type="primary", key=f"delete_{patient.id}"):
            return
        if typed.strip() != patient.pseudonym:
            st.error(f"Type the pseudonym {plain(patient.pseudonym)} exactly; nothing was deleted.")
            return
        try:
            gone = delete_patient(store, user.username, patient.id)
        except PermissionError as err:  # the account lost the role meanwhile
            st.error(str(err))
            return
        except RecordNotFound as err:  # deleted meanwhile in another session
            select_patient(None)
            _flash("error", str(err))
            st.rerun()
        except AuditNotRecorded as err:
            # the id and the error class only: no patient data in application logs
            _LOG.error(
                "delete_patient of patient %d not audited: %s",
                err.deletion.patient_id,
                type(err.__cause__).__name__,
            )
            select_patient(None)
            _flash(
                "error",
                f"Patient {err.deletion.patient_id} was deleted but the audit trail could not "
                "record it; tell the data protection officer the time and patient id.",
            )
        else:
            select_patient(None)
            _flash(
                "success",
                f"Deleted {plain(gone.pseudonym)} with {gone.n_uploads} recording(s) and "
                f"{gone.n_predictions} prediction(s).",
            )
        st.rerun()


def main() -> None:
    require_role("clinician")
    st.title("Patients")
    store = get_store()
    _show_flash()
    patients = store.list_patients()
    patient = current_patient()  # None also drops an id that no longer exists
    if not patients:
        _demo_button(store, first=True)
    else:
        patient = _picker(patients, patient)
    if patient is not None:
        _details(patient)
        st.subheader("Recordings")
        _uploaders(store, patient)
        _uploads_table(store, patient)
        _channel_map_section(store, patient)
        links = st.columns(2)
        with links[0]:
            link_if_page("pages/signals.py", "Look at the signals", icon=":material/monitoring:")
        with links[1]:
            link_if_page("pages/prediction.py", "Predict the outcome", icon=":material/insights:")
        _delete_section(store, patient)
    with st.expander("Create a patient", expanded=not patients):
        _create_form(store)
    user = current_user()
    if patients and user is not None and role_allows(user.role, "admin"):
        _demo_button(store, first=False)  # administrators can always show the demo


main()
