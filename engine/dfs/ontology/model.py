"""The ontology as tables: nodes and relationships built from the shipped data.

Nodes: Series, Driver, Team, Manufacturer, Track, TrackType, Race, Site, Rule.
Relationships: DRIVES_FOR {series, season, races, last_race} (driver to team), RUNS {series,
season} (team to manufacturer), IN_SERIES (race to series), AT (race to track), IS_TYPE
{from_season, to_season} (track to track type), FINISHED {start, finish, laps_led,
fastest_laps, status} (driver to race), APPLIES_TO (rule to a series, track type, team,
manufacturer, driver or site).

One driver is one node in every series (NASCAR ids and names are shared). A Cup race keeps the
id Pitwall gives it everywhere ("2024-30"); a race of another series is "nxs:2024-30".

Both repository backends store exactly these tables; ``Ontology.equals`` compares two of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from engine.core.contracts import Rule
from engine.core.names import driver_slug
from engine.core.scoring import table as scoring_table
from engine.data.history import History

TABLES: dict[str, list[str]] = {
    "series": ["series_id", "name"],
    "drivers": ["driver_id", "name"],
    "teams": ["team_id", "name"],
    "manufacturers": ["name"],
    "tracks": ["track_id", "name", "length_mi", "surface"],
    "track_types": ["name"],
    "races": ["race_id", "series", "season", "race", "name", "date", "laps"],
    "sites": ["site_id", "name", "roster_size", "salary_cap"],
    "drives_for": ["driver_id", "team_id", "series", "season", "races", "last_race"],
    "runs": ["team_id", "manufacturer", "series", "season"],
    "at": ["race_id", "track_id"],
    "is_type": ["track_id", "track_type", "from_season", "to_season"],
    "finished": ["driver_id", "race_id", "start", "finish", "laps_led", "fastest_laps", "status"],
}
KEYS: dict[str, list[str]] = {
    "series": ["series_id"],
    "drivers": ["driver_id"], "teams": ["team_id"], "manufacturers": ["name"], "tracks": ["track_id"],
    "track_types": ["name"], "races": ["race_id"], "sites": ["site_id"],
    "drives_for": ["driver_id", "team_id", "series", "season"], "runs": ["team_id", "manufacturer", "series", "season"],
    "at": ["race_id"], "is_type": ["track_id", "from_season"], "finished": ["driver_id", "race_id"],
}
INT_COLUMNS = {"season", "race", "laps", "roster_size", "salary_cap", "races", "last_race", "from_season", "to_season",
               "start", "finish", "laps_led"}


def team_id(name: str) -> str:
    return driver_slug(name)


def ontology_race_id(series: str, race_id: str) -> str:
    """A race's id in the ontology: the Cup's as everywhere ("2024-30"), another series' prefixed ("nxs:2024-30")."""
    return race_id if series == "cup" else f"{series}:{race_id}"


@dataclass
class Ontology:
    series: pd.DataFrame
    drivers: pd.DataFrame
    teams: pd.DataFrame
    manufacturers: pd.DataFrame
    tracks: pd.DataFrame
    track_types: pd.DataFrame
    races: pd.DataFrame
    sites: pd.DataFrame
    drives_for: pd.DataFrame
    runs: pd.DataFrame
    at: pd.DataFrame
    is_type: pd.DataFrame
    finished: pd.DataFrame
    rules: list[Rule] = field(default_factory=list)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "rules"}

    def counts(self) -> dict[str, int]:
        out = {k: len(v) for k, v in self.tables().items()}
        out["rules"] = len(self.rules)
        return out

    def normalized(self) -> "Ontology":
        """Columns in order, canonical dtypes, rows sorted by key: comparable across backends."""
        out = {}
        for name, df in self.tables().items():
            d = df[TABLES[name]].copy()
            for c in d.columns:
                if c in INT_COLUMNS:
                    d[c] = pd.to_numeric(d[c]).astype("int64")
                elif c == "fastest_laps":
                    d[c] = pd.to_numeric(d[c]).astype("Int64")
                elif c == "length_mi":
                    d[c] = pd.to_numeric(d[c]).astype("float64").round(4)
                else:
                    d[c] = d[c].astype(str)
            out[name] = d.sort_values(KEYS[name]).reset_index(drop=True)
        return Ontology(**out, rules=sorted(self.rules, key=lambda r: r.rule_id))

    def differences(self, other: "Ontology") -> list[str]:
        """Tables (and rules) that differ; empty when both hold the same facts."""
        a, b = self.normalized(), other.normalized()
        diffs = []
        for name in TABLES:
            x, y = getattr(a, name), getattr(b, name)
            if len(x) != len(y) or not x.equals(y):
                diffs.append(f"{name}: {len(x)} vs {len(y)} rows" + ("" if len(x) != len(y) else " (values differ)"))
        if [r.model_dump() for r in a.rules] != [r.model_dump() for r in b.rules]:
            diffs.append("rules differ")
        return diffs


def default_rules(data_dir: Path) -> list[Rule]:
    path = data_dir / "ontology" / "rules.json"
    if not path.exists():
        return []
    return [Rule.model_validate(r) for r in json.loads(path.read_text())]


def build_ontology(histories: History | list[History], rules: list[Rule]) -> Ontology:
    """The ontology of the series' histories (shipped, and any races added to them)."""
    from engine.core.series import SERIES_NAMES

    histories = [histories] if isinstance(histories, History) else list(histories)
    parts = []
    for h in histories:
        ordinal = pd.Series(np.arange(len(h.index)), index=h.index["race_id"])
        res = h.results.assign(team_id=h.results["team"].map(team_id), ordinal=h.results["race_id"].map(ordinal), series=h.series)
        fl = h.loop.set_index(["race_id", "driver_id"])["fastest_laps"]
        res["fastest_laps"] = pd.array(fl.reindex(pd.MultiIndex.from_frame(res[["race_id", "driver_id"]])).to_numpy(), dtype="Int64")
        idx = h.index.assign(series=h.series)
        res["race_id"] = [ontology_race_id(h.series, r) for r in res["race_id"]]
        idx["race_id"] = [ontology_race_id(h.series, r) for r in idx["race_id"]]
        parts.append((h, res, idx))
    res = pd.concat([p[1] for p in parts], ignore_index=True)
    idx = pd.concat([p[2] for p in parts], ignore_index=True)
    order = res.assign(_s=res["series"].map({s: i for i, s in enumerate(SERIES_NAMES)})).sort_values(["season", "race", "_s"])
    drivers = order.groupby("driver_id", as_index=False)["driver"].last().rename(columns={"driver": "name"})
    teams = order.groupby("team_id", as_index=False)["team"].last().rename(columns={"team": "name"})
    manufacturers = pd.DataFrame({"name": sorted(res["make"].unique())})
    tr = pd.concat([p[0].tracks for p in parts], ignore_index=True).drop_duplicates("track_id")
    tracks = pd.DataFrame({"track_id": tr["track_id"], "name": tr["track"], "length_mi": tr["length_mi"], "surface": tr["surface"]})
    track_types = pd.DataFrame({"name": sorted(idx["track_type"].unique())})
    series = pd.DataFrame({"series_id": [h.series for h in histories], "name": [SERIES_NAMES[h.series] for h in histories]})
    races = pd.DataFrame(
        {
            "race_id": idx["race_id"], "series": idx["series"], "season": idx["season"], "race": idx["race"], "name": idx["race_name"],
            "date": idx["date"].dt.strftime("%Y-%m-%d").fillna(""), "laps": idx["race_laps"].astype(int),
        }
    )
    sites = pd.DataFrame(
        [{"site_id": s, "name": scoring_table(s).name, "roster_size": scoring_table(s).roster_size,
          "salary_cap": scoring_table(s).salary_cap} for s in ("dk", "fd")]
    )
    drives_for = res.groupby(["driver_id", "team_id", "series", "season"], as_index=False).agg(races=("race", "size"),
                                                                                             last_race=("ordinal", "max"))
    runs = res.groupby(["team_id", "make", "series", "season"], as_index=False).size().rename(columns={"make": "manufacturer"})
    runs = runs[["team_id", "manufacturer", "series", "season"]]
    at = idx[["race_id", "track_id"]].copy()
    eras = idx.groupby(["track_id", "track_type"], as_index=False).agg(from_season=("season", "min"), to_season=("season", "max"))
    is_type = eras[["track_id", "track_type", "from_season", "to_season"]]
    finished = pd.DataFrame(
        {
            "driver_id": res["driver_id"], "race_id": res["race_id"], "start": res["start"], "finish": res["finish"],
            "laps_led": res["led"], "fastest_laps": res["fastest_laps"], "status": res["status"],
        }
    )
    return Ontology(
        series=series, drivers=drivers, teams=teams, manufacturers=manufacturers, tracks=tracks, track_types=track_types,
        races=races, sites=sites, drives_for=drives_for, runs=runs, at=at, is_type=is_type, finished=finished, rules=list(rules),
    ).normalized()


@dataclass
class SlateFacts:
    """What the compiler needs from the ontology for one slate, read in one round trip."""

    track_id: str | None
    track_type: str | None
    drivers: dict[str, dict]  # driver_id -> {name, team, manufacturer, season} (latest at or before the season)
    rules: list[Rule]
    site: dict | None = None  # roster_size, salary_cap of the site
