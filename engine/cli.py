"""`pitwall` command line: the same engine as the app and the API.

Every error a user can cause ends the command with one ``error:`` message naming what was
wrong (file, row, driver, option), checked before any long work starts; outputs are checked
for writability first. Tables are rich tables in a terminal and plain full-width text in a
pipe (``pitwall backtest ... | cat`` keeps every digit).
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from engine.contracts import MAX_SCENARIOS, MIN_SCENARIOS

CLUSTER_RACES = 30  # a backtest of this many races or more runs on the local cluster by default (where bench/bench_cluster.py found 2 workers pay on 2 cores)

app = typer.Typer(help="Pitwall: NASCAR DFS scenario lab.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
data_app = typer.Typer(help="The shipped data.", no_args_is_help=True)
app.add_typer(data_app, name="data")
onto_app = typer.Typer(help="The ontology: drivers, teams, manufacturers, tracks, races, rules.", no_args_is_help=True)
app.add_typer(onto_app, name="ontology")
console = Console(soft_wrap=not sys.stdout.isatty())
err = Console(stderr=True, soft_wrap=True)
# where the slate commands (simulate, optimize, contest) take their slate from (load_slate_arg, resolve_site)
SLATE_OPTIONS = {
    "race": typer.Option(None, help="a shipped race, SEASON-RACE (needs salaries in the slate)"),
    "slate": typer.Option(None, help="a slate JSON (as saved by the app) or a salary file"),
    "salaries": typer.Option(None, help="a DraftKings DKSalaries.csv or FanDuel player list"),
    "track": typer.Option(None, help="track id for a salary file (e.g. bristol)"),
    "date": typer.Option(None, help="race date for a salary file (YYYY-MM-DD); history before it is used"),
    "site": typer.Option(None, help="dk or fd (default: the salary file's site; a contradicting one is refused)"),
}


def main() -> None:
    """The `pitwall` entry point: usage mistakes and unexpected failures become one `error:`
    line (PITWALL_DEBUG=1 shows the traceback of an unexpected failure)."""
    try:
        from typer._click.exceptions import ClickException  # typer vendors click from 0.2x on
    except ImportError:  # pragma: no cover - older typer uses click itself
        from click.exceptions import ClickException
    try:
        code = app(standalone_mode=False)
        if code == 130:  # typer turns Ctrl-C (KeyboardInterrupt) into exit code 130, silently
            interrupted()
    except (typer.Abort, KeyboardInterrupt):
        code = interrupted()
    except BrokenPipeError:  # the reader of a pipe went away (`pitwall ... | head`)
        code = 1
    except ClickException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            err.print(exc.format_message(), markup=False, highlight=False)
            code = 0
        else:
            hint = f" (see `{exc.ctx.command_path} --help`)" if getattr(exc, "ctx", None) is not None else ""
            err.print(f"[red]error:[/red] {exc.format_message()}{hint}", highlight=False)
            code = exc.exit_code
    except Exception as exc:  # noqa: BLE001 - the last guard: a message, not a traceback
        if os.environ.get("PITWALL_DEBUG"):
            raise
        err.print(f"[red]error:[/red] unexpected {exc.__class__.__name__}: {exc} (set PITWALL_DEBUG=1 for the traceback)",
                  highlight=False)
        code = 1
    sys.exit(code if isinstance(code, int) else 0)


WRITTEN: list[str] = []  # output files this command wrote (said on Ctrl-C)


def interrupted() -> int:
    """Ctrl-C: say which command stopped and what it had written (outputs are written at the end,
    and `data add` swaps its store in atomically, so usually nothing)."""
    words = []
    for a in sys.argv[1:]:
        if a.startswith("-"):
            break
        words.append(a)
    command = " ".join(["pitwall", *words[:2]])
    done = f"; written before the stop: {', '.join(WRITTEN)}" if WRITTEN else "; nothing was written"
    err.print(f"interrupted (Ctrl-C): stopped `{command}`{done}", highlight=False)
    return 130


def write_output(path: str | Path, text: str) -> None:
    """Write one of the command's output files (recorded, and said when written)."""
    Path(path).write_text(text)
    WRITTEN.append(str(path))
    console.print(f"wrote {path}")


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[float], None]]:
    """A terminal progress bar fed by the engine's progress callbacks (fraction 0..1); none when
    stderr is not a terminal (a pipe or a log file gets no bar frames). A step that ends
    normally shows 100%, whatever the last callback said."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task(label, total=1.0)
        yield lambda fraction: bar.update(task, completed=min(max(float(fraction), 0.0), 1.0))
        bar.update(task, completed=1.0)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def show_table(title: str, columns: list[str], rows: list[list[object]], left: tuple[str, ...] = ()) -> None:
    """A table: rich in a terminal (cells fold, never cut), plain aligned text in a pipe."""
    cells = [["" if v is None else str(v) for v in r] for r in rows]
    if console.is_terminal:
        t = Table(title=title)
        for c in columns:
            t.add_column(c, justify="left" if c in left else "right", overflow="fold")
        for r in cells:
            t.add_row(*r)
        console.print(t)
        return
    widths = [max([len(c)] + [len(r[k]) for r in cells]) for k, c in enumerate(columns)]

    def line(values: list[str]) -> str:
        return "  ".join(v.ljust(w) if c in left else v.rjust(w) for v, w, c in zip(values, widths, columns)).rstrip()

    if title:
        print(title)
    print(line(columns))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print(line(r))


def writable(path: str | None, what: str) -> None:
    """Refuse an output path that cannot be written, before any work."""
    from engine.textio import InputFileError, check_writable

    if path:
        try:
            check_writable(path, what)
        except InputFileError as exc:
            fail(str(exc))


def outputs(*items: tuple[str | None, str]) -> None:
    """Check a command's output files before any work: each writable, and no two options naming
    the same file (one would overwrite the other)."""
    seen: dict[Path, str] = {}
    for path, what in items:
        if not path:
            continue
        writable(path, what)
        key = Path(path).resolve()
        if key in seen:
            fail(f"{what} and {seen[key]} name the same file {path}: one would overwrite the other; give two file names")
        seen[key] = what


def read_json_arg(path: str, what: str):
    from engine.textio import InputFileError, read_json

    try:
        return read_json(path, f"{what} {path}")
    except InputFileError as exc:
        fail(str(exc))


def read_rules_arg(path: str | None) -> list:
    from engine.contracts import ContractError, parse_rules

    if not path:
        return []
    try:
        return parse_rules(read_json_arg(path, "--rules"), f"--rules {path}")
    except ContractError as exc:
        fail("; ".join(exc.messages))


def parse_share(text: str | None, option: str) -> float | None:
    """'0.4' or '40%' -> 0.4; a clear error for anything else."""
    if text is None:
        return None
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        fail(f"{option} {text!r}: give a share of lineups as a fraction (0.4) or a percent (40%)")
    if not 0.0 <= value <= 1.0:
        fail(f"{option} {text!r}: a share of lineups lies between 0 and 1 (0% and 100%)")
    return value


@contextmanager
def cli_dispatch(use_cluster: bool, progress: Callable[[float], None]):
    """Where a command's work runs: in this process (the default: no cluster to start for a
    few seconds of work), or on the Dask cluster when PITWALL_DASK_SCHEDULER is set or
    ``use_cluster`` (the shared local cluster of the state directory, started if needed). An
    unreachable scheduler falls back to the local cluster with a notice naming its address."""
    import uuid

    from engine.cluster import ClusterHandle, ClusterUnavailable
    from engine.jobs import ClusterDispatch, LocalDispatch
    from engine.settings import get_settings

    settings = get_settings()
    if not use_cluster and not settings.dask_scheduler:
        yield LocalDispatch(progress)
        return
    handle = ClusterHandle.from_settings(settings)
    try:
        client = handle.client()
    except ClusterUnavailable as exc:
        err.print(f"[yellow]notice:[/yellow] {exc}; using a local cluster instead", highlight=False)
        handle = ClusterHandle.from_settings(settings, local=True)
        client = handle.client()
    err.print(f"work on the {handle.describe()}" + (f", dashboard {handle.dashboard}" if handle.dashboard else ""), highlight=False)
    try:
        yield ClusterDispatch(client, f"cli-{uuid.uuid4()}", progress, lambda: False)
    finally:
        handle.close()


def settings_error(exc) -> NoReturn:
    from engine.contracts import describe_errors

    fail("; ".join(describe_errors(exc, {})))


@data_app.command("check")
def data_check(as_json: bool = typer.Option(False, "--json", help="print the coverage as JSON")) -> None:
    """Coverage and integrity of the data: shipped seasons plus the races added with `data add`;
    non-zero exit on an integrity failure."""
    from engine.data import DataError, History, integrity_report

    try:
        history = History.load()
    except DataError as exc:
        fail(str(exc))
    with progress_bar("Checking races") as cb:
        coverage, failures = integrity_report(history, cb)
    coverage["notes"] = history.notes
    coverage["failures"] = failures
    if as_json:
        console.print_json(json.dumps(coverage))
    else:
        console.print(f"seasons {coverage['seasons']}: {coverage['races']} races, {coverage['drivers']} drivers"
                      + (f" ({coverage['added_races']} added with `data add`)" if coverage["added_races"] else ""))
        show_table("", ["table", "rows"], [[name, rows] for name, rows in coverage["rows"].items()], left=("table",))
        per = ", ".join(f"{s}: {n}" for s, n in coverage["races_per_season"].items())
        console.print(f"races per season: {per}")
        console.print(f"loop data (fastest laps): {coverage['loop_seasons']}; practice: {coverage['practice_races']} races")
        console.print(f"known exceptions (laps led not summing to race laps): {', '.join(coverage['known_exceptions'])}")
        if coverage["laps_led_slips"]:
            console.print(f"laps led one or two laps off the race laps (feed slips, kept): {', '.join(coverage['laps_led_slips'])}")
        for note in history.notes:
            console.print(f"note: {note}")
    if failures:
        for f in failures:
            err.print(f"[red]integrity failure:[/red] {f}")
        raise typer.Exit(1)
    if not as_json:
        console.print("[green]integrity: ok[/green]")


@data_app.command("add")
def data_add(
    files: list[str] = typer.Argument(..., help="one season's files: NASCAR feed exports (cup-results.csv, optionally cup-misc.csv "
                                                "and cup-practice.csv) or nascaR.data's results table"),
    track_type: list[str] = typer.Option([], "--track-type", help='type of a track never seen before: "NAME=TYPE"'),
    track_alias: list[str] = typer.Option([], "--track-alias", help='a track the file names differently: "NAME=TRACK_ID" '
                                          '(e.g. "San Diego=san_diego_street")'),
    replace: bool = typer.Option(False, "--replace", help="replace shipped races with these files"),
) -> None:
    """Add the races of a season (complete or in progress) to the state directory: every command,
    the app and the API then see them. Nothing is added when any file has a problem. A track
    name the history does not know takes the schedule's track for that race (printed)."""
    from engine.data import DataError, History
    from engine.importers import add_to_store, parse_track_aliases, parse_track_types
    from engine.settings import get_settings
    from engine.store import StoreBusy

    state = get_settings().state_dir
    try:
        types = parse_track_types(track_type)
        aliases = parse_track_aliases(track_alias, History.load()) if track_alias else None
        with progress_bar(f"Adding {len(files)} file(s)") as cb:
            _, report = add_to_store(files, state, types, replace, on_wait=lambda m: err.print(f"[yellow]notice:[/yellow] {m}"),
                                     track_aliases=aliases)
            cb(1.0)
    except (DataError, StoreBusy) as exc:
        fail(str(exc))
    for line in report:
        console.print(line)
    console.print(f"store: {Path(state) / 'data'}")


@onto_app.command("build")
def ontology_build(shipped: bool = typer.Option(False, "--shipped", help="rebuild the package's data/ontology from the shipped "
                                                                        "seasons only (maintainers)")) -> None:
    """Build the embedded ontology from the history, keeping its rules: shipped plus added seasons
    into the state directory (the ontology then in use), or with --shipped the package's own."""
    import time

    from engine.data import DATA_DIR, History
    from engine.ontology.embedded import EmbeddedOntology
    from engine.ontology.model import build_ontology
    from engine.settings import get_settings

    root = DATA_DIR / "ontology" if shipped else Path(get_settings().state_dir) / "ontology"
    rules = EmbeddedOntology().rules()
    repo = EmbeddedOntology(root)
    t = time.perf_counter()
    with progress_bar("Building the ontology") as cb:
        onto = build_ontology(History.load(state_dir=False) if shipped else History.load(), rules)
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
    site: str = typer.Option(None, help="dk or fd (default: the salary file's site, else dk)"),
    rules: str = typer.Option(None, help="JSON file with a list of analyst rules"),
    neo4j: str = typer.Option(None, "--neo4j", help="read the ontology from this Neo4j (default: settings)"),
    as_json: bool = typer.Option(False, "--json", help="print the canonical JSON of the spec"),
) -> None:
    """Compile a slate's constraints: the spec in plain words and its hash."""
    from engine.constraints import ConstraintCompiler, SpecError, describe_spec
    from engine.ontology import open_with_fallback
    from engine.settings import Settings

    analyst = read_rules_arg(rules)
    s = load_slate_arg(race, slate, track)
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


@app.command("backtest")
def backtest_cmd(
    seasons: str = typer.Option(None, help="seasons to score (default: 2022, the Next Gen car, to the last season held)"),
    track_type: str = typer.Option(None, help="only races of this track type"),
    scenarios: int = typer.Option(2000, min=10, max=20_000, help="simulated races per race"),
    seed: int = typer.Option(0, min=0),
    features: str = typer.Option(None, help="pre-race features of the fitted models, comma separated (practice,qualifying; "
                                            "'none' for none); default: the shipped method's"),
    era_from: int = typer.Option(None, help="fit the race structure on seasons from this one on (default: the shipped method's)"),
    no_era: bool = typer.Option(False, "--no-era", help="fit the race structure on every season"),
    json_out: str = typer.Option(None, "--json", help="report.json (docs/calibration.json is the shipped one)"),
    html_out: str = typer.Option(None, "--html", help="standalone HTML report (opens offline)"),
    markdown: str = typer.Option(None, help="write a markdown page (e.g. docs/calibration.md) with its charts next to it"),
    cluster: bool = typer.Option(None, "--cluster/--no-cluster", help="fits and races as Dask tasks on the cluster (default: "
                                 "when more than one season or at least 30 races, or PITWALL_DASK_SCHEDULER is set)"),
) -> None:
    """Rolling-origin calibration: each season is forecast by a model fitted only on the seasons
    before it (fitted on demand, cached), and scored against what happened and baselines (CRPS,
    log score, coverage, PIT). Seasons added with `data add` count, in progress or complete."""
    import shlex
    import sys

    from engine.backtest import backtest, check_backtest, report_path, save_report
    from engine.charts import report_html, season_rows, summary_rows, write_markdown
    from engine.data import DataError, History
    from engine.settings import get_settings

    outputs((json_out, "--json"), (html_out, "--html"), (markdown, "--markdown"))
    try:
        history = History.load()
        chosen = parse_seasons(seasons) if seasons else tuple(s for s in history.seasons if s >= 2022)
        check_backtest(history, chosen, track_type)
    except (DataError, ValueError) as exc:
        fail(str(exc))
    settings = fit_settings(features, era_from, no_era)
    races = int(history.index["season"].isin(chosen).sum()) if track_type is None else int(
        (history.index["season"].isin(chosen) & (history.index["track_type"] == track_type)).sum())
    use_cluster = cluster if cluster is not None else (len(chosen) > 1 or races >= CLUSTER_RACES)
    try:
        with progress_bar(f"Backtesting {chosen[0]}-{chosen[-1]} (fitting each season's model first)") as cb, \
                cli_dispatch(use_cluster, cb) as d:
            if use_cluster or get_settings().dask_scheduler:
                from engine.tasks import backtest_plan

                report, _ = backtest_plan(chosen, track_type, scenarios, seed, get_settings().state_dir, settings)(d)
            else:
                report = backtest(history, chosen, settings=settings, n_scenarios=scenarios, seed=seed, track_type=track_type,
                                  progress=cb)
    except ValueError as exc:
        fail(str(exc))
    kept = report_path(None, report)
    kept.parent.mkdir(parents=True, exist_ok=True)
    save_report(report, kept)
    rows = season_rows(report)
    show_table(f"by season: each forecast by a model fitted on the seasons before it (method {report['settings']['method_hash']})",
               list(rows[0]), [list(r.values()) for r in rows], left=("season", "model"))
    rows = summary_rows(report)
    show_table(f"{report['races']} races, {report['rows']:,} driver results, {report['seconds']} s (pooled)", list(rows[0]),
               [list(r.values()) for r in rows], left=("track type",))
    for s in report["skipped"]:
        console.print(f"skipped: {s}")
    console.print(f"kept {kept}")
    if json_out:
        write_output(json_out, json.dumps(report, indent=1))
    if html_out:
        write_output(html_out, report_html(report))
    if markdown:
        md = Path(markdown)
        command = "pitwall " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        for f in write_markdown(report, md, md.parent / "img", command):
            WRITTEN.append(str(f))
            console.print(f"wrote {f}")


def fit_settings(features: str | None, era_from: int | None, no_era: bool):
    """FitSettings from the command line (defaults: the shipped method's)."""
    from engine.fit import FitSettings

    base = FitSettings()
    feats = base.features
    if features is not None:
        feats = () if features.strip().lower() == "none" else tuple(f.strip() for f in features.split(",") if f.strip())
        bad = [f for f in feats if f not in ("practice", "qualifying")]
        if bad:
            fail(f"--features {features!r}: {', '.join(bad)} not known; choose from practice, qualifying (or none)")
    era = None if no_era else (era_from if era_from is not None else base.era_from)
    return FitSettings(era_from=era, features=feats, practice_ranks=base.practice_ranks)


@app.command("api")
def api_cmd(host: str = typer.Option("127.0.0.1"), port: int = typer.Option(8000, min=1, max=65535),
            workers: int = typer.Option(1, min=1, max=32)) -> None:
    """Serve the REST API (/api/v1, docs at /docs) with uvicorn.

    X-Forwarded-For is believed only from the proxies of the setting PITWALL_TRUSTED_PROXIES
    (none by default), so a client cannot pick its own address (and rate-limit allowance)."""
    import socket

    import uvicorn

    from engine.settings import get_settings

    try:  # before anything starts (the Dask cluster, the job store): a port in use is one error line
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a port in TIME_WAIT is free
            probe.bind((host, port))
    except OSError as exc:
        fail(f"cannot listen on {host}:{port} ({exc.strerror or exc}): another server is using the port? choose one with --port")
    trusted = get_settings().trusted_proxies
    uvicorn.run("engine.api:create_app", factory=True, host=host, port=port, workers=workers, log_level="info",
                proxy_headers=bool(trusted), forwarded_allow_ips=",".join(trusted) if trusted else None)


def parse_seasons(text: str, option: str = "--seasons") -> tuple[int, ...]:
    from engine.data import DataError
    from engine.data import parse_seasons as parse

    try:
        return parse(text)
    except DataError as exc:
        fail(f"{option} {exc}")


def stats_table(title: str, hist, sim) -> None:
    cols = ["dnf_rate", "incidents_per_race", "incident_size", "leaders", "top_leader_share", "fastest_share_of_laps"]
    rows = []
    for tt in hist.index:
        cells = []
        for c in cols:
            h = hist.loc[tt, c]
            s = sim.loc[tt, c] if sim is not None and tt in sim.index else None
            cells.append(f"{h:.3f}" + (f" / {s:.3f}" if s is not None else ""))
        rows.append([f"{tt} ({int(hist.loc[tt, 'races'])})", *cells])
    show_table(title, ["track type"] + [c.replace("_", " ") for c in cols], rows, left=("track type",))


@app.command("fit")
def fit_cmd(
    seasons: str = typer.Option(None, help="seasons to fit on (default: every season held, shipped and added)"),
    out: str = typer.Option(None, help="output file (default: the state directory's model_params.json, the model in use)"),
    check: str = typer.Option("", help="held-back seasons to compare with simulated races ('' to skip)"),
    features: str = typer.Option(None, help="pre-race features: practice,qualifying ('none' for none)"),
    era_from: int = typer.Option(None, help="fit the race structure on seasons from this one on"),
    no_era: bool = typer.Option(False, "--no-era", help="fit the race structure on every season"),
    scenarios: int = typer.Option(200, min=10, max=10_000, help="scenarios per race for the comparison"),
    seed: int = typer.Option(1, min=0),
) -> None:
    """Fit the simulator by track type on shipped plus added seasons, write it to the state
    directory (the model every command, the app and the API then use), and print fitted
    against historical statistics."""
    from engine.data import History
    from engine.fit import check_fit_seasons, fit_model, observed_statistics, simulated_statistics
    from engine.scenarios import params_from_dict
    from engine.settings import get_settings

    history = History.load()
    fit_seasons = parse_seasons(seasons) if seasons else tuple(history.seasons)
    held_back = parse_seasons(check, "--check") if check else ()
    path = Path(out) if out else Path(get_settings().state_dir) / "model_params.json"
    if not out:
        path.parent.mkdir(parents=True, exist_ok=True)
    writable(str(path), "--out")
    settings = fit_settings(features, era_from, no_era)
    try:
        check_fit_seasons(history, fit_seasons)
        if held_back:
            missing = sorted(set(held_back) - set(history.seasons))
            if missing:
                raise ValueError(f"--check: no races in season(s) {missing}; the history has {history.seasons[0]}-{history.seasons[-1]}")
        with progress_bar(f"Fitting on {fit_seasons[0]}-{fit_seasons[-1]}") as cb:
            raw = fit_model(history, fit_seasons, progress=cb, settings=settings)
    except ValueError as exc:
        fail(str(exc))
    path.write_text(json.dumps(raw, indent=1) + "\n")
    WRITTEN.append(str(path))
    model = params_from_dict(raw)
    console.print(f"wrote {path}: model {model.hash} fitted on seasons {model.fit_span} ({raw['races']} races), "
                  f"method {model.method_hash}")
    for label, chosen in (("fit", fit_seasons), ("held-back", held_back)):
        if not chosen:
            continue
        with progress_bar(f"Simulating {label} races") as cb:
            sim = simulated_statistics(history, chosen, model, scenarios, seed, progress=cb)
        hist = observed_statistics(history, chosen)
        stats_table(f"{label} seasons {chosen[0]}-{chosen[-1]}: historical / simulated", hist, sim)


@app.command("simulate")
def simulate_cmd(
    race: str = typer.Option(None, help="a shipped race, SEASON-RACE (e.g. 2024-30)"),
    slate: str = typer.Option(None, help="a slate JSON file (as saved by the app) or a DK/FD salary file"),
    track: str = SLATE_OPTIONS["track"],
    date: str = typer.Option(None, help="race date for a salary file (YYYY-MM-DD); history before it is used"),
    scenarios: int = typer.Option(10_000, min=MIN_SCENARIOS, max=MAX_SCENARIOS, help="number of simulated races"),
    seed: int = typer.Option(0, min=0, help="random seed (0 or more)"),
    out: str = typer.Option(None, help="parquet file: one row per (scenario, driver)"),
    workers: int = typer.Option(1, min=1, max=64),
    chunk_size: int = typer.Option(5_000, min=1),
) -> None:
    """Simulate a race: per-driver summary and diagnostics; --out writes every scenario."""
    from engine.scenarios import Cancelled, SimulationError, prepare, simulate

    writable(out, "--out")
    s = load_slate_arg(race, slate, track, date=date, need_track=True)
    for note in s.notes:
        console.print(f"slate: {note}")
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
    if "dk_mean" in summ:
        dnq = inputs.qualifying_draws or inputs.out is not None
        cols = ["name", "start", "DK mean", "median", "p10", "p90", "win %", "top5 %", "top10 %", "DNF %"] + (["DNQ %"] if dnq else []) + ["led", "fastest"]
        rows = [[r.name, r.start or "out", f"{r.dk_mean:.1f}", f"{r.dk_median:.1f}", f"{r.dk_p10:.1f}", f"{r.dk_p90:.1f}",
                 f"{100 * r.win:.1f}", f"{100 * r.top5:.1f}", f"{100 * r.top10:.1f}", f"{100 * r.dnf:.1f}"]
                + ([f"{100 * r.dnq:.1f}"] if dnq else []) + [f"{r.laps_led:.1f}", f"{r.fastest_laps:.1f}"]
                for r in summ.sort_values("dk_mean", ascending=False).itertuples()]
        show_table(f"{s.race_name or s.slate_id}: {sims.n_valid:,} valid races", cols, rows, left=("name",))
    if inputs.qualifying_draws:
        console.print(f"field: {inputs.n_field} cars start each simulated race; {int(inputs.racing.sum()) - inputs.n_field} of the "
                      f"{int(inputs.racing.sum())} drivers who can race miss each one, drawn by qualifying pace (skill), and score 0 there")
    diag = sims.diagnostics()
    console.print(f"model {inputs.model.hash} fitted on seasons {inputs.model.fit_span}")
    console.print(f"diagnostics: generated {diag.n_scenarios_generated:,}, valid {diag.n_valid:,}, rejection rate "
                  f"{diag.rejection_rate:.3f}, avg laps led {diag.avg_laps_led:.2f}, avg |place differential| "
                  f"{diag.avg_position_differential:.2f}")
    if sims.warning:
        err.print(f"[yellow]warning:[/yellow] {sims.warning}")
    if out:
        sims.to_frame().drop(columns="valid").to_parquet(out, index=False)
        WRITTEN.append(out)
        console.print(f"wrote {out}")


def load_slate_arg(race: str | None, slate: str | None, track: str | None, salaries: str | None = None, date: str | None = None,
                   need_track: bool = False):
    """The slate named on the command line: a shipped race, a slate JSON, or a salary file
    (a shipped one takes its race, date and track from the manifest). Every problem is one
    `error:` line naming the file, row or field; ``need_track``: a salary slate whose race cannot
    be found (no date in the file, a date off the schedule) is refused, saying what to give."""
    from engine.data import History

    if sum(bool(x) for x in (race, slate, salaries)) != 1:
        fail("give exactly one of --race SEASON-RACE, --slate FILE or --salaries FILE")
    history = History.load()
    s = _load_slate(race, slate, track, salaries, date, history)
    if need_track:
        from engine.slates import track_unknown

        why = track_unknown(s, history)
        if why:
            fail(f"{slate or salaries}: {why}")
    return s


def _load_slate(race, slate, track, salaries, date, history):
    from engine.contracts import ContractError, parse_slate
    from engine.data import DATA_DIR, DataError, salary_manifest
    from engine.salaries import SalaryImportError, read_salary_file
    from engine.slates import build_slate, check_race_date, check_slate, game_date, shipped_salary_slate, slate_from_salaries

    try:
        if date:
            date = check_race_date(date, history)
        if race:
            if date or track:
                fail("--date and --track are for salary files; a shipped race has its own")
            return build_slate(race, history)
        path = Path(slate or salaries)
        if path.suffix.lower() == ".json":
            s = parse_slate(read_json_arg(str(path), "--slate"))
            return check_slate(s, history)
        shipped = DATA_DIR / "salaries" / path.name
        if path.resolve() == shipped.resolve() and path.name in salary_manifest().index and not track and not date:
            return shipped_salary_slate(path.name, history)  # race, date and track from the manifest
        sf = read_salary_file(path)
        return slate_from_salaries(sf, history, track_id=track, date=date or game_date(sf.game_info))
    except (DataError, SalaryImportError, ContractError) as exc:
        fail(str(exc))


def resolve_site(slate, given: str | None) -> str:
    """The site of a run: the salary file's (a contradicting --site is refused), else --site, else dk."""
    if given is not None and given.lower() not in ("dk", "fd"):
        fail(f"--site {given!r}: expected dk (DraftKings) or fd (FanDuel)")
    known = slate.site.value if slate.site else None
    if known and given and given.lower() != known:
        names = {"dk": "DraftKings", "fd": "FanDuel"}
        fail(f"--site {given}: the slate's salaries and player ids are from {names[known]} ({slate.slate_id}); "
             f"lineups for {names[given.lower()]} need a {names[given.lower()]} salary file")
    return (given or known or "dk").lower()


@app.command("optimize")
def optimize_cmd(
    race: str = SLATE_OPTIONS["race"],
    slate: str = SLATE_OPTIONS["slate"],
    salaries: str = SLATE_OPTIONS["salaries"],
    track: str = SLATE_OPTIONS["track"],
    date: str = SLATE_OPTIONS["date"],
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

    from engine.constraints import SpecError
    from engine.exports import ExportError, fill_dk_entries, lineups_csv
    from engine.optimizer import OptimizerError
    from engine.pipeline import OptimizeSettings
    from engine.scenarios import SimulationError
    from engine.service import optimize_job
    from engine.settings import get_settings
    from engine.textio import InputFileError, read_text

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
    s = load_slate_arg(race, slate, track, salaries, date, need_track=True)
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
    console.print(f"model {summary['model']['hash']} fitted on seasons {summary['model']['fit_seasons']}")
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

    from engine.constraints import SpecError
    from engine.contest import ContestError, preset_payouts, read_ownership_csv, read_payouts_csv, run_contest
    from engine.exports import ExportError, lineups_csv
    from engine.optimizer import OptimizerError
    from engine.pipeline import OptimizeSettings
    from engine.scenarios import SimulationError
    from engine.service import optimize_job
    from engine.settings import get_settings
    from engine.textio import InputFileError, read_text

    outputs((json_out, "--json"), (out, "--out"))
    s = load_slate_arg(race, slate, track, salaries, date, need_track=True)
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


if __name__ == "__main__":  # pragma: no cover
    main()
