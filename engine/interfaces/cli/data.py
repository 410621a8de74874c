"""`pitwall data check` and `pitwall data add`."""

from __future__ import annotations

import json

import typer

from engine.interfaces.cli.common import (
    console,
    data_app,
    err,
    fail,
    progress_bar,
    series_arg,
    show_table,
)


@data_app.command("check")
def data_check(
    as_json: bool = typer.Option(False, "--json", help="print the coverage as JSON (one object per series, or the one asked for)"),
    series: str = typer.Option(None, "--series", help="cup, nxs or truck (default: every series shipped)"),
) -> None:
    """Coverage and integrity of the data of each series: shipped seasons plus the races added with
    `data add`; non-zero exit on an integrity failure."""
    from engine.core.paths import DATA_DIR
    from engine.core.series import SERIES, SERIES_NAMES, series_data_dir
    from engine.data.checks import integrity_report
    from engine.data.history import DataError, History

    chosen = [series_arg(series)] if series else [s for s in SERIES if (series_data_dir(s, DATA_DIR) / "results.parquet").exists()]
    reports, failed = {}, False
    with progress_bar("Checking races") as cb:
        for k, code in enumerate(chosen):
            try:
                history = History.load(series=code)
            except DataError as exc:
                fail(str(exc))
            coverage, failures = integrity_report(history, lambda f, k=k: cb((k + f) / len(chosen)))
            coverage["notes"] = history.notes
            coverage["failures"] = failures
            reports[code] = coverage
            failed = failed or bool(failures)
    if as_json:
        console.print_json(json.dumps(reports[chosen[0]] if series else reports))
    else:
        for code, coverage in reports.items():
            console.print(f"[bold]{SERIES_NAMES[code]}[/bold] ({code})")
            _print_coverage(coverage)
    for code, coverage in reports.items():
        for f in coverage["failures"]:
            err.print(f"[red]integrity failure ({code}):[/red] {f}")
    if failed:
        raise typer.Exit(1)
    if not as_json:
        console.print("[green]integrity: ok[/green]")


def report_series(report: list[str]) -> str:
    """The series code the add report's first line names ("series Truck (truck), from ...")."""
    import re

    m = re.match(r"series \S+ \((\w+)\)", report[0]) if report else None
    return m.group(1) if m else "cup"


def _print_coverage(coverage: dict) -> None:
    console.print(f"seasons {coverage['seasons']}: {coverage['races']} races, {coverage['drivers']} drivers"
                  + (f" ({coverage['added_races']} added with `data add`)" if coverage["added_races"] else ""))
    show_table("", ["table", "rows"], [[name, rows] for name, rows in coverage["rows"].items()], left=("table",))
    per = ", ".join(f"{s}: {n}" for s, n in coverage["races_per_season"].items())
    console.print(f"races per season: {per}")
    console.print(f"loop data (fastest laps): {coverage['loop_seasons']}; practice: {coverage['practice_races']} races")
    console.print(f"known exceptions (laps led not summing to race laps): {', '.join(coverage['known_exceptions']) or 'none'}")
    if coverage["laps_led_slips"]:
        console.print(f"laps led one or two laps off the race laps (feed slips, kept): {', '.join(coverage['laps_led_slips'])}")
    for note in coverage["notes"]:
        console.print(f"note: {note}")


@data_app.command("add")
def data_add(
    files: list[str] = typer.Argument(..., help="one season's files: NASCAR feed exports (cup-results.csv, optionally cup-misc.csv "
                                                "and cup-practice.csv) or nascaR.data's results table"),
    track_type: list[str] = typer.Option([], "--track-type", help='type of a track never seen before: "NAME=TYPE"'),
    track_alias: list[str] = typer.Option([], "--track-alias", help='a track the file names differently: "NAME=TRACK_ID" '
                                          '(e.g. "San Diego=san_diego_street")'),
    replace: bool = typer.Option(False, "--replace", help="replace shipped races with these files"),
    series: str = typer.Option(None, "--series", help="cup, nxs or truck (default: the file names' series, e.g. trucks-results.csv, "
                                                      "else the files' races and drivers; a contradiction is refused)"),
) -> None:
    """Add the races of a season of one series (complete or in progress) to the state directory:
    every command, the app and the API then see them. Nothing is added when any file has a
    problem. A track name the history does not know takes the schedule's track for that race
    (printed)."""
    from engine.core.settings import get_settings
    from engine.data.history import DataError, History
    from engine.data.importers.add import add_to_store
    from engine.data.importers.common import parse_track_aliases, parse_track_types
    from engine.data.store import StoreBusy

    state = get_settings().state_dir
    try:
        types = parse_track_types(track_type)
        aliases = parse_track_aliases(track_alias, History.load(series=series_arg(series) or "cup")) if track_alias else None
        with progress_bar(f"Adding {len(files)} file(s)") as cb:
            _, report = add_to_store(files, state, types, replace, on_wait=lambda m: err.print(f"[yellow]notice:[/yellow] {m}"),
                                     track_aliases=aliases, series=series_arg(series))
            cb(1.0)
    except (DataError, StoreBusy) as exc:
        fail(str(exc))
    for line in report:
        console.print(line)
    from engine.core.series import series_state_dir

    console.print(f"store: {series_state_dir(state, report_series(report)) / 'data'}")
