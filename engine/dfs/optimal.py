"""Optimal%: for every simulated race the exact best lineup under the spec's lineup constraints,
by a dynamic program over (drivers chosen, salary used, drivers starting deep) vectorized over
scenarios; scenarios whose DP optimum breaks a constraint the DP does not carry (team or
manufacturer caps, groups, a second starting-position rule) are re-solved with the MILP."""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pulp

from engine.dfs.constraints import ConstraintSpec
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


def optimal_lineups(spec: ConstraintSpec, points: np.ndarray, *, solver: str = "cbc", chunk: int = 128,
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
    out = np.zeros((S, p.roster), dtype=np.int64)
    scores = np.zeros(S, dtype=np.float32)
    n_items = len(items)
    for lo in range(0, S, chunk):
        hi = min(S, lo + chunk)
        s_c = hi - lo
        V = np.full((R + 1, K + 1, W + 1, s_c), -np.inf, dtype=np.float32)
        V[0, 0, 0, :] = base[lo:hi]
        took = np.zeros((n_items, R + 1, K + 1, W + 1, s_c), dtype=np.uint8)
        pts = P[lo:hi][:, items].T.copy()  # items x scenarios
        bufs = [np.empty((R, K + 1, W + 1, s_c), dtype=np.float32) for _ in range(2)]
        for j in range(n_items):
            wi, pi, di = int(w[j]), pts[j], bool(deep[items[j]])
            if wi > W:
                continue
            c_hi = min(j, R - 1)
            c_lo = max(0, R - (n_items - j))
            if c_hi < c_lo:
                continue
            # every count at once: the candidates are read before any of this item's updates
            # (0/1 knapsack); took holds 1 where taking item j improved a state, 2 where the
            # move that fills the last deep-starter slot did (bit 2 over bit 1 when both did)
            src_c, dst_c = slice(c_lo, c_hi + 1), slice(c_lo + 1, c_hi + 2)
            if di and K > 0:
                moves = [(slice(0, K), slice(1, K + 1), 1), (slice(K, K + 1), slice(K, K + 1), 2)]
            else:
                moves = [(slice(0, K + 1), slice(0, K + 1), 1)]
            cands = [np.add(V[src_c, src, : W + 1 - wi], pi, out=b[: c_hi + 1 - c_lo, : src.stop - src.start, : W + 1 - wi])
                     for b, (src, _, _) in zip(bufs, moves)]
            for cand, (_, dst, code) in zip(cands, moves):
                cur = V[dst_c, dst, wi:]
                mark = took[j, dst_c, dst, wi:]
                if code == 1:
                    np.greater(cand, cur, out=mark)
                else:
                    mark += np.greater(cand, cur).view(np.uint8) << 1
                np.maximum(cur, cand, out=cur)
        best_w = np.argmax(V[R, K], axis=0)
        scores[lo:hi] = V[R, K, best_w, np.arange(s_c)]
        # backtrack
        c = np.full(s_c, R)
        t = np.full(s_c, K)
        ww = best_w.copy()
        chosen = np.zeros((s_c, p.n), dtype=bool)
        chosen[:, locks] = True
        cols = np.arange(s_c)
        for j in range(n_items - 1, -1, -1):
            code = took[j, c, t, ww, cols]
            code = np.where(code >= 2, 2, code)
            hit = code > 0
            if hit.any():
                chosen[cols[hit], items[j]] = True
                c = np.where(hit, c - 1, c)
                ww = np.where(hit, ww - int(w[j]), ww)
                t = np.where(hit & (code == 1) & deep[items[j]] & (K > 0), t - 1, t)
        out[lo:hi] = np.sort(np.nonzero(chosen)[1].reshape(s_c, p.roster), axis=1)
        if progress:
            progress(hi / S)
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
