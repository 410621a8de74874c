"""Ontology repositories: one interface, an embedded (file) backend and a Neo4j 5 backend.

``open_repository(settings)`` gives the configured backend; ``open_with_fallback`` falls back
to the embedded ontology with a notice when Neo4j cannot be reached.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from engine.core.contracts import Rule
from engine.dfs.ontology.model import Ontology, SlateFacts


class OntologyUnavailable(RuntimeError):
    """The configured store cannot be reached; the message names it (URI) and the cause."""


@runtime_checkable
class OntologyRepository(Protocol):
    backend: str

    def write(self, ontology: Ontology) -> dict[str, int]:
        """Store the whole ontology (idempotent); returns rows written per table."""

    def read_all(self) -> Ontology:
        """Every fact stored."""

    def slate_facts(self, driver_ids: list[str], track_id: str | None, season: int | None, site: str | None,
                    series: str = "cup") -> SlateFacts:
        """Everything a slate needs, in one round trip."""

    def rules(self) -> list[Rule]:
        """The rules stored in the ontology."""

    def save_rules(self, rules: list[Rule]) -> None:
        """Replace the stored rules."""

    def describe(self) -> str:
        """Backend and location, for the app and the API health check."""


def open_repository(settings=None) -> OntologyRepository:
    from engine.core.settings import get_settings

    settings = settings or get_settings()
    if settings.ontology_backend == "neo4j":
        from engine.dfs.ontology.neo4j_backend import Neo4jOntology

        return Neo4jOntology(settings.neo4j_uri, settings.neo4j_user, settings.neo4j_password, settings.neo4j_timeout_s)
    from engine.dfs.ontology.embedded import EmbeddedOntology

    return EmbeddedOntology()


def open_with_fallback(settings=None) -> tuple[OntologyRepository, str | None]:
    """The configured repository, or the embedded one with a notice saying why."""
    from engine.dfs.ontology.embedded import EmbeddedOntology

    try:
        repo = open_repository(settings)
        if repo.backend == "neo4j":
            repo.ping()  # type: ignore[attr-defined]
        return repo, None
    except OntologyUnavailable as exc:
        return EmbeddedOntology(), f"{exc}; using the embedded ontology instead"


__all__ = ["Ontology", "OntologyRepository", "OntologyUnavailable", "SlateFacts", "open_repository", "open_with_fallback"]
