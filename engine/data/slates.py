"""Slates: a race with its drivers and the analyst-editable defaults, built without look-ahead.

For a shipped race ("SEASON-RACE") the slate has the real starting grid, teams, makes and car
numbers of that race (facts known before the green flag) and per-driver defaults derived only
from races strictly before it (``History.before``). For a salary file the defaults come from
every race before the slate's date, and the missing grid is flagged.

The defaults come from engine.data.form (how each is derived is said there); race length: the
scheduled laps when the source has them (2022 on; a pre-race fact), else the most common laps
of the last four races at the track in the history.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from engine.core.contracts import PitStrategy, Site, Slate, SlateDriver
from engine.core.names import driver_slug
from engine.core.paths import DATA_DIR
from engine.data.form import DERIVED, borrowed_note, derive_driver_params
from engine.data.history import (
    TRACK_TYPES,
    DataError,
    History,
    parse_race_id,
    race_field_size,
    salary_manifest,
)
from engine.data.salaries import SalaryFile, read_salary_file


def race_length_before(hist: History, track_id: str | None, scheduled: int | None) -> tuple[int | None, str]:
    """Race length in laps and how it was found (scheduled laps, or the track's recent races)."""
    if scheduled is not None and not pd.isna(scheduled):
        return int(scheduled), "scheduled laps"
    if track_id:
        prior = hist.index[hist.index["track_id"] == track_id].tail(4)
        if len(prior):
            laps = prior["race_laps"].astype(int).mode()
            return int(laps.max()), f"most common laps of the last {len(prior)} race(s) at {track_id}"
    return None, "unknown: enter the race length"


def weekend_ranks(history: History, rid: str) -> tuple[pd.Series, pd.Series]:
    """Practice and qualifying ranks of a race's drivers (pre-race information; empty when unknown)."""
    from engine.data.features import practice_ranks, qualifying_ranks

    prac = practice_ranks(history.practice[history.practice["race_id"] == rid])
    qual = qualifying_ranks(history.results[history.results["race_id"] == rid])
    return prac, qual


def _rank(ranks: pd.Series, driver_id: str) -> int | None:
    return int(ranks[driver_id]) if driver_id in ranks.index else None


def weekend_note(prac: pd.Series, qual: pd.Series) -> str:
    parts = [f"practice ranks for {len(prac)} driver(s)" if len(prac) else "no practice ranks",
             f"qualifying ranks for {len(qual)}" if len(qual) else "no qualifying speeds"]
    return "race weekend: " + ", ".join(parts) + " (enter practice ranks in the table when you have them)"


def build_slate(rid: str, history: History) -> Slate:
    """The slate of a shipped race: real grid, defaults derived only from earlier races."""
    race = history.race(rid)
    season, number = parse_race_id(rid)
    hist = history.before(season, number)
    grid = history.results[history.results["race_id"] == race["race_id"]].sort_values("start")
    params = derive_driver_params(hist, grid["driver_id"].tolist(), race["track_type"], until=race["date"])
    prac, qual = weekend_ranks(history, race["race_id"])
    length, how = race_length_before(hist, race["track_id"], race["sch_laps"])
    drivers = []
    for row in grid.itertuples():
        p = params.loc[row.driver_id]
        drivers.append(
            SlateDriver(
                driver_id=row.driver_id,
                name=row.driver,
                skill=float(p["skill"]),
                aggression=float(p["aggression"]),
                shadow_risk=float(p["shadow_risk"]),
                min_laps_led=0,
                max_laps_led=length,
                start_position=int(row.start),
                team=row.team,
                manufacturer=row.make,
                car_number=str(row.car),
                practice_rank=_rank(prac, row.driver_id),
                qualifying_rank=_rank(qual, row.driver_id),
                pit_strategy=PitStrategy.STANDARD,
                history_races=int(p["history_races"]),
                skill_from=p["borrowed_from"] or None,
                estimated=list(DERIVED) if p["history_races"] == 0 else [],
            )
        )
    notes = [f"race length {length} laps ({how})" if length else f"race length {how}", weekend_note(prac, qual),
             "a historical race has no salaries: it can be simulated and backtested; to build lineups enter salaries in "
             "the table or load a DraftKings / FanDuel salary file"]
    note = borrowed_note(hist, drivers, params)
    if note:
        notes.append(note)
    return Slate(
        slate_id=rid,
        series=history.series,
        season=season,
        race=number,
        race_name=str(race["race_name"]),
        date=None if pd.isna(race["date"]) else str(race["date"].date()),
        track_id=race["track_id"],
        track_type=race["track_type"],
        race_length=length,
        field_size=len(drivers),
        drivers=drivers,
        notes=notes,
    )


def nearest_races(history: History, date: str, k: int = 2) -> list[str]:
    """The scheduled races nearest a date, as "2026-04-12 Food City 500 at Bristol Motor Speedway (race 8)"."""
    if history.schedule is None or not len(history.schedule):
        return []
    sched = history.schedule.assign(gap=(history.schedule["date"] - pd.Timestamp(date)).abs())
    return [f"{r.date.date()} {r.race_name} at {r.track} (race {r.race} of {r.season})" for r in sched.nsmallest(k, "gap").itertuples()]


def track_unknown(slate: Slate, history: History) -> str | None:
    """Why a salary slate has no track, and what to give (--track, --date): None when it has one."""
    if slate.track_id is not None or slate.track_type is not None:
        return None
    if slate.date is None:
        return ("the salary file carries no race date (FanDuel player lists have none), so its race and track are unknown: give "
                "--date YYYY-MM-DD (the race is then found on the schedule) or --track TRACK_ID")
    near = nearest_races(history, slate.date)
    return (f"no race on the schedule on {slate.date}" + (f" (nearest: {'; '.join(near)})" if near else "")
            + ": give --date of the race, or --track TRACK_ID to use this date")


def schedule_race(history: History, date: str | None) -> pd.Series | None:
    """The scheduled points race on ``date`` (data/schedule.csv), or None."""
    if date is None or history.schedule is None:
        return None
    hits = history.schedule[history.schedule["date"] == pd.Timestamp(date)]
    return hits.iloc[0] if len(hits) else None


def slate_from_salaries(
    salaries: SalaryFile,
    history: History,
    *,
    date: str | None = None,
    track_id: str | None = None,
    race_length: int | None = None,
    race_name: str | None = None,
    slate_id: str | None = None,
) -> Slate:
    """A slate from a salary file: drivers matched to history names (unmatched reported),
    defaults from every race before ``date``.

    A date on the schedule names the race (track, name, round) when ``track_id`` is not given.
    When that race's results are in the history (shipped or added), its starting grid is
    pre-race information set by qualifying: the slate takes the real grid, and drivers of the
    salary file who did not start are marked out. Otherwise the grid is left to be estimated."""
    hist = history
    notes = []
    season = number = None
    sched = None
    if date is not None:
        date = check_race_date(date, history)
        day = pd.Timestamp(date)
        before = history.index[history.index["date"] < day]
        last = before.iloc[-1]
        hist = history.before(int(last["season"]), int(last["race"]) + 1)
        season = day.year
        sched = schedule_race(history, date)
        if sched is not None:
            season, number = int(sched["season"]), int(sched["race"])
            if track_id is None or track_id == sched["track_id"]:
                track_id = sched["track_id"]
                given = (salaries.game_info or "").split(f" {date[5:7]}/")[0].strip() or race_name
                race_name = str(sched["race_name"])  # one name for a race everywhere: the schedule's
                notes.append(f"matched the {season} schedule: race {number}, {sched['race_name']} at {sched['track']} on {date}"
                             + (f" (the salary file calls it {given!r})" if given and given.lower() != race_name.lower() else ""))
            else:
                notes.append(f"the {season} schedule has race {number} at {sched['track_id']} on {date}, not {track_id}: "
                             f"kept {track_id} as given")
                number = None
    track_type = None
    if track_id is not None:
        tracks = history.tracks.set_index("track_id")
        if track_id not in tracks.index:
            raise DataError(f"unknown track {track_id!r}; known: {', '.join(sorted(tracks.index))}")
        track_type = str(tracks.loc[track_id, "track_type"])
    elif date is not None and sched is None:
        near = nearest_races(history, date)
        notes.append(f"no race on the schedule on {date}" + (f" (nearest: {'; '.join(near)})" if near else "")
                     + ": choose the track (it sets the track type and race length) or check the date")
    else:
        notes.append("track unknown: choose the track (it sets the track type and race length)")
    matched: list[tuple[object, str | None]] = [(r, history.names.canonical(r.name)) for r in salaries.rows]
    ids = [driver_slug(c or r.name) for r, c in matched]
    params = derive_driver_params(hist, ids, track_type, until=date)
    race_row = None
    if number is not None:
        rows = history.index[(history.index["season"] == season) & (history.index["race"] == number)]
        race_row = rows.iloc[0] if len(rows) else None
    if race_length is None:
        race_length, how = race_length_before(hist, track_id, None if race_row is None else race_row["sch_laps"])
        notes.append(f"race length {race_length} laps ({how})" if race_length else f"race length {how}")
    grid = {}
    prac = qual = pd.Series(dtype="float64")
    if race_row is not None:
        real = history.results[history.results["race_id"] == race_row["race_id"]]
        grid = dict(zip(real["driver_id"], real["start"]))
        prac, qual = weekend_ranks(history, race_row["race_id"])
    drivers, unmatched, dns = [], [], []
    for (row, canonical), did in zip(matched, ids):
        p = params.loc[did]
        if canonical is None:
            hint = history.names.suggest(row.name)
            unmatched.append(f"{row.name} (line {row.line})" + (f": closest history names {', '.join(hint)}" if hint
                                                                  else ": no history in any series"))
        start = grid.get(did)
        out = bool(grid) and start is None
        if out:
            dns.append(canonical or row.name)
        estimated = ([] if grid else ["start_position"]) + (list(DERIVED) if p["history_races"] == 0 else [])
        drivers.append(
            SlateDriver(
                driver_id=did,
                name=canonical or row.name,
                skill=float(p["skill"]),
                aggression=float(p["aggression"]),
                shadow_risk=float(p["shadow_risk"]),
                min_laps_led=0,
                max_laps_led=race_length,
                salary=row.salary,
                start_position=None if start is None else int(start),
                out=out,
                practice_rank=None if out else _rank(prac, did),
                qualifying_rank=None if out else _rank(qual, did),
                site_player_id=row.player_id,
                site_name=row.name,
                matched=canonical is not None,
                history_races=int(p["history_races"]),
                skill_from=p["borrowed_from"] or None,
                estimated=estimated,
            )
        )
    last_race = hist.index.iloc[-1]["race_id"] if len(hist.index) else "none"
    if grid:
        starters = len(grid)
        missing = sorted(set(grid) - set(ids))
        notes.append(f"starting grid from race {race_row['race_id']} (set by qualifying; its results are in the history): "
                     f"{len(drivers) - len(dns)} of the {starters} starters are in the salary file"
                     + (f"; not in it: {', '.join(history.results.set_index('driver_id').loc[missing, 'driver'].unique()[:6])}"
                        if missing else ""))
        if dns:
            notes.append(f"did not start the race, marked out: {', '.join(dns)}")
        notes.append(weekend_note(prac, qual))
        notes.append(f"defaults from history through race {last_race}")
    else:
        notes.append(f"defaults from history through race {last_race}; starting grid missing (before qualifying): "
                     "enter it, or each simulated race draws one (the model's qualifying model)")
    note = borrowed_note(hist, [d for d in drivers if d.matched], params)
    if note:
        notes.append(note)
    if unmatched:
        notes.append(f"{len(unmatched)} driver(s) not matched to any series' history (newcomer defaults): {'; '.join(unmatched)}")
    notes += list(salaries.notes)
    field, rule = race_field_size(season, track_id, number, race_name or salaries.game_info, series=history.series)
    if grid:
        field = len(grid)  # the real starters; those not in the salary file run as anonymous field cars
    elif len(drivers) > field:
        notes.append(f"{len(drivers)} drivers in the salary file for a field of {field} ({rule}): the ones who miss the race "
                     "are drawn per simulated race until you mark the non-qualifiers out")
    return Slate(
        slate_id=slate_id or Path(salaries.source).stem,
        series=history.series,
        site=salaries.site,
        season=season,
        race=number,
        race_name=race_name or salaries.game_info,
        date=date,
        track_id=track_id,
        track_type=track_type,
        race_length=race_length,
        field_size=max(field, 2),
        drivers=drivers,
        unmatched=unmatched,
        notes=notes,
    )


MAX_DAYS_AHEAD = 366


def check_race_date(text: str, history: History, need_history: bool = True) -> str:
    """A race date as YYYY-MM-DD: a real calendar date with history before it, and not more
    than a year after the last race known (history or schedule). DataError otherwise."""
    import datetime as dt

    raw = str(text).strip()
    try:
        day = dt.date.fromisoformat(raw)
        if len(raw) != 10:
            raise ValueError
    except ValueError:
        raise DataError(f"date {text!r} is not a calendar date written YYYY-MM-DD (e.g. 2026-04-12)") from None
    dates = history.index["date"].dropna()
    first = dates.min().date()
    if need_history and day <= first:
        raise DataError(f"date {raw}: no {history.label} history before it (the history starts {first})")
    last = max(dates.max().date(), dt.date.today())
    if (day - last).days > MAX_DAYS_AHEAD:
        raise DataError(f"date {raw} is more than a year after today and the last race known ({last}): check the year")
    return raw


def check_slate(slate: Slate, history: History) -> Slate:
    """A slate read from a file, checked against what Pitwall knows: its track (when set) is
    known and its track type is one of Pitwall's. DataError naming the field otherwise."""
    tracks = history.tracks.set_index("track_id")
    if slate.track_id is not None and slate.track_id not in tracks.index:
        raise DataError(f"slate {slate.slate_id!r}: track_id {slate.track_id!r} is not a known track; known: "
                        f"{', '.join(sorted(tracks.index))}")
    if slate.track_type is not None and slate.track_type not in TRACK_TYPES:
        raise DataError(f"slate {slate.slate_id!r}: track_type {slate.track_type!r} is not one of {', '.join(TRACK_TYPES)}")
    if slate.date is not None:
        check_race_date(slate.date, history, need_history=False)
    return slate


def game_date(game_info: str | None) -> str | None:
    """The date in a DraftKings "Game Info" cell ("Bass Pro Shops 500 04/12/2026 ..."), ISO formatted."""
    import re

    m = re.search(r"(\d{2})/(\d{2})/(\d{4})", game_info or "")
    return f"{m[3]}-{m[1]}-{m[2]}" if m else None


def shipped_salary_slate(file: str, history: History | None = None, data_dir: Path = DATA_DIR) -> Slate:
    """The slate of a shipped 2026 salary file, with its series, race, date and track from the
    manifest (``history``: of that series, else loaded)."""
    manifest = salary_manifest(data_dir)
    if file not in manifest.index:
        raise DataError(f"unknown salary file {file!r}; shipped: {', '.join(manifest.index)}")
    m = manifest.loc[file]
    series = str(m.get("series", "cup"))
    if history is None or history.series != series:
        state = history.sources[1] if history is not None and history.sources else None
        history = History.load(data_dir, state if history is not None else None, series=series)
    sf = read_salary_file(data_dir / "salaries" / file)
    if sf.site != Site(m["site"]):
        raise DataError(f"{file}: the manifest says {m['site']}, the header says {sf.site.value}")
    length = None if pd.isna(m["race_length"]) else int(m["race_length"])
    return slate_from_salaries(
        sf, history, date=m["date"], track_id=m["track_id"], race_length=length, race_name=m["race_name"],
        slate_id=Path(file).stem,
    )


EDITABLE = ["name", "salary", "start_position", "out", "practice_rank", "qualifying_rank", "skill", "aggression", "shadow_risk", "min_laps_led", "max_laps_led",
            "locked", "excluded", "min_exposure", "max_exposure", "pit_strategy", "projected_ownership", "team", "manufacturer"]


def slate_table(slate: Slate) -> pd.DataFrame:
    """The slate's drivers as an editable table (exposures and ownership in percent)."""
    rows = []
    for d in slate.drivers:
        r = {"driver_id": d.driver_id, **{k: getattr(d, k) for k in EDITABLE}}
        r["pit_strategy"] = PitStrategy(d.pit_strategy).value
        r["min_exposure"], r["max_exposure"] = 100 * d.min_exposure, 100 * d.max_exposure
        r["projected_ownership"] = None if d.projected_ownership is None else 100 * d.projected_ownership
        r["estimated"] = ", ".join(d.estimated)
        rows.append(r)
    return pd.DataFrame(rows)


def apply_table(slate: Slate, table: pd.DataFrame) -> Slate:
    """A new slate with the table's values, validated through the contracts: every rejected
    value is named by driver and field (ContractError); the given slate is left as it was."""
    from pydantic import ValidationError

    from engine.core.contracts import ContractError, describe_errors

    by_id = {d.driver_id: d for d in slate.drivers}
    messages, drivers = [], []
    for k, row in enumerate(table.to_dict("records")):
        did = row.get("driver_id")
        if did not in by_id:
            messages.append(f"row {k + 1}: unknown driver_id {did!r} (drivers come from the loaded slate)")
            continue
        values = {}
        for f in EDITABLE:
            v = row.get(f)
            if v is None or (isinstance(v, float) and np.isnan(v)):
                v = None
            if f in ("min_exposure", "max_exposure", "projected_ownership") and v is not None:
                v = float(v) / 100.0
            if f in ("salary", "start_position", "min_laps_led", "max_laps_led", "practice_rank", "qualifying_rank") and v is not None:
                v = int(v)
            values[f] = v
        if values["min_exposure"] is None:
            values["min_exposure"] = 0.0
        if values["max_exposure"] is None:
            values["max_exposure"] = 1.0
        if values["min_laps_led"] is None:
            values["min_laps_led"] = 0
        for f in ("locked", "excluded", "out"):
            values[f] = bool(values[f])
        if values["pit_strategy"] is None:
            values["pit_strategy"] = "STANDARD"
        base = by_id[did]
        estimated = [e for e in base.estimated if getattr(base, e, None) == values.get(e, getattr(base, e, None))]
        payload = {**base.model_dump(), **values, "estimated": estimated}
        try:
            drivers.append(SlateDriver.model_validate(payload))
        except ValidationError as exc:
            label = f"driver {values.get('name') or did!r} (row {k + 1})"
            messages += [f"{label}: {m}" for m in describe_errors(exc, {})]
    starts = [d.start_position for d in drivers if d.start_position is not None]
    dup = sorted({s for s in starts if starts.count(s) > 1})
    for s in dup:
        who = ", ".join(d.name or d.driver_id for d in drivers if d.start_position == s)
        messages.append(f"start_position {s} is given to more than one driver: {who}")
    if messages:
        raise ContractError(messages)
    return slate.model_copy(update={"drivers": drivers})


def diff_slates(a: Slate, b: Slate) -> pd.DataFrame:
    """Driver fields that differ between two variants of a slate."""
    rows = []
    bd = {d.driver_id: d for d in b.drivers}
    for d in a.drivers:
        other = bd.get(d.driver_id)
        if other is None:
            rows.append({"driver": d.name or d.driver_id, "field": "(driver)", "a": "present", "b": "absent"})
            continue
        for f in EDITABLE:
            x, y = getattr(d, f), getattr(other, f)
            if x != y:
                rows.append({"driver": d.name or d.driver_id, "field": f, "a": x, "b": y})
    for did in set(bd) - {d.driver_id for d in a.drivers}:
        rows.append({"driver": bd[did].name or did, "field": "(driver)", "a": "absent", "b": "present"})
    return pd.DataFrame(rows, columns=["driver", "field", "a", "b"])
