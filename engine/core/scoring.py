"""DraftKings and FanDuel NASCAR scoring, as versioned data (data/scoring.json).

points = finish_points[finish] + place_differential * (start - finish)
         + per_lap_led * laps_led + per_fastest_lap * fastest_laps
         + per_lap_completed * laps_completed

Finishing positions past the published table (41st-43rd) score ``finish_points_beyond_table``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from engine.core.paths import DATA_DIR

SITES = ("dk", "fd")


@dataclass(frozen=True)
class ScoringTable:
    site: str
    name: str
    version: str
    source: str
    roster_size: int
    salary_cap: int
    finish_points: np.ndarray  # index 0 unused; index p = points for finishing p-th
    place_differential: float
    per_fastest_lap: float
    per_lap_led: float
    per_lap_completed: float


@lru_cache(maxsize=None)
def table(site: str) -> ScoringTable:
    """The scoring table of a site ('dk' or 'fd')."""
    site = str(getattr(site, "value", site)).lower()
    tables = json.loads((DATA_DIR / "scoring.json").read_text())
    if site not in SITES:
        raise ValueError(f"unknown site {site!r}: expected one of {', '.join(SITES)}")
    t = tables[site]
    finish = np.full(64, float(t["finish_points_beyond_table"]))
    finish[0] = np.nan
    finish[1 : len(t["finish_points"]) + 1] = t["finish_points"]
    finish.setflags(write=False)
    return ScoringTable(
        site=site,
        name=t["name"],
        version=t["version"],
        source=t["source"],
        roster_size=int(t["roster_size"]),
        salary_cap=int(t["salary_cap"]),
        finish_points=finish,
        place_differential=float(t["place_differential"]),
        per_fastest_lap=float(t["per_fastest_lap"]),
        per_lap_led=float(t["per_lap_led"]),
        per_lap_completed=float(t["per_lap_completed"]),
    )


def score(site: str, start, finish, laps_led, fastest_laps, laps_completed) -> np.ndarray:
    """Fantasy points of any-shaped integer arrays (broadcast together), rounded to cents.

    ``site`` is 'dk' (DraftKings Classic since 2021) or 'fd' (FanDuel). Positions start at 1.
    """
    t = table(site)
    start = np.asarray(start)
    finish = np.asarray(finish)
    if finish.size and (finish.min() < 1 or finish.max() >= len(t.finish_points)):
        raise ValueError(f"finishing positions must be in 1..{len(t.finish_points) - 1}")
    pts = t.finish_points[finish] + t.place_differential * (start - finish)
    pts = pts + t.per_lap_led * np.asarray(laps_led) + t.per_fastest_lap * np.asarray(fastest_laps)
    if t.per_lap_completed:
        pts = pts + t.per_lap_completed * np.asarray(laps_completed)
    return np.round(pts, 2)
