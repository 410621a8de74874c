"""DraftKings contest standings: the file every player can download for each contest entered,
read into the real field of a past contest, and stored in the state directory.

The file (NASCAR Classic): a header ``Rank,EntryId,EntryName,TimeRemaining,Points,Lineup``, an
empty column, then ``Player,Roster Position,%Drafted,FPTS``. Each row is one entry; the first rows
also carry one player each (the player list is as long as the slate's drafted drivers, usually
shorter than the entries). ``Lineup`` reads "D Name D Name ..."; ``EntryName`` is the user, with
"(k/N)" for the k-th of N entries. Points are tied when lineups are (ranks repeat).

Everything is checked against the slate the contest was played on (its salary file): every
name on it, every lineup a legal roster (6 different drivers within the cap), ranks consistent
with points. A bad file is refused with every problem named (row and column) and nothing is
stored. A contest is stored as one parquet file (its entries, with the contest's facts and its
slate in the file's metadata), written to a temporary file and moved into place, so a re-import
replaces it whole.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from engine.core.contracts import Slate
from engine.dfs.contest.payouts import ContestError

HEADER = ["Rank", "EntryId", "EntryName", "TimeRemaining", "Points", "Lineup"]
PLAYER_HEADER = ["Player", "Roster Position", "%Drafted", "FPTS"]
ROSTER = 6
CAP = 50_000
MIN_CONTESTS = 5  # imported contests from which the field model is fitted rather than assumed
_ENTRY_NAME = re.compile(r"^(.*?)\s*\((\d+)/(\d+)\)\s*$")
_LINEUP_TOKEN = re.compile(r"(?:^|\s)D\s+")


@dataclass
class Standings:
    """One contest's real field: every entry's lineup (indices into the slate's drivers) and
    points, each driver's real ownership (%Drafted) and points (FPTS, NaN where the file's
    player list does not name him), and where it came from."""

    contest_id: str
    source: str
    slate: Slate
    entries: pd.DataFrame  # rank, entry_id, user, entry_k, entry_n, points, d0..d5 (driver indices, sorted)
    ownership: np.ndarray  # percent per slate driver
    fpts: np.ndarray  # real DK points per slate driver
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.entries)

    @property
    def lineups(self) -> np.ndarray:
        return self.entries[[f"d{j}" for j in range(ROSTER)]].to_numpy(np.int64)

    def duplicates(self) -> dict:
        """How the field repeats itself: unique lineups, the largest group, entries in a repeated lineup."""
        _, counts = np.unique(self.lineups, axis=0, return_counts=True)
        return {"unique_lineups": int(len(counts)), "max_duplicates": int(counts.max()),
                "entries_duplicated": int(counts[counts > 1].sum()), "share_duplicated": round(float(counts[counts > 1].sum() / self.size), 4)}

    def users(self) -> pd.Series:
        """Entries per user, most first."""
        return self.entries.groupby("user").size().sort_values(ascending=False)

    def summary(self) -> dict:
        return {"contest_id": self.contest_id, "source": self.source, "series": self.slate.series.value, "slate_id": self.slate.slate_id,
                "date": self.slate.date, "race_name": self.slate.race_name, "entries": self.size, "users": int(self.entries["user"].nunique()),
                "max_entries_by_one_user": int(self.users().iloc[0]), **self.duplicates(),
                "top_points": float(self.entries["points"].max()), "notes": self.notes}


def contest_id_of(path: str | Path, text: str) -> str:
    """DraftKings' contest id from the file name (contest-standings-123456789.csv), else a hash of the file."""
    m = re.search(r"(\d{6,})", Path(str(path)).stem)
    if m:
        return m.group(1)
    import hashlib

    return "h" + hashlib.sha256(text.encode()).hexdigest()[:12]


def _driver_lookup(slate: Slate) -> dict[str, int]:
    from engine.core.names import name_key
    from engine.data.history import load_name_aliases

    out: dict[str, int] = {}
    for k, d in enumerate(slate.drivers):
        for n in (d.site_name, d.name):
            if n:
                out.setdefault(name_key(n), k)
    for alias, canonical in load_name_aliases().items():
        if name_key(canonical) in out:
            out.setdefault(name_key(alias), out[name_key(canonical)])
    return out


def split_lineup(cell: str) -> list[str]:
    """"D Kyle Larson D Denny Hamlin ..." -> ["Kyle Larson", "Denny Hamlin", ...]."""
    parts = [p.strip() for p in _LINEUP_TOKEN.split(" " + cell.strip()) if p.strip()]
    return parts


def _number(text: str) -> float | None:
    try:
        v = float(str(text).strip().rstrip("%").replace(",", ""))
    except ValueError:
        return None
    return v if np.isfinite(v) else None


def read_standings(text: str, slate: Slate, source: str = "standings", contest_id: str | None = None) -> Standings:
    """A DraftKings contest-standings CSV against the slate it was played on; ContestError naming
    every bad row (and column) otherwise, nothing read."""
    from engine.core.names import name_key

    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise ContestError(f"{source}: the file is empty")
    head = [c.strip() for c in rows[0]]
    if head[:6] != HEADER:
        raise ContestError(f"{source}: not a DraftKings contest-standings file: its header is {', '.join(head[:8])} (expected "
                           f"{','.join(HEADER)}, an empty column, then {','.join(PLAYER_HEADER)})")
    has_players = len(head) >= 11 and [c for c in head[7:11]] == PLAYER_HEADER
    if len(head) > 6 and not has_players:
        raise ContestError(f"{source}: the columns after Lineup are {', '.join(head[6:])}: expected an empty column, then "
                           f"{','.join(PLAYER_HEADER)}")
    lookup = _driver_lookup(slate)
    d = len(slate.drivers)
    salary = np.array([x.salary or 0 for x in slate.drivers])
    cap = slate.salary_cap or CAP
    problems: list[str] = []
    own = np.full(d, np.nan)
    fpts = np.full(d, np.nan)
    records = []
    for line, r in enumerate(rows[1:], start=2):
        if len(r) not in (6, len(head)) and not (len(r) == 7 and not r[6].strip()):
            problems.append(f"row {line}: {len(r)} columns, expected 6 (an entry) or {len(head)} (an entry and a player): a ragged row")
            continue
        if has_players and len(r) >= 11 and r[7].strip():
            player, pos, pct, pts = (c.strip() for c in r[7:11])
            k = lookup.get(name_key(player))
            if pos != "D":
                problems.append(f"row {line}, Roster Position: {pos!r} for {player}: not a NASCAR DraftKings Classic contest "
                                "(every driver is D)")
            elif k is None:
                problems.append(f"row {line}, Player: {player!r} is not on the slate {slate.slate_id}")
            elif _number(pct) is None or _number(pts) is None:
                problems.append(f"row {line}: %Drafted {pct!r} or FPTS {pts!r} of {player} is not a number")
            else:
                own[k], fpts[k] = _number(pct), _number(pts)
        if not r[0].strip() and not r[5].strip():
            continue  # a player row without an entry (a contest with more players than entries)
        rank, points = _number(r[0]), _number(r[4])
        if rank is None or points is None:
            problems.append(f"row {line}: Rank {r[0]!r} and Points {r[4]!r} must be numbers")
            continue
        names = split_lineup(r[5])
        idx = [lookup.get(name_key(n)) for n in names]
        unknown = [n for n, k in zip(names, idx) if k is None]
        if unknown:
            problems.append(f"row {line}, Lineup: {', '.join(map(repr, unknown))} not on the slate {slate.slate_id}")
            continue
        if len(idx) != ROSTER or len(set(idx)) != ROSTER:
            problems.append(f"row {line}, Lineup: {len(names)} driver(s), {len(set(idx))} different: not a legal roster of {ROSTER} "
                            "different drivers")
            continue
        spent = int(salary[idx].sum())
        if spent > cap:
            problems.append(f"row {line}, Lineup: costs ${spent:,}, above the ${cap:,} cap: not a legal roster")
            continue
        who = r[2].strip()
        m = _ENTRY_NAME.match(who)
        user, k_of, n_of = (m.group(1), int(m.group(2)), int(m.group(3))) if m else (who, 1, 1)
        records.append({"rank": int(rank), "entry_id": r[1].strip(), "user": user, "entry_k": k_of, "entry_n": n_of,
                        "points": round(points, 2), **{f"d{j}": v for j, v in enumerate(sorted(idx))}})
    if not records and not problems:
        problems.append("no entries")
    entries = pd.DataFrame(records)
    if len(entries) and not problems:  # ranks are checked on a whole file (a refused row would shift them)
        _check_ranks(entries, problems)
    if problems:
        shown = problems[:15]
        more = f" (and {len(problems) - 15} more)" if len(problems) > 15 else ""
        raise ContestError(f"{source}: nothing was imported: " + "; ".join(shown) + more)
    notes = []
    missing = [slate.drivers[k].name for k in range(d) if np.isnan(own[k]) and k in set(entries[[f"d{j}" for j in range(ROSTER)]].to_numpy().ravel())]
    if missing:
        notes.append(f"the player list does not name {', '.join(missing)}: their ownership is taken from the lineups")
    counted = 100 * np.bincount(entries[[f"d{j}" for j in range(ROSTER)]].to_numpy().ravel(), minlength=d) / len(entries)
    own = np.where(np.isnan(own), counted, own)
    undrafted = np.flatnonzero(counted == 0)
    own[undrafted] = 0.0
    return Standings(contest_id or "unknown", source, slate, entries.sort_values(["rank", "entry_id"]).reset_index(drop=True),
                     np.round(own, 2), fpts, notes)


def _check_ranks(entries: pd.DataFrame, problems: list[str]) -> None:
    """Ranks follow points (more points, better rank; ties share the best rank of their group)."""
    e = entries.sort_values("points", ascending=False, kind="stable")
    expect = e["points"].rank(method="min", ascending=False).astype(int).to_numpy()
    bad = e.index[e["rank"].to_numpy() != expect]
    if len(bad):
        r = entries.loc[bad[0]]
        should = int(expect[list(e.index).index(bad[0])])
        problems.append(f"Rank: entry {r['entry_id']} is ranked {r['rank']} with {r['points']} points, where the points rank it {should} "
                        f"({len(bad)} rank(s) disagree with the points)")


# ----------------------------------------------------------------------------- storage
def contests_dir(state_dir: Path | str, series: str = "cup") -> Path:
    from engine.core.series import series_state_dir

    return series_state_dir(state_dir, series) / "contests"


def save_standings(st: Standings, state_dir: Path | str, projection: np.ndarray | None = None) -> Path:
    """Store a contest (atomically: a temporary file moved into place; a re-import replaces it)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = contests_dir(state_dir, st.slate.series.value)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"contest_id": st.contest_id, "source": st.source, "slate": st.slate.model_dump(mode="json"),
            "ownership": st.ownership.tolist(), "fpts": [None if np.isnan(v) else float(v) for v in st.fpts], "notes": st.notes,
            "projection": None if projection is None else [round(float(v), 4) for v in projection]}
    table = pa.Table.from_pandas(st.entries, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"pitwall": json.dumps(meta).encode()})
    path = folder / f"{st.contest_id}.parquet"
    tmp = folder / f".{st.contest_id}.{os.getpid()}.tmp"
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


@dataclass
class StoredContest:
    standings: Standings
    projection: np.ndarray | None  # Pitwall's pre-race mean points per driver, as computed at import
    path: Path


def load_contests(state_dir: Path | str, series: str = "cup") -> list[StoredContest]:
    """Every contest imported for a series, by contest id."""
    import pyarrow.parquet as pq

    folder = contests_dir(state_dir, series)
    out = []
    for path in sorted(folder.glob("*.parquet")) if folder.exists() else []:
        table = pq.read_table(path)
        meta = json.loads(table.schema.metadata[b"pitwall"])
        slate = Slate.model_validate(meta["slate"])
        st = Standings(meta["contest_id"], meta["source"], slate, table.to_pandas(), np.array(meta["ownership"], float),
                       np.array([np.nan if v is None else v for v in meta["fpts"]], float), list(meta.get("notes", [])))
        proj = None if meta.get("projection") is None else np.array(meta["projection"], float)
        out.append(StoredContest(st, proj, path))
    return out
