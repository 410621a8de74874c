"""nascaR.data's results table (Season, Race, Track, Name, ..., Driver, ..., Status, Team): no
dates and no ids; dates (and a track the file names differently) come from the shipped
schedule when it has the season."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.data.history import (
    INDEX_COLUMNS,
    RESULT_COLUMNS,
    History,
    normalize_results,
    race_id,
)
from engine.data.importers.common import (
    DriverMatcher,
    Imported,
    Problems,
    canonical_frame,
    check_laps_led,
    check_races,
    learned_driver_ids,
    new_track,
    new_track_spellings,
    resolve_track,
    status_report,
    tracks_table,
)
from engine.data.importers.feed import finish_loop


def import_nascar_data(raw: pd.DataFrame, where: str, history: History, track_types: dict[str, str],
                        track_aliases: dict[str, str]) -> Imported:
    problems = Problems()
    report: list[str] = []
    raw = raw.reset_index(drop=True)
    match = DriverMatcher(history)
    canon = pd.Series([match(n) for n in raw["Driver"].astype(str)], index=raw.index)
    res = normalize_results(raw.assign(Driver=canon), where)
    res["line"] = np.arange(len(res)) + 2
    res["driver_fullname"] = raw["Driver"].astype(str).str.strip()
    for col, src in (("laps", "Laps"), ("led", "Led")):
        problems.rows(where, src, res[col] < 0, "below 0 (a count of laps)", raw[src])
    problems.raise_if_any()
    seasons = sorted(set(res["season"]))
    if len(seasons) > 1:
        problems.add(where, f"column 'Season' holds seasons {seasons}: add one season per call")
        problems.raise_if_any()
    season = seasons[0]
    check_races(res.rename(columns={"finish": "finishing_position", "start": "starting_position"}), where, problems)
    new_tracks: dict[str, dict] = {}
    races = res.groupby("race").agg(track=("track", "first"), race_name=("race_name", "first"), length=("track_length", "first"),
                                    surface=("surface", "first"), line=("line", "first"))
    sched = history.schedule
    sched = sched[sched["season"] == season].set_index("race") if sched is not None else pd.DataFrame()
    matched: dict[str, str] = {}
    tids = []
    for number, t, ln, li in zip(races.index, races["track"], races["length"], races["line"]):
        scheduled = ((str(sched.loc[number, "track_id"]), f"the {season} schedule's track for race {number}, on "
                      f"{sched.loc[number, 'date'].date()}") if number in sched.index else None)
        tids.append(resolve_track(history, t, scheduled, track_aliases, report, matched) or new_track(
            history, t, None, ln, track_types, f"{where} line {li}", problems, report, new_tracks, scheduled[0] if scheduled else None))
    races["track_id"] = tids
    problems.raise_if_any()
    tracks = tracks_table(history, new_tracks)
    types = tracks.set_index("track_id")["track_type"]
    known_surface = tracks.set_index("track_id")["surface"]
    dates = []
    for r in races.itertuples():
        if r.Index in sched.index:
            if sched.loc[r.Index, "track_id"] != r.track_id:
                problems.add(where, f"race {race_id(season, r.Index)} is at {r.track_id} in the file but at "
                                    f"{sched.loc[r.Index, 'track_id']} in the {season} schedule: check the race number, or give "
                                    f"--track-alias \"{r.track}={sched.loc[r.Index, 'track_id']}\" if the file names that track "
                                    "differently")
            dates.append(sched.loc[r.Index, "date"])
        else:
            dates.append(pd.NaT)
    problems.raise_if_any()
    if any(pd.isna(d) for d in dates):
        report.append(f"no schedule for {len([d for d in dates if pd.isna(d)])} race(s) of {season}: their dates are unknown "
                      "(nascaR.data files have none)")
    index = pd.DataFrame({
        "season": season, "race": races.index.astype("int64"), "race_id": [race_id(season, r) for r in races.index],
        "track": races["track"].to_numpy(), "track_id": races["track_id"].to_numpy(), "race_name": races["race_name"].to_numpy(),
        "date": pd.to_datetime(pd.Series(dates)).to_numpy(), "track_type": [types[t] for t in races["track_id"]],
        "track_length": races["length"].astype(float).to_numpy(),
        "surface": [known_surface.get(t, s) if str(s) in ("nan", "None", "") else s for t, s in zip(races["track_id"], races["surface"])],
        "field_size": res.groupby("race").size().reindex(races.index).astype("Int64").to_numpy(),
        "race_laps": res.groupby("race")["laps"].max().reindex(races.index).astype("Int64").to_numpy(),
        "sch_laps": pd.array([None] * len(races), dtype="Int64"), "nascar_race_id": pd.array([None] * len(races), dtype="Int64"),
    })
    res["qual_speed"] = np.nan
    blank = res["surface"].isin(["nan", "None", ""])
    res.loc[blank, "surface"] = res.loc[blank, "race"].map(races["track_id"]).map(known_surface).astype(str)
    results = canonical_frame(res, RESULT_COLUMNS)
    report += status_report(results)
    check_laps_led(results, index, where, problems, report)
    problems.raise_if_any()
    from engine.data.history import empty_practice

    return Imported(results=results, index=canonical_frame(index, INDEX_COLUMNS), loop=finish_loop(pd.DataFrame(), season),
                    practice=empty_practice(), tracks=pd.DataFrame(list(new_tracks.values())) if new_tracks else tracks.iloc[0:0],
                    aliases=new_track_spellings(history, races), driver_ids=learned_driver_ids(match), report=match.report + report,
                    layout="nascaR.data")
