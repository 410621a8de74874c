"""Loaders for the shipped real data (data/) and the store of added races, in one canonical schema.

Every loader returns a typed DataFrame in one canonical schema with one driver naming
(engine.core.names). Files of newer seasons arrive in the schemas of the public sources (see
data/SOURCES.md) and are read by engine.data.importers (``pitwall data add``):

* results: the kyleGrealis/nascaR.data Cup schema (Season, Race, Track, Name, Length,
  Surface, Finish, Start, Car, Driver, Make, Pts, Laps, Led, Status, Team, ...);
* race index: the derived race-index schema (Season, Race, Track, race_date,
  track_type_coarse, ...);
* loop data: NASCAR's loop-data schema as in joeah99 ``cup-misc.csv`` (race_id, driver_id,
  fast_laps, ...), keyed by NASCAR race and driver ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from engine.core.names import NameIndex, driver_slug
from engine.core.paths import DATA_DIR
from engine.core.series import (
    CROSS_SERIES,
    SERIES,
    SHORT_NAMES,
    check_series,
    series_data_dir,
    series_state_dir,
)

TRACK_TYPES = (
    "superspeedway",
    "intermediate",
    "large_oval",
    "one_mile_flat_or_concrete",
    "short",
    "road",
    "dirt",
)
RESULTS_REQUIRED = [
    "Season", "Race", "Track", "Name", "Length", "Surface", "Finish", "Start", "Car",
    "Driver", "Make", "Pts", "Laps", "Led", "Status", "Team",
]
INDEX_REQUIRED = ["Season", "Race", "Track", "race_date", "track_type_coarse"]
LOOP_REQUIRED = ["race_id", "driver_id", "fast_laps", "lead_laps", "laps"]


# canonical loop columns <- NASCAR loop-data (cup-misc) columns
LOOP_COLUMNS = {
    "start_ps": "loop_start",
    "mid_ps": "mid",
    "ps": "loop_finish",
    "best_ps": "best",
    "worst_ps": "worst",
    "avg_ps": "avg_pos",
    "passes_gf": "passes_gf",
    "passing_diff": "passing_diff",
    "quality_passes": "quality_passes",
    "fast_laps": "fastest_laps",
    "top15_laps": "top15_laps",
    "lead_laps": "laps_led",
    "laps": "laps",
    "rating": "rating",
}


class DataError(ValueError):
    """A data file is missing, malformed or inconsistent; the message names file, row or race."""


def race_id(season: int, race: int) -> str:
    """Race id used throughout Pitwall: "SEASON-RACE", e.g. "2024-30"."""
    return f"{int(season)}-{int(race)}"


def parse_race_id(text: str) -> tuple[int, int]:
    """"2024-30" -> (2024, 30); a clear error otherwise."""
    try:
        season, race = str(text).strip().split("-")
        return int(season), int(race)
    except ValueError:
        raise DataError(f"race id {text!r} is not of the form SEASON-RACE (e.g. 2024-30)") from None


def parse_seasons(text: str) -> tuple[int, ...]:
    """"2015-2021" or "2022,2024" -> seasons; a clear error otherwise."""
    try:
        if "-" in text:
            a, b = (int(x) for x in text.split("-"))
        else:
            return tuple(sorted({int(x) for x in text.split(",")}))
    except ValueError:
        raise DataError(f"{text!r}: expected seasons like 2015-2021 or 2022,2024") from None
    if a > b:
        raise DataError(f"{text!r}: the first season {a} is after the last {b} (write {b}-{a})")
    return tuple(range(a, b + 1))


def read_table(path: Path | str, allow_header_only: bool = False) -> pd.DataFrame:
    """A CSV or parquet table a user gave; DataError naming the file for anything unreadable
    (missing, a folder, empty, not parquet, not text, not CSV, or a header without rows unless
    ``allow_header_only``)."""
    from engine.core.textio import InputFileError, decode_text, read_bytes

    path = Path(path)
    try:
        raw = read_bytes(path)
    except InputFileError as exc:
        raise DataError(str(exc)) from None
    if not raw.strip():
        raise DataError(f"{path}: the file is empty")
    if path.suffix.lower() == ".parquet":
        import io

        try:
            return pd.read_parquet(io.BytesIO(raw))
        except Exception as exc:  # pyarrow raises several types for a file that is not parquet
            hint = " (it looks like text: name a CSV file .csv)" if raw[:4] != b"PAR1" and b"," in raw[:4096] else ""
            raise DataError(f"{path}: not a readable parquet file{hint}: {str(exc).splitlines()[0][:200]}") from None
    try:
        text, _ = decode_text(raw, str(path))
    except InputFileError as exc:
        raise DataError(str(exc)) from None
    import io

    try:
        df = pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError, ValueError) as exc:
        raise DataError(f"{path}: not a readable CSV file: {str(exc).splitlines()[0][:200]}") from None
    if df.empty and not allow_header_only:
        raise DataError(f"{path}: the file has a header but no rows")
    return df


def _integers(raw: pd.DataFrame, column: str, where: str) -> pd.Series:
    """A column as int64; DataError naming the column and the rows (file line numbers) that are not whole numbers."""
    values = pd.to_numeric(raw[column], errors="coerce")
    bad = values.isna() | (values.notna() & (values % 1 != 0))
    if bad.any():
        rows = (np.flatnonzero(bad.to_numpy()) + 2).tolist()[:10]
        sample = raw[column][bad].head(3).tolist()
        raise DataError(f"{where}: column {column!r} is not a whole number on row(s) {rows} (e.g. {sample})")
    return values.astype("int64")


def _require(df: pd.DataFrame, columns: list[str], where: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{where}: missing column(s) {', '.join(missing)}")


def load_name_aliases(data_dir: Path = DATA_DIR) -> dict[str, str]:
    df = pd.read_csv(data_dir / "name_aliases.csv")
    return dict(zip(df["alias"], df["canonical"]))


def load_track_ids(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """Curated facility names -> short track ids (with other feed spellings as aliases)."""
    return pd.read_csv(data_dir / "track_ids.csv", keep_default_na=False)


def track_lookup(track_ids: pd.DataFrame) -> dict[str, str]:
    """Every known spelling of a facility (lower case) -> track_id."""
    out: dict[str, str] = {}
    for row in track_ids.itertuples():
        out[row.track.lower()] = row.track_id
        out[row.track_id.lower()] = row.track_id
        for alias in filter(None, str(row.aliases).split("|")):
            out[alias.lower()] = row.track_id
    return out


def normalize_results(raw: pd.DataFrame, where: str, names: NameIndex | None = None) -> pd.DataFrame:
    """Results in the kyleGrealis schema -> canonical typed results."""
    _require(raw, RESULTS_REQUIRED, where)
    df = pd.DataFrame(
        {
            "season": raw["Season"],
            "race": raw["Race"],
            "track": raw["Track"].astype(str),
            "race_name": raw["Name"].astype(str),
            "track_length": raw["Length"],
            "surface": raw["Surface"].astype(str),
            "finish": raw["Finish"],
            "start": raw["Start"],
            "car": raw["Car"].astype(str),
            "driver": raw["Driver"].astype(str).str.strip(),
            "make": raw["Make"].astype(str),
            "points": raw["Pts"],
            "laps": raw["Laps"],
            "led": raw["Led"],
            "status": raw["Status"].astype(str).str.strip().str.lower(),
            "team": raw["Team"].astype(str),
            "rating": raw["Rating"] if "Rating" in raw else np.nan,
        }
    )
    for col, src in (("season", "Season"), ("race", "Race"), ("finish", "Finish"), ("start", "Start"), ("laps", "Laps"), ("led", "Led")):
        df[col] = _integers(raw, src, where)
    df["track_length"] = pd.to_numeric(df["track_length"], errors="coerce").astype("float64")
    df["points"] = pd.to_numeric(df["points"], errors="coerce").astype("float64")
    df["rating"] = pd.to_numeric(df["rating"], errors="coerce").astype("float64")
    if names is not None:
        df["driver"] = [names.canonical(n) or n for n in df["driver"]]
    df["driver_id"] = [driver_slug(n) for n in df["driver"]]
    df["race_id"] = [race_id(s, r) for s, r in zip(df["season"], df["race"])]
    df["running"] = df["status"].eq("running")
    df["qual_speed"] = np.nan  # nascaR.data has no qualifying speeds
    return df[RESULT_COLUMNS]


def normalize_index(raw: pd.DataFrame, where: str, tracks: dict[str, str]) -> pd.DataFrame:
    """Race index in the derived schema -> canonical typed index."""
    _require(raw, INDEX_REQUIRED, where)
    unknown_types = sorted(set(raw["track_type_coarse"]) - set(TRACK_TYPES))
    if unknown_types:
        raise DataError(f"{where}: unknown track type(s) {unknown_types}; known: {list(TRACK_TYPES)}")
    dates = pd.to_datetime(raw["race_date"].astype(str).str[:10], errors="coerce", format="%Y-%m-%d")
    if dates.isna().any():
        rows = (np.flatnonzero(dates.isna().to_numpy()) + 2).tolist()[:10]
        raise DataError(f"{where}: column 'race_date' is not a date (YYYY-MM-DD) on row(s) {rows} "
                        f"(e.g. {raw['race_date'][dates.isna()].head(3).tolist()})")
    df = pd.DataFrame(
        {
            "season": _integers(raw, "Season", where),
            "race": _integers(raw, "Race", where),
            "track": raw["Track"].astype(str),
            "race_name": raw.get("Name", pd.Series("", index=raw.index)).astype(str),
            "date": dates,
            "track_type": raw["track_type_coarse"].astype(str),
            "track_length": pd.to_numeric(raw.get("Length"), errors="coerce"),
            "surface": raw.get("Surface", pd.Series("", index=raw.index)).astype(str),
            "field_size": pd.to_numeric(raw.get("field_size"), errors="coerce").astype("Int64"),
            "race_laps": pd.to_numeric(raw.get("race_laps"), errors="coerce").astype("Int64"),
            "sch_laps": pd.to_numeric(raw.get("sch_laps"), errors="coerce").astype("Int64"),
            "nascar_race_id": pd.to_numeric(raw.get("nascar_race_id"), errors="coerce").astype("Int64"),
        }
    )
    df["track_id"] = [tracks.get(t.lower()) for t in df["track"]]
    unknown = sorted(set(df.loc[df["track_id"].isna(), "track"]))
    if unknown:
        raise DataError(f"{where}: unknown track(s) {unknown}; add them to data/track_ids.csv")
    df["race_id"] = [race_id(s, r) for s, r in zip(df["season"], df["race"])]
    return df


def loop_from_nascar(raw: pd.DataFrame, where: str, index: pd.DataFrame, driver_ids: dict[int, str]) -> pd.DataFrame:
    """NASCAR loop data (cup-misc schema, NASCAR race and driver ids) -> canonical loop rows.

    Races are found through the index's ``nascar_race_id``; drivers through the NASCAR
    driver-id map. Rows whose race or driver cannot be resolved raise, naming them.
    """
    _require(raw, LOOP_REQUIRED, where)
    by_nascar = index.dropna(subset=["nascar_race_id"]).set_index("nascar_race_id")[["season", "race"]]
    missing_races = sorted(set(raw["race_id"]) - set(by_nascar.index.astype(int)))
    if missing_races:
        raise DataError(f"{where}: NASCAR race id(s) {missing_races[:10]} are not in the race index")
    missing_drivers = sorted(set(raw["driver_id"]) - set(driver_ids))
    if missing_drivers:
        raise DataError(
            f"{where}: NASCAR driver id(s) {missing_drivers[:10]} are unknown; add them to data/nascar_driver_ids.parquet"
        )
    df = raw.rename(columns=LOOP_COLUMNS)
    keep = [c for c in LOOP_COLUMNS.values() if c in df.columns]
    out = df[keep].copy()
    out.insert(0, "season", by_nascar.loc[raw["race_id"], "season"].to_numpy())
    out.insert(1, "race", by_nascar.loc[raw["race_id"], "race"].to_numpy())
    out.insert(2, "driver", [driver_ids[int(d)] for d in raw["driver_id"]])
    out["source"] = "nascar_loop"
    return out


def finalize_loop(df: pd.DataFrame) -> pd.DataFrame:
    for col in ("season", "race", "fastest_laps", "laps_led", "laps"):
        df[col] = pd.to_numeric(df[col]).astype("int64")
    df["driver_id"] = [driver_slug(n) for n in df["driver"]]
    df["race_id"] = [race_id(s, r) for s, r in zip(df["season"], df["race"])]
    return df.sort_values(["season", "race", "driver"]).reset_index(drop=True)


RESULT_COLUMNS = ["season", "race", "race_id", "track", "race_name", "track_length", "surface", "finish", "start", "car", "driver",
                  "driver_id", "make", "team", "points", "laps", "led", "status", "running", "rating", "qual_speed"]
INDEX_COLUMNS = ["season", "race", "race_id", "track", "track_id", "race_name", "date", "track_type", "track_length", "surface",
                 "field_size", "race_laps", "sch_laps", "nascar_race_id"]
PRACTICE_COLUMNS = ["season", "race", "race_id", "driver", "driver_id", "session", "best_lap_rank", "avg5_rank", "avg10_rank"]
TABLES = ("results", "index", "loop", "practice")


def empty_practice() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64" if c.endswith("_rank") else "int64" if c in ("season", "race") else "object")
                         for c in PRACTICE_COLUMNS})


@dataclass
class History:
    """The shipped history plus the races added with ``pitwall data add`` (the state
    directory's store), in canonical form.

    ``results``: one row per (race, driver) that started; ``index``: one row per race with
    date, track and track type; ``loop``: loop data with fastest laps (2019 on); ``practice``:
    practice ranks (2022 on); ``tracks``: one row per track; ``schedule``: the published
    schedule (past seasons and the coming one). An added race replaces a shipped race with
    the same season and number (``data add --replace``).
    """

    results: pd.DataFrame
    index: pd.DataFrame
    loop: pd.DataFrame
    tracks: pd.DataFrame
    names: NameIndex = field(repr=False)
    notes: list[str] = field(default_factory=list)
    practice: pd.DataFrame = field(default_factory=empty_practice)
    schedule: pd.DataFrame | None = field(default=None, repr=False)
    aliases: pd.DataFrame | None = field(default=None, repr=False)  # track spellings -> track id
    driver_ids: pd.DataFrame | None = field(default=None, repr=False)  # NASCAR driver id -> driver
    added: tuple[str, ...] = ()  # race ids from the store
    series: str = "cup"
    cross_series: bool = True  # drivers without a race in this series take a skill from another series (slates.derive_driver_params)
    sources: tuple[Path, Path | None] | None = field(default=None, repr=False)  # (data_dir, state_dir) it was loaded from
    shared: dict = field(default_factory=dict, repr=False, compare=False)  # kept by before(): the other series, loaded once

    @property
    def label(self) -> str:
        """The series' short name (Cup, NXS, Truck), for messages."""
        return SHORT_NAMES[self.series]

    @classmethod
    def load(cls, data_dir: Path = DATA_DIR, state_dir: Path | str | None = None, series: str = "cup") -> "History":
        """A series' shipped data (``data_dir`` for the Cup, ``data_dir/series/<code>`` for the
        others) plus the store of races added to it (the series' part of ``state_dir``, default
        the PITWALL_STATE_DIR setting; ``False``-y paths that do not exist add nothing). Track
        ids, name aliases and NASCAR driver ids are shared by the series (``data_dir``), and
        drivers are named alike in every series: the name index holds all three series' drivers."""
        from engine.data.store import SeasonStore

        series = check_series(series)
        if state_dir is None:
            from engine.core.settings import get_settings

            state_dir = get_settings().state_dir
        data_dir = Path(data_dir)
        own = series_data_dir(series, data_dir)
        if not (own / "results.parquet").exists():
            raise DataError(f"no shipped {SHORT_NAMES[series]} history: {own / 'results.parquet'} is missing")
        shipped = {t: pd.read_parquet(own / f"{'race_index' if t == 'index' else t}.parquet") for t in TABLES
                   if (own / f"{'race_index' if t == 'index' else t}.parquet").exists()}
        shipped.setdefault("practice", empty_practice())
        tracks = load_tracks(own)
        aliases = load_track_ids(data_dir)
        ids = pd.read_parquet(data_dir / "nascar_driver_ids.parquet")
        state = series_state_dir(state_dir, series)
        store = SeasonStore(state).read()
        added: tuple[str, ...] = ()
        if store is not None:
            added = tuple(store.index["race_id"])
            merged = {}
            for t in TABLES:
                keep = shipped[t][~shipped[t]["race_id"].isin(added)]
                merged[t] = pd.concat([keep, store.tables[t]], ignore_index=True) if len(store.tables[t]) else keep
            shipped = merged
            tracks = pd.concat([tracks, store.tracks[~store.tracks["track_id"].isin(tracks["track_id"])]], ignore_index=True)
            aliases = pd.concat([aliases, store.aliases], ignore_index=True)
            ids = pd.concat([ids, store.driver_ids[~store.driver_ids["nascar_driver_id"].isin(ids["nascar_driver_id"])]],
                            ignore_index=True)
        results = shipped["results"].sort_values(["season", "race", "finish"]).reset_index(drop=True)
        index = shipped["index"].sort_values(["season", "race"]).reset_index(drop=True)
        loop = shipped["loop"].sort_values(["season", "race", "driver"]).reset_index(drop=True)
        practice = shipped["practice"].sort_values(["season", "race", "driver"]).reset_index(drop=True)
        aliases_by_name = load_name_aliases(data_dir)
        everyone = set(results["driver"]) | other_series_drivers(data_dir, series)
        names = NameIndex(sorted(everyone - set(aliases_by_name)), aliases_by_name)
        return cls(results=results, index=index, loop=loop, tracks=tracks, names=names, practice=practice,
                   schedule=load_schedule(own), aliases=aliases, driver_ids=ids, added=added, series=series,
                   cross_series=CROSS_SERIES[series],
                   sources=(data_dir, Path(state_dir) if state_dir else None))

    def other_series(self) -> dict[str, "History"]:
        """The other series' histories (shipped and added), loaded once per loaded history
        (``before`` keeps them: restrict them by date where no look-ahead is allowed)."""
        if "others" not in self.shared:
            if self.sources is None:
                self.shared["others"] = {}
            else:
                data_dir, state_dir = self.sources
                self.shared["others"] = {s: History.load(data_dir, state_dir or False, series=s) for s in SERIES if s != self.series
                                         and (series_data_dir(s, data_dir) / "results.parquet").exists()}
        return self.shared["others"]

    def before_date(self, day) -> "History":
        """Only the races run before ``day``."""
        later = self.index[self.index["date"] >= pd.Timestamp(day)]
        if not len(later):
            return self
        first = later.iloc[0]
        return self.before(int(first["season"]), int(first["race"]))

    def before(self, season: int, race: int) -> "History":
        """History restricted to races strictly before (season, race): nothing of the race or later."""

        def keep(df: pd.DataFrame) -> pd.DataFrame:
            mask = (df["season"] < season) | ((df["season"] == season) & (df["race"] < race))
            return df.loc[mask].reset_index(drop=True)

        return replace(self, results=keep(self.results), index=keep(self.index), loop=keep(self.loop),
                       practice=keep(self.practice), notes=list(self.notes))

    def seasons_before(self, season: int) -> "History":
        """Only the seasons before ``season`` (what a model forecasting that season may be fitted on)."""
        return self.before(season, 0)

    def race(self, rid: str) -> pd.Series:
        """The index row of a race id ("2024-30"); a clear error for an unknown race."""
        season, race = parse_race_id(rid)
        rows = self.index[(self.index["season"] == season) & (self.index["race"] == race)]
        if rows.empty:
            first, last = self.index["race_id"].iloc[0], self.index["race_id"].iloc[-1]
            raise DataError(f"race {rid} is not in the history ({first} to {last})")
        return rows.iloc[0]

    @cached_property
    def seasons(self) -> list[int]:
        return sorted(self.index["season"].unique().tolist())

    @cached_property
    def track_of(self) -> dict[str, str]:
        """Every known spelling of a facility (lower case) -> track_id."""
        return track_lookup(self.aliases if self.aliases is not None else load_track_ids())

    @cached_property
    def prefix_hashes(self) -> dict[str, str]:
        """race_id -> a hash of every race strictly before it (results, index, loop, practice):
        what a value derived from the races before a race depends on."""
        import hashlib

        per_race: dict[str, int] = {}
        for df in (self.results, self.index, self.loop, self.practice):
            if not len(df):
                continue
            h = pd.util.hash_pandas_object(df.reset_index(drop=True), index=False).to_numpy()
            sums = pd.Series(h, dtype="uint64").groupby(df["race_id"].to_numpy()).sum()
            for rid, v in sums.items():
                per_race[rid] = (per_race.get(rid, 0) + int(v)) % (1 << 64)
        out, chain = {}, hashlib.sha256()
        for rid in self.index["race_id"]:
            out[rid] = chain.hexdigest()[:16]
            chain.update(f"{rid}:{per_race.get(rid, 0)};".encode())
        return out

    def fingerprint(self) -> str:
        """A short hash of every race's data (results, index, loop, practice): what a fit depends on."""
        import hashlib

        h = hashlib.sha256(f"{self.series};cross={self.cross_series};".encode())
        for df in (self.results, self.index, self.loop, self.practice):
            h.update(pd.util.hash_pandas_object(df.reset_index(drop=True), index=False).to_numpy().tobytes())
            h.update(",".join(map(str, df.columns)).encode())
        return h.hexdigest()[:16]


def other_series_drivers(data_dir: Path, series: str) -> set[str]:
    """The drivers of the other series' shipped results (one naming across the series)."""
    out: set[str] = set()
    for s in SERIES:
        path = series_data_dir(s, data_dir) / "results.parquet"
        if s != series and path.exists():
            out |= set(pd.read_parquet(path, columns=["driver"])["driver"])
    return out


def load_schedule(data_dir: Path = DATA_DIR) -> pd.DataFrame | None:
    """A series' published schedules (schedule.csv in its data folder): season, race, date, track, track_id, race name."""
    path = data_dir / "schedule.csv"
    if not path.exists():
        return None
    df = pd.read_csv(path, dtype={"track_id": str})
    df["date"] = pd.to_datetime(df["date"])
    return df


def load_tracks(data_dir: Path = DATA_DIR, series: str | None = None) -> pd.DataFrame:
    """One row per track of a series (``data_dir`` is its data folder, or the top one with
    ``series``): id, name, length, surface, current track type and analyst priors."""
    folder = series_data_dir(series, data_dir) if series is not None else data_dir
    return pd.read_parquet(folder / "tracks.parquet")


def load_dk_points_reference(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """DraftKings points computed by an independent public project (crummypicks) with its inputs."""
    return pd.read_parquet(data_dir / "reference" / "dk_points_crummypicks_2022_2024.parquet")


def race_field_size(season: int | None, track_id: str | None = None, race: int | None = None,
                    race_name: str | None = None, data_dir: Path = DATA_DIR, series: str = "cup") -> tuple[int, str]:
    """The most cars that start a race of a series (data/field_sizes.csv) and the rule that says so.

    The most specific matching row of the series wins: a row naming a track applies when the
    track matches and either the race number or the race name (case-insensitive substring) does,
    and beats a row without one; among those, the narrowest season range wins. Without a season,
    the current rules (the latest season listed) apply."""
    rules = pd.read_csv(data_dir / "field_sizes.csv", dtype={"track_id": str, "race_name": str, "series": str})
    rules = rules[rules["series"].fillna("cup") == series]
    year = season if season is not None else int(rules["from_season"].max())
    best: tuple[tuple[int, float], int, str] | None = None
    for r in rules.itertuples():
        if (not pd.isna(r.from_season) and year < r.from_season) or (not pd.isna(r.to_season) and year > r.to_season):
            continue
        specific = 0
        if isinstance(r.track_id, str) and r.track_id:
            named = isinstance(r.race_name, str) and race_name and r.race_name.lower() in race_name.lower()
            numbered = not pd.isna(r.race) and race is not None and int(r.race) == int(race)
            if track_id != r.track_id or not (named or numbered):
                continue
            specific = 1
        span = (r.to_season if not pd.isna(r.to_season) else 1e9) - (r.from_season if not pd.isna(r.from_season) else -1e9)
        rank = (specific, -float(span))
        if best is None or rank > best[0]:
            best = (rank, int(r.field_size), str(r.source))
    if best is None:
        raise DataError(f"data/field_sizes.csv has no {series} rule for season {year}")
    return best[1], best[2]


def salary_files(data_dir: Path = DATA_DIR, series: str | None = None) -> list[Path]:
    """The shipped real salary files (DraftKings and FanDuel, 2026), of one series when given."""
    files = sorted(p for p in (data_dir / "salaries").glob("*.csv") if p.name != "manifest.csv")
    if series is None:
        return files
    of = salary_manifest(data_dir)["series"].fillna("cup")
    return [p for p in files if of.get(p.name, "cup") == series]


def salary_manifest(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """Race, date, track and scheduled laps of each shipped salary file."""
    df = pd.read_csv(data_dir / "salaries" / "manifest.csv", dtype={"race_length": "Int64"})
    return df.set_index("file")
