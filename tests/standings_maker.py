"""DraftKings contest-standings files of contests Pitwall simulates itself: a field drawn from a
known field model on a shipped DraftKings slate, one simulated race as the result, written in
DraftKings' exact layout. No public NASCAR standings exist (see the README), so the import,
the review and the ownership fit are checked on these, whose truth is known exactly."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np

from engine.data.slates import shipped_salary_slate
from engine.dfs.contest.field import (
    SALARY_FLOOR,
    FieldModel,
    legal_lineups,
    model_field,
)
from engine.dfs.contest.review import simulated_points

HEADER = ["Rank", "EntryId", "EntryName", "TimeRemaining", "Points", "Lineup", "", "Player", "Roster Position", "%Drafted", "FPTS"]


@dataclass
class Truth:
    slate_file: str
    lineups: np.ndarray  # every entry's lineup (sorted driver indices), in file order
    users: list[str]
    points: np.ndarray
    ownership: np.ndarray  # percent, from the entries
    fpts: np.ndarray  # the result: DK points per driver
    model: FieldModel


def simulated_standings(slate_file: str, model: FieldModel, size: int, seed: int, outcome: int = 0, whales: int = 3,
                        bom: bool = True) -> tuple[str, Truth]:
    """A contest of ``size`` entries on a shipped DraftKings slate: ownership and field from
    ``model`` (with Pitwall's own projection, as `contest import` computes it), the result race
    ``outcome`` of a separate simulation, ``whales`` users with up to 150 entries ("(k/N)")."""
    slate = shipped_salary_slate(slate_file)
    proj = simulated_points(slate).mean(axis=0)
    salary = np.array([d.salary for d in slate.drivers], np.int64)
    racing = np.array([not d.out for d in slate.drivers]) & (salary > 0)
    legal = legal_lineups(salary, racing, 6, 50_000, SALARY_FLOOR["dk"])
    fld = model_field(proj, salary, racing, 6, 50_000, SALARY_FLOOR["dk"], size, seed, lineups=legal, model=model)
    lineups = np.repeat(fld.lineups, fld.counts, axis=0)
    rng = np.random.default_rng(seed)
    lineups = lineups[rng.permutation(len(lineups))]
    fpts = simulated_points(slate, 50, 1000 + seed)[outcome]
    points = np.round(fpts[lineups].sum(axis=1), 2)
    users, per = [], {}
    for k in range(size):  # whales take 150 entries each, the rest are single entries
        who = f"whale{k // 150 + 1}" if k < 150 * whales else f"player{k}"
        users.append(who)
        per[who] = per.get(who, 0) + 1
    ownership = 100 * np.bincount(lineups.ravel(), minlength=len(salary)) / size
    order = np.lexsort((np.arange(size), -points))
    ranks = np.empty(size, np.int64)
    sorted_points = points[order]
    for i, k in enumerate(order):
        ranks[k] = int(np.searchsorted(-sorted_points, -points[k], side="left")) + 1
    names = [d.site_name or d.name for d in slate.drivers]
    drafted = [k for k in np.argsort(-ownership, kind="stable") if ownership[k] > 0]
    seen: dict[str, int] = {}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(HEADER)
    for row, k in enumerate(order):
        who = users[k]
        seen[who] = seen.get(who, 0) + 1
        entry_name = f"{who} ({seen[who]}/{per[who]})" if per[who] > 1 else who
        lineup = " ".join(f"D {names[i]}" for i in lineups[k])
        cells = [ranks[k], 3_000_000_000 + int(k), entry_name, 0, f"{points[k]:g}", lineup]
        if row < len(drafted):
            p = drafted[row]
            cells += ["", names[p], "D", f"{ownership[p]:.2f}%", f"{fpts[p]:g}"]
        w.writerow(cells)
    text = ("\ufeff" if bom else "") + buf.getvalue()
    return text, Truth(slate_file, np.sort(lineups, axis=1), users, points, np.round(ownership, 2), fpts, model)
