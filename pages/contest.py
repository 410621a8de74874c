"""Contest: the slate's lineups against a field drawn from projected ownership, in a background
job (progress, cancel); ownership target against field share, the profit distribution, the
payout curve, the per-lineup table and the upload file of the entered lineups."""

import json

import pandas as pd
import streamlit as st

from engine.core.settings import get_settings
from engine.core.textio import decode_text
from engine.dfs.contest.field import FIELD_METHOD, SALARY_FLOOR, with_strength
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
    from engine.dfs.contest.review import field_model_in_use

    model, said = field_model_in_use(get_settings().state_dir, s.series.value)
    st.caption(f"{said}. Set your own ownership in the Slate page's own % column (or import a CSV there); {FIELD_METHOD}.")
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
        strength = st.text_input("Field strength", value="auto", key="ct_strength",
                                 help="auto: the field model above; none: no tilt; or the field's mean lineup percentile (e.g. 0.85)")
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
                       "select": bool(select), "max_exposure": max_exp / 100, "field_model": with_strength(model, strength)}
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
    fs = res.get("field_strength", {})
    st.caption(f"{fs.get('description', '')}.")
    if "roi_without_tilt" in fs:
        cols = st.columns(3)
        cols[0].metric("Field strength", f"{fs['realized_strength']:.3f}", help="the field's mean lineup percentile by projected points")
        cols[1].metric("Without the tilt", f"{fs['untilted_strength']:.3f}")
        cols[2].metric("ROI against the untilted field", f"{100 * fs['roi_without_tilt']:.1f}%",
                       help="the same lineups against the field the ownership model gives without the strength tilt")
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


def real_contests() -> None:
    """DraftKings contest standings: import them (they become the field model's data), fit the
    ownership model on them, and review one against what Pitwall projected before the race."""
    from engine.dfs.contest.review import (
        ownership_report,
        review_contest,
        review_model,
        simulated_points,
    )
    from engine.dfs.contest.standings import (
        MIN_CONTESTS,
        contest_id_of,
        load_contests,
        read_standings,
        save_standings,
    )

    s = require_slate()
    state = get_settings().state_dir
    st.divider()
    st.subheader("Real contests (DraftKings standings)")
    st.caption(f"Download a contest's standings from DraftKings (contest-standings-<id>.csv) and import it here, on the slate it was "
               f"played on (the one loaded). From {MIN_CONTESTS} imported contests of a series on, the field model is fitted on them.")
    up = st.file_uploader("Contest standings CSV", type=["csv"], key="ct_standings", accept_multiple_files=True)
    if up and st.button("Import standings"):
        try:
            read = [read_standings(decode_text(f.getvalue(), f.name)[0], s, f.name, contest_id_of(f.name, decode_text(f.getvalue(), f.name)[0]))
                    for f in up]
            with st.spinner("Projecting the slate (Pitwall's pre-race mean points)..."):
                proj = simulated_points(s).mean(axis=0)
                for one in read:
                    save_standings(one, state, proj)
            st.success(f"Imported {len(read)} contest(s): " + ", ".join(f"{x.contest_id} ({x.size:,} entries)" for x in read))
        except Exception as exc:  # noqa: BLE001 - shown; nothing was stored
            show_error(exc, "Nothing was imported")
    stored = load_contests(state, s.series.value)
    if not stored:
        st.caption("No contest of this series imported yet.")
        return
    st.dataframe(pd.DataFrame([c.standings.summary() for c in stored]).drop(columns=["notes"]), hide_index=True, width="stretch")
    c1, c2 = st.columns(2)
    if c1.button("Fit the ownership model", key="ct_fit"):
        with st.spinner(f"Fitting on {len(stored)} contest(s), leaving each out in turn..."):
            st.session_state["ct_fit_report"] = ownership_report(stored)
    rep = st.session_state.get("ct_fit_report")
    if rep:
        st.caption(rep["description"])
        if rep["leave_one_out"]:
            st.dataframe(pd.DataFrame([{"contest": r["contest_id"], "MAE fitted": r["mae_fitted"], "MAE assumption": r["mae_assumption"]}
                                       for r in rep["leave_one_out"]]), hide_index=True)
    pick = c2.selectbox("Review a contest", [c.standings.contest_id for c in stored], key="ct_review_pick")
    user = c2.text_input("Your DraftKings user name (optional)", key="ct_review_user")
    if c2.button("Review", key="ct_review"):
        one = next(c for c in stored if c.standings.contest_id == pick).standings
        model, said = review_model(state, s.series.value, pick)
        mine = one.entries[one.entries["user"] == user.strip()] if user.strip() else None
        with st.spinner("Simulating the race as Pitwall saw it before the green flag..."):
            P = simulated_points(one.slate, 2000, 0)
            out = review_contest(one, P, preset_payouts("large-gpp", one.size, 20.0), model,
                                 None if mine is None or mine.empty else mine[[f"d{j}" for j in range(6)]].to_numpy(),
                                 None if mine is None or mine.empty else mine["points"].to_numpy(float))
        st.session_state["ct_review_out"] = (out, said)
    out, said = st.session_state.get("ct_review_out") or (None, "")
    if out:
        st.caption(said)
        st.caption(f"Ownership projected before the race against actual: MAE {out['ownership']['mae']:.2f} points "
                   f"({out['ownership']['model']}).")
        st.dataframe(pd.DataFrame(out["ownership"]["largest_misses"]), hide_index=True)
        fp = out["field_points"]
        st.dataframe(pd.DataFrame({"": ["real field (simulated races)", "simulated field", "real result"],
                                   **{f"p{q}": [fp["real_field"][i], fp["simulated_field"][i], fp["real_result"][i]]
                                      for i, q in enumerate(fp["quantiles"])}}), hide_index=True)
        st.caption(f"Duplicates: real {out['duplicates']['real']}, simulated {out['duplicates']['simulated']}.")
        if "mine" in out:
            m = out["mine"]
            st.dataframe(pd.DataFrame(m["lineups"]), hide_index=True)
            st.caption(f"Replayed over the simulated races: ROI {100 * m['replay_vs_real_field']['roi']:.1f}% against the real field, "
                       f"{100 * m['replay_vs_modelled_field']['roi']:.1f}% against the modelled field.")


guard(form)
progress_panel()
guard(results)
guard(real_contests, "The real contests cannot be shown")
