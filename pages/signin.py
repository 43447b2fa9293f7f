"""Sign-in page: the only page routed while nobody is signed in.

On first run (no active administrator) it creates the administrator account
instead, for whoever holds the one-time setup token the server printed in its
log (:mod:`rehab_core.security.setup_token`): there is no default password,
and a visitor without the token cannot become administrator. When ``.streamlit/secrets.toml`` has
an ``[auth]`` section, the hospital's identity provider (``st.login``) is
offered too: the provider's account (issuer + subject) is bound at its first
sign-in to the active local account named by its verified e-mail address,
whose role applies.
"""

from __future__ import annotations

import sys

import streamlit as st

from pages._shared import (
    client_address,
    current_user,
    get_store,
    oidc_configured,
    oidc_issuers,
    plain,
    show_notice,
    sign_in,
    sign_out,
)
from rehab_core.security import (
    MIN_PASSWORD_LENGTH,
    SETUP_TOKEN_MINUTES,
    AuthError,
    UserRecord,
    authenticate,
    authenticate_external,
    change_own_password,
    create_first_admin,
    issue_setup_token,
    needs_first_admin,
)

_REFUSED_KEY = (
    "signin_refused_identity"  # ((iss, sub, e-mail), sentence) of a refused provider user
)


def _log_setup_token() -> None:
    """Print a new setup token to the server's log (none while the last one is still valid)."""
    token = issue_setup_token()
    if token is not None:
        print(
            f"[rehab] No administrator exists yet. First-run setup token (valid "
            f"{SETUP_TOKEN_MINUTES:g} minutes, single use): {token}",
            file=sys.stderr,
            flush=True,
        )


def _first_admin() -> None:
    _log_setup_token()
    st.info(
        "No administrator account exists yet. Whoever started the server creates it: with the "
        "setup token the server printed in its log, below, or on the server with "
        "`rehab users add NAME --role admin`."
    )
    with st.form("first_admin"):
        st.markdown("**Create the administrator account**")
        token = st.text_input(
            "Setup token",
            type="password",
            help=f"Printed in the server's log; valid {SETUP_TOKEN_MINUTES:g} minutes, once.",
        )
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
        user = create_first_admin(get_store(), username, password, setup_token=token)
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
    try:  # throttled per account and per client (rehab_core.security.throttle)
        user = authenticate(get_store(), username, password, client=client_address())
    except AuthError as err:
        st.error(str(err))
        return
    sign_in(user)
    st.rerun()


def _identity_provider() -> None:
    if st.user.get("is_logged_in"):
        claims = {key: st.user.get(key) for key in ("iss", "sub", "email", "email_verified")}
        identity = (claims["iss"], claims["sub"], claims["email"])
        refused = st.session_state.get(_REFUSED_KEY)
        try:
            if refused is not None and refused[0] == identity:  # recorded once, not per rerun
                raise AuthError(refused[1])
            user = authenticate_external(get_store(), claims, issuers=oidc_issuers())
        except AuthError as err:
            st.session_state[_REFUSED_KEY] = (identity, str(err))
            st.error(plain(str(err)))
            st.button("Sign out of the hospital account", on_click=st.logout)
            return
        sign_in(user)
        st.rerun()
    st.button(
        "Sign in with the hospital account", icon=":material/local_hospital:", on_click=st.login
    )
    st.caption("or with a local account:")


def _change_password(user: UserRecord) -> None:
    """After an administrator's reset: the user replaces the temporary password first."""
    st.info(
        "An administrator reset your password. Choose your own before you continue; "
        "nobody else will know it."
    )
    with st.form("change_password", clear_on_submit=True):
        current = st.text_input("Temporary password", type="password")
        new = st.text_input(
            "New password", type="password", help=f"At least {MIN_PASSWORD_LENGTH} characters."
        )
        repeat = st.text_input("Repeat new password", type="password")
        submitted = st.form_submit_button("Set my password", type="primary")
    st.button("Sign out", on_click=sign_out)
    if not submitted:
        return
    if new != repeat:
        st.error("The two new passwords differ; type the same password twice.")
        return
    try:
        fresh = change_own_password(get_store(), user.username, current, new)
    except (AuthError, ValueError) as err:
        st.error(plain(str(err)))
        return
    sign_in(fresh)
    st.rerun()


def main() -> None:
    st.title("Sign in")
    show_notice()
    user = current_user()
    if user is not None and user.must_change_password:
        _change_password(user)
        return
    if user is not None:  # app.py routes this page to nobody signed in; a stale tab reruns it
        st.success(f"Signed in as {plain(user.username)} ({user.role}).")
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
