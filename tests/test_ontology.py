"""One contract suite for every ontology backend (embedded files and a real Neo4j 5)."""

import time

import pytest

from engine.core.contracts import Rule
from engine.core.paths import DATA_DIR
from engine.core.series import SERIES
from engine.core.settings import Settings
from engine.data.history import History
from engine.data.slates import build_slate, shipped_salary_slate
from engine.dfs.constraints import ConstraintCompiler
from engine.dfs.ontology import OntologyUnavailable, open_with_fallback
from engine.dfs.ontology.embedded import EmbeddedOntology
from engine.dfs.ontology.model import build_ontology, default_rules


@pytest.fixture(scope="session")
def built():
    return build_ontology([History.load(state_dir=False, series=s) for s in SERIES], default_rules(DATA_DIR))


@pytest.fixture(scope="session")
def neo4j_repo(neo4j_server, built, report):
    from engine.dfs.ontology.neo4j_backend import Neo4jOntology

    repo = Neo4jOntology(neo4j_server["uri"])
    records, _, _ = repo._run("MATCH (n) RETURN count(n) AS n")
    state = "an empty database" if records[0]["n"] == 0 else "a database already synced"
    t = time.perf_counter()
    repo.write(built)
    report.append(f"sync of the whole shipped history to Neo4j ({state}): {time.perf_counter() - t:.1f} s ({repo.queries} queries)")
    yield repo
    repo.close()


@pytest.fixture(params=["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def repo(request, built, tmp_path):
    if request.param == "embedded":
        r = EmbeddedOntology(tmp_path / "ontology")
        r.write(built)
        yield r
        return
    r = request.getfixturevalue("neo4j_repo")
    yield r
    r.save_rules(built.rules)  # leave the shared server as the session found it


def test_read_back_equal_facts(repo, built):
    assert repo.read_all().differences(built) == []
    counts = repo.read_all().counts()
    assert counts["finished"] == 15341 + 14055 + 8641 and counts["races"] == 396 + 363 + 254 and counts["rules"] == 1
    assert counts["series"] == 3 and repo.read_all().races.groupby("series").size().to_dict() == {"cup": 396, "nxs": 363, "truck": 254}


def test_resync_is_idempotent(repo, built):
    before = repo.read_all()
    repo.write(built)
    repo.write(built)
    after = repo.read_all()
    assert after.differences(before) == [] and after.counts() == before.counts()
    if repo.backend == "neo4j":
        records, _, _ = repo._run("MATCH (n) RETURN count(n) AS nodes")
        rels, _, _ = repo._run("MATCH ()-[r]->() RETURN count(r) AS rels")
        c = built.counts()
        nodes = sum(c[k] for k in ("series", "drivers", "teams", "manufacturers", "tracks", "track_types", "races", "sites", "rules"))
        assert records[0]["nodes"] == nodes
        edges = sum(c[k] for k in ("drives_for", "runs", "at", "is_type", "finished")) + c["races"] + 1  # + IN_SERIES, the rule's APPLIES_TO
        assert rels[0]["rels"] == edges


def test_slate_facts_in_one_round_trip(repo):
    ids = ["kyle-larson", "denny-hamlin", "john-hunter-nemechek", "connor-zilisch"]
    before = getattr(repo, "queries", 0)
    facts = repo.slate_facts(ids, "atlanta", 2024, "dk")
    if repo.backend == "neo4j":
        assert repo.queries - before == 1
    assert facts.track_type == "superspeedway"
    assert facts.drivers["kyle-larson"] == {"name": "Kyle Larson", "team": "Hendrick Motorsports", "manufacturer": "Chevrolet", "season": 2024}
    assert facts.drivers["denny-hamlin"]["manufacturer"] == "Toyota"
    assert (facts.drivers.get("connor-zilisch") or {}).get("team") is None  # no Cup start by 2024
    assert facts.site == {"roster_size": 6, "salary_cap": 50000}
    assert [r.rule_id for r in facts.rules] == ["superspeedway-place-differential"]
    assert repo.slate_facts(ids, "atlanta", 2021, "fd").track_type == "intermediate"
    assert repo.slate_facts(ids, "atlanta", 2026, "fd").site == {"roster_size": 5, "salary_cap": 50000}
    assert repo.slate_facts(["kyle-larson"], "atlanta", 2016, "dk").drivers["kyle-larson"]["team"] == "Chip Ganassi Racing"


def test_one_driver_in_every_series_with_each_series_team(repo):
    """Driver ids are shared across the series; teams and makes are per series (a Cup driver's NXS team is his NXS one)."""
    teams = {s: repo.slate_facts(["connor-zilisch"], "bristol", 2025, "dk", s).drivers["connor-zilisch"]["team"] for s in SERIES}
    assert teams == {"cup": "Trackhouse Racing", "nxs": "JR Motorsports", "truck": "Spire Motorsports"}
    races = repo.read_all().races
    assert {"2025-9", "nxs:2025-9", "truck:2025-9"} <= set(races["race_id"])


def test_rules_round_trip(repo, built):
    extra = Rule(rule_id="penske-cap", kind="max_per_team", team="Team Penske", k=1, description="spread the Fords")
    lock = Rule(rule_id="lock-larson", kind="lock", drivers=["kyle-larson"], site="dk")
    repo.save_rules(built.rules + [extra, lock])
    assert [r.rule_id for r in repo.rules()] == ["lock-larson", "penske-cap", "superspeedway-place-differential"]
    assert repo.rules()[0] == lock
    repo.save_rules(built.rules)
    assert repo.rules() == built.rules


def test_parameters_not_spliced(repo, built):
    hostile = "kyle-larson'}) DETACH DELETE n //"
    facts = repo.slate_facts([hostile, "kyle-larson"], "daytona' OR 1=1", 2024, "dk")
    assert list(facts.drivers) == ["kyle-larson"] and facts.track_type is None
    assert repo.read_all().counts() == built.counts()


@pytest.mark.neo4j
def test_both_backends_same_spec_hash(history, built, neo4j_repo, tmp_path):
    emb = EmbeddedOntology(tmp_path / "onto")
    emb.write(built)
    rules = [Rule(rule_id="lead", kind="laps_led", drivers=["kyle-larson"], min=10),
             Rule(rule_id="toyota", kind="max_per_manufacturer", manufacturer="Toyota", k=2)]
    for slate in (build_slate("2024-10", history), shipped_salary_slate("dk_2026-04-12_race08_bristol.csv", history)):
        a = ConstraintCompiler(emb).compile(slate, "dk", rules)
        b = ConstraintCompiler(neo4j_repo).compile(slate, "dk", rules)
        assert a.canonical_json() == b.canonical_json()
        assert a.spec_hash == b.spec_hash and len(a.spec_hash) == 64


def test_unreachable_neo4j_names_the_uri_and_falls_back():
    from engine.dfs.ontology.neo4j_backend import Neo4jOntology

    uri = "bolt://127.0.0.1:9"
    repo = Neo4jOntology(uri, timeout_s=2)
    with pytest.raises(OntologyUnavailable, match="Neo4j at bolt://127.0.0.1:9 is unreachable"):
        repo.ping()
    with pytest.raises(OntologyUnavailable, match="bolt://127.0.0.1:9"):
        repo.slate_facts(["kyle-larson"], "daytona", 2024, "dk")
    fallback, notice = open_with_fallback(Settings(ontology_backend="neo4j", neo4j_uri=uri, neo4j_timeout_s=2))
    assert fallback.backend == "embedded" and "bolt://127.0.0.1:9" in notice and "embedded ontology" in notice


def test_shipped_embedded_ontology_is_current(built):
    """data/ontology is what `pitwall ontology build` makes from the shipped data."""
    assert EmbeddedOntology().read_all().differences(built) == []
