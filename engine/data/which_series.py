"""Which series a salary file is for: its date on the three schedules, then its drivers.

DraftKings and FanDuel run NASCAR slates of the Cup, the O'Reilly Auto Parts Series (NXS) and the
Truck Series with the same layout, so the file itself does not say. The date does when one series
races that day; when two do (NXS and Trucks often share a Friday or Saturday), the drivers do
when they clearly belong to one series (the share of the file's drivers who raced in that series
in the two seasons before the date); otherwise the file is refused, naming the candidates, until
``--series`` says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from engine.core.names import driver_slug
from engine.core.paths import DATA_DIR
from engine.core.series import SERIES, SHORT_NAMES, check_series, series_data_dir
from engine.data.history import DataError, History
from engine.data.salaries import SalaryFile

CLEAR_MARGIN = 0.25  # the drivers decide when one series' share beats the next by this much


@dataclass(frozen=True)
class SeriesChoice:
    series: str
    how: str  # what decided it, for the slate's notes


def driver_shares(salaries: SalaryFile, histories: dict[str, History], date: str | None) -> dict[str, float]:
    """The share of the file's drivers who raced in each series in the two seasons before ``date``."""
    out = {}
    for code, h in histories.items():
        res = h.results
        if date is not None:
            day = pd.Timestamp(date)
            idx = h.index[(h.index["date"] < day) & (h.index["season"] >= day.year - 2)]
            res = res[res["race_id"].isin(idx["race_id"])]
        recent = set(res["driver_id"])
        ids = [h.names.canonical(r.name) for r in salaries.rows]
        out[code] = sum(1 for c in ids if c is not None and driver_slug(c) in recent) / max(len(salaries.rows), 1)
    return out


def pick_series(salaries: SalaryFile, date: str | None, given: str | None = None, data_dir: Path = DATA_DIR,
                state_dir: Path | str | None = None, histories: dict[str, History] | None = None) -> SeriesChoice:
    """The series of a salary file (see the module docstring); DataError naming the candidates when
    the date and the drivers leave it open. ``given`` (--series) is taken as said."""
    if given is not None:
        code = check_series(given, "--series")
        return SeriesChoice(code, f"series {SHORT_NAMES[code]} (given)")
    if histories is None:
        histories = {s: History.load(data_dir, state_dir, series=s) for s in SERIES
                     if (series_data_dir(s, data_dir) / "results.parquet").exists()}
    day = pd.Timestamp(date) if date is not None else None
    races = {}
    if day is not None:
        for code, h in histories.items():
            sched = h.schedule
            hit = sched[sched["date"] == day] if sched is not None else sched
            if hit is not None and len(hit):
                races[code] = hit.iloc[0]
    shares = driver_shares(salaries, histories, date)
    pool = list(races) if races else list(histories)
    ranked = sorted(pool, key=lambda c: -shares[c])
    said = ", ".join(f"{SHORT_NAMES[c]} {shares[c]:.0%}" for c in ranked)
    n = len(salaries.rows)
    if len(races) == 1:
        code, r = next(iter(races.items()))
        return SeriesChoice(code, f"series {SHORT_NAMES[code]}: the only series racing on {date} (the {r['season']} "
                                  f"{SHORT_NAMES[code]} schedule: race {r['race']} at {r['track']})")
    clear = len(ranked) == 1 or shares[ranked[0]] - shares[ranked[1]] >= CLEAR_MARGIN
    if len(races) > 1:
        listed = "; ".join(f"{SHORT_NAMES[c]} race {r['race']} at {r['track']}" for c, r in races.items())
        if clear and shares[ranked[0]] > 0:
            return SeriesChoice(ranked[0], f"series {SHORT_NAMES[ranked[0]]}: {len(races)} series race on {date} ({listed}); "
                                           f"the drivers decide (share of the file's {n} drivers who raced in each series in "
                                           f"the last two seasons: {said})")
        raise DataError(f"the salary file's date {date} is ambiguous: {listed}; its drivers do not tell them apart ({said} of "
                        f"its {n} drivers raced in each in the last two seasons): give --series "
                        + " or --series ".join(races))
    if clear and shares[ranked[0]] > 0:
        why = f"no series races on {date}" if date else "the file has no date"
        return SeriesChoice(ranked[0], f"series {SHORT_NAMES[ranked[0]]}: {why}; the drivers decide ({said} of its {n} drivers "
                                       "raced in each in the last two seasons)")
    return SeriesChoice("cup", f"series Cup by default: {'no series races on ' + date if date else 'the file has no date'} and the "
                               f"drivers do not tell ({said}); give --series nxs or --series truck for another series")
