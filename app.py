"""Pitwall Streamlit app: routes over the pages in pages/ (widgets and charts only).

Page icons are Streamlit's bundled Material Symbols (no emoji font needed on the machine); the
browser tab's icon is a file of the repository (assets/), served by Streamlit itself, so it
shows offline too (a Material Symbol favicon is fetched from a font CDN)."""

from pathlib import Path

import streamlit as st

st.set_page_config(page_title="Pitwall", page_icon=str(Path(__file__).parent / "assets" / "pitwall-icon.png"), layout="wide")

pages = [
    st.Page("pages/slate.py", title="Slate", icon=":material/sports_score:", default=True),
    st.Page("pages/constraints.py", title="Constraints", icon=":material/rule:"),
    st.Page("pages/optimize.py", title="Optimize", icon=":material/tune:"),
    st.Page("pages/contest.py", title="Contest", icon=":material/emoji_events:"),
    st.Page("pages/scenarios.py", title="Scenarios", icon=":material/casino:"),
    st.Page("pages/calibration.py", title="Calibration", icon=":material/query_stats:"),
]
st.navigation(pages).run()
