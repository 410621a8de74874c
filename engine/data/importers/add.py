"""`pitwall data add`: the files of one call read in either layout, checked against the history,
and stored in the state directory in one atomic write while holding the store's writer lock."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

from engine.core.paths import DATA_DIR
from engine.data.history import (
    DataError,
    History,
    read_table,
)
from engine.data.importers.common import Imported, recognise
from engine.data.importers.feed import import_feed
from engine.data.importers.nascar_data import import_nascar_data

OPTIONAL = {"feed loop data": "loop data (fastest laps)", "feed practice": "practice", "feed stages": "stage results"}


def read_frames(paths: list[str | Path]) -> tuple[dict[str, tuple[pd.DataFrame, str]], list[str]]:
    """The files of one call by layout (see ``import_files``), and what was said about them."""
    if not paths:
        raise DataError("give the files to add (NASCAR feed exports, or nascaR.data's results table)")
    frames: dict[str, tuple[pd.DataFrame, str]] = {}
    report: list[str] = []
    for p in paths:
        df = read_table(p, allow_header_only=True)
        kind = recognise(df, str(p))
        if kind in frames:
            raise DataError(f"{p} and {frames[kind][1]} are both {kind}: give one file of each kind per call (one season)")
        if df.empty:
            if kind not in OPTIONAL:
                raise DataError(f"{p}: the file has a header but no rows")
            report.append(f"{p}: a header and no rows: no {OPTIONAL[kind]} for these races")
            continue
        frames[kind] = (df, str(p))
    return frames, report


def import_files(paths: list[str | Path], history: History, track_types: dict[str, str] | None = None,
                 track_aliases: dict[str, str] | None = None, frames=None) -> Imported:
    """Read the files of one ``data add`` call (see the module docstring) into ``history``'s
    series; DataError listing every problem, and nothing read, when anything is wrong. An
    optional file (loop data, practice, stages) with a header and no rows means "none": the
    races are added without it."""
    frames, report = frames if frames is not None else read_frames(paths)
    frames = dict(frames)
    report = list(report)
    if "feed stages" in frames:
        report.append(f"{frames.pop('feed stages')[1]}: stage results are not used (skipped)")
    track_types = track_types or {}
    if "nascaR.data results" in frames:
        extra = [w for k, (_, w) in frames.items() if k != "nascaR.data results"]
        if extra:
            raise DataError(f"{', '.join(extra)}: NASCAR feed files go in their own call, not with nascaR.data's results table")
        out = import_nascar_data(*frames["nascaR.data results"], history, track_types, track_aliases or {})
    elif "feed results" not in frames:
        raise DataError(f"{', '.join(w for _, w in frames.values())}: the feed's results file (cup-results.csv) is required "
                        "with its loop data and practice files")
    else:
        out = import_feed(frames, history, track_types, track_aliases or {})
    out.report = report + out.report
    return out


def _latest_laps(tracks: pd.DataFrame, index: pd.DataFrame) -> pd.DataFrame:
    """New tracks get the laps and id of their latest race in the added files."""
    if not len(tracks):
        return tracks
    last = index.sort_values(["season", "race"]).groupby("track_id").tail(1).set_index("track_id")
    tracks = tracks.copy()
    tracks["latest_race"] = [last.loc[t, "race_id"] if t in last.index else None for t in tracks["track_id"]]
    tracks["latest_race_laps"] = pd.array([int(last.loc[t, "race_laps"]) if t in last.index else None for t in tracks["track_id"]],
                                          dtype="Int64")
    tracks["races"] = [int((index["track_id"] == t).sum()) for t in tracks["track_id"]]
    return tracks


def add_to_store(paths: list[str | Path], state_dir: Path | str, track_types: dict[str, str] | None = None, replace: bool = False,
                 data_dir: Path = DATA_DIR, on_wait: Callable[[str], None] | None = None,
                 track_aliases: dict[str, str] | None = None, series: str | None = None) -> tuple[Imported, list[str]]:
    """``pitwall data add``: read the files, decide their series (``series``, the file names, or
    their content: engine.data.importers.series_check), check them against that series' history,
    and store their races in the series' part of the state directory in one atomic write. Races
    already added are replaced; a shipped race is refused unless ``replace``. Returns what was
    read and the report.

    The whole read-check-write holds the store's writer lock (``SeasonStore.writing``): an add
    started while another runs waits for it (``on_wait`` is told) and then reads the store
    that one wrote, so both adds are kept."""
    from engine.core.series import SERIES, series_data_dir, series_state_dir
    from engine.data.importers.series_check import choose_series
    from engine.data.store import SeasonStore

    frames = read_frames(paths)
    histories = {s: History.load(data_dir, state_dir, series=s) for s in SERIES
                 if (series_data_dir(s, data_dir) / "results.parquet").exists()}
    code, said = choose_series(paths, series, frames[0], histories)
    with SeasonStore(series_state_dir(state_dir, code)).writing(on_wait):
        try:
            imp, report = _add_locked(paths, state_dir, track_types, replace, data_dir, track_aliases, code, frames)
        except DataError as exc:
            raise DataError(f"{said[0]}: {exc}") from None
    return imp, said + report


def _add_locked(paths, state_dir, track_types, replace, data_dir, track_aliases, series="cup", frames=None
                ) -> tuple[Imported, list[str]]:
    import time

    from engine.core.series import series_state_dir
    from engine.data.checks import race_failures
    from engine.data.history import TABLES
    from engine.data.store import SeasonStore

    history = History.load(data_dir, state_dir, series=series)
    imp = import_files(paths, history, track_types, track_aliases, frames=frames)
    shipped = set(history.index["race_id"]) - set(history.added)
    clash = sorted(set(imp.race_ids) & shipped, key=lambda r: tuple(map(int, r.split("-"))))
    if clash and not replace:
        raise DataError(f"nothing was added: race(s) {', '.join(clash[:8])}{'...' if len(clash) > 8 else ''} are shipped with "
                        "Pitwall; give --replace to use these files instead")
    failures = race_failures(imp.results, imp.index, imp.loop if len(imp.loop) else history.loop.iloc[0:0], imp.race_ids,
                             data_dir=data_dir, series=series)
    if failures:
        raise DataError("nothing was added:\n" + "\n".join(f"  - {f}" for f in failures[:20]))
    store = SeasonStore(series_state_dir(state_dir, series))
    content = store.read() or SeasonStore.empty({"results": imp.results, "index": imp.index, "loop": history.loop,
                                                 "practice": imp.practice})
    again = sorted(set(imp.race_ids) & set(content.index["race_id"]), key=lambda r: tuple(map(int, r.split("-"))))
    new = {"results": imp.results, "index": imp.index, "loop": imp.loop, "practice": imp.practice}
    for t in TABLES:
        keep = content.tables[t][~content.tables[t]["race_id"].isin(imp.race_ids)]
        content.tables[t] = pd.concat([keep, new[t]], ignore_index=True) if len(new[t]) else keep
    tracks = _latest_laps(imp.tracks, pd.concat([history.index, imp.index], ignore_index=True))
    content.tracks = pd.concat([content.tracks[~content.tracks["track_id"].isin(tracks["track_id"])], tracks], ignore_index=True)
    content.aliases = pd.concat([content.aliases, imp.aliases], ignore_index=True).drop_duplicates("track", keep="last")
    content.driver_ids = pd.concat([content.driver_ids, imp.driver_ids], ignore_index=True).drop_duplicates("nascar_driver_id", keep="last")
    content.log.append({"at": round(time.time(), 3), "layout": imp.layout, "files": [str(p) for p in paths], "races": imp.race_ids})
    store.write(content)
    seasons = sorted({int(r.split("-")[0]) for r in imp.race_ids})
    lines = [f"added {len(imp.race_ids)} race(s) of {', '.join(map(str, seasons))} ({imp.race_ids[0]} to {imp.race_ids[-1]}) "
             f"from the {imp.layout} layout: {len(imp.results)} results, {len(imp.loop)} loop rows, {len(imp.practice)} practice rows"]
    if again:
        lines.append(f"replaced {len(again)} race(s) added before: {', '.join(again[:8])}{'...' if len(again) > 8 else ''}")
    if clash:
        lines.append(f"replaced {len(clash)} shipped race(s) (--replace): {', '.join(clash[:8])}{'...' if len(clash) > 8 else ''}")
    return imp, imp.report + lines
