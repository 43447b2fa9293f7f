"""Admin page: the accounts (create, change role, deactivate, reset a password) and the audit
trail (read, export).

The audit trail is shown and exported, never edited: the app has no way to
change or delete an event, and the database refuses it
(:func:`rehab_core.storage.db.install_audit_guards`).
"""

from __future__ import annotations

import functools
import json

import streamlit as st

from pages._shared import audited, get_store, plain, require_role
from rehab_core.security import (
    ACTIONS,
    MIN_PASSWORD_LENGTH,
    ROLES,
    UserRecord,
    audit_csv,
    audit_events,
    create_user,
    list_users,
    reset_password,
    set_user_active,
    set_user_role,
)
from rehab_core.storage import Store

_FLASH = "admin_flash"
_SHOWN_EVENTS = 500  # the table shows the newest; the CSV holds every matching event


def _flash(sentence: str) -> None:
    st.session_state[_FLASH] = sentence


def _when(value) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M")


def _users_table(users: list[UserRecord]) -> None:
    st.dataframe(
        [
            {
                "User name": u.username,
                "Display name": u.display_name or "",
                "Role": u.role,
                "Active": u.active,
                "Sign-in": "password" if u.has_password else "identity provider",
                "Created (UTC)": _when(u.created_at),
                "Last sign-in (UTC)": _when(u.last_sign_in_at),
            }
            for u in users
        ],
        hide_index=True,
        width="stretch",
    )


def _create_form(store: Store, me: UserRecord) -> None:
    with st.form("new_user", clear_on_submit=True):
        st.markdown("**New account**")
        c1, c2, c3 = st.columns(3)
        username = c1.text_input(
            "User name", max_chars=64, help="The e-mail address for identity-provider sign-in."
        )
        display_name = c2.text_input("Display name", max_chars=128)
        role = c3.selectbox("Role", ROLES)
        c4, c5 = st.columns(2)
        password = c4.text_input(
            "Password",
            type="password",
            help=f"At least {MIN_PASSWORD_LENGTH} characters; leave both empty for an account "
            "that signs in through the hospital's identity provider only.",
        )
        repeat = c5.text_input("Repeat password", type="password")
        submitted = st.form_submit_button("Create user")
    if not submitted:
        return
    if password != repeat:
        st.error("The two passwords differ; type the same password twice.")
        return
    try:
        user = create_user(
            store, username, password or None, role, display_name=display_name, actor=me.username
        )
    except ValueError as err:
        st.error(str(err))
        return
    _flash(f"Created the {user.role} account {plain(user.username)}.")
    st.rerun()


def _manage(store: Store, me: UserRecord, users: list[UserRecord]) -> None:
    by_name = {u.username: u for u in users}
    name = st.selectbox("Account", list(by_name), index=None, placeholder="Pick an account")
    if name is None:
        return
    user = by_name[name]
    c1, c2 = st.columns(2)
    with c1:
        role = st.selectbox("New role", ROLES, index=ROLES.index(user.role), key="admin_role")
        if st.button("Change role", disabled=role == user.role):
            try:
                set_user_role(store, name, role, actor=me.username)
            except ValueError as err:
                st.error(str(err))
            else:
                _flash(f"{plain(name)} is now {role}.")
                st.rerun()
    with c2:
        label = "Deactivate" if user.active else "Reactivate"
        st.write("")  # aligns the button with the role picker
        if st.button(label, type="secondary"):
            try:
                set_user_active(store, name, not user.active, actor=me.username)
            except ValueError as err:
                st.error(str(err))
            else:
                _flash(f"{plain(name)} is {'inactive' if user.active else 'active'} now.")
                st.rerun()
    if user.has_password:
        _reset_form(store, me, name)


def _reset_form(store: Store, me: UserRecord, name: str) -> None:
    """A temporary password for a user who forgot theirs; they must replace it at sign-in."""
    with st.form("reset_password", clear_on_submit=True):
        st.markdown(f"**Reset the password of {plain(name)}**")
        c1, c2 = st.columns(2)
        temporary = c1.text_input(
            "Temporary password",
            type="password",
            help="Tell it to the user by another channel (phone, in person); they must choose "
            "their own at the next sign-in.",
        )
        repeat = c2.text_input("Repeat temporary password", type="password")
        submitted = st.form_submit_button("Set temporary password")
    if not submitted:
        return
    if temporary != repeat:
        st.error("The two passwords differ; type the same password twice.")
        return
    try:
        reset_password(store, name, temporary, actor=me.username)
    except ValueError as err:
        st.error(str(err))
        return
    _flash(f"{plain(name)} has a temporary password and must choose a new one at the next sign-in.")
    st.rerun()


def _audit_log(store: Store, me: UserRecord, usernames: list[str]) -> None:
    c1, c2, c3 = st.columns(3)
    action = c1.selectbox("Action", ACTIONS, index=None, placeholder="every action")
    username = c2.selectbox(
        "User", usernames, index=None, placeholder="every user", accept_new_options=True
    )
    patient_id = c3.number_input("Patient id", value=None, min_value=1, step=1, format="%d")
    filters = {
        "action": action,
        "username": username.strip().lower() if username else None,
        "patient_id": None if patient_id is None else int(patient_id),
    }
    events = audit_events(store, limit=_SHOWN_EVENTS, **filters)
    if not events:
        st.caption("No event matches.")
    else:
        st.dataframe(
            [
                {
                    "When (UTC)": e.at.strftime("%Y-%m-%d %H:%M:%S"),
                    "User": e.username,
                    "Action": e.action,
                    "Patient id": e.patient_id,
                    "Target": e.target or "",
                    "Details": json.dumps(e.details, sort_keys=True) if e.details else "",
                }
                for e in events
            ],
            hide_index=True,
            width="stretch",
            placeholder="",  # an event of no patient: blank, not a grey 'None'
        )
        if len(events) == _SHOWN_EVENTS:
            st.caption(f"The newest {_SHOWN_EVENTS} events; the CSV holds every matching one.")
    st.download_button(
        "Download the audit log (CSV)",
        data=audited(
            functools.partial(audit_csv, store, **filters),
            "audit_export",
            role="admin",  # checked again when the file is asked for
            details={k: v for k, v in filters.items() if v is not None},
        ),
        file_name="audit_log.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
    )


def main() -> None:
    me = require_role("admin")
    store = get_store()
    st.title("Admin")
    sentence = st.session_state.pop(_FLASH, None)
    if sentence:
        st.success(sentence)
    users = list_users(store)
    tab_users, tab_audit = st.tabs(["Users", "Audit log"])
    with tab_users:
        _users_table(users)
        with st.expander("Create an account"):
            _create_form(store, me)
        st.subheader("Change an account")
        _manage(store, me, users)
    with tab_audit:
        st.caption(
            "Every sign-in, patient view, upload, prediction, report download, deletion, "
            "training and promotion, newest first. Events cannot be changed or deleted."
        )
        _audit_log(store, me, [u.username for u in users])


main()
