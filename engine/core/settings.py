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
    job_workers: int = Field(default=8, ge=1, le=64, description="jobs in flight at once (their tasks run on the Dask workers)")
    dask_scheduler: str | None = Field(default=None, description="tcp://HOST:PORT of an existing Dask cluster (default: a local one)")
    dask_workers: int | None = Field(default=None, ge=1, le=256, description="worker processes of the local cluster "
                                     "(default: cores - 1, at least 1)")
    dask_nice: int = Field(default=10, ge=0, le=19, description="scheduling priority (nice) of the local cluster's processes: "
                           "below the web process, so it keeps answering while simulations run")
    dask_idle_s: float = Field(default=60.0, gt=0, description="the local cluster stops after this long without a connected "
                               "Pitwall process")
    max_simulated_cells: int = Field(default=40_000_000, ge=1_000, description="most simulated races x cars one API job may "
                                     "ask for (1,000,000 races of a 40-car field)")
    max_contest_work: int = Field(default=2_000_000_000, ge=1_000, description="most contest entries x simulated races one API "
                                  "contest may ask for (about three minutes of one worker)")
    max_jobs_per_client: int = Field(default=4, ge=1, le=1000, description="runs one client may have pending or running at once")
    job_retention_days: float = Field(default=30.0, gt=0, description="finished jobs older than this are deleted (at start and daily)")
    webhook_allow: list[str] = Field(default_factory=list, description="hosts or networks (CIDR) webhooks may reach although "
                                     "they are loopback, private, link-local or this server's own addresses")
    trusted_proxies: list[str] = Field(default_factory=list, description="addresses of reverse proxies whose X-Forwarded-For "
                                       "is believed (none by default: the client address is the connection's)")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
