"""Entry point of the dashboard: ``streamlit run app.py``. Routes only.

Nobody signed in, or signed in with a password an administrator reset: only
the sign-in page is routed (it also creates the first administrator, and asks
for the new password). Signed in: the pages the account's role allows, and a
sign-out button. The session check (idle expiry, deactivated accounts) is
``pages._shared.session_user``.
"""

from pathlib import Path

import streamlit as st

from pages._server_guards import install_server_guards
from pages._shared import plain, session_user, sign_out
from rehab_core.security import role_allows

st.set_page_config(
    page_title="Stroke lower-limb recovery", page_icon=":material/directions_walk:", layout="wide"
)
# uploads only for signed-in sessions, the shared caches cleared only by an administrator
install_server_guards()

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

user = session_user()
if user is None or user.must_change_password:  # a reset password is replaced before anything
    pages = [st.Page(SIGN_IN_PAGE, title="Sign in", icon=":material/login:", default=True)]
else:
    pages = [
        st.Page(path, title=title, icon=icon, default=path == "pages/home.py")
        for path, title, icon, role in PAGES
        if (HERE / path).is_file() and role_allows(user.role, role)
    ]
    with st.sidebar:
        st.caption(f"Signed in as **{plain(user.display_name or user.username)}** ({user.role})")
        st.button("Sign out", icon=":material/logout:", on_click=sign_out)
st.navigation(pages).run()
