"""`pitwall` command line: the same engine as the app and the API."""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Callable, Iterator

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

app = typer.Typer(help="Pitwall: NASCAR DFS scenario lab.", no_args_is_help=True, add_completion=False)
data_app = typer.Typer(help="The shipped data.", no_args_is_help=True)
app.add_typer(data_app, name="data")
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


if __name__ == "__main__":  # pragma: no cover
    app()
