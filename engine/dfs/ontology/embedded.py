"""Embedded ontology backend: the tables as parquet files (and rules as JSON) under data/ontology."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from engine.core.contracts import Rule
from engine.core.paths import DATA_DIR
from engine.dfs.ontology.model import TABLES, Ontology, SlateFacts


def default_root() -> Path:
    """The ontology in use: the state directory's (built after `pitwall data add`) when there is
    one, else the shipped data/ontology."""
    from engine.core.settings import get_settings

    mine = Path(get_settings().state_dir) / "ontology"
    return mine if (mine / "races.parquet").exists() else DATA_DIR / "ontology"


class EmbeddedOntology:
    backend = "embedded"

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else default_root()
        self._cache: Ontology | None = None

    def describe(self) -> str:
        """Which ontology, without the server's paths: the shipped one, or the state directory's
        (built from the shipped plus added seasons); another folder by its name only."""
        from engine.core.settings import get_settings

        root = self.root.resolve()
        if root == (DATA_DIR / "ontology").resolve():
            return "embedded (shipped ontology)"
        state = Path(get_settings().state_dir).resolve()
        if root.is_relative_to(state):
            return f"embedded (state directory: {root.relative_to(state)})"
        return f"embedded ({root.name})"

    def write(self, ontology: Ontology) -> dict[str, int]:
        self.root.mkdir(parents=True, exist_ok=True)
        onto = ontology.normalized()
        for name, df in onto.tables().items():
            df.to_parquet(self.root / f"{name}.parquet", index=False)
        self.save_rules(onto.rules)
        self._cache = None
        return onto.counts()

    def read_all(self) -> Ontology:
        if self._cache is None:
            missing = [n for n in TABLES if not (self.root / f"{n}.parquet").exists()]
            if missing:
                raise FileNotFoundError(f"{self.root}: ontology tables {missing} are missing: run `pitwall ontology build`")
            tables = {n: pd.read_parquet(self.root / f"{n}.parquet") for n in TABLES}
            self._cache = Ontology(**tables, rules=self.rules()).normalized()
        return self._cache

    def rules(self) -> list[Rule]:
        path = self.root / "rules.json"
        if not path.exists():
            return []
        return [Rule.model_validate(r) for r in json.loads(path.read_text())]

    def save_rules(self, rules: list[Rule]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        data = [r.model_dump(mode="json") for r in sorted(rules, key=lambda r: r.rule_id)]
        (self.root / "rules.json").write_text(json.dumps(data, indent=1) + "\n")
        if self._cache is not None:
            self._cache.rules = sorted(rules, key=lambda r: r.rule_id)

    def slate_facts(self, driver_ids: list[str], track_id: str | None, season: int | None, site: str | None,
                    series: str = "cup") -> SlateFacts:
        o = self.read_all()
        season = season if season is not None else 9999
        track_type = None
        if track_id is not None:
            eras = o.is_type[o.is_type["track_id"] == track_id]
            if len(eras):
                eras = eras.assign(started=eras["from_season"] <= season).sort_values(["started", "from_season"], ascending=False)
                track_type = str(eras["track_type"].iloc[0])
        names = o.drivers.set_index("driver_id")["name"]
        teams = o.teams.set_index("team_id")["name"]
        df = o.drives_for[o.drives_for["driver_id"].isin(driver_ids) & (o.drives_for["season"] <= season)
                          & (o.drives_for["series"] == series)]
        df = df.sort_values(["driver_id", "season", "races", "last_race"], ascending=[True, False, False, False])
        latest = df.groupby("driver_id").head(1).set_index("driver_id")
        runs = o.runs[o.runs["series"] == series].sort_values("manufacturer").groupby(["team_id", "season"])["manufacturer"].first()
        drivers = {}
        for did in driver_ids:
            if did not in names.index:
                continue
            info = {"name": names[did], "team": None, "manufacturer": None, "season": None}
            if did in latest.index:
                row = latest.loc[did]
                info.update(team=teams[row["team_id"]], season=int(row["season"]),
                            manufacturer=runs.get((row["team_id"], int(row["season"]))))
            drivers[did] = info
        site_row = None
        if site is not None:
            s = o.sites[o.sites["site_id"] == site]
            if len(s):
                site_row = {"roster_size": int(s["roster_size"].iloc[0]), "salary_cap": int(s["salary_cap"].iloc[0])}
        return SlateFacts(track_id=track_id, track_type=track_type, drivers=drivers, rules=list(o.rules), site=site_row)
