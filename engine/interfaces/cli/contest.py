"""`pitwall contest` (a contest simulated on an optimize run), `pitwall contest import` and
`pitwall contest review` (DraftKings contest standings), and `pitwall ownership fit`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from engine.core.contracts import MAX_SCENARIOS, MIN_SCENARIOS
from engine.interfaces.cli.common import (
    SLATE_OPTIONS,
    app,
    cli_dispatch,
    console,
    err,
    fail,
    load_slate_arg,
    outputs,
    parse_share,
    progress_bar,
    resolve_site,
    series_arg,
    settings_error,
    show_table,
    write_output,
)

contest_app = typer.Typer(help="Simulate a contest; import and review real DraftKings contests.", invoke_without_command=True)
app.add_typer(contest_app, name="contest")
ownership_app = typer.Typer(help="The ownership and field model, fitted on imported DraftKings contests.", no_args_is_help=True)
app.add_typer(ownership_app, name="ownership")


def field_model_arg(strength: str | None, series: str):
    """The field model of a run and the sentence saying which: --strength auto (the default: fitted
    on imported contests when there are enough, else the assumption), none, or a percentile."""
    from engine.core.settings import get_settings
    from engine.dfs.contest.field import with_strength
    from engine.dfs.contest.review import field_model_in_use

    model, said = field_model_in_use(get_settings().state_dir, series)
    if (strength or "auto").strip().lower() == "auto":
        return model, said
    try:
        model = with_strength(model, strength)
    except ValueError as exc:
        fail(f"--strength: {exc}")
    return model, model.describe() + f" (--strength {strength})"


@contest_app.callback(invoke_without_command=True)
def contest_cmd(
    ctx: typer.Context,
    race: str = SLATE_OPTIONS["race"],
    slate: str = SLATE_OPTIONS["slate"],
    salaries: str = SLATE_OPTIONS["salaries"],
    track: str = SLATE_OPTIONS["track"],
    date: str = SLATE_OPTIONS["date"],
    series: str = SLATE_OPTIONS["series"],
    site: str = SLATE_OPTIONS["site"],
    contest_size: int = typer.Option(10_000, min=2, max=1_000_000, help="entries in the contest (yours plus the field)"),
    entry_fee: float = typer.Option(20.0, min=0, help="entry fee, dollars"),
    payouts: str = typer.Option("large-gpp", help="single-entry-gpp | large-gpp | 50-50 | double-up, or a CSV place_from,place_to,prize"),
    lineups: int = typer.Option(150, min=1, max=500, help="your lineups (built by the optimizer)"),
    max_entries: int = typer.Option(150, min=1, help="entries a user may have in the contest"),
    ownership: str = typer.Option(None, help="CSV of projected ownership: driver name or DK/FD ID, ownership %"),
    salary_floor: int = typer.Option(None, help="the least a field lineup spends (default: $48,500 DK, $48,000 FD)"),
    objective: str = typer.Option("mean", help="the optimizer's objective for your lineups: mean | ceiling | cvar | target"),
    scenarios: int = typer.Option(10_000, min=MIN_SCENARIOS, max=MAX_SCENARIOS, help="simulated races"),
    seed: int = typer.Option(0, min=0, help="random seed: races, lineups and field"),
    json_out: str = typer.Option(None, "--json", help="the contest JSON: contest, field, portfolio, lineups"),
    out: str = typer.Option(None, help="upload CSV of your lineups for the site"),
    select: bool = typer.Option(False, "--select", help="choose the lineups for this contest (greedy expected profit from a pool "
                                "of at least 1,000 candidates) instead of entering the optimizer's"),
    max_exposure: str = typer.Option("100%", help="with --select: no driver in more than this share of the lineups (e.g. 50%)"),
    strength: str = typer.Option(None, help="the field's strength: auto (fitted on 5+ imported contests, else the stated "
                                 "assumption), none (no tilt), or a mean lineup percentile such as 0.85"),
) -> None:
    """Simulate a contest: your lineups against a field drawn from projected ownership, over the
    simulated races; prints each lineup's ROI, win%, cash% and duplicates, and the portfolio's profit.
    `pitwall contest import` reads DraftKings contest standings; `pitwall contest review` sets one
    against what Pitwall projected."""
    if ctx.invoked_subcommand is not None:
        return
    from pydantic import ValidationError

    from engine.core.settings import get_settings
    from engine.core.textio import InputFileError, read_text
    from engine.data.grid import SimulationError
    from engine.dfs.constraints import SpecError
    from engine.dfs.contest.field import read_ownership_csv
    from engine.dfs.contest.payouts import (
        ContestError,
        preset_payouts,
        read_payouts_csv,
    )
    from engine.dfs.contest.run import run_contest
    from engine.dfs.exports import ExportError, lineups_csv
    from engine.dfs.lineups import OptimizerError
    from engine.jobs.pipeline import OptimizeSettings
    from engine.jobs.service import optimize_job

    outputs((json_out, "--json"), (out, "--out"))
    s = load_slate_arg(race, slate, track, salaries, date, need_track=True, series=series)
    site = resolve_site(s, site)
    try:
        if Path(payouts).suffix.lower() == ".csv" or Path(payouts).exists():
            text, _ = read_text(payouts, f"--payouts {payouts}")
            table = read_payouts_csv(text, contest_size, entry_fee, source=f"--payouts {payouts}")
        else:
            table = preset_payouts(payouts, contest_size, entry_fee)
        if table.overlay():
            err.print(f"[yellow]warning:[/yellow] {table.overlay()}", highlight=False)
        given = None
        if ownership:
            text, _ = read_text(ownership, f"--ownership {ownership}")
            pos = read_ownership_csv(text, [d.name for d in s.drivers], [d.driver_id for d in s.drivers],
                                     [d.site_player_id for d in s.drivers], source=f"--ownership {ownership}",
                                     site_names=[d.site_name for d in s.drivers])
            given = {s.drivers[k].driver_id: v for k, v in pos.items()}
    except (ContestError, InputFileError) as exc:
        fail(str(exc))
    try:
        settings = OptimizeSettings(site=site, n_lineups=lineups, n_scenarios=scenarios, objective=objective, seed=seed)
    except ValidationError as exc:
        settings_error(exc)
    model, said = field_model_arg(strength, s.series.value)
    console.print(said, highlight=False)
    try:
        with progress_bar(f"Optimizing {s.slate_id}") as cb, cli_dispatch(False, cb) as d:
            _, run = optimize_job(s, settings, get_settings(), keep_object=True)(d)
        with progress_bar(f"Contest of {contest_size:,} entries") as cb:
            result = run_contest(run, contest_size, entry_fee, table, seed, salary_floor, given, max_entries, select=select,
                                 max_exposure=parse_share(max_exposure, "--max-exposure"), progress=cb, field_model=model)
    except (SpecError, OptimizerError, SimulationError, ContestError) as exc:
        fail(str(exc))
    c, f, pf = result["contest"], result["field"], result["portfolio"]
    show_table(f"your {len(result['lineups'])} lineups in a ${entry_fee:g} contest of {contest_size:,} ({c['payouts']}, "
               f"${c['payout_total']:,.0f} paid) over {c['races']:,} simulated races",
               ["#", "drivers", "salary", "ROI", "win %", "top 1%", "top 10%", "cash %", "dupes"],
               [[k + 1, ", ".join(r["drivers"]), f"{r['salary']:,}", f"{100 * r['roi']:.1f}%" if r["roi"] is not None else "-",
                 f"{r['win_pct']:.2f}", f"{r['top1_pct']:.1f}", f"{r['top10_pct']:.1f}", f"{r['cash_pct']:.1f}", r["avg_duplicates"]]
                for k, r in enumerate(result["lineups"])], left=("drivers",))
    show_table("ownership: target and field", ["driver", "target %", "field %"],
               [[o["name"], f"{o['target']:.1f}", f"{o['realized']:.1f}"] for o in f["ownership"]], left=("driver",))
    roi = f"{100 * pf['roi']:.1f}%" if pf["roi"] is not None else "-"
    console.print(f"portfolio: mean profit ${pf['mean_profit']:,.2f} (ROI {roi}), any cash {100 * pf['cash_prob']:.1f}%, "
                  f"profit p5 / p50 / p95 ${pf['profit_p5']:,.0f} / ${pf['profit_p50']:,.0f} / ${pf['profit_p95']:,.0f}")
    if "selection" in result:
        base = result["selection"]["optimizer_portfolio"]
        broi = f"{100 * base['roi']:.1f}%" if base["roi"] is not None else "-"
        console.print(f"selected from {result['selection']['candidates']:,} candidates; the optimizer's own {len(result['lineups'])} "
                      f"lineups: mean profit ${base['mean_profit']:,.2f} (ROI {broi})", highlight=False)
    console.print(f"field: {f['lineups']:,} lineups ({f['unique_lineups']:,} different, up to {f['max_duplicates']} alike), "
                  f"mean profit ${f['mean_profit']:,.2f} a lineup")
    fs = result["field_strength"]
    if "roi_without_tilt" in fs:
        console.print(f"field strength: mean lineup percentile {fs['realized_strength']:.3f} (without the tilt {fs['untilted_strength']:.3f}); "
                      f"portfolio ROI {100 * fs['roi']:.1f}% against it, {100 * fs['roi_without_tilt']:.1f}% against the untilted field",
                      highlight=False)
    console.print(f"{f['ownership_model']}; {f['method']}", highlight=False)
    for line in f["notes"]:
        console.print(f"note: {line}", highlight=False)
    try:
        if out:
            write_output(out, lineups_csv(s, site, [r["driver_ids"] for r in result["lineups"]]))
    except ExportError as exc:
        fail(str(exc))
    if json_out:
        write_output(json_out, json.dumps(result, indent=1))


def _standings_slate(text: str, path: str, salaries: str | None, series: str | None):
    """The slate a standings file was played on: --salaries, else the one shipped DraftKings slate
    all its players are on (refused, naming the candidates, when none or several are)."""
    from engine.data.history import salary_manifest
    from engine.data.slates import shipped_salary_slate
    from engine.dfs.contest.payouts import ContestError
    from engine.dfs.contest.standings import read_standings

    if salaries:
        return load_slate_arg(None, None, None, salaries, None, need_track=True, series=series)
    m = salary_manifest()
    fits, tried = [], []
    for f, row in m[m["site"] == "dk"].iterrows():
        if series and str(row["series"]) != series:
            continue
        slate = shipped_salary_slate(f)
        tried.append(f)
        try:
            read_standings(text, slate, path)
            fits.append(slate)
        except ContestError:
            continue
    if len(fits) == 1:
        return fits[0]
    if fits:
        fail(f"{path}: the standings fit {len(fits)} shipped slates ({', '.join(s.slate_id for s in fits)}): give --salaries")
    fail(f"{path}: the standings fit none of the shipped DraftKings slates ({', '.join(tried)}): give the salary file it was "
         "played on with --salaries")


def _read_standings_arg(path: str, salaries: str | None, series: str | None):
    from engine.core.textio import InputFileError, read_text
    from engine.dfs.contest.payouts import ContestError
    from engine.dfs.contest.standings import contest_id_of, read_standings

    try:
        text, _ = read_text(path, path)
    except InputFileError as exc:
        fail(str(exc))
    slate = _standings_slate(text, path, salaries, series_arg(series))
    try:
        return read_standings(text, slate, Path(path).name, contest_id_of(path, text))
    except ContestError as exc:
        fail(str(exc))


@contest_app.command("import")
def contest_import(
    files: list[str] = typer.Argument(..., help="DraftKings contest-standings CSV files (contest-standings-<id>.csv)"),
    salaries: str = typer.Option(None, help="the DKSalaries.csv of the slate the contests were played on (default: the shipped "
                                            "DraftKings slate all the file's players are on)"),
    series: str = typer.Option(None, "--series", help="cup, nxs or truck (default: the slate's)"),
) -> None:
    """Import real DraftKings contests: each entry's lineup and points, real ownership, duplicates and
    entries per user, stored in the state directory (a re-import replaces the contest). Once at least
    5 contests of a series are imported, the field model is fitted on them and every contest uses it."""
    from engine.core.settings import get_settings
    from engine.dfs.contest.review import field_model_in_use, simulated_points
    from engine.dfs.contest.standings import save_standings

    state = get_settings().state_dir
    read = [_read_standings_arg(f, salaries, series) for f in files]  # every file checked before any is stored
    for st in read:
        with progress_bar(f"Projecting {st.slate.slate_id} for contest {st.contest_id}") as cb:
            projection = simulated_points(st.slate).mean(axis=0)
            cb(1.0)
        path = save_standings(st, state, projection)
        s = st.summary()
        console.print(f"imported contest {st.contest_id} ({st.slate.series.value}, {st.slate.race_name or st.slate.slate_id}): "
                      f"{s['entries']:,} entries by {s['users']:,} users (at most {s['max_entries_by_one_user']} by one), "
                      f"{s['unique_lineups']:,} different lineups, up to {s['max_duplicates']} alike, top score {s['top_points']:g}",
                      highlight=False)
        top = sorted(range(len(st.ownership)), key=lambda k: -st.ownership[k])[:5]
        console.print("ownership: " + ", ".join(f"{st.slate.drivers[k].name} {st.ownership[k]:.1f}%" for k in top), highlight=False)
        for note in st.notes:
            console.print(f"note: {note}", highlight=False)
        console.print(f"stored {path}")
    for code in sorted({st.slate.series.value for st in read}):
        _, said = field_model_in_use(state, code)
        console.print(said, highlight=False)


@contest_app.command("review")
def contest_review(
    standings: str = typer.Option(..., help="the contest's DraftKings standings CSV"),
    salaries: str = typer.Option(None, help="the slate's DKSalaries.csv (default: the shipped slate its players are on)"),
    series: str = typer.Option(None, "--series", help="cup, nxs or truck (default: the slate's)"),
    lineups_file: str = typer.Option(None, "--lineups", help="your lineups: a DraftKings upload CSV (D,D,D,D,D,D; Name (ID))"),
    user: str = typer.Option(None, help="your DraftKings user name: your entries in the standings"),
    entry_fee: float = typer.Option(20.0, min=0, help="entry fee, dollars (the standings do not say)"),
    payouts: str = typer.Option("large-gpp", help="single-entry-gpp | large-gpp | 50-50 | double-up, or a CSV place_from,place_to,prize"),
    scenarios: int = typer.Option(5_000, min=MIN_SCENARIOS, max=MAX_SCENARIOS, help="simulated races of the pre-race projection"),
    seed: int = typer.Option(0, min=0),
    json_out: str = typer.Option(None, "--json", help="the review as JSON"),
) -> None:
    """A past contest against what Pitwall projected before the race: ownership projected against
    actual, the field's points against the simulated field's, duplicates, and (--user or --lineups)
    where your entries finished against their pre-race distribution, replayed against the real field."""
    import numpy as np

    from engine.core.settings import get_settings
    from engine.core.textio import InputFileError, read_text
    from engine.dfs.contest.payouts import (
        ContestError,
        preset_payouts,
        read_payouts_csv,
    )
    from engine.dfs.contest.review import review_contest, review_model, simulated_points
    from engine.dfs.exports import ExportError, read_lineups_csv

    outputs((json_out, "--json"))
    if lineups_file and user:
        fail("give --lineups or --user, not both")
    st = _read_standings_arg(standings, salaries, series)
    code = st.slate.series.value
    state = get_settings().state_dir
    model, said = review_model(state, code, st.contest_id)
    mine = mine_points = None
    try:
        if user:
            e = st.entries[st.entries["user"] == user]
            if e.empty:
                near = ", ".join(st.users().index[:5])
                fail(f"--user {user!r}: no entry of that user in {standings} (users with most entries: {near})")
            mine = e[[f"d{j}" for j in range(6)]].to_numpy(np.int64)
            mine_points = e["points"].to_numpy(float)
        elif lineups_file:
            text, _ = read_text(lineups_file, f"--lineups {lineups_file}")
            by_id = {str(d.site_player_id): k for k, d in enumerate(st.slate.drivers) if d.site_player_id}
            rows = read_lineups_csv(text, "dk")
            bad = sorted({i for r in rows for i in r if i not in by_id})
            if bad:
                fail(f"--lineups {lineups_file}: player id(s) {', '.join(bad[:6])} are not on the slate {st.slate.slate_id}")
            mine = np.array([[by_id[i] for i in r] for r in rows], np.int64)
        if Path(payouts).suffix.lower() == ".csv" or Path(payouts).exists():
            ptext, _ = read_text(payouts, f"--payouts {payouts}")
            table = read_payouts_csv(ptext, st.size, entry_fee, source=f"--payouts {payouts}")
        else:
            table = preset_payouts(payouts, st.size, entry_fee)
    except (ContestError, InputFileError, ExportError) as exc:
        fail(str(exc))
    with progress_bar(f"Simulating {scenarios:,} races of {st.slate.slate_id} before the race") as cb:
        P = simulated_points(st.slate, scenarios, seed)
        cb(0.5)
        out = review_contest(st, P, table, model, mine, mine_points, seed)
        cb(1.0)
    print_review(out, said)
    if json_out:
        write_output(json_out, json.dumps(out, indent=1))


SHOWN = 15  # entries listed by `contest review` (the JSON has them all)


def print_review(out: dict, said: str) -> None:
    c, own, fp = out["contest"], out["ownership"], out["field_points"]
    console.print(f"contest {c['contest_id']} ({c['series']}, {c['race_name'] or c['slate_id']}, {c['date']}): {c['entries']:,} entries "
                  f"by {c['users']:,} users", highlight=False)
    console.print(said, highlight=False)
    console.print(f"ownership: projected before the race against actual, mean absolute error {own['mae']:.2f} points", highlight=False)
    show_table("largest ownership misses", ["driver", "projected %", "actual %"],
               [[m["driver"], f"{m['projected']:.1f}", f"{m['actual']:.1f}"] for m in own["largest_misses"]], left=("driver",))
    show_table("field points: the real field's lineups and a simulated field, scored over the same simulated races; the real result",
               ["", *[f"p{q}" for q in fp["quantiles"]]],
               [["real field (simulated races)", *fp["real_field"]], ["simulated field", *fp["simulated_field"]],
                ["real result", *fp["real_result"]]], left=("",))
    r, s = out["duplicates"]["real"], out["duplicates"]["simulated"]
    console.print(f"duplicates: real {r['unique_lineups']:,} different lineups, up to {r['max_duplicates']} alike, "
                  f"{100 * r['share_duplicated']:.1f}% of entries in a repeated lineup; simulated {s['unique_lineups']:,}, up to "
                  f"{s['max_duplicates']}, {100 * s['share_duplicated']:.1f}%", highlight=False)
    if "mine" in out:
        m = out["mine"]
        shown = m["lineups"][:SHOWN]
        show_table(f"your entries: the real result against Pitwall's pre-race distribution (the best {len(shown)} of "
                   f"{len(m['lineups'])})", ["drivers", "real pts", "rank", "pre-race mean", "percentile of the real result"],
                   [[", ".join(x["drivers"]), f"{x['real_points']:.2f}", x["real_rank"], f"{x['pre_race_mean']:.1f}",
                     f"{x['pre_race_percentile_of_real']:.1f}"] for x in shown], left=("drivers",))
        pct = [x["pre_race_percentile_of_real"] for x in m["lineups"]]
        console.print(f"your {len(pct)} entries: best rank {min(x['real_rank'] for x in m['lineups'])}, mean percentile of the real "
                      f"result in the pre-race distribution {sum(pct) / len(pct):.1f} (50 when the projection is right on average)",
                      highlight=False)
        vr, vm = m["replay_vs_real_field"], m["replay_vs_modelled_field"]
        console.print(f"replayed over the simulated races: expected ROI {100 * vr['roi']:.1f}% against the real field, "
                      f"{100 * vm['roi']:.1f}% against the modelled field", highlight=False)


@ownership_app.command("fit")
def ownership_fit(
    series: str = typer.Option("cup", "--series", help="cup, nxs or truck"),
    json_out: str = typer.Option(None, "--json", help="the report as JSON"),
) -> None:
    """Fit the ownership model (sharpness, points weight) and the field strength on the imported
    DraftKings contests; reports the leave-one-contest-out ownership error against the default
    assumption and each field's score distribution, simulated against real."""
    from engine.core.settings import get_settings
    from engine.dfs.contest.review import field_model_in_use, ownership_report
    from engine.dfs.contest.standings import MIN_CONTESTS, load_contests

    outputs((json_out, "--json"))
    code = series_arg(series)
    state = get_settings().state_dir
    contests = load_contests(state, code)
    if not contests:
        fail(f"no imported {code} contests: import DraftKings contest standings with `pitwall contest import FILE`")
    with progress_bar(f"Fitting on {len(contests)} contest(s)") as cb:
        rep = ownership_report(contests, progress=cb)
    m = rep["model"]
    console.print(f"fitted on {len(contests)} contest(s): ownership sharpness {m['sharpness']:g}, points weight {m['points_weight']:g}, "
                  f"field strength {m['strength']:.3f} (mean lineup percentile); in-sample ownership MAE {rep['in_sample_mae']:.2f} points",
                  highlight=False)
    if rep["leave_one_out"]:
        show_table("leave one contest out: ownership MAE (points) of the model fitted on the others, and of the default assumption",
                   ["contest", "fitted", "assumption", "sharpness", "points weight"],
                   [[r["contest_id"], f"{r['mae_fitted']:.2f}", f"{r['mae_assumption']:.2f}", r["fitted_on_others"]["sharpness"],
                     r["fitted_on_others"]["points_weight"]] for r in rep["leave_one_out"]], left=("contest",))
        mean = rep["leave_one_out_mean"]
        console.print(f"leave-one-out mean: fitted {mean['fitted']:.2f}, assumption {mean['assumption']:.2f}", highlight=False)
    for sc in rep["field_scores"]:
        show_table(f"contest {sc['contest_id']}: entry points over simulated races (real lineups / simulated field)",
                   ["", *[f"p{q}" for q in sc["quantiles"]]],
                   [["real field", *sc["real_field"]], ["simulated field", *sc["simulated_field"]]], left=("",))
    _, said = field_model_in_use(state, code)
    console.print(said if len(contests) >= MIN_CONTESTS else f"in use: {said}", highlight=False)
    if json_out:
        write_output(json_out, json.dumps(rep, indent=1))
