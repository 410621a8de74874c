"""Lineups from simulated races: MILP portfolios (pulp; CBC or HiGHS) and exact optimal%.

Each constraint family of the ConstraintSpec is one small rule object adding its rows to a
pulp model (roster and cap, locks and excludes, per-team and per-manufacturer caps, starting
position minimums, groups); portfolio rules (distinct drivers between lineups, exposure
pacing) are added on top.

Objectives over the points matrix P (scenarios x drivers), x the 0/1 lineup vector, with the
lineup's score in scenario s being P_s x:

* ``mean``: maximize sum_i mean(P_i) x_i (MILP);
* ``ceiling``: the lineup's 90th percentile score over the scenarios;
* ``cvar`` (cash games): the lower-tail CVaR at alpha = 0.2, the mean of the lineup's worst
  20% of scores (Rockafellar and Uryasev 2000);
* ``target`` (tournaments): the probability of reaching a score T, the share of scenarios
  with P_s x >= T; T defaults to the 90th percentile of the mean-optimal lineup's scores.

The three scenario objectives are not linear in x without one binary per scenario, and those
MILPs took seconds per lineup at a 200-scenario sample (measured with both solvers). They
are therefore maximized exactly over a candidate pool: every lineup that is the exact best
lineup of at least one simulated race (the optimal% pass below), plus the mean-optimal
lineup, each scored on every valid scenario. The chosen lineup is never worse on the
objective than the mean-optimal one. When the portfolio rules leave no pool lineup, the
lineup comes from the mean MILP under those rules, and the result says so.

Portfolios: lineup j is solved with (a) every earlier lineup shared by at most
roster - min_unique drivers, (b) exposure pacing: a driver with bounds [lo, hi] over N
lineups is in at most ceil(floor(hi N) (j + 1) / N) and at least floor(ceil(lo N) (j + 1) / N)
of the first j + 1 lineups, so exposures are honoured and spread through the portfolio.
"Sim precision" solves lineup j on its own bootstrap resample of the scenarios.

Optimal%: for every scenario the exact best lineup under the spec's lineup constraints, by a
dynamic program over (drivers chosen, salary used, drivers starting deep) vectorized over
scenarios; scenarios whose DP optimum breaks a constraint the DP does not carry (team or
manufacturer caps, groups, a second starting-position rule) are re-solved with the MILP.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pulp

from engine.constraints import ConstraintSpec

OBJECTIVES = ("mean", "ceiling", "cvar", "target")
SOLVERS = ("cbc", "highs")
CVAR_ALPHA = 0.2
CEILING_Q = 0.9


class OptimizerError(ValueError):
    """The request cannot be optimized; ``messages`` name the constraints involved."""

    def __init__(self, messages: list[str]):
        self.messages = messages
        super().__init__("; ".join(messages))


def make_solver(name: str):
    """One solver interface: pulp's bundled CBC or HiGHS through highspy."""
    if name == "cbc":
        with warnings.catch_warnings():  # pulp 3.3 announces that 4.0 drops its bundled CBC (hence pulp<4)
            warnings.simplefilter("ignore", DeprecationWarning)
            # no -threads: CBC's threaded search with one thread sometimes waits 10 s for it to start
            return pulp.PULP_CBC_CMD(msg=False)
    if name == "highs":
        return pulp.HiGHS(msg=False, threads=1)
    raise OptimizerError([f"unknown solver {name!r}: expected one of {', '.join(SOLVERS)}"])


# ----------------------------------------------------------------------------- problem
@dataclass(frozen=True)
class Problem:
    """The lineup decision of a spec: drivers with salaries and the constraint families."""

    spec: ConstraintSpec
    ids: tuple[str, ...]
    names: tuple[str, ...]
    salary: np.ndarray
    start: np.ndarray
    locks: frozenset[int]
    excludes: frozenset[int]
    caps: tuple[tuple[str, str, tuple[int, ...], int], ...]  # (rule_id, label, members, at most k)
    starts: tuple[tuple[str, int, tuple[int, ...], int], ...]  # (rule_id, position, members, at least k)
    groups: tuple[tuple[str, tuple[int, ...], int | None, int | None], ...]
    min_exposure: np.ndarray
    max_exposure: np.ndarray

    @property
    def roster(self) -> int:
        return self.spec.roster_size

    @property
    def cap(self) -> int:
        return self.spec.salary_cap

    @property
    def n(self) -> int:
        return len(self.ids)


def problem_from_spec(spec: ConstraintSpec) -> Problem:
    """The optimizer's view of a spec; drivers without a salary are an error naming them."""
    unpriced = [d.name for d in spec.drivers if d.salary is None and d.driver_id not in spec.excludes]
    if unpriced:
        raise OptimizerError([
            f"no salary for {len(unpriced)} driver(s): {', '.join(unpriced[:8])}{'...' if len(unpriced) > 8 else ''}; "
            "load a DraftKings / FanDuel salary file or enter the salaries (or exclude those drivers)"
        ])
    ids = tuple(d.driver_id for d in spec.drivers)
    pos = {x: i for i, x in enumerate(ids)}
    caps = []
    for lim, attr in [(c, "team") for c in spec.team_max] + [(c, "manufacturer") for c in spec.manufacturer_max]:
        values = sorted({getattr(d, attr) for d in spec.drivers if getattr(d, attr)}) if lim.key == "*" else [lim.key]
        for v in values:
            members = tuple(i for i, d in enumerate(spec.drivers) if getattr(d, attr) == v)
            if len(members) > lim.k:
                caps.append((lim.rule_id, f"{attr} {v}", members, lim.k))
    starts = tuple((s.rule_id, s.position, tuple(i for i, d in enumerate(spec.drivers) if (d.start_position or 0) >= s.position), s.k)
                   for s in spec.start_min)
    groups = tuple((g.rule_id, tuple(pos[x] for x in g.drivers), g.min, g.max) for g in spec.groups)
    return Problem(
        spec=spec, ids=ids, names=tuple(d.name for d in spec.drivers),
        salary=np.array([d.salary or 0 for d in spec.drivers], dtype=np.int64),
        start=np.array([d.start_position or 0 for d in spec.drivers], dtype=np.int64),
        locks=frozenset(pos[x] for x in spec.locks), excludes=frozenset(pos[x] for x in spec.excludes),
        caps=tuple(caps), starts=starts, groups=groups,
        min_exposure=np.array([d.min_exposure for d in spec.drivers]), max_exposure=np.array([d.max_exposure for d in spec.drivers]),
    )


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


TARGET_SURE = 0.99


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


def check_target(target: float, P: np.ndarray, base: list[int], optimal: "OptimalResult") -> None:
    """A target score the simulated races can tell lineups apart by: one the mean-optimal
    lineup misses in more than 1% of the races (a lower target is reached by it and many
    others almost always: they tie) and at most the best lineup score of any simulated race
    (a higher one no lineup ever reaches)."""
    scores = P[:, base].sum(axis=1)
    lo = float(np.quantile(scores, 1.0 - TARGET_SURE))
    hi = float(optimal.scores.max())
    if target > hi:
        raise OptimizerError([f"target {target:g} is above every simulated lineup score (the best lineup of any of the "
                              f"{len(P):,} simulated races scored {hi:.1f}): no lineup reaches it; choose a target above "
                              f"{lo:.1f} and at most {hi:.1f}"])
    if target <= lo:
        share = float((scores >= target).mean())
        raise OptimizerError([f"target {target:g} is at or below every score that matters: the mean-optimal lineup reaches it in "
                              f"{share:.1%} of the {len(P):,} simulated races, and lineups would tie on it; choose a target "
                              f"above {lo:.1f} and at most {hi:.1f}"])


# ----------------------------------------------------------------------------- rule objects
class LineupRule:
    """One constraint family: adds its rows to the model; ``label`` names it in messages."""

    label = "rule"

    def add(self, lp: pulp.LpProblem, x: list[pulp.LpVariable], p: Problem) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class RosterAndCap(LineupRule):
    def __init__(self, p: Problem):
        self.label = f"{p.roster} drivers under the {p.cap:,} salary cap"

    def add(self, lp, x, p):
        lp += pulp.lpSum(x) == p.roster, "roster"
        lp += pulp.lpSum(int(p.salary[i]) * x[i] for i in range(p.n)) <= p.cap, "cap"


class LocksAndExcludes(LineupRule):
    def __init__(self, p: Problem):
        parts = [f"lock {p.names[i]} ({p.spec.locks[p.ids[i]]})" for i in sorted(p.locks)]
        parts += [f"exclude {p.names[i]} ({p.spec.excludes[p.ids[i]]})" for i in sorted(p.excludes)]
        self.label = ", ".join(parts)

    def add(self, lp, x, p):
        for i in p.locks:
            x[i].lowBound = 1
        for i in p.excludes:
            x[i].upBound = 0


class CountCap(LineupRule):
    def __init__(self, rule_id: str, what: str, members: tuple[int, ...], k: int):
        self.rule_id, self.members, self.k = rule_id, members, k
        self.label = f"at most {k} of {what} (rule {rule_id})"

    def add(self, lp, x, p):
        lp += pulp.lpSum(x[i] for i in self.members) <= self.k


class StartMinimum(LineupRule):
    def __init__(self, rule_id: str, position: int, members: tuple[int, ...], k: int):
        self.members, self.k = members, k
        self.label = f"at least {k} drivers starting {position}th or worse (rule {rule_id})"

    def add(self, lp, x, p):
        lp += pulp.lpSum(x[i] for i in self.members) >= self.k


class GroupBounds(LineupRule):
    def __init__(self, rule_id: str, members: tuple[int, ...], lo: int | None, hi: int | None, names: tuple[str, ...]):
        self.members, self.lo, self.hi = members, lo, hi
        bounds = " and ".join(b for b in (f"at least {lo}" if lo is not None else "", f"at most {hi}" if hi is not None else "") if b)
        self.label = f"{bounds} of {', '.join(names[i] for i in members)} (rule {rule_id})"

    def add(self, lp, x, p):
        expr = pulp.lpSum(x[i] for i in self.members)
        if self.lo is not None:
            lp += expr >= self.lo
        if self.hi is not None:
            lp += expr <= self.hi


def lineup_rules(p: Problem) -> list[LineupRule]:
    rules: list[LineupRule] = [RosterAndCap(p)]
    if p.locks or p.excludes:
        rules.append(LocksAndExcludes(p))
    rules += [CountCap(r, what, m, k) for r, what, m, k in p.caps]
    rules += [StartMinimum(r, pos, m, k) for r, pos, m, k in p.starts]
    rules += [GroupBounds(r, m, lo, hi, p.names) for r, m, lo, hi in p.groups]
    return rules


# ----------------------------------------------------------------------------- objectives
def objective_values(lineups: np.ndarray, P: np.ndarray, objective: str, target: float | None = None, chunk: int = 256) -> np.ndarray:
    """The objective of each lineup (rows of driver indices) over every scenario of P."""
    if objective == "mean":  # linear: no need to score every scenario
        return P.mean(axis=0)[lineups.astype(np.int64)].sum(axis=1)
    out = np.empty(len(lineups))
    k_tail = max(1, int(round(CVAR_ALPHA * P.shape[0])))
    Pt = np.ascontiguousarray(P.T, dtype=np.float32)  # drivers x scenarios
    for lo in range(0, len(lineups), chunk):
        block = lineups[lo : lo + chunk]
        scores = Pt[block].sum(axis=1)  # lineups x scenarios
        if objective == "cvar":
            v = np.partition(scores, k_tail - 1, axis=1)[:, :k_tail].mean(axis=1)
        elif objective == "ceiling":
            v = np.percentile(scores, 100 * CEILING_Q, axis=1)
        elif objective == "target":
            v = (scores >= target).mean(axis=1)
        else:
            raise OptimizerError([f"unknown objective {objective!r}: expected one of {', '.join(OBJECTIVES)}"])
        out[lo : lo + chunk] = v
    return out


# ----------------------------------------------------------------------------- solving
@dataclass
class _Solved:
    members: list[int]
    status: str


def _solve(p: Problem, coef: np.ndarray, solver: str, extra: list[LineupRule] | None = None,
           forced_in: set[int] = frozenset(), forced_out: set[int] = frozenset(), previous: list[list[int]] = (),
           min_unique: int = 0, skip: set[int] = frozenset()) -> _Solved:
    lp = pulp.LpProblem("lineup", pulp.LpMaximize)
    x = [pulp.LpVariable(f"x{i}", cat="Binary") for i in range(p.n)]
    rules = [r for k, r in enumerate(lineup_rules(p) + list(extra or [])) if k not in skip]
    for r in rules:
        r.add(lp, x, p)
    for i in forced_in:
        x[i].lowBound = 1
    for i in forced_out:
        x[i].upBound = 0
    for j, prev in enumerate(previous):
        lp += pulp.lpSum(x[i] for i in prev) <= p.roster - min_unique, f"unique_{j}"
    lp.setObjective(pulp.lpSum(float(coef[i]) * x[i] for i in range(p.n)))
    lp.solve(make_solver(solver))
    status = pulp.LpStatus[lp.status]
    if status != "Optimal":
        return _Solved([], status)
    return _Solved(sorted(i for i in range(p.n) if (x[i].value() or 0) > 0.5), status)


def explain_infeasible(p: Problem, coef: np.ndarray, solver: str, **kw) -> list[str]:
    """A minimal set of constraint families that cannot hold together (deletion filter)."""
    rules = lineup_rules(p)
    keep = set(range(len(rules)))
    for k in range(1, len(rules)):  # the roster and cap (0) always stay
        trial = keep - {k}
        if not _solve(p, coef, solver, skip=set(range(len(rules))) - trial, **kw).members:
            keep = trial
    names = [rules[k].label for k in sorted(keep)]
    portfolio = []
    if kw.get("previous"):
        portfolio.append(f"at least {kw.get('min_unique')} different drivers from each of the {len(kw['previous'])} earlier lineups")
    if kw.get("forced_in") or kw.get("forced_out"):
        portfolio.append("exposure bounds at this point of the portfolio")
    return names + portfolio


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


ENUM_LIMIT = 8_000_000


_FEASIBLE_CACHE: dict[str, np.ndarray | None] = {}


def feasible_lineups(p: Problem, limit: int = ENUM_LIMIT) -> np.ndarray | None:
    """Cached by the spec hash (the spec holds every lineup constraint); see ``_feasible_lineups``."""
    key = f"{p.spec.spec_hash}:{limit}"
    if key not in _FEASIBLE_CACHE:
        if len(_FEASIBLE_CACHE) >= 4:
            _FEASIBLE_CACHE.pop(next(iter(_FEASIBLE_CACHE)))
        _FEASIBLE_CACHE[key] = _feasible_lineups(p, limit)
    return _FEASIBLE_CACHE[key]


def _feasible_lineups(p: Problem, limit: int = ENUM_LIMIT) -> np.ndarray | None:
    """Every lineup meeting the spec's lineup constraints (rows of sorted driver indices),
    or None when there would be more than ``limit`` of them to enumerate. Partial lineups
    are pruned on salary (what is left must still buy the remaining spots at the cheapest
    price), so only lineups under the cap are ever built."""
    locks = sorted(p.locks)
    free = np.array([i for i in range(p.n) if i not in p.excludes and i not in p.locks], dtype=np.int64)
    r = p.roster - len(locks)
    budget = p.cap - int(p.salary[locks].sum())
    if r < 0 or len(free) < r or math.comb(len(free), r) > 4 * limit:
        return None if r >= 0 and len(free) >= r else np.zeros((0, p.roster), dtype=np.int16)
    combos = combos_under_cap(p.salary[free], r, budget, limit)
    if combos is None:
        return None
    if len(combos) == 0:
        return np.zeros((0, p.roster), dtype=np.int16)
    lineups = free[combos.astype(np.int64)] if r else np.zeros((1, 0), dtype=np.int64)
    if locks:
        lineups = np.hstack([np.tile(np.array(locks, dtype=np.int64), (len(lineups), 1)), lineups])
    lineups = np.sort(lineups, axis=1)
    ok = ~rule_violations(p, lineups)
    return lineups[ok].astype(np.int16)


def combos_under_cap(sal: np.ndarray, r: int, budget: int, limit: int = ENUM_LIMIT) -> np.ndarray | None:
    """Every set of ``r`` of these salaries costing at most ``budget`` (rows of sorted indices,
    int16), or None when there are more than ``limit``. Partial sets are pruned on salary (what
    is left must still buy the remaining spots at the cheapest price)."""
    sal = np.asarray(sal, np.int64)
    cheapest = np.sort(sal)
    combos = np.zeros((1, 0), dtype=np.int16)
    spent = np.zeros(1, dtype=np.int64)
    for step in range(r):
        need = int(cheapest[: r - step - 1].sum())
        last = combos[:, -1].astype(np.int64) if step else np.full(len(combos), -1)
        parts, spend = [], []
        for v in range(len(sal)):
            rows = np.flatnonzero((last < v) & (spent + sal[v] + need <= budget))
            if rows.size:
                parts.append(np.hstack([combos[rows], np.full((rows.size, 1), v, dtype=np.int16)]))
                spend.append(spent[rows] + sal[v])
        if not parts:
            return np.zeros((0, r), dtype=np.int16)
        combos, spent = np.vstack(parts), np.concatenate(spend)
        if len(combos) > limit:
            return None
    return combos


def _ranked(values: np.ndarray, top: int | None = None, tiebreak: np.ndarray | None = None) -> np.ndarray:
    """Pool indices by value, best first; ties by ``tiebreak`` (higher first, e.g. the mean
    points), then by index; only the best ``top`` when given."""
    if top is None or top >= len(values):
        idx = np.arange(len(values))
    else:  # the best ``top``, and every lineup tied with the last of them
        kth = values[np.argpartition(-values, top - 1)[top - 1]]
        idx = np.flatnonzero(values >= kth)
    second = np.zeros(len(idx)) if tiebreak is None else -tiebreak[idx]
    return idx[np.lexsort((idx, second, -values[idx]))]


def _pick(pool: np.ndarray, order: np.ndarray, taken: np.ndarray, forced_in: set[int], forced_out: set[int],
          previous: list[list[int]], max_shared: int, n: int, chunk: int = 8192) -> int | None:
    """The first pool lineup in ``order`` not taken yet that holds ``forced_in``, avoids
    ``forced_out`` and shares at most ``max_shared`` drivers with each earlier lineup."""
    prev = np.zeros((len(previous), n), dtype=np.int8)
    for k, lu in enumerate(previous):
        prev[k, lu] = 1
    fin = np.zeros(n, dtype=bool)
    fin[list(forced_in)] = True
    fout = np.zeros(n, dtype=bool)
    fout[list(forced_out)] = True
    for lo in range(0, len(order), chunk):
        idx = order[lo : lo + chunk]
        lu = pool[idx].astype(np.int64)
        ok = ~taken[idx] & (fin[lu].sum(axis=1) == len(forced_in)) & ~fout[lu].any(axis=1)
        if previous and ok.any():
            sub = np.flatnonzero(ok)
            fits = (prev[:, lu[sub]].sum(axis=2) <= max_shared).all(axis=0)
            ok[sub[~fits]] = False
        if ok.any():
            return int(idx[np.argmax(ok)])
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

    base = _solve(p, mean, solver)
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
    order = None
    pool_mean = objective_values(pool, P, "mean") if pool is not None and objective != "mean" else None
    if pool is not None and not sim_precision:
        order = _ranked(objective_values(pool, P, objective, target), tiebreak=pool_mean)
    lo_total, hi_total = exposure_counts(p, n_lineups)
    counts = np.zeros(p.n, dtype=int)
    lineups: list[Lineup] = []
    members_so_far: list[list[int]] = []
    taken = np.zeros(len(pool), dtype=bool) if pool is not None else None
    fallbacks = 0
    for j in range(n_lineups):
        if cancel is not None and cancel():
            from engine.scenarios import Cancelled

            raise Cancelled("cancelled")
        lo_j = np.floor(lo_total * (j + 1) / n_lineups + 1e-9).astype(int)
        hi_j = np.ceil(hi_total * (j + 1) / n_lineups - 1e-9).astype(int)
        forced_in = {i for i in range(p.n) if counts[i] < lo_j[i]} | set(p.locks) | due_now(p, lo_total - counts, n_lineups - j)
        forced_out = {i for i in range(p.n) if counts[i] >= hi_j[i] and i not in p.locks} - forced_in
        sub = P[rng.integers(0, P.shape[0], P.shape[0])] if sim_precision else P
        members: list[int] = []
        if pool is not None:
            step_order = order
            if step_order is None:
                vals = objective_values(pool, sub, objective, target)
                step_order = _ranked(vals, 65536, tiebreak=pool_mean)
            k = _pick(pool, step_order, taken, forced_in, forced_out, members_so_far, p.roster - min_unique, p.n)
            if k is None and order is None and len(step_order) < len(pool):
                k = _pick(pool, _ranked(vals, tiebreak=pool_mean), taken, forced_in, forced_out, members_so_far, p.roster - min_unique, p.n)
            if k is not None:
                taken[k] = True
                members = sorted(int(i) for i in pool[k])
            elif not complete:
                fallbacks += 1
        if not members:
            kw = dict(forced_in=forced_in, forced_out=forced_out, previous=members_so_far, min_unique=min_unique)
            res = _solve(p, sub.mean(axis=0), solver, **kw)
            if not res.members:
                conflict = explain_infeasible(p, mean, solver, **kw)
                where = f"lineup {j + 1} of {n_lineups}: " if n_lineups > 1 else ""
                raise OptimizerError([f"{where}no lineup satisfies {' + '.join(conflict)} together"])
            members = res.members
        counts[members] += 1
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


# ----------------------------------------------------------------------------- optimal%
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


def rule_violations(p: Problem, lineups: np.ndarray, skip_start: int | None = None) -> np.ndarray:
    """Which lineups (rows of driver indices) break a team / manufacturer cap, a starting
    position rule (but rule ``skip_start``) or a group. Roster, cap, locks and excludes are the
    caller's (they are built into the lineups)."""
    bad = np.zeros(len(lineups), dtype=bool)
    member = np.zeros(p.n, dtype=bool)

    def count(members) -> np.ndarray:
        member[:] = False
        member[list(members)] = True
        return member[lineups].sum(axis=1)

    for _, _, members, k in p.caps:
        bad |= count(members) > k
    for idx, (_, _, members, k) in enumerate(p.starts):
        if idx != skip_start:
            bad |= count(members) < k
    for _, members, lo, hi in p.groups:
        cnt = count(members)
        bad |= (cnt < (lo or 0)) | (cnt > (p.roster if hi is None else hi))
    return bad


def optimal_lineups(spec: ConstraintSpec, points: np.ndarray, *, solver: str = "cbc", chunk: int = 256,
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
        for j in range(n_items):
            wi, pi, di = int(w[j]), pts[j], bool(deep[items[j]])
            if wi > W:
                continue
            c_hi = min(j, R - 1)
            c_lo = max(0, R - (n_items - j))
            for c in range(c_hi, c_lo - 1, -1):
                if di and K > 0:
                    moves = [(slice(0, K), slice(1, K + 1), 1), (slice(K, K + 1), slice(K, K + 1), 2)]
                else:
                    moves = [(slice(0, K + 1), slice(0, K + 1), 1)]
                for src, dst, code in moves:
                    cand = V[c, src, : W + 1 - wi] + pi
                    cur = V[c + 1, dst, wi:]
                    better = cand > cur
                    if better.any():
                        np.copyto(cur, cand, where=better)
                        took[j, c + 1, dst, wi:][better] = code
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
    res = _solve(p, np.asarray(points_row, dtype=np.float64), solver)
    return res.members, float(np.asarray(points_row)[res.members].sum())
