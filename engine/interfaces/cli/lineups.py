"""The lineup commands: `pitwall constraints`, `pitwall optimize` and `pitwall contest`."""

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
    read_rules_arg,
    resolve_site,
    settings_error,
    show_table,
    write_output,
)


@app.command("constraints")
def constraints_cmd(
    race: str = typer.Option(None, help="a shipped race, SEASON-RACE"),
    slate: str = typer.Option(None, help="a slate JSON or a DK/FD salary file"),
    track: str = typer.Option(None, help="track id for a salary file"),
    series: str = SLATE_OPTIONS["series"],
    site: str = typer.Option(None, help="dk or fd (default: the salary file's site, else dk)"),
    rules: str = typer.Option(None, help="JSON file with a list of analyst rules"),
    neo4j: str = typer.Option(None, "--neo4j", help="read the ontology from this Neo4j (default: settings)"),
    as_json: bool = typer.Option(False, "--json", help="print the canonical JSON of the spec"),
) -> None:
    """Compile a slate's constraints: the spec in plain words and its hash."""
    from engine.core.settings import Settings
    from engine.dfs.constraints import ConstraintCompiler, SpecError, describe_spec
    from engine.dfs.ontology import open_with_fallback

    analyst = read_rules_arg(rules)
    s = load_slate_arg(race, slate, track, series=series)
    site = resolve_site(s, site)
    settings = Settings(ontology_backend="neo4j", neo4j_uri=neo4j) if neo4j else None
    repo, notice = open_with_fallback(settings)
    if notice:
        err.print(f"[yellow]notice:[/yellow] {notice}")
    try:
        spec = ConstraintCompiler(repo).compile(s, site, analyst)
    except (SpecError, ValueError) as exc:
        fail(str(exc))
    if as_json:
        print(spec.canonical_json())
        return
    for note in s.notes:
        console.print(f"slate: {note}")
    for line in describe_spec(spec):
        console.print(f"- {line}")
    console.print(f"ontology: {repo.describe()}")
    console.print(f"constraint_spec_hash {spec.spec_hash}")


@app.command("optimize")
def optimize_cmd(
    race: str = SLATE_OPTIONS["race"],
    slate: str = SLATE_OPTIONS["slate"],
    salaries: str = SLATE_OPTIONS["salaries"],
    track: str = SLATE_OPTIONS["track"],
    date: str = SLATE_OPTIONS["date"],
    series: str = SLATE_OPTIONS["series"],
    site: str = SLATE_OPTIONS["site"],
    lineups: int = typer.Option(20, min=1, max=500, help="number of lineups"),
    scenarios: int = typer.Option(10_000, min=MIN_SCENARIOS, max=MAX_SCENARIOS, help="simulated races"),
    objective: str = typer.Option("mean", help="mean | ceiling | cvar | target"),
    target: float = typer.Option(None, help="target score for --objective target (default: p90 of the mean-optimal lineup)"),
    seed: int = typer.Option(0, min=0, help="random seed (0 or more)"),
    min_unique: int = typer.Option(1, min=0, max=6, help="at least this many different drivers between any two lineups"),
    min_exposure: str = typer.Option(None, help="every driver in at least this share of lineups (0.1 or 10%)"),
    max_exposure: str = typer.Option(None, help="every driver in at most this share of lineups (0.4 or 40%; locks aside)"),
    solver: str = typer.Option("cbc", help="cbc | highs"),
    sim_precision: bool = typer.Option(False, help="build each lineup on its own resample of the simulated races"),
    rules: str = typer.Option(None, help="JSON file with analyst rules"),
    out: str = typer.Option(None, help="upload CSV for the site"),
    json_out: str = typer.Option(None, "--json", help="summary JSON: lineups, exposures, optimal%, spec hash"),
    entries: str = typer.Option(None, help="a DKEntries.csv to fill with the lineups"),
    entries_out: str = typer.Option(None, help="where to write the filled DKEntries.csv"),
    cluster: bool = typer.Option(False, "--cluster", help="run on the Dask cluster (always when PITWALL_DASK_SCHEDULER is set)"),
) -> None:
    """Simulate a slate and build lineups; prints lineups, exposures and optimal%."""
    from pydantic import ValidationError

    from engine.core.settings import get_settings
    from engine.core.textio import InputFileError, read_text
    from engine.data.grid import SimulationError
    from engine.dfs.constraints import SpecError
    from engine.dfs.exports import ExportError, fill_dk_entries, lineups_csv
    from engine.dfs.lineups import OptimizerError
    from engine.jobs.pipeline import OptimizeSettings
    from engine.jobs.service import optimize_job

    if target is not None and objective != "target":
        fail(f"--target is for --objective target (the objective is {objective})")
    entries_text = None
    if entries:
        try:
            entries_text, _ = read_text(entries, f"--entries {entries}")
        except InputFileError as exc:
            fail(str(exc))
    outputs((out, "--out"), (json_out, "--json"), (entries_out or ("DKEntries-filled.csv" if entries else None), "--entries-out"))
    analyst = read_rules_arg(rules)
    s = load_slate_arg(race, slate, track, salaries, date, need_track=True, series=series)
    site = resolve_site(s, site)
    if entries and site != "dk":
        fail("--entries fills a DraftKings DKEntries.csv; this run is for FanDuel")
    try:
        settings = OptimizeSettings(site=site, n_lineups=lineups, n_scenarios=scenarios, objective=objective, seed=seed,
                                    min_unique=min_unique, solver=solver, sim_precision=sim_precision, target=target, rules=analyst,
                                    min_exposure=parse_share(min_exposure, "--min-exposure"),
                                    max_exposure=parse_share(max_exposure, "--max-exposure"))
    except ValidationError as exc:
        settings_error(exc)
    try:
        with progress_bar(f"Optimizing {s.slate_id}") as cb, cli_dispatch(cluster, cb) as d:
            summary, _ = optimize_job(s, settings, get_settings())(d)
    except (SpecError, OptimizerError, SimulationError) as exc:
        fail(str(exc))
    scenarios_valid = summary["scenario_diagnostics"]["n_valid"]
    show_table(f"{lineups} {site.upper()} lineups ({objective}) on {scenarios_valid:,} simulated races",
               ["#", "drivers", "salary", "mean", "p10", "p90"],
               [[r["lineup"], ", ".join(r["drivers"]), f"{r['salary']:,}", f"{r['mean']:.1f}", f"{r['p10']:.1f}", f"{r['p90']:.1f}"]
                for r in summary["lineups"]], left=("drivers",))
    opt = {r["driver_id"]: r["optimal_pct"] for r in summary.get("optimal_pct", [])}
    show_table("exposures and optimal%", ["driver", "exposure", "optimal %"],
               [[r["name"], f"{100 * r['exposure']:.0f}%", f"{100 * opt.get(r['driver_id'], 0):.1f}%"] for r in summary["exposures"]],
               left=("driver",))
    for line in summary["estimated"]:
        console.print(f"estimated: {line}")
    for line in summary["notes"]:
        console.print(f"note: {line}")
    if summary.get("non_qualifiers"):
        console.print("share of simulated races missed (before qualifying): " + ", ".join(
            f"{r['name']} {100 * r['miss_pct']:.0f}%" for r in summary["non_qualifiers"]))
    from engine.core.series import SHORT_NAMES

    console.print(f"{SHORT_NAMES[summary['series']]} model {summary['model']['hash']} fitted on seasons "
                  f"{summary['model']['fit_seasons']}")
    console.print(f"constraint_spec_hash {summary['constraint_spec_hash']}")
    ids = [r["driver_ids"] for r in summary["lineups"]]
    try:
        if out:
            write_output(out, lineups_csv(s, site, ids))
        if entries_text is not None:
            filled, notes = fill_dk_entries(entries_text, s, ids)
            for n in notes:
                console.print(f"entries: {n}")
            write_output(entries_out or "DKEntries-filled.csv", filled)
    except ExportError as exc:
        fail(str(exc))
    if json_out:
        write_output(json_out, json.dumps(summary, indent=1))


@app.command("contest")
def contest_cmd(
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
) -> None:
    """Simulate a contest: your lineups against a field drawn from projected ownership, over the
    simulated races; prints each lineup's ROI, win%, cash% and duplicates, and the portfolio's profit."""
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
    try:
        with progress_bar(f"Optimizing {s.slate_id}") as cb, cli_dispatch(False, cb) as d:
            _, run = optimize_job(s, settings, get_settings(), keep_object=True)(d)
        with progress_bar(f"Contest of {contest_size:,} entries") as cb:
            result = run_contest(run, contest_size, entry_fee, table, seed, salary_floor, given, max_entries, select=select,
                                 max_exposure=parse_share(max_exposure, "--max-exposure"), progress=cb)
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
