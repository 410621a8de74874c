"""Upload files: DraftKings lineups ("Name (ID)" cells under D,D,D,D,D,D), a filled
DKEntries.csv, and FanDuel lineups ("ID:Name" cells under D,D,D,D,D)."""

from __future__ import annotations

import csv
import io

from engine.core.contracts import Site, Slate
from engine.data.salaries import split_name_id

ENTRY_COLUMNS = ["Entry ID", "Contest Name", "Contest ID", "Entry Fee"]


class ExportError(ValueError):
    """The lineups cannot be written for the site; the message names drivers or rows."""


def _site_drivers(slate: Slate, driver_ids: list[list[str]]) -> dict[str, tuple[str, str]]:
    by_id = {d.driver_id: d for d in slate.drivers}
    needed = {x for lineup in driver_ids for x in lineup}
    missing = sorted(by_id[x].name or x for x in needed if not by_id[x].site_player_id)
    if missing:
        raise ExportError(f"no salary-site player id for {', '.join(missing)}: load the site's salary file (or give each "
                          "driver's site_player_id) to export")
    return {x: ((by_id[x].site_name or by_id[x].name or x), str(by_id[x].site_player_id)) for x in needed}


def dk_cell(name: str, player_id: str) -> str:
    return f"{name} ({player_id})"


def parse_dk_cell(cell: str) -> tuple[str, str]:
    """"Kyle Larson (112)" or "Kyle Larson (112) (LOCKED)" -> ("Kyle Larson", "112")."""
    parts = split_name_id(cell.replace("(LOCKED)", "").strip())
    if parts is None:
        raise ExportError(f"cell {cell!r} is not of the form 'Name (ID)'")
    return parts


def lineups_csv(slate: Slate, site: Site | str, driver_ids: list[list[str]]) -> str:
    """The site's upload file for these lineups (DK: "Name (ID)"; FD: "ID:Name")."""
    site = Site(getattr(site, "value", site))
    info = _site_drivers(slate, driver_ids)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    size = len(driver_ids[0]) if driver_ids else (6 if site is Site.DK else 5)
    w.writerow(["D"] * size)
    for lineup in driver_ids:
        if site is Site.DK:
            w.writerow([dk_cell(*info[x]) for x in lineup])
        else:
            w.writerow([f"{info[x][1]}:{info[x][0]}" for x in lineup])
    return buf.getvalue()


def read_lineups_csv(text: str, site: Site | str) -> list[list[str]]:
    """Player ids of each lineup of an upload file (the inverse of ``lineups_csv``)."""
    site = Site(getattr(site, "value", site))
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or any(h != "D" for h in rows[0]):
        raise ExportError("an upload file starts with a header of D columns")
    out = []
    for k, row in enumerate(rows[1:], start=2):
        if site is Site.DK:
            out.append([parse_dk_cell(c)[1] for c in row])
        else:
            ids = []
            for c in row:
                if ":" not in c:
                    raise ExportError(f"line {k}: cell {c!r} is not of the form 'ID:Name'")
                ids.append(c.split(":", 1)[0])
            out.append(ids)
    return out


def fill_dk_entries(entries_text: str, slate: Slate, driver_ids: list[list[str]]) -> tuple[str, list[str]]:
    """A DKEntries.csv with each entry's D cells filled by the lineups, in order (cycling
    when there are more entries than lineups). Entry ID, Contest Name, Contest ID and Entry
    Fee are kept; DraftKings' instruction block to the right is tolerated and left out;
    entries holding a "(LOCKED)" player are kept as they are and reported.
    Returns (csv text, notes)."""
    rows = list(csv.reader(io.StringIO(entries_text.lstrip("\ufeff"))))
    if not rows:
        raise ExportError("DKEntries.csv is empty")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in ENTRY_COLUMNS if c not in header]
    if missing:
        raise ExportError(f"DKEntries.csv: missing column(s) {', '.join(missing)}; header was {', '.join(h for h in header if h)}")
    start = header.index("Entry Fee") + 1
    d_cols = []
    for k in range(start, len(header)):
        if header[k] == "D":
            d_cols.append(k)
        elif d_cols:
            break
    if not driver_ids:
        raise ExportError("no lineups to fill the entries with")
    if len(d_cols) != len(driver_ids[0]):
        raise ExportError(f"DKEntries.csv has {len(d_cols)} D columns, the lineups {len(driver_ids[0])} drivers")
    info = _site_drivers(slate, driver_ids)
    keep_cols = [header.index(c) for c in ENTRY_COLUMNS] + d_cols
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([header[k] for k in keep_cols])
    notes, used = [], 0
    for n, row in enumerate(rows[1:], start=2):
        row = row + [""] * (len(header) - len(row))
        entry = row[header.index("Entry ID")].strip()
        if not entry or not entry.isdigit():
            continue  # blank rows and the instruction block below the entries
        if any("(LOCKED)" in row[k] for k in d_cols):
            notes.append(f"line {n}: entry {entry} has a locked player and was left as it was")
            w.writerow([row[k] for k in keep_cols])
            continue
        lineup = driver_ids[used % len(driver_ids)]
        used += 1
        w.writerow([row[k] for k in keep_cols[:4]] + [dk_cell(*info[x]) for x in lineup])
    if used == 0 and not notes:
        raise ExportError("DKEntries.csv has no entries")
    if used > len(driver_ids):
        notes.append(f"{used} entries for {len(driver_ids)} lineups: lineups were reused in order")
    return buf.getvalue(), notes
