"""Optimal%: for every simulated race the exact best lineup under the spec's lineup constraints,
by a dynamic program over (drivers chosen, salary used, drivers starting deep), compiled
(engine.dfs.kernels) and run race by race on up to two threads; scenarios whose DP optimum
breaks a constraint the DP does not carry (team or manufacturer caps, groups, a second
starting-position rule) are re-solved with the MILP."""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pulp

from engine.dfs.constraints import ConstraintSpec
from engine.dfs.kernels import best_lineups
from engine.dfs.lineups import (
    OptimizerError,
    Problem,
    explain_infeasible,
    lineup_rules,
    problem_from_spec,
    rule_violations,
    solve_lineup,
)


@dataclass
class OptimalResult:
    lineups: np.ndarray  # scenarios x roster, driver indices (sorted), the best lineup of each scenario
    scores: np.ndarray
    optimal_pct: np.ndarray  # per driver: share of scenarios whose best lineup holds the driver
    resolved_by_milp: int
    seconds: float

    def top_lineups(self, k: int = 10) -> list[tuple[tuple[int, ...], float]]:
        c = Counter(map(tuple, self.lineups.tolist()))
        n = len(self.lineups)
        return [(lu, cnt / n) for lu, cnt in c.most_common(k)]


class _PersistentLineupModel:
    """The spec's lineup MILP held in one in-process HiGHS model (highspy); only the objective
    changes between solves. Used for the scenarios the optimal% DP cannot settle, where a
    new model and a solver process per scenario would cost more than the DP itself."""

    def __init__(self, p: Problem):
        import highspy

        lp = pulp.LpProblem("lineup", pulp.LpMaximize)
        x = [pulp.LpVariable(f"x{i}", cat="Binary") for i in range(p.n)]
        for rule in lineup_rules(p):
            rule.add(lp, x, p)
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", 1)
        inf = highspy.kHighsInf
        lower = np.array([float(v.lowBound or 0) for v in x])
        upper = np.array([1.0 if v.upBound is None else float(v.upBound) for v in x])
        h.addVars(p.n, lower, upper)
        h.changeColsIntegrality(p.n, np.arange(p.n, dtype=np.int32), np.array([highspy.HighsVarType.kInteger] * p.n))
        pos = {v.name: i for i, v in enumerate(x)}
        for c in lp.constraints.values():
            idx = np.array([pos[v.name] for v in c.keys()], dtype=np.int32)
            val = np.array([float(a) for a in c.values()])
            rhs = -float(c.constant)
            lo, hi = (-inf, rhs) if c.sense == pulp.LpConstraintLE else (rhs, inf) if c.sense == pulp.LpConstraintGE else (rhs, rhs)
            h.addRow(lo, hi, len(idx), idx, val)
        h.changeObjectiveSense(highspy.ObjSense.kMaximize)
        self.h, self.n, self._status = h, p.n, highspy.HighsModelStatus.kOptimal

    def solve(self, coef: np.ndarray) -> list[int]:
        self.h.changeColsCost(self.n, np.arange(self.n, dtype=np.int32), np.asarray(coef, dtype=np.float64))
        self.h.run()
        if self.h.getModelStatus() != self._status:
            return []
        return sorted(int(i) for i in np.flatnonzero(np.asarray(self.h.getSolution().col_value) > 0.5))


def optimal_lineups(spec: ConstraintSpec, points: np.ndarray, *, solver: str = "cbc", chunk: int = 1000, threads: int = 2,
                    progress: Callable[[float], None] | None = None) -> OptimalResult:
    """The exact best lineup of every scenario under the spec's lineup constraints (see the
    module docstring): DP over (drivers, salary, deep starters), MILP for the few the DP
    cannot settle."""
    t0 = time.perf_counter()
    p = problem_from_spec(spec)
    P = np.asarray(points, dtype=np.float32)
    S = P.shape[0]
    locks = sorted(p.locks)
    items = [i for i in range(p.n) if i not in p.excludes and i not in p.locks]
    R = p.roster - len(locks)
    budget = p.cap - int(p.salary[locks].sum())
    if R < 0 or len(items) < R:
        raise OptimizerError([f"{len(items) + len(locks)} eligible drivers for {p.roster} roster spots"])
    handled = 0 if p.starts else None
    K = 0
    deep = np.zeros(p.n, dtype=bool)
    if handled is not None:
        _, _, members, k = p.starts[0]
        deep[list(members)] = True
        K = max(0, k - int(deep[locks].sum()))
    sal = p.salary[items]
    unit = math.gcd(*[int(v) for v in sal], budget) if len(sal) else 1
    low = int(sal.min()) if len(sal) else 0
    w = ((sal - low) // unit).astype(np.int64)
    W = (budget - R * low) // unit
    if W < 0:
        raise OptimizerError([f"the cheapest {R} drivers cost more than the {budget:,} left under the cap"])
    base = P[:, locks].sum(axis=1) if locks else np.zeros(S, np.float32)
    scores = np.zeros(S, dtype=np.float32)
    chosen = np.zeros((S, R), dtype=np.int64)
    pts = np.ascontiguousarray(P[:, items])
    args = (pts, base.astype(np.float32), w, deep[items], R, K, int(W))
    bounds = [(lo, min(S, lo + chunk)) for lo in range(0, S, chunk)]
    # compiled and GIL-free: the chunks run on up to two threads (the same lineups either way)
    with ThreadPoolExecutor(max_workers=max(1, min(threads, os.cpu_count() or 1))) as pool:
        for k, _ in enumerate(pool.map(lambda b: best_lineups(*args, b[0], b[1], chosen, scores), bounds)):
            if progress:
                progress(bounds[k][1] / S)
    out = np.asarray(items, dtype=np.int64)[chosen] if R else np.zeros((S, 0), dtype=np.int64)
    if locks:
        out = np.sort(np.hstack([out, np.tile(np.array(locks, dtype=np.int64), (S, 1))]), axis=1)
    if not np.isfinite(scores).all():
        bad = int((~np.isfinite(scores)).sum())
        raise OptimizerError([f"no lineup satisfies the roster, cap and starting-position rules in {bad} scenario(s)"])
    redo = np.flatnonzero(rule_violations(p, out, handled))
    if redo.size:
        model = _PersistentLineupModel(p)
        for s in redo:
            members = model.solve(P[s])
            if not members:
                raise OptimizerError([f"no lineup satisfies {' + '.join(explain_infeasible(p, P[s], solver))} together"])
            out[s] = members
            scores[s] = P[s, members].sum()
    pct = np.zeros(p.n)
    np.add.at(pct, out.ravel(), 1)
    return OptimalResult(lineups=out, scores=scores, optimal_pct=pct / S, resolved_by_milp=len(redo), seconds=time.perf_counter() - t0)


def milp_optimum(spec: ConstraintSpec, points_row: np.ndarray, solver: str = "cbc") -> tuple[list[int], float]:
    """The best lineup of one scenario by the MILP (reference for optimal%)."""
    p = problem_from_spec(spec)
    res = solve_lineup(p, np.asarray(points_row, dtype=np.float64), solver)
    return res.members, float(np.asarray(points_row)[res.members].sum())
