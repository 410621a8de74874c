"""The three national series Pitwall covers, as one dimension of the data.

Each series has its own shipped history (``data/`` for the Cup, ``data/series/<code>/`` for the
others: results, race index, loop data, practice, tracks, schedule, model) and its own part of
the state directory (the Cup at the top, the others under ``series/<code>/``: races added with
``data add``, the fitted model, cached fits and backtests). What the series share sits at the
top of ``data/``: track ids, driver-name aliases, NASCAR driver ids, field-size rules, scoring.
"""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path

from engine.core.paths import DATA_DIR


class Series(str, Enum):
    CUP = "cup"
    NXS = "nxs"
    TRUCK = "truck"


SERIES = tuple(s.value for s in Series)
SERIES_NAMES = {
    "cup": "NASCAR Cup Series",
    "nxs": "O'Reilly Auto Parts Series (NXS, Xfinity through 2025)",
    "truck": "Craftsman Truck Series",
}
SHORT_NAMES = {"cup": "Cup", "nxs": "NXS", "truck": "Truck"}
# a driver without a race of a series in the window takes his skill from another series (engine.data.form.borrowed_skills)
# rather than the newcomer prior, where the rolling-origin backtest said it helps (issue 21's note has the figures): the
# default of each series' histories and fit method (FitSettings.cross_series)
CROSS_SERIES = {"cup": False, "nxs": True, "truck": False}


class SeriesError(ValueError):
    """An unknown series code, or a file whose name says another series than the one given."""


def check_series(value: str | Series | None, where: str = "series") -> str:
    """A series code ('cup', 'nxs', 'truck'); None is the Cup. SeriesError naming the known codes otherwise."""
    if value is None:
        return "cup"
    text = value.value if isinstance(value, Series) else str(value).strip().lower()
    aliases = {"xfinity": "nxs", "oreilly": "nxs", "o'reilly": "nxs", "trucks": "truck", "nct": "cup", "ncs": "cup"}
    text = aliases.get(text, text)
    if text not in SERIES:
        raise SeriesError(f"{where}: unknown series {value!r}; known: {', '.join(SERIES)} "
                          f"({'; '.join(f'{k}: {v}' for k, v in SERIES_NAMES.items())})")
    return text


def series_data_dir(series: str = "cup", data_dir: Path = DATA_DIR) -> Path:
    """Where a series' shipped tables live: ``data_dir`` for the Cup, ``data_dir/series/<code>`` otherwise."""
    series = check_series(series)
    return Path(data_dir) if series == "cup" else Path(data_dir) / "series" / series


def series_state_dir(state_dir: Path | str | None, series: str = "cup") -> Path | None:
    """A series' part of the state directory: the state directory for the Cup, ``series/<code>`` below it otherwise.
    None (or False: no state directory) stays as it is."""
    series = check_series(series)
    if not state_dir:
        return state_dir
    return Path(state_dir) if series == "cup" else Path(state_dir) / "series" / series


# file-name markers of a series: the NASCAR feed exports (cup-, xfinity-, nxs-, trucks-, truck-) and nascaR.data (nxs_series, ...)
_NAME_MARKERS = [
    (re.compile(r"(^|[^a-z])(cup[-_]series|cup-)"), "cup"),
    (re.compile(r"(^|[^a-z])(xfinity[-_]series|xfinity-|nxs[-_]series|nxs-)"), "nxs"),
    (re.compile(r"(^|[^a-z])(trucks?[-_]series|trucks?-)"), "truck"),
]


def series_of_file(path: str | Path) -> str | None:
    """The series a file's name says (``cup-results.csv``, ``xfinity-misc.csv``, ``truck_series_2025.csv``), or None.
    A name that says two series says none."""
    name = Path(path).name.lower()
    found = {code for pattern, code in _NAME_MARKERS if pattern.search(name)}
    return found.pop() if len(found) == 1 else None
