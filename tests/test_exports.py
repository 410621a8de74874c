"""Upload files round-trip on the real slate files in data/salaries."""

import csv
import io

import pytest

from engine.core.contracts import Site
from engine.data.history import salary_files
from engine.data.salaries import read_salary_file
from engine.data.slates import build_slate, shipped_salary_slate
from engine.dfs.exports import ExportError, fill_dk_entries, lineups_csv, parse_dk_cell, read_lineups_csv


def some_lineups(slate, size, n=3):
    ids = [d.driver_id for d in slate.drivers]
    return [ids[k * size : (k + 1) * size] for k in range(n)]


@pytest.mark.parametrize("path", salary_files(), ids=lambda p: p.name)
def test_upload_round_trip_on_real_slates(history, path):
    slate = shipped_salary_slate(path.name, history)
    site = slate.site
    size = 6 if site is Site.DK else 5
    lineups = some_lineups(slate, size)
    text = lineups_csv(slate, site, lineups)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["D"] * size and len(rows) == 4
    back = read_lineups_csv(text, site)
    by_id = {d.driver_id: d.site_player_id for d in slate.drivers}
    assert back == [[by_id[x] for x in lu] for lu in lineups]
    # the ids are the ones of the real file, and so are the names in the cells
    source = {r.player_id: r.name for r in read_salary_file(path).rows}
    for row in rows[1:]:
        for cell in row:
            name, pid = parse_dk_cell(cell) if site is Site.DK else reversed(cell.split(":", 1))
            assert source[pid] == name


def dk_entries_template(slate, n_entries=4):
    """A DKEntries.csv as DraftKings lays it out: entries on the left, the instruction block
    and player list on the right, one entry already holding a (LOCKED) player."""
    header = ["Entry ID", "Contest Name", "Contest ID", "Entry Fee", "D", "D", "D", "D", "D", "D", "", "Instructions"]
    rows = [header]
    first = slate.drivers[0]
    for k in range(n_entries):
        cells = [""] * 6
        if k == 2:
            cells[0] = f"{first.site_name} ({first.site_player_id}) (LOCKED)"
        rows.append([str(4000000000 + k), "NASCAR $5 Double Up", "183000000", "$5", *cells, "", "1. Column A lists all of your contest entries"])
    rows.append([""] * 11 + ["2. Your current lineup is listed next to each entry"])
    rows.append([""] * 11 + ["Position,Name + ID,Name,ID,..."])
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()


def test_fill_dk_entries(history):
    slate = shipped_salary_slate("dk_2026-04-12_race08_bristol.csv", history)
    lineups = some_lineups(slate, 6, n=2)
    filled, notes = fill_dk_entries("\ufeff" + dk_entries_template(slate), slate, lineups)
    rows = list(csv.reader(io.StringIO(filled)))
    assert rows[0] == ["Entry ID", "Contest Name", "Contest ID", "Entry Fee", "D", "D", "D", "D", "D", "D"]
    assert [r[0] for r in rows[1:]] == ["4000000000", "4000000001", "4000000002", "4000000003"]
    assert all(r[1:4] == ["NASCAR $5 Double Up", "183000000", "$5"] for r in rows[1:])
    ids = {d.driver_id: d.site_player_id for d in slate.drivers}
    assert [parse_dk_cell(c)[1] for c in rows[1][4:]] == [ids[x] for x in lineups[0]]
    assert [parse_dk_cell(c)[1] for c in rows[2][4:]] == [ids[x] for x in lineups[1]]
    assert rows[3][4].endswith("(LOCKED)") and rows[3][5] == ""  # left as it was
    assert [parse_dk_cell(c)[1] for c in rows[4][4:]] == [ids[x] for x in lineups[0]]  # reused in order
    assert any("locked player" in n for n in notes) and any("reused" in n for n in notes)


def test_export_errors(history):
    slate = shipped_salary_slate("dk_2026-04-12_race08_bristol.csv", history)
    with pytest.raises(ExportError, match="missing column"):
        fill_dk_entries("Entry ID,Contest Name\n1,x\n", slate, some_lineups(slate, 6, 1))
    with pytest.raises(ExportError, match="5 D columns, the lineups 6"):
        fill_dk_entries("Entry ID,Contest Name,Contest ID,Entry Fee,D,D,D,D,D\n1,a,2,$1,,,,,\n", slate, some_lineups(slate, 6, 1))
    historical = build_slate("2024-30", history)
    with pytest.raises(ExportError, match="no salary-site player id for"):
        lineups_csv(historical, "dk", some_lineups(historical, 6, 1))
    with pytest.raises(ExportError, match="not of the form 'Name \\(ID\\)'"):
        read_lineups_csv("D,D\nKyle Larson,Denny Hamlin\n", "dk")
