"""Portfolios of lineups from simulated races (the MILP of engine.dfs.lineups).

The three scenario objectives (engine.dfs.objectives) are not linear in x without one binary
per scenario, and those MILPs took seconds per lineup at a 200-scenario sample (measured
with both solvers). They are therefore maximized exactly over a candidate pool: every lineup
that is the exact best lineup of at least one simulated race (engine.dfs.optimal), plus the
mean-optimal lineup, each scored on every valid scenario. The chosen lineup is never worse on
the objective than the mean-optimal one. When the portfolio rules leave no pool lineup, the
lineup comes from the mean MILP under those rules, and the result says so.

Lineup j is solved with (a) every earlier lineup shared by at most roster - min_unique
drivers, (b) exposure pacing: a driver with bounds [lo, hi] over N lineups is in at most
ceil(floor(hi N) (j + 1) / N) and at least floor(ceil(lo N) (j + 1) / N) of the first j + 1
lineups, so exposures are honoured and spread through the portfolio. "Sim precision" solves
lineup j on its own bootstrap resample of the scenarios. The portfolio is shown best on the
objective first."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from engine.dfs.constraints import ConstraintSpec
from engine.dfs.lineups import OptimizerError, Problem, explain_infeasible, feasible_lineups, problem_from_spec, solve_lineup
from engine.dfs.objectives import OBJECTIVES, check_target, objective_values, rank_order
from engine.dfs.optimal import OptimalResult, optimal_lineups


def exposure_counts(p: Problem, n_lineups: int) -> tuple[np.ndarray, np.ndarray]:
    """Each driver's exposure bounds in whole lineups: (at least ceil(min N), at most floor(max N))."""
    lo = np.ceil(p.min_exposure * n_lineups - 1e-9).astype(int)
    hi = np.floor(p.max_exposure * n_lineups + 1e-9).astype(int)
    for i in p.locks:
        hi[i] = n_lineups
    return lo, hi


def check_portfolio(p: Problem, n_lineups: int, min_unique: int = 0) -> None:
    """Refuse, before any simulation, exposure bounds no portfolio of ``n_lineups`` can meet,
    naming the driver, the rule and why (a share that is no whole number of lineups, minimums
    that need more roster spots than the lineups have, maximums that leave too few)."""
    out: list[str] = []
    lo, hi = exposure_counts(p, n_lineups)
    rule = {d.driver_id: d.exposure_rule or "slate" for d in p.spec.drivers}
    for i in range(p.n):
        if lo[i] > hi[i]:
            a, b = p.min_exposure[i] * n_lineups, p.max_exposure[i] * n_lineups
            below, above = math.floor(a) / n_lineups, math.ceil(b) / n_lineups
            out.append(
                f"{p.names[i]}: exposure {p.min_exposure[i]:.0%} to {p.max_exposure[i]:.0%} (rule {rule[p.ids[i]]!r}) of "
                f"{n_lineups} lineups means {a:g} to {b:g} lineups, and no whole number of lineups lies in that range "
                f"(the nearest shares are {below:.0%} and {above:.0%})"
            )
    spots = n_lineups * p.roster
    if not out and lo.sum() > spots:
        out.append(f"minimum exposures ask for {int(lo.sum())} driver places, more than the {spots} of {n_lineups} lineups "
                   f"of {p.roster}")
    eligible = [i for i in range(p.n) if i not in p.excludes]
    if not out and hi[eligible].sum() < spots:
        out.append(f"maximum exposures allow {int(hi[eligible].sum())} driver places, fewer than the {spots} of {n_lineups} "
                   f"lineups of {p.roster}: raise the maximum exposures or build fewer lineups")
    if n_lineups > 1 and min_unique > p.roster - len(p.locks):
        out.append(f"{len(p.locks)} locks leave {p.roster - len(p.locks)} drivers free, fewer than min_unique {min_unique}")
    if out:
        raise OptimizerError(out)


def due_now(p: Problem, need: np.ndarray, left: int) -> set[int]:
    """Drivers whose minimum exposure cannot wait (earliest-deadline-first with a margin).

    Forced now: every driver needing each remaining lineup; and, when the outstanding minimums
    would not fit in the lineups after this one with a slot per lineup to spare (for the
    value picks and the cap), enough of the neediest, the most expensive first, each only if
    the forced drivers still leave a lineup under the cap. Many small minimums (10% of 10
    lineups for every driver) would otherwise all fall due in the last lineup."""
    locked = list(p.locks)
    need = np.maximum(need, 0)
    need[locked] = 0
    free = p.roster - len(locked)
    must = [int(i) for i in np.flatnonzero(need >= left)]
    overflow = int(need.sum()) - (left - 1) * max(free - 1, 1)
    if overflow <= len(must):
        return set(must)
    others = np.array([i for i in range(p.n) if i not in p.excludes and i not in p.locks])
    chosen = list(must)
    for i in (int(i) for i in np.lexsort((-p.salary, -need)) if need[i] > 0 and i not in must):
        if len(chosen) >= min(overflow, free):
            break
        trial = chosen + [i]
        rest = np.sort(p.salary[[k for k in others if k not in trial]])[: free - len(trial)]
        if int(p.salary[locked].sum() + p.salary[trial].sum() + rest.sum()) <= p.cap:
            chosen = trial
    return set(chosen)


@dataclass
class Lineup:
    members: list[int]
    salary: int
    mean: float
    p10: float
    p50: float
    p90: float
    objective: float | None = None  # the run's objective over the simulated races
    built: int | None = None  # the order it was built in (exposure pacing spreads each driver's share along it)


@dataclass
class Portfolio:
    problem: Problem
    lineups: list[Lineup]
    exposures: np.ndarray  # fraction of lineups per driver
    objective: str
    solver: str
    seconds: float
    target: float | None = None
    notes: list[str] = field(default_factory=list)

    def lineup_table(self) -> list[dict]:
        p = self.problem
        return [
            {"lineup": k + 1, "drivers": [p.names[i] for i in lu.members], "driver_ids": [p.ids[i] for i in lu.members],
             "salary": lu.salary, "mean": round(lu.mean, 2), "p10": round(lu.p10, 2), "p50": round(lu.p50, 2), "p90": round(lu.p90, 2)}
            for k, lu in enumerate(self.lineups)
        ]

    def exposure_table(self) -> list[dict]:
        p = self.problem
        rows = [{"driver_id": p.ids[i], "name": p.names[i], "exposure": round(float(self.exposures[i]), 4),
                 "min": float(p.min_exposure[i]), "max": float(p.max_exposure[i])} for i in range(p.n) if self.exposures[i] > 0]
        return sorted(rows, key=lambda r: -r["exposure"])


def _describe(lineup: list[int], P: np.ndarray, salary: np.ndarray) -> Lineup:
    s = P[:, lineup].sum(axis=1)
    return Lineup(lineup, int(salary[lineup].sum()), float(s.mean()), *(float(v) for v in np.percentile(s, [10, 50, 90])))


RANK_FIRST = 65_536  # pool lineups ranked up front; picks rarely go deeper (the rest is ranked when one does)


def lineup_masks(lineups: np.ndarray, n: int) -> np.ndarray:
    """Each lineup (a row of driver indices below ``n``) as a bit set of its drivers: one
    uint64 word per 64 drivers, (lineups, words)."""
    words = max(1, (n + 63) // 64)
    lu = np.asarray(lineups).reshape(len(lineups), -1)
    bit = np.left_shift(np.uint64(1), np.arange(64, dtype=np.uint64))
    out = np.zeros((len(lu), words), dtype=np.uint64)
    for col in lu.T:  # column by column: numpy reduces a short inner axis slowly
        col = col.astype(np.int64)
        if words == 1:
            out[:, 0] |= bit[col]
        else:
            for w in range(words):
                out[:, w] |= np.where(col // 64 == w, bit[col % 64], np.uint64(0))
    return out


def _pick(masks: np.ndarray, order: np.ndarray, taken: np.ndarray, forced_in: set[int], forced_out: set[int],
          previous: np.ndarray, max_shared: int, n: int, first_chunk: int = 1024, chunk: int = 16384) -> int | None:
    """The first pool lineup in ``order`` not taken yet that holds ``forced_in``, avoids
    ``forced_out`` and shares at most ``max_shared`` drivers with each earlier lineup
    (``masks``: the pool's bit sets; ``previous``: the earlier lineups' bit sets)."""
    fin, fout = (lineup_masks(np.array([sorted(f)], dtype=np.int64).reshape(1, -1), n)[0] for f in (forced_in, forced_out))
    lo, size = 0, first_chunk
    while lo < len(order):
        idx = order[lo : lo + size]
        m = masks[idx]
        ok = ~taken[idx] & ((m & fin) == fin).all(axis=1) & ((m & fout) == 0).all(axis=1)
        if len(previous) and ok.any():
            sub = np.flatnonzero(ok)
            shared = np.bitwise_count(m[sub][:, None, :] & previous[None, :, :]).sum(axis=2, dtype=np.int64)
            ok[sub[(shared > max_shared).any(axis=1)]] = False
        if ok.any():
            return int(idx[np.argmax(ok)])
        lo, size = lo + size, chunk
    return None


def build_portfolio(
    spec: ConstraintSpec,
    points: np.ndarray,
    n_lineups: int = 1,
    objective: str = "mean",
    *,
    min_unique: int = 1,
    solver: str = "cbc",
    seed: int = 0,
    sim_precision: bool = False,
    target: float | None = None,
    optimal: "OptimalResult | None" = None,
    method: str = "auto",
    progress: Callable[[float], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Portfolio:
    """N lineups from the points matrix (valid scenarios x spec drivers, in spec order).

    Deterministic for a seed (resamples are drawn from it). ``optimal`` (the optimal% result
    of the same points) is reused as the candidate pool of scenario objectives. ``method``
    "auto" picks mean lineups from the list of every feasible lineup when it is small enough
    (the same choice as the MILP, without a solver run per lineup); "milp" solves each. Raises
    OptimizerError naming the constraints that conflict when a lineup cannot be built.
    """
    t0 = time.perf_counter()
    p = problem_from_spec(spec)
    if objective not in OBJECTIVES:
        raise OptimizerError([f"unknown objective {objective!r}: expected one of {', '.join(OBJECTIVES)}"])
    if points.ndim != 2 or points.shape[1] != p.n:
        raise OptimizerError([f"points matrix has {points.shape[-1]} drivers, the spec {p.n}"])
    if points.shape[0] == 0:
        raise OptimizerError(["no valid simulated race to optimize on (every scenario was rejected by the laps-led bounds)"])
    if n_lineups < 1:
        raise OptimizerError([f"lineups must be at least 1 (got {n_lineups})"])
    if not 0 <= min_unique <= p.roster:
        raise OptimizerError([f"min_unique must be between 0 and {p.roster} (got {min_unique})"])
    check_portfolio(p, n_lineups, min_unique)
    notes: list[str] = []
    rng = np.random.default_rng(seed)
    P = points.astype(np.float64)
    mean = P.mean(axis=0)

    base = solve_lineup(p, mean, solver)
    if not base.members:
        raise OptimizerError([f"no lineup satisfies {' + '.join(explain_infeasible(p, mean, solver))} together"])
    pool = None
    complete = False
    if objective == "mean" and method == "milp":
        pass
    elif objective == "mean":
        pool = feasible_lineups(p)
        complete = pool is not None
        if pool is None:
            notes.append("more lineups fit the cap than can be listed: each lineup is solved by the MILP")
    else:
        if objective == "target" and target is None:
            target = float(np.percentile(P[:, base.members].sum(axis=1), 90))
            notes.append(f"target score {target:.1f}: the 90th percentile of the mean-optimal lineup")
        opt = optimal if optimal is not None else optimal_lineups(spec, points, solver=solver)
        if objective == "target":
            check_target(target, P, base.members, opt)
        pool = np.unique(np.vstack([opt.lineups, np.array([base.members])]), axis=0).astype(np.int16)
        notes.append(f"{objective} maximized over {len(pool):,} candidate lineups (each the best lineup of a simulated race, "
                     "plus the mean-optimal one), scored on every valid scenario")
    order = values = None
    pool_mean = objective_values(pool, P, "mean") if pool is not None and objective != "mean" else None
    if pool is not None and not sim_precision:
        values = objective_values(pool, P, objective, target)
        order = rank_order(values, RANK_FIRST, tiebreak=pool_mean)  # the rest is ranked when a pick needs it
    lo_total, hi_total = exposure_counts(p, n_lineups)
    counts = np.zeros(p.n, dtype=int)
    lineups: list[Lineup] = []
    members_so_far: list[list[int]] = []
    taken = np.zeros(len(pool), dtype=bool) if pool is not None else None
    masks = lineup_masks(pool, p.n) if pool is not None else None
    prev_masks = np.zeros((n_lineups, masks.shape[1] if masks is not None else 1), dtype=np.uint64)
    fallbacks = 0
    for j in range(n_lineups):
        if cancel is not None and cancel():
            from engine.model.scenarios import Cancelled

            raise Cancelled("cancelled")
        lo_j = np.floor(lo_total * (j + 1) / n_lineups + 1e-9).astype(int)
        hi_j = np.ceil(hi_total * (j + 1) / n_lineups - 1e-9).astype(int)
        forced_in = {i for i in range(p.n) if counts[i] < lo_j[i]} | set(p.locks) | due_now(p, lo_total - counts, n_lineups - j)
        forced_out = {i for i in range(p.n) if counts[i] >= hi_j[i] and i not in p.locks} - forced_in
        sub = P[rng.integers(0, P.shape[0], P.shape[0])] if sim_precision else P
        members: list[int] = []
        if pool is not None:
            vals, step_order = values, order
            if step_order is None:
                vals = objective_values(pool, sub, objective, target)
                step_order = rank_order(vals, RANK_FIRST, tiebreak=pool_mean)
            rules = (taken, forced_in, forced_out, prev_masks[:j], p.roster - min_unique, p.n)
            k = _pick(masks, step_order, *rules)
            if k is None and len(step_order) < len(pool):  # past the best RANK_FIRST: the whole pool, ranked
                step_order = rank_order(vals, tiebreak=pool_mean)
                if order is not None:  # kept for the picks after this one
                    order = step_order
                k = _pick(masks, step_order, *rules)
            if k is not None:
                taken[k] = True
                members = sorted(int(i) for i in pool[k])
            elif not complete:
                fallbacks += 1
        if not members:
            kw = dict(forced_in=forced_in, forced_out=forced_out, previous=members_so_far, min_unique=min_unique)
            res = solve_lineup(p, sub.mean(axis=0), solver, **kw)
            if not res.members:
                conflict = explain_infeasible(p, mean, solver, **kw)
                where = f"lineup {j + 1} of {n_lineups}: " if n_lineups > 1 else ""
                raise OptimizerError([f"{where}no lineup satisfies {' + '.join(conflict)} together"])
            members = res.members
        counts[members] += 1
        prev_masks[j] = lineup_masks(np.array([members]), p.n)[0]
        members_so_far.append(members)
        lineups.append(_describe(members, P, p.salary))
        if progress:
            progress((j + 1) / n_lineups)
    if fallbacks:
        notes.append(f"{fallbacks} lineup(s) from the mean MILP: no candidate lineup met the portfolio rules at that point")
    values = objective_values(np.array([lu.members for lu in lineups]), P, objective, target)
    for k, (lu, v) in enumerate(zip(lineups, values)):
        lu.objective, lu.built = float(v), k + 1
    lineups.sort(key=lambda lu: (-lu.objective, -lu.mean))  # best on the objective first (mean: highest mean), then by mean
    return Portfolio(problem=p, lineups=lineups, exposures=counts / n_lineups, objective=objective, solver=solver,
                     seconds=time.perf_counter() - t0, target=target, notes=notes)
