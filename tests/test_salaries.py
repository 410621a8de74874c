import pandas as pd
import pytest

from engine.core.contracts import Site
from engine.core.paths import DATA_DIR
from engine.data.history import salary_files, salary_manifest
from engine.data.salaries import SalaryImportError, read_salary_file
from engine.data.slates import shipped_salary_slate, slate_from_salaries

SAL = DATA_DIR / "salaries"
DK_BRISTOL = SAL / "dk_2026-04-12_race08_bristol.csv"
DK_HEADER = "Position,Name + ID,Name,ID,Roster Position,Salary,Game Info,TeamAbbrev,AvgPointsPerGame"


def test_real_draftkings_bristol_slate(history):
    sf = read_salary_file(DK_BRISTOL)
    assert sf.site is Site.DK and len(sf.rows) == 37
    assert sf.rows[0].name == "Kyle Larson" and sf.rows[0].salary == 11500
    slate = shipped_salary_slate(DK_BRISTOL.name, history)
    assert slate.track_id == "bristol" and slate.track_type == "short" and slate.race_length == 500
    by_site = {d.site_name: d for d in slate.drivers}
    assert by_site["John H. Nemechek"].name == "John Hunter Nemechek"
    assert by_site["AJ Allmendinger"].name == "A.J. Allmendinger"
    assert by_site["Ricky Stenhouse Jr"].name == "Ricky Stenhouse Jr."
    assert by_site["Shane Van Gisbergen"].matched
    assert slate.unmatched == [] and by_site["Connor Zilisch"].matched  # his 2025 Cup starts are in the history now
    # Daniel Dye's first Cup race is the 2026 Talladega one: he is the Truck and NXS driver (matched, one driver in every
    # series); the Cup method keeps the newcomer prior for drivers new to the Cup, and says so
    talladega = shipped_salary_slate("fd_2026-04-26_race10.csv", history)
    dye = next(d for d in talladega.drivers if d.site_name == "Daniel Dye")
    assert talladega.unmatched == [] and dye.matched and dye.history_races == 0 and {"skill", "aggression"} <= set(dye.estimated)
    assert any("Daniel Dye" in n and "does not borrow" in n for n in talladega.notes), talladega.notes
    # no starting grid before qualifying: allowed, flagged on every driver
    assert all(d.start_position is None and "start_position" in d.estimated for d in slate.drivers)
    assert any("starting grid missing" in n for n in slate.notes)


def test_all_real_fanduel_slates(history):
    manifest = salary_manifest()
    fd_files = [f for f in salary_files() if f.name.startswith("fd_")]
    assert len(fd_files) == 9
    for f in fd_files:
        sf = read_salary_file(f)
        assert sf.site is Site.FD and 36 <= len(sf.rows) <= 44
        assert all(r.salary > 0 for r in sf.rows)
        slate = shipped_salary_slate(f.name, history)
        assert slate.track_id == manifest.loc[f.name, "track_id"]
        matched = sum(d.matched for d in slate.drivers)
        assert matched >= len(slate.drivers) - 4, (f.name, slate.unmatched)
        assert len({d.driver_id for d in slate.drivers}) == len(slate.drivers)
    fd1 = read_salary_file(SAL / "fd_2026-02-15_race01.csv")
    assert fd1.rows[0].player_id == "126561-82889" and fd1.rows[0].name == "Joey Logano"


def test_name_plus_id_only_and_extra_columns(history):
    text = "Name + ID,Salary,Random Extra\nKyle Larson (123),11500,x\nJohn H. Nemechek (9),6000,y\n"
    sf = read_salary_file(text)
    assert sf.site is Site.DK and [(r.name, r.player_id) for r in sf.rows] == [("Kyle Larson", "123"), ("John H. Nemechek", "9")]
    slate = slate_from_salaries(sf, history, track_id="bristol")
    assert [d.driver_id for d in slate.drivers] == ["kyle-larson", "john-hunter-nemechek"]


def _lines(text):
    return text.replace("\n", "\r\n")


@pytest.mark.parametrize(
    "text,expected",
    [
        ("", ["the file is empty"]),
        ("   \n\n", ["the file is empty"]),
        (DK_HEADER + "\n", ["the file has a header but no driver rows"]),
        ("Player,Cost\nKyle Larson,11500\n", ["header matches neither a DraftKings DKSalaries.csv nor a FanDuel player list; header was: Player, Cost"]),
        (
            DK_HEADER + "\nD,Kyle Larson (1),Kyle Larson,1,D,11500,g,,\nD,Denny Hamlin (2),Denny Hamlin,2,D,eleven,g,,\n"
            "D,Ryan Blaney (3),Ryan Blaney,3,D,-5,g,,\n",
            ["line 3 (Denny Hamlin): Salary 'eleven' is not a positive whole number", "line 4 (Ryan Blaney): Salary '-5'"],
        ),
        (
            DK_HEADER + "\nD,Kyle Larson (1),Kyle Larson,1,D,11500,g,,\nD,Denny Hamlin (1),Denny Hamlin,1,D,11000,g,,\n",
            ["line 3 (Denny Hamlin): duplicate id '1' (also on line 2)"],
        ),
        (
            DK_HEADER + "\nD,Kyle Larson (1),Kyle Larson,1,D,11500,g,,\nD,Kyle Larson (i) (2),Kyle Larson (i),2,D,9000,g,,\n",
            ["line 3 (Kyle Larson (i)): driver listed twice (also on line 2)"],
        ),
        ("Name + ID,Salary\nKyle Larson 123,11500\n", ["line 2: 'Name + ID' cell 'Kyle Larson 123' is not of the form 'Name (ID)'"]),
        ("Id,Nickname,Salary\n1-1,Joey Logano,14000\n1-1,Ryan Blaney,\n", ["line 3 (Ryan Blaney): duplicate id '1-1'", "line 3 (Ryan Blaney): Salary ''"]),
    ],
)
def test_bad_files_give_one_error_listing_every_bad_row(text, expected):
    with pytest.raises(SalaryImportError) as exc:
        read_salary_file(_lines(text).encode(), source="upload.csv")
    message = str(exc.value)
    assert message.startswith("upload.csv: cannot import salaries") and "nothing was loaded" in message
    for e in expected:
        assert e in message, message
    assert len(exc.value.problems) >= len(expected)


def test_bad_real_file_lists_all_rows(tmp_path):
    """A real FanDuel export with two rows broken: both are named, nothing is loaded."""
    df = pd.read_csv(SAL / "fd_2026-03-29_race07.csv", dtype=str, keep_default_na=False)
    df.loc[3, "Salary"] = "n/a"
    df.loc[10, "Id"] = df.loc[2, "Id"]
    f = tmp_path / "fd_broken.csv"
    df.to_csv(f, index=False)
    with pytest.raises(SalaryImportError) as exc:
        read_salary_file(f)
    assert len(exc.value.problems) == 2
    assert "line 5" in exc.value.problems[0] and "line 12" in exc.value.problems[1]


def test_missing_file():
    with pytest.raises(SalaryImportError, match="file not found"):
        read_salary_file(DATA_DIR / "salaries" / "nope.csv")


def test_unknown_track_named(history):
    sf = read_salary_file(DK_BRISTOL)
    with pytest.raises(ValueError, match="unknown track 'bristle'"):
        slate_from_salaries(sf, history, track_id="bristle")
    slate = slate_from_salaries(sf, history)
    assert slate.track_id is None and any("track unknown" in n for n in slate.notes)
