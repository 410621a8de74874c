"""Reading a season from the files users download (``pitwall data add``), in either public layout.

* NASCAR's results feed, as exported per season (e.g. joeah99's ``season_2025/``):
  ``cup-results.csv`` (required: race id, date, track name and type, driver id and name, start,
  finish, laps, status, laps led, qualifying), ``cup-misc.csv`` (loop data with fastest laps;
  optional) and ``cup-practice.csv`` (practice lap times and ranks; optional), all of one
  season in one call. Race numbers come from the shipped schedule (by date) or, for a season
  without one, from the order of the dates. Rows with no finishing status and no lap are
  entries that did not start (non-qualifiers): they are left out and reported.
* nascaR.data's results table (Season, Race, Track, Name, ..., Driver, ..., Status, Team): no
  dates and no ids; dates come from the shipped schedule when it has the season.

The layout of each file is recognised from its header. Driver names are matched to the
history (accents, "Jr"/"Jr.", "AJ"/"A.J.", "Van"/"van", markers such as "(i)" or "#" do not
matter) and NASCAR driver ids never seen before are learned from those names; every match
that changes a spelling is reported. A track never seen before takes the type the feed
states (data/feed_track_types.csv) or the one given with ``--track-type "NAME=TYPE"``.

Everything is checked before anything is stored; every problem names the file, the line
(the header is line 1) and the column. Laps led summing to one or two laps off the race laps
are reported (real feeds have such slips), more is refused; a finishing status never seen
before is read as out of the race and reported.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from engine.data import (DATA_DIR, INDEX_COLUMNS, LAPS_LED_SLIP, PRACTICE_COLUMNS, RESULT_COLUMNS, RESULTS_REQUIRED, TRACK_TYPES,
                         DataError, History, _read_table, normalize_results, race_id)
from engine.names import driver_slug, name_key

FEED_RESULTS = ["race_id", "race_season", "race_name", "track_name", "race_date", "finishing_position", "starting_position",
                "driver_fullname", "driver_id", "laps_completed", "finishing_status", "laps_led"]
FEED_LOOP = ["race_id", "driver_id", "fast_laps", "lead_laps", "laps"]
FEED_PRACTICE = ["race_id", "driver_id", "Title", "BestLapRank"]
FEED_STAGES = ["race_id", "stage_number", "driver_id", "stage_points"]
LAYOUTS = {  # checked in this order: the first whose columns are all present
    "feed results": FEED_RESULTS,
    "feed loop data": FEED_LOOP,
    "feed practice": FEED_PRACTICE,
    "feed stages": FEED_STAGES,
    "nascaR.data results": RESULTS_REQUIRED,
}
KNOWN_STATUSES = {
    "running", "accident", "axle", "battery", "brakes", "chassis", "clutch", "disqualified", "drive shaft", "driveshaft",
    "drivetrain", "dvp", "electrical", "engine", "exhaust", "fatigue", "fire", "front hub", "fuel", "fuel pressure", "fuel pump",
    "handling", "hub", "oil cooler", "oil leak", "oil pressure", "oil pump", "overheating", "parked", "power", "power steering",
    "radiator", "rear axle", "rear end", "rear gear", "rear hub", "steering", "suspension", "throttle", "tire", "too slow",
    "track bar", "transmission", "vibration", "water pump", "wheel hub", "mechanical",
}
BLANK_RANK = 999  # the feed's value for a practice run not made


@dataclass
class Imported:
    """What a ``data add`` call read: canonical tables of the new races, what they taught
    (tracks, spellings, driver ids), and the report lines."""

    results: pd.DataFrame
    index: pd.DataFrame
    loop: pd.DataFrame
    practice: pd.DataFrame
    tracks: pd.DataFrame
    aliases: pd.DataFrame
    driver_ids: pd.DataFrame
    report: list[str] = field(default_factory=list)
    layout: str = ""

    @property
    def race_ids(self) -> list[str]:
        return self.index["race_id"].tolist()


def recognise(df: pd.DataFrame, where: str) -> str:
    """The layout of a file from its header."""
    cols = set(df.columns)
    for name, need in LAYOUTS.items():
        if set(need) <= cols:
            return name
    shown = ", ".join(list(df.columns)[:12])
    raise DataError(f"{where}: the header matches no layout `data add` reads ({shown}...): expected NASCAR feed exports "
                    "(cup-results.csv with race_id, race_season, finishing_position, driver_id, ...; cup-misc.csv; "
                    "cup-practice.csv) or nascaR.data's results table (Season, Race, Track, Driver, Finish, ...)")


def parse_track_types(items: list[str]) -> dict[str, str]:
    """``--track-type "NAME=TYPE"`` options -> {name (lower case): type}; DataError for a bad one."""
    out = {}
    for item in items:
        name, sep, kind = item.partition("=")
        if not sep or not name.strip():
            raise DataError(f"--track-type {item!r}: write it as \"TRACK NAME=TYPE\"")
        if kind.strip() not in TRACK_TYPES:
            raise DataError(f"--track-type {item!r}: {kind.strip()!r} is not one of {', '.join(TRACK_TYPES)}")
        out[name.strip().lower()] = kind.strip()
    return out


def parse_track_aliases(items: list[str], history: History) -> dict[str, str]:
    """``--track-alias "NAME=TRACK_ID"`` options -> {name (lower case): track id}; DataError
    for a bad one or a track id Pitwall does not know (naming the closest ones)."""
    known = sorted(set(history.tracks["track_id"]))
    out = {}
    for item in items:
        name, sep, tid = item.partition("=")
        name, tid = name.strip(), tid.strip()
        if not sep or not name or not tid:
            raise DataError(f"--track-alias {item!r}: write it as \"TRACK NAME=TRACK_ID\" (e.g. \"San Diego=san_diego_street\")")
        if tid not in known:
            import difflib

            near = difflib.get_close_matches(tid, known, n=4, cutoff=0.4) or known[:8]
            raise DataError(f"--track-alias {item!r}: {tid!r} is not a known track id; closest: {', '.join(near)}")
        out[name.lower()] = tid
    return out


def feed_track_types(data_dir: Path = DATA_DIR) -> dict[str, str]:
    """The feed's track types -> Pitwall's (data/feed_track_types.csv)."""
    df = pd.read_csv(data_dir / "feed_track_types.csv")
    return {str(k).strip().lower(): v for k, v in zip(df["feed_track_type"], df["track_type"])}


def track_slug(name: str) -> str:
    s = unicodedata.normalize("NFKD", name)
    s = "".join(c for c in s if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", "_", s).strip("_")


class Problems:
    """Every problem of an import, each naming file, line and column; raised together."""

    def __init__(self):
        self.items: list[str] = []

    def add(self, where: str, text: str) -> None:
        self.items.append(f"{where}: {text}")

    def rows(self, where: str, column: str, bad: pd.Series, what: str, values: pd.Series | None = None) -> None:
        if bad.any():
            lines = (np.flatnonzero(bad.to_numpy()) + 2).tolist()
            sample = "" if values is None else f" (e.g. {values[bad].head(3).tolist()})"
            self.add(where, f"line(s) {lines[:10]}{' ...' if len(lines) > 10 else ''}, column {column!r}: {what}{sample}")

    def raise_if_any(self) -> None:
        if self.items:
            shown = self.items[:20] + ([f"... and {len(self.items) - 20} more"] if len(self.items) > 20 else [])
            raise DataError("nothing was added:\n" + "\n".join(f"  - {p}" for p in shown))


def _whole(df: pd.DataFrame, col: str, where: str, problems: Problems, blank_ok: bool = False) -> pd.Series:
    values = pd.to_numeric(df[col], errors="coerce")
    bad = values.isna() & ~(blank_ok & df[col].isna()) | (values.notna() & (values % 1 != 0))
    problems.rows(where, col, bad, "not a whole number", df[col])
    return values


class DriverMatcher:
    """Feed spellings and NASCAR ids -> one canonical driver; new ids learned from names."""

    def __init__(self, history: History):
        self.names = history.names
        ids = history.driver_ids
        self.by_id = {int(k): v for k, v in zip(ids["nascar_driver_id"], ids["driver"]) if isinstance(v, str) and k >= 0}
        self.learned: dict[int, tuple[str, str]] = {}
        self.new_keys: dict[str, str] = {}
        self.report: list[str] = []
        self._said: set[str] = set()

    def __call__(self, name: str, nascar_id: int | None = None) -> str:
        name = str(name).strip()
        canon = None
        how = ""
        if nascar_id is not None and nascar_id in self.by_id:
            canon, how = self.by_id[nascar_id], f" (NASCAR id {nascar_id})"
        if canon is None:
            canon = self.names.canonical(name) or self.new_keys.get(name_key(name))
        if canon is None:
            canon = clean_name(name)
            self.new_keys[name_key(name)] = canon
            if name not in self._said:
                self.report.append(f"new driver {canon!r}" + (f" (NASCAR id {nascar_id})" if nascar_id is not None else ""))
                self._said.add(name)
        elif name != canon and name not in self._said:
            self.report.append(f"{name!r} -> {canon}{how}")
            self._said.add(name)
        if nascar_id is not None and nascar_id not in self.by_id:
            self.by_id[nascar_id] = canon
            self.learned[nascar_id] = (canon, name)
        return canon


def clean_name(name: str) -> str:
    """A new driver's canonical spelling: the feed's, without salary-site markers."""
    s = re.sub(r"\(\s*[A-Za-z]\s*\)|#\s*\d*|\*", " ", name)
    return " ".join(s.split())


OPTIONAL = {"feed loop data": "loop data (fastest laps)", "feed practice": "practice", "feed stages": "stage results"}


def import_files(paths: list[str | Path], history: History, track_types: dict[str, str] | None = None,
                 track_aliases: dict[str, str] | None = None) -> Imported:
    """Read the files of one ``data add`` call (see the module docstring); DataError listing
    every problem, and nothing read, when anything is wrong. An optional file (loop data,
    practice, stages) with a header and no rows means "none": the races are added without it."""
    if not paths:
        raise DataError("give the files to add (NASCAR feed exports, or nascaR.data's results table)")
    frames: dict[str, tuple[pd.DataFrame, str]] = {}
    report: list[str] = []
    for p in paths:
        df = _read_table(p, allow_header_only=True)
        kind = recognise(df, str(p))
        if kind in frames:
            raise DataError(f"{p} and {frames[kind][1]} are both {kind}: give one file of each kind per call (one season)")
        if df.empty:
            if kind not in OPTIONAL:
                raise DataError(f"{p}: the file has a header but no rows")
            report.append(f"{p}: a header and no rows: no {OPTIONAL[kind]} for these races")
            continue
        frames[kind] = (df, str(p))
    if "feed stages" in frames:
        report.append(f"{frames.pop('feed stages')[1]}: stage results are not used (skipped)")
    track_types = track_types or {}
    if "nascaR.data results" in frames:
        extra = [w for k, (_, w) in frames.items() if k != "nascaR.data results"]
        if extra:
            raise DataError(f"{', '.join(extra)}: NASCAR feed files go in their own call, not with nascaR.data's results table")
        out = _import_nascar_data(*frames["nascaR.data results"], history, track_types, track_aliases or {})
    elif "feed results" not in frames:
        raise DataError(f"{', '.join(w for _, w in frames.values())}: the feed's results file (cup-results.csv) is required "
                        "with its loop data and practice files")
    else:
        out = _import_feed(frames, history, track_types, track_aliases or {})
    out.report = report + out.report
    return out


def _known_track(history: History, name: str) -> str | None:
    """The id of a track Pitwall has raced data for (a spelling in the alias table is not enough)."""
    tid = history.track_of.get(str(name).strip().lower())
    return tid if tid is not None and tid in set(history.tracks["track_id"]) else None


def _resolve_track(history: History, name: str, scheduled: tuple[str, str] | None, aliases: dict[str, str], report: list[str],
                   matched: dict[str, str]) -> str | None:
    """The id of a race's track when Pitwall can tell it: a ``--track-alias``, a known spelling,
    or, for a spelling never seen, the schedule's track for that race (``scheduled``: its id and
    how it was found), reported like a driver match. None: a track never seen before."""
    key = str(name).strip().lower()
    if key in aliases:
        tid = aliases[key]
        if key not in matched:
            matched[key] = tid
            report.append(f"{str(name).strip()!r} -> {_track_name(history, tid)} (--track-alias)")
        return tid
    tid = _known_track(history, name)
    if tid is not None or scheduled is None:
        return tid
    tid, how = scheduled
    if tid not in set(history.tracks["track_id"]):
        return None  # the schedule's track has never been raced: a new track, with its type
    if key not in matched:
        matched[key] = tid
        report.append(f"{str(name).strip()!r} -> {_track_name(history, tid)} ({how})")
    return tid


def _track_name(history: History, tid: str) -> str:
    t = history.tracks.set_index("track_id")
    return str(t.loc[tid, "track"]) if tid in t.index else tid


def _scheduled_on(history: History, season: int, day: pd.Timestamp) -> tuple[int, str, str] | None:
    """(round, track id, date) of the season's scheduled race on ``day`` or a day either side."""
    sched = history.schedule
    if sched is None:
        return None
    sched = sched[sched["season"] == season]
    for delta in (0, -1, 1):
        hit = sched[sched["date"] == day + pd.Timedelta(days=delta)]
        if len(hit):
            r = hit.iloc[0]
            return int(r["race"]), str(r["track_id"]), str(r["date"].date())
    return None


def _new_track(history: History, name: str, feed_type: str | None, length: float | None, track_types: dict[str, str],
               where: str, problems: Problems, report: list[str], new: dict[str, dict], scheduled_id: str | None = None) -> str | None:
    """The track id of a track never seen before (the schedule's id for that race when it has
    one), with its type (option, or the feed's)."""
    key = str(name).strip().lower()
    if key in new:
        return new[key]["track_id"]
    kind = track_types.get(key)
    how = "--track-type"
    if kind is None and feed_type is not None and isinstance(feed_type, str) and feed_type.strip():
        kind = feed_track_types().get(feed_type.strip().lower())
        how = f"the feed's type {feed_type.strip()!r}"
        if kind is None:
            problems.add(where, f"track {name!r} is new and its feed type {feed_type.strip()!r} is not in data/feed_track_types.csv: "
                                f"give --track-type \"{name}=TYPE\" ({', '.join(TRACK_TYPES)})")
            return None
    if kind is None:
        problems.add(where, f"track {name!r} is not known and the file does not say its type: give --track-type \"{name}=TYPE\" "
                            f"({', '.join(TRACK_TYPES)}), or --track-alias \"{name}=TRACK_ID\" if Pitwall knows it by another name")
        return None
    tid = scheduled_id or history.track_of.get(key) or track_slug(name)  # the schedule's or a curated id when there is one
    if tid in set(history.tracks["track_id"]):
        tid = f"{tid}_{len(new) + 2}"
    new[key] = {"track_id": tid, "track": str(name).strip(), "length_mi": float(length) if length is not None and not pd.isna(length) else np.nan,
                "surface": "road" if kind == "road" else "dirt" if kind == "dirt" else "paved", "track_type": kind}
    report.append(f"new track {name!r} added as {tid} ({kind}, from {how})")
    return tid


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


def _import_feed(frames: dict[str, tuple[pd.DataFrame, str]], history: History, track_types: dict[str, str],
                 track_aliases: dict[str, str]) -> Imported:
    problems = Problems()
    report: list[str] = []
    raw, where = frames["feed results"]
    raw = raw.reset_index(drop=True)
    nums = {c: _whole(raw, c, where, problems) for c in ("race_id", "race_season", "finishing_position", "starting_position",
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
        hit = _scheduled_on(history, season, r.date)
        scheduled = (hit[1], f"the {season} schedule's track on {hit[2]}") if hit else None
        tid = _resolve_track(history, r.track, scheduled, track_aliases, report, matched) or _new_track(
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
    _check_races(df, where, problems)
    problems.raise_if_any()

    # loop data and practice (optional), joined by NASCAR race and driver ids
    by_nascar = {(int(r), int(d)): name for r, d, name in zip(df["race_id"], df["driver_id"], df["driver"])}
    loop = _feed_loop(frames.get("feed loop data"), races, by_nascar, problems)
    practice = _feed_practice(frames.get("feed practice"), races, by_nascar, match, problems)
    problems.raise_if_any()

    rating = loop.set_index(["nascar_race", "driver"])["rating"] if len(loop) and "rating" in loop else pd.Series(dtype=float)
    tracks = _tracks_table(history, new_tracks)
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
    report += _status_report(results)
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
    _check_laps_led(results, index, where, problems, report)
    problems.raise_if_any()
    loop["race_id"] = [race_id(season, numbers[r]) for r in loop["nascar_race"]] if len(loop) else []
    loop = _finish_loop(loop, season)
    practice = _finish_practice(practice, season, numbers)
    return Imported(results=_canon(results, RESULT_COLUMNS), index=_canon(index, INDEX_COLUMNS), loop=loop, practice=practice,
                    tracks=pd.DataFrame(list(new_tracks.values())) if new_tracks else tracks.iloc[0:0],
                    aliases=_aliases(history, races), driver_ids=_learned(match), report=match.report + report, layout="NASCAR feed")


def _canon(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return df[columns].sort_values(["season", "race"] + (["finish"] if "finish" in df else [])).reset_index(drop=True)


def _tracks_table(history: History, new: dict[str, dict]) -> pd.DataFrame:
    add = pd.DataFrame(list(new.values())) if new else None
    return pd.concat([history.tracks, add], ignore_index=True) if add is not None else history.tracks


def _aliases(history: History, races: pd.DataFrame) -> pd.DataFrame:
    """Feed spellings of known tracks that the alias table lacks (e.g. a renamed facility)."""
    known = set(history.track_of)
    rows = [{"track_id": t, "track": n, "aliases": ""} for n, t in zip(races["track"], races["track_id"])
            if str(n).strip().lower() not in known and t is not None]
    return pd.DataFrame(rows, columns=["track_id", "track", "aliases"]).drop_duplicates("track")


def _learned(match: DriverMatcher) -> pd.DataFrame:
    rows = [{"nascar_driver_id": int(k), "driver": v[0], "feed_name": v[1]} for k, v in match.learned.items()]
    return pd.DataFrame(rows, columns=["nascar_driver_id", "driver", "feed_name"]).astype({"nascar_driver_id": "int64"})


def _check_races(df: pd.DataFrame, where: str, problems: Problems) -> None:
    """Per race: no driver twice; finishing and starting positions are 1..N."""
    for (season, race), g in df.groupby(["season", "race"]):
        rid = race_id(season, race)
        twice = g[g["driver"].duplicated(keep=False)]
        for name, rows in twice.groupby("driver"):
            problems.add(where, f"race {rid}: lines {rows['line'].tolist()} are the same driver {name} "
                                f"({' / '.join(map(repr, rows['driver_fullname'].unique()))})")
        n = len(g)
        for col, label in (("finishing_position", "Finish"), ("starting_position", "Start")):
            if col in g and not np.array_equal(np.sort(g[col].to_numpy()), np.arange(1, n + 1)):
                dup = g[g[col].duplicated(keep=False) | (g[col] > n) | (g[col] < 1)]
                problems.add(where, f"race {rid}: column {col!r} is not the positions 1..{n} of its {n} starters"
                                    + (f" (lines {dup['line'].tolist()[:8]})" if len(dup) else ""))


def _check_laps_led(results: pd.DataFrame, index: pd.DataFrame, where: str, problems: Problems, report: list[str]) -> None:
    laps = index.set_index("race_id")["race_laps"]
    for rid, g in results.groupby("race_id"):
        total, most = int(g["led"].sum()), int(g["led"].max())
        n = int(laps[rid])
        if most > n:
            who = g.loc[g["led"].idxmax(), "driver"]
            problems.add(where, f"race {rid}: {who} leads {most} laps (column 'laps_led') of a {n}-lap race")
        elif abs(total - n) > LAPS_LED_SLIP:
            problems.add(where, f"race {rid}: laps led add up to {total} (column 'laps_led'), {abs(total - n)} off the {n} race laps")
        elif total != n:
            report.append(f"race {rid}: laps led add up to {total}, {total - n:+d} from the {n} race laps (kept: a feed slip)")


def _status_report(results: pd.DataFrame) -> list[str]:
    new = sorted(set(results["status"]) - KNOWN_STATUSES)
    if not new:
        return []
    rows = results[results["status"].isin(new)]
    return [f"finishing status(es) never seen before, read as out of the race: "
            + ", ".join(f"{s!r} ({', '.join(rows.loc[rows['status'] == s, 'race_id'])})" for s in new)]


def _feed_loop(frame, races: pd.DataFrame, by_nascar: dict, problems: Problems) -> pd.DataFrame:
    from engine.data import LOOP_COLUMNS

    if frame is None:
        return pd.DataFrame()
    raw, where = frame
    raw = raw.reset_index(drop=True)
    for c in ("race_id", "driver_id", "fast_laps", "lead_laps", "laps"):
        _whole(raw, c, where, problems)
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


def _finish_loop(loop: pd.DataFrame, season: int) -> pd.DataFrame:
    from engine.data import finalize_loop

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
        _whole(raw, c, where, problems)
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
    from engine.data import empty_practice

    if not len(practice):
        return empty_practice()
    out = pd.DataFrame({"season": season, "race": [int(numbers[r]) for r in practice["nascar_race"]],
                        "driver": practice["driver"].to_numpy(), "session": practice["session"].to_numpy()})
    out["race_id"] = [race_id(season, r) for r in out["race"]]
    out["driver_id"] = [driver_slug(n) for n in out["driver"]]
    for c in ("best_lap_rank", "avg5_rank", "avg10_rank"):
        out[c] = practice[c].astype(float).to_numpy()
    return out[PRACTICE_COLUMNS].sort_values(["season", "race", "driver"]).reset_index(drop=True)


def _import_nascar_data(raw: pd.DataFrame, where: str, history: History, track_types: dict[str, str],
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
    _check_races(res.rename(columns={"finish": "finishing_position", "start": "starting_position"}), where, problems)
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
        tids.append(_resolve_track(history, t, scheduled, track_aliases, report, matched) or _new_track(
            history, t, None, ln, track_types, f"{where} line {li}", problems, report, new_tracks, scheduled[0] if scheduled else None))
    races["track_id"] = tids
    problems.raise_if_any()
    tracks = _tracks_table(history, new_tracks)
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
    results = _canon(res, RESULT_COLUMNS)
    report += _status_report(results)
    _check_laps_led(results, index, where, problems, report)
    problems.raise_if_any()
    from engine.data import empty_practice

    return Imported(results=results, index=_canon(index, INDEX_COLUMNS), loop=_finish_loop(pd.DataFrame(), season),
                    practice=empty_practice(), tracks=pd.DataFrame(list(new_tracks.values())) if new_tracks else tracks.iloc[0:0],
                    aliases=_aliases(history, races), driver_ids=_learned(match), report=match.report + report,
                    layout="nascaR.data")


def _latest_laps(tracks: pd.DataFrame, index: pd.DataFrame) -> pd.DataFrame:
    """New tracks get the laps and id of their latest race in the added files."""
    if not len(tracks):
        return tracks
    last = index.sort_values(["season", "race"]).groupby("track_id").tail(1).set_index("track_id")
    tracks = tracks.copy()
    tracks["latest_race"] = [last.loc[t, "race_id"] if t in last.index else None for t in tracks["track_id"]]
    tracks["latest_race_laps"] = pd.array([int(last.loc[t, "race_laps"]) if t in last.index else None for t in tracks["track_id"]],
                                          dtype="Int64")
    tracks["races"] = [int((index["track_id"] == t).sum()) for t in tracks["track_id"]]
    return tracks


def add_to_store(paths: list[str | Path], state_dir: Path | str, track_types: dict[str, str] | None = None, replace: bool = False,
                 data_dir: Path = DATA_DIR, on_wait: Callable[[str], None] | None = None,
                 track_aliases: dict[str, str] | None = None) -> tuple[Imported, list[str]]:
    """``pitwall data add``: read the files, check them against the history, and store their
    races in the state directory in one atomic write. Races already added are replaced; a
    shipped race is refused unless ``replace``. Returns what was read and the report.

    The whole read-check-write holds the store's writer lock (``SeasonStore.writing``): an add
    started while another runs waits for it (``on_wait`` is told) and then reads the store
    that one wrote, so both adds are kept."""
    from engine.store import SeasonStore

    with SeasonStore(state_dir).writing(on_wait):
        return _add_locked(paths, state_dir, track_types, replace, data_dir, track_aliases)


def _add_locked(paths, state_dir, track_types, replace, data_dir, track_aliases) -> tuple[Imported, list[str]]:
    import time

    from engine.data import TABLES, race_failures
    from engine.store import SeasonStore

    history = History.load(data_dir, state_dir)
    imp = import_files(paths, history, track_types, track_aliases)
    shipped = set(history.index["race_id"]) - set(history.added)
    clash = sorted(set(imp.race_ids) & shipped, key=lambda r: tuple(map(int, r.split("-"))))
    if clash and not replace:
        raise DataError(f"nothing was added: race(s) {', '.join(clash[:8])}{'...' if len(clash) > 8 else ''} are shipped with "
                        "Pitwall; give --replace to use these files instead")
    failures = race_failures(imp.results, imp.index, imp.loop if len(imp.loop) else history.loop.iloc[0:0], imp.race_ids,
                             data_dir=data_dir)
    if failures:
        raise DataError("nothing was added:\n" + "\n".join(f"  - {f}" for f in failures[:20]))
    store = SeasonStore(state_dir)
    content = store.read() or SeasonStore.empty({"results": imp.results, "index": imp.index, "loop": history.loop,
                                                 "practice": imp.practice})
    again = sorted(set(imp.race_ids) & set(content.index["race_id"]), key=lambda r: tuple(map(int, r.split("-"))))
    new = {"results": imp.results, "index": imp.index, "loop": imp.loop, "practice": imp.practice}
    for t in TABLES:
        keep = content.tables[t][~content.tables[t]["race_id"].isin(imp.race_ids)]
        content.tables[t] = pd.concat([keep, new[t]], ignore_index=True) if len(new[t]) else keep
    tracks = _latest_laps(imp.tracks, pd.concat([history.index, imp.index], ignore_index=True))
    content.tracks = pd.concat([content.tracks[~content.tracks["track_id"].isin(tracks["track_id"])], tracks], ignore_index=True)
    content.aliases = pd.concat([content.aliases, imp.aliases], ignore_index=True).drop_duplicates("track", keep="last")
    content.driver_ids = pd.concat([content.driver_ids, imp.driver_ids], ignore_index=True).drop_duplicates("nascar_driver_id", keep="last")
    content.log.append({"at": round(time.time(), 3), "layout": imp.layout, "files": [str(p) for p in paths], "races": imp.race_ids})
    store.write(content)
    seasons = sorted({int(r.split("-")[0]) for r in imp.race_ids})
    lines = [f"added {len(imp.race_ids)} race(s) of {', '.join(map(str, seasons))} ({imp.race_ids[0]} to {imp.race_ids[-1]}) "
             f"from the {imp.layout} layout: {len(imp.results)} results, {len(imp.loop)} loop rows, {len(imp.practice)} practice rows"]
    if again:
        lines.append(f"replaced {len(again)} race(s) added before: {', '.join(again[:8])}{'...' if len(again) > 8 else ''}")
    if clash:
        lines.append(f"replaced {len(clash)} shipped race(s) (--replace): {', '.join(clash[:8])}{'...' if len(clash) > 8 else ''}")
    return imp, imp.report + lines
