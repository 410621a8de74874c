"""Contest: the slate's lineups against a field drawn from projected ownership, in a background
job (progress, cancel); ownership target against field share, the profit distribution, the
payout curve, the per-lineup table and the upload file of the entered lineups."""

import json

import pandas as pd
import streamlit as st

from engine.core.settings import get_settings
from engine.core.textio import decode_text
from engine.dfs.contest.field import FIELD_METHOD, OWNERSHIP_MODEL, SALARY_FLOOR
from engine.dfs.contest.payouts import PRESETS, money, preset_payouts, read_payouts_csv
from engine.dfs.exports import lineups_csv
from engine.jobs.pipeline import OptimizeSettings
from engine.jobs.store import FINISHED
from engine.jobs.tasks import contest_plan
from engine.model.params import load_params
from pages._shared import (
    SITES,
    cluster_caption,
    guard,
    job_progress,
    lineup_frame,
    owner,
    require_slate,
    runner,
    show_error,
)

st.title("Contest")


def form() -> None:
    s = require_slate()
    cluster_caption()
    site = s.site.value if s.site else (st.session_state.get("site") or "dk")
    st.caption(f"{OWNERSHIP_MODEL}. Set your own in the Slate page's own % column (or import a CSV there); {FIELD_METHOD}.")
    with st.form("contest"):
        c1, c2, c3, c4 = st.columns(4)
        size = c1.number_input("Contest size (entries)", min_value=2, max_value=1_000_000, value=10_000, step=100, key="ct_size")
        fee = c2.number_input("Entry fee ($)", min_value=0.0, value=20.0, step=1.0, key="ct_fee")
        preset = c3.selectbox("Payouts", list(PRESETS), index=list(PRESETS).index("large-gpp"), key="ct_preset",
                              help="; ".join(f"{k}: {v[0]}" for k, v in PRESETS.items()))
        n_lineups = c4.number_input("Your lineups", min_value=1, max_value=150, value=20, step=1, key="ct_lineups")
        c1, c2, c3, c4 = st.columns(4)
        n_scen = c1.selectbox("Simulated races", [1000, 2000, 5000, 10000], index=2, key="ct_scenarios")
        seed = c2.number_input("Seed", min_value=0, value=0, step=1, key="ct_seed")
        floor = c3.number_input("Field salary floor ($)", min_value=0, max_value=s.salary_cap or 50_000,
                                value=SALARY_FLOOR[site], step=500, key="ct_floor")
        select = c4.checkbox("Choose lineups for this contest", key="ct_select",
                             help="greedy expected profit from 1,000+ candidates, instead of the optimizer's mean-optimal lineups")
        max_exp = c4.number_input("Max exposure when choosing (%)", min_value=1.0, max_value=100.0, value=100.0, step=5.0, key="ct_maxexp")
        table = st.file_uploader("Payout table CSV (place_from,place_to,prize), instead of the preset", type=["csv"], key="ct_payouts")
        run = st.form_submit_button("Run contest", type="primary")
    if run:
        try:
            if table is not None:
                payouts = read_payouts_csv(decode_text(table.getvalue(), table.name)[0], int(size), float(fee), source=table.name)
            else:
                payouts = preset_payouts(preset, int(size), float(fee))
            if payouts.overlay():
                st.warning(payouts.overlay())
            settings = OptimizeSettings(site=site, n_lineups=int(n_lineups), n_scenarios=int(n_scen), seed=int(seed))
            contest = {"size": int(size), "entry_fee": float(fee), "payouts": payouts, "seed": int(seed), "floor": int(floor),
                       "select": bool(select), "max_exposure": max_exp / 100}
            st.session_state["ct_run"] = runner().submit("contest", contest_plan(s, settings, get_settings(), contest, model=load_params(series=s.series.value)),
                                                         owner=owner(), request={"slate_id": s.slate_id, "contest_size": int(size)})
        except Exception as exc:  # noqa: BLE001 - shown; nothing was started
            show_error(exc, "The contest was not started")


@st.fragment(run_every=0.5)
def progress_panel() -> None:
    job_progress("ct_run", 'contest', "Contest")


def results() -> None:
    run_id = st.session_state.get("ct_run")
    status = runner().status(run_id, "contest") if run_id else None
    if status is None or status["status"] not in FINISHED:
        return
    if status["status"] == "failed":
        show_error(ValueError(status["error"]), "The contest run failed")
        return
    if status["status"] == "cancelled":
        st.warning("The contest run was cancelled.")
        return
    res = runner().result(run_id, "contest")
    c, f, pf = res["contest"], res["field"], res["portfolio"]
    cols = st.columns(3)
    cols[0].metric("Expected profit", money(pf["mean_profit"]))
    cols[1].metric("ROI", f"{100 * pf['roi']:.1f}%" if pf["roi"] is not None else "-")
    cols[2].metric("Any cash", f"{100 * pf['cash_prob']:.1f}%")
    cols = st.columns(3)
    cols[0].metric("Profit p5", money(pf["profit_p5"]), help="5% of the simulated races end worse than this")
    cols[1].metric("Profit p95", money(pf["profit_p95"]), help="5% of the simulated races end better than this")
    cols[2].metric("Field mean profit", money(f["mean_profit"]), help="a field lineup's expected profit")
    st.caption(f"{c['size']:,} entries at {money(c['entry_fee'])} ({c['payouts']}, {money(c['payout_total'], cents=False)} paid to "
               f"{c['paid_places']:,} places) over {c['races']:,} simulated races; model {res['model']['hash']} fitted on seasons "
               f"{res['model']['fit_seasons']}")
    if "selection" in res:
        base = res["selection"]["optimizer_portfolio"]
        st.caption(f"Chosen from {res['selection']['candidates']:,} candidates ({res['selection']['method']}). The optimizer's own "
                   f"lineups: expected profit {money(base['mean_profit'])}, ROI {100 * base['roi']:.1f}%.")
    for note in f["notes"] + res.get("notes", []):
        st.caption(f"• {note}")
    st.subheader("Your lineups")
    st.dataframe(lineup_frame(res["lineups"]), hide_index=True, width="stretch")
    s = st.session_state.get("slate")
    if s is not None:
        try:
            site = s.site.value if s.site else "dk"
            st.download_button(f"Download {SITES[site]} upload CSV", data=lineups_csv(s, site, [r["driver_ids"] for r in res["lineups"]]),
                               file_name=f"pitwall-{site}-contest-lineups.csv", mime="text/csv", type="primary", on_click="ignore")
        except Exception as exc:  # noqa: BLE001
            show_error(exc, "No upload file for this slate")
    st.download_button("Download contest (JSON)", data=json.dumps(res, indent=1), file_name="pitwall-contest.json", on_click="ignore")
    c1, c2 = st.columns(2)
    c1.subheader("Ownership: target and field")
    c1.bar_chart(pd.DataFrame(f["ownership"]).set_index("name")[["target", "realized"]], stack=False, horizontal=True, height=700)
    c2.subheader("Portfolio profit (quantiles over the races)")
    c2.line_chart(pd.DataFrame({"percentile": list(range(0, 101, 5)), "profit": pf["profit_quantiles"]}).set_index("percentile"))
    c2.subheader("Payout curve")
    pay = pd.DataFrame([{"place": p, "prize": r["prize"]} for r in res["payout_table"] for p in (r["place_from"], r["place_to"])])
    c2.line_chart(pay.set_index("place"))


guard(form)
progress_panel()
guard(results)
