"""Scenarios: diagnostics of the latest run's simulated races."""

import numpy as np
import pandas as pd
import streamlit as st

from engine.interfaces.charts import driver_distribution_chart, skeleton_chart
from pages._shared import guard, runner, series_caption, titled

st.title("Scenarios")


def page() -> None:
    run_id = st.session_state.get("run_id")
    run = runner().object(run_id) if run_id else None
    if run is None:
        st.info("Run an optimization on the **Optimize** page: its simulated races are shown here.")
        return
    series_caption(run.slate)
    series = run.slate.series.value
    sims = run.scenarios
    diag = sims.diagnostics()
    c = st.columns(4)
    c[0].metric("Generated", f"{diag.n_scenarios_generated:,}")
    c[1].metric("Valid", f"{diag.n_valid:,}")
    c[2].metric("Rejection rate", f"{diag.rejection_rate:.1%}")
    c[3].metric("Mean |place differential|", f"{diag.avg_position_differential:.2f}")
    if sims.warning:
        st.warning(sims.warning)
    st.caption("Rejections by rule: " + ", ".join(f"{k} {v:,}" for k, v in sims.rejections.items()))
    sk = sims.skeleton()
    st.plotly_chart(titled(skeleton_chart(sk[sk["valid"]]), series), width="stretch")
    st.dataframe(sk[sk["valid"]][["laps_run", "green_laps", "cautions", "incidents", "stints", "leaders", "dnf"]].describe().round(2).T,
                 width="stretch")
    summ = sims.summary()
    d = len(run.slate.drivers)
    names = list(sims.inputs.names[:d])
    v = sims.valid
    order = np.argsort(summ["finish_mean"].to_numpy()[:d])
    metric = st.selectbox("Distribution per driver", ["finishing position", "DK points", "FD points", "laps led", "fastest laps"])
    arrays = {"finishing position": sims.finish, "DK points": sims.dk, "FD points": sims.fd, "laps led": sims.laps_led,
              "fastest laps": sims.fastest_laps}
    st.plotly_chart(titled(driver_distribution_chart(arrays[metric][v][:, :d].astype(float), names, f"{metric} per driver", metric,
                                                     order), series), width="stretch")
    table = summ.iloc[:d].copy()
    for col in ("win", "top5", "top10", "dnf"):
        table[col] = (100 * table[col]).round(1)
    st.subheader("Per driver (DNF, win, top-5, top-10 in %)")
    st.dataframe(table.round(2).sort_values("dk_mean", ascending=False), hide_index=True, width="stretch")
    incidents = pd.Series(sims.incident_size[v][sims.incident_size[v] > 0]).value_counts().sort_index()
    if len(incidents):
        st.caption("Multi-car incident sizes (cars out): " + ", ".join(f"{k}: {n:,}" for k, n in incidents.items()))


guard(page, "The scenarios cannot be shown")
