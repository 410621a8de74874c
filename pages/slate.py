"""Slate: load a shipped race, a shipped salary slate or an uploaded salary file; edit drivers;
save and compare what-if variants."""

import json

import streamlit as st

from engine.core.contracts import PitStrategy, parse_slate
from engine.core.series import SERIES, SERIES_NAMES, SHORT_NAMES
from engine.core.textio import decode_text, parse_json
from engine.data.history import salary_manifest
from engine.data.salaries import read_salary_file
from engine.data.slates import (
    apply_table,
    build_slate,
    check_race_date,
    check_slate,
    diff_slates,
    game_date,
    shipped_salary_slate,
    slate_from_salaries,
    slate_table,
)
from engine.data.which_series import pick_series
from pages._shared import current_series, guard, history, set_slate, show_error, slate

st.title("Slate")
SOURCES = ["Shipped salary slate", "Shipped race", "Upload a salary file"]
st.session_state.setdefault("series", current_series())
if slate() is not None and st.session_state.get("series_of") != slate().slate_id:  # a slate just loaded: the selector follows it
    st.session_state["series"], st.session_state["series_of"] = slate().series.value, slate().slate_id
series = st.segmented_control("Series", list(SERIES), format_func=lambda c: f"{SHORT_NAMES[c]}", key="series",
                              help="; ".join(f"{SHORT_NAMES[c]}: {SERIES_NAMES[c]}" for c in SERIES)) or "cup"
st.caption(f"{SERIES_NAMES[series]}: its races, salary slates, history and model")
h = history(series)


def first_visit() -> None:
    """A newcomer starts on a slate that can be optimized: the newest shipped salary slate."""
    if st.session_state.get("slate") is None and not st.session_state.get("opened"):
        st.session_state["opened"] = True
        m = salary_manifest().sort_values("date")
        m = m[m["series"].fillna("cup") == series]
        if m.empty:
            return
        f = m.index[-1]
        set_slate(shipped_salary_slate(f, h))
        st.session_state[f"pick_salary_{series}"] = f
        st.session_state["series_of"] = slate().slate_id
        st.info(f"Opened the newest shipped salary slate, {m.loc[f, 'date']} {m.loc[f, 'race_name']} "
                f"({m.loc[f, 'site'].upper()}): press **Run** on the Optimize page, or load another race below.")


def load_panel() -> None:
    first_visit()
    source = st.radio("Load", SOURCES, horizontal=True, key="source")
    if source == "Shipped race":
        c1, c2 = st.columns(2)
        season = c1.selectbox("Season", h.seasons[::-1], key="pick_season")
        races = h.index[h.index["season"] == season]
        labels = {r.race_id: f"{r.race} - {r.race_name} ({r.track})" for r in races.itertuples()}
        rid = c2.selectbox("Race", list(labels), format_func=labels.get, key="pick_race")
        st.caption("A historical race has its real grid but no salaries: it can be simulated, and lineups need salaries "
                   "(enter them in the table, or load a salary file).")
        if st.button("Load race", type="primary"):
            set_slate(build_slate(rid, h))
            st.success(f"Loaded {SHORT_NAMES[series]} race {labels[rid]}: real starting grid, defaults from the races before it.")
    elif source == "Shipped salary slate":
        m = salary_manifest().sort_values("date", ascending=False)
        m = m[m["series"].fillna("cup") == series]
        if m.empty:
            st.info(f"No shipped {SHORT_NAMES[series]} salary slate: upload one.")
            return
        labels = {f: f"{r.date} {r.race_name} ({r.site.upper()}, {r.track_id})" for f, r in m.iterrows()}
        f = st.selectbox("Salary slate", list(labels), format_func=labels.get, key=f"pick_salary_{series}")
        if st.button("Load salary slate", type="primary"):
            set_slate(shipped_salary_slate(f, h))
            st.success(f"Loaded {labels[f]} ({SHORT_NAMES[series]}).")
    else:
        up = st.file_uploader("DraftKings DKSalaries.csv or FanDuel player list", type=["csv"], key="upload")
        auto = "(from the schedule, by the file's date)"
        tracks = [auto] + sorted(h.tracks["track_id"])
        c1, c2, c3 = st.columns(3)
        found = "found from the file's date and drivers"
        which = c1.selectbox("Series of the file", [found, *SERIES], format_func=lambda c: c if c == found else SHORT_NAMES[c],
                             key="upload_series", help="the date on the three schedules, then the drivers; say it when they "
                                                       "leave it open (two series racing that day)")
        track = c2.selectbox("Track", tracks, index=0, key="upload_track")
        track = None if track == auto else track
        date = c3.text_input("Race date (YYYY-MM-DD, optional)", key="upload_date")
        if up is not None and st.button("Import salaries", type="primary"):
            try:
                sf = read_salary_file(up.getvalue(), source=up.name)
                day = check_race_date(date, h) if date.strip() else game_date(sf.game_info)
                choice = pick_series(sf, day, None if which == found else which, state_dir=h.sources[1] if h.sources else None)
                loaded = slate_from_salaries(sf, history(choice.series), track_id=None if choice.series != series else track, date=day)
                set_slate(loaded.model_copy(update={"notes": [choice.how, *loaded.notes]}))
                st.success(f"Imported {len(sf.rows)} drivers from {up.name} as a {SHORT_NAMES[choice.series]} slate.")
                for note in sf.notes:
                    st.warning(note)
            except Exception as exc:  # noqa: BLE001 - shown; the previous slate stays loaded
                show_error(exc, f"{up.name} was not loaded; the previous slate is unchanged")


def editor() -> None:
    s = slate()
    if s is None:
        st.info("Load a race or a salary file to start.")
        return
    st.subheader(f"{SHORT_NAMES[s.series.value]} · {s.race_name or s.slate_id}")
    st.caption(f"{SERIES_NAMES[s.series.value]}; track {s.track_id} ({s.track_type}), {s.race_length} laps, {len(s.drivers)} drivers"
               + (f" for a field of {s.field_size}" if s.field_size and s.field_size < len(s.drivers) else "")
               + (f", {s.site.value.upper()} salaries" if s.site else ""))
    for note in s.notes:
        st.caption(f"• {note}")
    table = slate_table(s)
    edited = st.data_editor(
        table,
        key=f"editor_{st.session_state.get('table_version', 0)}",
        hide_index=True,
        width="stretch",
        disabled=["driver_id", "estimated"],
        column_config={
            "driver_id": st.column_config.TextColumn("id"),
            "salary": st.column_config.NumberColumn("salary", min_value=0, max_value=100_000, step=100, format="$%d"),
            "start_position": st.column_config.NumberColumn("start", min_value=1, max_value=43, step=1),
            "out": st.column_config.CheckboxColumn("out", help="not in the race (did not qualify, withdrew): scores 0, in no lineup"),
            "practice_rank": st.column_config.NumberColumn("practice", min_value=1, max_value=60, step=1,
                                                           help="rank in the weekend's last practice (1 = best); blank: no practice"),
            "qualifying_rank": st.column_config.NumberColumn("qual speed", min_value=1, max_value=60, step=1,
                                                             help="rank by qualifying speed (1 = fastest); blank: none"),
            "skill": st.column_config.NumberColumn("skill", min_value=0.0, max_value=1.0, step=0.01, format="%.3f"),
            "aggression": st.column_config.NumberColumn("aggression", min_value=0.0, max_value=1.0, step=0.01, format="%.3f"),
            "shadow_risk": st.column_config.NumberColumn("shadow risk", min_value=0.0, max_value=1.0, step=0.01, format="%.3f"),
            "min_laps_led": st.column_config.NumberColumn("min led", min_value=0, step=1),
            "max_laps_led": st.column_config.NumberColumn("max led", min_value=0, step=1),
            "locked": st.column_config.CheckboxColumn("lock"),
            "excluded": st.column_config.CheckboxColumn("exclude"),
            "min_exposure": st.column_config.NumberColumn("min exp %", min_value=0.0, max_value=100.0, step=5.0),
            "max_exposure": st.column_config.NumberColumn("max exp %", min_value=0.0, max_value=100.0, step=5.0),
            "pit_strategy": st.column_config.SelectboxColumn("pit strategy", options=[p.value for p in PitStrategy], required=True),
            "projected_ownership": st.column_config.NumberColumn("own %", min_value=0.0, max_value=100.0),
            "estimated": st.column_config.TextColumn("estimated"),
        },
    )
    if not edited.equals(table):
        try:
            st.session_state["slate"] = apply_table(s, edited)
            st.caption("Edits applied.")
        except Exception as exc:  # noqa: BLE001
            show_error(exc, "These edits were not applied (the slate keeps its last valid values)")
    ownership_import()
    variants()


def ownership_import() -> None:
    """Projected ownership (the own % column, used by the Contest page) from a CSV of driver name
    or DK/FD ID and ownership %; a file with a bad row changes nothing."""
    from engine.dfs.contest.field import OWNERSHIP_MODEL, read_ownership_csv

    with st.expander("Import projected ownership (CSV: driver name or DK/FD ID, ownership %)"):
        st.caption(f"Blank own % means the {OWNERSHIP_MODEL}.")
        up = st.file_uploader("Ownership CSV", type=["csv", "txt"], key="own_csv")
        if up is not None and st.button("Import ownership"):
            s = slate()
            try:
                got = read_ownership_csv(decode_text(up.getvalue(), up.name)[0], [d.name for d in s.drivers],
                                         [d.driver_id for d in s.drivers], [d.site_player_id for d in s.drivers], source=up.name,
                                         site_names=[d.site_name for d in s.drivers])
                drivers = [d.model_copy(update={"projected_ownership": got[k] / 100}) if k in got else d for k, d in enumerate(s.drivers)]
                set_slate(s.model_copy(update={"drivers": drivers}))
                st.success(f"Ownership of {len(got)} drivers imported from {up.name}.")
                st.rerun()
            except Exception as exc:  # noqa: BLE001 - shown; the slate is unchanged
                show_error(exc, f"{up.name} was not imported; the slate is unchanged")


def variants() -> None:
    st.divider()
    st.subheader("What-if variants")
    saved = st.session_state.setdefault("variants", {})
    c1, c2 = st.columns([3, 1])
    name = c1.text_input("Variant name", key="variant_name")
    if c2.button("Save variant") and name:
        saved[name] = slate()
        st.success(f"Saved variant {name!r}.")
    if saved:
        c1, c2, c3 = st.columns(3)
        pick = c1.selectbox("Load a variant", list(saved), key="variant_load")
        if c1.button("Load variant"):
            set_slate(saved[pick])
            st.rerun()
        a = c2.selectbox("Compare", list(saved), key="variant_a")
        b = c3.selectbox("with", ["(current slate)"] + list(saved), key="variant_b")
        other = slate() if b == "(current slate)" else saved[b]
        diff = diff_slates(saved[a], other)
        st.dataframe(diff.astype(str), hide_index=True, width="stretch") if len(diff) else st.caption("No differences.")
    s = slate()
    st.download_button("Download slate (JSON)", data=json.dumps(s.model_dump(mode="json"), indent=1),
                       file_name=f"{s.slate_id}.json", mime="application/json", on_click="ignore")
    up = st.file_uploader("Open a saved slate (JSON)", type=["json"], key="slate_json")
    if up is not None and st.button("Open slate JSON"):
        try:
            set_slate(check_slate(parse_slate(parse_json(decode_text(up.getvalue(), up.name)[0], up.name)), h))
            st.rerun()
        except Exception as exc:  # noqa: BLE001
            show_error(exc, f"{up.name} was not loaded; the previous slate is unchanged")


guard(load_panel)
guard(editor)
