"""Salary import: DraftKings DKSalaries.csv and FanDuel player lists.

A file is read whole and checked whole: any bad row (non-numeric or non-positive salary,
duplicate id, duplicate driver, missing name) makes the import fail with one error listing
every bad row, and nothing is loaded. Extra columns are tolerated.

DraftKings: ``Position,Name + ID,Name,ID,Roster Position,Salary,Game Info,TeamAbbrev,
AvgPointsPerGame`` ("Name + ID" cells are "Name (ID)"; either it or Name and ID is needed).
FanDuel: ``Id,Position,First Name,Nickname,Last Name,FPPG,...,Salary,...``.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from engine.core.contracts import MAX_FIELD, MAX_POOL, MAX_SALARY, Site

_NAME_ID = re.compile(r"^\s*(?P<name>.+?)\s*\((?P<id>[^()]+)\)\s*$")


def split_name_id(cell: str) -> tuple[str, str] | None:
    """"Kyle Larson (112)" -> ("Kyle Larson", "112"); None when the cell is not of that form."""
    m = _NAME_ID.match(cell)
    return (m["name"], m["id"].strip()) if m else None


class SalaryImportError(ValueError):
    """The file cannot be imported; ``problems`` lists each bad row or header problem."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: cannot import salaries ({len(problems)} problem(s)); nothing was loaded:\n{lines}")


@dataclass(frozen=True)
class SalaryRow:
    line: int  # line in the file (header is line 1)
    name: str
    player_id: str
    salary: int
    fppg: float | None = None


@dataclass(frozen=True)
class SalaryFile:
    site: Site
    source: str
    rows: list[SalaryRow]
    game_info: str | None = None
    notes: tuple[str, ...] = ()


def read_salary_file(data: str | Path | bytes, source: str | None = None) -> SalaryFile:
    """Parse a DraftKings or FanDuel salary file (path, bytes or text); the site is detected
    from the header. Raises SalaryImportError listing every problem."""
    from engine.core.textio import InputFileError, decode_text, read_bytes

    if isinstance(data, Path) or (isinstance(data, str) and "\n" not in data and len(data) < 4096):
        path = Path(data)
        source = source or path.name
        try:
            raw = read_bytes(path, str(path))
        except InputFileError as exc:
            raise SalaryImportError(source, [str(exc).removeprefix(f"{path}: ")]) from None
    else:
        raw = data.encode() if isinstance(data, str) else data
        source = source or "uploaded file"
    try:
        text, note = decode_text(raw, source)
    except InputFileError as exc:
        raise SalaryImportError(source, [str(exc).removeprefix(f"{source}: ")]) from None
    if not text.strip():
        raise SalaryImportError(source, ["the file is empty"])
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise SalaryImportError(source, [f"not a CSV file: {exc}"]) from None
    df.columns = [str(c).strip() for c in df.columns]
    cols = set(df.columns)
    notes = (note,) if note else ()
    if {"Id", "Salary"} <= cols and ("Nickname" in cols or {"First Name", "Last Name"} <= cols):
        _nascar_classic(df, source, "FanDuel", ("Position",))
        return _with_notes(_fanduel(df, source), notes)
    if "Salary" in cols and ("Name + ID" in cols or {"Name", "ID"} <= cols):
        _nascar_classic(df, source, "DraftKings", ("Position", "Roster Position"))
        return _with_notes(_draftkings(df, source), notes)
    header = ", ".join(c for c in df.columns if not c.startswith("Unnamed")) or "(none)"
    raise SalaryImportError(
        source,
        [
            "the header matches neither a DraftKings DKSalaries.csv nor a FanDuel player list; "
            f"header was: {header} (DraftKings needs Salary and 'Name + ID', or Name and ID; FanDuel needs Id, Nickname, Salary)"
        ],
    )


NASCAR_POSITIONS = {"D", "DRIVER"}  # every row of a NASCAR Classic file (DraftKings: D / D; FanDuel: D / Driver)


def _nascar_classic(df: pd.DataFrame, source: str, site: str, columns: tuple[str, ...]) -> None:
    """Refuse a salary file of another sport or another game type (DraftKings Showdown's captain
    rows), saying what it is: Pitwall builds NASCAR Classic lineups only."""
    seen = {str(v).strip() for c in columns if c in df.columns for v in df[c] if str(v).strip()}
    if any(v.upper() in ("CPT", "CAPTAIN") for v in seen):
        raise SalaryImportError(source, [f"a {site} Showdown (Captain Mode) file: each driver is listed as CPT and again as "
                                         "FLEX; Pitwall builds NASCAR Classic lineups only (6 drivers, DraftKings' Classic "
                                         "contests): download the Classic contest's salary file"])
    other = sorted(v for v in seen if v.upper() not in NASCAR_POSITIONS)
    if other:
        raise SalaryImportError(source, [f"not a NASCAR salary file: its positions are {', '.join(other[:8])} (a {site} file of "
                                         "another sport?); every driver of a NASCAR Classic slate has position D, and Pitwall "
                                         "reads NASCAR Classic slates only"])


def _with_notes(sf: SalaryFile, notes: tuple[str, ...]) -> SalaryFile:
    from dataclasses import replace

    return replace(sf, notes=sf.notes + notes) if notes else sf


def _draftkings(df: pd.DataFrame, source: str) -> SalaryFile:
    names, ids = [], []
    problems: list[str] = []
    for i, r in df.iterrows():
        line = int(i) + 2
        name, pid = r.get("Name", "").strip(), str(r.get("ID", "")).strip()
        combined = r.get("Name + ID", "").strip()
        if combined:
            parts = split_name_id(combined)
            if parts is None:
                problems.append(f"line {line}: 'Name + ID' cell {combined!r} is not of the form 'Name (ID)'")
            else:
                name = name or parts[0]
                if pid and pid != parts[1]:
                    problems.append(f"line {line} ({name}): ID {pid!r} differs from the id in 'Name + ID' {combined!r}")
                pid = pid or parts[1]
        names.append(name)
        ids.append(pid)
    game = next((g for g in df.get("Game Info", pd.Series(dtype=str)) if g.strip()), None)
    fppg = df.get("AvgPointsPerGame", pd.Series([""] * len(df)))
    return _build(Site.DK, source, names, ids, df["Salary"].tolist(), fppg.tolist(), problems, game)


def _fanduel(df: pd.DataFrame, source: str) -> SalaryFile:
    blank = pd.Series([""] * len(df), index=df.index)
    full = [f"{a} {b}".strip() for a, b in zip(df.get("First Name", blank), df.get("Last Name", blank))]
    names = [n.strip() or f for n, f in zip(df.get("Nickname", blank), full)]
    fppg = df.get("FPPG", blank)
    return _build(Site.FD, source, names, df["Id"].str.strip().tolist(), df["Salary"].tolist(), fppg.tolist(), [], None)


def _build(site, source, names, ids, salaries, fppg, problems, game) -> SalaryFile:
    from engine.core.names import name_key

    rows: list[SalaryRow] = []
    seen_ids: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    for i, (name, pid, sal, pts) in enumerate(zip(names, ids, salaries, fppg)):
        line = i + 2
        if not any([name, pid, str(sal).strip()]):
            continue  # blank row
        label = f"line {line} ({name})" if name else f"line {line}"
        if not name:
            problems.append(f"{label}: no driver name")
        if not pid:
            problems.append(f"{label}: no player id")
        elif pid in seen_ids:
            problems.append(f"{label}: duplicate id {pid!r} (also on line {seen_ids[pid]})")
        else:
            seen_ids[pid] = line
        key = name_key(name) if name else ""
        if key and key in seen_names:
            problems.append(f"{label}: driver listed twice (also on line {seen_names[key]})")
        elif key:
            seen_names[key] = line
        text = str(sal).strip().replace("$", "").replace(",", "")
        try:
            value = float(text)
            if not value.is_integer() or value <= 0:
                raise ValueError
            salary = int(value)
            if salary > MAX_SALARY:
                problems.append(f"{label}: Salary {salary:,} is above ${MAX_SALARY:,}, the most a site prices one driver")
        except (ValueError, OverflowError):
            problems.append(f"{label}: Salary {sal!r} is not a positive whole number")
            salary = 0
        try:
            points = float(pts) if str(pts).strip() else None
        except ValueError:
            points = None
        rows.append(SalaryRow(line, name, pid, salary, points))
    if not rows and not problems:
        problems.append("the file has a header but no driver rows")
    if len(rows) > MAX_POOL:
        problems.append(f"{len(rows)} drivers: one race's pool holds at most {MAX_POOL} (a Cup field is at most "
                        f"{MAX_FIELD} cars, plus possible non-qualifiers)")
    if problems:
        raise SalaryImportError(source, problems)
    return SalaryFile(site, source, rows, game)
