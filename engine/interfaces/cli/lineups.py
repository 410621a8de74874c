"""The lineup commands: `pitwall constraints` and `pitwall optimize` (`pitwall contest` is in engine.interfaces.cli.contest)."""

from __future__ import annotations

import json

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
