
import numpy as np
import pytest

from engine.core.names import NameIndex, name_key
from engine.data.checks import integrity_report
from engine.data.history import DataError, parse_race_id


def test_coverage_2015_2025(history):
    coverage, failures = integrity_report(history)
    assert failures == []
    assert coverage["seasons"] == "2015-2025"
    assert coverage["races"] == 396 and set(coverage["races_per_season"].values()) == {36}
    assert coverage["loop_seasons"] == "2019-2025"
    assert coverage["rows"]["results"] == 15341 and coverage["practice_races"] == 119


def test_finish_and_start_are_permutations(history):
    for rid, d in history.results.groupby("race_id"):
        n = len(d)
        assert sorted(d["finish"]) == list(range(1, n + 1)), rid
        assert sorted(d["start"]) == list(range(1, n + 1)), rid


def test_laps_led_sum_to_race_laps_except_known(history):
    led = history.results.groupby("race_id")["led"].sum()
    laps = history.index.set_index("race_id")["race_laps"].astype(int)
    off = sorted(led.index[led != laps.reindex(led.index)])
    assert off == ["2016-18", "2018-30", "2023-19", "2024-16", "2025-1"]
    assert int(laps["2018-30"] - led["2018-30"]) == 39
    assert all(abs(int(led[r] - laps[r])) == 1 for r in off if r != "2018-30")  # feed slips: one lap


def test_loop_data_fastest_laps(history):
    loop, idx = history.loop, history.index.set_index("race_id")
    assert loop["race_id"].nunique() == 252  # every race 2019-2025
    per_race = loop.groupby("race_id")["fastest_laps"].sum()
    laps = idx.loc[per_race.index, "race_laps"].astype(int)
    assert (per_race <= laps).all()
    assert (per_race / laps).median() > 0.7  # green-flag laps only: most, never all, of the laps
    assert (loop["fastest_laps"] >= 0).all()
    # 2022-2025 are the official feed: one loop row per result row
    res = history.results[history.results["season"] >= 2022]
    off = loop[loop["season"] >= 2022]
    assert len(off) == len(res)
    assert set(off["source"]) == {"nascar_loop"}
    # laps led of the loop feed agree with the results for the official seasons
    m = off.merge(res, on=["race_id", "driver_id"])
    assert (m["laps_led"] == m["led"]).mean() > 0.99


def test_race_index_types_and_dates(history):
    idx = history.index
    assert idx["date"].notna().all()
    assert idx["date"].is_monotonic_increasing
    assert set(idx["track_type"]) <= {"superspeedway", "intermediate", "large_oval", "one_mile_flat_or_concrete", "short", "road", "dirt"}
    assert idx.loc[idx["race_id"] == "2024-1", "track_id"].item() == "daytona"
    atl = idx[idx["track_id"] == "atlanta"].set_index("season")["track_type"]
    assert atl.loc[2021].iloc[0] == "intermediate" and atl.loc[2022].iloc[0] == "superspeedway"


@pytest.mark.parametrize(
    "a,b",
    [
        ("John Hunter Nemechek", "John H. Nemechek"),
        ("A.J. Allmendinger", "AJ Allmendinger"),
        ("Daniel Suarez", "Daniel Suárez"),
        ("Ricky Stenhouse Jr.", "Ricky Stenhouse Jr"),
        ("Shane van Gisbergen", "Shane Van Gisbergen"),
        ("Corey LaJoie", "Corey Lajoie"),
        ("Kyle Larson", "Kyle Larson (i)"),
        ("Kyle Larson", "#5 Kyle Larson"),
        ("J.J. Yeley", "JJ Yeley"),
    ],
)
def test_one_driver_naming(history, a, b):
    assert history.names.canonical(b) == a


def test_names_do_not_merge_different_drivers(history):
    assert history.names.canonical("Joe Nemechek") == "Joe Nemechek"
    assert history.names.canonical("John Nemechek") is None
    assert history.names.canonical("Kyle Busch") != history.names.canonical("Kurt Busch")
    assert name_key("John H. Nemechek") != name_key("John Hunter Nemechek")  # only the alias joins them
    with pytest.raises(ValueError, match="share the key"):
        NameIndex(["A.J. Foyt", "AJ Foyt"])


def test_every_source_name_resolves(history):
    """Every spelling in the shipped sources maps to a history driver (Cup loop feed too)."""
    loop = history.loop
    assert set(loop["driver_id"]) <= set(history.results["driver_id"])


def test_practice_and_qualifying(history):
    """Pre-race information of 2022 on: practice ranks of the weekend's last session, qualifying speeds."""
    p = history.practice
    assert p["season"].min() == 2022 and p["race_id"].nunique() == 119
    assert set(zip(p["race_id"], p["driver_id"])) <= set(zip(history.results["race_id"], history.results["driver_id"]))
    assert p["best_lap_rank"].notna().all() and p["avg10_rank"].isna().any()  # a feed may give best laps only
    q = history.results.loc[history.results["season"] >= 2022, "qual_speed"]
    assert q.notna().mean() > 0.8 and history.results.loc[history.results["season"] < 2022, "qual_speed"].isna().all()


def test_schedule_covers_the_coming_season(history):
    sched = history.schedule
    assert set(sched["season"]) == set(range(2015, 2027)) and (sched["season"] == 2026).sum() == 36
    assert sched["track_id"].notna().all()
    day = sched[(sched["season"] == 2026) & (sched["race"] == 8)].iloc[0]
    assert day["track_id"] == "bristol" and str(day["date"].date()) == "2026-04-12"


def test_race_ids(history):
    assert parse_race_id("2024-30") == (2024, 30)
    with pytest.raises(DataError, match="SEASON-RACE"):
        parse_race_id("Bristol")
    with pytest.raises(DataError, match="not in the history"):
        history.race("2031-1")


def test_before_is_strict(history):
    h = history.before(2024, 30)
    assert h.index["race_id"].iloc[-1] == "2024-29"
    assert not np.any((h.results["season"] == 2024) & (h.results["race"] >= 30))
    assert h.loop["race_id"].isin(["2024-30", "2024-31"]).sum() == 0


def test_field_size_rule_holds_for_every_shipped_race(history):
    """data/field_sizes.csv: never fewer cars than a real race started, and reached in each era."""
    from engine.data.history import race_field_size

    idx = history.index
    rule = {r.race_id: race_field_size(r.season, r.track_id, r.race, r.race_name)[0] for r in idx.itertuples()}
    over = [(rid, int(n)) for rid, n in zip(idx["race_id"], idx["field_size"]) if n > rule[rid]]
    assert over == []
    assert idx.loc[idx["season"] == 2015, "field_size"].max() == 43 and idx.loc[idx["season"].between(2016, 2024), "field_size"].max() == 40
    assert idx.loc[idx["race_id"] == "2025-1", "field_size"].item() == 41  # the first Daytona 500 with an open exemption
    assert race_field_size(2026, "daytona", None, "DAYTONA 500")[0] == 41 and race_field_size(2026, "daytona", 17, "Coke Zero Sugar 400")[0] == 40
