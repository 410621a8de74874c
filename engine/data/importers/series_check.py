"""Which series the files of a `data add` call hold: their names, `--series`, and their content.

The NASCAR feed exports name their series (cup-, xfinity-, nxs-, trucks-, truck-) and so do
nascaR.data's tables (cup_series, nxs_series, truck_series). A name and `--series` that disagree
are refused; so are files whose races and drivers are another series' (their dates and tracks on
that series' schedule, their drivers that series' regulars): a Truck file added as the Cup would
put Truck races into the Cup's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from engine.core.names import driver_slug
from engine.core.series import SHORT_NAMES, check_series, series_of_file
from engine.data.history import DataError, History


@dataclass(frozen=True)
class Evidence:
    """How well the files fit one series: races on its schedule and drivers it knows."""

    on_schedule: int
    races: int
    drivers_known: float  # share of the files' drivers who raced in the series in the three seasons before the files'

    def says(self, series: str) -> str:
        return (f"{SHORT_NAMES[series]}: {self.on_schedule} of {self.races} race(s) on its schedule, "
                f"{self.drivers_known:.0%} of the drivers raced in it in the three seasons before")


def file_races(frames: dict[str, tuple[pd.DataFrame, str]]) -> tuple[pd.DataFrame, list[str]]:
    """The races (season, race number or date, track name) and driver names of the results file."""
    if "feed results" in frames:
        df = frames["feed results"][0]
        races = df.drop_duplicates("race_id")
        out = pd.DataFrame({"season": pd.to_numeric(races["race_season"], errors="coerce"),
                            "date": pd.to_datetime(races["race_date"].astype(str).str[:10], errors="coerce"),
                            "race": pd.NA, "track": races["track_name"].astype(str).str.strip()})
        return out, df["driver_fullname"].dropna().astype(str).tolist()
    if "nascaR.data results" in frames:
        df = frames["nascaR.data results"][0]
        races = df.drop_duplicates(["Season", "Race"])
        out = pd.DataFrame({"season": pd.to_numeric(races["Season"], errors="coerce"), "date": pd.NaT,
                            "race": pd.to_numeric(races["Race"], errors="coerce"), "track": races["Track"].astype(str).str.strip()})
        return out, df["Driver"].dropna().astype(str).tolist()
    return pd.DataFrame(columns=["season", "date", "race", "track"]), []


def evidence(frames: dict[str, tuple[pd.DataFrame, str]], histories: dict[str, History]) -> dict[str, Evidence]:
    races, names = file_races(frames)
    out = {}
    first = int(races["season"].min()) if len(races) and races["season"].notna().any() else None
    for code, h in histories.items():
        sched = h.schedule if h.schedule is not None else pd.DataFrame(columns=["season", "race", "date", "track_id"])
        hits = 0
        for r in races.itertuples():
            tid = h.track_of.get(str(r.track).lower())
            if pd.notna(r.date):
                near = sched[(sched["date"] - r.date).abs() <= pd.Timedelta(days=1)]
                hits += bool(len(near)) and (tid is None or tid in set(near["track_id"]))
            elif pd.notna(r.race):
                row = sched[(sched["season"] == r.season) & (sched["race"] == r.race)]
                hits += bool(len(row)) and tid is not None and tid == row["track_id"].iloc[0]
        known = 0.0
        if first is not None and names:
            recent = set(h.results.loc[h.results["season"].between(first - 3, first - 1), "driver_id"])
            ids = {driver_slug(h.names.canonical(n) or n) for n in names}
            known = len(ids & recent) / len(ids)
        out[code] = Evidence(int(hits), len(races), known)
    return out


def choose_series(paths: list[str | Path], given: str | None, frames: dict[str, tuple[pd.DataFrame, str]],
                  histories: dict[str, History]) -> tuple[str, list[str]]:
    """The series of the files and how it was decided; DataError when names, ``given`` and content disagree."""
    named = {p: series_of_file(p) for p in paths}
    said = {s for s in named.values() if s}
    if len(said) > 1:
        listed = ", ".join(f"{Path(p).name} ({s})" for p, s in named.items() if s)
        raise DataError(f"nothing was added: the file names say more than one series ({listed}): add one series per call")
    by_name = said.pop() if said else None
    if given is not None:
        given = check_series(given, "--series")
        if by_name is not None and by_name != given:
            files = ", ".join(Path(p).name for p, s in named.items() if s)
            raise DataError(f"nothing was added: --series {given}, but the file names say {SHORT_NAMES[by_name]} ({files}): "
                            f"rename the files or give --series {by_name}")
    chosen = given or by_name
    ev = evidence(frames, histories)
    fits = sorted(ev, key=lambda c: (ev[c].on_schedule, ev[c].drivers_known), reverse=True)
    best = fits[0] if fits else None
    how = "--series" if given else ("the file names" if by_name else None)
    if chosen is None:
        chosen = best if best is not None and (ev[best].on_schedule or ev[best].drivers_known) else "cup"
        how = "the files' races and drivers" if chosen == best and best is not None else "the default (nothing says otherwise)"
    if best is not None and best != chosen and chosen in ev:
        mine, theirs = ev[chosen], ev[best]
        if theirs.on_schedule > mine.on_schedule and theirs.drivers_known >= mine.drivers_known + 0.25:
            raise DataError(f"nothing was added: the files are not {SHORT_NAMES[chosen]} races (series {chosen} from {how}): their "
                            f"drivers and tracks are the {SHORT_NAMES[best]} schedule's ({theirs.says(best)}; {mine.says(chosen)}): "
                            f"give --series {best}")
    report = [f"series {SHORT_NAMES[chosen]} ({chosen}), from {how}"
              + (f" ({ev[chosen].says(chosen)})" if chosen in ev and ev[chosen].races else "")]
    return chosen, report
