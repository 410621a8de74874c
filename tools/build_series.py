"""Rebuild data/series/{nxs,truck}/ (the O'Reilly Auto Parts Series and the Truck Series) from the
public sources in ../shared/data/series and ../shared/data/loopdata_zaxlab (see data/SOURCES.md).

Run by a maintainer after tools/build_data.py (it reads the Cup's canonical names and the shared
tables that script writes): ``python tools/build_series.py [SHARED_DATA_DIR]``.

* results 2015-2025: nascaR.data (kyleGrealis), normalized like the Cup's; rows without a finish
  (non-starters) dropped, race names whose UTF-8 was read as cp1252 ("Oâ€™Reilly") repaired;
* race index: the derived race index (dates, track types, NASCAR race ids 2023 on), scheduled
  laps from the feed's loop data; Rockingham (no type in the source) typed as a one-mile flat
  track; the four Truck races at CTMP 2015-2018 have no date in any source: they get the day
  halfway between the series' races before and after (stated in data/SOURCES.md);
* loop data: zax-lab's race logs 2019-2022 (matched to races by date and grid), NASCAR's loop
  feed (joeah99) 2023-2025; practice and qualifying speeds: the feed 2023-2025;
* NASCAR driver ids: the feed's and zax-lab's, added to the shared table (a driver has one id
  in every series);
* schedule: every race 2015-2025 and the published 2026 schedule;
* the two real DraftKings slates of Bristol 2026 (Truck 04-10, NXS 04-11), written as
  DKSalaries.csv files with made-up player ids (the source has none).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import build_data as B  # noqa: E402

from engine.core.names import NameIndex  # noqa: E402
from engine.data import history as D  # noqa: E402

OUT = ROOT / "data"
FEED = {"nxs": "xfinity", "truck": "trucks"}
ZAX = {"nxs": "O'Reilly", "truck": "Trucks"}
NAMES = {"nxs": "O'Reilly Auto Parts Series", "truck": "Truck Series"}
# tracks the sources give no type for (stated in data/SOURCES.md)
UNTYPED = {"Rockingham Speedway": "one_mile_flat_or_concrete"}
# tracks on a 2026 schedule never raced by any series in the data: type and surface known, length and laps not
NEW_TRACKS = {"st_petersburg": ("road", "road")}
MADE_UP_ID_BASE = {"nxs": 91_000_000, "truck": 92_000_000}


def fix_text(text: object) -> object:
    """UTF-8 that was decoded as cp1252 ("Oâ€™Reilly" -> "O’Reilly"); other text unchanged."""
    if not isinstance(text, str) or not any(m in text for m in ("â€", "Ã")):
        return text
    try:
        return text.encode("cp1252").decode("utf-8")
    except UnicodeError:
        return text


def main(shared: Path) -> None:
    src = shared / "series"
    cup_names = sorted(set(pd.read_parquet(OUT / "results.parquet")["driver"]))
    raws = {s: results_raw(src, s) for s in FEED}
    # one naming for all three series: a Cup driver running an NXS race is the same driver
    aliases = D.load_name_aliases(OUT)
    every = sorted((set(cup_names) | {n for r in raws.values() for n in r["Driver"]}) - set(aliases))
    names = NameIndex(every, aliases)
    ids = pd.read_parquet(OUT / "nascar_driver_ids.parquet")
    for s in FEED:
        ids = build(shared, src, s, raws[s], names, ids)
    ids.sort_values("nascar_driver_id").reset_index(drop=True).to_parquet(OUT / "nascar_driver_ids.parquet", index=False)
    salaries(src, names)
    print("data/series rebuilt")


def results_raw(src: Path, series: str) -> pd.DataFrame:
    k = src / "nascar_data_kylegrealis"
    raw = pd.concat([pd.read_csv(k / f"{series}_series_2015_2024.csv"), pd.read_csv(k / f"{series}_series_2025.csv")],
                    ignore_index=True)
    dropped = raw["Finish"].isna()
    if dropped.any():
        print(f"{series}: dropped {int(dropped.sum())} row(s) without a finish (non-starters): "
              f"{raw.loc[dropped, ['Season', 'Race', 'Driver']].to_dict('records')}")
    raw = raw[~dropped].copy()
    blank = raw["Led"].isna()
    if blank.any():  # a blank is a driver who led no lap: the present values add up to the race's laps in every such race
        per = raw.groupby(["Season", "Race"]).agg(led=("Led", "sum"), laps=("Laps", "max"))
        races = raw.loc[blank, ["Season", "Race"]].drop_duplicates()
        ok = [int(per.loc[(s, r), "led"]) == int(per.loc[(s, r), "laps"]) for s, r in races.itertuples(index=False)]
        print(f"{series}: laps led blank on {int(blank.sum())} rows of {len(races)} races (2016), read as 0: the laps led "
              f"present add up to the race's laps in {sum(ok)} of them")
        raw["Led"] = raw["Led"].fillna(0)
    for col in ("Name", "Track", "Team", "Driver"):
        raw[col] = raw[col].map(fix_text)
    return raw


def repair_grids(results: pd.DataFrame, series: str) -> pd.DataFrame:
    """A race whose grid misses one slot of 1..N and has one start above N: that start is the
    missing slot (2015 Truck race 11 at Eldora lists Cole Custer 38th of 32 with slot 24 empty)."""
    out = results.copy()
    for rid, g in out.groupby("race_id"):
        n = len(g)
        free = sorted(set(range(1, n + 1)) - set(g["start"]))
        over = g.index[g["start"] > n]
        if len(free) == 1 and len(over) == 1:
            row = over[0]
            print(f"{series} {rid}: {out.loc[row, 'driver']} listed as starting {out.loc[row, 'start']} of {n}; slot {free[0]} "
                  f"is empty: set to {free[0]}")
            out.loc[row, "start"] = free[0]
    return out


def feed(src: Path, series: str, kind: str) -> pd.DataFrame:
    f = src / "nascar_api_joeah99"
    return pd.concat([pd.read_csv(f / f"{FEED[series]}-{kind}.csv"), pd.read_csv(f / "season_2025" / f"{FEED[series]}-{kind}.csv")],
                     ignore_index=True)


def race_index(src: Path, series: str, misc: pd.DataFrame, lookup: dict) -> pd.DataFrame:
    d = src / "derived"
    idx = pd.concat([pd.read_csv(d / f"{series}_race_index_2015_2024.csv"), pd.read_csv(d / f"{series}_race_index_2025.csv")],
                    ignore_index=True)
    for track, kind in UNTYPED.items():
        idx.loc[idx["Track"].eq(track) & idx["track_type_coarse"].isna(), "track_type_coarse"] = kind
    idx["Name"] = idx["Name"].map(fix_text)
    dates = pd.to_datetime(idx["race_date"])
    blank = dates.isna()
    if blank.any():  # no source dates these races: halfway between the series' races before and after
        filled = dates.copy()
        for i in np.flatnonzero(blank.to_numpy()):
            before, after = dates.iloc[:i].dropna().iloc[-1], dates.iloc[i + 1:].dropna().iloc[0]
            filled.iloc[i] = before + (after - before) / 2
        idx["race_date"] = filled.dt.strftime("%Y-%m-%d")
        print(f"{series}: no date in the sources for {idx.loc[blank, ['Season', 'Race', 'Track']].to_dict('records')}: "
              f"set halfway between the races before and after ({idx.loc[blank, 'race_date'].tolist()})")
    sch = misc.groupby("race_id")["sch_laps"].first()
    idx["sch_laps"] = idx["nascar_race_id"].map(sch).astype("Int64")
    return D.normalize_index(idx, f"{series} race index", lookup)[D.INDEX_COLUMNS]


def driver_ids(src: Path, shared: Path, series: str, res_feed: pd.DataFrame, names: NameIndex, ids: pd.DataFrame) -> pd.DataFrame:
    """The shared NASCAR-id table with this series' ids added (feed 2023-2025, zax-lab 2019-2025)."""
    z = pd.concat([pd.read_csv(shared / "loopdata_zaxlab/race_logs_2019_2024.csv"),
                   pd.read_csv(shared / "loopdata_zaxlab/race_logs_2025.csv")], ignore_index=True)
    z = z[z["series"] == ZAX[series]]
    seen = pd.concat([res_feed[["driver_id", "driver_fullname"]].rename(columns={"driver_fullname": "feed_name"}),
                      z[["driver_id", "driver_name"]].rename(columns={"driver_name": "feed_name"})], ignore_index=True)
    seen = seen.dropna(subset=["driver_id", "feed_name"])
    seen = seen[seen["driver_id"] >= 0].drop_duplicates("driver_id")
    seen["nascar_driver_id"] = seen["driver_id"].astype(int)
    known = dict(zip(ids["nascar_driver_id"].astype(int), ids["driver"]))
    clash = [(i, n, known[i]) for i, n in zip(seen["nascar_driver_id"], seen["feed_name"])
             if i in known and (names.canonical(n) or n) != known[i]]
    if clash:
        print(f"{series}: {len(clash)} NASCAR id(s) whose {series} name differs from the name already known (the known name kept): "
              f"{clash[:5]}")
    new = seen[~seen["nascar_driver_id"].isin(known)].copy()
    new["driver"] = [names.canonical(n) or n for n in new["feed_name"]]
    new["learned_from"] = f"{NAMES[series]} feeds (NASCAR 2023-2025, zax-lab 2019-2025)"
    print(f"{series}: {len(new)} NASCAR driver id(s) added to the shared table")
    return pd.concat([ids, new[["nascar_driver_id", "driver", "feed_name", "learned_from"]]], ignore_index=True)


def build(shared: Path, src: Path, series: str, raw: pd.DataFrame, names: NameIndex, ids: pd.DataFrame) -> pd.DataFrame:
    out = OUT / "series" / series
    out.mkdir(parents=True, exist_ok=True)
    lookup = D.track_lookup(D.load_track_ids(OUT))
    results = repair_grids(D.normalize_results(raw, f"{series} results", names), series)
    misc = feed(src, series, "misc")
    res_feed = feed(src, series, "results")
    index = race_index(src, series, misc, lookup)
    ids = driver_ids(src, shared, series, res_feed, names, ids)
    id_map = dict(zip(ids["nascar_driver_id"].astype(int), ids["driver"]))

    # loop data: NASCAR's loop feed 2023-2025, zax-lab 2019-2022
    misc = misc[misc["race_id"].isin(index["nascar_race_id"].dropna().astype(int))]
    official = D.finalize_loop(D.loop_from_nascar(misc, f"{FEED[series]}-misc.csv", index, id_map))
    zax = D.finalize_loop(B.zax_loop(shared, index, results, names, series=ZAX[series],
                                     files=("race_logs_2019_2024.csv", "race_logs_2025.csv")))
    compare = official.merge(zax, on=["season", "race", "driver"], suffixes=("", "_zax"))
    agree = (compare["fastest_laps"] == compare["fastest_laps_zax"]).mean()
    print(f"{series} loop 2023-2025: zax-lab fastest laps equal the NASCAR feed on {agree:.1%} of {len(compare)} rows")
    missing = sorted(set(index.loc[index["season"].between(2019, 2022), "race_id"]) - set(zax["race_id"]))
    print(f"{series} loop 2019-2022: {zax.loc[zax['season'] <= 2022, 'race_id'].nunique()} races from zax-lab; "
          f"none for {missing}")
    loop = D.finalize_loop(pd.concat([zax[zax["season"] <= 2022], official], ignore_index=True))

    results = B.qualifying_speeds(results, res_feed, index, id_map)
    practice = B.feed_practice(feed(src, series, "practice"), index, id_map, results)
    index = B.complete_index(index, results)
    results[D.RESULT_COLUMNS].sort_values(["season", "race", "finish"]).to_parquet(out / "results.parquet", index=False)
    index[D.INDEX_COLUMNS].sort_values(["season", "race"]).to_parquet(out / "race_index.parquet", index=False)
    loop.sort_values(["season", "race", "driver"]).to_parquet(out / "loop.parquet", index=False)
    practice[D.PRACTICE_COLUMNS].sort_values(["season", "race", "driver"]).to_parquet(out / "practice.parquet", index=False)
    sched = schedule(src, series, index, lookup)
    series_tracks(shared, index, sched).to_parquet(out / "tracks.parquet", index=False)
    print(f"{series}: seasons {index['season'].min()}-{index['season'].max()}: {len(index)} races, {len(results)} results, "
          f"{len(loop)} loop rows ({loop['race_id'].nunique()} races), {len(practice)} practice rows")
    return ids


def schedule(src: Path, series: str, index: pd.DataFrame, lookup: dict) -> pd.DataFrame:
    """data/series/<s>/schedule.csv: every race 2015-2025 (the race index) and the published 2026 schedule."""
    past = index[["season", "race", "date", "track", "track_id", "race_name"]].copy()
    y26 = pd.read_csv(src / "derived" / f"{series}_schedule_2026.csv")
    y26 = pd.DataFrame({"season": y26["Season"], "race": y26["Race"], "date": pd.to_datetime(y26["race_date"]),
                        "track": y26["Track"], "race_name": y26["Name"].map(fix_text)})
    y26["track_id"] = [lookup.get(str(t).lower()) for t in y26["track"]]
    missing = sorted(set(y26.loc[y26["track_id"].isna(), "track"]))
    if missing:
        raise SystemExit(f"{series} schedule tracks without an id (add them to data/track_ids.csv): {missing}")
    out = pd.concat([past, y26], ignore_index=True).sort_values(["season", "race"])
    out["date"] = pd.to_datetime(out["date"]).dt.strftime("%Y-%m-%d")
    out[["season", "race", "date", "track", "track_id", "race_name"]].to_csv(OUT / "series" / series / "schedule.csv", index=False)
    print(f"{series} schedule: {len(out)} races, seasons {out['season'].min()}-{out['season'].max()}")
    return out


def series_tracks(shared: Path, index: pd.DataFrame, sched: pd.DataFrame) -> pd.DataFrame:
    """The series' tracks: those it raced (latest type, laps, priors of the configuration as for the
    Cup), then tracks on its schedule it has not raced yet, with the Cup's row for that track (length,
    type, priors; no race length) or, for a track no series raced, its type only."""
    raced = B.tracks(shared, index)
    raced = raced[raced["track_id"].isin(index["track_id"])]
    cup = pd.read_parquet(OUT / "tracks.parquet").set_index("track_id")
    rows = [raced]
    for tid in sorted(set(sched["track_id"]) - set(raced["track_id"])):
        if tid in cup.index:
            row = cup.loc[[tid]].reset_index().assign(races=0, latest_race=None, latest_race_laps=pd.NA)
        elif tid in NEW_TRACKS:
            kind, surface = NEW_TRACKS[tid]
            name = sched.loc[sched["track_id"] == tid, "track"].iloc[0]
            row = pd.DataFrame([{"track_id": tid, "track": name, "length_mi": np.nan, "surface": surface, "track_type": kind,
                                 "races": 0, "latest_race": None, "latest_race_laps": pd.NA}])
        else:
            raise SystemExit(f"track {tid} is on the schedule, never raced and has no type: add it to NEW_TRACKS")
        rows.append(row)
    out = pd.concat(rows, ignore_index=True)
    out["latest_race_laps"] = out["latest_race_laps"].astype("Int64")
    return out


def salaries(src: Path, names: NameIndex) -> None:
    """The two real DraftKings Bristol 2026 slates as DKSalaries.csv files, and their manifest rows.

    The source is a database table (CrummyPicks), not the DraftKings export: it has no DK player
    ids and no Game Info. The files get made-up ids (91,000,000 + n for NXS, 92,000,000 + n for
    Trucks; stated in the manifest and data/SOURCES.md), so an upload file made from them is not
    accepted by DraftKings; Game Info is written as DraftKings writes it (race, date, time ET)."""
    dk = pd.read_csv(src / "crummypicks_dfs_hub/dk_salaries_nxs_truck_2026_bristol.csv")
    dk["series"] = dk["series_code"].map({"xfinity": "nxs", "trucks": "truck"})
    manifest = pd.read_csv(OUT / "salaries" / "manifest.csv", dtype={"race_length": "Int64"})
    if "series" not in manifest:
        manifest.insert(1, "series", "cup")
    laps = pd.read_csv(src.parent / "crummypicks_dfs_hub/races.csv").set_index("id")["laps"]
    rows = []
    for series, g in dk.groupby("series"):
        g = g.sort_values(["salary", "driver_name"], ascending=[False, True]).reset_index(drop=True)
        when = pd.Timestamp(g["race_date"].iloc[0])
        date = when.strftime("%Y-%m-%d")
        ids = MADE_UP_ID_BASE[series] + np.arange(1, len(g) + 1)
        game = f"{g['race_name'].iloc[0]} {when.strftime('%m/%d/%Y %I:%M%p')} ET"
        file = f"dk_{date}_{series}_bristol.csv"
        pd.DataFrame({
            "Position": "D", "Name + ID": [f"{n} ({i})" for n, i in zip(g["driver_name"], ids)], "Name": g["driver_name"],
            "ID": ids, "Roster Position": "D", "Salary": g["salary"], "Game Info": game, "TeamAbbrev": "", "AvgPointsPerGame": "",
        }).to_csv(OUT / "salaries" / file, index=False)
        sched = pd.read_csv(OUT / "series" / series / "schedule.csv")
        race = sched[sched["date"] == date].iloc[0]
        unmatched = [n for n in g["driver_name"] if names.canonical(n) is None]
        print(f"{file}: {len(g)} drivers, race {race['race']} of 2026 ({race['race_name']}); not in any history: {unmatched}")
        rows.append({"file": file, "series": series, "site": "dk", "season": 2026, "race_name": race["race_name"], "date": date,
                     "track_id": race["track_id"], "race_length": int(laps.loc[int(g["race_id"].iloc[0])]),
                     "source": f"CrummyPicks/nascar-dfs-hub salaries and races (race_id {int(g['race_id'].iloc[0])}); DK player ids made up "
                               f"({ids[0]}-{ids[-1]}), not DraftKings'"})
    manifest = manifest[~manifest["file"].isin([r["file"] for r in rows])]
    out = pd.concat([manifest, pd.DataFrame(rows)], ignore_index=True)
    out["race_length"] = out["race_length"].astype("Int64")
    out.to_csv(OUT / "salaries" / "manifest.csv", index=False)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data")
