"""Calibration: the simulator on real past races against baselines; charts to share.

The view's state (series, seasons, track type, seed) lives in the URL's query parameters, so a
copied link reproduces it."""

import json

import pandas as pd
import streamlit as st

from engine.core.series import SERIES, SERIES_NAMES, SHORT_NAMES
from engine.core.settings import get_settings
from engine.data.history import DataError, parse_seasons
from engine.interfaces.charts import (
    CALIBRATION_CHARTS,
    figure_html,
    figure_png,
    grid_rows,
    reliability_rows,
    report_html,
    season_rows,
    structure_rows,
    summary_rows,
    target_lines,
)
from engine.jobs.service import backtest_cache_key, backtest_job
from engine.model.backtest import shipped_report
from engine.model.params import load_params
from pages._shared import current_series, guard, history, owner, runner, show_error

st.title("Calibration")
qp = st.query_params


def page() -> None:
    linked = qp.get("series", current_series())
    if linked not in SERIES:
        st.warning(f"The link's series {linked!r} is not one of {', '.join(SERIES)}: showing the Cup.")
        linked = "cup"
    series = st.segmented_control("Series", list(SERIES), default=linked, format_func=lambda c: SHORT_NAMES[c],
                                  key="cal_series") or linked
    h = history(series)
    model = load_params(series=series)
    later = [s for s in h.seasons if s >= 2022 and s > h.seasons[0]]
    seasons_default = f"{later[0]}-{later[-1]}" if later else ""
    types = ["all"] + sorted(h.index["track_type"].unique())
    st.caption(f"{SERIES_NAMES[series]}: serving model {model.hash}, fitted on seasons {model.fit_span} (method {model.method_hash}). "
               "Rolling origin: "
               "each season below is forecast by a model of the same method fitted only on the seasons before it, so "
               "every number is out of sample.")
    c1, c2, c3 = st.columns(3)
    seasons = c1.text_input("Seasons", value=qp.get("seasons", seasons_default), help="each forecast by a fit on the seasons before it")
    tt = qp.get("track_type", "all")
    if tt not in types:
        st.warning(f"The link's track type {tt!r} is not one of {', '.join(types)}: showing all.")
    track_type = c2.selectbox("Track type", types, index=types.index(tt) if tt in types else 0)
    raw_seed = qp.get("seed", "0")
    link_seed = int(raw_seed) if str(raw_seed).strip().isdigit() else None
    if link_seed is None:
        st.warning(f"The link's seed {raw_seed!r} is not a whole number of 0 or more: using 0.")
    seed = c3.number_input("Seed", min_value=0, value=link_seed or 0, step=1)
    scenarios = 2000
    qp.update({"series": series, "seasons": seasons, "track_type": track_type, "seed": str(seed)})
    try:
        chosen = parse_seasons(seasons)
    except DataError as exc:
        st.error(str(exc))
        return
    t = None if track_type == "all" else track_type
    report = None
    path = shipped_report(series)
    shipped = json.loads(path.read_text()) if path.exists() else None
    if shipped and shipped["settings"].get("method_hash") == model.method_hash and list(chosen) == shipped["settings"]["seasons"] \
            and seed == shipped["settings"]["seed"] and t is None and not h.added:
        report = shipped
        st.caption(f"The shipped report of this method (docs/{path.name}).")
    key = backtest_cache_key(chosen, t, scenarios, int(seed), h)
    if report is None:
        existing = runner().store.find_completed(key)
        if existing:
            report = runner().result(existing)
        elif st.button("Run backtest", type="primary", help="fits each season's model first (about a minute each, once)"):
            st.session_state[f"bt_run_{series}"] = runner().submit("backtest", backtest_job(chosen, t, scenarios, int(seed), get_settings().state_dir,
                                                                              series), owner=owner(), cache_key=key)
    run_id = st.session_state.get(f"bt_run_{series}")
    if report is None and run_id:
        status = runner().status(run_id)
        if status["status"] == "completed":
            report = runner().result(run_id)
        elif status["status"] in ("failed", "cancelled"):
            show_error(ValueError(status["error"]), "The backtest did not finish")
        else:
            progress(run_id)
    if report is None:
        return
    s = report["settings"]
    for line in filter(None, target_lines(report)):
        st.caption(line)
    st.caption(f"{SHORT_NAMES[s.get('series', 'cup')]}: {report['races']} races, {report['rows']:,} driver results; {s['scenarios_per_race']:,} simulated races per race; "
               f"method {s.get('method_hash', '?')}.")
    st.subheader("By season (each forecast by the model fitted on the seasons before it)")
    st.dataframe(pd.DataFrame(season_rows(report)), hide_index=True, width="stretch")
    st.subheader("Pooled, by track type")
    st.dataframe(pd.DataFrame(summary_rows(report)), hide_index=True, width="stretch")
    if reliability_rows(report):
        st.subheader("Reliability as numbers")
        st.caption("Per event: the largest gap |forecast - observed| over the reliability bins holding at least 100 results, and the "
                   "Brier skill score against always forecasting the base rate (above 0 is better). Winner log-loss: the mean log "
                   "probability given to the real winner, against the start-position baseline's.")
        st.dataframe(pd.DataFrame(reliability_rows(report)), hide_index=True, width="stretch")
    if structure_rows(report):
        st.subheader("Race structure by track type (real / simulated)")
        st.dataframe(pd.DataFrame(structure_rows(report)), hide_index=True, width="stretch")
    if grid_rows(report):
        st.subheader("Starting grid: the qualifying model against the real grid")
        st.caption("Before qualifying, each simulated race draws its grid from the qualifying model. Mean absolute error of its "
                   "predicted order against the real grid, next to ordering the drivers by skill.")
        st.dataframe(pd.DataFrame(grid_rows(report)), hide_index=True, width="stretch")
    png = st.checkbox("Prepare PNG downloads (needs a static exporter)", key="png")
    for name, fn in CALIBRATION_CHARTS.items():
        fig = fn(report)
        st.plotly_chart(fig, width="stretch", key=f"chart_{name}")
        c1, c2 = st.columns(2)
        c1.download_button(f"{name} chart (HTML)", data=figure_html(fig), file_name=f"pitwall-{name}.html", mime="text/html", on_click="ignore",
                           key=f"html_{name}")
        if png:
            data = figure_png(fig)
            if data:
                c2.download_button(f"{name} chart (PNG)", data=data, file_name=f"pitwall-{name}.png", mime="image/png", key=f"png_{name}", on_click="ignore")
            else:
                c2.caption("PNG export is not available on this server.")
    st.download_button("Full report (standalone HTML)", data=report_html(report), file_name="pitwall-calibration.html", mime="text/html",
                       on_click="ignore")
    st.download_button("Report (JSON)", data=json.dumps(report, indent=1), file_name="pitwall-calibration.json", on_click="ignore")


@st.fragment(run_every=0.5)
def progress(run_id: str) -> None:
    status = runner().status(run_id)
    if status["status"] in ("completed", "failed", "cancelled"):
        st.rerun(scope="app")
    c1, c2 = st.columns([5, 1])
    c1.progress(status["progress"], text=f"backtest {100 * status['progress']:.0f}%")
    if c2.button("Cancel backtest"):
        runner().cancel(run_id)


guard(page, "The calibration view cannot be shown")
