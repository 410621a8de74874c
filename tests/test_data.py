import shutil

import numpy as np
import pandas as pd
import pytest

from engine.data import DATA_DIR, DataError, ExtraFiles, History, integrity_report, parse_race_id
from engine.names import NameIndex, name_key


def test_coverage_2015_2024(history):
    coverage, failures = integrity_report(history)
    assert failures == []
    assert coverage["seasons"] == "2015-2024"
    assert coverage["races"] == 360 and set(coverage["races_per_season"].values()) == {36}
    assert coverage["loop_seasons"] == "2019-2024"
    assert coverage["rows"]["results"] == 13972


def test_finish_and_start_are_permutations(history):
    for rid, d in history.results.groupby("race_id"):
        n = len(d)
        assert sorted(d["finish"]) == list(range(1, n + 1)), rid
        assert sorted(d["start"]) == list(range(1, n + 1)), rid


def test_laps_led_sum_to_race_laps_except_known(history):
    led = history.results.groupby("race_id")["led"].sum()
    laps = history.index.set_index("race_id")["race_laps"].astype(int)
    off = sorted(led.index[led != laps.reindex(led.index)])
    assert off == ["2016-18", "2018-30", "2023-19", "2024-16"]
    assert int(laps["2018-30"] - led["2018-30"]) == 39


def test_loop_data_fastest_laps(history):
    loop, idx = history.loop, history.index.set_index("race_id")
    assert loop["race_id"].nunique() == 216  # every race 2019-2024
    per_race = loop.groupby("race_id")["fastest_laps"].sum()
    laps = idx.loc[per_race.index, "race_laps"].astype(int)
    assert (per_race <= laps).all()
    assert (per_race / laps).median() > 0.7  # green-flag laps only: most, never all, of the laps
    assert (loop["fastest_laps"] >= 0).all()
    # 2022-2024 are the official feed: one loop row per result row
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


def _split_data_dir(tmp_path, last_shipped: int):
    """A data dir whose shipped results stop at ``last_shipped``; the next season is an extra file."""
    d = tmp_path / "data"
    shutil.copytree(DATA_DIR, d)
    res = pd.read_parquet(d / "results.parquet")
    idx = pd.read_parquet(d / "race_index.parquet")
    res[res["Season"] <= last_shipped].to_parquet(d / "results.parquet", index=False)
    idx[idx["Season"] <= last_shipped].to_parquet(d / "race_index.parquet", index=False)
    loop = pd.read_parquet(d / "loop.parquet")
    loop[loop["season"] <= last_shipped].to_parquet(d / "loop.parquet", index=False)
    newer = tmp_path / f"cup_{last_shipped + 1}.csv"
    res[res["Season"] == last_shipped + 1].to_csv(newer, index=False)
    newer_idx = tmp_path / f"index_{last_shipped + 1}.csv"
    idx[idx["Season"] == last_shipped + 1].to_csv(newer_idx, index=False)
    return d, newer, newer_idx


def test_a_newer_season_file_needs_no_code_change(tmp_path, history):
    """The real 2024 season, handed over as an extra results file in the shipped schema, gives
    the same history as shipping it (index rows from an extra index file)."""
    d, newer, newer_idx = _split_data_dir(tmp_path, 2023)
    h = History.load(ExtraFiles(results=(str(newer),), index=(str(newer_idx),)), data_dir=d)
    cols = ["race_id", "driver_id", "start", "finish", "led", "status"]
    pd.testing.assert_frame_equal(h.results[cols], history.results[cols])
    assert h.seasons[-1] == 2024 and len(h.index) == 360


def test_newer_season_without_index_rows(tmp_path):
    d, newer, _ = _split_data_dir(tmp_path, 2023)
    h = History.load(ExtraFiles(results=(str(newer),)), data_dir=d)
    new = h.index[h.index["season"] == 2024]
    assert len(new) == 36 and new["date"].isna().all()
    assert new.loc[new["race"] == 1, "track_type"].item() == "superspeedway"
    assert any("without an index row" in n for n in h.notes)


def test_newer_loop_file_in_nascar_schema(tmp_path, history):
    """Loop data keyed by NASCAR race and driver ids (the official feed's schema) joins by id."""
    d, newer, newer_idx = _split_data_dir(tmp_path, 2023)
    loop24 = history.loop[history.loop["season"] == 2024]
    ids = pd.read_parquet(DATA_DIR / "nascar_driver_ids.parquet")
    back = {v: k for k, v in zip(ids["nascar_driver_id"], ids["driver"])}
    idx24 = history.index[history.index["season"] == 2024].set_index("race")
    raw = pd.DataFrame(
        {
            "race_id": idx24.loc[loop24["race"], "nascar_race_id"].astype(int).to_numpy(),
            "driver_id": [back[n] for n in loop24["driver"]],
            "fast_laps": loop24["fastest_laps"].to_numpy(),
            "lead_laps": loop24["laps_led"].to_numpy(),
            "laps": loop24["laps"].to_numpy(),
        }
    )
    f = tmp_path / "misc_2024.csv"
    raw.to_csv(f, index=False)
    h = History.load(ExtraFiles(results=(str(newer),), index=(str(newer_idx),), loop=(str(f),)), data_dir=d)
    got = h.loop[h.loop["season"] == 2024].sort_values(["race_id", "driver_id"])
    want = loop24.sort_values(["race_id", "driver_id"])
    assert got["fastest_laps"].tolist() == want["fastest_laps"].tolist()
    _, failures = integrity_report(h)
    assert failures == []


def test_extra_file_errors_name_the_problem(tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"Season": [2025], "Race": [1]}).to_csv(bad, index=False)
    with pytest.raises(DataError, match=r"bad.csv: missing column\(s\) Track, Name"):
        History.load(ExtraFiles(results=(str(bad),)))
    dup = tmp_path / "dup.csv"
    pd.read_parquet(DATA_DIR / "results.parquet").query("Season == 2024 and Race == 3").to_csv(dup, index=False)
    with pytest.raises(DataError, match="duplicate rows"):
        History.load(ExtraFiles(results=(str(dup),)))
    with pytest.raises(DataError, match="file not found"):
        History.load(ExtraFiles(results=(str(tmp_path / "nope.csv"),)))


def test_integrity_failure_is_reported(tmp_path):
    d, newer, newer_idx = _split_data_dir(tmp_path, 2023)
    res = pd.read_csv(newer)
    res.loc[res.index[0], "Finish"] = res.loc[res.index[1], "Finish"]  # two drivers share a position
    res.to_csv(newer, index=False)
    with pytest.raises(DataError, match="nothing was loaded: race 2024-1: Finish is not a permutation"):
        History.load(ExtraFiles(results=(str(newer),), index=(str(newer_idx),)), data_dir=d)


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
    from engine.data import race_field_size

    idx = history.index
    rule = {r.race_id: race_field_size(r.season, r.track_id, r.race, r.race_name)[0] for r in idx.itertuples()}
    over = [(rid, int(n)) for rid, n in zip(idx["race_id"], idx["field_size"]) if n > rule[rid]]
    assert over == []
    assert idx.loc[idx["season"] == 2015, "field_size"].max() == 43 and idx.loc[idx["season"] > 2015, "field_size"].max() == 40
    assert race_field_size(2026, "daytona", None, "DAYTONA 500")[0] == 41 and race_field_size(2026, "daytona", 17, "Coke Zero Sugar 400")[0] == 40
