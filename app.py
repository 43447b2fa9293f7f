"""Entry point of the dashboard: ``streamlit run app.py``. Routes only."""

import streamlit as st

st.set_page_config(page_title="Stroke lower-limb recovery", page_icon="🦵", layout="wide")

pages = [
    st.Page("pages/home.py", title="Overview", icon="🏠", default=True),
]
st.navigation(pages).run()
