"""Rebuild data/ from the raw public sources in ../shared/data (see data/SOURCES.md).

Run once by a maintainer when a source changes: ``python tools/build_data.py [SHARED_DATA_DIR]``.
The product and its tests read only data/; this script is how those files were made.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.core.names import NameIndex
from engine.data import history as D

OUT = ROOT / "data"
LOOP_ZAX = {
    "start": "loop_start",
    "mid": "mid",
    "finish": "loop_finish",
    "best": "best",
    "worst": "worst",
    "avg": "avg_pos",
    "green_flag_passes": "passes_gf",
    "green_flag_passing_diff": "passing_diff",
    "quality_passes": "quality_passes",
    "fastest_lap": "fastest_laps",
    "top_15_laps": "top15_laps",
    "laps_led": "laps_led",
    "laps": "laps",
    "rating": "rating",
}


def main(src: Path) -> None:
    OUT.mkdir(exist_ok=True)
    (OUT / "reference").mkdir(exist_ok=True)
    (OUT / "salaries").mkdir(exist_ok=True)

    # 2015-2024 results from kyleGrealis/nascaR.data, normalized to the canonical schema
    raw = pd.read_csv(src / "nascar_data_kylegrealis/cup_series_2015_2024.csv")
    aliases = D.load_name_aliases(OUT)
    names = NameIndex(sorted(set(raw["Driver"])), aliases)
    results = D.normalize_results(raw, "results", names)

    # race index + scheduled laps (official loop feed, 2022-2024)
    idx = pd.read_csv(src / "derived/cup_race_index_2015_2024.csv")
    misc = pd.read_csv(src / "nascar_api_joeah99/cup-misc.csv")
    sch = misc.groupby("race_id")["sch_laps"].first()
    idx["sch_laps"] = idx["nascar_race_id"].map(sch).astype("Int64")
    lookup = D.track_lookup(D.load_track_ids(OUT))
    index = D.normalize_index(idx, "race_index", lookup)[D.INDEX_COLUMNS]

    # NASCAR driver ids -> canonical names (two NASCAR results feeds)
    js = pd.read_csv(src / "nascar_api_johnschwenck/cup_race_results_2014_2024.csv", encoding="utf-8-sig")
    jr = pd.read_csv(src / "nascar_api_joeah99/cup-results.csv")
    ids = pd.concat(
        [js[["driver_id", "driver_fullname"]], jr[["driver_id", "driver_fullname"]]], ignore_index=True
    ).drop_duplicates("driver_id")
    ids["driver"] = [names.canonical(n) or n for n in ids["driver_fullname"]]
    ids = ids.rename(columns={"driver_id": "nascar_driver_id", "driver_fullname": "feed_name"})
    ids = ids[["nascar_driver_id", "driver", "feed_name"]].sort_values("nascar_driver_id").reset_index(drop=True)
    id_map = dict(zip(ids["nascar_driver_id"].astype(int), ids["driver"]))

    # loop data: official NASCAR loop feed 2022-2024; zax-lab race logs 2019-2021
    official = D.finalize_loop(D.loop_from_nascar(misc, "cup-misc.csv", index, id_map))
    zax = zax_loop(src, index, results, names)
    compare = official.merge(zax, on=["season", "race", "driver"], suffixes=("", "_zax"))
    agree = (compare["fastest_laps"] == compare["fastest_laps_zax"]).mean()
    print(f"loop 2022-2024: zax-lab fastest laps equal the official feed on {agree:.1%} of {len(compare)} rows")
    loop = D.finalize_loop(pd.concat([zax[zax["season"] <= 2021], official], ignore_index=True))

    # qualifying speeds and practice 2022-2024 from the official feed, joined by NASCAR ids
    results = qualifying_speeds(results, jr, index, id_map)
    practice = feed_practice(src / "nascar_api_joeah99/cup-practice.csv", index, id_map, results)

    index = complete_index(index, results)
    write_tables(results, index, loop, practice, ids)
    tracks(src, index).to_parquet(OUT / "tracks.parquet", index=False)
    schedule(src, index, pd.read_csv(src / "derived/cup_race_index_2025.csv"))

    # 2025: the season's NASCAR feed files, read by the same code as `pitwall data add`
    from engine.data.importers.add import import_files

    history = D.History.load(OUT, state_dir=False)
    season = src / "nascar_api_joeah99/season_2025"
    imp = import_files([season / "cup-results.csv", season / "cup-misc.csv", season / "cup-practice.csv"], history)
    for line in imp.report:
        print(f"2025: {line}")
    check_2025(imp, pd.read_csv(src / "derived/cup_race_index_2025.csv"), lookup)
    ids["learned_from"] = "results feeds 2014-2024"
    ids = pd.concat([ids, imp.driver_ids.assign(learned_from="2025 results (data add)")], ignore_index=True)
    ids = ids.sort_values("nascar_driver_id").reset_index(drop=True)
    write_tables(pd.concat([results, imp.results], ignore_index=True), pd.concat([index, imp.index], ignore_index=True),
                 pd.concat([loop, imp.loop], ignore_index=True), pd.concat([practice, imp.practice], ignore_index=True), ids)
    full = pd.read_parquet(OUT / "race_index.parquet")
    tracks(src, full).to_parquet(OUT / "tracks.parquet", index=False)
    print(f"seasons {full['season'].min()}-{full['season'].max()}: {len(full)} races; "
          f"practice rows {len(pd.read_parquet(OUT / 'practice.parquet'))}")

    salaries(src)
    dk_reference(src, names)
    print("data/ rebuilt")


def write_tables(results, index, loop, practice, ids) -> None:
    results[D.RESULT_COLUMNS].sort_values(["season", "race", "finish"]).to_parquet(OUT / "results.parquet", index=False)
    index[D.INDEX_COLUMNS].sort_values(["season", "race"]).to_parquet(OUT / "race_index.parquet", index=False)
    loop.sort_values(["season", "race", "driver"]).to_parquet(OUT / "loop.parquet", index=False)
    practice[D.PRACTICE_COLUMNS].sort_values(["season", "race", "driver"]).to_parquet(OUT / "practice.parquet", index=False)
    ids.to_parquet(OUT / "nascar_driver_ids.parquet", index=False)


def complete_index(index: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    """Field size and race laps of every race from its results."""
    per = results.groupby("race_id").agg(n=("driver", "size"), laps=("laps", "max"))
    index = index.copy()
    index["field_size"] = index["field_size"].fillna(index["race_id"].map(per["n"])).astype("Int64")
    index["race_laps"] = index["race_laps"].fillna(index["race_id"].map(per["laps"])).astype("Int64")
    return index


def qualifying_speeds(results: pd.DataFrame, feed: pd.DataFrame, index: pd.DataFrame, id_map: dict) -> pd.DataFrame:
    """The official feed's qualifying speed (2022 on) on the results rows; NaN where there was none."""
    by_nascar = index.dropna(subset=["nascar_race_id"]).set_index(index["nascar_race_id"].dropna().astype(int))["race_id"]
    f = feed[feed["finishing_status"].notna()].copy()
    f["race_id"] = f["race_id"].map(by_nascar)
    f["driver"] = f["driver_id"].map(id_map)
    speed = f.dropna(subset=["race_id", "driver"]).set_index(["race_id", "driver"])["qualifying_speed"]
    speed = speed[~speed.index.duplicated()]
    out = results.copy()
    s = pd.Series([speed.get((r, d), np.nan) for r, d in zip(out["race_id"], out["driver"])], index=out.index, dtype=float)
    out["qual_speed"] = s.where(s > 0)
    print(f"qualifying speeds on {int(out['qual_speed'].notna().sum())} result rows")
    return out


def feed_practice(path: Path | pd.DataFrame, index: pd.DataFrame, id_map: dict, results: pd.DataFrame) -> pd.DataFrame:
    """Practice ranks from the feed (the weekend's last session per race), for drivers who started."""
    from engine.data.importers.common import BLANK_RANK
    from engine.data.importers.feed import practice_session_order

    p = path if isinstance(path, pd.DataFrame) else pd.read_csv(path)
    by_nascar = index.dropna(subset=["nascar_race_id"]).set_index(index["nascar_race_id"].dropna().astype(int))
    p = p[p["race_id"].isin(by_nascar.index)].copy()
    p["order"] = [practice_session_order(t) for t in p["Title"]]
    p = p[p["order"] == p.groupby("race_id")["order"].transform("max")]
    p["driver"] = p["driver_id"].map(id_map)
    p = p.dropna(subset=["driver"]).drop_duplicates(["race_id", "driver"], keep="last")
    out = pd.DataFrame({"season": by_nascar.loc[p["race_id"], "season"].to_numpy(), "race": by_nascar.loc[p["race_id"], "race"].to_numpy(),
                        "race_id": by_nascar.loc[p["race_id"], "race_id"].to_numpy(), "driver": p["driver"].to_numpy(),
                        "session": p["Title"].to_numpy()})
    out["driver_id"] = [D.driver_slug(n) for n in out["driver"]]
    for src_col, dst in (("BestLapRank", "best_lap_rank"), ("Con5LapRank", "avg5_rank"), ("Con10LapRank", "avg10_rank")):
        v = pd.to_numeric(p[src_col], errors="coerce").to_numpy()
        out[dst] = np.where((v > 0) & (v < BLANK_RANK), v, np.nan)
    started = set(zip(results["race_id"], results["driver"]))
    out = out[[(r, d) in started for r, d in zip(out["race_id"], out["driver"])]]
    print(f"practice {out['season'].min()}-{out['season'].max()}: {len(out)} rows in {out['race_id'].nunique()} races")
    return out[D.PRACTICE_COLUMNS]


def schedule(src: Path, index: pd.DataFrame, index_2025: pd.DataFrame) -> None:
    """data/schedule.csv: every points race 2015-2025 (from the race indexes) and the published 2026 schedule."""
    lookup = D.track_lookup(D.load_track_ids(OUT))
    past = index[["season", "race", "date", "track", "track_id", "race_name"]].copy()
    y25 = pd.DataFrame({"season": index_2025["Season"], "race": index_2025["Race"], "date": pd.to_datetime(index_2025["race_date"]),
                        "track": index_2025["Track"], "race_name": index_2025["Name"]})
    y26 = pd.read_csv(src / "derived/cup_schedule_2026.csv")
    y26 = pd.DataFrame({"season": y26["Season"], "race": y26["Race"], "date": pd.to_datetime(y26["race_date"]), "track": y26["Track"],
                        "race_name": y26["Name"]})
    new = pd.concat([y25, y26], ignore_index=True)
    new["track_id"] = [lookup.get(str(t).lower()) for t in new["track"]]
    out = pd.concat([past, new], ignore_index=True).sort_values(["season", "race"])
    out["date"] = pd.to_datetime(out["date"]).dt.strftime("%Y-%m-%d")
    missing = out[out["track_id"].isna()]
    if len(missing):
        raise SystemExit(f"schedule tracks without an id (add them to data/track_ids.csv): {sorted(set(missing['track']))}")
    out.to_csv(OUT / "schedule.csv", index=False)
    print(f"schedule: {len(out)} races, seasons {out['season'].min()}-{out['season'].max()}")


def check_2025(imp, derived: pd.DataFrame, lookup: dict) -> None:
    """The 2025 season read from the feed agrees with the derived race index on every race."""
    d = derived.rename(columns={"Season": "season", "Race": "race"})
    m = imp.index.merge(d, on=["season", "race"])
    assert len(m) == len(d) == 36, (len(m), len(d))
    assert (m["date"].dt.strftime("%Y-%m-%d") == m["race_date"]).all()
    assert (m["field_size_x"].astype(int) == m["field_size_y"]).all()
    assert (m["track_type"] == m["track_type_coarse"]).all(), m.loc[m["track_type"] != m["track_type_coarse"], ["race_id", "track_type", "track_type_coarse"]]
    print("2025: feed races agree with the derived race index on date, field size and track type")


def zax_loop(src: Path, index: pd.DataFrame, results: pd.DataFrame, names: NameIndex, series: str = "Cup",
             files: tuple[str, ...] = ("race_logs_2019_2024.csv",)) -> pd.DataFrame:
    """zax-lab race logs of a series ("Cup", "O'Reilly", "Trucks") matched to races by date (within a day) and grid.

    Dates can be a day off (night races, rain delays) and the feed also holds exhibitions; each
    (track, date) group goes to the candidate race whose starting grid agrees best with the
    official results, and groups agreeing on fewer than 80% of drivers are dropped.
    """
    lp = pd.concat([pd.read_csv(src / "loopdata_zaxlab" / f) for f in files], ignore_index=True)
    lp = lp[lp["series"] == series].copy()
    lp["date"] = pd.to_datetime(lp["race_date"])
    lp["driver"] = [names.canonical(n) or n for n in lp["driver_name"]]
    grid = {(s, r): dict(zip(d["driver"], d["start"])) for (s, r), d in results.groupby(["season", "race"])}
    by_date = index.dropna(subset=["date"]).groupby("date")
    best_group: dict[tuple[int, int], tuple[float, pd.DataFrame]] = {}
    for (track, date), g in lp.groupby(["track_name", "date"]):
        best, best_score = None, 0.0
        for day in (date, date - pd.Timedelta(days=1), date + pd.Timedelta(days=1)):
            if day not in by_date.groups:
                continue
            for row in by_date.get_group(day).itertuples():
                starts = grid.get((row.season, row.race), {})
                score = float(np.mean([starts.get(d) == s for d, s in zip(g["driver"], g["start"])]))
                if score > best_score:
                    best, best_score = (row.season, row.race), score
        if best is None or best_score < 0.8 or best_group.get(best, (0.0, None))[0] >= best_score:
            continue
        rows = g.rename(columns=LOOP_ZAX)[["driver", *LOOP_ZAX.values()]].copy()
        rows["season"], rows["race"] = best
        rows["source"] = "zaxlab"
        best_group[best] = (best_score, rows)
    df = pd.concat([rows for _, rows in best_group.values()], ignore_index=True)
    df = df.drop_duplicates(["season", "race", "driver"], keep="first")
    res_keys = results[["season", "race", "driver"]]
    return df.merge(res_keys, on=["season", "race", "driver"])


NSHARKEY_TYPES = {"SHORT": "short", "ROAD": "road", "SS": "superspeedway", "INT": "intermediate"}


def tracks(src: Path, index: pd.DataFrame) -> pd.DataFrame:
    """One row per track id: name, length, surface, latest track type, races in the data,
    typical laps, and the nsharkey configuration priors of the configuration in use last.
    Tracks on the schedule without a race yet (2026: North Wilkesboro, San Diego) take their
    length and type from nsharkey's audit; their race length is unknown until they race."""
    ids = D.load_track_ids(OUT)
    latest = index.sort_values(["season", "race"]).groupby("track_id").tail(1).set_index("track_id")
    counts = index.groupby("track_id").size()
    configs = pd.read_csv(src / "tracks_nsharkey/nascar_cup_track_configurations.csv")
    cross = pd.read_csv(src / "tracks_nsharkey/crosswalk_track_ids.csv")
    lookup = D.track_lookup(ids)
    cross["pitwall_track_id"] = [lookup.get(str(n).lower()) for n in cross["feed_track_name"]]
    cross = cross.dropna(subset=["pitwall_track_id"])
    cross = cross.sort_values(["season_start", "season_end"]).groupby("pitwall_track_id").tail(1)
    prior_cols = [c for c in configs.columns if c.endswith("_prior")]
    cfg = configs.drop_duplicates("track_id").set_index("track_id")
    rows = []
    for t in ids.itertuples():
        if t.track_id not in latest.index:
            match = cross[cross["pitwall_track_id"] == t.track_id]
            if not len(match) or match["my_type"].iloc[0] not in NSHARKEY_TYPES:
                continue
            c = cfg.loc[match["track_id"].iloc[0]]
            rows.append({"track_id": t.track_id, "track": t.track, "length_mi": float(c["length_mi"]),
                         "surface": "road" if NSHARKEY_TYPES[match["my_type"].iloc[0]] == "road" else "paved",
                         "track_type": NSHARKEY_TYPES[match["my_type"].iloc[0]], "races": 0, "latest_race": None,
                         "latest_race_laps": pd.NA, "config_id": match["track_id"].iloc[0],
                         **{p: float(c[p]) for p in prior_cols}})
            continue
        lt = latest.loc[t.track_id]
        row = {
            "track_id": t.track_id,
            "track": t.track,
            "length_mi": float(lt["track_length"]),
            "surface": lt["surface"],
            "track_type": lt["track_type"],
            "races": int(counts.get(t.track_id, 0)),
            "latest_race": lt["race_id"],
            "latest_race_laps": int(lt["race_laps"]),
        }
        match = cross[cross["pitwall_track_id"] == t.track_id]
        cfg_id = match["track_id"].iloc[0] if len(match) else None
        row["config_id"] = cfg_id
        for c in prior_cols:
            row[c] = float(cfg.loc[cfg_id, c]) if cfg_id in cfg.index else np.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    out["latest_race_laps"] = out["latest_race_laps"].astype("Int64")
    return out


def salaries(src: Path) -> None:
    """Real 2026 salary slates: FanDuel exports copied as exported; the DraftKings Bristol
    slate (a database table in its source) written in the DKSalaries.csv layout."""
    for f in sorted((src / "fanduel_salaries_darrenw53/raw").glob("*.csv")):
        shutil.copyfile(f, OUT / "salaries" / f.name)
    sal = pd.read_csv(src / "crummypicks_dfs_hub/salaries.csv")
    drv = pd.read_csv(src / "crummypicks_dfs_hub/drivers.csv")
    races = pd.read_csv(src / "crummypicks_dfs_hub/races.csv").set_index("id")
    bristol = sal[sal["race_id"] == 8].merge(drv, left_on="driver_id", right_on="id", suffixes=("", "_drv"))
    race = races.loc[8]
    game = f"{race['race_name']} {pd.Timestamp(race['race_date']).strftime('%m/%d/%Y')}"
    dk = pd.DataFrame(
        {
            "Position": "D",
            "Name + ID": [f"{n} ({i})" for n, i in zip(bristol["full_name"], bristol["id"])],
            "Name": bristol["full_name"],
            "ID": bristol["id"],
            "Roster Position": "D",
            "Salary": bristol["salary"],
            "Game Info": game,
            "TeamAbbrev": "",
            "AvgPointsPerGame": "",
        }
    )
    dk.to_csv(OUT / "salaries" / "dk_2026-04-12_race08_bristol.csv", index=False)
    manifest(src, races)


def manifest(src: Path, races: pd.DataFrame) -> None:
    """data/salaries/manifest.csv: race, date, track and scheduled laps of each salary file.

    FanDuel races as inferred by darrenw53 (race name with the track in brackets, date);
    scheduled laps from crummypicks' 2026 schedule where it has a race on that date at
    that track, else left blank (then taken from the track's history).
    """
    lookup = D.track_lookup(D.load_track_ids(OUT))
    ctracks = pd.read_csv(src / "crummypicks_dfs_hub/tracks.csv").set_index("id")
    sched = races[(races["series_id"] == 1) & (races["season"] == 2026)].copy()
    sched["track_id"] = [lookup.get(ctracks.loc[t, "name"].lower()) for t in sched["track_id"]]
    laps = {(r.race_date[:10], r.track_id): int(r.laps) for r in sched.itertuples() if r.laps > 0}
    short = {"DAYTONA 500": "daytona", "Atlanta": "atlanta", "COTA": "cota", "Phoenix": "phoenix",
             "Las Vegas": "las_vegas", "Martinsville": "martinsville", "Kansas": "kansas",
             "Talladega": "talladega", "Texas": "texas"}
    fd = pd.read_csv(src / "fanduel_salaries_darrenw53/fd_salaries_2026_cup.csv")
    rows = []
    for (num, name, date), _ in fd.groupby(["season_race_num_inferred", "race_name_inferred", "race_date_inferred"]):
        tid = next(v for k, v in short.items() if k in name)
        file = f"fd_{date}_race{int(num):02d}.csv"
        rows.append({"file": file, "site": "fd", "season": 2026, "race_name": name.split(" (")[0], "date": date,
                     "track_id": tid, "race_length": laps.get((date, tid)),
                     "source": "darrenw53/NASCAR_Sim week_players.csv (race inferred by the source)"})
    b = sched[sched["race_num"] == 8].iloc[0]
    rows.append({"file": "dk_2026-04-12_race08_bristol.csv", "site": "dk", "season": 2026, "race_name": b["race_name"],
                 "date": b["race_date"][:10], "track_id": b["track_id"], "race_length": int(b["laps"]),
                 "source": "CrummyPicks/nascar-dfs-hub salaries.csv race_id 8"})
    out = pd.DataFrame(rows)
    out["race_length"] = out["race_length"].astype("Int64")
    out.to_csv(OUT / "salaries" / "manifest.csv", index=False)


def dk_reference(src: Path, names: NameIndex) -> None:
    """crummypicks' own DraftKings points for Cup 2022-2024 with the inputs it used."""
    pts = pd.read_csv(src / "crummypicks_dfs_hub/dfs_points.csv")
    rr = pd.read_csv(src / "crummypicks_dfs_hub/race_results.csv")
    races = pd.read_csv(src / "crummypicks_dfs_hub/races.csv")
    drv = pd.read_csv(src / "crummypicks_dfs_hub/drivers.csv")
    m = pts[pts["platform"] == "draftkings"].merge(rr, on=["race_id", "driver_id"])
    m = m.merge(races, left_on="race_id", right_on="id").merge(drv, left_on="driver_id", right_on="id", suffixes=("", "_d"))
    m = m[(m["series_id"] == 1) & m["season"].between(2022, 2024)]
    out = pd.DataFrame(
        {
            "season": m["season"].astype(int),
            "race_num": m["race_num"].astype(int),
            "race_name": m["race_name"],
            "driver": [names.canonical(n) or n for n in m["full_name"]],
            "start": m["start_pos"].astype(int),
            "finish": m["finish_pos"].astype(int),
            "laps_led": m["laps_led"].astype(int),
            "fastest_laps": m["fastest_laps"].astype(int),
            "laps_completed": m["laps_completed"].astype(int),
            "dk_points": m["dfs_score"].astype(float),
        }
    ).sort_values(["season", "race_num", "finish"])
    out.to_parquet(OUT / "reference" / "dk_points_crummypicks_2022_2024.parquet", index=False)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data")
