"""What both layouts of `pitwall data add` share: recognising a file's layout, naming every
problem (file, line, column), matching drivers and tracks to the history, and the per-race
checks of results."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from engine.core.names import name_key
from engine.core.paths import DATA_DIR
from engine.data.checks import LAPS_LED_SLIP
from engine.data.history import (
    RESULTS_REQUIRED,
    TRACK_TYPES,
    DataError,
    History,
    race_id,
)

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


def whole_numbers(df: pd.DataFrame, col: str, where: str, problems: Problems, blank_ok: bool = False) -> pd.Series:
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


def _known_track(history: History, name: str) -> str | None:
    """The id of a track Pitwall has raced data for (a spelling in the alias table is not enough)."""
    tid = history.track_of.get(str(name).strip().lower())
    return tid if tid is not None and tid in set(history.tracks["track_id"]) else None


def resolve_track(history: History, name: str, scheduled: tuple[str, str] | None, aliases: dict[str, str], report: list[str],
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


def scheduled_on(history: History, season: int, day: pd.Timestamp) -> tuple[int, str, str] | None:
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


def new_track(history: History, name: str, feed_type: str | None, length: float | None, track_types: dict[str, str],
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


def canonical_frame(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return df[columns].sort_values(["season", "race"] + (["finish"] if "finish" in df else [])).reset_index(drop=True)


def tracks_table(history: History, new: dict[str, dict]) -> pd.DataFrame:
    add = pd.DataFrame(list(new.values())) if new else None
    return pd.concat([history.tracks, add], ignore_index=True) if add is not None else history.tracks


def new_track_spellings(history: History, races: pd.DataFrame) -> pd.DataFrame:
    """Feed spellings of known tracks that the alias table lacks (e.g. a renamed facility)."""
    known = set(history.track_of)
    rows = [{"track_id": t, "track": n, "aliases": ""} for n, t in zip(races["track"], races["track_id"])
            if str(n).strip().lower() not in known and t is not None]
    return pd.DataFrame(rows, columns=["track_id", "track", "aliases"]).drop_duplicates("track")


def learned_driver_ids(match: DriverMatcher) -> pd.DataFrame:
    rows = [{"nascar_driver_id": int(k), "driver": v[0], "feed_name": v[1]} for k, v in match.learned.items()]
    return pd.DataFrame(rows, columns=["nascar_driver_id", "driver", "feed_name"]).astype({"nascar_driver_id": "int64"})


def check_races(df: pd.DataFrame, where: str, problems: Problems) -> None:
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


def check_laps_led(results: pd.DataFrame, index: pd.DataFrame, where: str, problems: Problems, report: list[str]) -> None:
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


def status_report(results: pd.DataFrame) -> list[str]:
    new = sorted(set(results["status"]) - KNOWN_STATUSES)
    if not new:
        return []
    rows = results[results["status"].isin(new)]
    return ["finishing status(es) never seen before, read as out of the race: "
            + ", ".join(f"{s!r} ({', '.join(rows.loc[rows['status'] == s, 'race_id'])})" for s in new)]
