"""Neo4j 5 ontology backend, through the official neo4j Python driver.

Writes are batched ``UNWIND $rows AS row MERGE ...`` on keys with uniqueness constraints
(created idempotently); reading a slate's facts is one query. All Cypher is static text with
parameters: labels and relationship types are constants of this module, and nothing from user
input is spliced into a query string.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from engine.core.contracts import Rule
from engine.dfs.ontology import OntologyUnavailable
from engine.dfs.ontology.model import TABLES, Ontology, SlateFacts, team_id

BATCH = 5000

CONSTRAINTS = [
    "CREATE CONSTRAINT series_key IF NOT EXISTS FOR (n:Series) REQUIRE n.series_id IS UNIQUE",
    "CREATE CONSTRAINT driver_key IF NOT EXISTS FOR (n:Driver) REQUIRE n.driver_id IS UNIQUE",
    "CREATE CONSTRAINT team_key IF NOT EXISTS FOR (n:Team) REQUIRE n.team_id IS UNIQUE",
    "CREATE CONSTRAINT manufacturer_key IF NOT EXISTS FOR (n:Manufacturer) REQUIRE n.name IS UNIQUE",
    "CREATE CONSTRAINT track_key IF NOT EXISTS FOR (n:Track) REQUIRE n.track_id IS UNIQUE",
    "CREATE CONSTRAINT track_type_key IF NOT EXISTS FOR (n:TrackType) REQUIRE n.name IS UNIQUE",
    "CREATE CONSTRAINT race_key IF NOT EXISTS FOR (n:Race) REQUIRE n.race_id IS UNIQUE",
    "CREATE CONSTRAINT site_key IF NOT EXISTS FOR (n:Site) REQUIRE n.site_id IS UNIQUE",
    "CREATE CONSTRAINT rule_key IF NOT EXISTS FOR (n:Rule) REQUIRE n.rule_id IS UNIQUE",
]

NODE_WRITES = {
    "series": "UNWIND $rows AS row MERGE (n:Series {series_id: row.series_id}) SET n += row",
    "drivers": "UNWIND $rows AS row MERGE (n:Driver {driver_id: row.driver_id}) SET n += row",
    "teams": "UNWIND $rows AS row MERGE (n:Team {team_id: row.team_id}) SET n += row",
    "manufacturers": "UNWIND $rows AS row MERGE (n:Manufacturer {name: row.name})",
    "tracks": "UNWIND $rows AS row MERGE (n:Track {track_id: row.track_id}) SET n += row",
    "track_types": "UNWIND $rows AS row MERGE (n:TrackType {name: row.name})",
    "races": "UNWIND $rows AS row MERGE (n:Race {race_id: row.race_id}) SET n += row",
    "sites": "UNWIND $rows AS row MERGE (n:Site {site_id: row.site_id}) SET n += row",
}
REL_WRITES = {
    "drives_for": (
        "UNWIND $rows AS row MATCH (d:Driver {driver_id: row.driver_id}) MATCH (t:Team {team_id: row.team_id}) "
        "MERGE (d)-[r:DRIVES_FOR {series: row.series, season: row.season}]->(t) SET r.races = row.races, r.last_race = row.last_race"
    ),
    "runs": (
        "UNWIND $rows AS row MATCH (t:Team {team_id: row.team_id}) MATCH (m:Manufacturer {name: row.manufacturer}) "
        "MERGE (t)-[:RUNS {series: row.series, season: row.season}]->(m)"
    ),
    "in_series": (
        "UNWIND $rows AS row MATCH (r:Race {race_id: row.race_id}) MATCH (s:Series {series_id: row.series}) MERGE (r)-[:IN_SERIES]->(s)"
    ),
    "at": "UNWIND $rows AS row MATCH (r:Race {race_id: row.race_id}) MATCH (t:Track {track_id: row.track_id}) MERGE (r)-[:AT]->(t)",
    "is_type": (
        "UNWIND $rows AS row MATCH (t:Track {track_id: row.track_id}) MATCH (tt:TrackType {name: row.track_type}) "
        "MERGE (t)-[r:IS_TYPE {from_season: row.from_season}]->(tt) SET r.to_season = row.to_season"
    ),
    "finished": (
        "UNWIND $rows AS row MATCH (d:Driver {driver_id: row.driver_id}) MATCH (r:Race {race_id: row.race_id}) "
        "MERGE (d)-[f:FINISHED]->(r) SET f.start = row.start, f.finish = row.finish, f.laps_led = row.laps_led, "
        "f.fastest_laps = row.fastest_laps, f.status = row.status"
    ),
}
READS = {
    "series": "MATCH (n:Series) RETURN n.series_id AS series_id, n.name AS name",
    "drivers": "MATCH (n:Driver) RETURN n.driver_id AS driver_id, n.name AS name",
    "teams": "MATCH (n:Team) RETURN n.team_id AS team_id, n.name AS name",
    "manufacturers": "MATCH (n:Manufacturer) RETURN n.name AS name",
    "tracks": "MATCH (n:Track) RETURN n.track_id AS track_id, n.name AS name, n.length_mi AS length_mi, n.surface AS surface",
    "track_types": "MATCH (n:TrackType) RETURN n.name AS name",
    "races": (
        "MATCH (n:Race) OPTIONAL MATCH (n)-[:IN_SERIES]->(s:Series) RETURN n.race_id AS race_id, s.series_id AS series, "
        "n.season AS season, n.race AS race, n.name AS name, n.date AS date, n.laps AS laps"
    ),
    "sites": "MATCH (n:Site) RETURN n.site_id AS site_id, n.name AS name, n.roster_size AS roster_size, n.salary_cap AS salary_cap",
    "drives_for": (
        "MATCH (d:Driver)-[r:DRIVES_FOR]->(t:Team) RETURN d.driver_id AS driver_id, t.team_id AS team_id, "
        "r.series AS series, r.season AS season, r.races AS races, r.last_race AS last_race"
    ),
    "runs": (
        "MATCH (t:Team)-[r:RUNS]->(m:Manufacturer) RETURN t.team_id AS team_id, m.name AS manufacturer, r.series AS series, "
        "r.season AS season"
    ),
    "at": "MATCH (r:Race)-[:AT]->(t:Track) RETURN r.race_id AS race_id, t.track_id AS track_id",
    "is_type": (
        "MATCH (t:Track)-[r:IS_TYPE]->(tt:TrackType) RETURN t.track_id AS track_id, tt.name AS track_type, "
        "r.from_season AS from_season, r.to_season AS to_season"
    ),
    "finished": (
        "MATCH (d:Driver)-[f:FINISHED]->(r:Race) RETURN d.driver_id AS driver_id, r.race_id AS race_id, f.start AS start, "
        "f.finish AS finish, f.laps_led AS laps_led, f.fastest_laps AS fastest_laps, f.status AS status"
    ),
}
RULES_DELETE = "MATCH (r:Rule) WHERE NOT r.rule_id IN $ids DETACH DELETE r"
RULES_WRITE = (
    "UNWIND $rows AS row MERGE (r:Rule {rule_id: row.rule_id}) SET r = row "
    "WITH r, row OPTIONAL MATCH (r)-[a:APPLIES_TO]->() DELETE a "
    "WITH DISTINCT r, row "
    "CALL (r, row) { OPTIONAL MATCH (se:Series {series_id: row.series}) FOREACH (_ IN CASE WHEN se IS NULL THEN [] ELSE [1] END | MERGE (r)-[:APPLIES_TO]->(se)) } "
    "CALL (r, row) { OPTIONAL MATCH (tt:TrackType {name: row.track_type}) FOREACH (_ IN CASE WHEN tt IS NULL THEN [] ELSE [1] END | MERGE (r)-[:APPLIES_TO]->(tt)) } "
    "CALL (r, row) { OPTIONAL MATCH (s:Site {site_id: row.site}) FOREACH (_ IN CASE WHEN s IS NULL THEN [] ELSE [1] END | MERGE (r)-[:APPLIES_TO]->(s)) } "
    "CALL (r, row) { OPTIONAL MATCH (t:Team {team_id: row.team_key}) FOREACH (_ IN CASE WHEN t IS NULL THEN [] ELSE [1] END | MERGE (r)-[:APPLIES_TO]->(t)) } "
    "CALL (r, row) { OPTIONAL MATCH (m:Manufacturer {name: row.manufacturer}) FOREACH (_ IN CASE WHEN m IS NULL THEN [] ELSE [1] END | MERGE (r)-[:APPLIES_TO]->(m)) } "
    "CALL (r, row) { UNWIND coalesce(row.drivers, []) AS did MATCH (d:Driver {driver_id: did}) MERGE (r)-[:APPLIES_TO]->(d) } "
    "REMOVE r.team_key"
)
RULES_READ = "MATCH (r:Rule) RETURN properties(r) AS rule"
SLATE_FACTS = """
CALL () {
  OPTIONAL MATCH (:Track {track_id: $track_id})-[r:IS_TYPE]->(tt:TrackType)
  WITH tt, r ORDER BY (r.from_season <= $season) DESC, r.from_season DESC
  RETURN collect(tt.name)[0] AS track_type
}
CALL () {
  UNWIND $driver_ids AS id
  MATCH (d:Driver {driver_id: id})
  OPTIONAL MATCH (d)-[df:DRIVES_FOR]->(tm:Team) WHERE df.season <= $season AND df.series = $series
  WITH d, df, tm ORDER BY df.season DESC, df.races DESC, df.last_race DESC
  WITH d, collect({team_id: tm.team_id, team: tm.name, season: df.season})[0] AS latest
  OPTIONAL MATCH (:Team {team_id: latest.team_id})-[:RUNS {series: $series, season: latest.season}]->(m:Manufacturer)
  WITH d, latest, m ORDER BY m.name
  WITH d, latest, collect(m.name)[0] AS make
  RETURN collect({driver_id: d.driver_id, name: d.name, team: latest.team, season: latest.season, manufacturer: make}) AS drivers
}
CALL () {
  OPTIONAL MATCH (s:Site {site_id: $site})
  RETURN s {.roster_size, .salary_cap} AS site
}
CALL () {
  OPTIONAL MATCH (ru:Rule)
  RETURN collect(properties(ru)) AS rules
}
RETURN track_type, drivers, site, rules
"""


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain Python values (numpy scalars and missing values converted)."""
    out = []
    for row in df.to_dict("records"):
        clean = {}
        for k, v in row.items():
            if isinstance(v, np.generic):
                v = v.item()
            if v is pd.NA or (isinstance(v, float) and math.isnan(v)):
                v = None
            clean[k] = v
        out.append(clean)
    return out


def _rule_row(rule: Rule) -> dict[str, Any]:
    row = {k: v for k, v in rule.model_dump(mode="json").items() if v is not None and v != []}
    row["team_key"] = team_id(rule.team) if rule.team else None
    return row


class Neo4jOntology:
    backend = "neo4j"

    def __init__(self, uri: str, user: str | None = None, password: str | None = None, timeout_s: float = 5.0, database: str | None = None):
        from neo4j import GraphDatabase

        self.uri = uri
        self.database = database
        auth = (user, password) if user else None
        self._driver = GraphDatabase.driver(uri, auth=auth, connection_timeout=timeout_s, max_transaction_retry_time=timeout_s)
        self.queries = 0  # round trips made, for tests and diagnostics

    def describe(self) -> str:
        return f"neo4j ({self.uri})"

    def close(self) -> None:
        self._driver.close()

    def _run(self, query: str, **params):
        from neo4j.exceptions import Neo4jError, ServiceUnavailable

        self.queries += 1
        try:
            return self._driver.execute_query(query, parameters_=params, database_=self.database)
        except (ServiceUnavailable, OSError) as exc:
            raise OntologyUnavailable(f"Neo4j at {self.uri} is unreachable: {exc}") from exc
        except Neo4jError as exc:
            raise OntologyUnavailable(f"Neo4j at {self.uri} refused a query: {exc.message}") from exc

    def ping(self) -> str:
        """The server version; OntologyUnavailable naming the URI when it cannot be reached."""
        try:
            self._driver.verify_connectivity()
        except Exception as exc:  # the driver raises several kinds for a refused or closed port
            raise OntologyUnavailable(f"Neo4j at {self.uri} is unreachable: {exc}") from exc
        records, _, _ = self._run("CALL dbms.components() YIELD versions RETURN versions[0] AS version")
        return records[0]["version"]

    def write(self, ontology: Ontology) -> dict[str, int]:
        onto = ontology.normalized()
        for stmt in CONSTRAINTS:
            self._run(stmt)
        tables = onto.tables()
        tables["in_series"] = tables["races"][["race_id", "series"]]
        for name, query in list(NODE_WRITES.items()) + list(REL_WRITES.items()):
            rows = _records(tables[name])
            for i in range(0, len(rows), BATCH):
                self._run(query, rows=rows[i : i + BATCH])
        self.save_rules(onto.rules)
        return onto.counts()

    def save_rules(self, rules: list[Rule]) -> None:
        self._run(RULES_DELETE, ids=[r.rule_id for r in rules])
        if rules:
            self._run(RULES_WRITE, rows=[_rule_row(r) for r in rules])

    def rules(self) -> list[Rule]:
        records, _, _ = self._run(RULES_READ)
        return sorted((Rule.model_validate(r["rule"]) for r in records), key=lambda r: r.rule_id)

    def read_all(self) -> Ontology:
        tables = {}
        for name, query in READS.items():
            records, _, keys = self._run(query)
            tables[name] = pd.DataFrame([r.data() for r in records], columns=TABLES[name])
        return Ontology(**tables, rules=self.rules()).normalized()

    def slate_facts(self, driver_ids: list[str], track_id: str | None, season: int | None, site: str | None,
                    series: str = "cup") -> SlateFacts:
        records, _, _ = self._run(SLATE_FACTS, driver_ids=list(driver_ids), track_id=track_id,
                                  season=9999 if season is None else int(season), site=site, series=series)
        rec = records[0]
        drivers = {
            d["driver_id"]: {"name": d["name"], "team": d["team"], "manufacturer": d["manufacturer"], "season": d["season"]}
            for d in rec["drivers"]
        }
        site_row = dict(rec["site"]) if rec["site"] else None
        rules = sorted((Rule.model_validate(r) for r in rec["rules"]), key=lambda r: r.rule_id)
        return SlateFacts(track_id=track_id, track_type=rec["track_type"], drivers=drivers, rules=rules, site=site_row)
