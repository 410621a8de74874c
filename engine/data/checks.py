"""Integrity of the race data: the checks `pitwall data check` runs and every added race must pass."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from engine.core.paths import DATA_DIR
from engine.data.history import History, race_id, salary_files


def race_failures(results: pd.DataFrame, index: pd.DataFrame, loop: pd.DataFrame, race_ids=None,
                  progress: Callable[[float], None] | None = None, data_dir: Path = DATA_DIR, series: str = "cup") -> list[str]:
    """Integrity failures of races (all, or ``race_ids``), one line each naming the race.

    Checked: Finish and Start are permutations of 1..N; laps led sum to the race laps except in
    the documented exceptions (data/known_exceptions.csv); no driver leads more laps than the
    race had; every race has a track type; fastest laps never exceed the race laps and sum to
    at most the race laps; every loop row joins a result row. The same checks guard extra
    seasons when they are loaded, so a broken file is refused everywhere, not only by
    ``pitwall data check``."""
    res, idx = results, index
    if race_ids is not None:
        wanted = set(race_ids)
        res, idx = res[res["race_id"].isin(wanted)], idx[idx["race_id"].isin(wanted)]
        loop = loop[loop["race_id"].isin(wanted)]
    failures: list[str] = []
    groups = res.groupby(["season", "race"], sort=True)
    for i, ((season, race), d) in enumerate(groups):
        if progress is not None:
            progress((i + 1) / groups.ngroups)
        n = len(d)
        expect = np.arange(1, n + 1)
        if not np.array_equal(np.sort(d["finish"].to_numpy()), expect):
            failures.append(f"race {race_id(season, race)}: Finish is not a permutation of 1..{n}")
        if not np.array_equal(np.sort(d["start"].to_numpy()), expect):
            failures.append(f"race {race_id(season, race)}: Start is not a permutation of 1..{n}")
    for col, what in (("laps", "laps completed"), ("led", "laps led")):
        neg = res[res[col] < 0]
        for rid, g in neg.groupby("race_id"):
            failures.append(f"race {rid}: {what} below 0 for {', '.join(f'{d} ({v})' for d, v in zip(g['driver'], g[col]))}")
    known = known_exceptions(data_dir, series)
    led = res.groupby("race_id")["led"].sum()
    most = res.groupby("race_id")["led"].max()
    laps = idx.set_index("race_id")["race_laps"]
    for rid, total in led.items():
        if rid not in laps.index or pd.isna(laps[rid]):
            continue
        if int(most[rid]) > int(laps[rid]):
            failures.append(f"race {rid}: a driver leads {int(most[rid])} laps of a {int(laps[rid])}-lap race")
        elif abs(int(total) - int(laps[rid])) > LAPS_LED_SLIP and rid not in known:
            failures.append(f"race {rid}: laps led sum to {int(total)}, race laps {int(laps[rid])} (not a known exception)")
    failures += [f"race {rid}: no track type" for rid in idx[idx["track_type"].isna()]["race_id"]]
    if len(loop):
        fl = loop.groupby("race_id")["fastest_laps"].sum()
        over = fl[fl > laps.reindex(fl.index)]
        failures += [f"race {rid}: fastest laps sum to {int(v)}, above the race laps" for rid, v in over.items()]
        joined = loop.merge(res[["race_id", "driver_id"]], on=["race_id", "driver_id"], how="left", indicator=True)
        orphans = joined[joined["_merge"] == "left_only"]
        if len(orphans):
            sample = orphans[["race_id", "driver"]].head(5).to_dict("records")
            failures.append(f"loop data: {len(orphans)} row(s) match no result row, e.g. {sample}")
    return failures


LAPS_LED_SLIP = 2  # laps led summing at most this far off the race laps: a feed slip, reported, not a failure


def laps_led_slips(results: pd.DataFrame, index: pd.DataFrame) -> list[str]:
    """Races whose laps led add up to one or two laps more or less than the race laps."""
    led = results.groupby("race_id")["led"].sum()
    laps = index.set_index("race_id")["race_laps"].dropna().astype(int)
    off = (led.reindex(laps.index) - laps).dropna()
    return [f"{rid} ({int(d):+d})" for rid, d in off.items() if 0 < abs(d) <= LAPS_LED_SLIP]


def known_exceptions(data_dir: Path = DATA_DIR, series: str = "cup") -> set[str]:
    """Races of a series whose shipped laps led do not sum to the race laps, as in the source."""
    exceptions = pd.read_csv(data_dir / "known_exceptions.csv")
    mine = exceptions["series"].fillna("cup").eq(series) if "series" in exceptions else series == "cup"
    return set(exceptions.loc[(exceptions["check"] == "laps_led_sum") & mine, "race_id"])


def integrity_report(history: History, progress: Callable[[float], None] | None = None) -> tuple[dict[str, object], list[str]]:
    """Coverage of the data and a list of integrity failures (empty when all is well): see
    ``race_failures`` for what is checked."""
    res, idx, loop = history.results, history.index, history.loop
    failures = race_failures(res, idx, loop, progress=progress, series=history.series)
    coverage = {
        "series": history.series,
        "seasons": f"{min(history.seasons)}-{max(history.seasons)}",
        "races": int(idx.shape[0]),
        "races_per_season": {int(k): int(v) for k, v in idx.groupby("season").size().items()},
        "rows": {
            "results": int(len(res)),
            "race_index": int(len(idx)),
            "loop": int(len(loop)),
            "practice": int(len(history.practice)),
            "tracks": int(len(history.tracks)),
            "salary_files": len(salary_files(series=history.series)),
        },
        "loop_seasons": f"{int(loop['season'].min())}-{int(loop['season'].max())}" if len(loop) else "none",
        "drivers": int(res["driver_id"].nunique()),
        "known_exceptions": sorted(known_exceptions(series=history.series)),
        "laps_led_slips": laps_led_slips(res, idx),
        "practice_races": int(history.practice["race_id"].nunique()),
        "added_races": len(history.added),
    }
    return coverage, failures
