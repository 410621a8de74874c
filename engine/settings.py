"""Settings from the environment (prefix PITWALL_) or a .env file; embedded defaults need nothing."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PITWALL_", env_file=".env", extra="ignore")

    ontology_backend: Literal["embedded", "neo4j"] = "embedded"
    neo4j_uri: str = "bolt://127.0.0.1:7687"
    neo4j_user: str | None = None
    neo4j_password: str | None = None
    neo4j_timeout_s: float = 5.0
    state_dir: Path = Field(default=Path(".pitwall"), description="jobs database, saved slates, cached backtests")
    cors_origins: list[str] = Field(default_factory=list)
    rate_limit_per_minute: int = 120
    max_body_bytes: int = 1_000_000
    job_workers: int = Field(default=1, ge=1, le=16, description="jobs running at once (each uses the cores in numpy)")
    job_retention_days: float = Field(default=30.0, gt=0, description="finished jobs older than this are deleted (at start and daily)")
    webhook_allow: list[str] = Field(default_factory=list, description="hosts or networks (CIDR) webhooks may reach although "
                                     "they are loopback, private, link-local or this server's own addresses")
    trusted_proxies: list[str] = Field(default_factory=list, description="addresses of reverse proxies whose X-Forwarded-For "
                                       "is believed (none by default: the client address is the connection's)")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
