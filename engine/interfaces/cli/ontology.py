"""`pitwall ontology build | sync | rules`."""

from __future__ import annotations

from pathlib import Path

import typer

from engine.interfaces.cli.common import console, err, fail, onto_app, progress_bar


@onto_app.command("build")
def ontology_build(shipped: bool = typer.Option(False, "--shipped", help="rebuild the package's data/ontology from the shipped "
                                                                        "seasons only (maintainers)")) -> None:
    """Build the embedded ontology from the three series' histories, keeping its rules: shipped plus
    added seasons into the state directory (the ontology then in use), or with --shipped the package's own."""
    import time

    from engine.core.paths import DATA_DIR
    from engine.core.series import SERIES
    from engine.core.settings import get_settings
    from engine.data.history import History
    from engine.dfs.ontology.embedded import EmbeddedOntology
    from engine.dfs.ontology.model import build_ontology

    root = DATA_DIR / "ontology" if shipped else Path(get_settings().state_dir) / "ontology"
    rules = EmbeddedOntology().rules()
    repo = EmbeddedOntology(root)
    t = time.perf_counter()
    with progress_bar("Building the ontology") as cb:
        onto = build_ontology([History.load(state_dir=False if shipped else None, series=s) for s in SERIES], rules)
        cb(0.5)
        counts = repo.write(onto)
        cb(1.0)
    console.print(f"built {repo.describe()} in {time.perf_counter() - t:.2f} s: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@onto_app.command("sync")
def ontology_sync(
    neo4j: str = typer.Option(..., "--neo4j", help="Bolt URI, e.g. bolt://127.0.0.1:7687"),
    user: str = typer.Option(None, envvar="PITWALL_NEO4J_USER"),
    password: str = typer.Option(None, envvar="PITWALL_NEO4J_PASSWORD"),
) -> None:
    """Write the whole embedded ontology to Neo4j (batched UNWIND ... MERGE; idempotent)."""
    import time

    from engine.dfs.ontology import OntologyUnavailable
    from engine.dfs.ontology.embedded import EmbeddedOntology
    from engine.dfs.ontology.neo4j_backend import Neo4jOntology

    onto = EmbeddedOntology().read_all()
    repo = Neo4jOntology(neo4j, user, password)
    try:
        version = repo.ping()
        t = time.perf_counter()
        with progress_bar(f"Syncing to {neo4j}") as cb:
            counts = repo.write(onto)
            cb(1.0)
        elapsed = time.perf_counter() - t
        differences = repo.read_all().differences(onto)
    except OntologyUnavailable as exc:
        fail(str(exc))
    finally:
        repo.close()
    console.print(f"synced to Neo4j {version} at {neo4j} in {elapsed:.2f} s ({repo.queries} queries): "
                  + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if differences:
        fail("read back differs: " + "; ".join(differences))
    console.print("read back: same facts as the embedded ontology")


@onto_app.command("rules")
def ontology_rules() -> None:
    """List the rules stored in the ontology."""
    from engine.dfs.constraints import describe_rule
    from engine.dfs.ontology import open_with_fallback

    repo, notice = open_with_fallback()
    if notice:
        err.print(f"[yellow]notice:[/yellow] {notice}")
    for r in repo.rules():
        console.print(f"{r.rule_id} [{'on' if r.enabled else 'off'}]: {describe_rule(r)}" + (f" - {r.description}" if r.description else ""))
