"""`pitwall data check` and `pitwall data add`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from engine.interfaces.cli.common import console, data_app, err, fail, progress_bar, show_table


@data_app.command("check")
def data_check(as_json: bool = typer.Option(False, "--json", help="print the coverage as JSON")) -> None:
    """Coverage and integrity of the data: shipped seasons plus the races added with `data add`;
    non-zero exit on an integrity failure."""
    from engine.data.checks import integrity_report
    from engine.data.history import DataError, History

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
    from engine.core.settings import get_settings
    from engine.data.history import DataError, History
    from engine.data.importers.add import add_to_store
    from engine.data.importers.common import parse_track_aliases, parse_track_types
    from engine.data.store import StoreBusy

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
