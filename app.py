"""Pitwall Streamlit app: routes over the pages in pages/ (widgets and charts only).

Icons are Streamlit's bundled Material Symbols (no emoji font needed on the machine)."""

import streamlit as st

st.set_page_config(page_title="Pitwall", page_icon=":material/sports_score:", layout="wide")

pages = [
    st.Page("pages/slate.py", title="Slate", icon=":material/sports_score:", default=True),
    st.Page("pages/constraints.py", title="Constraints", icon=":material/rule:"),
    st.Page("pages/optimize.py", title="Optimize", icon=":material/tune:"),
    st.Page("pages/contest.py", title="Contest", icon=":material/emoji_events:"),
    st.Page("pages/scenarios.py", title="Scenarios", icon=":material/casino:"),
    st.Page("pages/calibration.py", title="Calibration", icon=":material/query_stats:"),
]
st.navigation(pages).run()
