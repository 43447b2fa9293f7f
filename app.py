"""Entry point of the dashboard: ``streamlit run app.py``. Routes only.

Nobody signed in, or signed in with a password an administrator reset: the
sign-in page is routed (it also creates the first administrator, and asks
for the new password), at its own address and, hidden, at every page's: a
deep link such as ``/prediction?patient=3`` shows the sign-in page and, once
signed in, the rerun lands on that page with its query. Signed in: the pages
the account's role allows, a sign-out button, and at the address of each page
it does not allow a one-sentence refusal instead of a silent Overview. The
session check (cookie, idle expiry, deactivated accounts) is
``pages._shared.session_user``.

This file is also the server: ``streamlit run app.py`` finds the ``st.App``
below (Streamlit discovers it by reading the file) and imports the file once
as the module ``app``, which serves this same file as the page script plus
the two session-cookie endpoints (``pages/_session_cookie.py``). Each browser
session then runs the file as ``__main__``: the routing in :func:`route`.
"""

from pathlib import Path

import streamlit as st

from pages._server_guards import install_server_guards
from pages._shared import (
    deliver_session_cookie,
    not_open_page,
    plain,
    session_user,
    sign_out,
    sync_patient_param,
)
from rehab_core.security import role_allows

# (file, title, icon, minimum role) in menu order; a page is routed once its file exists
# and only for roles that reach its minimum (clinician < researcher < admin).
PAGES = [
    ("pages/home.py", "Overview", ":material/home:", "clinician"),
    ("pages/patients.py", "Patients", ":material/group:", "clinician"),
    ("pages/signals.py", "Signals", ":material/monitoring:", "clinician"),
    ("pages/prediction.py", "Prediction", ":material/insights:", "clinician"),
    ("pages/evaluation.py", "Evaluation", ":material/analytics:", "researcher"),
    ("pages/retrain.py", "Retrain", ":material/model_training:", "researcher"),
    ("pages/admin.py", "Admin", ":material/admin_panel_settings:", "admin"),
]
SIGN_IN_PAGE = "pages/signin.py"
HERE = Path(__file__).parent

ROUTED = [(path, title, icon, role) for path, title, icon, role in PAGES if (HERE / path).is_file()]


def route() -> None:
    """Route one browser session's run: sign-in, or the pages its role allows."""
    st.set_page_config(
        page_title="Stroke lower-limb recovery",
        page_icon=":material/directions_walk:",
        layout="wide",
    )
    # uploads only for signed-in sessions, the shared caches cleared only by an administrator
    install_server_guards()

    user = session_user()
    if user is None or user.must_change_password:  # a reset password is replaced before anything
        pages = [st.Page(SIGN_IN_PAGE, title="Sign in", icon=":material/login:", default=True)]
        pages += [
            st.Page(SIGN_IN_PAGE, title="Sign in", url_path=Path(path).stem, visibility="hidden")
            for path, *_ in ROUTED
        ]
        deliver_session_cookie()
    else:
        pages = [
            st.Page(path, title=title, icon=icon, default=path == "pages/home.py")
            if role_allows(user.role, role)
            else st.Page(
                not_open_page(title, role),
                title=title,
                url_path=Path(path).stem,
                visibility="hidden",
            )
            for path, title, icon, role in ROUTED
        ]
        sync_patient_param()
        with st.sidebar:
            st.caption(
                f"Signed in as **{plain(user.display_name or user.username)}** ({user.role})"
            )
            st.button("Sign out", icon=":material/logout:", on_click=sign_out)
            deliver_session_cookie()
    st.navigation(pages).run()


if __name__ == "__main__":  # a browser session's run of this file
    route()
else:  # imported by the server (``streamlit run app.py``, or uvicorn ``app:app``)
    from streamlit.runtime.pages_manager import PagesManager

    from pages._session_cookie import session_routes

    # pages/ holds the pages st.navigation routes, not a legacy page folder. Streamlit learns
    # that at the first st.navigation call, so a deep link as the very first request after a
    # start would otherwise run a page without route()'s sign-in gate.
    PagesManager.uses_pages_directory = False
    app = st.App(Path(__file__).resolve(), routes=session_routes())
