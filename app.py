"""Entry point of the dashboard: ``streamlit run app.py``. Routes only."""

from pathlib import Path

import streamlit as st

st.set_page_config(page_title="Stroke lower-limb recovery", page_icon="🦵", layout="wide")

# (file, title, icon) in menu order; a page is routed once its file exists.
PAGES = [
    ("pages/home.py", "Overview", "🏠"),
    ("pages/patients.py", "Patients", "👤"),
    ("pages/signals.py", "Signals", "📈"),
    ("pages/prediction.py", "Prediction", "🎯"),
    ("pages/evaluation.py", "Evaluation", "📊"),
]
HERE = Path(__file__).parent
pages = [
    st.Page(path, title=title, icon=icon, default=path == "pages/home.py")
    for path, title, icon in PAGES
    if (HERE / path).is_file()
]
st.navigation(pages).run()
