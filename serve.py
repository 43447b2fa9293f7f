"""Server entry point: ``streamlit run serve.py`` serves ``app.py`` plus the session-cookie routes.

``app.py`` is the dashboard (routes only); this file adds the two small
HTTP endpoints that set and clear the HttpOnly session cookie
(``pages/_session_cookie.py``), through ``st.App``, Streamlit's own way to
serve extra routes beside its pages. ``streamlit run app.py`` still works,
but then a sign-in lasts as long as the browser tab (no cookie).
"""

import streamlit as st

from pages._session_cookie import session_routes

app = st.App("app.py", routes=session_routes())
