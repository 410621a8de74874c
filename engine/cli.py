"""`pitwall` command line: the same engine as the app and the API."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

app = typer.Typer(help="Pitwall: NASCAR DFS scenario lab.", no_args_is_help=True, add_completion=False)
data_app = typer.Typer(help="The shipped data.", no_args_is_help=True)
app.add_typer(data_app, name="data")
onto_app = typer.Typer(help="The ontology: drivers, teams, manufacturers, tracks, races, rules.", no_args_is_help=True)
app.add_typer(onto_app, name="ontology")
console = Console()
err = Console(stderr=True)


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[float], None]]:
    """A terminal progress bar fed by the engine's progress callbacks (fraction 0..1)."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=1.0)
        yield lambda fraction: bar.update(task, completed=min(max(float(fraction), 0.0), 1.0))


def fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


@data_app.command("check")
def data_check(
    extra_results: list[str] = typer.Option([], help="extra results file(s), shipped results schema"),
    extra_index: list[str] = typer.Option([], help="extra race-index file(s), shipped index schema"),
    extra_loop: list[str] = typer.Option([], help="extra loop-data file(s), NASCAR loop schema"),
    as_json: bool = typer.Option(False, "--json", help="print the coverage as JSON"),
) -> None:
    """Coverage of the shipped data (seasons, races, rows per table); non-zero exit on an integrity failure."""
    from engine.data import DataError, ExtraFiles, History, integrity_report

    try:
        history = History.load(ExtraFiles(tuple(extra_results), tuple(extra_index), tuple(extra_loop)))
    except DataError as exc:
        fail(str(exc))
    with progress_bar("Checking races") as cb:
        coverage, failures = integrity_report(history, cb)
    coverage["notes"] = history.notes
    coverage["failures"] = failures
    if as_json:
        console.print_json(json.dumps(coverage))
    else:
        console.print(f"seasons {coverage['seasons']}: {coverage['races']} races, {coverage['drivers']} drivers")
        t = Table("table", "rows")
        for name, rows in coverage["rows"].items():
            t.add_row(name, str(rows))
        console.print(t)
        per = ", ".join(f"{s}: {n}" for s, n in coverage["races_per_season"].items())
        console.print(f"races per season: {per}")
        console.print(f"loop data (fastest laps): {coverage['loop_seasons']}")
        console.print(f"known exceptions (laps led not summing to race laps): {', '.join(coverage['known_exceptions'])}")
        for note in history.notes:
            console.print(f"note: {note}")
    if failures:
        for f in failures:
            err.print(f"[red]integrity failure:[/red] {f}")
        raise typer.Exit(1)
    if not as_json:
        console.print("[green]integrity: ok[/green]")


@onto_app.command("build")
def ontology_build() -> None:
    """Build the embedded ontology (data/ontology) from the shipped data, keeping its rules."""
    import time

    from engine.data import History
    from engine.ontology.embedded import EmbeddedOntology
    from engine.ontology.model import build_ontology

    repo = EmbeddedOntology()
    t = time.perf_counter()
    with progress_bar("Building the ontology") as cb:
        onto = build_ontology(History.load(), repo.rules())
        cb(0.5)
        counts = repo.write(onto)
        cb(1.0)
    console.print(f"built {repo.describe()} in {time.perf_counter() - t:.2f} s: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@onto_app.command("sync")
def ontology_sync(
    neo4j: str = typer.Option(..., "--neo4j", help="Bolt URI, e.g. bolt://127.0.0.1:7687"),
    user: str = typer.Option(None, envvar="PITWALL_NEO4J_USER"),
    password: str = typer.Option(None, envvar="PITWALL_NEO4J_PASSWORD"),
) -> None:
    """Write the whole embedded ontology to Neo4j (batched UNWIND ... MERGE; idempotent)."""
    import time

    from engine.ontology import OntologyUnavailable
    from engine.ontology.embedded import EmbeddedOntology
    from engine.ontology.neo4j_backend import Neo4jOntology

    onto = EmbeddedOntology().read_all()
    repo = Neo4jOntology(neo4j, user, password)
    try:
        version = repo.ping()
        t = time.perf_counter()
        with progress_bar(f"Syncing to {neo4j}") as cb:
            counts = repo.write(onto)
            cb(1.0)
        elapsed = time.perf_counter() - t
        differences = repo.read_all().differences(onto)
    except OntologyUnavailable as exc:
        fail(str(exc))
    finally:
        repo.close()
    console.print(f"synced to Neo4j {version} at {neo4j} in {elapsed:.2f} s ({repo.queries} queries): "
                  + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if differences:
        fail("read back differs: " + "; ".join(differences))
    console.print("read back: same facts as the embedded ontology")


@onto_app.command("rules")
def ontology_rules() -> None:
    """List the rules stored in the ontology."""
    from engine.constraints import describe_rule
    from engine.ontology import open_with_fallback

    repo, notice = open_with_fallback()
    if notice:
        err.print(f"[yellow]notice:[/yellow] {notice}")
    for r in repo.rules():
        console.print(f"{r.rule_id} [{'on' if r.enabled else 'off'}]: {describe_rule(r)}" + (f" - {r.description}" if r.description else ""))


@app.command("constraints")
def constraints_cmd(
    race: str = typer.Option(None, help="a shipped race, SEASON-RACE"),
    slate: str = typer.Option(None, help="a slate JSON or a DK/FD salary file"),
    track: str = typer.Option(None, help="track id for a salary file"),
    site: str = typer.Option("dk", help="dk or fd"),
    rules: str = typer.Option(None, help="JSON file with a list of analyst rules"),
    neo4j: str = typer.Option(None, "--neo4j", help="read the ontology from this Neo4j (default: settings)"),
    as_json: bool = typer.Option(False, "--json", help="print the canonical JSON of the spec"),
) -> None:
    """Compile a slate's constraints: the spec in plain words and its hash."""
    from pydantic import TypeAdapter, ValidationError

    from engine.constraints import ConstraintCompiler, SpecError, describe_spec
    from engine.contracts import Rule
    from engine.ontology import open_with_fallback
    from engine.settings import Settings

    s = load_slate_arg(race, slate, track)
    analyst = []
    if rules:
        try:
            analyst = TypeAdapter(list[Rule]).validate_json(open(rules).read())
        except (OSError, ValidationError) as exc:
            fail(f"{rules}: {exc}")
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
    for line in describe_spec(spec):
        console.print(f"- {line}")
    console.print(f"ontology: {repo.describe()}")
    console.print(f"constraint_spec_hash {spec.spec_hash}")


@app.command("backtest")
def backtest_cmd(
    seasons: str = typer.Option("2022-2024", help="seasons to score (after the model's fit seasons)"),
    track_type: str = typer.Option(None, help="only races of this track type"),
    scenarios: int = typer.Option(2000, help="simulated races per race"),
    seed: int = typer.Option(0),
    json_out: str = typer.Option(None, "--json", help="report.json (docs/calibration.json is the one the optimize response reads)"),
    html_out: str = typer.Option(None, "--html", help="standalone HTML report (opens offline)"),
    markdown: str = typer.Option(None, help="write a markdown page (e.g. docs/calibration.md) with its charts next to it"),
    extra_results: list[str] = typer.Option([], help="extra results file(s) for newer seasons (shipped results schema)"),
    extra_index: list[str] = typer.Option([], help="extra race-index file(s)"),
    extra_loop: list[str] = typer.Option([], help="extra loop-data file(s) (NASCAR loop schema)"),
) -> None:
    """Score the simulator on real past races against baselines (CRPS, log score, coverage, PIT)."""
    import shlex
    import sys

    from engine.backtest import backtest, save_report
    from engine.charts import report_html, summary_rows, write_markdown
    from engine.data import DataError, ExtraFiles, History

    try:
        history = History.load(ExtraFiles(tuple(extra_results), tuple(extra_index), tuple(extra_loop)))
    except DataError as exc:
        fail(str(exc))
    chosen = parse_seasons(seasons)
    try:
        with progress_bar(f"Backtesting {seasons}") as cb:
            report = backtest(history, chosen, n_scenarios=scenarios, seed=seed, track_type=track_type, progress=cb)
    except ValueError as exc:
        fail(str(exc))
    t = Table(title=f"{report['races']} races, {report['rows']:,} driver results, {report['seconds']} s")
    rows = summary_rows(report)
    for k in rows[0]:
        t.add_column(k, justify="left" if k == "track type" else "right")
    for r in rows:
        t.add_row(*["" if v is None else str(v) for v in r.values()])
    console.print(t)
    for s in report["skipped"]:
        console.print(f"skipped: {s}")
    if json_out:
        save_report(report, json_out)
        console.print(f"wrote {json_out}")
    if html_out:
        Path(html_out).write_text(report_html(report))
        console.print(f"wrote {html_out}")
    if markdown:
        md = Path(markdown)
        command = "pitwall " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        for f in write_markdown(report, md, md.parent / "img", command):
            console.print(f"wrote {f}")


@app.command("api")
def api_cmd(host: str = typer.Option("127.0.0.1"), port: int = typer.Option(8000), workers: int = typer.Option(1)) -> None:
    """Serve the REST API (/api/v1, docs at /docs) with uvicorn."""
    import uvicorn

    uvicorn.run("engine.api:create_app", factory=True, host=host, port=port, workers=workers, log_level="info")


def parse_seasons(text: str) -> tuple[int, ...]:
    from engine.data import DataError
    from engine.data import parse_seasons as parse

    try:
        return parse(text)
    except DataError as exc:
        raise typer.BadParameter(str(exc)) from None


def stats_table(title: str, hist, sim) -> Table:
    t = Table(title=title)
    t.add_column("track type")
    cols = ["dnf_rate", "incidents_per_race", "incident_size", "leaders", "top_leader_share", "fastest_share_of_laps"]
    for c in cols:
        t.add_column(c.replace("_", " "), justify="right")
    for tt in hist.index:
        cells = []
        for c in cols:
            h = hist.loc[tt, c]
            s = sim.loc[tt, c] if sim is not None and tt in sim.index else None
            cells.append(f"{h:.3f}" + (f" / {s:.3f}" if s is not None else ""))
        t.add_row(f"{tt} ({int(hist.loc[tt, 'races'])})", *cells)
    return t


@app.command("fit")
def fit_cmd(
    seasons: str = typer.Option("2015-2021", help="seasons to fit on"),
    out: str = typer.Option(None, help="output file (default data/model_params.json)"),
    check: str = typer.Option("2022-2024", help="held-back seasons to compare with simulated races ('' to skip)"),
    scenarios: int = typer.Option(200, help="scenarios per race for the comparison"),
    seed: int = typer.Option(1),
) -> None:
    """Fit the simulator by track type from the shipped history; print fitted vs historical statistics."""
    from pathlib import Path

    from engine.data import History
    from engine.fit import fit_model, observed_statistics, simulated_statistics
    from engine.scenarios import PARAMS_FILE, params_from_dict

    history = History.load()
    fit_seasons = parse_seasons(seasons)
    with progress_bar(f"Fitting on {seasons}") as cb:
        raw = fit_model(history, fit_seasons, progress=cb)
    path = Path(out) if out else PARAMS_FILE
    path.write_text(json.dumps(raw, indent=1) + "\n")
    console.print(f"wrote {path} (fit seasons {raw['fit_seasons'][0]}-{raw['fit_seasons'][-1]}, {raw['races']} races)")
    model = params_from_dict(raw)
    for label, chosen in (("fit", fit_seasons), ("held-back", parse_seasons(check) if check else ())):
        if not chosen:
            continue
        with progress_bar(f"Simulating {label} races") as cb:
            sim = simulated_statistics(history, chosen, model, scenarios, seed, progress=cb)
        hist = observed_statistics(history, chosen)
        console.print(stats_table(f"{label} seasons {chosen[0]}-{chosen[-1]}: historical / simulated", hist, sim))


@app.command("simulate")
def simulate_cmd(
    race: str = typer.Option(None, help="a shipped race, SEASON-RACE (e.g. 2024-30)"),
    slate: str = typer.Option(None, help="a slate JSON file (as saved by the app) or a DK/FD salary file"),
    track: str = typer.Option(None, help="track id for a salary file (e.g. bristol)"),
    scenarios: int = typer.Option(10_000, help="number of simulated races"),
    seed: int = typer.Option(0),
    out: str = typer.Option(None, help="parquet file: one row per (scenario, driver)"),
    workers: int = typer.Option(1),
    chunk_size: int = typer.Option(5_000),
) -> None:
    """Simulate a race: per-driver summary and diagnostics; --out writes every scenario."""
    from engine.scenarios import Cancelled, SimulationError, prepare, simulate

    s = load_slate_arg(race, slate, track)
    try:
        inputs = prepare(s)
    except SimulationError as exc:
        fail(str(exc))
    with progress_bar(f"Simulating {scenarios:,} races") as cb:
        try:
            sims = simulate(inputs, scenarios, seed, chunk_size=chunk_size, workers=workers, progress=cb)
        except Cancelled:
            fail("cancelled")
    if inputs.estimated_starts:
        console.print(f"estimated starting positions (from skill): {len(inputs.estimated_starts)} drivers")
    summ = sims.summary()
    t = Table(title=f"{s.race_name or s.slate_id}: {sims.n_valid:,} valid races")
    for c in ("name", "start", "DK mean", "median", "p10", "p90", "win %", "top5 %", "top10 %", "DNF %", "led", "fastest"):
        t.add_column(c, justify="left" if c == "name" else "right")
    if "dk_mean" in summ:
        for r in summ.sort_values("dk_mean", ascending=False).itertuples():
            t.add_row(r.name, str(r.start), f"{r.dk_mean:.1f}", f"{r.dk_median:.1f}", f"{r.dk_p10:.1f}", f"{r.dk_p90:.1f}",
                      f"{100 * r.win:.1f}", f"{100 * r.top5:.1f}", f"{100 * r.top10:.1f}", f"{100 * r.dnf:.1f}",
                      f"{r.laps_led:.1f}", f"{r.fastest_laps:.1f}")
        console.print(t)
    diag = sims.diagnostics()
    console.print(f"diagnostics: generated {diag.n_scenarios_generated:,}, valid {diag.n_valid:,}, rejection rate "
                  f"{diag.rejection_rate:.3f}, avg laps led {diag.avg_laps_led:.2f}, avg |place differential| "
                  f"{diag.avg_position_differential:.2f}")
    if sims.warning:
        err.print(f"[yellow]warning:[/yellow] {sims.warning}")
    if out:
        sims.to_frame().drop(columns="valid").to_parquet(out, index=False)
        console.print(f"wrote {out}")


def load_slate_arg(race: str | None, slate: str | None, track: str | None, salaries: str | None = None, date: str | None = None):
    """The slate named on the command line: a shipped race, a slate JSON, or a salary file
    (a shipped one takes its race, date and track from the manifest)."""
    from pathlib import Path

    from engine.contracts import ContractError, parse_slate
    from engine.data import DATA_DIR, DataError, History, salary_manifest
    from engine.salaries import SalaryImportError, read_salary_file
    from engine.slates import build_slate, game_date, shipped_salary_slate, slate_from_salaries

    if sum(bool(x) for x in (race, slate, salaries)) != 1:
        fail("give exactly one of --race SEASON-RACE, --slate FILE or --salaries FILE")
    history = History.load()
    try:
        if race:
            return build_slate(race, history)
        path = Path(slate or salaries)
        if path.suffix == ".json":
            return parse_slate(json.loads(path.read_text()))
        shipped = DATA_DIR / "salaries" / path.name
        if path.resolve() == shipped.resolve() and path.name in salary_manifest().index and not track and not date:
            return shipped_salary_slate(path.name, history)  # race, date and track from the manifest
        sf = read_salary_file(path)
        return slate_from_salaries(sf, history, track_id=track, date=date or game_date(sf.game_info))
    except (DataError, SalaryImportError, ContractError, OSError, json.JSONDecodeError) as exc:
        fail(str(exc))


@app.command("optimize")
def optimize_cmd(
    race: str = typer.Option(None, help="a shipped race, SEASON-RACE (needs salaries in the slate)"),
    slate: str = typer.Option(None, help="a slate JSON (as saved by the app) or a salary file"),
    salaries: str = typer.Option(None, help="a DraftKings DKSalaries.csv or FanDuel player list"),
    track: str = typer.Option(None, help="track id for a salary file (e.g. bristol)"),
    date: str = typer.Option(None, help="race date for a salary file (YYYY-MM-DD); history before it is used"),
    site: str = typer.Option("dk", help="dk or fd"),
    lineups: int = typer.Option(20, help="number of lineups"),
    scenarios: int = typer.Option(10_000, help="simulated races"),
    objective: str = typer.Option("mean", help="mean | ceiling | cvar | target"),
    target: float = typer.Option(None, help="target score for --objective target (default: p90 of the mean-optimal lineup)"),
    seed: int = typer.Option(0),
    min_unique: int = typer.Option(1, help="at least this many different drivers between any two lineups"),
    solver: str = typer.Option("cbc", help="cbc | highs"),
    sim_precision: bool = typer.Option(False, help="build each lineup on its own resample of the simulated races"),
    rules: str = typer.Option(None, help="JSON file with analyst rules"),
    out: str = typer.Option(None, help="upload CSV for the site"),
    json_out: str = typer.Option(None, "--json", help="summary JSON: lineups, exposures, optimal%, spec hash"),
    entries: str = typer.Option(None, help="a DKEntries.csv to fill with the lineups"),
    entries_out: str = typer.Option(None, help="where to write the filled DKEntries.csv"),
) -> None:
    """Simulate a slate and build lineups; prints lineups, exposures and optimal%."""
    from pydantic import TypeAdapter, ValidationError

    from engine.constraints import SpecError
    from engine.contracts import Rule
    from engine.exports import ExportError, fill_dk_entries, lineups_csv
    from engine.ontology import open_with_fallback
    from engine.optimizer import OptimizerError
    from engine.pipeline import OptimizeSettings, run_optimize
    from engine.scenarios import SimulationError

    s = load_slate_arg(race, slate, track, salaries, date)
    try:
        analyst = TypeAdapter(list[Rule]).validate_json(open(rules).read()) if rules else []
        settings = OptimizeSettings(site=site, n_lineups=lineups, n_scenarios=scenarios, objective=objective, seed=seed,
                                    min_unique=min_unique, solver=solver, sim_precision=sim_precision, target=target, rules=analyst)
    except (OSError, ValidationError) as exc:
        fail(str(exc))
    repo, notice = open_with_fallback()
    if notice:
        err.print(f"[yellow]notice:[/yellow] {notice}")
    try:
        with progress_bar(f"Optimizing {s.slate_id}") as cb:
            run = run_optimize(s, settings, repo, progress=cb)
    except (SpecError, OptimizerError, SimulationError) as exc:
        fail(str(exc))
    summary = run.summary()
    t = Table(title=f"{lineups} {site.upper()} lineups ({objective}) on {run.scenarios.n_valid:,} simulated races")
    for c in ("#", "drivers", "salary", "mean", "p10", "p90"):
        t.add_column(c, justify="left" if c == "drivers" else "right")
    for r in summary["lineups"]:
        t.add_row(str(r["lineup"]), ", ".join(r["drivers"]), f"{r['salary']:,}", f"{r['mean']:.1f}", f"{r['p10']:.1f}", f"{r['p90']:.1f}")
    console.print(t)
    e = Table(title="exposures and optimal%")
    for c in ("driver", "exposure", "optimal %"):
        e.add_column(c, justify="left" if c == "driver" else "right")
    opt = {r["driver_id"]: r["optimal_pct"] for r in summary.get("optimal_pct", [])}
    for r in summary["exposures"]:
        e.add_row(r["name"], f"{100 * r['exposure']:.0f}%", f"{100 * opt.get(r['driver_id'], 0):.1f}%")
    console.print(e)
    for line in summary["estimated"]:
        console.print(f"estimated: {line}")
    for line in summary["notes"]:
        console.print(f"note: {line}")
    console.print(f"constraint_spec_hash {summary['constraint_spec_hash']}")
    ids = [r["driver_ids"] for r in summary["lineups"]]
    try:
        if out:
            Path(out).write_text(lineups_csv(s, site, ids))
            console.print(f"wrote {out}")
        if entries:
            filled, notes = fill_dk_entries(Path(entries).read_text(encoding="utf-8-sig"), s, ids)
            Path(entries_out or "DKEntries-filled.csv").write_text(filled)
            for n in notes:
                console.print(f"entries: {n}")
            console.print(f"wrote {entries_out or 'DKEntries-filled.csv'}")
    except (ExportError, OSError) as exc:
        fail(str(exc))
    if json_out:
        Path(json_out).write_text(json.dumps(summary, indent=1))
        console.print(f"wrote {json_out}")


if __name__ == "__main__":  # pragma: no cover
    app()
