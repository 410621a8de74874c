"""Pitwall Streamlit app: routes over the pages in pages/ (widgets and charts only)."""

import streamlit as st

st.set_page_config(page_title="Pitwall", page_icon="🏁", layout="wide")

pages = [
    st.Page("pages/slate.py", title="Slate", icon="🏁", default=True),
    st.Page("pages/constraints.py", title="Constraints", icon="🧩"),
    st.Page("pages/optimize.py", title="Optimize", icon="⚙️"),
    st.Page("pages/scenarios.py", title="Scenarios", icon="🎲"),
    st.Page("pages/calibration.py", title="Calibration", icon="🎯"),
]
st.navigation(pages).run()
