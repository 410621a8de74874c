"""`pitwall data add`: a season from the files users download, onto a store of shipped seasons.

The split tests hold back the real 2025 season (the shipped data is cut at 2024 in a copy of
data/) and add it again from the real files a user downloads (tests/fixtures/season_2025)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest

from engine.core.paths import DATA_DIR
from engine.data.checks import integrity_report
from engine.data.history import DataError, History
from engine.data.importers.add import add_to_store

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "season_2025"  # the real files, as downloaded (fixtures/README.md)
FEED = FIXTURES
NASCAR_DATA = FIXTURES / "cup_series_2025.csv"
MEXICO = {"autodromo hermanos rodriguez": "road"}  # what --track-type "Autodromo Hermanos Rodriguez=road" passes


def store_digest(state: Path) -> str:
    """Everything the store holds (what `History.load` would read)."""
    root = state / "data"
    h = hashlib.sha256()
    if root.exists():
        for p in sorted(root.resolve().rglob("*")):
            if p.is_file():
                h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def upto_2024(tmp_path_factory) -> Path:
    """A copy of data/ holding 2015-2024 only (as shipped before 2025 arrived)."""
    d = tmp_path_factory.mktemp("shipped") / "data"
    shutil.copytree(DATA_DIR, d)
    for f in ("results", "race_index", "loop", "practice"):
        df = pd.read_parquet(d / f"{f}.parquet")
        df[df["season"] <= 2024].to_parquet(d / f"{f}.parquet", index=False)
    tracks = pd.read_parquet(d / "tracks.parquet")
    tracks[tracks["track_id"] != "mexico_city"].to_parquet(d / "tracks.parquet", index=False)  # first raced in 2025
    ids = pd.read_parquet(d / "nascar_driver_ids.parquet")
    ids[~ids["learned_from"].str.startswith("2025")].to_parquet(d / "nascar_driver_ids.parquet", index=False)
    return d


@pytest.fixture(scope="module")
def full() -> History:
    return History.load(state_dir=False)


def season(h: History, table: str, year: int = 2025) -> pd.DataFrame:
    df = getattr(h, table)
    df = df[df["season"] == year]
    keys = ["race_id", "driver"] if "driver" in df else ["race_id"]
    return df.sort_values(keys)[sorted(df.columns)].reset_index(drop=True)


def test_feed_files_give_the_shipped_season(upto_2024, full, tmp_path, capsys):
    state = tmp_path / "state"
    _, report = add_to_store([FEED / "cup-results.csv", FEED / "cup-misc.csv", FEED / "cup-practice.csv"], state, data_dir=upto_2024)
    assert "'AJ Allmendinger' -> A.J. Allmendinger (NASCAR id 3774)" in report
    # Connor Zilisch's first Cup starts are in 2025: not a new driver, his NASCAR id is known from the NXS and Truck feeds
    assert sorted(r for r in report if r.startswith("new driver")) == ["new driver 'Burt Myers' (NASCAR id 3918)",
                                                                        "new driver 'Helio Castroneves' (NASCAR id 4505)"]
    assert any("did not start left out" in r and "DAYTONA 500" in r for r in report)
    assert any("new track 'Autódromo Hermanos Rodríguez' added as mexico_city (road" in r for r in report)
    h = History.load(upto_2024, state)
    for table in ("results", "index", "loop", "practice"):
        pd.testing.assert_frame_equal(season(h, table), season(full, table), check_dtype=False, obj=table)
    assert h.tracks.set_index("track_id").loc["mexico_city", "track_type"] == "road"
    coverage, failures = integrity_report(h)
    assert failures == [] and coverage["races"] == 396 and coverage["added_races"] == 36


def test_nascar_data_file_gives_the_shipped_season(upto_2024, full, tmp_path):
    """nascaR.data's table has no dates, ids, loop data or practice: dates come from the shipped
    schedule, and the results agree with the official feed's except where the two public
    sources themselves differ (8 positions of the Charlotte Roval, one status, rating rounding)."""
    state = tmp_path / "state"
    with pytest.raises(DataError, match='track \'Autodromo Hermanos Rodriguez\' is not known and the file does not say its type: '
                                        'give --track-type "Autodromo Hermanos Rodriguez=TYPE"'):
        add_to_store([NASCAR_DATA], state, data_dir=upto_2024)  # Mexico City, new in 2025: nascaR.data gives no type
    _, report = add_to_store([NASCAR_DATA], state, MEXICO, data_dir=upto_2024)
    h = History.load(upto_2024, state)
    cols = ["season", "race", "race_id", "date", "track_id", "track_type", "field_size", "race_laps"]
    pd.testing.assert_frame_equal(season(h, "index")[cols], season(full, "index")[cols], check_dtype=False)
    a, b = season(h, "results").set_index(["race_id", "driver"]), season(full, "results").set_index(["race_id", "driver"])
    assert a.index.equals(b.index) and (a["start"] == b["start"]).all() and (a["led"] == b["led"]).all()
    assert int((a["finish"] != b["finish"]).sum()) == 8 and set(a.index[a["finish"] != b["finish"]].get_level_values(0)) == {"2025-32"}
    assert int((a["running"] != b["running"]).sum()) == 1
    assert ((a["rating"] - b["rating"]).abs() <= 0.051).mean() > 0.95  # nascaR.data rounds the rating to 0.1
    assert len(h.loop[h.loop["season"] == 2025]) == 0 and len(h.practice[h.practice["season"] == 2025]) == 0


def test_adding_again_replaces_and_shipped_races_need_replace(upto_2024, tmp_path):
    state = tmp_path / "state"
    add_to_store([NASCAR_DATA], state, MEXICO, data_dir=upto_2024)
    _, report = add_to_store([NASCAR_DATA], state, MEXICO, data_dir=upto_2024)
    assert any(r.startswith("replaced 36 race(s) added before") for r in report)
    assert len(History.load(upto_2024, state).index) == 396
    before = store_digest(state)
    with pytest.raises(DataError, match="race\\(s\\) 2025-1, 2025-2, 2025-3.* are shipped with Pitwall; give --replace"):
        add_to_store([NASCAR_DATA], tmp_path / "other", data_dir=DATA_DIR)
    assert store_digest(tmp_path / "other") == store_digest(tmp_path / "none") and store_digest(state) == before
    _, report = add_to_store([NASCAR_DATA], tmp_path / "other", replace=True, data_dir=DATA_DIR)
    assert any(r.startswith("replaced 36 shipped race(s) (--replace)") for r in report)


def _feed(tmp_path: Path, change) -> Path:
    df = pd.read_csv(FEED / "cup-results.csv")
    df = change(df) if change else df
    out = tmp_path / "cup-results.csv"
    df.to_csv(out, index=False)
    return out


def _rows(df: pd.DataFrame, race_id: int) -> pd.Index:
    return df.index[(df["race_id"] == race_id) & df["finishing_status"].notna()]


def _two_same(df):
    r = _rows(df, 5547)
    df.loc[r[1], ["driver_fullname", "driver_id"]] = ["AJ Allmendinger", 3774]
    df.loc[r[0], ["driver_fullname", "driver_id"]] = ["A.J. Allmendinger", 999999]
    return df


def _led(value):
    def change(df):
        r = _rows(df, 5547)
        df.loc[r[0], "laps_led"] = df.loc[r[0], "laps_led"] + value
        return df
    return change


BAD_FEEDS = [
    ("missing-column", lambda df: df.drop(columns=["laps_led"]), "the header matches no layout"),
    ("wrong-type", lambda df: df.assign(starting_position=df["starting_position"].astype(object).where(df.index != 7, "pole")),
     "line(s) [9], column 'starting_position': not a whole number (e.g. ['pole'])"),
    ("driver-twice", _two_same, "race 2025-2: lines [47, 48, 60] are the same driver A.J. Allmendinger"),
    ("finish-not-1-N", lambda df: df.assign(finishing_position=df["finishing_position"].where(df.index != _rows(df, 5547)[2], 1)),
     "race 2025-2: column 'finishing_position' is not the positions 1..39 of its 39 starters"),
    ("more-led-than-laps", _led(400), "leads 4"),
    ("led-sum-far-off", _led(5), "laps led add up to 271 (column 'laps_led'), 5 off the 266 race laps"),
    ("two-seasons", lambda df: df.assign(race_season=df["race_season"].where(df.index != 3, 2024)), "holds seasons [2024, 2025]"),
]


@pytest.mark.parametrize("case, change, message", BAD_FEEDS, ids=[c[0] for c in BAD_FEEDS])
def test_a_bad_file_adds_nothing(case, change, message, upto_2024, tmp_path):
    state = tmp_path / "state"
    add_to_store([NASCAR_DATA], state, MEXICO, data_dir=upto_2024)  # something already there
    before = store_digest(state)
    with pytest.raises(DataError) as exc:
        add_to_store([_feed(tmp_path, change), FEED / "cup-misc.csv"], state, data_dir=upto_2024)
    assert message in str(exc.value) and "cup-results.csv" in str(exc.value)
    assert "Traceback" not in str(exc.value)
    assert store_digest(state) == before


def test_slips_and_new_statuses_are_reported_not_refused(upto_2024, tmp_path):
    def change(df):
        df = _led(1)(df)
        r = _rows(df, 5549)
        df.loc[r[-1], "finishing_status"] = "Transaxle"
        return df

    _, report = add_to_store([_feed(tmp_path, change)], tmp_path / "state", data_dir=upto_2024)
    assert "race 2025-2: laps led add up to 267, +1 from the 266 race laps (kept: a feed slip)" in report
    assert any("never seen before, read as out of the race: 'transaxle' (2025-4)" in r for r in report)
    h = History.load(upto_2024, tmp_path / "state")
    row = h.results[(h.results["race_id"] == "2025-4") & (h.results["status"] == "transaxle")]
    assert len(row) == 1 and not row["running"].iloc[0]


def test_unknown_track_needs_a_type(upto_2024, tmp_path):
    k = pd.read_csv(NASCAR_DATA).assign(Season=2027)  # a season without a shipped schedule: its races keep their numbers
    k.loc[k["Race"] == 3, "Track"] = "Moon Raceway"
    f = tmp_path / "cup_series_2025.csv"
    k.to_csv(f, index=False)
    state = tmp_path / "state"
    with pytest.raises(DataError, match="track 'Moon Raceway' is not known and the file does not say its type: give "
                                        '--track-type "Moon Raceway=TYPE"'):
        add_to_store([f], state, MEXICO, data_dir=upto_2024)
    assert store_digest(state) == store_digest(tmp_path / "none")
    _, report = add_to_store([f], state, {**MEXICO, "moon raceway": "road"}, data_dir=upto_2024)
    assert "new track 'Moon Raceway' added as moon_raceway (road, from --track-type)" in report
    h = History.load(upto_2024, state)
    assert h.race("2027-3")["track_type"] == "road" and h.index.loc[h.index["season"] == 2027, "date"].isna().all()
    assert any("no schedule for 36 race(s) of 2027: their dates are unknown" in r for r in report)


def test_in_progress_season_and_cli(upto_2024, tmp_path):
    """17 races of 2025 added through the command line; every command then sees them."""
    import os
    import subprocess
    import sys

    df = pd.read_csv(FEED / "cup-results.csv")
    first = sorted(df["race_id"].unique(), key=lambda r: df.loc[df["race_id"] == r, "race_date"].iloc[0])[:17]
    part = tmp_path / "cup-results.csv"
    df[df["race_id"].isin(first)].to_csv(part, index=False)
    misc = pd.read_csv(FEED / "cup-misc.csv")
    misc[misc["race_id"].isin(first)].to_csv(tmp_path / "cup-misc.csv", index=False)
    env = {**os.environ, "PITWALL_STATE_DIR": str(tmp_path / "state"), "PITWALL_DATA_DIR": str(upto_2024), "COLUMNS": "200"}
    pitwall = str(Path(sys.executable).with_name("pitwall"))
    r = subprocess.run([pitwall, "data", "add", str(part), str(tmp_path / "cup-misc.csv")], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "added 17 race(s) of 2025 (2025-1 to 2025-17)" in r.stdout
    r = subprocess.run([pitwall, "data", "check"], capture_output=True, text=True, env=env, timeout=120)
    assert "seasons 2015-2025: 377 races" in r.stdout and "(17 added with `data add`)" in r.stdout and "integrity: ok" in r.stdout
    r = subprocess.run([pitwall, "simulate", "--race", "2025-17", "--scenarios", "100"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0 and "Pocono" not in r.stderr, r.stderr


def _race_files(tmp_path: Path, nascar_ids: list[int], change=None) -> list[Path]:
    """Feed files (results and loop data) of some races of the real 2025 season, one folder each."""
    out = []
    res, misc = pd.read_csv(FEED / "cup-results.csv"), pd.read_csv(FEED / "cup-misc.csv")
    for rid in nascar_ids:
        d = tmp_path / f"race-{rid}"
        d.mkdir()
        part = res[res["race_id"] == rid]
        (change(part.copy()) if change else part).to_csv(d / "cup-results.csv", index=False)
        misc[misc["race_id"] == rid].to_csv(d / "cup-misc.csv", index=False)
        out.append(d)
    return out


ATLANTA, COTA = 5547, 5551  # NASCAR race ids of 2025's Atlanta and COTA races (2025-2 and 2025-3)


def test_two_adds_at_once_keep_both_races(upto_2024, tmp_path):
    """Two `pitwall data add` processes started together on one state directory: each reads the
    store, adds its race and writes the store back; the writer lock makes the second wait for the
    first, so both races are kept (without it, the last writer dropped the other's race)."""
    import os
    import subprocess
    import sys

    folders = _race_files(tmp_path, [ATLANTA, COTA])
    env = {**os.environ, "PITWALL_STATE_DIR": str(tmp_path / "state"), "PITWALL_DATA_DIR": str(upto_2024), "COLUMNS": "200"}
    pitwall = str(Path(sys.executable).with_name("pitwall"))
    procs = [subprocess.Popen([pitwall, "data", "add", str(d / "cup-results.csv"), str(d / "cup-misc.csv")], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for d in folders]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert all("added 1 race(s) of 2025" in o for o, _ in outs)
    h = History.load(upto_2024, tmp_path / "state")
    assert set(h.added) == {"2025-2", "2025-3"}
    assert set(h.loop.loc[h.loop["season"] == 2025, "race_id"]) == {"2025-2", "2025-3"}
    assert integrity_report(h)[1] == []


def test_an_add_waits_for_the_writer_before_it_and_says_so(upto_2024, tmp_path):
    import threading

    from engine.data.store import SeasonStore

    state = tmp_path / "state"
    (atlanta,) = _race_files(tmp_path, [ATLANTA])
    said, done = [], threading.Event()
    with SeasonStore(state).writing():
        t = threading.Thread(target=lambda: (add_to_store([atlanta / "cup-results.csv"], state, data_dir=upto_2024,
                                                          on_wait=said.append), done.set()))
        t.start()
        assert not done.wait(2.0)  # the add waits while another writer holds the store
    t.join(60)
    assert done.is_set() and said and "another `data add` is writing to" in said[0] and "waiting for it to finish" in said[0]
    assert History.load(upto_2024, state).added == ("2025-2",)


def test_a_track_the_file_names_differently_takes_the_schedules(upto_2024, tmp_path):
    """A spelling never seen for a race the schedule has: the schedule's track, printed as a match
    (before: 'not known, give --track-type', then a refusal with no way out)."""
    def rename(df):
        return df.assign(track_name="Austin")

    (cota,) = _race_files(tmp_path, [COTA], rename)
    state = tmp_path / "state"
    _, report = add_to_store([cota / "cup-results.csv", cota / "cup-misc.csv"], state, data_dir=upto_2024)
    assert "'Austin' -> Circuit of the Americas (the 2025 schedule's track on 2025-03-02)" in report
    h = History.load(upto_2024, state)
    assert h.race("2025-3")["track_id"] == "cota" and h.track_of["austin"] == "cota"


def test_track_alias_for_a_season_without_schedule(upto_2024, tmp_path):
    k = pd.read_csv(NASCAR_DATA).assign(Season=2027)  # no schedule: the file's own track names must resolve
    k.loc[k["Race"] == 3, "Track"] = "Moon Raceway"
    f = tmp_path / "cup_series_2025.csv"
    k.to_csv(f, index=False)
    state = tmp_path / "state"
    with pytest.raises(DataError, match='or --track-alias "Moon Raceway=TRACK_ID" if Pitwall knows it by another name'):
        add_to_store([f], state, MEXICO, data_dir=upto_2024)
    _, report = add_to_store([f], state, MEXICO, data_dir=upto_2024, track_aliases={"moon raceway": "cota"})
    assert "'Moon Raceway' -> Circuit of the Americas (--track-alias)" in report
    assert History.load(upto_2024, state).race("2027-3")["track_id"] == "cota"


def test_header_only_practice_means_no_practice(upto_2024, tmp_path):
    (atlanta,) = _race_files(tmp_path, [ATLANTA])
    practice = atlanta / "cup-practice.csv"
    practice.write_text((FEED / "cup-practice.csv").read_text().splitlines()[0] + "\n")
    state = tmp_path / "state"
    _, report = add_to_store([atlanta / "cup-results.csv", atlanta / "cup-misc.csv", practice], state, data_dir=upto_2024)
    assert f"{practice}: a header and no rows: no practice for these races" in report
    h = History.load(upto_2024, state)
    assert h.added == ("2025-2",) and not (h.practice["race_id"] == "2025-2").any()


def test_negative_laps_are_refused(upto_2024, tmp_path):
    def negative(df):
        r = df.index[df["finishing_status"].eq("Running")][3]
        df.loc[r, "laps_completed"] = -3
        return df

    state = tmp_path / "state"
    with pytest.raises(DataError, match=r"line\(s\) \[9\], column 'laps_completed': below 0 \(a count of laps\) \(e.g. \[-3\]\)"):
        add_to_store([_feed(tmp_path, negative)], state, data_dir=upto_2024)
    assert store_digest(state) == store_digest(tmp_path / "none")
