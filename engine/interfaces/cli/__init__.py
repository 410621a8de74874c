"""`pitwall` command line: the same engine as the app and the API.

Every error a user can cause ends the command with one ``error:`` message naming what was
wrong (file, row, driver, option), checked before any long work starts; outputs are checked
for writability first. Tables are rich tables in a terminal and plain full-width text in a
pipe (``pitwall backtest ... | cat`` keeps every digit). One module per command group."""

from __future__ import annotations

import os
import sys

import typer

from engine.interfaces.cli.common import app, err, interrupted


def _from_ctrl_c(exc: BaseException) -> bool:
    """Whether a KeyboardInterrupt is among the causes and contexts of ``exc``."""
    todo, seen = [exc], set()
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        todo += [e.__cause__, e.__context__]
    return False


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
        if _from_ctrl_c(exc):
            # Ctrl-C while a compiled (numba) kernel was being called or compiled: its dispatcher
            # returns with the KeyboardInterrupt pending, which Python reports as a SystemError
            code = interrupted()
        elif os.environ.get("PITWALL_DEBUG"):
            raise
        else:
            err.print(f"[red]error:[/red] unexpected {exc.__class__.__name__}: {exc} (set PITWALL_DEBUG=1 for the traceback)",
                      highlight=False)
            code = 1
    sys.exit(code if isinstance(code, int) else 0)


# the command groups register their commands on the apps of engine.interfaces.cli.common
from engine.interfaces.cli import contest, data, lineups, model, ontology, serve  # noqa: E402,F401

if __name__ == "__main__":  # pragma: no cover
    main()
