"""What every command of the `pitwall` command line shares: the Typer apps, one-line errors,
progress bars, tables that print plainly in a pipe, output checks, and the slate options."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from typer.core import TyperGroup

COMMAND_ORDER = ("constraints", "backtest", "api", "fit", "simulate", "optimize", "contest", "ownership", "data", "ontology")


class CommandGroup(TyperGroup):
    """The commands in the order `pitwall --help` has always listed them (they are defined in one
    module per command group)."""

    def list_commands(self, ctx) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: COMMAND_ORDER.index(n) if n in COMMAND_ORDER else len(COMMAND_ORDER))


app = typer.Typer(help="Pitwall: NASCAR DFS scenario lab.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False, cls=CommandGroup)
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
    "series": typer.Option(None, "--series", help="cup, nxs (O'Reilly Auto Parts Series) or truck: the series of --race; for a "
                                                  "salary file, found from its date and drivers unless given (a shipped file or a "
                                                  "slate JSON says its own; a contradicting one is refused)"),
}
SERIES_OPTION = typer.Option("cup", "--series", help="cup, nxs (O'Reilly Auto Parts Series) or truck")
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
    from engine.core.textio import InputFileError, check_writable

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
    from engine.core.textio import InputFileError, read_json

    try:
        return read_json(path, f"{what} {path}")
    except InputFileError as exc:
        fail(str(exc))


def read_rules_arg(path: str | None) -> list:
    from engine.core.contracts import ContractError, parse_rules

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

    from engine.core.settings import get_settings
    from engine.jobs.cluster import ClusterHandle, ClusterUnavailable
    from engine.jobs.dispatch import ClusterDispatch, LocalDispatch

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
    from engine.core.contracts import describe_errors

    fail("; ".join(describe_errors(exc, {})))


def parse_seasons(text: str, option: str = "--seasons") -> tuple[int, ...]:
    from engine.data.history import DataError
    from engine.data.history import parse_seasons as parse

    try:
        return parse(text)
    except DataError as exc:
        fail(f"{option} {exc}")


def load_slate_arg(race: str | None, slate: str | None, track: str | None, salaries: str | None = None, date: str | None = None,
                   need_track: bool = False, series: str | None = None):
    """The slate named on the command line: a shipped race (of ``series``, default the Cup), a
    slate JSON (its own series), or a salary file (a shipped one takes its series, race, date and
    track from the manifest; another one's series comes from its date and drivers, or
    ``series``). Every problem is one `error:` line naming the file, row or field; ``need_track``:
    a salary slate whose race cannot be found (no date in the file, a date off the schedule) is
    refused, saying what to give."""
    if sum(bool(x) for x in (race, slate, salaries)) != 1:
        fail("give exactly one of --race SEASON-RACE, --slate FILE or --salaries FILE")
    s, history = _load_slate(race, slate, track, salaries, date, series)
    if need_track:
        from engine.data.slates import track_unknown

        why = track_unknown(s, history)
        if why:
            fail(f"{slate or salaries}: {why}")
    return s


def series_arg(series: str | None) -> str | None:
    from engine.core.series import SeriesError, check_series

    try:
        return None if series is None else check_series(series, "--series")
    except SeriesError as exc:
        fail(str(exc))


def _same_series(said: str, given: str | None, what: str) -> str:
    from engine.core.series import SHORT_NAMES

    if given is not None and given != said:
        fail(f"--series {given}: {what} is a {SHORT_NAMES[said]} slate (series {said}); leave --series out or give {said}")
    return said


def _load_slate(race, slate, track, salaries, date, series):
    from engine.core.contracts import ContractError, parse_slate
    from engine.core.paths import DATA_DIR
    from engine.data.history import DataError, History, salary_manifest
    from engine.data.salaries import SalaryImportError, read_salary_file
    from engine.data.slates import (
        build_slate,
        check_race_date,
        check_slate,
        game_date,
        shipped_salary_slate,
        slate_from_salaries,
    )
    from engine.data.which_series import pick_series

    series = series_arg(series)
    try:
        if race:
            if date or track:
                fail("--date and --track are for salary files; a shipped race has its own")
            history = History.load(series=series or "cup")
            return build_slate(race, history), history
        path = Path(slate or salaries)
        if path.suffix.lower() == ".json":
            s = parse_slate(read_json_arg(str(path), "--slate"))
            history = History.load(series=_same_series(s.series.value, series, str(path)))
            if date:
                check_race_date(date, history)
            return check_slate(s, history), history
        shipped = DATA_DIR / "salaries" / path.name
        manifest = salary_manifest()
        if path.resolve() == shipped.resolve() and path.name in manifest.index and not track and not date:
            history = History.load(series=_same_series(str(manifest.loc[path.name, "series"]), series, path.name))
            return shipped_salary_slate(path.name, history), history  # race, date and track from the manifest
        sf = read_salary_file(path)
        if date:
            date = check_race_date(date, History.load(series=series or "cup"))
        day = date or game_date(sf.game_info)
        choice = pick_series(sf, day, series)
        history = History.load(series=choice.series)
        s = slate_from_salaries(sf, history, track_id=track, date=day)
        return s.model_copy(update={"notes": [choice.how, *s.notes]}), history
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


# how models are fitted (pitwall fit, pitwall backtest): fit_settings turns these into FitSettings
METHOD_OPTIONS = {
    "features": typer.Option(None, help="pre-race features of the fitted models, comma separated (practice,qualifying; 'none' "
                                        "for none); default: the shipped method's"),
    "era_from": typer.Option(None, help="fit the race structure on seasons from this one on (default: the shipped method's)"),
    "no_era": typer.Option(False, "--no-era", help="fit the race structure on every season"),
    "noise": typer.Option(None, help="the pace model's noise: gumbel (Plackett-Luce) or normal (default: the shipped method's)"),
    "hetero": typer.Option(None, "--hetero/--no-hetero", help="normal noise whose scale follows skill (default: the shipped method's)"),
    "trouble": typer.Option(None, "--trouble/--no-trouble", help="trouble while running, fitted (normal noise; default: the "
                                                                  "shipped method's)"),
    "dominator": typer.Option(None, "--dominator/--no-dominator", help="laps led: a share of stints to the race's dominator "
                                                                        "(default: the shipped method's)"),
    "grid": typer.Option(None, "--grid/--no-grid", help="a qualifying model draws an unknown grid in each simulated race "
                                                        "(default: the shipped method's)"),
    "cross_series": typer.Option(None, "--cross-series/--no-cross-series", help="a driver new to the series takes his skill "
                                 "from his races in another series rather than the newcomer prior (default: the shipped method's)"),
}


def fit_settings(features: str | None, era_from: int | None, no_era: bool, noise: str | None = None, hetero: bool | None = None,
                 trouble: bool | None = None, dominator: bool | None = None, grid: bool | None = None,
                 cross_series: bool | None = None):
    """FitSettings from the command line (defaults: the shipped method's)."""
    from dataclasses import replace

    from engine.model.fit import FitSettings
    from engine.model.pace import NOISES

    base = FitSettings()
    if noise is not None and noise not in NOISES:
        fail(f"--noise {noise!r}: choose {' or '.join(NOISES)}")
    feats = base.features
    if features is not None:
        feats = () if features.strip().lower() == "none" else tuple(f.strip() for f in features.split(",") if f.strip())
        bad = [f for f in feats if f not in ("practice", "qualifying")]
        if bad:
            fail(f"--features {features!r}: {', '.join(bad)} not known; choose from practice, qualifying (or none)")
    era = None if no_era else (era_from if era_from is not None else base.era_from)
    return replace(base, era_from=era, features=feats, noise=noise or base.noise, hetero=base.hetero if hetero is None else hetero,
                   trouble=base.trouble if trouble is None else trouble, dominator=base.dominator if dominator is None else dominator,
                   grid=base.grid if grid is None else grid,
                   cross_series=base.cross_series if cross_series is None else cross_series)
