"""Pitwall Streamlit app: routes over the pages in pages/."""

import streamlit as st

st.set_page_config(page_title="Pitwall", page_icon="🏁", layout="wide")

pages = [st.Page("pages/races.py", title="Races", icon="🏁", default=True)]
st.navigation(pages).run()
