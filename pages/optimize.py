"""Optimize: run the engine in a background job (progress, cancel), then lineups, exposures,
points distributions, optimal% and the upload file."""

import json

import streamlit as st

from engine.core.settings import get_settings
from engine.dfs.exports import lineups_csv
from engine.dfs.objectives import OBJECTIVES
from engine.interfaces.charts import (
    exposure_chart,
    lineup_points_chart,
    optimal_pct_chart,
)
from engine.jobs.pipeline import OptimizeSettings
from engine.jobs.service import optimize_cache_key, optimize_job
from engine.jobs.store import FINISHED
from pages._shared import (
    SITES,
    analyst_rules,
    cluster_caption,
    guard,
    job_progress,
    lineup_frame,
    ontology_notice,
    owner,
    require_slate,
    runner,
    show_error,
    titled,
)

st.title("Optimize")


def form() -> None:
    s = require_slate()
    ontology_notice()
    cluster_caption()
    with st.form("optimize"):
        c1, c2, c3, c4 = st.columns(4)
        if s.site:  # the salary file's site: its prices and player ids are that site's
            site = s.site.value
            c1.selectbox("Site", [site], format_func=SITES.get, disabled=True, key="opt_site_fixed",
                         help="the site of the loaded salary file")
        else:
            default_site = st.session_state.get("site") or "dk"
            site = c1.selectbox("Site", list(SITES), format_func=SITES.get, index=list(SITES).index(default_site), key="opt_site")
        n_lineups = c2.number_input("Lineups", min_value=1, max_value=500, value=20, step=1, key="opt_lineups")
        n_scen = c3.selectbox("Simulated races", [1000, 2000, 5000, 10000, 20000, 50000, 100000], index=3, key="opt_scenarios")
        objective = c4.selectbox("Objective", OBJECTIVES, help="mean; ceiling (p90); cvar (cash: worst 20%); target (tournaments)", key="opt_objective")
        c1, c2, c3, c4 = st.columns(4)
        seed = c1.number_input("Seed", min_value=0, value=0, step=1, key="opt_seed")
        min_unique = c2.number_input("Min different drivers between lineups", min_value=0, max_value=6, value=2, key="opt_unique")
        solver = c3.selectbox("Solver", ["cbc", "highs"], key="opt_solver")
        sim_precision = c4.checkbox("Sim precision (resample races per lineup)")
        c1, c2, _, _ = st.columns(4)
        min_exp = c1.number_input("Min exposure, every driver (%)", min_value=0.0, max_value=100.0, value=0.0, step=5.0,
                                  key="opt_min_exposure", help="each driver in at least this share of lineups (excluded ones aside)")
        max_exp = c2.number_input("Max exposure, every driver (%)", min_value=0.0, max_value=100.0, value=100.0, step=5.0,
                                  key="opt_max_exposure", help="each driver in at most this share of lineups (locked ones aside)")
        calibration = st.checkbox("Attach calibration metrics (backtest of this model for the track type)", value=True)
        run = st.form_submit_button("Run", type="primary")
    if run:
        settings = OptimizeSettings(site=site, n_lineups=int(n_lineups), n_scenarios=int(n_scen), objective=objective,
                                    seed=int(seed), min_unique=int(min_unique), solver=solver, sim_precision=sim_precision,
                                    min_exposure=min_exp / 100 if min_exp > 0 else None,
                                    max_exposure=max_exp / 100 if max_exp < 100 else None, rules=analyst_rules())
        run_id = runner().submit("optimize", optimize_job(s, settings, get_settings(), calibration, keep_object=True), owner=owner(),
                                 keep_object=True,
                                 cache_key=optimize_cache_key(s, settings, calibration),
                                 request={"slate_id": s.slate_id, **settings.model_dump(mode="json")})
        st.session_state["run_id"] = run_id
        st.session_state.setdefault("my_runs", [])
        if run_id not in st.session_state["my_runs"]:
            st.session_state["my_runs"].append(run_id)
    with st.expander("Open a run by its id"):
        other = st.text_input("Run id", key="open_run")
        if other and st.button("Open run"):
            if runner().status(other.strip()) is None:
                st.error(f"No run with id {other.strip()!r}.")
            else:
                st.session_state["run_id"] = other.strip()


@st.fragment(run_every=0.5)
def progress_panel() -> None:
    job_progress("run_id", None, "Run")


def results() -> None:
    run_id = st.session_state.get("run_id")
    if not run_id:
        return
    status = runner().status(run_id)
    if status is None or status["status"] not in FINISHED:
        return
    st.caption(f"run id `{run_id}`")
    if status["status"] == "failed":
        show_error(ValueError(status["error"]), "The run failed")
        return
    if status["status"] == "cancelled":
        st.warning("The run was cancelled.")
        return
    summary = runner().result(run_id)
    st.session_state["summary"] = summary
    diag = summary["scenario_diagnostics"]
    c = st.columns(5)
    c[0].metric("Valid simulated races", f"{diag['n_valid']:,}")
    c[1].metric("Rejection rate", f"{diag['rejection_rate']:.1%}")
    c[2].metric("Lineups", len(summary["lineups"]))
    c[3].metric("Best mean", f"{summary['lineups'][0]['mean']:.1f}")
    cal = summary.get("calibration_metrics")
    if cal:
        c[4].metric("CRPS (backtest)", f"{cal['crps']:.2f}",
                    help=f"rolling-origin backtest of seasons {cal.get('scored_seasons')}, each forecast by this method fitted on the "
                         "seasons before it")
    model = summary.get("model", {})
    st.caption(f"model {model.get('hash')} fitted on seasons {model.get('fit_seasons')}"
               + (f"; calibration scored on {cal.get('scored_seasons')} out of sample" if cal else ""))
    for line in summary["estimated"] + summary["notes"]:
        st.caption(f"• {line}")
    st.subheader("Lineups")
    st.dataframe(lineup_frame(summary["lineups"]), hide_index=True, width="stretch")
    run = runner().object(run_id)
    site = summary["site"]
    if run is not None:
        try:
            data = lineups_csv(run.slate, site, [r["driver_ids"] for r in summary["lineups"]])
            st.download_button(f"Download {SITES[site]} upload CSV", data=data, file_name=f"pitwall-{site}-lineups.csv",
                               mime="text/csv", type="primary", on_click="ignore")
        except Exception as exc:  # noqa: BLE001
            show_error(exc, "No upload file for this slate")
    st.download_button("Download summary (JSON)", data=json.dumps(summary, indent=1), file_name="pitwall-summary.json",
                       on_click="ignore")
    if summary.get("non_qualifiers"):
        st.caption("Share of simulated races each driver misses (before qualifying): " + ", ".join(
            f"{r['name']} {100 * r['miss_pct']:.0f}%" for r in summary["non_qualifiers"][:10]))
    series = summary.get("series", "cup")
    st.plotly_chart(titled(exposure_chart(summary), series), width="stretch")
    if run is not None:
        ids = list(run.portfolio.problem.ids)
        st.plotly_chart(titled(lineup_points_chart(run.points, [[ids.index(x) for x in r["driver_ids"]] for r in summary["lineups"]]),
                               series), width="stretch")
    else:
        st.caption("Points distributions need the simulated races, which are kept in memory only by the process that ran them.")
    if summary.get("optimal_pct"):
        st.plotly_chart(titled(optimal_pct_chart(summary), series), width="stretch")
    st.caption(f"constraint_spec_hash `{summary['constraint_spec_hash']}`")


guard(form)
progress_panel()
guard(results, "The results cannot be shown")
