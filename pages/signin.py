"""Sign-in page: the only page routed while nobody is signed in.

On first run (no active administrator) it creates the administrator account
instead: there is no default password. When ``.streamlit/secrets.toml`` has
an ``[auth]`` section, the hospital's identity provider (``st.login``) is
offered too; its e-mail address must be the user name of an active local
account, whose role applies.
"""

from __future__ import annotations

import streamlit as st

from pages._shared import current_user, get_store, oidc_configured, show_notice, sign_in
from rehab_core.security import (
    MIN_PASSWORD_LENGTH,
    AuthError,
    authenticate,
    authenticate_external,
    create_first_admin,
    needs_first_admin,
)

_REFUSED_KEY = "signin_refused_identity"  # (e-mail, sentence) the provider's user was refused with


def _first_admin() -> None:
    st.info(
        "No administrator account exists yet. Create it now: it manages the other accounts "
        "and reads the audit trail."
    )
    with st.form("first_admin"):
        st.markdown("**Create the administrator account**")
        username = st.text_input("User name", max_chars=64)
        password = st.text_input(
            "Password", type="password", help=f"At least {MIN_PASSWORD_LENGTH} characters."
        )
        repeat = st.text_input("Repeat password", type="password")
        submitted = st.form_submit_button("Create administrator", type="primary")
    if not submitted:
        return
    if password != repeat:
        st.error("The two passwords differ; type the same password twice.")
        return
    try:
        user = create_first_admin(get_store(), username, password)
    except ValueError as err:
        st.error(str(err))
        return
    # the new administrator is signed in at once (and that is recorded like any sign-in)
    sign_in(authenticate(get_store(), user.username, password))
    st.rerun()


def _password_form() -> None:
    with st.form("sign_in"):
        username = st.text_input("User name", max_chars=64)
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return
    try:
        user = authenticate(get_store(), username, password)
    except AuthError as err:
        st.error(str(err))
        return
    sign_in(user)
    st.rerun()


def _identity_provider() -> None:
    if st.user.get("is_logged_in"):
        email = str(st.user.get("email") or "")
        refused = st.session_state.get(_REFUSED_KEY)
        try:
            if refused is not None and refused[0] == email:  # recorded once, not per rerun
                raise AuthError(refused[1])
            user = authenticate_external(get_store(), email)
        except AuthError as err:
            st.session_state[_REFUSED_KEY] = (email, str(err))
            st.error(str(err))
            st.button("Sign out of the hospital account", on_click=st.logout)
            return
        sign_in(user)
        st.rerun()
    st.button(
        "Sign in with the hospital account", icon=":material/local_hospital:", on_click=st.login
    )
    st.caption("or with a local account:")


def main() -> None:
    st.title("Sign in")
    show_notice()
    user = current_user()
    if user is not None:  # app.py routes this page to nobody signed in; a stale tab reruns it
        st.success(f"Signed in as {user.username} ({user.role}).")
        st.page_link("pages/home.py", label="Go to the overview", icon=":material/home:")
        return
    store = get_store()
    if needs_first_admin(store):
        _first_admin()
        return
    if oidc_configured():
        _identity_provider()
    _password_form()


main()
