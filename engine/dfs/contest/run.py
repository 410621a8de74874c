"""A contest on an optimize run: the ownership targets, the field, the lineups entered, the
contest over the run's races (in blocks, for Dask tasks) and the JSON-ready summary."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.dfs.contest.field import (
    FIELD_METHOD,
    OWNERSHIP_MODEL,
    SALARY_FLOOR,
    Field,
    legal_lineups,
    ownership_targets,
    sample_field,
)
from engine.dfs.contest.payouts import ContestError, Payouts
from engine.dfs.contest.simulate import (
    SELECT_METHOD,
    ContestResult,
    candidate_pool,
    lineup_matrix,
    select_lineups,
    simulate_contest,
)


@dataclass
class ContestSetup:
    """What a contest's race blocks need (the field, the entered lineups, the payouts) and what
    its summary reports beyond the results (notes, selection)."""

    size: int
    entry_fee: float
    payouts: Payouts
    seed: int
    floor: int
    fld: Field
    user: np.ndarray
    optimizer_lineups: np.ndarray
    notes: list[str]
    selection: dict | None = None


def prepare_contest(run, size: int, entry_fee: float, payouts: Payouts, seed: int, floor: int | None = None,
                    ownership: dict[str, float] | None = None, max_entries: int | None = None, select: bool = False,
                    max_exposure: float = 1.0, progress=None) -> ContestSetup:
    """Check the contest, set the ownership targets, draw the field and (``select``) choose the
    lineups; ``progress`` hears each phase as it starts (legal lineups, ownership, field, selection)."""
    step = progress or (lambda f: None)
    step(0.0)
    p = run.portfolio.problem
    site = run.settings.site.value
    floor = SALARY_FLOOR[site] if floor is None else int(floor)
    if floor > p.cap:
        raise ContestError(f"salary floor ${floor:,} is above the ${p.cap:,} cap")
    n_user = len(run.portfolio.lineups)
    if max_entries is not None and n_user > max_entries:
        raise ContestError(f"{n_user} lineups are more than the contest's {max_entries} entries per user")
    if payouts.size != size:
        raise ContestError(f"the payout table is for {payouts.size:,} entries, the contest has {size:,}")
    n_field = size - n_user
    if n_field < 1:
        raise ContestError(f"a contest of {size:,} entries leaves no field for {n_user} lineups")
    unknown = sorted(set(ownership or {}) - set(p.ids))
    if unknown:
        raise ContestError(f"ownership given for driver(s) not on the slate: {', '.join(unknown)}")
    P = run.points
    racing = np.array([k not in p.excludes for k in range(p.n)]) & (p.salary > 0)
    lineups = legal_lineups(p.salary, racing, p.roster, p.cap, floor)
    step(0.25)
    # the slate's own-% column first (edited in the app, saved in the slate JSON), then what was given here
    merged = {d.driver_id: 100 * d.projected_ownership for d in run.slate.drivers if d.projected_ownership is not None}
    merged.update(ownership or {})
    given = {p.ids.index(i): float(v) for i, v in merged.items() if i in p.ids}
    target, notes = ownership_targets(P.mean(axis=0), p.salary, racing, p.roster, p.cap, floor, given, lineups)
    step(0.4)
    fld = sample_field(target, p.salary, p.roster, p.cap, floor, n_field, seed, list(p.names), lineups)
    step(0.7 if select else 1.0)
    optimizer_lineups = np.array([sorted(lu.members) for lu in run.portfolio.lineups])
    user, selection = optimizer_lineups, None
    if select:
        pool = candidate_pool(P, fld, optimizer_lineups, seed)
        user = pool[select_lineups(P, pool, fld, payouts, n_user, max_exposure, seed=seed)]
        selection = {"method": SELECT_METHOD, "candidates": int(len(pool)), "max_exposure": max_exposure}
        step(1.0)
    return ContestSetup(size, float(entry_fee), payouts, int(seed), floor, fld, user, optimizer_lineups, notes, selection)


def contest_block(run, setup: ContestSetup, block: int, blocks: int, which: str = "user", progress=None, cancel=None) -> ContestResult:
    """The contest over block ``block`` of ``blocks`` equal runs of the simulated races (one Dask
    task each for a large contest); ``which``: the entered lineups, or the optimizer's ("base")."""
    P = run.points
    lo, hi = block * len(P) // blocks, (block + 1) * len(P) // blocks
    lineups = setup.user if which == "user" else setup.optimizer_lineups
    return simulate_contest(P[lo:hi], lineups, setup.fld, setup.payouts, progress=progress, cancel=cancel)


def merge_results(parts: list[ContestResult]) -> ContestResult:
    """One result from the results of consecutive race blocks (in order)."""
    first = parts[0]
    return ContestResult(first.payouts, np.concatenate([r.user_payout for r in parts]), np.concatenate([r.user_place for r in parts]),
                         np.concatenate([r.field_paid for r in parts]), np.concatenate([r.total_paid for r in parts]),
                         first.duplicates, first.field_size)


def contest_summary(run, setup: ContestSetup, res: ContestResult, base: ContestResult | None = None) -> dict:
    """The JSON-ready contest result (see ``pitwall contest``)."""
    p = run.portfolio.problem
    P, fld, payouts, user = run.points, setup.fld, setup.payouts, setup.user
    metrics = res.lineup_metrics()
    points = P @ lineup_matrix(user, P.shape[1])
    out = {
        "contest": {"size": setup.size, "entry_fee": setup.entry_fee, "payout_total": round(payouts.total, 2), "payouts": payouts.name,
                    "paid_places": payouts.paid_places, "salary_floor": setup.floor, "races": int(P.shape[0]), "seed": setup.seed},
        "field": {"lineups": fld.size, "unique_lineups": int(len(fld.counts)), "max_duplicates": int(fld.counts.max()),
                  "mean_profit": res.field_mean_profit(), "method": FIELD_METHOD, "ownership_model": OWNERSHIP_MODEL,
                  "ownership": [{"driver_id": p.ids[k], "name": p.names[k], "target": round(float(fld.target[k]), 2),
                                 "realized": round(float(fld.realized[k]), 2)} for k in np.argsort(-fld.target)],
                  "notes": setup.notes + fld.notes},
        "portfolio": res.portfolio(),
        "lineups": [{"drivers": [p.names[i] for i in lu], "driver_ids": [p.ids[i] for i in lu],
                     "salary": int(p.salary[lu].sum()), "mean_points": round(float(points[:, k].mean()), 2), **m}
                    for k, (lu, m) in enumerate(zip(user.tolist(), metrics))],
        "payout_table": payouts.rows(),
    }
    if setup.selection is not None:
        out["selection"] = {**setup.selection, "optimizer_portfolio": base.portfolio() if base is not None else None}
    return out


def run_contest(run, size: int, entry_fee: float, payouts: Payouts, seed: int, floor: int | None = None,
                ownership: dict[str, float] | None = None, max_entries: int | None = None, select: bool = False,
                max_exposure: float = 1.0, progress=None, cancel=None) -> dict:
    """The contest of an optimize run's lineups (the user's entries) against a field drawn from
    ownership, over the run's simulated races, in this process; JSON-ready (see ``pitwall
    contest``). ``ownership``: driver id -> percent for the drivers the analyst set. ``select``:
    the entered lineups are chosen for the contest (SELECT_METHOD, from a pool of the
    optimizer's lineups, per-race optimal lineups and field-like ones) instead of the
    optimizer's; the optimizer's portfolio is simulated too, for comparison. engine.jobs.tasks runs
    the same steps as Dask tasks (a task per block of races for large contests)."""
    step = progress or (lambda f: None)
    setup = prepare_contest(run, size, entry_fee, payouts, seed, floor, ownership, max_entries, select, max_exposure,
                            progress=lambda f: step(0.2 * f))
    base = None
    if select:
        base = contest_block(run, setup, 0, 1, "base", progress=lambda f: step(0.2 + 0.4 * f), cancel=cancel)
    res = contest_block(run, setup, 0, 1, "user", progress=lambda f: step(0.6 + 0.4 * f if select else 0.2 + 0.8 * f), cancel=cancel)
    return contest_summary(run, setup, res, base)
