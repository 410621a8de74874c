"""NASCAR's results feed, as exported per season (e.g. joeah99's ``season_2025/``):
``cup-results.csv`` (race id, date, track name and type, driver id and name, start, finish,
laps, status, laps led, qualifying), ``cup-misc.csv`` (loop data with fastest laps; optional)
and ``cup-practice.csv`` (practice lap times and ranks; optional). Race numbers come from the
shipped schedule (by date) or, for a season without one, from the order of the dates. Rows
with no finishing status and no lap are entries that did not start (non-qualifiers): they are
left out and reported."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from engine.core.names import driver_slug
from engine.data.history import (
    INDEX_COLUMNS,
    PRACTICE_COLUMNS,
    RESULT_COLUMNS,
    History,
    race_id,
)
from engine.data.importers.common import (
    BLANK_RANK,
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
    scheduled_on,
    status_report,
    tracks_table,
    whole_numbers,
)


def _race_numbers(history: History, season: int, races: pd.DataFrame, where: str, problems: Problems) -> dict:
    """NASCAR race id -> race number: the schedule's round on that date, else the order of dates."""
    sched = history.schedule
    sched = sched[sched["season"] == season] if sched is not None else None
    out = {}
    if sched is not None and len(sched):
        by_day = {d.date(): (int(r), t) for d, r, t in zip(sched["date"], sched["race"], sched["track_id"])}
        for r in races.itertuples():
            hit = by_day.get(r.date.date()) or by_day.get((r.date - pd.Timedelta(days=1)).date()) or \
                by_day.get((r.date + pd.Timedelta(days=1)).date())
            if hit is None:
                problems.add(where, f"race {r.race_name!r} on {r.date.date()} is not in the {season} schedule (data/schedule.csv)")
            elif r.track_id and hit[1] != r.track_id:
                problems.add(where, f"race {r.race_name!r} on {r.date.date()} is at {r.track_id} in the file but at {hit[1]} in the "
                                    f"{season} schedule: check the date, or give --track-alias \"{r.track}={hit[1]}\" if the file "
                                    "names that track differently")
            else:
                out[r.Index] = hit[0]
        return out
    known = history.index[history.index["season"] == season][["date", "race_id"]]
    dates = sorted({*(d for d in known["date"].dropna()), *races["date"]})
    number = {d: k + 1 for k, d in enumerate(dates)}
    return {r.Index: number[r.date] for r in races.itertuples()}


def import_feed(frames: dict[str, tuple[pd.DataFrame, str]], history: History, track_types: dict[str, str],
                 track_aliases: dict[str, str]) -> Imported:
    problems = Problems()
    report: list[str] = []
    raw, where = frames["feed results"]
    raw = raw.reset_index(drop=True)
    nums = {c: whole_numbers(raw, c, where, problems) for c in ("race_id", "race_season", "finishing_position", "starting_position",
                                                          "driver_id", "laps_completed", "laps_led")}
    dates = pd.to_datetime(raw["race_date"].astype(str).str[:10], errors="coerce", format="%Y-%m-%d")
    problems.rows(where, "race_date", dates.isna(), "not a date (YYYY-MM-DD...)", raw["race_date"])
    for c in ("laps_completed", "laps_led"):
        problems.rows(where, c, nums[c] < 0, "below 0 (a count of laps)", raw[c])
    problems.raise_if_any()
    seasons = sorted(set(nums["race_season"].astype(int)))
    if len(seasons) > 1:
        problems.add(where, f"column 'race_season' holds seasons {seasons}: add one season per call")
        problems.raise_if_any()
    season = seasons[0]
    df = pd.DataFrame({k: v.astype("int64") for k, v in nums.items()})
    df["line"] = np.arange(len(raw)) + 2
    df["date"] = dates.dt.normalize()
    for c in ("race_name", "track_name", "driver_fullname"):
        df[c] = raw[c].astype(str).str.strip()
    df["status_raw"] = raw["finishing_status"]
    for c, default in (("team_name", ""), ("car_make", ""), ("car_number", ""), ("track_type", None), ("track_length", np.nan),
                       ("points_earned", np.nan), ("qualifying_speed", np.nan)):
        df[c] = raw[c] if c in raw else default

    # entries that did not start: no status and no lap
    dns = df["status_raw"].isna() & (df["laps_completed"] == 0)
    for rid, g in df[dns].groupby("race_id"):
        report.append(f"race {g['race_name'].iloc[0]!r}: {len(g)} entr{'y' if len(g) == 1 else 'ies'} that did not start left out "
                      f"({', '.join(g['driver_fullname'])})")
    df = df[~dns].copy()
    problems.rows(where, "finishing_status", df["status_raw"].isna().reindex(raw.index, fill_value=False),
                  "blank for a car that ran laps")

    # races, tracks, race numbers
    new_tracks: dict[str, dict] = {}
    races = df.groupby("race_id").agg(date=("date", "first"), race_name=("race_name", "first"), track=("track_name", "first"),
                                      feed_type=("track_type", "first"), length=("track_length", "first"), line=("line", "first"))
    tids, matched = [], {}
    for r in races.itertuples():
        hit = scheduled_on(history, season, r.date)
        scheduled = (hit[1], f"the {season} schedule's track on {hit[2]}") if hit else None
        tid = resolve_track(history, r.track, scheduled, track_aliases, report, matched) or new_track(
            history, r.track, r.feed_type, r.length, track_types, f"{where} line {r.line}", problems, report, new_tracks,
            scheduled[0] if scheduled else None)
        tids.append(tid)
    races["track_id"] = tids
    problems.raise_if_any()
    numbers = _race_numbers(history, season, races, where, problems)
    problems.raise_if_any()
    races["race"] = pd.Series(numbers)
    dup = races[races["race"].duplicated(keep=False)]
    for n, g in dup.groupby("race"):
        problems.add(where, f"races {', '.join(map(str, g.index))} would both be race {n} of {season}")
    problems.raise_if_any()
    df["race"] = df["race_id"].map(races["race"]).astype("int64")
    df["season"] = season

    # drivers
    match = DriverMatcher(history)
    df["driver"] = [match(n, int(i)) for n, i in zip(df["driver_fullname"], df["driver_id"])]
    check_races(df, where, problems)
    problems.raise_if_any()

    # loop data and practice (optional), joined by NASCAR race and driver ids
    by_nascar = {(int(r), int(d)): name for r, d, name in zip(df["race_id"], df["driver_id"], df["driver"])}
    loop = _feed_loop(frames.get("feed loop data"), races, by_nascar, problems)
    practice = _feed_practice(frames.get("feed practice"), races, by_nascar, match, problems)
    problems.raise_if_any()

    rating = loop.set_index(["nascar_race", "driver"])["rating"] if len(loop) and "rating" in loop else pd.Series(dtype=float)
    tracks = tracks_table(history, new_tracks)
    surface = tracks.set_index("track_id")["surface"]
    types = tracks.set_index("track_id")["track_type"]
    df["pw_race_id"] = [race_id(season, r) for r in df["race"]]
    df["track_id"] = df["race_id"].map(races["track_id"])
    results = pd.DataFrame({
        "season": df["season"].astype("int64"), "race": df["race"], "race_id": df["pw_race_id"], "track": df["track_name"],
        "race_name": df["race_name"], "track_length": pd.to_numeric(df["track_length"], errors="coerce").astype(float),
        "surface": df["track_id"].map(surface).astype(str), "finish": df["finishing_position"], "start": df["starting_position"],
        "car": df["car_number"].astype(str), "driver": df["driver"], "driver_id": [driver_slug(n) for n in df["driver"]],
        "make": df["car_make"].astype(str), "team": df["team_name"].astype(str),
        "points": pd.to_numeric(df["points_earned"], errors="coerce").astype(float), "laps": df["laps_completed"],
        "led": df["laps_led"], "status": df["status_raw"].astype(str).str.strip().str.lower(),
    })
    results["running"] = results["status"].eq("running")
    results["rating"] = [float(rating.get((r, d), np.nan)) for r, d in zip(df["race_id"], df["driver"])]
    qs = pd.to_numeric(df["qualifying_speed"], errors="coerce")
    results["qual_speed"] = qs.where(qs > 0).astype(float)
    report += status_report(results)
    sch = frames.get("feed loop data")
    sch_laps = (sch[0].groupby("race_id")["sch_laps"].first() if sch is not None and "sch_laps" in sch[0] else pd.Series(dtype=float))
    index = pd.DataFrame({
        "season": season, "race": races["race"].astype("int64").to_numpy(), "race_id": [race_id(season, r) for r in races["race"]],
        "track": races["track"].to_numpy(), "track_id": races["track_id"].to_numpy(), "race_name": races["race_name"].to_numpy(),
        "date": races["date"].to_numpy(), "track_type": [types[t] for t in races["track_id"]],
        "track_length": pd.to_numeric(races["length"], errors="coerce").astype(float).to_numpy(),
        "surface": [surface[t] for t in races["track_id"]],
        "field_size": df.groupby("race_id").size().reindex(races.index).astype("Int64").to_numpy(),
        "race_laps": df.groupby("race_id")["laps_completed"].max().reindex(races.index).astype("Int64").to_numpy(),
        "sch_laps": pd.array([None if pd.isna(sch_laps.get(r, np.nan)) else int(sch_laps[r]) for r in races.index], dtype="Int64"),
        "nascar_race_id": pd.array(races.index.astype(int), dtype="Int64"),
    })
    check_laps_led(results, index, where, problems, report)
    problems.raise_if_any()
    loop["race_id"] = [race_id(season, numbers[r]) for r in loop["nascar_race"]] if len(loop) else []
    loop = finish_loop(loop, season)
    practice = _finish_practice(practice, season, numbers)
    return Imported(results=canonical_frame(results, RESULT_COLUMNS), index=canonical_frame(index, INDEX_COLUMNS), loop=loop, practice=practice,
                    tracks=pd.DataFrame(list(new_tracks.values())) if new_tracks else tracks.iloc[0:0],
                    aliases=new_track_spellings(history, races), driver_ids=learned_driver_ids(match), report=match.report + report, layout="NASCAR feed")


def _feed_loop(frame, races: pd.DataFrame, by_nascar: dict, problems: Problems) -> pd.DataFrame:
    from engine.data.history import LOOP_COLUMNS

    if frame is None:
        return pd.DataFrame()
    raw, where = frame
    raw = raw.reset_index(drop=True)
    for c in ("race_id", "driver_id", "fast_laps", "lead_laps", "laps"):
        whole_numbers(raw, c, where, problems)
    if problems.items:
        return pd.DataFrame()
    rid, did = raw["race_id"].astype(int), raw["driver_id"].astype(int)
    problems.rows(where, "race_id", ~rid.isin(races.index), "a race that is not in the results file", raw["race_id"])
    known = pd.Series([(r, d) in by_nascar for r, d in zip(rid, did)])
    problems.rows(where, "driver_id", rid.isin(races.index) & ~known, "a driver who did not start that race in the results file",
                  raw["driver_id"])
    if problems.items:
        return pd.DataFrame()
    out = raw.rename(columns=LOOP_COLUMNS)[[c for c in LOOP_COLUMNS.values() if c in raw.rename(columns=LOOP_COLUMNS)]].copy()
    out["driver"] = [by_nascar[(r, d)] for r, d in zip(rid, did)]
    out["nascar_race"] = rid.to_numpy()
    dup = out.duplicated(["nascar_race", "driver"], keep=False)
    problems.rows(where, "driver_id", dup, "the same driver twice in one race")
    return out


def finish_loop(loop: pd.DataFrame, season: int) -> pd.DataFrame:
    from engine.data.history import finalize_loop

    if not len(loop):
        return pd.DataFrame(columns=["driver", "season", "race", "source", "driver_id", "race_id", "fastest_laps", "laps_led", "laps"])
    loop = loop.copy()
    loop["season"] = season
    loop["race"] = [int(r.split("-")[1]) for r in loop["race_id"]]
    loop["source"] = "nascar_loop"
    loop = loop.drop(columns=["nascar_race", "race_id"])
    return finalize_loop(loop)


def practice_session_order(title: str) -> tuple[int, int]:
    """Later sessions sort last: 'Final Practice' after 'Practice 2' after 'Practice 1' after 'Practice'."""
    t = str(title).lower()
    if "final" in t:
        return (2, 0)
    m = re.search(r"(\d+)", t)
    return (1, int(m.group(1))) if m else (0, 0)


def _feed_practice(frame, races: pd.DataFrame, by_nascar: dict, match: DriverMatcher, problems: Problems) -> pd.DataFrame:
    """Per race and starter: the ranks of the weekend's last practice session (best lap, best 5-
    and 10-lap averages; blank when not run). Entries that did not start are left out."""
    if frame is None:
        return pd.DataFrame()
    raw, where = frame
    raw = raw.reset_index(drop=True)
    for c in ("race_id", "driver_id"):
        whole_numbers(raw, c, where, problems)
    if problems.items:
        return pd.DataFrame()
    rid, did = raw["race_id"].astype(int), raw["driver_id"].astype(int)
    problems.rows(where, "race_id", ~rid.isin(races.index), "a race that is not in the results file", raw["race_id"])
    if problems.items:
        return pd.DataFrame()
    df = pd.DataFrame({"nascar_race": rid, "nascar_driver": did, "session": raw["Title"].astype(str),
                       "order": [practice_session_order(t) for t in raw["Title"]]})
    for src, dst in (("BestLapRank", "best_lap_rank"), ("Con5LapRank", "avg5_rank"), ("Con10LapRank", "avg10_rank")):
        v = pd.to_numeric(raw[src], errors="coerce") if src in raw else pd.Series(np.nan, index=raw.index)
        df[dst] = v.where((v > 0) & (v < BLANK_RANK))
    df["driver"] = [by_nascar.get((r, d)) for r, d in zip(rid, did)]
    df = df.dropna(subset=["driver"])
    last = df.groupby("nascar_race")["order"].transform("max")
    df = df[df["order"] == last].drop_duplicates(["nascar_race", "driver"], keep="last")
    return df


def _finish_practice(practice: pd.DataFrame, season: int, numbers: dict) -> pd.DataFrame:
    from engine.data.history import empty_practice

    if not len(practice):
        return empty_practice()
    out = pd.DataFrame({"season": season, "race": [int(numbers[r]) for r in practice["nascar_race"]],
                        "driver": practice["driver"].to_numpy(), "session": practice["session"].to_numpy()})
    out["race_id"] = [race_id(season, r) for r in out["race"]]
    out["driver_id"] = [driver_slug(n) for n in out["driver"]]
    for c in ("best_lap_rank", "avg5_rank", "avg10_rank"):
        out[c] = practice[c].astype(float).to_numpy()
    return out[PRACTICE_COLUMNS].sort_values(["season", "race", "driver"]).reset_index(drop=True)
