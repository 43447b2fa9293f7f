"""Server entry point: ``streamlit run serve.py`` serves ``app.py`` plus the session-cookie routes.

``app.py`` is the dashboard (routes only); this file adds the two small
HTTP endpoints that set and clear the HttpOnly session cookie
(``pages/_session_cookie.py``), through ``st.App``, Streamlit's own way to
serve extra routes beside its pages. ``streamlit run app.py`` still works,
but then a sign-in lasts as long as the browser tab (no cookie).

``pages/`` holds the pages ``app.py`` routes with ``st.navigation``; it is not
a legacy page folder. Streamlit assumes it is until ``app.py`` first calls
``st.navigation`` in the process, so the very first request after a start, if
it asked for ``/patients``, would run ``pages/patients.py`` without ``app.py``'s
sign-in gate (the page refuses, but the sign-in form never shows and the deep
link is lost). Saying so before the first session fixes that.
"""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from pages._session_cookie import session_routes

PagesManager.uses_pages_directory = False  # what app.py's st.navigation sets at its first run

app = st.App("app.py", routes=session_routes())
