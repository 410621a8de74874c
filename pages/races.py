"""Shipped races: the real Cup history Pitwall is built on."""

import streamlit as st

from engine.data import History


@st.cache_resource(show_spinner="Loading the shipped history...")
def history() -> History:
    return History.load()


h = history()
st.title("Pitwall")
st.caption("NASCAR Cup DFS scenario lab: real races, simulations fitted to them, lineups built from them.")
seasons = h.seasons
season = st.selectbox("Season", seasons, index=len(seasons) - 1)
races = h.index[h.index["season"] == season]
st.dataframe(
    races[["race_id", "date", "race_name", "track", "track_type", "field_size", "race_laps"]],
    hide_index=True,
    width="stretch",
)
st.caption(f"{len(h.index)} races {seasons[0]}-{seasons[-1]}, {len(h.results)} result rows, loop data {len(h.loop)} rows.")
